"""User-defined derivative rules, in the same form as the built-in tables.

    @adflow.custom_vjp
    def softclip(x, c):
        return c * np.tanh(x / c)

    softclip.defvjp(lambda g, ans, x, c: g * (1.0 - (ans / c) ** 2),   # rule for x
                    None)                                              # c: not differentiable

Each rule maps the result's cotangent ``g`` (plus ``ans`` and the arguments) to one argument's
cotangent, exactly like an entry of :mod:`adflow.rules.adjoints`.  Rules must be functions numba
can compile (they run inside the generated code).  Forward mode uses ``defjvp`` rules, which map
``(x_dot, ans, x, c)`` to the result's tangent term of that argument.
"""
from __future__ import annotations

import functools

import gast

from ..frontend.normalize import name


class CustomRule:
    """A function whose derivatives come from user rules instead of from its body."""

    def __init__(self, primal):
        self.primal = primal
        self.vjp_rules = None
        self.jvp_rules = None
        functools.update_wrapper(self, primal)

    def __call__(self, *args):
        return self.primal(*args)

    def defvjp(self, *rules):
        """One rule per positional argument (``None`` for arguments without a derivative)."""
        self.vjp_rules = rules
        return self

    def defjvp(self, *rules):
        self.jvp_rules = rules
        return self

    @property
    def py_func(self):
        return getattr(self.primal, "py_func", self.primal)

    def emit(self, builder, argtypes) -> str:
        """Write ``<name>_vjp(args..., g)`` calling the rules into the builder's module."""
        from ..errors import NonDifferentiableError
        from ..frontend.typeinfer import jitted
        from ..reverse.activity import is_float_type

        if self.vjp_rules is None:
            raise NonDifferentiableError(f"{self.__name__} is a custom_vjp function without rules",
                                         hint=f"call {self.__name__}.defvjp(rule, ...) once after defining it")
        params = [f"a{k}" for k in range(len(argtypes))]
        base = self.__name__
        vjp_name = builder.unique(f"{base}_vjp")
        primal_name, rule_names = f"{base}_primal", []
        target = builder.target
        builder.namespace[primal_name] = self.primal if target == "python" else jitted(self.py_func)
        grads = []
        for k, ty in enumerate(argtypes):
            rule = self.vjp_rules[k] if k < len(self.vjp_rules) else None
            if rule is None or not is_float_type(ty):
                grads.append(f"zeros_like_float(a{k})")
                continue
            rname = f"{base}_vjp_rule{k}"
            builder.namespace[rname] = rule if target == "python" else jitted(rule)
            grads.append(f"{rname}(g, ans, {', '.join(params)})")
        text = (f"def {vjp_name}({', '.join(params)}, g):\n"
                f"    ans = {primal_name}({', '.join(params)})\n"
                f"    return ans, ({', '.join(grads)},)\n")
        fdef = gast.parse(text).body[0]
        builder.functions.append((fdef, f"user-defined rules of {base}"))
        return vjp_name


    def emit_forward(self, builder, argtypes, chunk) -> str:
        """Write ``<name>_fwd(args...)`` applying the tangent rules to each of the ``chunk`` directions."""
        from ..errors import NonDifferentiableError
        from ..frontend.typeinfer import jitted
        from ..reverse.activity import is_float_type

        if self.jvp_rules is None:
            raise NonDifferentiableError(f"{self.__name__} is a custom_jvp function without tangent rules",
                                         hint=f"call {self.__name__}.defjvp(rule, ...) once after defining it")
        base = self.__name__
        fwd_name = builder.unique(f"{base}_fwd")
        primal_name = f"{base}_primal"
        target = builder.target
        builder.namespace[primal_name] = self.primal if target == "python" else jitted(self.py_func)
        n = len(argtypes)
        values = ", ".join(f"v{k}" for k in range(n))
        lines = [f"def {fwd_name}({', '.join(f'a{k}' for k in range(n))}):"]
        lines += [f"    v{k} = value_of(a{k})" for k in range(n)]
        lines += [f"    ans = {primal_name}({values})",
                  f"    tangent = np.zeros(np.shape(ans) + ({chunk},))",
                  f"    for j in range({chunk}):"]
        terms = []
        for k, ty in enumerate(argtypes):
            rule = self.jvp_rules[k] if k < len(self.jvp_rules) else None
            if rule is None or not is_float_type(ty):
                continue
            rname = f"{base}_jvp_rule{k}"
            builder.namespace[rname] = rule if target == "python" else jitted(rule)
            lines.append(f"        t{k} = tangents_of(a{k}, {chunk})")
            terms.append(f"{rname}(t{k}[..., j], ans, {values})")
        lines.append(f"        tangent[..., j] = {' + '.join(terms) if terms else '0.0'}")
        lines.append(f"    return make_dual(ans, tangent, {chunk})")
        fdef = gast.parse("\n".join(lines) + "\n").body[0]
        builder.functions.append((fdef, f"user-defined tangent rules of {base}"))
        return fwd_name


def custom_vjp(primal):
    """Mark ``primal`` as having user-defined adjoint rules (see :meth:`CustomRule.defvjp`)."""
    return primal if isinstance(primal, CustomRule) else CustomRule(primal)


def custom_jvp(primal):
    """Mark ``primal`` as having user-defined tangent rules (see :meth:`CustomRule.defjvp`)."""
    return primal if isinstance(primal, CustomRule) else CustomRule(primal)


def custom_jvp_of(obj):
    return obj if isinstance(obj, CustomRule) and obj.jvp_rules is not None else None


def custom_vjp_of(obj):
    return obj if isinstance(obj, CustomRule) and obj.vjp_rules is not None else None


def primal_of(obj):
    return obj.primal if isinstance(obj, CustomRule) else obj

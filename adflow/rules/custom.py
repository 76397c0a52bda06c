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

``None`` in place of a rule is the one way to say "no derivative": that argument's contribution is
zero.  Anything else that would silently give zero is refused: fewer rules than arguments, or a
rule function that returns nothing.
"""
from __future__ import annotations

import functools
import inspect
import sys

import gast

from ..errors import AdflowError, ArgumentError, NonDifferentiableError, SourceLocation
from ..syntax import source


class CustomRule:
    """A function whose derivatives come from user rules instead of from its body."""

    def __init__(self, primal):
        self.primal = primal
        self.vjp_rules = None
        self.jvp_rules = None
        functools.update_wrapper(self, primal, updated=())

    def __call__(self, *args):
        return self.primal(*args)

    def defvjp(self, *rules):
        """Set the adjoint rules: one per positional argument, ``None`` for an argument without a derivative.

        The rule for argument ``k`` takes ``(g, ans, *args)`` (``g`` the result's cotangent, ``ans``
        the result) and returns argument ``k``'s cotangent, shaped like it.  A ``None`` rule makes
        that cotangent zero.  Returns the function, so the rules can follow its definition.

        >>> import numpy as np, adflow
        >>> @adflow.custom_vjp
        ... def softclip(x, c):
        ...     return c * np.tanh(x / c)
        >>> softclip = softclip.defvjp(lambda g, ans, x, c: g * (1.0 - (ans / c) ** 2), None)
        """
        self.vjp_rules = self._checked(rules, "defvjp", "(g, ans, *args)")
        return self

    def defjvp(self, *rules):
        """Set the tangent rules: one per positional argument, ``None`` for an argument without a derivative.

        The rule for argument ``k`` takes ``(x_dot, ans, *args)`` (``x_dot`` the tangent of argument
        ``k`` in one direction, shaped like it) and returns that argument's term of the result's
        tangent; the terms of all arguments are added.  A ``None`` rule contributes no term (zero).
        Returns the function.

        >>> import adflow
        >>> @adflow.custom_jvp
        ... def cube(x):
        ...     return x * x * x
        >>> cube = cube.defjvp(lambda x_dot, ans, x: 3.0 * x * x * x_dot)
        >>> adflow.jvp(cube, (2.0,), (1.0,), target="python")
        (8.0, 12.0)
        """
        self.jvp_rules = self._checked(rules, "defjvp", "(x_dot, ans, *args)")
        return self

    def _checked(self, rules, method, takes):
        """``rules``, after refusing what would silently give a zero derivative."""
        caller = sys._getframe(2)
        where = SourceLocation(caller.f_code.co_filename, caller.f_lineno)
        code = getattr(self.py_func, "__code__", None)
        fixed = code is not None and not code.co_flags & inspect.CO_VARARGS
        nargs = code.co_argcount if fixed else len(rules)
        if len(rules) != nargs:
            raise ArgumentError(
                f"{self.__name__} takes {nargs} argument{'s' if nargs != 1 else ''} but {method} was given "
                f"{len(rules)} rule{'s' if len(rules) != 1 else ''}", where,
                hint="give one rule per argument, in order, and None for an argument without a derivative")
        for k, rule in enumerate(rules):
            if rule is not None and not callable(rule):
                raise ArgumentError(f"the {method} rule for argument {k} of {self.__name__} is a "
                                    f"{type(rule).__name__}, not a function", where,
                                    hint=f"pass a function of {takes}, or None for no derivative")
            if rule is not None:
                _check_returns_value(rule, method, k, self.__name__)
        return rules

    def vjp_rule(self, k):
        """The adjoint rule of argument ``k`` (None: no derivative)."""
        return self._rule(self.vjp_rules, k, "defvjp")

    def jvp_rule(self, k):
        """The tangent rule of argument ``k`` (None: no derivative)."""
        return self._rule(self.jvp_rules, k, "defjvp")

    def _rule(self, rules, k, method):
        if k >= len(rules):  # a *args function called with more arguments than it has rules
            raise NonDifferentiableError(f"{self.__name__} is called with argument {k} but {method} gave it "
                                         f"{len(rules)} rules", hint="give one rule per argument, None for none")
        return rules[k]

    @property
    def py_func(self):
        return getattr(self.primal, "py_func", self.primal)


def _check_returns_value(rule, method, k, fname):
    """Refuse a rule function that returns nothing (its None would be a silent zero, or a numba error)."""
    py = getattr(rule, "py_func", rule)
    if not inspect.isfunction(py) or py.__name__ == "<lambda>":
        return  # a lambda returns its expression; builtins and callables are numba's to type
    try:
        fn = source.load(py)
    except AdflowError:  # no readable source: numba reports what it finds when it compiles the rule
        return
    returns = [n for n in gast.walk(fn.tree) if isinstance(n, gast.Return)]
    if not any(r.value is not None and not (isinstance(r.value, gast.Constant) and r.value.value is None)
               for r in returns):
        raise NonDifferentiableError(
            f"the {method} rule for argument {k} of {fname}, {fn.name}, returns no value", fn.location(fn.tree),
            hint="return the derivative; to mean 'no derivative', pass None instead of the rule")


def custom_vjp(primal):
    """Mark ``primal`` as having user-defined adjoint rules (see :meth:`CustomRule.defvjp`).

    Reverse mode then calls the rules instead of differentiating the body, in ``primal`` itself
    and wherever a differentiated function calls it.

    >>> import numpy as np, adflow
    >>> @adflow.custom_vjp
    ... def softplus(x):
    ...     return np.log1p(np.exp(x))
    >>> softplus = softplus.defvjp(lambda g, ans, x: g / (1.0 + np.exp(-x)))
    >>> adflow.grad(softplus, target="python")(0.0)  # the rule: sigmoid(0)
    0.5
    """
    return primal if isinstance(primal, CustomRule) else CustomRule(primal)


def custom_jvp(primal):
    """Mark ``primal`` as having user-defined tangent rules (see :meth:`CustomRule.defjvp`).

    Forward mode (``jvp``, forward Jacobians) then calls the rules instead of differentiating the
    body; one function may have both kinds of rules.

    >>> import numpy as np, adflow
    >>> @adflow.custom_jvp
    ... def softplus(x):
    ...     return np.log1p(np.exp(x))
    >>> softplus = softplus.defjvp(lambda x_dot, ans, x: x_dot / (1.0 + np.exp(-x)))
    >>> adflow.jvp(softplus, (0.0,), (2.0,), target="python")  # (log 2, 2 * sigmoid(0))
    (0.6931471805599453, 1.0)
    """
    return primal if isinstance(primal, CustomRule) else CustomRule(primal)


def custom_jvp_of(obj):
    return obj if isinstance(obj, CustomRule) and obj.jvp_rules is not None else None


def custom_vjp_of(obj):
    return obj if isinstance(obj, CustomRule) and obj.vjp_rules is not None else None


def primal_of(obj):
    return obj.primal if isinstance(obj, CustomRule) else obj

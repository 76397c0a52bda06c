"""The generated functions of a function with user rules (:class:`~adflow.rules.custom.CustomRule`).

Its body is not differentiated: ``<f>_vjp`` runs the primal and calls the adjoint rules,
``<f>_fwd`` runs the primal on the values and applies the tangent rules to each direction.  The
rules run where the generated code runs (:meth:`adflow.targets.base.Target.wrap`).
"""
from __future__ import annotations

from ..syntax.templates import function
from ..value_types import is_float_type


def vjp_function(builder, custom, argtypes) -> str:
    """Write ``<name>_vjp(args..., g)`` calling the adjoint rules into the builder's module; its name."""
    params = [f"a{k}" for k in range(len(argtypes))]
    base = custom.__name__
    vjp_name = builder.unique(f"{base}_vjp")
    primal_name = f"{base}_primal"
    builder.namespace[primal_name] = builder.target.wrap(custom.primal)
    grads = []
    for k, ty in enumerate(argtypes):
        rule = custom.vjp_rule(k)
        if rule is None or not is_float_type(ty):
            grads.append(f"zeros_like_float(a{k})")
            continue
        rname = f"{base}_vjp_rule{k}"
        builder.namespace[rname] = builder.target.wrap(rule)
        grads.append(f"{rname}(g, ans, {', '.join(params)})")
    text = (f"def {vjp_name}({', '.join(params)}, g):\n"
            f"    ans = {primal_name}({', '.join(params)})\n"
            f"    return ans, ({', '.join(grads)},)\n")
    builder.functions.append((function(text), f"user-defined rules of {base}"))
    return vjp_name


def forward_function(builder, custom, argtypes, chunk) -> str:
    """Write ``<name>_fwd(args...)`` applying the tangent rules to each of the ``chunk`` directions; its name."""
    base = custom.__name__
    fwd_name = builder.unique(f"{base}_fwd")
    primal_name = f"{base}_primal"
    builder.namespace[primal_name] = builder.target.wrap(custom.primal)
    n = len(argtypes)
    values = ", ".join(f"v{k}" for k in range(n))
    lines = [f"def {fwd_name}({', '.join(f'a{k}' for k in range(n))}):"]
    lines += [f"    v{k} = value_of(a{k})" for k in range(n)]
    lines += [f"    ans = {primal_name}({values})",
              f"    tangent = np.zeros(np.shape(ans) + ({chunk},))",
              f"    for j in range({chunk}):"]
    terms = []
    for k, ty in enumerate(argtypes):
        rule = custom.jvp_rule(k)
        if rule is None or not is_float_type(ty):
            continue
        rname = f"{base}_jvp_rule{k}"
        builder.namespace[rname] = builder.target.wrap(rule)
        lines.append(f"        t{k} = tangents_of(a{k}, {chunk})")
        terms.append(f"{rname}(t{k}[..., j], ans, {values})")
    lines.append(f"        tangent[..., j] = {' + '.join(terms) if terms else '0.0'}")
    lines.append(f"    return make_dual(ans, tangent, {chunk})")
    builder.functions.append((function("\n".join(lines) + "\n"), f"user-defined tangent rules of {base}"))
    return fwd_name

"""A transform called inside a differentiated function: ``adflow.grad(f)(y)`` or
``adflow.jvp(f, (x,), (t,))`` in ``g``.

The front end makes such a call a call of a helper, the derivative object
(:mod:`adflow.frontend.normalize`), and this module gives that helper what every helper needs:

* a compiled version numba can type and call (:mod:`.compiled_derivative`): ``f``'s reverse sweep
  (a gradient) or forward mode (a jvp) for the argument types numba meets;
* its reverse mode (:func:`vjp_function`).  For a gradient ``D(y) = grad f(y)`` with the
  cotangent ``w``: ``w^T dD/dy``, the Hessian-vector product ``H w``, is ``f``'s reverse sweep
  run on duals seeded with ``w`` (forward over reverse; the Hessian is symmetric, so one sweep
  gives every argument's cotangent).  For a jvp ``(f(x), J t)`` with the cotangent
  ``(w_y, w_t)``: one sweep of ``f`` on ``x + e t`` with the dual cotangent ``w_t + e w_y``;
* its forward mode (:func:`forward_function`): for a gradient, ``f``'s reverse sweep run on the
  dual arguments; for a jvp it would be forward over forward, which is refused.

:func:`check_calls` refuses at the call's line what compiled code cannot call (a Jacobian, a
Hessian, a gradient with ``has_aux``...), and :func:`refuse_third_order` a second derivative of a
function calling one, which would be a third derivative of ``f``.
"""
from __future__ import annotations

import gast
from numba.core import types

from ..duals.numba_dual import DualArrayType, DualType
from ..errors import NonDifferentiableError, ShapeError
from ..frontend import ops as O
from ..frontend.dependencies import find_varied
from ..syntax.nodes import statements
from ..syntax.source import derivative_function, derivative_kind
from ..syntax.templates import function
from ..value_types import constant_type, is_float_type

CALLABLE_INSIDE = "adflow.grad(f)(...), adflow.value_and_grad(f)(...) and adflow.jvp(f, (x,), (t,))"


def is_derivative(obj) -> bool:
    return derivative_kind(obj) is not None


def describe(derivative) -> str:
    kind = "value_and_grad" if getattr(derivative, "with_value", False) else derivative_kind(derivative)
    fname = getattr(derivative_function(derivative), "__name__", "f")
    return f"adflow.jvp({fname}, ...)" if kind == "jvp" else f"adflow.{kind}({fname})"


def arity(derivative) -> int:
    """How many arguments a call of the derivative passes: ``f``'s, then for a jvp the tangents."""
    if derivative_kind(derivative) == "jvp":
        return derivative.nprimals + len(derivative.wrt)
    return derivative_function(derivative).__code__.co_argcount


# --------------------------------------------------------------------------- what may be called inside


def _call_lines(fdef, hname):
    """The statements of ``fdef`` that call the helper named ``hname``."""
    for stmt in statements(fdef.body):
        value = getattr(stmt, "value", None)
        func = getattr(value, "func", None)
        if getattr(func, "id", None) == hname:
            yield stmt


def call_site(fn, fdef, hname):
    """Where ``fn`` first calls the helper ``hname`` (its definition if no statement does)."""
    stmt = next(_call_lines(fdef, hname), None)
    return fn.location(stmt if stmt is not None else fn.tree)


def check_calls(fn, fdef, helpers, target):
    """Refuse, at the call's line, a derivative that compiled code cannot call: only ``jvp`` calls and
    ``grad`` and ``value_and_grad`` derivatives can (without ``has_aux`` or ``batch``; value_and_grad
    with one ``wrt``), and not in code run one GPU thread per derivative."""
    for hname, obj in helpers.items():
        kind = derivative_kind(obj)
        if kind is None:
            continue
        what = describe(obj)
        if target.per_thread:
            why = f"{what} called inside a function differentiated for {target!r}"
        elif kind == "jvp":
            continue
        elif kind != "grad":
            why = f"{what} cannot be called inside a differentiated function"
        elif obj.has_aux or obj.batch:
            why = f"{what} made with {'has_aux=True' if obj.has_aux else 'batch=True'} cannot be called inside a " \
                  f"differentiated function"
        elif obj.with_value and not obj.single:
            why = f"{what} with a tuple wrt cannot be called inside a differentiated function (its result " \
                  f"nests tuples)"
        else:
            continue
        raise NonDifferentiableError(why, call_site(fn, fdef, hname),
                                     hint=f"only {CALLABLE_INSIDE} can be called there (a gradient with respect "
                                          f"to one argument or a tuple of them); or compose the transforms from "
                                          f"outside: adflow.jacobian(adflow.grad(f)) and the like")


def refuse_third_order(fn, fdef, normalizer, vartypes, dual_params):
    """A Hessian of a function that calls a gradient on values depending on its dual arguments
    would need ``f``'s third derivatives: refused at the call's line."""
    derivatives = {h for h, obj in normalizer.helpers.items() if is_derivative(obj)}
    if not derivatives:
        return
    classifier = O.Classifier(fn, normalizer.helpers, normalizer.locals)
    ops = [classifier.classify(s) for s in statements(fdef.body) if isinstance(s, gast.Assign)]
    varied = find_varied(ops, dual_params, vartypes)
    for op in ops:
        if op.kind == O.CALL_USER and op.prim in derivatives and set(op.operand_names()) & varied:
            raise NonDifferentiableError(
                f"a second derivative of {fn.name}, which calls {describe(normalizer.helpers[op.prim])}, would be a "
                f"third derivative of {getattr(derivative_function(normalizer.helpers[op.prim]), '__name__', 'f')}, "
                f"which adflow does not compute", fn.location(op.node),
                hint=f"take one derivative of {fn.name} (grad, jvp, vjp, jacobian)")


# --------------------------------------------------------------------------- the call itself


def call_types(prepared, hname):
    """The argument types of ``prepared``'s first call of the helper ``hname``."""
    stmt = next(_call_lines(prepared.fdef, hname))
    return tuple(prepared.vartypes[a.id] if isinstance(a, gast.Name) else constant_type(a) for a in stmt.value.args)


def primal_function(builder, derivative, argtypes, hname, caller):
    """Write ``<hname>(a0, ...)``, what ``caller``'s generated code calls for the derivative: ``f``'s
    reverse sweep with the cotangent 1 (a gradient) or ``f``'s forward mode seeded with the tangents
    (a jvp), generated into the same module."""
    f = derivative_function(derivative)
    params = [f"a{k}" for k in range(len(argtypes))]
    if derivative_kind(derivative) == "jvp":
        n, wrt = derivative.nprimals, tuple(derivative.wrt)
        fwd, _ = builder.forward(f, tuple(argtypes[:n]), wrt, 1, name=f"{f.__name__}_fwd")
        returned = _one_output(builder, fwd, derivative)
        seeded = [_seeded(k, t, f"a{n + wrt.index(k)}") if k in wrt else f"a{k}" for k, t in enumerate(argtypes[:n])]
        body = [f"    _y = {fwd}({', '.join(seeded)})", f"    return value_of(_y), {_tangent('_y', returned, 1)}"]
        how = "f's forward mode seeded with the tangents"
    else:
        wrt = tuple(derivative.wrt)
        sweep, _ = builder.reverse(f, tuple(argtypes), wrt, name=f"{f.__name__}_vjp")
        grads = "_grads[0]" if derivative.single else "_grads"
        body = [f"    _y, _grads = {sweep}({', '.join(params)}, 1.0)",
                f"    return {f'_y, {grads}' if derivative.with_value else grads}"]
        how = "f's reverse sweep with the cotangent 1"
    text = "\n".join([f"def {hname}({', '.join(params)}):"] + body) + "\n"
    builder.functions.append((function(text), f"{describe(derivative)}, as {caller} calls it: {how}"))


def _one_output(builder, generated, derivative):
    """The type ``f`` returns (from its generated function's front end), refused unless one array or number."""
    prepared = builder.prepared.get(generated)  # None for a function with custom rules
    returned = prepared.return_type if prepared is not None else None
    if returned is None or not (_is_array(returned) or is_float_type(returned)):
        f = derivative_function(derivative)
        raise NonDifferentiableError(f"{describe(derivative)} inside a differentiated function needs {f.__name__} "
                                     f"to return one array or number, not {returned or 'what its rules return'}")
    return returned


# --------------------------------------------------------------------------- its reverse and forward modes


def dual_type(ty, k):
    """The numba type of ``seed(x, directions)`` carrying ``k`` directions, for an ``x`` of type ``ty``."""
    if isinstance(ty, types.Array):
        return DualArrayType(k, types.Array(types.float64, ty.ndim, "C"), types.Array(types.float64, ty.ndim + 1, "C"))
    return DualType(k)


def _seeded(k, ty, w):
    """The generated expression seeding argument ``a{k}`` (of type ``ty``) with the one direction ``w``."""
    if _is_array(ty):
        return f"seed_directions(a{k}, {w}, 1)"
    return f"seed(a{k}, {w})"


def _is_array(ty) -> bool:
    return isinstance(ty, (types.Array, DualArrayType))


def _tangent(expr, ty, k):
    return f"tangents_of({expr}, {k})[..., 0]" if _is_array(ty) else f"tangents_of({expr}, {k})[0]"


def vjp_function(builder, derivative, argtypes, name) -> str:
    """Write ``<name>(a0, ..., g)``: the reverse mode of a call of ``derivative`` (``g``: the cotangent of
    its result), returning ``(result, cotangents of the arguments)``; its name."""
    if any(isinstance(t, (DualType, DualArrayType)) for t in argtypes):  # refused earlier, at the call's line
        raise NonDifferentiableError(f"a second derivative through {describe(derivative)} would be a third "
                                     f"derivative, which adflow does not compute")
    if derivative_kind(derivative) == "jvp":
        return _jvp_vjp_function(builder, derivative, argtypes, name)
    f = derivative_function(derivative)
    wrt = tuple(derivative.wrt)
    floats = tuple(k for k, t in enumerate(argtypes) if is_float_type(t))
    grads_cotangent = "g[1]" if derivative.with_value else "g"  # value_and_grad: (the value's, the gradient's)
    grad_parts = [grads_cotangent] if derivative.single else [f"{grads_cotangent}[{j}]" for j in range(len(wrt))]
    dual_types = tuple(dual_type(t, 1) if k in wrt else t for k, t in enumerate(argtypes))
    sweep, _ = builder.reverse(f, dual_types, floats, name=f"{f.__name__}_vjp_on_duals")
    params = [f"a{k}" for k in range(len(argtypes))]
    call_args = list(params)
    for j, k in enumerate(wrt):
        call_args[k] = _seeded(k, argtypes[k], grad_parts[j])
    position = {k: j for j, k in enumerate(floats)}
    value_term = " + g[0] * value_of(_grads[{}])" if derivative.with_value else ""
    cotangents = [(_tangent(f"_grads[{position[k]}]", t, 1) + value_term.format(position[k])) if k in position
                  else f"zeros_like_float(a{k})" for k, t in enumerate(argtypes)]
    grads = [f"value_of(_grads[{position[k]}])" for k in wrt]
    result = grads[0] if derivative.single else f"({', '.join(grads)},)"
    if derivative.with_value:
        result = f"(value_of(_y), {result})"
    return _sweep_on_duals(builder, name, params, sweep, call_args, "make_dual(1.0, np.zeros(1), 1)", result,
                           cotangents, f"reverse mode of {describe(derivative)}: its reverse sweep on duals "
                                       f"seeded with the cotangent (Hessian-vector products)")


def _jvp_vjp_function(builder, derivative, argtypes, name) -> str:
    """The reverse mode of ``jvp(f, (x...), (t...))``, cotangent ``g = (w_y, w_t)``: one reverse sweep of
    ``f`` on ``x + e t`` with the dual cotangent ``w_t + e w_y`` gives ``w_t^T J`` (the tangents'
    cotangents, its values) and ``w_y^T J + w_t^T (d^2 f) t`` (the primals', its tangents)."""
    f = derivative_function(derivative)
    n, wrt = derivative.nprimals, tuple(derivative.wrt)
    primal_types = argtypes[:n]
    floats = tuple(k for k, t in enumerate(primal_types) if is_float_type(t))
    dual_types = tuple(dual_type(t, 1) if k in wrt else t for k, t in enumerate(primal_types))
    sweep, _ = builder.reverse(f, dual_types, floats, name=f"{f.__name__}_vjp_on_duals")
    returned = _one_output(builder, sweep, derivative)
    params = [f"a{k}" for k in range(len(argtypes))]
    call_args = [_seeded(k, t, f"a{n + wrt.index(k)}") if k in wrt else f"a{k}" for k, t in enumerate(primal_types)]
    cotangent = "seed_directions(g[1], g[0], 1)" if _is_array(returned) else "seed(g[1], g[0])"
    position = {k: j for j, k in enumerate(floats)}
    primal_bars = [_tangent(f"_grads[{position[k]}]", t, 1) if k in position else f"zeros_like_float(a{k})"
                   for k, t in enumerate(primal_types)]
    tangent_bars = [f"value_of(_grads[{position[k]}])" for k in wrt]
    result = f"(value_of(_y), {_tangent('_y', returned, 1)})"
    return _sweep_on_duals(builder, name, params, sweep, call_args, cotangent, result, primal_bars + tangent_bars,
                           f"reverse mode of {describe(derivative)}: its reverse sweep on duals "
                           f"seeded with the tangents, the cotangent a dual too")


def _sweep_on_duals(builder, name, params, sweep, call_args, cotangent, result, cotangents, what) -> str:
    """Write the vjp function ``name(params..., g)`` that runs ``sweep`` on duals with ``cotangent`` and
    returns ``result`` and the arguments' ``cotangents``; ``what`` describes it in the module."""
    vjp_name = builder.unique(name)
    text = (f"def {vjp_name}({', '.join(params)}, g):\n"
            f"    g = one_cotangent(g)\n"
            f"    _y, _grads = {sweep}({', '.join(call_args)}, {cotangent})\n"
            f"    return {result}, ({', '.join(cotangents)},)\n")
    builder.functions.append((function(text), what))
    return vjp_name


def forward_function(builder, derivative, argtypes, varied, chunk, name, where=None) -> str:
    """Write ``<name>(a0, ...)``: ``derivative`` on arguments of which ``varied`` are duals carrying
    ``chunk`` directions (``f``'s reverse sweep run on them); its name."""
    if derivative_kind(derivative) == "jvp":
        raise NonDifferentiableError(
            f"forward mode through {describe(derivative)} would push tangents through tangents (forward over "
            f"forward), which adflow's dual numbers do not carry", where,
            hint="differentiate this function in reverse mode: adflow.grad, adflow.vjp, or "
                 "adflow.jacobian(..., mode='reverse')")
    f = derivative_function(derivative)
    wrt = tuple(derivative.wrt)
    dual_types = tuple(dual_type(t, chunk) if k in varied else t for k, t in enumerate(argtypes))
    sweep, _ = builder.reverse(f, dual_types, wrt, name=f"{f.__name__}_vjp_on_duals")
    params = ", ".join(f"a{k}" for k in range(len(argtypes)))
    grads = "_grads[0]" if derivative.single else "_grads"
    result = f"_y, {grads}" if derivative.with_value else grads
    fwd_name = builder.unique(name)
    text = (f"def {fwd_name}({params}):\n"
            f"    _y, _grads = {sweep}({params}, make_dual(1.0, np.zeros({chunk}), {chunk}))\n"
            f"    return {result}\n")
    builder.functions.append((function(text), f"forward mode of {describe(derivative)}: its reverse sweep on "
                                               f"dual numbers carrying {chunk} direction{'s' if chunk != 1 else ''}"))
    return fwd_name

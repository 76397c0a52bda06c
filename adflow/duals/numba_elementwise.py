"""Elementwise primitives on numba duals, generated from the partials table.

For every elementwise primitive (``sin``, ``mul``, ``maximum``...) and every Python function that
names it (``math.sin``, ``np.sin``, ``operator.mul``, ``max``...), one ``@overload`` is registered.
Its typer looks at which arguments are duals and generates, once per combination, a small
implementation from the partials.  For ``x * y`` with both scalar duals it is::

    def impl(x, y):
        x_v = x.value
        y_v = y.value
        ans = np.float64(primal(x_v, y_v))
        t = tup_scale(x.tangents, np.float64(y_v))      # the partial d(x*y)/dx = "y"
        t = tup_axpy(t, np.float64(x_v), y.tangents)    # the partial d(x*y)/dy = "x"
        return new_dual(ans, t)

The partials' text comes from the table (:func:`adflow.duals.formulas.partial_expression`),
spliced in with its variables renamed, so numba compiles no extra function for it.

When an argument is an array (a dual array, or a float array meeting a scalar dual), the
implementation loops over the broadcast shape and applies the scalar rule to each element.

Operations with no derivative (comparisons, ``floor``, ``sign``, ``//``...) act on the values.
"""
from __future__ import annotations

import builtins
import functools
import math
import operator

import gast
import numpy as np
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable

from ..backends import vector_math
from ..backends.emit import expr_source
from ..backends.cache_files import helper_function, overload_cached_apart
from ..backends.symbols import distinct
from ..value_types import ndim_of
from . import formulas
from .helpers import value_of
from .numba_dual import DualArrayType, DualType, new_dual, new_dual_array
from .numba_tuples import tup_axpy, tup_scale

# ``np.where``/``np.clip`` on two numbers give 0-d arrays in numba; a scalar dual needs a number.
_SCALAR_PRIMALS = {
    "where": register_jitable(distinct(lambda c, x, y: x if c else y, "where")),
    "clip": register_jitable(distinct(lambda x, lo, hi: min(max(x, lo), hi), "clip")),
}


def _scalar_primal(function, name: str):
    """What computes the value of a scalar dual's primitive.

    Operators and builtins (``/``, ``**``, ``abs``, ``max``) keep their own Python semantics; for
    library functions the NumPy ufunc is used, since numba lacks some of ``math`` (``math.cbrt``)
    and gives the same values for the rest.
    """
    name = formulas.canonical(name)
    if name in _SCALAR_PRIMALS:
        return _SCALAR_PRIMALS[name]
    if function in vars(operator).values() or function in vars(builtins).values():
        return function
    return formulas.primal_function(name)


def kind_of(ty) -> str | None:
    """How an argument takes part: ``dual``, ``dual_array``, ``array``, ``number`` or ``None``."""
    if isinstance(ty, DualType):
        return "dual"
    if isinstance(ty, DualArrayType):
        return "dual_array"
    if isinstance(ty, types.Array):
        return "array"
    if isinstance(ty, (types.Number, types.Boolean)):
        return "number"
    return None


def common_k(argtypes) -> int:
    ks = {t.k for t in argtypes if isinstance(t, (DualType, DualArrayType))}
    if len(ks) != 1:
        raise TypingError(f"adflow: duals with different numbers of directions meet: {sorted(ks)}")
    return ks.pop()


def _exec(source: str, namespace: dict, label: str):
    # A module in the cache folder: numba caches what it compiles from it (the overloads below
    # register such implementations with its disk cache on), so a new process loads the dual
    # operations a derivative calls instead of compiling them again.
    return helper_function(source, namespace, label)


def shape_of(x):
    """The shape of a value, a dual or an array; ``()`` for a number (jitted code only)."""
    raise NotImplementedError("jitted code only")


@overload(shape_of)
def _shape_of(x):
    if isinstance(x, DualArrayType):
        return lambda x: x.value.shape
    if isinstance(x, types.Array):
        return lambda x: x.shape
    return lambda x: ()


@register_jitable
def broadcast_dim(a, b):
    """One axis of NumPy broadcasting: 1 stretches to the other length."""
    if a == 1:
        return b
    if b != 1 and b != a:
        raise ValueError("operands could not be broadcast together")
    return a


@functools.cache
def _scalar_impl(function, name: str, kinds: tuple):
    params = formulas.signature(name).params
    values = ", ".join(f"{p}_v" for p in params)
    rename = {p: f"{p}_v" for p in params}
    lines = [f"def impl({', '.join(params)}):"]
    lines += [f"    {p}_v = {p}.value" if k == "dual" else f"    {p}_v = {p}" for p, k in zip(params, kinds)]
    lines.append(f"    ans = np.float64(primal({values}))")
    first = True
    for p, k in zip(params, kinds):
        if k != "dual":
            continue
        partial = f"np.float64({formulas.partial_expression(name, p, rename)})"
        if first:
            lines.append(f"    t = tup_scale({p}.tangents, {partial})")
            first = False
        else:
            lines.append(f"    t = tup_axpy(t, {partial}, {p}.tangents)")
    lines.append("    return new_dual(ans, t)")
    namespace = {
        "primal": _scalar_primal(function, name),
        "np": np, "tup_scale": tup_scale, "tup_axpy": tup_axpy, "new_dual": new_dual,
    }
    return _exec("\n".join(lines) + "\n", namespace, f"scalar dual {name}")


@functools.cache
def _array_impl(function, name: str, ndims: tuple, k: int, in_place: bool = False):
    """Nested loops over the broadcast shape, applying the scalar-dual rule to each element.

    For ``np.sin`` of a 2-D dual array this generates::

        def impl(x):
            x_s = shape_of(x)
            d0 = x_s[0]
            d1 = x_s[1]
            out = new_dual_array(np.empty((d0, d1)), np.empty((d0, d1, 3)), 3)
            for i0 in range(d0):
                for i1 in range(d1):
                    out[i0, i1] = function(x[min(i0, x_s[0] - 1), min(i1, x_s[1] - 1)])
            return out

    (``min(i, length - 1)`` is NumPy broadcasting: an axis of length 1 is reused.)  Explicit loops
    compile several times faster in numba than array expressions or ``np.broadcast_to``, make no
    temporaries, and the derivative is the scalar rule's.  ``in_place`` (``a += b``) writes into
    the first argument instead of a new array.
    """
    params = formulas.signature(name).params
    n = max(ndims)
    lines = [f"def impl({', '.join(params)}):"]
    lines += [f"    {p}_s = shape_of({p})" for p, nd in zip(params, ndims) if nd]
    for axis in range(n):
        dims = [f"{p}_s[{axis - (n - nd)}]" for p, nd in zip(params, ndims) if axis >= n - nd]
        expr = dims[0]
        for other in dims[1:]:
            expr = f"broadcast_dim({expr}, {other})"
        lines.append(f"    d{axis} = {expr}")
    shape = "(" + "".join(f"d{axis}, " for axis in range(n)) + ")"
    if in_place:
        lines.append(f"    if {shape} != {params[0]}_s:")
        lines.append("        raise ValueError('non-broadcastable output operand')")
        lines.append(f"    out = {params[0]}")
    else:
        # Every element is written below: neither values nor tangents need zeroing.
        lines.append(f"    out = new_dual_array(np.empty({shape}), np.empty({shape[:-1]}{k},)), {k})")
    indent = "    "
    for axis in range(n):
        lines.append(f"{indent}for i{axis} in range(d{axis}):")
        indent += "    "
    args = []
    for p, nd in zip(params, ndims):
        if nd == 0:
            args.append(p)
            continue
        index = ", ".join(
            f"min(i{axis}, {p}_s[{axis - (n - nd)}] - 1)" for axis in range(n - nd, n)
        )
        args.append(f"{p}[{index}]")
    out_index = ", ".join(f"i{axis}" for axis in range(n)) if n else "()"
    lines.append(f"{indent}out[{out_index}] = function({', '.join(args)})")
    lines.append("    return out")
    namespace = {
        "function": function, "shape_of": shape_of, "broadcast_dim": broadcast_dim,
        "new_dual_array": new_dual_array, "np": np,
    }
    return _exec("\n".join(lines) + "\n", namespace, f"dual array {name}")


def _is_c_array(ty) -> bool:
    if isinstance(ty, DualArrayType):
        return ty.value_type.layout == "C" and ty.tangent_type.layout == "C"
    return isinstance(ty, types.Array) and ty.layout == "C"


@functools.cache
def flat_impl(function, name: str, kinds: tuple, ndims: tuple, k: int, value: bool = True):
    """One flat loop over contiguous operands of one shape, the partials spliced in.

    For ``a + b`` on two dual arrays this generates::

        def impl(a, b):
            if shape_of(a) != shape_of(b):
                return broadcasting(a, b)          # the nested loops of _array_impl
            ans_v = np.empty(shape_of(a))
            ans_t = np.empty(shape_of(a) + (3,))
            o_v = ans_v.reshape(-1)
            o_t = ans_t.reshape((o_v.size, 3))
            a_v = a.value.reshape(-1)
            a_t = a.tangents.reshape((a_v.size, 3))
            ...
            for i in range(o_v.size):
                a_e = a_v[i]
                b_e = b_v[i]
                ans = np.float64(primal(a_e, b_e))
                o_v[i] = ans
                d_a = np.float64(1.0)
                d_b = np.float64(1.0)
                for j in range(3):
                    o_t[i, j] = d_a * a_t[i, j] + d_b * b_t[i, j]
            return new_dual_array(ans_v, ans_t, 3)

    The common case (one shape: ``sin(x)``, ``x * 2.0``, ``u + v``) then runs without per-element
    dual structs or broadcasting indices, which makes it about a fifth faster.

    ``value=False`` computes the tangents only (:mod:`adflow.duals.tangents_only`): the primal
    is evaluated only where a partial reads it, and the values are NaN.
    """
    params = formulas.signature(name).params
    arrays = [p for p, kind in zip(params, kinds) if kind in ("array", "dual_array")]
    duals = [p for p, kind in zip(params, kinds) if kind == "dual_array"]
    first = arrays[0]
    lines = [f"def impl({', '.join(params)}):"]
    if len(arrays) > 1:
        same = " and ".join(f"shape_of({p}) == shape_of({first})" for p in arrays[1:])
        lines += [f"    if not ({same}):", f"        return broadcasting({', '.join(params)})"]
    keep = value or "ans" in formulas.values_read_by_partials(name)
    lines += [f"    ans_v = np.{'empty' if value else 'full'}(shape_of({first}){'' if value else ', np.nan'})",
              f"    ans_t = np.empty(shape_of({first}) + ({k},))",
              "    o_v = ans_v.reshape(-1)",
              f"    o_t = ans_t.reshape((o_v.size, {k}))"]
    for p, kind in zip(params, kinds):
        if kind == "dual_array":
            lines += [f"    {p}_v = {p}.value.reshape(-1)", f"    {p}_t = {p}.tangents.reshape(({p}_v.size, {k}))"]
        elif kind == "array":
            lines.append(f"    {p}_v = {p}.reshape(-1)")
    element = {p: (f"{p}_e" if kind in ("array", "dual_array") else p) for p, kind in zip(params, kinds)}
    partials = {p: formulas.partial_expression(name, p, element) for p in duals}
    # Transcendental calls go four at a time before the loop (adflow.backends.vector_math).
    fills = {}
    function_name = formulas.canonical(name)
    primal_filled = keep and len(params) == 1 and kinds == ("dual_array",) and vector_math.has(function_name)
    if primal_filled:
        target = "o_v" if value else "ans_s"
        if not value:
            lines.append("    ans_s = np.empty(o_v.size)")
        lines.append(f"    fill_{function_name}({first}_v, {target})")
        fills[f"fill_{function_name}"] = vector_math.filler(function_name)
    partials, calls = _vector_calls(partials, {f"{p}_e": p for p in duals})
    for called, operand in calls:
        lines += [f"    {called}_{operand} = np.empty(o_v.size)", f"    fill_{called}({operand}_v, {called}_{operand})"]
        fills[f"fill_{called}"] = vector_math.filler(called)
    lines.append("    for i in range(o_v.size):")
    lines += [f"        {p}_e = {p}_v[i]" for p in arrays]
    if primal_filled:
        lines.append(f"        ans = {target}[i]")
    elif keep:
        lines.append(f"        ans = np.float64(primal({', '.join(element[p] for p in params)}))")
    if value and not primal_filled:
        lines.append("        o_v[i] = ans")
    for p in duals:
        lines.append(f"        d_{p} = np.float64({partials[p]})")
    terms = " + ".join(f"d_{p} * {p}_t[i, j]" for p in duals)
    # A bound numba cannot fold keeps LLVM from unrolling the loop into scalar code: it vectorises it
    # instead, behind a runtime check that the tangent arrays do not overlap (a third faster at k = 16).
    directions = "o_t.shape[1]" if k >= 4 else k
    lines += [f"        for j in range({directions}):", f"            o_t[i, j] = {terms}",
              f"    return new_dual_array(ans_v, ans_t, {k})"]
    namespace = {
        "primal": _scalar_primal(function, name), "shape_of": shape_of, "np": np,
        "new_dual_array": new_dual_array,
    }
    namespace.update(fills)
    if len(arrays) > 1:
        namespace["broadcasting"] = _jitable_array_impl(function, name, ndims, k)
    return _exec("\n".join(lines) + "\n", namespace, f"flat dual array {name}")


def _vector_calls(partials: dict, operands: dict) -> tuple[dict, list]:
    """Partials with ``np.f(x_e)`` read from an array ``f_x`` that a vector fill computes first.

    ``operands`` maps element names to operand names (``{"x_e": "x"}``).  Returns the rewritten
    partials and the ``(f, operand)`` pairs to fill, for the calls
    :func:`adflow.backends.vector_math.vector_function` names.
    """
    calls = []

    class _Precomputed(gast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            called = vector_math.vector_function(node)
            arg = node.args[0] if node.args else None
            if called is None or not (isinstance(arg, gast.Name) and arg.id in operands):
                return node
            pair = (called, operands[arg.id])
            if pair not in calls:
                calls.append(pair)
            return gast.Subscript(value=gast.Name(id=f"{called}_{pair[1]}", ctx=gast.Load(), annotation=None,
                                                  type_comment=None),
                                  slice=gast.Name(id="i", ctx=gast.Load(), annotation=None, type_comment=None),
                                  ctx=gast.Load())

    rewritten = {p: expr_source(_Precomputed().visit(gast.parse(text, mode="eval")).body)
                 for p, text in partials.items()}
    return rewritten, calls


@functools.cache
def _jitable_array_impl(function, name: str, ndims: tuple, k: int):
    return register_jitable(_array_impl(function, name, ndims, k))


def flat_loop_applies(argtypes, kinds) -> bool:
    """Can :func:`flat_impl` serve: contiguous array operands of one ``ndim > 0``, the rest numbers?"""
    arrays = [t for t, kind in zip(argtypes, kinds) if kind in ("array", "dual_array")]
    return (bool(arrays) and set(kinds) <= {"number", "array", "dual_array"}
            and all(_is_c_array(t) for t in arrays) and len({t.ndim for t in arrays}) == 1 and arrays[0].ndim > 0)


def _works_on_arrays(function) -> bool:
    # math.sin(array) and max(array, array) mean something else (or nothing) in Python.
    if function is builtins.abs:
        return True
    # By identity: `in` compares with ==, and builtins._ holds the REPL's last result (often an array).
    return not any(function is v for v in (*vars(math).values(), *vars(builtins).values()))


def choose_elementwise(function, name: str, argtypes):
    kinds = tuple(kind_of(t) for t in argtypes)
    if None in kinds or not any(k in ("dual", "dual_array") for k in kinds):
        return None
    in_place = function in _INPLACE_SCALAR.values()
    if in_place and kinds[0] == "array":
        return None  # a float array cannot receive a dual
    k = common_k(argtypes)
    for param, kind in zip(formulas.signature(name).params, kinds):
        if kind in ("dual", "dual_array") and formulas.partial_function(name, param) is None:
            raise TypingError(f"adflow: {name} has no derivative with respect to {param}")
    ndims = tuple(ndim_of(t) for t in argtypes)
    if in_place and kinds[0] == "dual_array":
        # ``a += b`` on a dual array writes into ``a``, element by element, with the plain ``+``.
        return _array_impl(formulas.OPERATORS[name], name, ndims, k, in_place=True)
    if "array" in kinds or "dual_array" in kinds:
        if not _works_on_arrays(function):
            return None
        if flat_loop_applies(argtypes, kinds):
            return flat_impl(function, name, kinds, ndims, k)
        return _array_impl(function, name, ndims, k)
    return _scalar_impl(function, name, kinds)


def _register(function, name: str, params: tuple, choose) -> None:
    """``@overload(function)`` with a typer whose parameters are ``params``.

    Numba requires a typer's and its implementation's signatures to match, so the typer is
    generated with the primitive's own parameter names.
    """
    args = ", ".join(params)
    source = f"def typer({args}):\n    return choose(function, name, [{args}])\n"
    namespace = {"choose": choose, "function": function, "name": name}
    exec(source, namespace)
    overload_cached_apart(functools.partial(overload, function), namespace["typer"])


# ----------------------------------------------------------------- operations with no derivative


def _choose_value_only(function, name: str, argtypes):
    if not any(kind_of(t) in ("dual", "dual_array") for t in argtypes):
        return None
    if any(kind_of(t) is None for t in argtypes):
        return None
    params = [f"a{i}" for i in range(len(argtypes))]
    body = ", ".join(f"value_of({p})" for p in params)
    source = f"def impl({', '.join(params)}):\n    return function({body})\n"
    return _exec(source, {"function": function, "value_of": value_of}, f"value-only {name}")


_VALUE_ONLY_ARITY = {
    "floor": 1, "ceil": 1, "trunc": 1, "rint": 1, "sign": 1, "isnan": 1, "isinf": 1,
    "isfinite": 1, "argmax": 1, "argmin": 1, "int": 1, "bool": 1, "round": 1,
    "floordiv": 2, "eq": 2, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2,
}


# ``s += x`` types as operator.iadd, which numba does not fall back to ``+`` for.  On scalars an
# in-place operator is the plain one (the variable is rebound); on a dual array it writes into it.
_INPLACE_SCALAR = {
    "add": operator.iadd, "sub": operator.isub, "mul": operator.imul,
    "truediv": operator.itruediv, "pow": operator.ipow, "mod": operator.imod,
}


def _identity_float(x):
    # float(d) keeps the tangents (the tangent rule of "float" is x_dot).
    if isinstance(x, DualType):
        return lambda x: x


def register_all() -> None:
    for name in formulas.all_primitive_names():
        if formulas.is_elementwise(name):
            params = formulas.signature(name).params
            for function in formulas.functions_of(name):
                _register(function, name, params, choose_elementwise)
        elif name in _VALUE_ONLY_ARITY:
            params = tuple(f"a{i}" for i in range(_VALUE_ONLY_ARITY[name]))
            for function in formulas.functions_of(name):
                _register(function, name, params, _choose_value_only)
    for name, function in _INPLACE_SCALAR.items():
        _register(function, name, formulas.signature(name).params, choose_elementwise)
    _register(operator.ifloordiv, "floordiv", ("a0", "a1"), _choose_value_only)
    overload(float)(_identity_float)


register_all()

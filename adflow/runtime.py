"""Helpers the generated code calls (``from adflow.runtime import *``): the tape, and the rules' pieces.

Every helper is a plain NumPy function (what ``target="python"`` runs) with a numba overload or
``register_jitable`` twin (what ``target="cpu"`` compiles), so generated code reads the same on
every target.  Helpers that dispatch on types (scalar or array, which ``axis``) use ``@overload``.
The helpers both modes' rules call (``reduce_sum``, ``ans_full``, ``reshape_like``...) are
written once, in :mod:`adflow.duals.rule_helpers`, and handed on here; those only adjoint rules
call (``sum_adjoint``, ``unbroadcast``...), which handle dual cotangents, are here.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import types
from numba.core.errors import TypingError as NumbaTypingError
from numba.extending import overload, register_jitable
from numba.np import numpy_support

from .backends.cache_files import CACHED, helper_function, overload_cached_apart
from .duals.helpers import dual_zeros, dual_zeros_like, is_dual, make_dual, seed, tangents_of, value_of
from .duals.numba_arrays import assign
from .duals.numba_numpy import along_an_axis, loop_nest, share_along, spread_along
from .duals.numba_dual import DualArrayType, DualType
from .duals.rule_helpers import (ans_full, drop_axis, extremum_tangent, reduce_sum, reduced_count, reshape_like,
                                 size_of, spread)
from .value_types import ndim_of

__all__ = [
    "grow", "reserve", "trip_count", "array_stack", "shape_stack", "unbroadcast", "sum_adjoint", "reduced_count", "extremum_adjoint",
    "extremum_tangent", "cumsum_adjoint", "dot_adjoint_a", "dot_adjoint_b", "add_dot_adjoint_a", "add_dot_adjoint_b",
    "solve_adjoint_a",
    "reshape_like", "size_of", "reduce_sum", "ans_full", "zeros_like_float", "empty_like_float", "add_cotangent",
    "seed_directions",
    "output_tangents", "lead_matmul_left", "lead_matmul_right", "lead_sum", "one_cotangent", "add_into", "assign", "store_view", "put_row", "row_of", "zeroed_row", "settle_row", "outer_product",
]


# What the one-line helpers below may name: adflow's functions only (a helper module's key covers
# its text and these names, cache_files.helper_function).
_HELPER_NAMES = {}


def _returning(params: str, expression: str, label: str, body: str = ""):
    """``def impl(<params>): <body> return <expression>``, a helper module: what numba compiles of
    it is cached on disk, so a new process loads it (each function numba compiles costs it a tenth
    of a second or more, in every process for a lambda)."""
    return helper_function(f"def impl({params}):\n{body}    return {expression}\n", _HELPER_NAMES, label)


# --------------------------------------------------------------------------- the tape
# A stack is a typed array plus a top index held in a local variable of the generated code.  The
# array doubles when full, so pushes are amortised O(1) and there are no Python objects in the
# compiled code.


def grow(stack):
    """A stack twice as large holding the same values (float arrays, or dual arrays for Hessians)."""
    return _resized(stack, max(2 * _length(stack), 16))


def reserve(stack, needed):
    """``stack``, or a larger copy, with room for ``needed`` values: pushes in a loop whose trip count
    is known on entry check the room once, before the loop (:mod:`adflow.reverse.reserved_tapes`)."""
    if _length(stack) >= needed:
        return stack
    return _resized(stack, max(needed, 2 * _length(stack)))


def _length(stack):
    return stack.value.shape[0] if is_dual(stack) else stack.shape[0]


def _resized(stack, n):
    if is_dual(stack):
        bigger = dual_zeros(n, stack.tangents.shape[1])
        bigger.value[:stack.value.shape[0]] = stack.value
        bigger.tangents[:stack.value.shape[0]] = stack.tangents
        return bigger
    bigger = np.empty(n, stack.dtype)
    bigger[: stack.shape[0]] = stack
    return bigger


@overload(grow, jit_options=CACHED)
def _grow_numba(stack):
    return _returning("stack", "_resized(stack, max(2 * _length(stack), 16))", "grow a tape")


@overload(reserve, jit_options=CACHED)
def _reserve_numba(stack, needed):
    return _returning("stack, needed", "_resized(stack, max(needed, 2 * _length(stack)))", "reserve room on a tape",
                      "    if _length(stack) >= needed:\n        return stack\n")


@overload(_length, jit_options=CACHED)
def _length_numba(stack):
    return _returning("stack", "stack.value.shape[0]" if isinstance(stack, DualArrayType) else "stack.shape[0]",
                      "a tape's length")


# Copied element by element: a slice assignment makes numba compile its shape-mismatch error
# message (string formatting), over half the compile time of a small gradient with a tape.
_RESIZED_DUALS = """    bigger = dual_zeros(n, {k})
    for i in range(stack.value.shape[0]):
        bigger.value[i] = stack.value[i]
        for k in range({k}):
            bigger.tangents[i, k] = stack.tangents[i, k]
"""
_RESIZED_FLOATS = """    bigger = np.empty(n, stack.dtype)
    for i in range(stack.shape[0]):
        bigger[i] = stack[i]
"""


@overload(_resized, jit_options=CACHED)
def _resized_numba(stack, n):
    body = _RESIZED_DUALS.format(k=stack.k) if isinstance(stack, DualArrayType) else _RESIZED_FLOATS
    return _returning("stack, n", "bigger", "a larger tape", body)


@register_jitable
def trip_count(start, stop, step):
    """How many iterations ``range(start, stop, step)`` runs."""
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // (-step))


@register_jitable
def array_stack(like):
    """An empty list typed to hold arrays like ``like`` (arrays are pushed by reference)."""
    stack = [like]
    stack.pop()
    return stack


@register_jitable
def shape_stack(like):
    """An empty list typed to hold shapes of arrays like ``like`` (reverse/shape_tapes.py)."""
    stack = [like.shape]
    stack.pop()
    return stack


@register_jitable
def add_into(view, g):
    """``view += g`` into a view of an array (``add_into(M_bar[j], g)``): in NumPy, in numba and on
    dual arrays this writes into the array the view shares (reverse/view_adds.py says why)."""
    view += g


def store_view(view, value):
    """``view[...] = value``, for ``x[1:-1] = v`` of a float array from an array (reverse/view_stores.py).

    Compiled, a loop nest (:func:`assign`) instead of numba's slice assignment, whose formatted
    shape-mismatch message takes seconds to compile; :func:`assign` copies a ``value`` whose memory
    may meet the view's (``u[1:] = u[:-1]``) first, as NumPy does.
    """
    view[...] = value


@overload(store_view, jit_options=CACHED)
def _store_view_numba(view, value):
    if not isinstance(view, types.Array):
        return None
    return _returning("view, value", "assign(view, value)", "store into a view")


def row_of(out, i):
    """Row ``i`` of ``out`` for a gradient to be computed in (reverse/gradient_rows.py): a view of it,
    or ``0.0`` when a row is one number (the gradient starts as a number and :func:`settle_row`
    stores it)."""
    return out[i] if np.ndim(out) > 1 else 0.0


def zeroed_row(out, i):
    """:func:`row_of`, its numbers set to zero."""
    if np.ndim(out) > 1:
        out[i] = 0.0
    return row_of(out, i)


def settle_row(out, i, value):
    """Row ``i`` of ``out`` holds ``value`` afterwards: nothing to copy when the gradient was
    computed in the row itself, else :func:`put_row`."""
    row = out[i]
    if not (isinstance(value, np.ndarray) and isinstance(row, np.ndarray) and value.ctypes.data == row.ctypes.data
            and value.shape == row.shape and value.strides == row.strides):
        out[i] = value


@overload(row_of, jit_options=CACHED)
def _row_of_numba(out, i):
    return _returning("out, i", "out[i]" if out.ndim > 1 else "0.0", "a row for a gradient")


@overload(zeroed_row, jit_options=CACHED)
def _zeroed_row_numba(out, i):
    if out.ndim == 1:
        return _returning("out, i", "0.0", "a zeroed row for a gradient")
    return _returning("out, i", "row", "a zeroed row for a gradient", "    row = out[i]\n    row.fill(0.0)\n")


@overload(settle_row, jit_options=CACHED)
def _settle_row_numba(out, i, value):
    if isinstance(value, types.Array) and out.ndim == value.ndim + 1:
        body = ("    row = out[i]\n"
                "    if not (row.ctypes.data == value.ctypes.data and row.shape == value.shape\n"
                "            and row.strides == value.strides):\n"
                "        assign(row, value)\n")
        return _returning("out, i, value", "None", "a gradient's row settled", body)
    return _returning("out, i, value", "None", "a gradient's row settled", "    put_row(out, i, value)\n")


def put_row(out, i, value):
    """``out[i] = value``: a row of ``out`` from an array, or an element from a number.  Compiled, the
    row is copied by :func:`assign` (a loop nest): numba's slice assignment compiles a formatted
    shape-mismatch message, about 3 s in every new process."""
    out[i] = value


@overload(put_row)
def _put_row_numba(out, i, value):
    if isinstance(value, types.Array):
        return lambda out, i, value: assign(out[i], value)
    def element(out, i, value):
        out[i] = value
    return element


# --------------------------------------------------------------------------- broadcasting


def unbroadcast(g, x):
    """Sum ``g`` over the axes along which ``x`` was broadcast, giving ``x``'s shape."""
    if is_dual(g) or is_dual(x):
        return _unbroadcast_dual(g, x)
    if np.ndim(x) == 0:
        return np.sum(g)
    g = np.asarray(g)
    shape = np.shape(x)
    if g.shape == shape:
        return g
    if g.ndim == 0:
        return np.full(shape, g)
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra else g
    axes = tuple(d for d, n in enumerate(shape) if n == 1 and g.shape[d] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _unbroadcast_dual(g, x):
    """Unbroadcasting is linear: apply it to the value and to each direction of the tangents."""
    x_value = value_of(x)
    if not is_dual(g):
        return unbroadcast(g, x_value)
    value = unbroadcast(value_of(g), x_value)
    k = g.k
    t = tangents_of(g)
    directions = [unbroadcast(np.ascontiguousarray(t[..., j]), x_value) for j in range(k)]
    return make_dual(value, np.stack([np.asarray(d) for d in directions], axis=-1))


@overload(unbroadcast)
def _unbroadcast_numba(g, x):
    if isinstance(x, DualType):
        if isinstance(g, DualArrayType):
            return lambda g, x: np.sum(g)
        return lambda g, x: g
    if isinstance(x, DualArrayType):
        if isinstance(g, DualArrayType):
            def unbroadcast_duals(g, x):
                if g.shape == x.shape:
                    return g
                return make_dual(unbroadcast(g.value, x.value), unbroadcast(g.tangents, x.tangents), x.k)
            return unbroadcast_duals
        if isinstance(g, DualType):
            return lambda g, x: dual_zeros_like(x) + g
        return lambda g, x: unbroadcast(g, x.value)
    if isinstance(x, types.Number):
        if isinstance(g, (types.Array, DualArrayType)):
            return lambda g, x: np.sum(g)
        return lambda g, x: g
    if not isinstance(x, types.Array):
        raise NumbaTypingError("unbroadcast: cannot reduce a cotangent to a non-array")
    # A dual cotangent (vector mode) meeting a float array: reduce it as a dual shaped like x.
    if isinstance(g, DualType):
        k = g.k
        return lambda g, x: dual_zeros(x.shape, k) + g
    if isinstance(g, DualArrayType):
        k = g.k

        def unbroadcast_dual_cotangent(g, x):
            if g.shape == x.shape:
                return g
            return unbroadcast(g, dual_zeros(x.shape, k))
        return unbroadcast_dual_cotangent
    if isinstance(g, types.Number):
        return lambda g, x: np.full(x.shape, g)
    return None  # arrays: below


@overload(unbroadcast, jit_options=CACHED)
def _unbroadcast_arrays_numba(g, x):
    if isinstance(g, types.Array) and isinstance(x, types.Array) and g.ndim >= x.ndim:
        return _unbroadcast_loops(g.ndim, x.ndim)
    return None


@functools.cache
def _unbroadcast_loops(g_ndim: int, x_ndim: int):
    """``unbroadcast(g, x)`` of float arrays as one loop nest over ``g``, written out for these
    numbers of dimensions (no runtime index tuple) and cached on disk (cache_files.helper_function).
    Element ``g[i0, i1]`` goes to ``out[min(i0, s0 - 1), min(i1, s1 - 1)]``: its own index along an
    axis ``x`` has, 0 along an axis where ``x`` has length 1."""
    offset = g_ndim - x_ndim
    lines = ["def impl(g, x):"]
    if g_ndim == x_ndim:
        lines += ["    if g.shape == x.shape:", "        return g"]
    lines += ["    out = np.zeros(x.shape, g.dtype)", f"    {''.join(f'n{d}, ' for d in range(g_ndim))}= g.shape"]
    if x_ndim:
        lines.append(f"    {''.join(f's{d}, ' for d in range(x_ndim))}= x.shape")
        into, at = "out", ", ".join(f"min(i{d + offset}, s{d} - 1)" for d in range(x_ndim))
    else:  # a 0-d x: everything into its one element
        lines.append("    flat = out.reshape(1)")
        into, at = "flat", "0"
    add = f"{into}[{at}] += g[{', '.join(f'i{d}' for d in range(g_ndim))}]"
    lines += ["    " + line for line in loop_nest(g_ndim, [add])] + ["    return out"]
    return helper_function("\n".join(lines) + "\n", {}, f"unbroadcast {g_ndim}-d to {x_ndim}-d")


# --------------------------------------------------------------------------- reductions


def sum_adjoint(g, x, axis):
    """Spread the cotangent of ``sum(x, axis)`` back over ``x``'s shape.

    Under duals (a Hessian's reverse sweep, or a dual cotangent carrying k output directions)
    the value and each direction spread alike; only ``x``'s shape is read.
    """
    if is_dual(g) or is_dual(x):
        x_value = value_of(x)
        if not is_dual(g):  # a float cotangent of a dual array's sum
            return dual_zeros_like(x) + (np.full(np.shape(x_value), g) if axis is None else spread(g, x_value, axis))
        if axis is None or np.ndim(value_of(g)) == 0:  # one dual number, spread over all of x
            return dual_zeros(np.shape(x_value), g.k) + g
        axis = axis % np.ndim(x_value)
        tangents = np.broadcast_to(np.expand_dims(tangents_of(g), axis), np.shape(x_value) + (g.k,)).copy()
        return make_dual(spread(value_of(g), x_value, axis), tangents, g.k)
    if axis is None:
        return np.full(np.shape(x), g)
    return spread(g, x, axis)


@overload(sum_adjoint, jit_options=CACHED)  # every implementation is a helper module
def _sum_adjoint_numba(g, x, axis):
    no_axis = axis is None or isinstance(axis, (types.NoneType, types.Omitted))
    if isinstance(g, types.Array) and along_an_axis(x, axis):
        return spread_along(x.ndim)
    if isinstance(x, types.Number) and no_axis:  # np.sum of a number (a row's dot product, say)
        spread_g = "g"
    elif isinstance(x, DualArrayType) and no_axis:
        spread_g = "dual_zeros_like(x) + g"
    elif isinstance(g, DualType):  # a dual cotangent of a float sum (of all of x, or along a 1-D x's axis)
        spread_g = f"dual_zeros(x.shape, {g.k}) + g"
    elif isinstance(g, DualArrayType):
        spread_g = (f"make_dual(spread(g.value, value_of(x), axis), spread_directions(g.tangents, value_of(x), axis), "
                    f"{g.k})")
    elif isinstance(x, DualArrayType):  # a float cotangent of a dual array's sum along an axis
        spread_g = "dual_zeros_like(x) + spread(g, x.value, axis)"
    else:
        spread_g = "np.full(x.shape, g)" if no_axis else "spread(g, x, axis)"
    return _returning("g, x, axis", spread_g, "a sum's adjoint")


@register_jitable
def spread_directions(t, x, axis):
    """Tangents ``t`` (``g.shape + (k,)``) of a cotangent ``g``, spread like ``spread(g, x, axis)``."""
    ax = axis if axis >= 0 else axis + x.ndim
    out = np.empty(x.shape + (t.shape[-1],), t.dtype)
    for idx in np.ndindex(x.shape):
        out[idx] = t[drop_axis(idx, ax)]
    return out


def extremum_adjoint(g, ans, x, axis):
    """Cotangent of max/min: shared evenly among the elements that attain the extremum.

    Which elements attain it is read from the values (under duals too: it is piecewise constant).
    """
    return _shared_among_extrema(g, ans, x, axis)


@register_jitable
def _shared_among_extrema(g, ans, x, axis):
    hits = (value_of(x) == ans_full(value_of(ans), value_of(x), axis)) * 1.0
    return hits * sum_adjoint(g / reduce_sum(hits, axis), x, axis)


def _shares_along_an_axis(g, ans, x, axis) -> bool:
    return along_an_axis(x, axis) and x.ndim >= 2 and isinstance(g, types.Array) and isinstance(ans, types.Array)


@overload(extremum_adjoint, jit_options=CACHED)
def _extremum_adjoint_numba(g, ans, x, axis):
    # Along an axis of a float array, one loop nest: the five array expressions of the general
    # form take numba about two seconds to compile.
    return share_along(x.ndim) if _shares_along_an_axis(g, ans, x, axis) else None


@overload(extremum_adjoint)
def _extremum_adjoint_general(g, ans, x, axis):
    if _shares_along_an_axis(g, ans, x, axis):
        return None  # above
    return lambda g, ans, x, axis: _shared_among_extrema(g, ans, x, axis)


@register_jitable
def cumsum_adjoint(g, x):
    # .ravel() and .copy(), not np.ascontiguousarray, which makes a dual cotangent (reverse mode's
    # vector mode on target="python") an array of objects; the copy is contiguous, as numba's
    # reshape needs.
    flat = g.ravel()
    return np.cumsum(flat[::-1])[::-1].copy().reshape(x.shape)


# --------------------------------------------------------------------------- linear algebra


def dot_adjoint_a(g, a, b):
    """Cotangent of ``a`` in ``dot(a, b)`` / ``a @ b`` for 1-D and 2-D operands."""
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if a_nd == 0 or b_nd == 0:
        return unbroadcast(np.multiply(g, b), a)
    if a_nd == 1 and b_nd == 1:
        return g * b
    if a_nd == 2 and b_nd == 1:
        return np.outer(g, b)
    if a_nd == 1 and b_nd == 2:
        return np.dot(b, g)
    return np.dot(g, b.T)


def dot_adjoint_b(g, a, b):
    """Cotangent of ``b`` in ``dot(a, b)`` / ``a @ b`` for 1-D and 2-D operands."""
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if a_nd == 0 or b_nd == 0:
        return unbroadcast(np.multiply(g, a), b)
    if a_nd == 1 and b_nd == 1:
        return g * a
    if a_nd == 2 and b_nd == 1:
        return np.dot(a.T, g)
    if a_nd == 1 and b_nd == 2:
        return np.outer(a, g)
    return np.dot(a.T, g)


def outer_product(u, v):
    """``np.outer(u, v)`` of two vectors.  Compiled, a plain double loop: numba's ``np.outer`` took
    over a second to compile (the adjoint of every matrix-vector product calls it)."""
    return np.outer(u, v)


@overload(outer_product)
def _outer_product_numba(u, v):
    if not (isinstance(u, types.Array) and isinstance(v, types.Array) and u.ndim == v.ndim == 1):
        return None
    dtype = numpy_support.as_dtype(u.dtype if u.dtype == v.dtype else types.float64)

    def outer(u, v):
        out = np.empty((u.shape[0], v.shape[0]), dtype)
        for i in range(u.shape[0]):
            for j in range(v.shape[0]):
                out[i, j] = u[i] * v[j]
        return out
    return outer


def _dot_adjoint_overload(which):
    def typer(g, a, b):
        a_nd, b_nd = ndim_of(a), ndim_of(b)
        if any(isinstance(t, DualArrayType) for t in (g, a, b)):
            # Second derivatives: the same formulas on dual arrays (no contiguity copies needed).
            table = {
                "a": {(1, 1): lambda g, a, b: g * b, (2, 1): lambda g, a, b: np.outer(g, b),
                      (1, 2): lambda g, a, b: np.dot(b, g), (2, 2): lambda g, a, b: np.dot(g, b.T)},
                "b": {(1, 1): lambda g, a, b: g * a, (2, 1): lambda g, a, b: np.dot(a.T, g),
                      (1, 2): lambda g, a, b: np.outer(a, g), (2, 2): lambda g, a, b: np.dot(a.T, g)},
            }[which]
            if (a_nd, b_nd) not in table:
                raise NumbaTypingError(f"adflow: dot/matmul adjoint for {a_nd}-D and {b_nd}-D operands")
            return table[(a_nd, b_nd)]
        if which == "a":
            table = {
                (1, 1): lambda g, a, b: g * b,
                (2, 1): lambda g, a, b: outer_product(g, b),
                (1, 2): lambda g, a, b: np.dot(np.ascontiguousarray(b), g),
                (2, 2): lambda g, a, b: np.dot(g, np.ascontiguousarray(b.T)),
            }
        else:
            table = {
                (1, 1): lambda g, a, b: g * a,
                (2, 1): lambda g, a, b: np.dot(np.ascontiguousarray(a.T), g),
                (1, 2): lambda g, a, b: outer_product(a, g),
                (2, 2): lambda g, a, b: np.dot(np.ascontiguousarray(a.T), g),
            }
        if (a_nd, b_nd) not in table:
            raise NumbaTypingError(f"adflow: dot/matmul adjoint for {a_nd}-D and {b_nd}-D operands")
        if len({t.dtype for t in (g, a, b) if isinstance(t, types.Array)}) > 1:
            # float32 operands and a float64 cotangent: numba's np.dot takes one dtype
            return _in_float64(which, a_nd, b_nd, table[(a_nd, b_nd)])
        return table[(a_nd, b_nd)]
    return typer


_IN_FLOAT64: dict = {}


def _in_float64(which, a_nd, b_nd, formula):
    """``formula`` on float64 copies of its operands; made once per case (a jitable made at every
    typing would register, and compile, a new function each time)."""
    key = (which, a_nd, b_nd)
    if key not in _IN_FLOAT64:
        same = register_jitable(formula)
        _IN_FLOAT64[key] = lambda g, a, b: same(_float64(g), _float64(a), _float64(b))
    return _IN_FLOAT64[key]


def _float64(x):
    return np.asarray(x, np.float64)


@overload(_float64)
def _float64_numba(x):
    if isinstance(x, types.Array):
        return lambda x: x.astype(np.float64)
    return lambda x: np.float64(x)


overload(dot_adjoint_a)(_dot_adjoint_overload("a"))
overload(dot_adjoint_b)(_dot_adjoint_overload("b"))


def add_dot_adjoint_a(bar, g, a, b):
    """``bar += dot_adjoint_a(g, a, b)``, returning ``bar`` (reverse/adds_in_place.py): into an
    array in place, as ``+=`` adds.  Compiled, the product of a number and a vector (the adjoint
    of a dot product of two vectors, in a loop over rows) goes straight into ``bar``, no temporary."""
    bar += dot_adjoint_a(g, a, b)
    return bar


def add_dot_adjoint_b(bar, g, a, b):
    """``bar += dot_adjoint_b(g, a, b)``, returning ``bar``, as :func:`add_dot_adjoint_a`."""
    bar += dot_adjoint_b(g, a, b)
    return bar


def _add_dot_adjoint_overload(which):
    other = "b" if which == "a" else "a"

    def typer(bar, g, a, b):
        vectors = all(isinstance(t, types.Array) and t.ndim == 1 for t in (bar, a, b))
        if vectors and isinstance(g, types.Float):
            body = f"    for i in range(bar.shape[0]):\n        bar[i] += g * {other}[i]\n"
        else:
            body = f"    bar += dot_adjoint_{which}(g, a, b)\n"
        return _returning("bar, g, a, b", "bar", f"add a dot product's adjoint ({which})", body)
    return typer


overload(add_dot_adjoint_a, jit_options=CACHED)(_add_dot_adjoint_overload("a"))
overload(add_dot_adjoint_b, jit_options=CACHED)(_add_dot_adjoint_overload("b"))


def solve_adjoint_a(g, ans, a):
    """Cotangent of ``a`` in ``ans = solve(a, b)``: ``-solve(a.T, g) ans^T``."""
    b_bar = np.linalg.solve(a.T, g)
    if np.ndim(ans) == 1:
        return -np.outer(b_bar, ans)
    return -np.dot(b_bar, ans.T)


@overload(solve_adjoint_a)
def _solve_adjoint_a_numba(g, ans, a):
    if ans.ndim == 1:
        return lambda g, ans, a: -np.outer(np.linalg.solve(np.ascontiguousarray(a.T), g), ans)
    return lambda g, ans, a: -np.dot(np.linalg.solve(np.ascontiguousarray(a.T), g),
                                     np.ascontiguousarray(ans.T))


def zeros_like_float(x, like=None, shape=None):
    """A zero cotangent shaped like ``x``, in ``x``'s float type (float64 for integer input).

    ``like`` is the cotangent the reverse sweep was seeded with: when it is a dual carrying k
    cotangents (vector mode: k rows of a Jacobian in one sweep), the zeros are duals too.
    ``shape``, when given, replaces ``x``'s shape (``x`` gives the type: reverse/shape_tapes.py).
    """
    if shape is None or np.ndim(x) == 0:
        shape = np.shape(x)
    if is_dual(x):
        return dual_zeros(shape, x.k) if shape else dual_zeros_like(x)
    if like is not None and is_dual(like):
        return dual_zeros(shape, like.k) if shape else make_dual(0.0, np.zeros(like.k), like.k)
    if not shape:
        return 0.0
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return np.zeros(shape, dtype)


def _shape_given(shape) -> bool:
    return shape is not None and not isinstance(shape, (types.NoneType, types.Omitted))


@overload(zeros_like_float, jit_options=CACHED)
def _zeros_like_float_numba(x, like=None, shape=None):
    size = "shape" if _shape_given(shape) else "x.shape"
    if isinstance(x, DualType):
        zeros = "dual_zeros_like(x)"
    elif isinstance(x, DualArrayType):
        zeros = f"dual_zeros({size}, {x.k})"
    elif isinstance(like, (DualType, DualArrayType)):
        k = like.k
        zeros = f"make_dual(0.0, np.zeros({k}), {k})" if isinstance(x, types.Number) else f"dual_zeros({size}, {k})"
    elif isinstance(x, types.Number):
        zeros = "0.0"
    else:
        zeros = f"np.zeros({size}, x.dtype)" if isinstance(x.dtype, types.Float) else f"np.zeros({size}, np.float64)"
    return _returning("x, like=None, shape=None", zeros, "zeros like")


def empty_like_float(x, like=None, shape=None):
    """:func:`zeros_like_float` for a caller that writes every element before reading it
    (reverse/zero_in_loop.py): the same type and shape, its numbers not set.  Duals and numbers
    come as zeros, as there: leaving them unset would save next to nothing."""
    if is_dual(x) or (like is not None and is_dual(like)) or np.ndim(x) == 0:
        return zeros_like_float(x, like, shape)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return np.empty(np.shape(x) if shape is None else shape, dtype)


@overload(empty_like_float, jit_options=CACHED)
def _empty_like_float_numba(x, like=None, shape=None):
    size = "shape" if _shape_given(shape) else "x.shape"
    if isinstance(x, (DualType, DualArrayType, types.Number)) or isinstance(like, (DualType, DualArrayType)):
        empty = "zeros_like_float(x, like, shape)"
    else:
        empty = f"np.empty({size}, x.dtype)" if isinstance(x.dtype, types.Float) else f"np.empty({size}, np.float64)"
    return _returning("x, like=None, shape=None", empty, "empty like")


def add_cotangent(bar, v):
    """``bar + v``; an empty ``v`` (a probe run that only wants the value) adds nothing, and so does one
    of another shape than ``bar``, never broadcast: only a row of a batch whose output has another
    shape than the first row's gets one (the API checks a caller's cotangent), and the drivers that
    seed rows compare the output's shape and refuse."""
    if np.ndim(value_of(v)) and np.size(value_of(v)) == 0:
        return bar
    if np.shape(value_of(bar)) != np.shape(value_of(v)):
        return bar
    return bar + v


@overload(add_cotangent, jit_options=CACHED)
def _add_cotangent_numba(bar, v):
    if isinstance(v, (types.Array, DualArrayType)):
        # Every branch returns the type of bar + v: a float32 adjoint given a float64 cotangent
        # (a float32 array returned in a tuple) becomes float64, as it does on target="python".
        widened = None
        if isinstance(bar, types.Array) and isinstance(v, types.Array) and bar.dtype != v.dtype:
            widened = np.result_type(np.dtype(str(bar.dtype)), np.dtype(str(v.dtype)))

        # Dual arrays of unequal shapes would not broadcast: they would read past the smaller one.
        unchanged = "bar" if widened is None else f"bar.astype(np.{widened.name})"
        return _returning("bar, v", "bar + v", "add a cotangent",
                          "    if value_of(v).size == 0 or np.shape(value_of(bar)) != value_of(v).shape:\n"
                          f"        return {unchanged}\n")
    return _returning("bar, v", "bar + v", "add a cotangent")


# --------------------------------------------------------------------------- forward-mode drivers


def seed_directions(x, seeds, k):
    """``x`` as a dual whose k tangents are the columns of ``seeds`` (shape (x.size, k))."""
    if np.ndim(x) == 0:
        return seed(float(x), seeds[0], k)
    return seed(x, seeds.reshape(np.shape(x) + (k,)), k)


# The forward drivers' entry points are helper modules, cached on disk with what they call (the
# seeding of dual numbers, the tangents' rows): compiled once per machine, not once per process.
_SEED_NUMBER = "def impl(x, seeds, k):\n    return seed(x, np.ascontiguousarray(seeds[0]), k)\n"
_SEED_ARRAY = "def impl(x, seeds, k):\n    return seed(x, np.ascontiguousarray(seeds).reshape(x.shape + (k,)), k)\n"


def _seed_directions_numba(x, seeds, k):
    source = _SEED_NUMBER if isinstance(x, types.Number) else _SEED_ARRAY
    return helper_function(source, {"seed": seed}, "seed directions")


overload_cached_apart(functools.partial(overload, seed_directions), _seed_directions_numba)


def one_cotangent(g):
    """``g``, the cotangent of a derivative's call inside a differentiated function (adflow.grad(f)(y)).

    Its reverse mode pushes ``g`` forward through f's reverse sweep as one direction; a dual ``g``
    (vector mode: k rows of a Jacobian in one sweep) would be k + 1 of them, in a sweep built for
    one.  It is refused as numba refuses a type, on every target, so the Jacobian falls back to one
    sweep per row.
    """
    for part in g if isinstance(g, tuple) else (g,):
        if is_dual(part):
            raise NumbaTypingError("adflow: a derivative called inside the function takes one cotangent per sweep")
    return g


@overload(one_cotangent)
def _one_cotangent_numba(g):
    parts = g.types if isinstance(g, types.BaseTuple) else (g,)
    if any(isinstance(t, (DualType, DualArrayType)) for t in parts):
        return None  # numba: no implementation for these types (a TypingError)
    return lambda g: g


def output_tangents(y, k):
    """(value, tangents as an (outputs, k) array) of a result that may not depend on the inputs.

    A tuple result (nested or not) gives the tuple of its values and the rows of every part in order.
    """
    if isinstance(y, tuple):
        parts = [output_tangents(part, k) for part in y]
        return tuple(v for v, _ in parts), np.concatenate([t for _, t in parts])
    if is_dual(y):
        return value_of(y), np.asarray(tangents_of(y)).reshape(-1, k)
    return y, np.zeros((np.size(y), k))


def _tuple_output_tangents(n):
    # One line per part: numba unrolls a tuple of different types only in code written out for it.
    lines = ["def impl(y, k):"]
    lines += [f"    v{i}, t{i} = output_tangents(y[{i}], k)" for i in range(n)]
    values = "".join(f"v{i}, " for i in range(n))
    rows = "".join(f"t{i}, " for i in range(n))
    lines.append(f"    return ({values}), np.concatenate(({rows}))")
    return "\n".join(lines) + "\n"


_OUTPUT_TANGENTS = {
    "dual_array": "return y.value, np.ascontiguousarray(y.tangents).reshape(y.value.size, k)",
    "dual": "return y.value, tangents_of(y).reshape(1, k)",
    "array": "return y, np.zeros((y.size, k))",
    "number": "return y, np.zeros((1, k))",
}


def _output_tangents_numba(y, k):
    if isinstance(y, types.BaseTuple):
        source = _tuple_output_tangents(len(y))
    else:
        kind = ("dual_array" if isinstance(y, DualArrayType) else "dual" if isinstance(y, DualType)
                else "array" if isinstance(y, types.Array) else "number")
        source = f"def impl(y, k):\n    {_OUTPUT_TANGENTS[kind]}\n"
    return helper_function(source, {"output_tangents": output_tangents, "tangents_of": tangents_of},
                           "output tangents")


overload_cached_apart(functools.partial(overload, output_tangents), _output_tangents_numba)


# --------------------------------------------------------------------------- blocks of rows
# Products of a shared matrix with values that carry leading axes (rows, or directions and rows):
# the leading axes are flattened into one long matrix, so a block of rows costs a few large BLAS
# calls instead of one small call per row.  See adflow/rules/batching.py.
#
# Each call multiplies at most ONE_THREAD_PRODUCT = M*N*K: OpenBLAS runs such a product on the calling
# thread (its threshold is 4 * 65536), while a larger one wakes OpenBLAS's own threads, which inside
# adflow's threads over rows (pipeline/rows.py) oversubscribe the cores.  On 2 cores, a 16-128-8 network's row-wise Jacobian took
# 8.0 ms with 524288-sized products and 4.9 ms on one thread.
ONE_THREAD_PRODUCT = 262144


@register_jitable
def _rows_times(flat, m_by_n, out):
    """``out = flat @ m_by_n`` in slices of rows small enough for OpenBLAS to stay on this thread."""
    n, m = m_by_n.shape
    step = max(1, ONE_THREAD_PRODUCT // max(1, n * m))
    for start in range(0, flat.shape[0], step):
        stop = min(start + step, flat.shape[0])
        np.dot(flat[start:stop], m_by_n, out[start:stop])
    return out


@register_jitable
def lead_matmul_left(a, b):
    """``a @ b[i]`` for every leading index ``i`` of ``b`` (``a`` a matrix, ``b[i]`` a vector)."""
    n = b.shape[-1]
    flat = np.ascontiguousarray(b).reshape((b.size // n, n))
    out = _rows_times(flat, a.T, np.empty((flat.shape[0], a.shape[0])))
    return out.reshape(b.shape[:-1] + (a.shape[0],))


@register_jitable
def lead_matmul_right(a, b):
    """``a[i] @ b`` for every leading index ``i`` of ``a`` (``b`` a vector or a matrix)."""
    n = a.shape[-1]
    flat = np.ascontiguousarray(a).reshape((a.size // n, n))
    matrix = np.ascontiguousarray(b).reshape((n, b.size // n))
    out = _rows_times(flat, matrix, np.empty((flat.shape[0], matrix.shape[1])))
    return out.reshape(a.shape[:-1] + b.shape[1:])


@register_jitable
def lead_sum(x):
    """The sum of ``x[i]`` (a vector) for every leading index ``i``."""
    n = x.shape[-1]
    return np.ascontiguousarray(x).reshape((x.size // n, n)).sum(axis=1).reshape(x.shape[:-1])


_HELPER_NAMES.update(_resized=_resized, _length=_length, assign=assign, dual_zeros=dual_zeros,
                     dual_zeros_like=dual_zeros_like, make_dual=make_dual, value_of=value_of,
                     zeros_like_float=zeros_like_float, spread=spread,
                     dot_adjoint_a=dot_adjoint_a, dot_adjoint_b=dot_adjoint_b, put_row=put_row, spread_directions=spread_directions)

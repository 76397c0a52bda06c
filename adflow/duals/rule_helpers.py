"""Helpers the rule formulas call by name, for both modes: reductions, shapes, matrix products.

The rules are strings such as ``"reduce_sum(x_dot, axis)"`` (tangent rules, compiled by
:mod:`adflow.duals.formulas`) or ``"extremum_adjoint(g, ans, x, axis)"`` (adjoint rules, in the
generated code, which reaches these through :mod:`adflow.runtime`); each helper here is written
once, for plain Python (the function) and for numba (its ``@overload`` or ``register_jitable``).

They are written with NumPy calls that dual numbers also implement, so the reverse sweep of a
Hessian can call them on duals; nothing here names the dual types (the duals are built on the
formulas that call these helpers).  In numba, ``axis`` is ``None`` or an integer.
"""
from __future__ import annotations

import functools

import numpy as np
from numba.core import errors, types
from numba.extending import overload, register_jitable

from ..backends.cache_files import CACHED, overload_cached_apart
from .numba_numpy import along_an_axis, pick_along, prod_tangent_along, spread_along


def _is_none(ty) -> bool:
    return ty is None or isinstance(ty, (types.NoneType, types.Omitted))


def reduce_sum(x, axis=None):
    """Sum of ``x`` over ``axis`` (all axes when ``None``)."""
    # np.sum(x) without axis=: a dual's np.sum takes no axis keyword for a whole reduction.
    return np.sum(x) if axis is None else np.sum(x, axis=axis)


def reduced_count(x, axis=None):
    """How many elements of ``x`` each reduced element summarises (``x.size`` for ``axis=None``)."""
    shape = np.shape(x)
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes]))


def ans_full(ans, x, axis=None):
    """A reduction's result ``ans`` spread back over the shape of its argument ``x``."""
    if axis is None:
        return np.zeros(np.shape(x)) + ans
    return spread(ans, x, axis)


def extremum_tangent(x_dot, ans, x, axis=None):
    """Tangent of ``max``/``min``: the mean tangent of the elements that attain the extremum.

    Splitting evenly between ties matches the ``maximum``/``minimum`` partials in
    :mod:`adflow.rules.partials`.
    """
    hits = np.asarray(x == ans_full(ans, x, axis), dtype=np.float64)
    return reduce_sum(x_dot * hits, axis) / reduce_sum(hits, axis)


def prod_tangent(x_dot, ans, x, axis=None):
    """Tangent of ``prod``: the sum of ``x_dot * ans / x`` (``ans`` spread back over ``x``)."""
    return reduce_sum(x_dot * ans_full(ans, x, axis) / x, axis)


def size_of(x):
    """How many numbers ``x`` holds (1 for a number)."""
    return int(np.size(x))


def reshape_like(x, like):
    """``x`` reshaped to the shape of ``like`` (a tangent like the result, a cotangent like the argument)."""
    return np.reshape(x, np.shape(like))


def spread(g, x, axis):
    """``g`` (a reduction's result, or its cotangent) broadcast back along ``axis`` to ``x``'s shape, as a new array."""
    return np.broadcast_to(np.expand_dims(g, axis), np.shape(x)).copy()


# ----------------------------------------------------------------------------------- numba side


@overload(reduce_sum)
def _reduce_sum_numba(x, axis=None):
    if _is_none(axis):
        return lambda x, axis=None: np.sum(x)
    if isinstance(axis, types.Integer):
        return lambda x, axis=None: np.sum(x, axis=axis)
    raise errors.TypingError("adflow: reduce_sum in numba takes axis=None or an integer axis")


@overload(reduced_count)
def _reduced_count_numba(x, axis=None):
    if _is_none(axis):
        return lambda x, axis=None: x.size
    if isinstance(axis, types.Integer):
        return lambda x, axis=None: x.shape[axis]
    raise errors.TypingError("adflow: reduced_count in numba takes axis=None or an integer axis")


@overload(spread)
def _spread_numba(g, x, axis):
    if not isinstance(axis, types.Integer):
        raise errors.TypingError("adflow: spreading along an axis in numba takes an integer axis")
    if isinstance(g, types.Number):  # a 1-D x reduced along its axis
        return lambda g, x, axis: np.full(x.shape, g)
    return None  # an array: below


@overload(spread, jit_options=CACHED)
def _spread_array_numba(g, x, axis):
    return spread_along(x.ndim) if isinstance(g, types.Array) and along_an_axis(x, axis) else None


def drop_axis(idx, ax):  # pragma: no cover - only compiled
    """The index ``idx`` without its entry ``ax`` (numba only: tuples of up to 3 entries)."""
    raise NotImplementedError


@overload(drop_axis)
def _drop_numba(idx, ax):
    n = len(idx)
    if n == 1:
        return lambda idx, ax: ()
    if n == 2:
        return lambda idx, ax: (idx[1],) if ax == 0 else (idx[0],)
    if n == 3:
        def impl3(idx, ax):
            if ax == 0:
                return (idx[1], idx[2])
            if ax == 1:
                return (idx[0], idx[2])
            return (idx[0], idx[1])
        return impl3
    raise errors.TypingError("adflow: reductions with axis support arrays of up to 3 dimensions")


@overload(ans_full)
def _ans_full_numba(ans, x, axis=None):
    if _is_none(axis):
        return lambda ans, x, axis=None: np.zeros(x.shape) + ans
    return lambda ans, x, axis=None: spread(ans, x, axis)


def _arrays_along_an_axis(x_dot, ans, x, axis) -> bool:
    # A reduction of a float array of 2 or more dimensions along an integer axis, its tangent (one
    # direction) and result plain arrays: written out as a loop nest, cached on disk.
    return (along_an_axis(x, axis) and x.ndim >= 2 and isinstance(x_dot, types.Array)
            and isinstance(ans, types.Array))


@register_jitable
def _extremum_tangent_along(x_dot, ans, x, axis):
    hits = (x == ans_full(ans, x, axis)) * 1.0
    return reduce_sum(x_dot * hits, axis) / reduce_sum(hits, axis)


def _extremum_tangent_numba(x_dot, ans, x, axis=None):
    if _is_none(axis):

        def whole(x_dot, ans, x, axis=None):  # one pass, no temporaries
            total = 0.0
            hits = 0
            for idx in np.ndindex(x.shape):
                if x[idx] == ans:
                    total += x_dot[idx]
                    hits += 1
            return total / hits

        return whole
    if _arrays_along_an_axis(x_dot, ans, x, axis):
        return pick_along(x.ndim)  # a loop nest, cached on disk
    return lambda x_dot, ans, x, axis=None: _extremum_tangent_along(x_dot, ans, x, axis)


@register_jitable
def _prod_tangent_whole(x_dot, ans, x, axis=None):
    return reduce_sum(x_dot * ans_full(ans, x, axis) / x, axis)


def _prod_tangent_numba(x_dot, ans, x, axis=None):
    if _arrays_along_an_axis(x_dot, ans, x, axis):
        return prod_tangent_along(x.ndim)  # a loop nest, cached on disk
    return lambda x_dot, ans, x, axis=None: _prod_tangent_whole(x_dot, ans, x, axis)


# Both register their loop nests with numba's disk cache and their lambdas without.
overload_cached_apart(functools.partial(overload, extremum_tangent), _extremum_tangent_numba)
overload_cached_apart(functools.partial(overload, prod_tangent), _prod_tangent_numba)


@overload(size_of)
def _size_of_numba(x):
    if getattr(x, "ndim", 0) == 0:  # a number, or a dual number
        return lambda x: 1
    return lambda x: x.size


@overload(reshape_like)
def _reshape_like_numba(x, like):
    if isinstance(like, types.Number):  # a 0-d result is a number
        if isinstance(x, types.Number):
            return lambda x, like: x
        return lambda x, like: np.ascontiguousarray(x).reshape(())[()]
    if getattr(like, "ndim", 0) == 0 and not isinstance(like, types.Array):  # a dual number: the one element
        if getattr(x, "ndim", 0) == 0 and not isinstance(x, types.Array):
            return lambda x, like: x
        return lambda x, like: x.ravel()[0]
    if isinstance(x, types.Number):  # one element (np.atleast_1d of a number), as an array of one element
        return lambda x, like: np.full(like.shape, x)
    if isinstance(x, types.Array) and isinstance(like, types.Array):
        return lambda x, like: np.ascontiguousarray(x).reshape(np.shape(like))
    if isinstance(x, types.Array):  # like a dual array (Hessians): it has .shape, not np.shape
        return lambda x, like: np.ascontiguousarray(x).reshape(like.shape)
    return lambda x, like: x.reshape(like.shape)  # a dual array has its own reshape, not np.ascontiguousarray


# Chunk helpers: the tangent carries a trailing axis of k directions (1-D or 2-D operands).
#
# A forward Jacobian seeds unit vectors, and elementwise steps only rescale them, so the tangents
# of the input (and of tanh(x), x * c...) are nonzero in at most one element per direction.  A
# matrix product with such tangents is a gather of k scaled columns (or rows) of the other
# operand: m*k multiplications instead of a BLAS product of m*n*k.  Both helpers look for that
# structure first (a scan that stops at the first direction with two nonzeros) and otherwise
# multiply.  The gather writes exact zeros where the product would add 0 * a[i, r] terms.


def unit_directions(t_dot):
    """``(positions, scales)`` when each direction (trailing axis) of ``t_dot`` is nonzero in at most
    one element (flat position, or -1 for an all-zero direction), else ``None``."""
    flat = np.reshape(t_dot, (-1, np.shape(t_dot)[-1]))
    nonzero = flat != 0
    if (nonzero.sum(axis=0) > 1).any():
        return None
    positions = np.where(nonzero.any(axis=0), nonzero.argmax(axis=0), -1)
    scales = np.where(positions >= 0, flat[np.maximum(positions, 0), np.arange(flat.shape[1])], 0.0)
    return positions, scales


def _as_matrix(a, vector_is_row):
    # A 1-D operand as a 1-row (or 1-column) matrix, so one gather serves every combination.
    if np.ndim(a) == 2:
        return a
    return np.reshape(a, (1, -1)) if vector_is_row else np.reshape(a, (-1, 1))


def chunk_matmul_right(a, b_dot):
    """``a @ b_dot[..., j]`` for every direction j, stacked on a trailing axis."""
    unit = unit_directions(b_dot)
    if unit is None:
        return np.tensordot(a, b_dot, axes=(np.ndim(a) - 1, 0))
    a2 = _as_matrix(a, vector_is_row=True)                 # (m, n)
    p = 1 if np.ndim(b_dot) == 2 else np.shape(b_dot)[1]   # b is (n,) or (n, p)
    out = np.zeros((a2.shape[0], p, np.shape(b_dot)[-1]))
    for j, (position, scale) in enumerate(zip(*unit)):
        if position >= 0:
            r, c = divmod(position, p)
            out[:, c, j] = a2[:, r] * scale
    return np.reshape(out, np.shape(a)[:-1] + np.shape(b_dot)[1:])


def chunk_matmul_left(a_dot, b):
    """``a_dot[..., j] @ b`` for every direction j, stacked on a trailing axis."""
    unit = unit_directions(a_dot)
    if unit is None:
        contracted = np.tensordot(a_dot, b, axes=(np.ndim(a_dot) - 2, 0))
        return np.moveaxis(contracted, np.ndim(a_dot) - 2, -1)
    b2 = _as_matrix(b, vector_is_row=False)                # (n, p)
    n = b2.shape[0]
    m = 1 if np.ndim(a_dot) == 2 else np.shape(a_dot)[0]   # a is (n,) or (m, n)
    out = np.zeros((m, b2.shape[1], np.shape(a_dot)[-1]))
    for j, (position, scale) in enumerate(zip(*unit)):
        if position >= 0:
            i, r = divmod(position, n)
            out[i, :, j] = scale * b2[r, :]
    return np.reshape(out, np.shape(a_dot)[:-2] + np.shape(b)[1:] + np.shape(a_dot)[-1:])


# The chunk helpers in numba.


@register_jitable
def _unit_directions(flat):
    """Numba form of :func:`unit_directions` for a contiguous (elements, k) array: (found, positions, scales)."""
    k = flat.shape[1]
    positions = np.full(k, -1, np.int64)
    scales = np.zeros(k)
    for j in range(k):
        for f in range(flat.shape[0]):
            v = flat[f, j]
            if v != 0.0:
                if positions[j] >= 0:
                    return False, positions, scales
                positions[j] = f
                scales[j] = v
    return True, positions, scales


def matrix_entry(a, i, r):
    """``a[i, r]``, or ``a[r]`` for a 1-D ``a`` (a vector is one row, or one column, of a matrix)."""
    return a[i, r] if np.ndim(a) == 2 else a[r]


@overload(matrix_entry)
def _matrix_entry_numba(a, i, r):
    if a.ndim == 2:
        return lambda a, i, r: a[i, r]
    return lambda a, i, r: a[r]


@register_jitable
def _consecutive_run(positions):
    """kk when directions 0..kk-1 sit at consecutive positions and the rest are all zero, else -1.

    That is how forward-Jacobian seeds look (pass p seeds inputs p*k, p*k+1, ...), and it turns the
    gather below into contiguous slices, which vectorise."""
    kk = 0
    while kk < positions.shape[0] and positions[kk] >= 0:
        if positions[kk] != positions[0] + kk:
            return -1
        kk += 1
    for j in range(kk, positions.shape[0]):
        if positions[j] >= 0:
            return -1
    return kk


def matrix_row(a, i):
    """``a[i]``, or ``a`` itself for a 1-D ``a`` (a vector is a one-row matrix)."""
    return a[i] if np.ndim(a) == 2 else a


@overload(matrix_row)
def _matrix_row_numba(a, i):
    if a.ndim == 2:
        return lambda a, i: a[i]
    return lambda a, i: a


@register_jitable
def _gather_right(a, t, positions, scales):
    # out[i, c, j] = a[i, r] * scale_j, where direction j of b is nonzero only at b[r, c].
    n, k = t.shape[0], t.shape[-1]
    p = t.size // (n * k)           # 1 when b is a vector
    m = a.size // a.shape[-1]       # 1 when a is a vector
    run = _consecutive_run(positions) if p == 1 else -1
    if run > 0:                     # a[i, r0:r0 + run] scaled: contiguous
        out = np.empty((m, p, k))
        flat = out.reshape((m, k))
        r0 = positions[0]
        for i in range(m):
            a_i = matrix_row(a, i)[r0:r0 + run]
            for j in range(run):
                flat[i, j] = a_i[j] * scales[j]
            for j in range(run, k):
                flat[i, j] = 0.0
        return out
    out = np.zeros((m, p, k))
    flat = out.reshape((m, p * k))
    for j in range(k):
        if positions[j] >= 0:
            r, c = divmod(positions[j], p)
            for i in range(m):
                flat[i, c * k + j] = matrix_entry(a, i, r) * scales[j]
    return out


@register_jitable
def _gather_left(t, b, positions, scales):
    # out[i, c, j] = scale_j * b[r, c], where direction j of a is nonzero only at a[i, r].
    n, k = b.shape[0], t.shape[-1]
    p = b.size // n                 # 1 when b is a vector
    m = t.size // (n * k)           # 1 when a is a vector
    out = np.zeros((m, p, k))
    for j in range(k):
        if positions[j] >= 0:
            i, r = divmod(positions[j], n)
            for c in range(p):
                out[i, c, j] = scales[j] * matrix_entry(b.T, c, r)   # b[r, c], or b[r]
    return out


@overload(chunk_matmul_right)
def _chunk_matmul_right_numba(a, b_dot):
    if a.ndim not in (1, 2) or b_dot.ndim not in (2, 3):
        raise errors.TypingError("adflow: matrix products of dual arrays take 1-D or 2-D operands")
    a_rows = a.ndim == 2
    gather = _gather_right
    if b_dot.ndim == 2:                       # b is a vector: the directions form a matrix

        def vector_directions(a, b_dot):
            t = np.ascontiguousarray(b_dot)
            unit, positions, scales = _unit_directions(t)
            if not unit:
                return np.dot(a, t)
            out = gather(a, t, positions, scales)
            return out.reshape(out.shape[0], t.shape[1]) if a_rows else out.reshape(t.shape[1])

        return vector_directions

    def matrix_directions(a, b_dot):          # (n, p, k): flatten p and k into columns
        n, p, k = b_dot.shape
        t = np.ascontiguousarray(b_dot)
        unit, positions, scales = _unit_directions(t.reshape((n * p, k)))
        if unit:
            out = gather(a, t, positions, scales)
            return out if a_rows else out.reshape((p, k))
        product = np.dot(a, t.reshape((n, p * k)))
        return product.reshape((a.shape[0], p, k)) if a_rows else product.reshape((p, k))

    return matrix_directions


@overload(chunk_matmul_left)
def _chunk_matmul_left_numba(a_dot, b):
    if a_dot.ndim not in (2, 3) or b.ndim not in (1, 2):
        raise errors.TypingError("adflow: matrix products of dual arrays take 1-D or 2-D operands")
    b_columns = b.ndim == 2
    gather = _gather_left
    if a_dot.ndim == 2:                       # a is a vector: sum over its axis, k stays last

        def vector_directions(a_dot, b):
            t = np.ascontiguousarray(a_dot)
            unit, positions, scales = _unit_directions(t)
            if unit:
                out = gather(t, b, positions, scales)
                return out.reshape(out.shape[1], t.shape[1]) if b_columns else out.reshape(t.shape[1])
            if b_columns:
                return np.dot(np.ascontiguousarray(b.T), t)
            return np.dot(b, t)

        return vector_directions

    def matrix_directions(a_dot, b):          # (m, n, k) @ (n,) or (n, p): one small product per row
        m, n, k = a_dot.shape
        t = np.ascontiguousarray(a_dot)
        unit, positions, scales = _unit_directions(t.reshape((m * n, k)))
        if unit:
            out = gather(t, b, positions, scales)
            return out if b_columns else out.reshape((m, k))
        if b_columns:
            bt = np.ascontiguousarray(b.T)
            out = np.empty((m, b.shape[1], k))
            for i in range(m):
                out[i] = np.dot(bt, t[i])
            return out
        out = np.empty((m, k))
        for i in range(m):
            out[i] = np.dot(b, t[i])
        return out

    return matrix_directions

"""Helper functions that the tangent rules in :mod:`adflow.rules.tangents` call by name.

The rules are strings such as ``"reduce_sum(x_dot, axis)"``; these helpers give those names a
meaning, once for plain Python (the functions below) and once for numba (their ``@overload``).
Each helper works on one tangent direction, shaped like the primal argument.

In numba only ``axis=None`` is supported (numba's own ``np.sum`` is the exception: it also takes
an integer axis), because numba's ``np.mean``/``np.max``... accept no ``axis``.
"""
from __future__ import annotations

import numpy as np
from numba.core import errors, types
from numba.extending import overload


def _is_none(ty) -> bool:
    return ty is None or isinstance(ty, (types.NoneType, types.Omitted))


def reduce_sum(x_dot, axis=None):
    """Sum of a tangent over ``axis`` (all axes when ``None``)."""
    return np.sum(x_dot, axis=axis)


def reduced_count(x, axis=None):
    """How many elements of ``x`` each reduced element summarises (``x.size`` for ``axis=None``)."""
    shape = np.shape(x)
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes]))


def ans_full(ans, x, axis=None):
    """A reduction's result broadcast back to the shape of its argument ``x``."""
    if axis is None:
        return np.broadcast_to(ans, np.shape(x))
    return np.broadcast_to(np.expand_dims(ans, axis), np.shape(x))


def extremum_tangent(x_dot, ans, x, axis=None):
    """Tangent of ``max``/``min``: the mean tangent of the elements that attain the extremum.

    Splitting evenly between ties matches the ``maximum``/``minimum`` partials in
    :mod:`adflow.rules.partials`.
    """
    hits = np.asarray(x == ans_full(ans, x, axis), dtype=np.float64)
    return np.sum(x_dot * hits, axis=axis) / np.sum(hits, axis=axis)


def reshape_like(x_dot, ans):
    """A tangent reshaped to the shape of the result ``ans``."""
    return np.reshape(x_dot, np.shape(ans))


# Chunk helpers: the tangent carries a trailing axis of k directions (1-D or 2-D operands).


def chunk_matmul_right(a, b_dot):
    """``a @ b_dot[..., j]`` for every direction j, stacked on a trailing axis."""
    return np.tensordot(a, b_dot, axes=(np.ndim(a) - 1, 0))


def chunk_matmul_left(a_dot, b):
    """``a_dot[..., j] @ b`` for every direction j, stacked on a trailing axis."""
    contracted = np.tensordot(a_dot, b, axes=(np.ndim(a_dot) - 2, 0))
    return np.moveaxis(contracted, np.ndim(a_dot) - 2, -1)


# ----------------------------------------------------------------------------------- numba side


@overload(reduce_sum)
def _reduce_sum_numba(x_dot, axis=None):
    if _is_none(axis):
        return lambda x_dot, axis=None: np.sum(x_dot)
    if isinstance(axis, types.Integer):
        return lambda x_dot, axis=None: np.sum(x_dot, axis)
    raise errors.TypingError("adflow: reduce_sum in numba takes axis=None or an integer axis")


@overload(reduced_count)
def _reduced_count_numba(x, axis=None):
    if _is_none(axis):
        return lambda x, axis=None: x.size
    if isinstance(axis, types.Integer):
        return lambda x, axis=None: x.shape[axis]
    raise errors.TypingError("adflow: reduced_count in numba takes axis=None or an integer axis")


@overload(ans_full)
def _ans_full_numba(ans, x, axis=None):
    if _is_none(axis):
        return lambda ans, x, axis=None: np.full(x.shape, ans)
    raise errors.TypingError("adflow: ans_full in numba supports axis=None only")


@overload(extremum_tangent)
def _extremum_tangent_numba(x_dot, ans, x, axis=None):
    if _is_none(axis):

        def impl(x_dot, ans, x, axis=None):
            total = 0.0
            hits = 0
            for idx in np.ndindex(x.shape):
                if x[idx] == ans:
                    total += x_dot[idx]
                    hits += 1
            return total / hits

        return impl
    raise errors.TypingError("adflow: max/min of a dual array in numba supports axis=None only")


@overload(reshape_like)
def _reshape_like_numba(x_dot, ans):
    if isinstance(ans, types.Array):
        return lambda x_dot, ans: np.ascontiguousarray(x_dot).reshape(ans.shape)
    return lambda x_dot, ans: np.ascontiguousarray(x_dot).reshape(())[()]


@overload(chunk_matmul_right)
def _chunk_matmul_right_numba(a, b_dot):
    if a.ndim not in (1, 2) or b_dot.ndim not in (2, 3):
        raise errors.TypingError("adflow: matrix products of dual arrays take 1-D or 2-D operands")
    if b_dot.ndim == 2:                       # b is a vector: the directions form a matrix
        return lambda a, b_dot: np.dot(a, np.ascontiguousarray(b_dot))
    if a.ndim == 1:                           # (n,) @ (n, p, k): flatten p and k into columns

        def vector_matrix(a, b_dot):
            n, p, k = b_dot.shape
            return np.dot(a, np.ascontiguousarray(b_dot).reshape((n, p * k))).reshape((p, k))

        return vector_matrix

    def matrix_matrix(a, b_dot):
        n, p, k = b_dot.shape
        return np.dot(a, np.ascontiguousarray(b_dot).reshape((n, p * k))).reshape((a.shape[0], p, k))

    return matrix_matrix


@overload(chunk_matmul_left)
def _chunk_matmul_left_numba(a_dot, b):
    if a_dot.ndim not in (2, 3) or b.ndim not in (1, 2):
        raise errors.TypingError("adflow: matrix products of dual arrays take 1-D or 2-D operands")
    if a_dot.ndim == 2:                       # a is a vector: sum over its axis, k stays last
        if b.ndim == 1:
            return lambda a_dot, b: np.dot(b, np.ascontiguousarray(a_dot))
        return lambda a_dot, b: np.dot(np.ascontiguousarray(b.T), np.ascontiguousarray(a_dot))

    if b.ndim == 1:

        def rows_vector(a_dot, b):            # (m, n, k) @ (n,): one small product per row
            m, n, k = a_dot.shape
            out = np.empty((m, k))
            for i in range(m):
                out[i] = np.dot(b, np.ascontiguousarray(a_dot[i]))
            return out

        return rows_vector

    def rows(a_dot, b):                       # (m, n, k) @ (n, p)
        m, n, k = a_dot.shape
        bt = np.ascontiguousarray(b.T)
        out = np.empty((m, b.shape[1], k))
        for i in range(m):
            out[i] = np.dot(bt, np.ascontiguousarray(a_dot[i]))
        return out

    return rows

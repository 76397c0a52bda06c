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

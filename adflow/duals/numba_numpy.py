"""NumPy calls numba's NumPy lacks, implemented for plain arrays and numbers.

adflow differentiates what numba compiles, and numba (0.60 and later) implements ``np.max``,
``np.min``, ``np.mean`` and ``np.prod`` without ``axis=``, and ``np.atleast_1d/2d/3d`` for arrays
only.  These overloads fill the gaps, so that::

    m = np.max(X, axis=0)      s = np.mean(X, axis=1)      v = np.atleast_1d(x[0])

compile in the user's function, in its helpers, and in generated code; the dual arrays'
versions (:mod:`adflow.duals.numba_arrays`) reduce their values with them.  Each overload answers
only the argument types numba's own implementation refuses (an integer axis, a number), so
code numba compiled before compiles as before.  An axis is an integer (a reduction of a 1-D array
gives a number, as in NumPy); arrays of up to 3 dimensions, as the adjoint rules take.

The array methods (``X.max(axis=0)``) stay as numba has them, without ``axis=``: numba types a
method through its own implementation's signature, which another overload cannot extend.
"""
from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import overload, register_jitable

from .rule_helpers import drop_axis


def _along_axis(whole, fold):
    """A typer for ``f(a, axis)``: ``fold(a, axis)`` for a float array and an integer axis, else no match."""
    def typer(a, axis=None):
        if not (isinstance(a, types.Array) and isinstance(a.dtype, types.Float)
                and isinstance(axis, types.Integer) and 1 <= a.ndim <= 3):
            return None
        if a.ndim == 1:
            return lambda a, axis=None: whole(a)
        nd = a.ndim
        return lambda a, axis=None: fold(a, axis if axis >= 0 else axis + nd)
    return typer


@register_jitable
def _mean_along(a, ax):
    return np.sum(a, axis=ax) / a.shape[ax]


@register_jitable
def _prod_along(a, ax):
    out = np.ones(drop_axis(a.shape, ax), a.dtype)
    for idx in np.ndindex(a.shape):
        out[drop_axis(idx, ax)] *= a[idx]
    return out


@register_jitable
def _extremum_along(a, ax, largest):
    out = np.empty(drop_axis(a.shape, ax), a.dtype)
    for idx in np.ndindex(a.shape):
        at, v = drop_axis(idx, ax), a[idx]
        if idx[ax] == 0 or (v > out[at] if largest else v < out[at]) or np.isnan(v):  # a NaN wins, as in np.max
            out[at] = v
    return out


@register_jitable
def _max_along(a, ax):
    return _extremum_along(a, ax, True)


@register_jitable
def _min_along(a, ax):
    return _extremum_along(a, ax, False)


_REDUCTIONS = {
    "mean": (np.mean, _mean_along),
    "prod": (np.prod, _prod_along),
    "max": (np.max, _max_along),
    "amax": (np.amax, _max_along),
    "min": (np.min, _min_along),
    "amin": (np.amin, _min_along),
}


def _at_least(ndim):
    """A typer for ``np.atleast_<ndim>d(x)`` of a number: an array of shape ``(1,) * ndim``."""
    shape = (1,) * ndim

    def typer(x):
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return lambda x: np.full(shape, x)
        return None
    return typer


def register_all() -> None:
    done = []
    for method, (function, fold) in _REDUCTIONS.items():
        typer = _along_axis(function, fold)
        if all(function is not seen for seen in done):  # np.amax is np.max in NumPy 2
            overload(function)(typer)
            done.append(function)
    for ndim, function in ((1, np.atleast_1d), (2, np.atleast_2d), (3, np.atleast_3d)):
        overload(function)(_at_least(ndim))


register_all()

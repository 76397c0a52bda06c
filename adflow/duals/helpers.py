"""Public helpers to make, inspect and allocate duals, in plain Python.

Each of these also works inside numba-jitted code (see :mod:`adflow.duals.numba_helpers` for
the jitted versions and their limits: where numba must know ``k`` at compile time and cannot read
it from a type, it has to be passed as a constant).

Returned Python types:

=====================================  ============================================================
``seed(x, d)``, ``make_dual(v, t)``    :class:`Dual` if ``x``/``v`` is a number, else :class:`DualArray`
``value_of(d)``                        ``float`` for a :class:`Dual`, ``ndarray`` for a :class:`DualArray`
``tangents_of(d)``                     ``ndarray`` of shape ``value.shape + (k,)`` (``(k,)`` for a Dual)
``dual_zeros(shape, k)`` and friends   :class:`DualArray` (``dual_zeros_like`` of a Dual: a Dual)
=====================================  ============================================================
"""
from __future__ import annotations

import numpy as np

from adflow.errors import ShapeError
from adflow.rules.primitives import primitive_of_object

from .dual import Dual, DualArray, is_dual, tangents_of, value_of
from .index_sets import as_tangents, zero_tangents

__all__ = [
    "seed", "make_dual", "value_of", "tangents_of", "is_dual",
    "dual_zeros", "dual_empty", "dual_zeros_like", "dual_empty_like",
]


def _check_k(tangents: np.ndarray, k: int | None) -> None:
    if k is not None and tangents.shape[-1] != k:
        raise ShapeError(f"tangents carry {tangents.shape[-1]} directions, not k={k}")


def seed(x, directions, k: int | None = None):
    """A dual with value ``x`` whose tangents are ``directions`` (shape ``x.shape + (k,)``).

    Both are copied.  For a scalar ``x``, ``directions`` may be a number (``k = 1``), a sequence
    of ``k`` numbers or a 1-D array.  ``k`` is optional in Python (it is checked if given); in
    numba it is needed when ``directions`` is an array.

    >>> import numpy as np
    >>> seed(1.5, 1.0)
    Dual(1.5, tangents=[1.0])
    >>> d = seed(np.array([1.0, 2.0]), np.eye(2))   # the identity: both partial derivatives
    >>> d.tangents.shape
    (2, 2)
    """
    if np.ndim(x) == 0:
        tangents = as_tangents(np.array(directions)).reshape(-1)
        _check_k(tangents, k)
        return Dual(float(x), tangents)
    value = np.array(x, dtype=np.float64)
    tangents = as_tangents(np.array(directions))
    if tangents.shape[:-1] != value.shape or tangents.ndim != value.ndim + 1:
        raise ShapeError(f"directions must have shape {value.shape} + (k,), not {tangents.shape}")
    _check_k(tangents, k)
    return DualArray(value, tangents)


def make_dual(value, tangents, k: int | None = None):
    """Wrap a value and its tangents (``value.shape + (k,)``) into a dual, without copying arrays.

    >>> make_dual(2.0, (1.0, 0.0, 0.0)).k
    3
    """
    if np.ndim(value) == 0:
        tangents = as_tangents(tangents).reshape(-1)
        _check_k(tangents, k)
        return Dual(value, tangents)
    tangents = as_tangents(tangents)
    _check_k(tangents, k)
    return DualArray(value, tangents)


def _shape_tuple(shape) -> tuple:
    return tuple(np.atleast_1d(shape).tolist()) if np.ndim(shape) else (int(shape),)


def dual_zeros(shape, k: int) -> DualArray:
    """A :class:`DualArray` of zeros (values and tangents) of ``shape``, carrying ``k`` directions.

    >>> dual_zeros(3, 2).tangents.shape
    (3, 2)
    """
    shape = _shape_tuple(shape)
    return DualArray(np.zeros(shape), zero_tangents(shape + (k,)))


# Code that calls dual_zeros (a Hessian's function rewritten to hold duals) is typed and
# differentiated like user code: there dual_zeros(shape, K) is an allocation, as np.zeros is.
primitive_of_object[id(dual_zeros)] = "zeros"


def dual_empty(shape, k: int) -> DualArray:
    """Like :func:`dual_zeros`, but the values are uninitialised (the tangents are zero)."""
    shape = _shape_tuple(shape)
    return DualArray(np.empty(shape), zero_tangents(shape + (k,)))


def _like(x, k, fill_value: bool):
    if is_dual(x):
        if k is not None and k != x.k:
            raise ShapeError(f"dual carries {x.k} directions, not k={k}")
        k = x.k
    elif k is None:
        raise TypeError("adflow: allocating duals like a non-dual needs k, the number of directions")
    value = value_of(x)
    if np.ndim(value) == 0:
        return Dual(0.0, zero_tangents(k))
    value = np.zeros(np.shape(value)) if fill_value else np.empty(np.shape(value))
    return DualArray(value, zero_tangents(value.shape + (k,)))


def dual_zeros_like(x, k: int | None = None):
    """Zeros shaped like ``x`` (a dual, or a float array with ``k`` given).

    >>> import numpy as np
    >>> dual_zeros_like(np.ones((2, 3)), k=4).tangents.shape
    (2, 3, 4)
    """
    return _like(x, k, fill_value=True)


def dual_empty_like(x, k: int | None = None):
    """Like :func:`dual_zeros_like` with uninitialised values (the tangents are zero)."""
    return _like(x, k, fill_value=False)

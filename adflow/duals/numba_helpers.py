"""The public helpers of :mod:`adflow.duals.helpers`, inside numba-jitted code.

Numba must know ``k`` when it compiles.  It is read from the types where it can be (a dual, a
dual array, a tuple of tangents, a scalar tangent meaning ``k = 1``); otherwise ``k`` must be
passed and be a compile-time constant (a literal, a global, or an argument of the outermost
jitted function, which ``numba.literally`` then specialises on):

* ``seed(x, directions, k)`` / ``make_dual(value, tangents, k)`` when the tangents are an array;
* ``dual_zeros(shape, k)`` / ``dual_empty(shape, k)`` always;
* ``dual_zeros_like(x, k)`` / ``dual_empty_like(x, k)`` and ``tangents_of(x, k)`` when ``x`` is
  not a dual.

Types returned in jitted code: a scalar dual is a :class:`DualType` value, an array of duals a
:class:`DualArrayType` value (they box to :class:`Dual` / :class:`DualArray`); ``tangents_of``
returns a new float array for a scalar dual (its tangents live in a tuple, ``d.tangents``) and
the tangent array itself for a dual array.
"""
from __future__ import annotations

import numpy as np
from numba import literally
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload

from .helpers import (
    dual_empty,
    dual_empty_like,
    dual_zeros,
    dual_zeros_like,
    make_dual,
    seed,
    tangents_of,
    value_of,
)
from .numba_dual import DualArrayType, DualType, new_dual, new_dual_array
from .numba_tuples import tup_from_row, tup_store, tup_zeros

_NUMBER = (types.Number, types.Boolean)


def _is_none(ty) -> bool:
    return ty is None or isinstance(ty, (types.NoneType, types.Omitted))


def _need_literal_k(k):
    """True when the overload must ask numba to specialise on the value of ``k``."""
    return isinstance(k, types.Integer) and not isinstance(k, types.IntegerLiteral)


def _missing_k(what: str):
    return TypingError(
        f"adflow: {what} in jitted code needs k (the number of directions) as a compile-time "
        f"constant, e.g. a literal or a global"
    )


@overload(value_of)
def _value_of(x):
    if isinstance(x, (DualType, DualArrayType)):
        return lambda x: x.value
    return lambda x: x


@overload(tangents_of)
def _tangents_of(x, k=None):
    if isinstance(x, DualType):
        K = x.k

        def dual_tangents(x, k=None):
            out = np.empty(K)
            tup_store(out, x.tangents)
            return out

        return dual_tangents
    if isinstance(x, DualArrayType):
        return lambda x, k=None: x.tangents
    if _need_literal_k(k):
        return lambda x, k=None: literally(k)
    if isinstance(k, types.IntegerLiteral):
        if isinstance(x, types.Array):
            return lambda x, k=None: np.zeros(x.shape + (k,))
        if isinstance(x, _NUMBER):
            return lambda x, k=None: np.zeros(k)
    raise _missing_k("tangents_of(non-dual)")


@overload(make_dual)
def _make_dual(value, tangents, k=None):
    if isinstance(value, _NUMBER):
        if isinstance(tangents, types.BaseTuple):
            return lambda value, tangents, k=None: new_dual(value, tangents)
        if isinstance(tangents, _NUMBER):
            return lambda value, tangents, k=None: new_dual(value, (tangents,))
    if _need_literal_k(k):
        return lambda value, tangents, k=None: literally(k)
    if isinstance(k, types.IntegerLiteral) and isinstance(tangents, types.Array):
        if isinstance(value, _NUMBER):
            return lambda value, tangents, k=None: new_dual(value, tup_from_row(tangents, k))
        if isinstance(value, types.Array):
            return lambda value, tangents, k=None: new_dual_array(value, tangents, k)
    if isinstance(tangents, types.Array):
        raise _missing_k("make_dual(value, tangent_array)")


@overload(seed)
def _seed(x, directions, k=None):
    if isinstance(x, _NUMBER) and isinstance(directions, (types.BaseTuple,) + _NUMBER):
        return lambda x, directions, k=None: make_dual(x, directions)
    if _need_literal_k(k):
        return lambda x, directions, k=None: literally(k)
    if isinstance(k, types.IntegerLiteral) and isinstance(directions, types.Array):
        if isinstance(x, _NUMBER):
            return lambda x, directions, k=None: new_dual(x, tup_from_row(directions, k))
        if isinstance(x, types.Array):

            def seed_array(x, directions, k=None):
                # Copies, as in Python: the seed owns its storage.
                return new_dual_array(x.astype(np.float64), directions.astype(np.float64), k)

            return seed_array
    if isinstance(directions, types.Array):
        raise _missing_k("seed(x, direction_array)")


def _shape_of(shape):
    raise NotImplementedError("jitted code only")


@overload(_shape_of)
def _shape_of_numba(shape):
    if isinstance(shape, types.Integer):
        return lambda shape: (shape,)
    if isinstance(shape, types.BaseTuple):
        return lambda shape: shape


def _allocate(values_fn):
    """Overload for ``dual_zeros``/``dual_empty(shape, k)``: ``values_fn`` makes the values."""

    def typer(shape, k):
        if _need_literal_k(k):
            return lambda shape, k: literally(k)
        if not isinstance(k, types.IntegerLiteral):
            raise _missing_k("dual_zeros/dual_empty")

        def impl(shape, k):
            s = _shape_of(shape)
            return new_dual_array(values_fn(s), np.zeros(s + (k,)), k)

        return impl

    return typer


overload(dual_zeros)(_allocate(np.zeros))
overload(dual_empty)(_allocate(np.empty))


def _allocate_like(values_fn):
    """Overload for ``dual_zeros_like``/``dual_empty_like(x, k=None)``."""

    def typer(x, k=None):
        if isinstance(x, DualArrayType):
            K = x.k
            return lambda x, k=None: new_dual_array(
                values_fn(x.value.shape), np.zeros(x.value.shape + (K,)), K
            )
        if isinstance(x, DualType):
            return lambda x, k=None: new_dual(0.0, tup_zeros(x))
        if _need_literal_k(k):
            return lambda x, k=None: literally(k)
        if isinstance(k, types.IntegerLiteral):
            if isinstance(x, types.Array):
                return lambda x, k=None: new_dual_array(
                    values_fn(x.shape), np.zeros(x.shape + (k,)), k
                )
            if isinstance(x, _NUMBER):
                return lambda x, k=None: new_dual(0.0, tup_zeros(k))
        raise _missing_k("dual_zeros_like(non-dual)")

    return typer


overload(dual_zeros_like)(_allocate_like(np.zeros))
overload(dual_empty_like)(_allocate_like(np.empty))

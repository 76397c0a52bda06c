"""Numba types of values, and what a numba type holds as the transforms and the API ask it.

Dual numbers (:mod:`adflow.duals`) count as floats: a Hessian runs the reverse transform on
them, and a dual array is an array whose memory views can share, like a float array.
"""
from __future__ import annotations

import inspect

import numba
import numpy as np
from numba.core import types

from .duals.numba_dual import DualArrayType, DualType
from .errors import NonDifferentiableError


def is_float_type(ty) -> bool:
    """A float, a float array, a dual or dual array, or a tuple holding one of those."""
    if isinstance(ty, (types.Float, DualType, DualArrayType)):
        return True
    if isinstance(ty, types.Array):
        return isinstance(ty.dtype, types.Float)
    if isinstance(ty, (types.UniTuple, types.Tuple)):
        return any(is_float_type(t) for t in ty.types)
    return False


def float_leaves(ty, path=()):
    """``(path, type)`` of each float part of a (nested) tuple type, depth first; ``[((), ty)]`` for a float type.

    A tuple's adjoint is kept per float leaf, each in a variable of its own named by its path.
    """
    if isinstance(ty, types.BaseTuple):
        return [leaf for k, t in enumerate(ty.types) for leaf in float_leaves(t, path + (k,))]
    return [(path, ty)] if is_float_type(ty) else []


def tuple_index(ty, index) -> int | None:
    """The position ``t[index]`` reads in a tuple of type ``ty`` for a constant integer ``index``
    (``t[-1]`` is the last), or ``None`` when ``index`` is not one."""
    value = getattr(index, "value", None)
    if isinstance(value, bool) or not isinstance(value, int) or not -len(ty.types) <= value < len(ty.types):
        return None
    return value % len(ty.types)


def is_array_type(ty) -> bool:
    """A float array, or a dual array (a Hessian's sweep): memory that views and names can share."""
    return isinstance(ty, (types.Array, DualArrayType))


def ndim_of(ty) -> int:
    """Dimensions of an array type (a float array, or a dual array when computing Hessians); 0 otherwise."""
    if isinstance(ty, types.Array):
        return ty.ndim
    if isinstance(ty, DualArrayType):
        return ty.value_type.ndim
    return 0


def is_number_type(ty) -> bool:
    """A number: a float or an integer, or a 0-d array (what ``grad`` can take the gradient of)."""
    return isinstance(ty, (types.Float, types.Integer)) or (isinstance(ty, types.Array) and ty.ndim == 0)


def constant_type(node):
    """The numba type of a constant written in the code (a ``gast.Constant``)."""
    return numba.typeof(node.value)


def cheap_key(a):
    """What decides an argument's numba type, read without building numba type objects."""
    if isinstance(a, np.ndarray):
        flags = a.flags
        return (np.ndarray, a.dtype.num, a.ndim, flags.c_contiguous, flags.f_contiguous, flags.writeable,
                flags.aligned)
    if isinstance(a, (float, int, bool)):
        return type(a)
    return None  # anything else is typed by numba on every call


_TYPES_BY_KEY: dict = {}


def argument_types(args, func=None):
    """numba types of the arguments; cached by a cheap key (numba.typeof costs ~20 us per array).

    ``func`` names the parameter of an argument numba cannot type.
    """
    keys = tuple(cheap_key(a) for a in args)
    if None not in keys:
        cached = _TYPES_BY_KEY.get(keys)
        if cached is not None:
            return cached
    result = tuple(_typeof(a, k, func) for k, a in enumerate(args))
    if None not in keys:
        _TYPES_BY_KEY[keys] = result
    return result


def _typeof(arg, k, func):
    try:
        return numba.typeof(arg)
    except ValueError:
        pass
    name = getattr(func, "__name__", "the function")
    try:
        params = list(inspect.signature(func).parameters)
        which = f"'{params[k]}' (argument {k})"
    except (TypeError, ValueError, IndexError):
        which = f"argument {k}"
    raise NonDifferentiableError(f"cannot pass {which} of {name}, of type '{type(arg).__name__}': adflow "
                                 "takes numbers and NumPy arrays",
                                 hint="pass arrays (or tuples of numbers) and numbers; "
                                      "unpack containers into separate arguments") from None

"""Placeholder values that declare a variable before its first real value (its numba type decides which).

The reverse sweep's function declares up front what the forward sweep pushes before assigning it
and the arrays whose adjoints start as zeros shaped like them: numba must see one type per name.
"""
from __future__ import annotations

import gast
from numba.core import types

from ..duals.numba_dual import DualArrayType, DualType
from ..syntax.nodes import call, call_attr, const, numpy_dtype


def _zero_shape(ndim):
    return gast.Tuple(elts=[const(0)] * ndim, ctx=gast.Load())


def dummy_value(ty):
    """A placeholder of numba type ``ty``: declares a variable before its first real value."""
    if isinstance(ty, DualType):
        return call("dual_zeros_like", const(0.0), const(ty.k))
    if isinstance(ty, DualArrayType):
        if ty.tangent_type.layout == "C":
            return _laid_out(call("dual_zeros", _zero_shape(ty.value_type.ndim), const(ty.k)), ty.value_type)
        # A slice of a dual array (b[:-1]) has tangents numba lays out as 'A' even where the values
        # stay 'C': a tape of C tangents could not hold it (numba failed in its compiler, fuzz seed 28100008).
        ndim, float64 = ty.value_type.ndim, numpy_dtype(types.float64)
        value = _laid_out(call_attr("np", "empty", _zero_shape(ndim), float64), ty.value_type)
        shape = gast.Tuple(elts=[const(0)] * ndim + [const(ty.k)], ctx=gast.Load())
        return call("make_dual", value, _laid_out(call_attr("np", "empty", shape, float64), ty.tangent_type),
                    const(ty.k))
    if isinstance(ty, types.Boolean):
        return const(False)
    if isinstance(ty, types.Integer):
        return const(0)
    if isinstance(ty, types.Float):
        return const(0.0) if ty.bitwidth == 64 else call_attr("np", ty.name, const(0.0))
    if isinstance(ty, types.Array):
        return _laid_out(call_attr("np", "empty", _zero_shape(ty.ndim), numpy_dtype(ty.dtype)), ty)
    if isinstance(ty, types.BaseTuple):
        return gast.Tuple(elts=[dummy_value(t) for t in ty.types], ctx=gast.Load())
    raise NotImplementedError(f"no placeholder for {ty}")


def _laid_out(empty, ty):
    """An empty array laid out as numba types ``ty`` (a variable rebound to b[::-1] is 'A', to M.T
    'F'): a placeholder or a tape typed by a C array cannot hold such values."""
    if ty.layout == "A":
        return gast.Subscript(value=empty, slice=gast.Slice(lower=None, upper=None, step=const(1)), ctx=gast.Load())
    if ty.layout == "F" and ty.ndim > 1:
        return gast.Attribute(value=empty, attr="T", ctx=gast.Load())
    return empty

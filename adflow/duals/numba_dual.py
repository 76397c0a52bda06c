"""Dual numbers as native numba types: the types, their memory layout, and crossing into Python.

* :class:`DualType` ``(k, dtype)`` is a scalar dual: a struct ``{value: float64, tangents:
  UniTuple(float64, k)}`` passed by value, so a dual number costs no heap allocation.
* :class:`DualArrayType` is an array of duals: a struct of two numba arrays, ``value`` and
  ``tangents`` (shape ``value.shape + (k,)``).  ``k`` is part of the type because indexing must
  produce a :class:`DualType` of known ``k``.

Both box to / unbox from the Python classes of :mod:`adflow.duals.dual`.

Why user code written for floats runs unchanged: ``s = 0.0`` followed by ``s = s * x`` makes
numba unify ``float64`` with ``Dual``.  :meth:`DualType.unify` answers "the dual type",
:meth:`DualType.can_convert_from` allows the conversion, and the ``lower_cast`` below turns a
number into a dual with zero tangents, so the variable is simply a dual throughout.

Only ``dtype=float64`` is implemented; the parameter is there so float32 duals can follow.
"""
from __future__ import annotations

import numpy as np
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.core.typeconv import Conversion
from numba.extending import (
    NativeValue,
    box,
    intrinsic,
    lower_cast,
    make_attribute_wrapper,
    models,
    register_model,
    typeof_impl,
    unbox,
)

from .dual import Dual, DualArray


class DualType(types.Type):
    """Numba type of a scalar dual number carrying ``k`` tangent directions."""

    def __init__(self, k: int, dtype=types.float64):
        if dtype != types.float64:
            raise NotImplementedError("adflow: only float64 duals are implemented")
        self.k = int(k)
        self.dtype = dtype
        super().__init__(name=f"Dual(k={self.k}, {dtype})")

    @property
    def tangent_type(self):
        return types.UniTuple(self.dtype, self.k)

    def unify(self, typingctx, other):
        # A variable that holds a number on one path and a dual on another is a dual.
        if isinstance(other, (types.Float, types.Integer, types.Boolean)):
            return self
        return None

    def can_convert_from(self, typingctx, other):
        if isinstance(other, (types.Float, types.Integer, types.Boolean)):
            return Conversion.safe
        return None


class DualArrayType(types.Type):
    """Numba type of an array of duals: ``value`` and ``tangents`` arrays, ``k`` directions.

    The two array types are kept as given (layout, read-only flag) rather than recomputed, since
    slicing changes layouts in ways only numba's own typing knows.
    """

    # Mutable: numba then lowers ``a += b`` with operator.iadd (writing into ``a``), not with +.
    mutable = True

    def __init__(self, k: int, value_type: types.Array, tangent_type: types.Array):
        if value_type.dtype != types.float64 or tangent_type.dtype != types.float64:
            raise NotImplementedError("adflow: only float64 dual arrays are implemented")
        if tangent_type.ndim != value_type.ndim + 1:
            raise TypingError("adflow: dual array tangents need one more axis than values")
        self.k = int(k)
        self.value_type = value_type
        self.tangent_type = tangent_type
        super().__init__(name=f"DualArray(k={self.k}, {value_type}, {tangent_type})")

    @property
    def ndim(self) -> int:
        return self.value_type.ndim

    @property
    def dtype(self):
        return self.value_type.dtype

    @property
    def element_type(self) -> DualType:
        return DualType(self.k, self.dtype)

    def unify(self, typingctx, other):
        # The same dual array seen with two layouts (``u = u[1:]`` in a loop) unifies like arrays.
        if isinstance(other, DualArrayType) and other.k == self.k and other.ndim == self.ndim:
            value = typingctx.unify_pairs(self.value_type, other.value_type)
            tangent = typingctx.unify_pairs(self.tangent_type, other.tangent_type)
            if isinstance(value, types.Array) and isinstance(tangent, types.Array):
                return DualArrayType(self.k, value, tangent)
        # A float array on one path and a dual array on another (``c = np.ones(n) * a`` then, in a
        # branch, ``c = c * x``) is a dual array throughout, as ``s = 0.0`` is for scalars.
        if _is_float_array(other) and other.ndim == self.ndim:
            value = typingctx.unify_pairs(self.value_type, other)
            if isinstance(value, types.Array):
                return DualArrayType(self.k, value, self.tangent_type)
        return None

    def can_convert_from(self, typingctx, other):
        if isinstance(other, DualArrayType) and other.k == self.k and other.ndim == self.ndim:
            if (typingctx.can_convert(other.value_type, self.value_type)
                    and typingctx.can_convert(other.tangent_type, self.tangent_type)):
                return Conversion.safe
        if _is_float_array(other) and other.ndim == self.ndim and typingctx.can_convert(other, self.value_type):
            return Conversion.safe
        return None


def _is_float_array(ty) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == types.float64


def k_of(ty) -> int | None:
    """``k`` as known at compile time from a type: an integer literal, a dual or a dual array."""
    if isinstance(ty, types.IntegerLiteral):
        return ty.literal_value
    if isinstance(ty, (DualType, DualArrayType)):
        return ty.k
    return None


def is_dual_type(ty) -> bool:
    return isinstance(ty, DualType)


def is_dual_array_type(ty) -> bool:
    return isinstance(ty, DualArrayType)


def is_any_dual_type(ty) -> bool:
    return isinstance(ty, (DualType, DualArrayType))


# ---------------------------------------------------------------------------------- data models


@register_model(DualType)
class _DualModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("value", fe_type.dtype), ("tangents", fe_type.tangent_type)]
        super().__init__(dmm, fe_type, members)


@register_model(DualArrayType)
class _DualArrayModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("value", fe_type.value_type), ("tangents", fe_type.tangent_type)]
        super().__init__(dmm, fe_type, members)


# ``d.value`` and ``d.tangents`` in jitted code (the tangents of a scalar dual are a tuple there).
make_attribute_wrapper(DualType, "value", "value")
make_attribute_wrapper(DualType, "tangents", "tangents")
make_attribute_wrapper(DualArrayType, "value", "value")
make_attribute_wrapper(DualArrayType, "tangents", "tangents")


# ----------------------------------------------------------------------------------- typeof


@typeof_impl.register(Dual)
def _typeof_dual(val, c):
    return DualType(val.k)


@typeof_impl.register(DualArray)
def _typeof_dual_array(val, c):
    return DualArrayType(val.k, typeof_impl(val.value, c), typeof_impl(val.tangents, c))


# ---------------------------------------------------------------------------------- constructors


@intrinsic
def new_dual(typingctx, value, tangents):
    """``Dual(value, tangents)`` in jitted code; ``tangents`` is a tuple of k numbers."""
    if not isinstance(value, (types.Number, types.Boolean)) or not isinstance(
        tangents, types.BaseTuple
    ):
        return None
    dual = DualType(len(tangents))
    sig = dual(types.float64, dual.tangent_type)

    def codegen(context, builder, signature, args):
        out = cgutils.create_struct_proxy(dual)(context, builder)
        out.value, out.tangents = args
        return out._getvalue()

    return sig, codegen


@intrinsic
def new_dual_array(typingctx, value, tangents, k):
    """``DualArray(value, tangents)`` in jitted code.

    ``k`` is a compile-time integer, or any dual (or dual array) with the wanted ``k``.
    """
    if k_of(k) is None:
        return None
    if not (isinstance(value, types.Array) and isinstance(tangents, types.Array)):
        return None
    dual = DualArrayType(k_of(k), value, tangents)
    sig = dual(value, tangents, k)

    def codegen(context, builder, signature, args):
        out = cgutils.create_struct_proxy(dual)(context, builder)
        out.value, out.tangents = args[0], args[1]
        # The struct now owns a reference to each array (arguments are borrowed).
        context.nrt.incref(builder, value, args[0])
        context.nrt.incref(builder, tangents, args[1])
        return out._getvalue()

    return sig, codegen


# ---------------------------------------------------------------------------------- casts


@lower_cast(types.Float, DualType)
@lower_cast(types.Integer, DualType)
@lower_cast(types.Boolean, DualType)
def _number_to_dual(context, builder, fromty, toty, val):
    # A number promoted to a dual is a constant: its tangents are zero.
    out = cgutils.create_struct_proxy(toty)(context, builder)
    out.value = context.cast(builder, val, fromty, toty.dtype)
    zero = context.get_constant(toty.dtype, 0.0)
    out.tangents = context.make_tuple(builder, toty.tangent_type, [zero] * toty.k)
    return out._getvalue()


@lower_cast(DualArrayType, DualArrayType)
def _dual_array_to_dual_array(context, builder, fromty, toty, val):
    src = cgutils.create_struct_proxy(fromty)(context, builder, value=val)
    out = cgutils.create_struct_proxy(toty)(context, builder)
    # Array casts return new references, so the new struct owns its members.
    out.value = context.cast(builder, src.value, fromty.value_type, toty.value_type)
    out.tangents = context.cast(builder, src.tangents, fromty.tangent_type, toty.tangent_type)
    return out._getvalue()


@lower_cast(types.Array, DualArrayType)
def _array_to_dual_array(context, builder, fromty, toty, val):
    # A float array promoted to a dual array keeps its values and gets zero tangents.
    k = toty.k

    def zero_tangents(a):
        return np.zeros(a.shape + (k,))

    fresh = types.Array(types.float64, toty.ndim + 1, "C")
    tangents = context.compile_internal(builder, zero_tangents, fresh(fromty), [val])
    out = cgutils.create_struct_proxy(toty)(context, builder)
    out.value = context.cast(builder, val, fromty, toty.value_type)
    out.tangents = context.cast(builder, tangents, fresh, toty.tangent_type)
    return out._getvalue()


# ---------------------------------------------------------------------------------- boxing


@unbox(DualType)
def _unbox_dual(typ, obj, c):
    value_obj = c.pyapi.object_getattr_string(obj, "value")
    tuple_obj = c.pyapi.object_getattr_string(obj, "_tangent_tuple")
    out = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    out.value = c.pyapi.float_as_double(value_obj)
    tangents = c.unbox(typ.tangent_type, tuple_obj)
    out.tangents = tangents.value
    c.pyapi.decref(value_obj)
    c.pyapi.decref(tuple_obj)
    failed = c.builder.or_(tangents.is_error, cgutils.is_not_null(c.builder, c.pyapi.err_occurred()))
    return NativeValue(out._getvalue(), is_error=failed)


@box(DualType)
def _box_dual(typ, val, c):
    dual = cgutils.create_struct_proxy(typ)(c.context, c.builder, value=val)
    value_obj = c.pyapi.float_from_double(dual.value)
    tuple_obj = c.box(typ.tangent_type, dual.tangents)
    cls = c.pyapi.unserialize(c.pyapi.serialize_object(Dual))
    result = c.pyapi.call_function_objargs(cls, (value_obj, tuple_obj))
    c.pyapi.decref(value_obj)
    c.pyapi.decref(tuple_obj)
    c.pyapi.decref(cls)
    return result


@unbox(DualArrayType)
def _unbox_dual_array(typ, obj, c):
    value_obj = c.pyapi.object_getattr_string(obj, "value")
    tangents_obj = c.pyapi.object_getattr_string(obj, "tangents")
    value = c.unbox(typ.value_type, value_obj)
    tangents = c.unbox(typ.tangent_type, tangents_obj)
    out = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    out.value = value.value
    out.tangents = tangents.value
    c.pyapi.decref(value_obj)
    c.pyapi.decref(tangents_obj)
    failed = c.builder.or_(value.is_error, tangents.is_error)
    return NativeValue(out._getvalue(), is_error=failed)


@box(DualArrayType)
def _box_dual_array(typ, val, c):
    arrays = cgutils.create_struct_proxy(typ)(c.context, c.builder, value=val)
    # Boxing an array steals its reference, which is the struct's: no decref of ``val`` after.
    value_obj = c.box(typ.value_type, arrays.value)
    tangents_obj = c.box(typ.tangent_type, arrays.tangents)
    cls = c.pyapi.unserialize(c.pyapi.serialize_object(DualArray))
    result = c.pyapi.call_function_objargs(cls, (value_obj, tangents_obj))
    c.pyapi.decref(value_obj)
    c.pyapi.decref(tangents_obj)
    c.pyapi.decref(cls)
    return result

"""Forward mode's engine: dual numbers in Python and in numba.
"""
from .dual import Dual, DualArray, apply_primitive, is_dual
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
from . import numba_dual, numba_helpers, numba_elementwise, numba_arrays  # noqa: F401
from .numba_dual import DualArrayType, DualType

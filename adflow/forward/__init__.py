"""Forward mode: the user's function run on dual numbers.

:mod:`.transform` makes room for duals where the function creates floats of its own,
:mod:`.unread_values` finds the values a Jacobian never reads, :mod:`.row_blocks` rewrites a row
function for blocks of rows, and :mod:`.api` holds ``jvp`` and the forward Jacobians.

The dual numbers themselves are :mod:`adflow.duals`; their public names are importable from here:

>>> from adflow.forward import seed, tangents_of
>>> d = seed(2.0, 1.0) * seed(2.0, 1.0)
>>> float(tangents_of(d)[0])
4.0
"""
from ..duals import (
    Dual,
    DualArray,
    DualArrayType,
    DualType,
    apply_primitive,
    dual_empty,
    dual_empty_like,
    dual_zeros,
    dual_zeros_like,
    is_dual,
    make_dual,
    seed,
    tangents_of,
    value_of,
)

__all__ = [
    "Dual", "DualArray", "DualType", "DualArrayType", "apply_primitive", "is_dual",
    "seed", "make_dual", "value_of", "tangents_of",
    "dual_zeros", "dual_empty", "dual_zeros_like", "dual_empty_like",
]

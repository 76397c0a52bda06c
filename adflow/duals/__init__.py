"""Dual numbers carrying a chunk of ``k`` tangents, in Python and in numba: forward mode's engine.

Forward mode (:mod:`adflow.forward`) runs the user's function on them, and the reverse sweep of a
Hessian runs on them too, so they sit below both transforms.  Public names (importable from
``adflow.duals``, and from ``adflow.forward`` as the documented place):

* :class:`Dual`, :class:`DualArray` - the Python dual scalar and dual array
  (:mod:`adflow.duals.dual`); :func:`apply_primitive` evaluates any rules-table primitive on them.
* :func:`seed`, :func:`make_dual`, :func:`value_of`, :func:`tangents_of`, :func:`is_dual`,
  :func:`dual_zeros`, :func:`dual_empty`, :func:`dual_zeros_like`, :func:`dual_empty_like`
  (:mod:`adflow.duals.helpers`) - work in Python and inside ``@njit`` code.
* :class:`DualType`, :class:`DualArrayType` - their numba types (:mod:`adflow.duals.numba_dual`).

Importing this package registers the numba extension, so a user's ``@njit`` function written for
floats accepts duals unchanged:

>>> import math
>>> from numba import njit
>>> @njit
... def f(x):
...     s = 0.0
...     for _ in range(3):
...         s = s * x + math.sin(x * s + 1.0)
...     return s
>>> round(float(f(seed(0.3, 1.0)).tangents[0]), 6)
1.853562

Module map: ``formulas`` (rules tables -> callables), ``rule_helpers`` (names the tangent rules
call), ``dual`` (Python duals), ``helpers`` (public helpers), ``numba_dual`` (types, layout,
boxing, casts), ``numba_tuples`` (unrolled tangent-tuple arithmetic), ``numba_elementwise``
(elementwise primitives from the partials), ``numba_arrays`` (indexing, reductions, linear
algebra from the tangent rules), ``numba_numpy`` (NumPy numba lacks: reductions along an axis,
``np.atleast_1d`` of a number), ``numba_helpers`` (the public helpers in jitted code),
``tangents_only`` (the tangents of values a Jacobian never reads), ``sample_points``
(where each primitive is smooth, for tests).
"""
from . import numba_arrays, numba_dual, numba_elementwise, numba_helpers, numba_numpy, tangents_only  # noqa: F401 (registers)
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
from .numba_dual import DualArrayType, DualType

__all__ = [
    "Dual", "DualArray", "DualType", "DualArrayType", "apply_primitive", "is_dual",
    "seed", "make_dual", "value_of", "tangents_of",
    "dual_zeros", "dual_empty", "dual_zeros_like", "dual_empty_like",
]

"""Arithmetic on the tangent tuple of a scalar dual, unrolled for its length ``k``.

A scalar dual keeps its ``k`` tangents in a ``UniTuple(float64, k)`` so that it lives in
registers.  Numba has no elementwise tuple arithmetic, so each helper below generates, per ``k``,
a one-line function such as ``return (t[0] * p, t[1] * p, t[2] * p)``.  LLVM sees straight-line
scalar code, which is why a k=1 dual loop runs as fast as the float loop.
"""
from __future__ import annotations

import functools

from numba.core import types
from numba.extending import overload

from ..backends.symbols import exec_function
from .numba_dual import k_of


def _unrolled(k: int, item: str) -> str:
    """``(item(0), item(1), ..., item(k-1),)`` where ``item`` uses ``{i}``."""
    return "(" + "".join(item.format(i=i) + ", " for i in range(k)) + ")"


@functools.cache
def _generate(params: str, item: str, k: int):
    source = f"def impl({params}):\n    return {_unrolled(k, item)}\n"
    return exec_function(source, {}, f"tuple helper: {params} -> {item} for k={k}")


def _length(ty) -> int | None:
    return len(ty) if isinstance(ty, types.BaseTuple) else None


# Stubs: these names exist for jitted code only; their bodies are the generated overloads.


def tup_scale(t, p):
    """``p * t`` for a tangent tuple ``t`` and a number ``p``."""
    raise NotImplementedError("jitted code only")


def tup_axpy(acc, p, t):
    """``acc + p * t`` for tangent tuples ``acc``, ``t`` and a number ``p``."""
    raise NotImplementedError("jitted code only")


def tup_from_row(row, k):
    """The first ``k`` elements of the 1-D array ``row`` as a tuple.

    ``k`` is a compile-time integer, or a dual (or dual array) whose ``k`` is meant.
    """
    raise NotImplementedError("jitted code only")


def tup_zeros(k):
    """A tuple of ``k`` zeros (``k`` as for :func:`tup_from_row`)."""
    raise NotImplementedError("jitted code only")


def tup_store(row, t):
    """Write the tuple ``t`` into the 1-D array ``row``."""
    raise NotImplementedError("jitted code only")


@overload(tup_scale)
def _tup_scale(t, p):
    k = _length(t)
    if k is not None:
        return _generate("t, p", "t[{i}] * p", k)


@overload(tup_axpy)
def _tup_axpy(acc, p, t):
    k = _length(t)
    if k is not None and _length(acc) == k:
        return _generate("acc, p, t", "acc[{i}] + p * t[{i}]", k)


@overload(tup_from_row)
def _tup_from_row(row, k):
    n = k_of(k)
    if isinstance(row, types.Array) and n is not None:
        return _generate("row, k", "row[{i}]", n)


@overload(tup_zeros)
def _tup_zeros(k):
    n = k_of(k)
    if n is not None:
        return _generate("k", "0.0", n)


@overload(tup_store)
def _tup_store(row, t):
    k = _length(t)
    if isinstance(row, types.Array) and k is not None:
        body = "".join(f"    row[{i}] = t[{i}]\n" for i in range(k))
        return exec_function(f"def impl(row, t):\n{body}", {}, f"tuple store k={k}")

"""A call's arguments as each block's task receives them: Dask arrays in blocks of rows, the rest shared.

Every Dask-array argument is split into the same blocks of rows (those of the first one) and kept
whole along its other axes, so a task sees complete rows.  NumPy arrays become one graph key each,
so Dask sends them once to each worker instead of once with every task; numbers travel inside the
tasks.
"""
from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np

from ..errors import ArgumentError, ShapeError

ROWS = "rows"  # the blockwise index of the row axis, shared by every Dask argument


class SplitArguments:
    """``pairs``: (argument, blockwise index) in call order; ``split[k]``: whether argument ``k`` is in blocks."""

    def __init__(self, args, fname):
        arrays = [k for k, a in enumerate(args) if isinstance(a, da.Array)]
        if not arrays:
            raise ArgumentError(f"adflow.dask needs a Dask array among the arguments of {fname}",
                                hint="pass the data as Dask arrays chunked along rows; for arrays in memory "
                                     "use adflow.grad / adflow.jacobian")
        first = args[arrays[0]]
        _check_rows(first, arrays[0], fname)
        self.rows = first.chunks[0]
        self.split = tuple(isinstance(a, da.Array) for a in args)
        self.pairs = []
        for k, a in enumerate(args):
            if isinstance(a, da.Array):
                _check_rows(a, k, fname)
                if a.shape[0] != first.shape[0]:
                    raise ShapeError(f"argument {k} of {fname} has {a.shape[0]} rows, argument {arrays[0]} "
                                     f"has {first.shape[0]}", hint="the Dask arguments share their rows")
                whole = {axis: -1 for axis in range(1, a.ndim)}
                self.pairs.append((a.rechunk({0: self.rows, **whole}), index_of(k, a.ndim)))
            else:
                self.pairs.append((_shared(a), None))

    @property
    def blockwise_args(self) -> list:
        """The pairs flattened, as ``da.blockwise`` takes them after the function."""
        return [item for pair in self.pairs for item in pair]


def index_of(k, ndim) -> tuple:
    """The blockwise index of Dask argument ``k``: the shared row axis, then axes of its own."""
    return (ROWS,) + tuple(f"arg{k}_axis{axis}" for axis in range(1, ndim))


def _check_rows(a, k, fname):
    if a.ndim == 0:
        raise ShapeError(f"argument {k} of {fname} is a 0-d Dask array: it has no rows to split",
                         hint="pass it as a number or a NumPy array")
    if any(math.isnan(n) for n in a.chunks[0]):
        raise ArgumentError(f"argument {k} of {fname} has blocks of unknown length",
                            hint="call .compute_chunk_sizes() on it first")


def _shared(a):
    if isinstance(a, (list, tuple)):  # as adflow takes them: lists become float arrays
        a = np.asarray(a, dtype=float)
    if isinstance(a, np.ndarray):
        return dask.delayed(a, pure=True)
    return a

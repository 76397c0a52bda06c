"""Gradients of losses that sum or average over rows: a reverse sweep per block of rows, added in a tree.

A loss written for arrays in memory, ``loss(w, X, y) = sum over rows i of l(w, X[i], y[i])``, is
the sum of the same loss over blocks of rows; its gradient with respect to ``w`` is the sum of the
blocks' gradients, and its gradient with respect to ``X`` is, block by block, the block's own.  A
mean is the sum with each block weighted by its share of the rows.

The graph: one task per block runs the compiled gradient (``parts``); the gradients of the
arguments that are not split (and the value) are packed into one vector per block and summed by
``dask.array``'s tree reduction; each split argument's gradient is read from ``parts`` block by
block, a Dask array chunked like the argument.
"""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np

import adflow

from ..errors import ArgumentError, ShapeError
from ..pipeline.arguments import check_wrt_range, normalize_wrt
from .arguments import ROWS, SplitArguments, index_of

REDUCTIONS = ("sum", "mean")


class LossGradient:
    """``adflow.dask.grad(loss)`` or ``adflow.dask.value_and_grad(loss)``: call it like ``loss``.

    The call returns what ``adflow.grad(loss, wrt)`` (or ``adflow.value_and_grad``) returns for
    the same data in memory.  The gradient of an argument that is not a Dask array (parameters:
    NumPy arrays, numbers) is computed at once and returned in memory; that of a Dask argument is a
    Dask array chunked like it, left on the cluster: computed together with the others when there
    are any (``dask.persist``), else lazy.  Each block's sweep runs once either way.

    ``split_every`` is the fan-in of the tree that adds the blocks' gradients (Dask's default: 4
    for ``sum`` reductions).

    >>> import numpy as np, dask.array as da, adflow.dask
    >>> def mean_square(w, X, y):
    ...     r = X @ w - y
    ...     return np.mean(r * r)
    >>> X = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(3, 2))   # blocks of 3 and 1 rows
    >>> y = da.from_array(np.ones(4), chunks=3)
    >>> value, (g_w, g_X) = adflow.dask.value_and_grad(mean_square, wrt=(0, 1), reduction="mean")(
    ...     np.array([1.0, -1.0]), X, y)
    >>> value, g_w
    (4.0, array([-12., -16.]))
    >>> g_X.chunks, g_X.compute()[0]                                     # a Dask array, like X
    (((3, 1), (2,)), array([-1.,  1.]))
    """

    def __init__(self, func, wrt=0, reduction="sum", with_value=False, target="cpu", split_every=None):
        if reduction not in REDUCTIONS:
            raise ArgumentError(f"reduction must be 'sum' or 'mean', not {reduction!r}",
                                hint="say how the loss combines its rows: 'sum' adds them, 'mean' averages them")
        self.func = func
        self.wrt, self._single = normalize_wrt(wrt)
        self.reduction = reduction
        self.with_value = with_value
        self.split_every = split_every
        transform = adflow.value_and_grad if with_value else adflow.grad
        # One tuple of gradients per block, whatever wrt looked like: the blocks' results are packed.
        self.derivative = transform(func, wrt=self.wrt, target=target)
        self.__name__ = getattr(func, "__name__", "loss")

    def __call__(self, *args):
        check_wrt_range(self.wrt, len(args), self.__name__)
        call = SplitArguments(args, self.__name__)
        total_rows = sum(call.rows)
        if self.reduction == "mean" and total_rows == 0:
            raise ShapeError(f"the mean of {self.__name__} over no rows is undefined: its Dask arguments have none")
        rows_of = call.split.index(True)  # any split argument tells a block's number of rows
        weight = 1.0 / total_rows if self.reduction == "mean" else None
        parts = da.blockwise(_block_sweep, (ROWS,), dask.delayed(self.derivative, pure=True), None,
                             self.with_value, None, weight, None, rows_of, None, *call.blockwise_args,
                             concatenate=True, meta=np.empty((0,), dtype=object), dtype=object)
        shared = [j for j, k in enumerate(self.wrt) if not call.split[k]]
        split = {j: _split_gradient(parts, j, args[k], k) for j, k in enumerate(self.wrt) if call.split[k]}
        if not shared and not self.with_value:
            return self._result(None, [split[j] for j in range(len(self.wrt))])
        sizes = [int(np.size(args[self.wrt[j]])) for j in shared]
        packed = da.blockwise(_pack, (ROWS, "packed"), parts, (ROWS,), shared, None, self.with_value, None,
                              new_axes={"packed": int(self.with_value) + sum(sizes)}, adjust_chunks={ROWS: 1},
                              meta=np.empty((0, 0)), dtype=np.float64)
        total = packed.sum(axis=0, split_every=self.split_every)
        if split:
            total, *persisted = dask.persist(total, *split.values())
            split = dict(zip(split, persisted))
        total = total.compute()
        value = float(total[0]) if self.with_value else None
        pieces = np.split(total[int(self.with_value):], np.cumsum(sizes)[:-1])
        for j, piece in zip(shared, pieces):
            split[j] = _unpack(piece, args[self.wrt[j]])
        return self._result(value, [split[j] for j in range(len(self.wrt))])

    def _result(self, value, gradients):
        out = gradients[0] if self._single else tuple(gradients)
        return (value, out) if self.with_value else out


def _split_gradient(parts, j, arg, k):
    """The gradient of split argument ``k`` (the ``j``-th differentiated), block by block from ``parts``,
    in the argument's own chunks (the blocks of rows are the first Dask argument's)."""
    index = index_of(k, arg.ndim)
    blocks = da.blockwise(_pick, index, parts, (ROWS,), j, None,
                          new_axes={i: n for i, n in zip(index[1:], arg.shape[1:])},
                          meta=np.empty((0,) * arg.ndim, dtype=arg.dtype), dtype=arg.dtype)
    return blocks.rechunk(arg.chunks)


def _block_sweep(derivative, with_value, weight, rows_of, *args):
    """``(value, gradients)`` of one block, weighted by ``weight`` times its rows for a mean."""
    rows = args[rows_of].shape[0]
    wrt = derivative.wrt
    if rows == 0:  # nothing to add; a mean over no rows would make the sum NaN
        return 0.0, tuple(np.zeros_like(args[k], dtype=np.result_type(args[k], float)) for k in wrt)
    result = derivative(*args)
    value, gradients = result if with_value else (0.0, result)
    if weight is not None:
        scale = weight * rows
        value, gradients = value * scale, tuple(g * scale for g in gradients)
    return value, gradients


def _pack(part, shared, with_value):
    """The value (if asked for) and the gradients of the arguments that are not split, in one row."""
    value, gradients = part
    pieces = [np.atleast_1d(np.float64(value))] if with_value else []
    pieces += [np.ravel(gradients[j]).astype(np.float64, copy=False) for j in shared]
    return np.concatenate(pieces)[None]


def _pick(part, j):
    return part[1][j]


def _unpack(piece, arg):
    """A shared argument's gradient as ``adflow.grad`` gives it: shaped and typed like the argument."""
    if isinstance(arg, (list, tuple)):
        arg = np.asarray(arg, dtype=float)
    if isinstance(arg, np.ndarray):
        return piece.reshape(arg.shape).astype(arg.dtype, copy=False)
    return type(arg)(piece[0]) if isinstance(arg, np.floating) else float(piece[0])

"""Per-row gradients and row-wise Jacobians of Dask arrays: adflow's batched loop on each block of rows."""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from ..errors import ArgumentError, ShapeError
from ..pipeline.arguments import check_wrt_range
from ..rules.custom import primal_of
from ..syntax.source import python_function
from .arguments import ROWS, SplitArguments


class RowwiseDerivative:
    """``adflow.dask.grad(f, batch=True)`` or ``adflow.dask.jacobian(f, batch=True)``: call it like ``f``,
    with argument ``wrt`` a Dask array of rows.

    Each block of rows goes to ``adflow.grad(f, batch=True)`` or ``adflow.jacobian(f, batch=True)``
    in one task; the result is a Dask array chunked like the rows, row ``i`` the gradient (shaped
    like a row) or the Jacobian (``f``'s result's shape, then the row's) at row ``i``.  The other
    arguments are shared by every row: NumPy arrays or numbers, sent once.  A Jacobian's shape needs
    ``f``'s result's: ``f`` runs once as plain Python on the first row, on this side.

    >>> import numpy as np, dask.array as da, adflow.dask
    >>> def layer(x, W):
    ...     return np.tanh(W @ x)
    >>> X = da.from_array(np.linspace(-1.0, 1.0, 12).reshape(6, 2), chunks=(4, 2))
    >>> J = adflow.dask.jacobian(layer, batch=True)(X, np.eye(3, 2))   # rows of 2 in, 3 out
    >>> J.shape, J.chunks
    ((6, 3, 2), ((4, 2), (3,), (2,)))
    >>> np.round(J[0].compute(), 3)
    array([[0.42 , 0.   ],
           [0.   , 0.546],
           [0.   , 0.   ]])
    """

    def __init__(self, derivative, wrt):
        self.derivative = derivative
        self.wrt = wrt
        self.func = derivative.func
        self.__name__ = getattr(self.func, "__name__", "f")

    def __call__(self, *args):
        check_wrt_range((self.wrt,), len(args), self.__name__)
        rows = args[self.wrt]
        if not isinstance(rows, da.Array):
            raise ArgumentError(f"argument {self.wrt} of {self.__name__} holds the rows: it must be a Dask array, "
                                f"not {type(rows).__name__}", hint="for arrays in memory use adflow's own batch=True")
        others = [k for k, a in enumerate(args) if isinstance(a, da.Array) and k != self.wrt]
        if others:
            raise ArgumentError(f"only argument {self.wrt} of {self.__name__} is split into rows; argument "
                                f"{others[0]} is a Dask array too",
                                hint="pass the arguments shared by every row as NumPy arrays or numbers")
        call = SplitArguments(args, self.__name__)
        rows = call.pairs[self.wrt][0]
        if self.derivative.adflow_transform == "jacobian":
            result_shape, dtype = self._result_shape(args), np.float64
        else:  # per-row gradients, shaped and typed like the rows
            result_shape, dtype = (), rows.dtype
        new_axes = {f"result_axis{i}": n for i, n in enumerate(result_shape)}
        index = (ROWS, *new_axes, *call.pairs[self.wrt][1][1:])
        return da.blockwise(_block_rows, index, dask.delayed(self.derivative, pure=True), None, self.wrt, None,
                            result_shape, None, dtype, None, *call.blockwise_args, new_axes=new_axes, concatenate=True,
                            meta=np.empty((0,) * len(index), dtype=dtype), dtype=dtype)

    def _result_shape(self, args):
        """The shape of ``f``'s result on one row: ``f`` run as Python on the first row (read from its block)."""
        rows = args[self.wrt]
        if rows.shape[0] == 0:
            raise ShapeError(f"argument {self.wrt} of {self.__name__} has no rows")
        one = list(args)
        one[self.wrt] = rows[0].compute()
        with np.errstate(all="ignore"):
            return np.shape(python_function(primal_of(self.func))(*one))


def _block_rows(derivative, wrt, result_shape, dtype, *args):
    rows = args[wrt]
    if rows.shape[0] == 0:  # adflow's batched loops take at least one row
        return np.zeros((0, *result_shape, *rows.shape[1:]), dtype=dtype)
    return derivative(*args)

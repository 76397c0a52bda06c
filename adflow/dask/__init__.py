"""Derivatives over Dask arrays, computed where the data lives: on a Dask cluster or Dask's local schedulers.

Two kinds of work split by rows:

* the gradient of a loss that sums or averages over the rows of its Dask-array arguments
  (:func:`grad`, :func:`value_and_grad`): one reverse sweep per block of rows on the workers,
  the parameters' gradients added up in a tree;
* per-row results (:func:`grad` with ``batch=True``, :func:`jacobian` with ``batch=True``): one
  compiled loop per block of rows, returned as a Dask array chunked like the rows.

Each block's task calls an adflow derivative object; Dask sends it to the workers as the function
and its options (see :mod:`adflow.pickling`), and each worker process builds its machine code once,
through its own disk cache or a shared ``ADFLOW_CACHE_DIR``.  adflow needs nothing more than Dask:
whatever scheduler is active (threads, processes, a ``dask.distributed.Client``) runs the tasks.

Install with ``pip install 'adflow[dask]'``.
"""
from __future__ import annotations

from ..errors import ArgumentError, MissingDependencyError

try:
    import dask.array  # noqa: F401
except ImportError as exc:
    raise MissingDependencyError(
        "adflow.dask needs dask.array, which is not installed",
        hint="pip install 'adflow[dask]' (installs dask[array] and distributed)") from exc

import adflow  # noqa: E402

from .reductions import LossGradient  # noqa: E402
from .rows import RowwiseDerivative  # noqa: E402


def grad(func, wrt=0, reduction="sum", batch=False, target="cpu", split_every=None):
    """The gradient of ``func`` over Dask arrays split into blocks of rows.

    Without ``batch``, ``func`` is a loss that sums (``reduction="sum"``) or averages
    (``reduction="mean"``) a term per row over the rows of its Dask-array arguments, written as for
    arrays in memory.  The call returns what ``adflow.grad(func, wrt)`` returns on the same data in
    memory: a NumPy array (or number) for an argument that is not a Dask array, and a Dask array
    chunked like the argument for one that is (see :class:`LossGradient`).

    With ``batch=True``, ``func`` takes one row of argument ``wrt`` (a Dask array of rows) and
    returns a number; the call returns the gradient at each row, a Dask array chunked like the rows,
    as ``adflow.grad(func, wrt, batch=True)`` would (see :class:`RowwiseDerivative`).  A gradient per
    row needs no reduction: ``reduction`` then stays ``"sum"``.

    >>> import numpy as np, dask.array as da, adflow.dask
    >>> def loss(w, X, y):
    ...     r = X @ w - y
    ...     return np.sum(r * r)
    >>> X = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2))   # 4 rows in 2 blocks
    >>> y = da.from_array(np.ones(4), chunks=2)
    >>> adflow.dask.grad(loss)(np.array([1.0, -1.0]), X, y)
    array([-48., -64.])
    >>> def row_loss(x, w):
    ...     return np.sum(x * w) ** 2
    >>> G = adflow.dask.grad(row_loss, batch=True)(X, np.array([1.0, -1.0]))   # d row_loss / d X[i]
    >>> G.chunks, G[1].compute()
    (((2, 2), (2,)), array([-2.,  2.]))
    """
    if not batch:
        return LossGradient(func, wrt, reduction, False, target, split_every)
    if reduction != "sum":
        raise ArgumentError(f"batch=True gives one gradient per row: reduction={reduction!r} has nothing to reduce",
                            hint="drop reduction=, or drop batch=True for the gradient of a loss over all rows")
    if not isinstance(wrt, int):
        raise ArgumentError(f"batch=True differentiates the rows, one argument: wrt must be an int, not {wrt!r}")
    return RowwiseDerivative(adflow.grad(func, wrt=wrt, target=target, batch=True), wrt)


def value_and_grad(func, wrt=0, reduction="sum", target="cpu", split_every=None):
    """Like :func:`grad` for a loss, but returns ``(value, gradient)``: the loss over all rows as well.

    >>> import numpy as np, dask.array as da, adflow.dask
    >>> def loss(w, X):
    ...     return np.sum((X @ w) ** 2)
    >>> X = da.from_array(np.ones((6, 2)), chunks=(2, 2))
    >>> adflow.dask.value_and_grad(loss)(np.array([1.0, 2.0]), X)
    (54.0, array([36., 36.]))
    """
    return LossGradient(func, wrt, reduction, True, target, split_every)


def jacobian(func, batch=False, mode="auto", wrt=0, chunk=None, target="cpu"):
    """Row-wise Jacobians of a Dask array of rows: ``adflow.jacobian(func, batch=True)`` block by block.

    ``func`` maps one row of argument ``wrt`` to one result; the call returns a Dask array chunked
    like the rows, ``Z[i] = d func(X[i], ...) / d X[i]`` (see :class:`RowwiseDerivative`).  Only
    row-wise Jacobians split into blocks of rows, so ``batch=True`` must be given: the full
    Jacobian of a function of all rows at once is ``adflow.jacobian`` on arrays in memory.
    ``mode`` and ``chunk`` are ``adflow.jacobian``'s.

    >>> import numpy as np, dask.array as da, adflow.dask
    >>> def square(x):
    ...     return x * x
    >>> X = da.from_array(np.arange(6.0).reshape(3, 2), chunks=(2, 2))
    >>> adflow.dask.jacobian(square, batch=True)(X)[2].compute()
    array([[ 8.,  0.],
           [ 0., 10.]])
    """
    if not batch:
        raise ArgumentError("adflow.dask.jacobian computes row-wise Jacobians: pass batch=True",
                            hint="the Jacobian of a function of all rows at once does not split into blocks of "
                                 "rows; compute it with adflow.jacobian on arrays in memory")
    return RowwiseDerivative(adflow.jacobian(func, mode=mode, wrt=wrt, chunk=chunk, batch=True, target=target), wrt)


__all__ = ["grad", "value_and_grad", "jacobian", "LossGradient", "RowwiseDerivative"]

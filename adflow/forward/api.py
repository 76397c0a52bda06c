"""Forward-mode API: ``jvp`` and the forward Jacobians ``jacobian`` uses."""
from __future__ import annotations

import numpy as np

from .. import targets
from ..backends import drivers
from ..cuda import api as cuda_api
from ..duals.helpers import seed, tangents_of, value_of
from ..errors import ArgumentError, ShapeError
from ..frontend.bound import as_function
from ..pipeline import cached_forward, cached_row_blocks
from ..pipeline.arguments import check_tangents, float_positions, normalize_wrt, prepare_args
from ..syntax.source import python_function
from ..value_types import argument_types


def _outputs(y, k):
    """(value, tangents shaped value.shape + (k,)) of a result that may not depend on the inputs."""
    if isinstance(y, tuple):
        raise ShapeError("forward mode needs a function returning one array or number, not a tuple")
    value = value_of(y)
    try:
        tangents = tangents_of(y)
    except TypeError:
        tangents = np.zeros(np.shape(value) + (k,))
    if np.ndim(value) == 0 and not hasattr(y, "tangents"):
        tangents = np.zeros(k)
    return value, np.asarray(tangents)


def jvp(func, primals, tangents, wrt=None, target="cpu"):
    """Jacobian-vector product by forward mode: returns ``(f(*primals), J @ tangents)``.

    ``primals`` is the tuple of arguments; ``tangents`` holds one direction per differentiated
    argument (all float arguments unless ``wrt`` is given), each shaped like its argument.

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     return np.sin(x) * x[0]
    >>> y, y_dot = adflow.jvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    """
    func = as_function(func)  # a bound method or callable object: a function of its arguments
    python_function(func)
    for what, given in (("primals", primals), ("tangents", tangents)):
        if not isinstance(given, (tuple, list)):
            # An array here would be unpacked as the argument list: f(x[0], x[1]) instead of f(x).
            raise ArgumentError(f"jvp takes its {what} as a tuple (or list) with one entry per argument, "
                                f"not a {type(given).__name__}",
                                hint="for f(x) write adflow.jvp(f, (x,), (t,))")
    if targets.named(target).per_thread:  # no duals on the device: from reverse sweeps, adflow/cuda/
        return cuda_api.jvp(func, primals, tangents, wrt)
    primals = prepare_args(tuple(primals))
    if wrt is None:
        wrt = float_positions(argument_types(primals))
    wrt, _ = normalize_wrt(wrt, len(primals), getattr(func, "__name__", "f"))
    tangents = tuple(tangents)
    check_tangents(tangents, wrt, primals)
    if len(wrt) == 1:
        # The common case runs through a compiled driver: no Python dual objects cross into numba.
        value, t = forward_pass(func, primals, wrt[0], np.asarray(tangents[0], np.float64).reshape(-1, 1), 1, target)
        return value, (t[:, 0].reshape(np.shape(value)) if np.ndim(value) else float(t[0, 0]))
    fwd, _, _ = cached_forward(func, argument_types(primals), wrt, 1, target)
    args = list(primals)
    for k, t in zip(wrt, tangents):
        t = np.asarray(t, dtype=np.float64)
        args[k] = seed(primals[k], t[..., None]) if np.ndim(primals[k]) else seed(float(primals[k]), float(t))
    value, y_tangents = _outputs(fwd(*args), 1)
    return value, (y_tangents[..., 0] if np.ndim(value) else float(y_tangents[0]))


def forward_pass(func, args, wrt, seeds, chunk, target):
    """(value, tangents (outputs, chunk)) of one compiled forward pass seeded with ``seeds`` (n, chunk)."""
    driver, _, _ = cached_forward(func, argument_types(args), (wrt,), chunk, target, drivers.forward_tangents)
    return driver(*args, seeds)


def pass_seeds(n, chunk):
    """Seeds of the passes, shape (passes, n, chunk): pass p carries the unit vectors of inputs p*chunk..."""
    passes = -(-n // chunk)
    dirs = np.zeros((passes, n, chunk))
    inputs = np.arange(n)
    dirs[inputs // chunk, inputs, inputs % chunk] = 1.0
    return dirs


def forward_jacobian(func, args, wrt, chunk, target, out_shape):
    """A callable ``run(args)``: the Jacobian by ``ceil(n / chunk)`` forward passes in one compiled loop."""
    x = args[wrt]
    shape, n = np.shape(x), int(np.size(x))
    driver, _, _ = cached_forward(func, argument_types(args), (wrt,), chunk, target, drivers.forward_jacobian)
    directions = pass_seeds(n, chunk)
    out_shape = tuple(out_shape)
    m = max(int(np.prod(out_shape, dtype=int)), 1)

    def run(args):
        # A one-pass result may be the seeds themselves (f(x) = x): they must be fresh each call.
        seeds = directions.copy() if directions.shape[0] == 1 else directions
        return driver(*args, seeds, np.empty((m, n))).reshape(out_shape + shape)

    return run


# Rows per block of the blocked row-wise Jacobian.  On the 16-64-8 MLP (2000 rows, 2 cores, one block
# size per process) blocks of 8, 16, 24, 32, 48 and 64 rows took 1.92, 1.66, 1.63, 1.62, 1.61 and
# 1.78 ms; the smaller block holds less memory for wider layers.
ROW_BLOCK = 32


def row_blocks_available(func, one_row_args, wrt, chunk, target) -> bool:
    """Whether the row function has a block form (builds it, without compiling, for the run to use)."""
    return cached_row_blocks(func, argument_types(one_row_args), wrt, chunk, target, ROW_BLOCK)[0] is not None


def forward_jacobian_rows(func, args, wrt, chunk, target, out_shape):
    """``(run, block, why)``: ``run(args)`` computes the row-wise Jacobians ``Z[i] = dY[i]/dX[i]`` in one
    compiled loop, spread over cores.  Blocks of ``block`` rows go through the row function rewritten
    for blocks (:mod:`adflow.forward.row_blocks`); where it has no block form (``why`` says which
    statement, ``block`` is 0), one row at a time on dual numbers."""
    one = list(args)
    one[wrt] = np.ascontiguousarray(args[wrt][0])
    d_in = args[wrt].shape[1]
    directions = pass_seeds(d_in, chunk)
    m = int(np.prod(out_shape, dtype=int))
    driver, why = cached_row_blocks(func, argument_types(one), wrt, chunk, target, ROW_BLOCK)
    block = ROW_BLOCK if driver is not None else 0
    if driver is not None:
        # Every row gets the same directions: (passes, k, 1, d_in), a row axis of length one.
        seeds = np.ascontiguousarray(directions.transpose(0, 2, 1)).reshape(directions.shape[0], chunk, 1, d_in)
    else:
        driver, _, _ = cached_forward(func, argument_types(one), (wrt,), chunk, target, drivers.row_jacobian)
        seeds = directions

    def run(args):
        call = list(args)
        rows = call[wrt] = np.ascontiguousarray(args[wrt])
        out = driver(*call, seeds, np.empty((rows.shape[0], m, d_in)))
        return out.reshape((rows.shape[0],) + tuple(out_shape) + (d_in,))

    return run, block, why

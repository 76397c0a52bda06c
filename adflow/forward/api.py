"""Forward-mode API: ``jvp`` and the forward Jacobians ``jacobian`` uses."""
from __future__ import annotations

import numpy as np

from .. import compose, targets
from ..backends import drivers
from ..cuda import api as cuda_api
from ..duals.helpers import seed
from ..errors import ArgumentError
from ..frontend.bound import as_function
from ..pipeline import cached_forward, cached_row_blocks, call_compiled, compiled_derivative
from ..pipeline.rows import over_rows
from ..pipeline.arguments import check_tangents, float_positions, normalize_wrt, prepare_args
from ..pipeline.binding import bind
from ..pipeline.results import split_tangents, tangent_like, value_like
from ..runtime import output_tangents
from ..syntax.source import entry_point, python_function
from ..value_types import argument_types


@entry_point(makes_derivative=False)
def jvp(func, primals, tangents, wrt=None, target="cpu"):
    """Jacobian-vector product by forward mode: returns ``(f(*primals), J @ tangents)``.

    ``primals`` is the tuple of arguments (parameters with defaults may be left out);
    ``tangents`` holds one direction per differentiated argument (all float arguments given,
    unless ``wrt`` says which), each shaped like its argument.  A function returning a tuple
    (nested or not) gets a tuple of tangents of the same layout; each tangent has the type of
    its value.  ``func`` may be a derivative adflow made: ``jvp(adflow.grad(f), (x,), (v,))``
    gives the gradient and the Hessian-vector product ``H v`` (:mod:`adflow.compose`).

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     return np.sin(x) * x[0], x[1]
    >>> (y, z), (y_dot, z_dot) = adflow.jvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    >>> float(z_dot)  # an np.float64, as z is: the arguments are arrays
    0.0
    """
    for what, given in (("primals", primals), ("tangents", tangents)):
        if not isinstance(given, (tuple, list)):
            # An array here would be unpacked as the argument list: f(x[0], x[1]) instead of f(x).
            raise ArgumentError(f"jvp takes its {what} as a tuple (or list) with one entry per argument, "
                                f"not a {type(given).__name__}",
                                hint="for f(x) write adflow.jvp(f, (x,), (t,))")
    if compose.is_derivative(func):  # the jvp of a derivative: adflow/compose.py
        return compose.jvp(func, primals, tangents, wrt, target)
    func = as_function(func)  # a bound method or callable object: a function of its arguments
    given = len(primals)
    primals = prepare_args(bind(func, tuple(primals)))
    if wrt is None:  # the float arguments given: a default filled in is a constant of the call
        wrt = tuple(k for k in float_positions(argument_types(primals)) if k < given)
    if targets.named(target).per_thread:  # no duals on the device: from reverse sweeps, adflow/cuda/
        return cuda_api.jvp(func, primals, tangents, wrt)
    wrt, _ = normalize_wrt(wrt, len(primals), getattr(func, "__name__", "f"))
    tangents = tuple(tangents)
    check_tangents(tangents, wrt, primals)
    if len(wrt) == 1:
        # The common case runs through a compiled driver: no Python dual objects cross into numba.
        value, flat = forward_pass(func, primals, wrt[0], np.asarray(tangents[0], np.float64).reshape(-1, 1), 1,
                                   target)
    else:
        fwd, _, _ = cached_forward(func, argument_types(primals), wrt, 1, target)
        args = list(primals)
        for k, t in zip(wrt, tangents):
            t = np.asarray(t, dtype=np.float64)
            args[k] = seed(primals[k], t[..., None]) if np.ndim(primals[k]) else seed(float(primals[k]), float(t))
        value, flat = output_tangents(call_compiled(fwd, *args), 1)
    value = value_like(value, primals)
    return value, tangent_like(split_tangents(value, flat), value)


class JvpInside:
    """``adflow.jvp(f, (x, ...), (t, ...))`` called inside a differentiated function, as the front end sees
    it: a helper of the primals then the tangents, returning ``(f(x), J t)``.

    Its compiled form runs ``f``'s forward mode; its reverse mode is ``f``'s reverse sweep on duals
    (adflow/pipeline/derivative_calls.py).
    """

    adflow_transform = "jvp"

    def __init__(self, func, nprimals, wrt=None, target="cpu"):
        python_function(func)
        self.func, self.nprimals, self.target = func, nprimals, target
        self.wrt, _ = normalize_wrt(tuple(range(nprimals)) if wrt is None else wrt, nprimals, func.__name__)
        self.__name__ = f"jvp_{func.__name__}"

    def __call__(self, *args):  # generated code run as Python (target="python") calls it
        return jvp(self.func, args[:self.nprimals], args[self.nprimals:], self.wrt, self.target)

    @property
    def _numba_type_(self):
        return compiled_derivative.numba_type(self)


jvp.called_inside = JvpInside  # how the front end reads adflow.jvp(f, (x,), (t,)) in a function's body


def forward_pass(func, args, wrt, seeds, chunk, target):
    """(value, tangents (outputs, chunk)) of one compiled forward pass seeded with ``seeds`` (n, chunk)."""
    driver, _, _ = cached_forward(func, argument_types(args), (wrt,), chunk, target, drivers.forward_tangents)
    return call_compiled(driver, *args, seeds)


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
        return call_compiled(driver, *args, seeds, np.empty((m, n))).reshape(out_shape + shape)

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
        out = np.empty((rows.shape[0], m, d_in))
        over_rows(driver, (*call, seeds, out), rows.shape[0], granule=max(block, 1))
        return out.reshape((rows.shape[0],) + tuple(out_shape) + (d_in,))

    return run, block, why

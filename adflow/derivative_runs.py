"""What Jacobians and Hessians share: a function's output at a point (one run of the primal, for
its shapes and layout), the run cache's key of a call, and the unit cotangents of an output."""
from __future__ import annotations

import numpy as np
from numba.core.errors import TypingError

from .pipeline import build_report
from .pipeline import build as builds
from .pipeline.results import leaves, rebuild
from .rules.custom import primal_of
from .value_types import argument_types


def _fresh_copies(args) -> list:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


_OWNDATA = 4  # numpy's flag bit that says nothing about an array's numba type


def call_key(args):
    """Argument types and shapes in one flat tuple (``None`` for arguments that need converting or
    numba's own typing): the run cache's key, read in about a microsecond per call."""
    key = []
    for a in args:
        kind = type(a)
        if kind is np.ndarray:
            key += (a.shape, a.dtype.num, a.flags.num & ~_OWNDATA)
        elif kind is float or kind is int or kind is bool:
            key.append(kind)
        else:
            return None
    return tuple(key)


def unit_cotangents(value):
    """The cotangents selecting each number of the output in turn (1 there, 0 elsewhere), laid out like it."""
    zeros = [np.zeros(np.shape(leaf)) for leaf in leaves(value)]
    for i, leaf in enumerate(zeros):
        for j in range(leaf.size):
            leaf.flat[j] = 1.0
            yield rebuild(value, iter(z if z.ndim else float(z) for z in zeros))
            leaf.flat[j] = 0.0


def output_of(func, target, args):
    """``func``'s output at ``args`` (its shapes and layout): one run of the primal on ``target``, on copies.

    A function that writes into its arguments must not change the caller's arrays (nor the point the
    derivative is then taken at).
    """
    primal = primal_of(func)
    primal = getattr(primal, "py_func", primal)
    # numba compiles the primal for this run: a report says how long that takes.
    with build_report.build(builds.describe("output shape (a run of the primal)", func, argument_types(args),
                                            target.name)):
        try:
            return target.primal_runner(primal)(*_fresh_copies(args))
        except TypingError:  # numba cannot compile it as written (it makes adflow.grad(f)(y)): run it as Python
            return primal(*_fresh_copies(args))

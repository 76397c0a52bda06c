"""``target="python"``: the generated code runs as plain Python, to read and step through."""
from __future__ import annotations

import functools

from ..duals.helpers import is_dual, value_of
from ..value_types import argument_types
from .base import Target


class PythonTarget(Target):
    name = "python"

    def wrap(self, function):
        return function

    def wrap_helper(self, primal, forward_version):
        return dual_capable(primal, forward_version)


TARGET = PythonTarget()

_DUAL_CAPABLE: dict = {}


def dual_capable(primal, forward_version):
    """``primal`` for uncompiled generated code that may call it on duals.

    A Hessian on ``target="python"`` runs the reverse sweep on dual numbers, and its forward sweep
    calls the user's helpers as written; ``math.exp(dual)`` has no tangents to give, so calls with
    duals go through the helper's forward-mode version instead (numba's duals need no such detour).
    """
    entry = _DUAL_CAPABLE.get(id(primal))
    if entry is not None and entry[0] is primal:
        return entry[1]

    def call(*args):
        wrt = tuple(i for i, a in enumerate(args) if is_dual(a))
        if not wrt:
            return primal(*args)
        values = tuple(value_of(a) if i in wrt else a for i, a in enumerate(args))
        fwd, _, _ = forward_version(primal, argument_types(values), wrt, args[wrt[0]].k)
        return fwd(*args)

    functools.update_wrapper(call, primal, updated=())
    _DUAL_CAPABLE[id(primal)] = (primal, call)
    return call

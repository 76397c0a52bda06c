"""``target="cpu"`` (the default): generated modules compiled by numba, cached on disk."""
from __future__ import annotations

import inspect
import os

import numba
from numba.core import caching

from ..backends import modules, vector_math
from ..frontend.typeinfer import NoPruneCompiler, jitted, user_callees
from .base import Target


class CpuTarget(Target):
    name = "cpu"

    @property
    def vector_math(self):
        return bool(vector_math.available())

    def wrap(self, function):
        return jitted(function)

    def primal_runner(self, function):
        """``function`` compiled by numba and cached on disk in adflow's cache folder, when it is defined
        at the top level of a file and calls no function of the user's (numba's cache would not see
        such a callee change, nor tell apart functions of one qualified name); else :meth:`wrap`."""
        local = "<locals>" in function.__qualname__ or function.__name__ == "<lambda>" or function.__closure__
        if local or user_callees(function) or not os.path.exists(inspect.getfile(function)):
            return self.wrap(function)
        found = _PRIMAL_RUNNERS.get(id(function))
        if found is None or found[0] is not function:
            dispatcher = numba.njit(function)
            dispatcher._cache = _PrimalCache(function)  # what enable_caching sets, with our locator
            found = _PRIMAL_RUNNERS[id(function)] = (function, dispatcher)
        return found[1]

    def compile(self, module, names, threaded):
        for fname in names:
            setattr(module, fname, numba.njit(cache=True, nogil=fname in threaded,
                                              pipeline_class=NoPruneCompiler)(getattr(module, fname)))


TARGET = CpuTarget()


_PRIMAL_RUNNERS: dict = {}


class _PrimalLocator(caching.UserProvidedCacheLocator):
    """Where a user's function compiled on its own (a Jacobian's run of it, for its output's shape)
    is cached: adflow's cache folder, not beside the user's file.  Invalidated as numba's own cache
    is, by the size and modification time of the function's file."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(modules.primals_folder() / self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func, py_file):
        return super(caching.UserProvidedCacheLocator, cls).from_function(py_func, py_file)


class _PrimalCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [_PrimalLocator]


class _PrimalCache(caching.FunctionCache):
    _impl_class = _PrimalCacheImpl

"""``target="cpu"`` (the default): generated modules compiled by numba, cached on disk."""
from __future__ import annotations

import numba

from ..backends import vector_math
from ..frontend.typeinfer import NoPruneCompiler, jitted
from .base import Target


class CpuTarget(Target):
    name = "cpu"

    @property
    def vector_math(self):
        return bool(vector_math.available())

    def wrap(self, function):
        return jitted(function)

    def compile(self, module, names, threaded):
        for fname in names:
            setattr(module, fname, numba.njit(cache=True, nogil=fname in threaded,
                                              pipeline_class=NoPruneCompiler)(getattr(module, fname)))


TARGET = CpuTarget()

"""Zero starts and resets of adjoints that are assigned again before anything reads them go.

The reverse sweep starts every scalar adjoint at zero and resets it after each use; once
:mod:`.known_zero` has made first contributions assignments, most of those zeros are overwritten
unread (the Lorenz adjoint held 111 of them).  numba's LLVM drops such stores to registers, but
they are most of what a reader sees.  This pass removes them with :mod:`.dead_code`'s liveness
walk, touching only ``v_bar = <zero>`` statements of the reverse transform's adjoints, so
nothing else can change.  A pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import copy

import gast

from .dead_code import eliminate
from .known_zero import adjoint_names, is_zero


def drop_dead_resets(fdef: gast.FunctionDef, adjoints=None) -> gast.FunctionDef:
    """A copy of ``fdef`` without the adjoint zeros nothing reads (``adjoints`` as in :mod:`.known_zero`)."""
    fdef = copy.deepcopy(fdef)
    names = adjoint_names(fdef) if adjoints is None else set(adjoints)
    if names:
        fdef.body = eliminate(fdef.body, lambda stmt: (isinstance(stmt, gast.Assign) and is_zero(stmt.value)
                                                       and stmt.targets[0].id in names))
    return fdef

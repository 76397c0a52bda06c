"""Statements of the reverse sweep whose result nothing reads go: zero resets, recomputations, copies.

The reverse sweep starts every scalar adjoint at zero and resets it after each use; once
:mod:`.known_zero` has made first contributions assignments, most of those zeros are overwritten
unread (the Lorenz adjoint held 111 of them).  A loop that recomputes its body in the reverse
sweep recomputes values only the forward sweep needed (``x = _x8``, overwritten by the restore
that follows), and :mod:`.copies` leaves copies nothing reads.  numba's LLVM drops such stores
to registers, but they are most of what a reader sees, and numba types and lowers each of them.

This pass removes them with :mod:`.dead_code`'s liveness walk over the reverse sweep (from the
statement :attr:`Sweeps.reverse_sweep <adflow.reverse.sweeps.Sweeps.reverse_sweep>` on): only
assignments of a name whose value is :func:`~adflow.reverse.dead_code.pure`.  The forward sweep is
left as written: an unread assignment there may still decide a variable's numba type.  A pure
function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree
from .dead_code import eliminate, pure


def drop_dead_reverse(fdef: gast.FunctionDef) -> gast.FunctionDef:
    """A copy of ``fdef`` without the statements of its reverse sweep nothing reads."""
    sweeps = getattr(fdef, "sweeps", None)
    start = next((k for k, stmt in enumerate(fdef.body) if sweeps is not None and stmt is sweeps.reverse_sweep),
                 None)
    if start is None:
        return fdef
    fdef = copy_tree(fdef)
    fdef.body = fdef.body[:start] + eliminate(fdef.body[start:], lambda stmt: pure(stmt.value))
    return fdef

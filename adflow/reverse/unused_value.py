"""``grad`` throws the value away: a copy of the vjp without the work only the value needed.

The vjp returns ``(value, gradients)``.  When nothing in the reverse sweep reads what the forward
sweep computed (no tape, everything recomputed per reverse iteration, as in a Rosenbrock loop),
the forward loop exists only for the value, and ``adflow.grad`` discards it.  numba does not
delete that loop by itself, so :func:`without_value` returns a copy of the vjp that returns
``(0.0, gradients)`` and drops every statement whose result nothing live reads any more.

The elimination is :mod:`.dead_code`'s backward liveness walk over the structured code.  Only plain
assignments to a name whose right-hand side has no effect are dropped: arithmetic without
division, indexing, attributes and calls of NumPy functions and of adflow's pure runtime helpers
(``math`` functions and divisions can raise, and the primal would).  Writes into
arrays, tape operations, calls of user helpers (which may write into their arguments) and every
other statement stay, and so does a loop whose body still holds one of them.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree
from .dead_code import eliminate, pure
from .dead_tapes import drop_unread_tapes


def without_value(fdef: gast.FunctionDef, name: str) -> gast.FunctionDef | None:
    """A copy of the vjp ``fdef`` named ``name`` that returns ``(0.0, gradients)``, its dead code
    removed; ``None`` when its last statement is not the ``return (value, gradients)`` expected."""
    fdef = copy_tree(fdef)
    last = fdef.body[-1] if fdef.body else None
    if not (isinstance(last, gast.Return) and isinstance(last.value, gast.Tuple) and len(last.value.elts) == 2):
        return None
    last.value.elts[0] = gast.Constant(value=0.0, kind=None)
    fdef.body = eliminate(fdef.body, lambda stmt: pure(stmt.value))
    fdef = drop_unread_tapes(fdef)  # the pushes of what the value alone read back
    fdef.name = name
    return fdef

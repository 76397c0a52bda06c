"""Tapes nothing reads: their pushes go.

The vjp pushes a loop's index (``_k_tape[_k_top] = k``) so that its reverse sweep can give ``k``
back the value it had before the loop, for the code after it and for the value.  ``grad``'s copy
of the vjp (:mod:`.unused_value`) drops those restores when nothing reads ``k`` afterwards, but a
push is a write into an array, which liveness keeps: each iteration of the forward sweep still
stores a number nothing reads, and reserves room for it.

:func:`drop_unread_tapes` removes every statement that writes a tape which no statement reads (no
``_x_tape[...]`` load, no ``_x_tape.pop()``, no other use of the name): its allocation, its
``reserve``, its pushes and appends.  The counters (``_x_top``) are then plain assignments nothing
reads, which :func:`.dead_code.eliminate` removes with the rest.  A pure function from a
``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree, rewrite_blocks
from .dead_code import eliminate, pure


def drop_unread_tapes(fdef: gast.FunctionDef) -> gast.FunctionDef:
    written, own = set(), set()
    for stmt in gast.walk(fdef):
        tape = _tape_write(stmt)
        if tape is not None:
            written.add(tape)
            # the _t in _t = reserve(_t, ...) or _t.append(v) is not a read of _t (v may read another tape)
            own |= {id(n) for n in gast.walk(stmt) if isinstance(n, gast.Name) and n.id == tape}
    read = {n.id for n in gast.walk(fdef)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in written and id(n) not in own}
    unread = written - read
    if not unread:
        return fdef
    fdef = copy_tree(fdef)
    fdef.body = rewrite_blocks(fdef.body, lambda stmts: _without(stmts, unread))
    fdef.body = eliminate(fdef.body, lambda stmt: pure(stmt.value))
    return fdef


def _without(stmts, unread):
    kept = [s for s in stmts if _tape_write(s) not in unread]
    return kept if kept or not stmts else [gast.Pass()]  # a body emptied keeps a statement


def _tape_write(stmt):
    """The tape a statement only writes (``_t = np.empty(...)``, ``_t = reserve(_t, ...)``,
    ``_t[_top] = v``, ``_t.append(v)``), or None."""
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, gast.Name) and _is_tape(target.id):
            return target.id
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) and _is_tape(target.value.id):
            return target.value.id
    if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call):
        func = stmt.value.func
        if isinstance(func, gast.Attribute) and func.attr == "append" and isinstance(func.value, gast.Name) \
                and _is_tape(func.value.id):
            return func.value.id
    return None


def _is_tape(name: str) -> bool:
    return name.startswith("_") and name.endswith("_tape")

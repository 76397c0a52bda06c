"""Tapes nothing reads: their pushes go.

The vjp pushes a loop's index (``_k_tape[_k_top] = k``) so that its reverse sweep can give ``k``
back the value it had before the loop, for the code after it and for the value.  ``grad``'s copy
of the vjp (:mod:`.unused_value`) drops those restores when nothing reads ``k`` afterwards, but a
push is a write into an array, which liveness keeps: each iteration of the forward sweep still
stores a number nothing reads, and reserves room for it.

:func:`drop_unread_tapes` removes every statement that writes a tape which no statement reads (no
``_x_tape[...]`` load, no ``_x_tape.pop()``, no other use of the name): its allocation, its
``reserve``, its pushes and appends.  The counters (``_x_top``) are then plain assignments nothing
reads, which :func:`.dead_code.eliminate` removes with the rest.

A tape read only by restores (``v = _v_tape.pop()``, ``v = _v_tape[_v_top]``) whose names nothing
reads afterwards is unread too: its restores go first.  (When another pass has removed the reverse
sweep's last reads of a view ``_v2 = icf[j, :d]``, its tape of views was pushed and popped for
nothing.)  All of a tape's restores go or none, so pushes and pops stay paired.  A pure function
from a ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree, rewrite_blocks
from .dead_code import eliminate, live_after_each, pure


def drop_unread_tapes(fdef: gast.FunctionDef) -> gast.FunctionDef:
    dead = _dead_restores(fdef)
    if dead:
        fdef = copy_tree(fdef)
        dead = _dead_restores(fdef)  # the copy's statements
        fdef.body = rewrite_blocks(fdef.body, lambda stmts: [s for s in stmts if id(s) not in dead])
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


def _dead_restores(fdef) -> set:
    """Ids of the restores of every tape read only by restores whose names nothing reads afterwards."""
    restores = {}  # tape -> its restore statements
    in_restores = set()  # ids of the tape names the restores read, or the tape's writes name
    for stmt in gast.walk(fdef):
        tape = _restored_tape(stmt)
        if tape is not None:
            restores.setdefault(tape, []).append(stmt)
        tape = tape or _tape_write(stmt)
        if tape is not None:
            in_restores |= {id(n) for n in gast.walk(stmt) if isinstance(n, gast.Name) and n.id == tape}
    if not restores:
        return set()
    elsewhere = {n.id for n in gast.walk(fdef) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
                 and n.id in restores and id(n) not in in_restores}
    candidates = [s for tape, stmts in restores.items() if tape not in elsewhere for s in stmts]
    live = live_after_each(fdef.body, candidates)
    dead = set()
    for tape, stmts in restores.items():
        if tape not in elsewhere and all(s.targets[0].id not in live[id(s)] for s in stmts):
            dead |= {id(s) for s in stmts}
    return dead


def _restored_tape(stmt):
    """The tape of ``v = _t.pop()`` or ``v = _t[i]``, or None."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)):
        return None
    value = stmt.value
    if (isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and value.func.attr == "pop"
            and not value.args and isinstance(value.func.value, gast.Name) and _is_tape(value.func.value.id)):
        return value.func.value.id
    if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) and _is_tape(value.value.id):
        return value.value.id
    return None


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

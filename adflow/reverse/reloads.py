"""A value read back from the tape again, where the variable still holds it, is not read again.

A loop that recomputes its body in the reverse sweep restores each iteration's start values
(``z = _z_tape[_z_top - 1]``) and, where the forward sweep overwrote ``z``, restores it once more
after that assignment's adjoint.  Once :mod:`.dead_reverse` has removed the recomputed assignment
nothing reads (``z = _z8``), the second restore assigns ``z`` the value it holds.  This pass drops
an assignment ``v = e`` that repeats one made earlier in the same statement list, or in a list
around it, when nothing since assigned ``v`` or a name ``e`` reads, nor, unless ``e`` is a name or a constant,
wrote into any array: ``e`` may read one, or make the array ``v`` names, and a write through any
alias changes it (``x_bar = zeros_like_float(x)`` and ``x_bar[0] += g`` between its repeats).  ``e`` must be :func:`~adflow.reverse.dead_code.pure`.  A pure function from
the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree
from .dead_code import pure


def drop_reloads(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    fdef.body = _block(fdef.body, {})
    return fdef


def _block(stmts, held) -> list:
    """``stmts`` without the repeated assignments; ``held`` maps ``v`` to what it certainly holds: (the
    dump of the expression, the names it reads, whether a write into an array may change it)."""
    held = dict(held)
    out = []
    for stmt in stmts:
        if _assigns_name(stmt) and held.get(stmt.targets[0].id, (None,))[0] == gast.dump(stmt.value):
            continue
        if isinstance(stmt, (gast.If, gast.For, gast.While)):
            stored, writes = _effects(stmt)
            inner = _forget(held, stored, writes)
            stmt.body = _block(stmt.body, inner)
            stmt.orelse = _block(stmt.orelse, inner)
            held = inner
            out.append(stmt)
            continue
        stored, writes = _effects(stmt)
        held = _forget(held, stored, writes)
        if _assigns_name(stmt) and pure(stmt.value) and stmt.targets[0].id not in _reads(stmt.value):
            held[stmt.targets[0].id] = (gast.dump(stmt.value), _reads(stmt.value),
                                        not isinstance(stmt.value, (gast.Name, gast.Constant)))
        out.append(stmt)
    return out


def _assigns_name(stmt) -> bool:
    return isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)


def _reads(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _effects(stmt):
    """(the names ``stmt`` stores anywhere in it, whether it may write into an array)."""
    stored = {n.id for n in gast.walk(stmt) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    writes = any(isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store) for n in gast.walk(stmt)) \
        or any(isinstance(n, gast.Call) and not pure(n) for n in gast.walk(stmt))
    return stored, writes


def _forget(held, stored, writes) -> dict:
    return {v: fact for v, fact in held.items()
            if v not in stored and not (fact[1] & stored) and not (writes and fact[2])}

"""Adjoint temporaries that only copy another adjoint are read as that adjoint, and go.

One statement per operation makes the reverse sweep pass adjoints along in copies: reversing
``x = _x8`` and ``_x8 = x + _x7`` gives ``_x8_bar = x_bar``, ``_x7_bar = _x8_bar``,
``_x6_bar = _x7_bar * _x1``.  A hand-written adjoint says ``_x6_bar = x_bar * _x1``.  This pass
reads ``b`` wherever a copy ``a = b`` of adjoints stands for it (until either is assigned again),
drops the copies nothing reads any more, and with them the self-assignments (``x_bar = x_bar``)
that reading through copies leaves.  LLVM does the same for registers: the gain is code that
reads like an adjoint written by hand, and less of it for numba to type and lower.

Copies are followed within one statement list, into loops and branches inside it only where they
assign neither name; only temporaries (adjoints whose name starts with ``_``) are replaced, so
the adjoints of the user's variables keep their names.  A pure function from the generated
``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree
from .dead_code import eliminate
from .known_zero import adjoint_names


def propagate_copies(fdef: gast.FunctionDef, adjoints=None) -> gast.FunctionDef:
    """A copy of ``fdef`` reading through adjoint copies (``adjoints`` as in :mod:`.known_zero`)."""
    names = adjoint_names(fdef) if adjoints is None else set(adjoints)
    if not names:
        return fdef
    fdef = copy_tree(fdef)
    temporaries = {n for n in names if n.startswith("_")}
    fdef.body = _block(fdef.body, temporaries, names)
    fdef.body = eliminate(fdef.body, lambda stmt: _is_copy(stmt, temporaries, names) is not None)
    return fdef


def _is_copy(stmt, temporaries, adjoints):
    """``(a, b)`` for ``a = b`` with ``a`` a temporary adjoint and ``b`` an adjoint, else None."""
    if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)
            and isinstance(stmt.value, gast.Name) and stmt.targets[0].id in temporaries
            and stmt.value.id in adjoints and stmt.targets[0].id != stmt.value.id):
        return stmt.targets[0].id, stmt.value.id
    return None


def _block(stmts, temporaries, adjoints) -> list:
    """``stmts`` with reads of copied names replaced, copies live until either name is assigned."""
    out = []
    copies: dict[str, str] = {}  # a -> b for a live copy a = b
    for stmt in stmts:
        if isinstance(stmt, (gast.If, gast.For, gast.While)):
            stored = _stored(stmt)
            live = {a: b for a, b in copies.items() if a not in stored and b not in stored}
            _Reads(live).visit_header(stmt)
            for field in ("body", "orelse"):
                setattr(stmt, field, _inner(getattr(stmt, field), live, temporaries, adjoints))
            copies = {a: b for a, b in copies.items() if a not in stored and b not in stored}
            out.append(stmt)
            continue
        _Reads(copies).visit_reads(stmt)
        if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Name) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id == stmt.value.id:
            continue  # v = v, left by reading through a copy
        stored = _stored(stmt)
        copies = {a: b for a, b in copies.items() if a not in stored and b not in stored}
        found = _is_copy(stmt, temporaries, adjoints)
        if found is not None:
            copies[found[0]] = found[1]
        out.append(stmt)
    return out


def _inner(stmts, outer, temporaries, adjoints) -> list:
    """A nested block: the outer copies hold throughout it (it assigns neither name), plus its own."""
    if not outer:
        return _block(stmts, temporaries, adjoints)
    for stmt in stmts:
        _Reads(outer).visit(stmt)
    return _block(stmts, temporaries, adjoints)


def _stored(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


class _Reads(gast.NodeTransformer):
    """Replaces the names read (not stored) by what the copies say they hold."""

    def __init__(self, copies):
        self.copies = copies

    def visit_Name(self, node):
        if isinstance(node.ctx, gast.Load) and node.id in self.copies:
            node.id = self.copies[node.id]
        return node

    def visit_reads(self, stmt):
        """Rewrite what ``stmt`` reads, before what it stores (``a += b`` reads ``a``: left alone)."""
        if not self.copies:
            return
        if isinstance(stmt, gast.AugAssign):
            self.visit(stmt.value)
            if not isinstance(stmt.target, gast.Name):
                self.visit(stmt.target)
            return
        self.visit(stmt)

    def visit_header(self, stmt):
        if not self.copies:
            return
        if isinstance(stmt, gast.For):
            self.visit(stmt.iter)
        else:
            self.visit(stmt.test)

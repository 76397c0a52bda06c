"""Equal contributions of one statement to one adjoint are added once, doubled.

An operation that reads a variable twice (``y = z * z``) gives it two equal contributions,
``z_bar += y_bar * z`` twice, from the rule of each operand; a hand-written adjoint adds
``2.0 * y_bar * z`` once.  This pass merges two adjacent contributions written for the same
source line into the same adjoint when their values are the same expression:
``v_bar += 2.0 * (e)``, or ``v_bar = 2.0 * (e)`` after :mod:`.known_zero` made the first an
assignment (``e + e`` is exactly ``2.0 * e``).  Into an adjoint already holding something the
sum is rounded once where it was rounded twice: the same derivative, to the last bit or one
unit in it.  A pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import copy

import gast

from ..syntax.nodes import const, copy_tree, names_read
from .known_zero import adjoint_names


def merge_equal_contributions(fdef: gast.FunctionDef, adjoints=None) -> gast.FunctionDef:
    """A copy of ``fdef`` with equal adjacent contributions merged (``adjoints`` as in :mod:`.known_zero`)."""
    fdef = copy_tree(fdef)
    names = adjoint_names(fdef) if adjoints is None else set(adjoints)
    fdef.body = _block(fdef.body, names)
    return fdef


def _block(stmts, adjoints) -> list:
    out = []
    for stmt in stmts:
        if isinstance(stmt, gast.If):
            stmt.body, stmt.orelse = _block(stmt.body, adjoints), _block(stmt.orelse, adjoints)
        elif isinstance(stmt, (gast.For, gast.While)):
            stmt.body = _block(stmt.body, adjoints)
        if out and _adds_into(out[-1]) in adjoints and _mergeable(out[-1], stmt):
            out[-1] = _doubled(out[-1])
            continue
        out.append(stmt)
    return out


def _adds_into(stmt):
    """The adjoint ``stmt`` adds into or starts (``v += e`` or ``v = e``), else None."""
    if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add) and isinstance(stmt.target, gast.Name):
        return stmt.target.id
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name):
        return stmt.targets[0].id
    return None


def _mergeable(first, second) -> bool:
    target = _adds_into(first)
    return (target is not None and isinstance(second, gast.AugAssign) and _adds_into(second) == target
            and getattr(first, "lineno", None) == getattr(second, "lineno", None)
            and getattr(first, "lineno", None) is not None
            and target not in names_read([first.value])
            and gast.dump(first.value) == gast.dump(second.value))


def _doubled(stmt):
    stmt = copy.copy(stmt)
    stmt.value = gast.BinOp(left=const(2.0), op=gast.Mult(), right=stmt.value)
    return stmt

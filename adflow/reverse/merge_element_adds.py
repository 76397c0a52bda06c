"""Contributions into the same element of an adjoint array are added into it once.

``x[i]`` read twice in a statement (or in two statements of a fused loop) gives ``x_bar[i]`` two
contributions, ``x_bar[i] += a`` and, a few lines later, ``x_bar[i] += b``: two loads and two
stores of the same element, where a hand-written adjoint adds ``a + b`` once.  This pass moves
the first contribution into the second, ``x_bar[i] += a + b``, where the statements between them
neither read nor write ``x_bar``, assign a name the index reads or a name ``a`` reads, nor are
compound.  ``(x_bar[i] + a) + b`` becomes ``x_bar[i] + (a + b)``: rounded once where it was
rounded twice, the last bit may differ.  A pure function from the generated ``FunctionDef`` to a
new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import assigned_names, copy_tree, names_read, rewrite_blocks


def merge_element_adds(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    fdef.body = rewrite_blocks(fdef.body, _block)
    return fdef


def _block(stmts) -> list:
    """One statement list, its nested ones already rewritten."""
    merged = set()
    for k, first in enumerate(stmts):
        if k in merged or _element_add(first) is None:
            continue
        array, index = _element_add(first)
        blocked = names_read([first.value]) | names_read([index.node])
        for m in range(k + 1, len(stmts)):
            stmt = stmts[m]
            if m not in merged and _element_add(stmt) == (array, index) and not _touches(stmt.value, array):
                stmts[m] = _with_value(stmt, gast.BinOp(left=first.value, op=gast.Add(), right=stmt.value))
                merged.add(k)
                break
            if isinstance(stmt, (gast.If, gast.For, gast.While)) or _touches(stmt, array) \
                    or assigned_names([stmt]) & blocked:
                break
    return [s for k, s in enumerate(stmts) if k not in merged]


def _element_add(stmt):
    """(array, index) for ``array[index] += e`` with a name for the array, else None."""
    if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add) and isinstance(stmt.target, gast.Subscript) \
            and isinstance(stmt.target.value, gast.Name):
        return stmt.target.value.id, _Key(stmt.target.slice)
    return None


class _Key:
    """An index compared by its source: ``x_bar[_i1]`` and ``x_bar[_i1]`` are the same element."""

    def __init__(self, node):
        self.node, self.text = node, gast.dump(node)

    def __eq__(self, other):
        return isinstance(other, _Key) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


def _touches(node, array) -> bool:
    return any(isinstance(n, gast.Name) and n.id == array for n in gast.walk(node))


def _with_value(stmt, value):
    new = gast.AugAssign(target=stmt.target, op=stmt.op, value=value)
    new.lineno = getattr(stmt, "lineno", None)
    new.adds_into_view = getattr(stmt, "adds_into_view", False)  # reverse/view_adds.py
    return new

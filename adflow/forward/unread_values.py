"""Values a forward sweep computes only to throw away.

A Jacobian reads the tangents of ``f``'s result, never its value.  In
``y = B @ np.tanh(x) + np.sin(B @ x)`` the value of ``np.sin(...)`` feeds only the value of the
sum, which feeds only ``y``'s value: computing those 2000 sines is wasted work (the tangents need
``cos``, not ``sin``).  This module finds such statements; the forward transform then computes
them with :mod:`adflow.duals.tangents_only`, which skips the value (and fills it with NaN, so a
value read by mistake shows in the result instead of passing as a number).

The analysis is by variable name over the whole function, so loops and branches need no special
care: a name is *unread* when every statement assigning it is an elementwise primitive whose
tangents are wanted (its target is dual) or a plain copy, and every place that mentions it only
feeds the tangents of another unread name, through a copy or a partial that does not read it
(``a + b`` reads neither operand; ``a * b`` reads both; ``exp(a)`` reads its own value, hence
``a``).  Anything else (an index, a condition, a helper call, a ``return`` whose value is read)
reads the value.
"""
from __future__ import annotations

import gast

from ..frontend import ops as O
from ..syntax.nodes import statements
from ..value_types import is_array_type
from ..duals import formulas


def unread_values(fdef, ops: dict, varied: set, vartypes: dict, result_read: bool) -> set[int]:
    """The ids of the assignments in ``fdef`` whose values nothing reads.

    ``ops`` maps statement ids to their classified :class:`~adflow.frontend.ops.Op`; ``varied``
    holds the dual variables; ``result_read`` says whether the caller reads the returned value.
    """
    candidates: dict[str, list] = {}   # name -> the eligible statements assigning it
    tracked = set()                    # names assigned only by eligible statements and plain copies
    assigned_otherwise = {a.id for a in fdef.args.args}
    uses = []                          # (name, the name it feeds or None, whether it reads the value)
    for stmt in statements(fdef.body):
        op = ops.get(id(stmt)) if isinstance(stmt, gast.Assign) else None
        if op is not None and _eligible(op, varied, vartypes):
            candidates.setdefault(op.target, []).append(stmt)
            tracked.add(op.target)
            read = formulas.values_read_by_partials(op.prim)
            for param, atom in op.args.items():
                if isinstance(atom, gast.Name):
                    uses.append((atom.id, op.target, "ans" in read or param in read))
            continue
        if op is not None and op.kind == O.COPY and isinstance(op.args["x"], (gast.Name, gast.Constant)):
            # ``_result5 = _result2``: how the normaliser joins the branches' returns.
            tracked.add(op.target)
            if isinstance(op.args["x"], gast.Name):
                uses.append((op.args["x"].id, op.target, False))
            continue
        for node in _own_nodes(stmt):
            for n in gast.walk(node):
                if not isinstance(n, gast.Name):
                    continue
                if isinstance(n.ctx, gast.Store):
                    assigned_otherwise.add(n.id)
                elif not (isinstance(stmt, gast.Return) and not result_read):
                    uses.append((n.id, None, True))
    unread = tracked - assigned_otherwise
    changed = True
    while changed:  # a name read through another name that turns out to be read is read too
        changed = False
        for used, feeds, reads_value in uses:
            if used in unread and (feeds is None or reads_value or feeds not in unread):
                unread.discard(used)
                changed = True
    return {id(stmt) for target in unread for stmt in candidates.get(target, ())}


def _eligible(op, varied, vartypes) -> bool:
    """An elementwise primitive on array operands, producing a dual array, written as one call."""
    return (op.kind == O.PRIMITIVE and op.target in varied and formulas.is_elementwise(op.prim)
            and not op.statics and is_array_type(vartypes.get(op.target))
            and set(op.args) == set(formulas.signature(op.prim).params)
            and all(isinstance(a, (gast.Name, gast.Constant)) for a in op.args.values()))


def _own_nodes(stmt):
    """The parts of ``stmt`` that belong to it, not to the statements nested in it."""
    if isinstance(stmt, gast.If):
        return [stmt.test]
    if isinstance(stmt, gast.While):
        return [stmt.test]
    if isinstance(stmt, gast.For):
        return [stmt.target, stmt.iter]
    return [stmt]

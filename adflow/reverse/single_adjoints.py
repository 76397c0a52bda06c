"""Adjoints with one contribution start as that contribution, not as zeros plus it.

The reverse transform gives every active array an adjoint ``v_bar = zeros_like_float(v, seed)``
and adds each contribution into it (``v_bar += unbroadcast(g, v)``).  Most temporaries of
NumPy-style code are read once, so their adjoint gets exactly one contribution: allocating and
zeroing an array only to add one array into it costs two passes over memory for nothing (for
``np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + ...)`` on a million elements, most of the gradient's
time).  This pass rewrites such pairs into ``v_bar = unbroadcast(g, v)``.

The rewrite is applied only where it cannot change a number:

* the contribution is a top-level statement (it runs exactly once) and the only write of
  ``v_bar`` besides its zero start, with no read of ``v_bar`` before it;
* its value is ``unbroadcast(g, v)``, ``sum_adjoint(g, v, axis)`` or a ``dot_adjoint_*`` of ``v``,
  which are shaped like ``v`` as the zeros were;
* ``v_bar`` may now share memory with an adjoint read in ``g`` (``unbroadcast`` returns ``g``
  itself when the shapes agree), so neither ``v_bar`` nor anything read in ``g`` may be modified in
  place (``+=``, an element write, or passed to a call statement) after the contribution;
* the adjoints the function returns keep their own zeros (they must never alias internals).

A pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree, names_read

# Adjoint helpers whose result has the shape of one argument, the primal variable: its position.
SHAPED_LIKE_PRIMAL = {"unbroadcast": 1, "sum_adjoint": 1, "dot_adjoint_a": 1, "dot_adjoint_b": 2}


def _call_name(node) -> str | None:
    return node.func.id if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) else None


def _base_name(node) -> str | None:
    while isinstance(node, (gast.Subscript, gast.Attribute)):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


def modified_in_place(stmt) -> set[str]:
    """Names whose object ``stmt`` may change (not a rebinding: ``a = b`` changes no object)."""
    out = set()
    for node in gast.walk(stmt):
        if isinstance(node, gast.AugAssign):
            out.add(_base_name(node.target))
        elif isinstance(node, gast.Assign):
            out.update(_base_name(t) for t in node.targets if not isinstance(t, gast.Name))
        elif isinstance(node, gast.Expr) and isinstance(node.value, gast.Call):
            call = node.value
            out.update(_base_name(a) for a in call.args)
            out.add(_base_name(call.func) if isinstance(call.func, gast.Attribute) else None)
    out.discard(None)
    return out


def changed_names(stmt) -> set[str]:
    """Names ``stmt`` binds (anywhere inside it) or whose object it may change in place."""
    bound = {n.id for n in gast.walk(stmt) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    return bound | modified_in_place(stmt)


def _zero_start(stmt):
    """``(v_bar, v)`` for ``v_bar = zeros_like_float(v, seed)``, else None."""
    if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)
            and _call_name(stmt.value) == "zeros_like_float" and isinstance(stmt.value.args[0], gast.Name)):
        return stmt.targets[0].id, stmt.value.args[0].id
    return None


def _single_contribution(body, facts, start, bar, primal):
    """Index of the one statement that adds into ``bar``, when the rewrite is safe; else None.

    ``facts[i]`` is ``(changed_names, names_read, modified_in_place)`` of ``body[i]``.
    """
    writes = [i for i in range(start + 1, len(body)) if bar in facts[i][0]]
    if len(writes) != 1:
        return None
    j = writes[0]
    stmt = body[j]
    if not (isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add)
            and isinstance(stmt.target, gast.Name) and stmt.target.id == bar):
        return None
    value = stmt.value
    position = SHAPED_LIKE_PRIMAL.get(_call_name(value))
    if not (position is not None and len(value.args) > position
            and isinstance(value.args[position], gast.Name) and value.args[position].id == primal):
        return None
    if any(bar in facts[i][1] for i in range(start + 1, j + 1)):
        return None
    shared = (names_read([value]) - {primal}) | {bar}
    if any(facts[i][2] & shared for i in range(j + 1, len(body))):
        return None
    return j


def assign_single_contributions(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    body = fdef.body
    returned = names_read([body[-1]]) if isinstance(body[-1], gast.Return) else set()
    # What each top-level statement changes and reads, worked out once (not per candidate).
    facts = [(changed_names(s), names_read([s]), modified_in_place(s)) for s in body]
    drop = set()
    for start, stmt in enumerate(body):
        found = _zero_start(stmt)
        if found is None or found[0] in returned:
            continue
        bar, primal = found
        j = _single_contribution(body, facts, start, bar, primal)
        if j is None:
            continue
        contribution = body[j]
        body[j] = gast.Assign(targets=[gast.Name(id=bar, ctx=gast.Store(), annotation=None, type_comment=None)],
                              value=contribution.value, type_comment=None)
        body[j].lineno = getattr(contribution, "lineno", None)
        drop.add(start)
    fdef.body = [s for i, s in enumerate(body) if i not in drop]
    return fdef

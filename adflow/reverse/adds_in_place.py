"""A dot product's adjoint added into an adjoint array in place: ``w_bar = add_dot_adjoint_b(w_bar, g, x, w)``.

The table's rule for ``z = np.dot(x, w)`` gives ``w_bar += dot_adjoint_b(z_bar, x, w)``: the
product ``z_bar * x`` is a new array, then added.  In a loop over rows (a loss summed over
samples, a batch of per-sample gradients) that is an allocation per row, more than the row's
arithmetic for short rows.  The accumulating form adds each element into ``w_bar`` as it is
computed (runtime.add_dot_adjoint_a/_b; other operand shapes add the product as before).

Only adds into a name (an adds into a part of an array is :mod:`.view_adds`'s).  The numbers are
the same bit for bit: each element gets the same product added.  A pure function from the
generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import call, copy_tree, name, rewrite_blocks, store

# Runtime helpers whose result is added into an adjoint -> their form that adds it into one.
ACCUMULATING = {"dot_adjoint_a": "add_dot_adjoint_a", "dot_adjoint_b": "add_dot_adjoint_b"}


def add_in_place(fdef: gast.FunctionDef) -> gast.FunctionDef:
    if not any(isinstance(n, gast.Name) and n.id in ACCUMULATING for n in gast.walk(fdef)):
        return fdef
    fdef = copy_tree(fdef)
    fdef.body = rewrite_blocks(fdef.body, lambda stmts: [_rewritten(s) for s in stmts])
    return fdef


def _rewritten(stmt):
    if not (isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add) and isinstance(stmt.target, gast.Name)
            and isinstance(stmt.value, gast.Call) and isinstance(stmt.value.func, gast.Name)
            and stmt.value.func.id in ACCUMULATING and not stmt.value.keywords):
        return stmt
    bar = stmt.target.id
    node = gast.Assign(targets=[store(bar)], value=call(ACCUMULATING[stmt.value.func.id], name(bar), *stmt.value.args),
                       type_comment=None)
    node.lineno = getattr(stmt, "lineno", None)
    return node

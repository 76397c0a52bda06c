"""The gradient-only vjp for a loop over rows: each gradient computed in its row of the output.

A batch of per-row gradients (``grad(f, batch=...)``, a reverse Jacobian's rows) calls the vjp once
per row; the vjp starts each gradient as a new array (``w_bar = empty_like_float(w, c)``), returns
it, and the loop copies it into row ``i`` of the result.  For short rows the allocation and the
copy cost more than the row's arithmetic.  :func:`into_rows` writes a copy of the gradient-only vjp
(:mod:`.unused_value`) that takes the result arrays and the row, and starts each gradient as the
row itself::

    def f_grad_rows(w, x, y, _cotangent, _out0, _row):
        ...
        w_bar = row_of(_out0, _row)            # was: w_bar = empty_like_float(w, _cotangent)
        ...
        settle_row(_out0, _row, w_bar)         # nothing to copy: w_bar is the row
        return (0.0, (w_bar,))

``zeros_like_float`` becomes ``zeroed_row``.  Only for an argument the function never rebinds, whose
adjoint starts once; a gradient that is a number, of a rebound argument, or that the vjp binds to
another array later, is stored by ``settle_row`` as the loop stored it.  A pure function from the
gradient-only ``FunctionDef`` to a new one; the numbers are the same bit for bit.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import assigned_names, call, copy_tree, fresh_name, name, names_in, param, statements

_STARTS = {"empty_like_float": "row_of", "zeros_like_float": "zeroed_row"}


def into_rows(fdef: gast.FunctionDef, new_name: str, gradients) -> gast.FunctionDef | None:
    """``fdef`` (a vjp returning ``(value, (gradients...))``) as ``new_name(params..., cotangent,
    outs..., row)``; ``gradients``: the adjoint names it returns, one per output array."""
    last = fdef.body[-1] if fdef.body else None
    if not (isinstance(last, gast.Return) and isinstance(last.value, gast.Tuple) and len(last.value.elts) == 2):
        return None
    fdef = copy_tree(fdef)
    last = fdef.body[-1]
    taken = names_in(fdef)
    outs = [fresh_name(f"_out{j}", taken) for j in range(len(gradients))]
    row = fresh_name("_row", taken)
    # Only the gradient of an argument the function never rebinds: the adjoint of a rebound one
    # (x = x[1:] - x[:-1]) starts once per value, of that value's shape (CI fuzz, slow tier).
    unchanged = {a.id for a in fdef.args.args} - assigned_names(fdef.body)
    starts = [_started_gradient(s, gradients) for s in statements(fdef.body)]
    for stmt in fdef.body:  # the gradients start at the top level
        bar = _started_gradient(stmt, gradients)
        start = stmt.value.args[0] if bar is not None and stmt.value.args else None
        if isinstance(start, gast.Name) and start.id in unchanged and starts.count(bar) == 1:
            stmt.value = call(_STARTS[stmt.value.func.id], name(outs[gradients.index(bar)]), name(row))
    settles = []
    for bar, out in zip(gradients, outs):
        node = gast.Expr(value=call("settle_row", name(out), name(row), name(bar)))
        node.lineno = getattr(last, "lineno", None)
        settles.append(node)
    fdef.body[-1:] = settles + [last]
    fdef.args.args = fdef.args.args + [param(o) for o in outs + [row]]
    fdef.name = new_name
    return fdef


def _started_gradient(stmt, gradients):
    """The gradient ``stmt`` starts (``w_bar = empty_like_float(w, c)``), or None."""
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name) \
            and stmt.targets[0].id in gradients and isinstance(stmt.value, gast.Call) \
            and isinstance(stmt.value.func, gast.Name) and stmt.value.func.id in _STARTS \
            and not any(k.arg == "shape" for k in stmt.value.keywords):
        return stmt.targets[0].id
    return None

"""The reverse sweep reads values the forward sweep already computed instead of computing them again.

Partials are written in terms of the primal's arguments (the adjoint of ``c = np.cos(x)`` is
``x_bar += unbroadcast(c_bar * -np.sin(x), x)``), so a function computing both ``np.sin(x)``
and ``np.cos(x)`` would compute each twice.  When the forward sweep holds the same call in a
variable, the reverse sweep reads the variable: ``-_result1`` where ``_result1 = np.sin(x)``.

Only where the variable certainly still holds that value when read: the defining statement is at
the top level of the function (it runs once), and no statement after it assigns again, or changes
in place, the variable or anything the call reads.  Only NumPy functions (``np.<name>(...)``), which do not change their arguments, are
reused.  A pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree, names_read
from .single_adjoints import changed_names


def _numpy_call(node) -> bool:
    return (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute)
            and isinstance(node.func.value, gast.Name) and node.func.value.id == "np" and not node.keywords)


# Calls that make new storage: two names must never share what they return.
_ALLOCATIONS = {"empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like",
                "arange", "array", "copy", "asarray", "ascontiguousarray"}


class _Replace(gast.NodeTransformer):
    """Replace known calls that are operands of a larger expression.

    A call that is a statement's whole value is left alone: ``t = np.sin(x)`` made ``t =
    _result1`` would let a later ``t += ...`` change ``_result1``; an operand's value is only read.
    """

    def __init__(self, known):
        self.known = known  # gast.dump of a call -> the variable holding its value

    def visit_Assign(self, node):
        if isinstance(node.value, gast.Call):
            node.value.args = [self.visit(a) for a in node.value.args]
            return node
        return self.generic_visit(node)

    def visit_AugAssign(self, node):
        return self.visit_Assign(node)

    def visit_Call(self, node):
        holder = self.known.get(gast.dump(node)) if _numpy_call(node) else None
        if holder is not None:
            return gast.Name(id=holder, ctx=gast.Load(), annotation=None, type_comment=None)
        return self.generic_visit(node)


def reuse_forward_values(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    body = fdef.body
    # changed_after[k]: what the statements after the k-th may rebind or change.
    changed_after = [set() for _ in body]
    for k in range(len(body) - 2, -1, -1):
        changed_after[k] = changed_after[k + 1] | changed_names(body[k + 1])
    known: dict[str, str] = {}
    for k, stmt in enumerate(body):
        if known:
            body[k] = stmt = _Replace(known).visit(stmt)
        if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], gast.Name) and _numpy_call(stmt.value)):
            continue
        read = names_read([stmt.value]) - {"np"}
        if stmt.value.func.attr in _ALLOCATIONS or not read:
            continue
        holder = stmt.targets[0].id
        if not (changed_after[k] & (read | {holder})):
            known.setdefault(gast.dump(stmt.value), holder)
    return fdef

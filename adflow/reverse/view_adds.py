"""An adjoint added into a part of an array that is a view, in place: ``add_into(M_bar[j], g)``.

The reverse transform writes ``M_bar[j] += g`` for ``r = M[j]``.  numba compiles that as a read
of the view, an add, and a slice assignment back; the slice assignment's shape-mismatch error
formats its message with string code that takes numba about two seconds to compile, once per
process, for a gradient that never writes a slice otherwise.  ``add_into`` adds into the view
itself (``view += g``): the same numbers, no copy, no slice assignment.

Only where the reverse transform marked the statement (``adds_into_view``): the part is an array
(not a number) selected by integers and slices, so it is a view in NumPy and in numba alike.  A
pure function from the generated ``FunctionDef`` to a new one; CUDA device code keeps its own form.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import call, copy_tree, rewrite_blocks


def add_into_views(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    fdef.body = rewrite_blocks(fdef.body, lambda stmts: [_rewritten(s) for s in stmts])
    return fdef


def _rewritten(stmt):
    if not (isinstance(stmt, gast.AugAssign) and getattr(stmt, "adds_into_view", False)
            and isinstance(stmt.op, gast.Add) and isinstance(stmt.target, gast.Subscript)):
        return stmt
    view = gast.Subscript(value=stmt.target.value, slice=stmt.target.slice, ctx=gast.Load())
    node = gast.Expr(value=call("add_into", view, stmt.value))
    node.lineno = getattr(stmt, "lineno", None)
    return node

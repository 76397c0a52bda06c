"""A slice of an array written from an array, as a loop nest: ``store_view(u[1:-1], v)``.

``u[1:-1] = v`` compiles, in numba, to a slice assignment whose shape-mismatch error formats its
message with string code that takes numba seconds to compile (3.5 s of a 20-step heat equation's
first gradient, on a loaded 2-core machine).  :func:`adflow.runtime.store_view` writes the same
numbers with a loop nest, copying ``v`` first where its memory may meet the view's, as NumPy does.

Only where the forward sweep marked the statement (``stores_into_view``): a float array's part
selected by integers and slices (a view in NumPy and in numba alike), written from an array.  A
pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import call, copy_tree, rewrite_blocks


def store_into_views(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    fdef.body = rewrite_blocks(fdef.body, lambda stmts: [_rewritten(s) for s in stmts])
    return fdef


def _rewritten(stmt):
    if not (isinstance(stmt, gast.Assign) and getattr(stmt, "stores_into_view", False)):
        return stmt
    target = stmt.targets[0]
    view = gast.Subscript(value=target.value, slice=target.slice, ctx=gast.Load())
    node = gast.Expr(value=call("store_view", view, stmt.value))
    node.lineno = getattr(stmt, "lineno", None)
    return node

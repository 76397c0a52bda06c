"""Activity analysis: which variables carry derivatives.

A variable is *active* when it is a float (scalar or array), depends on a differentiated input
(*varied*) and influences the result (*useful*).  Integers, booleans, loop counters and index
arithmetic are never active, so no derivative code is written for them.  The analysis is
flow-insensitive: a variable is active if any of its assignments is.
"""
from __future__ import annotations

import gast
from numba.core import types

from ..frontend import ops as O


def is_float_type(ty) -> bool:
    from ..forward.numba_dual import DualArrayType, DualType
    if isinstance(ty, (types.Float, DualType, DualArrayType)):  # duals: second derivatives
        return True
    if isinstance(ty, types.Array):
        return isinstance(ty.dtype, types.Float)
    if isinstance(ty, (types.UniTuple, types.Tuple)):
        return any(is_float_type(t) for t in ty.types)
    return False


def is_array_type(ty) -> bool:
    """A float array, or a dual array (a Hessian's sweep): memory that views and names can share."""
    from ..forward.numba_dual import DualArrayType
    return isinstance(ty, (types.Array, DualArrayType))


def statements(body):
    """Every normalised statement, in program order, with loops and branches flattened."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, gast.If):
            yield from statements(stmt.body)
            yield from statements(stmt.orelse)
        elif isinstance(stmt, (gast.For, gast.While)):
            yield from statements(stmt.body)


def _edges(op):
    """(target, operand) pairs along which derivatives can flow."""
    if op.kind in (O.INACTIVE, O.ALLOCATION):
        return []
    if op.kind == O.SETITEM:
        return [(op.target, n.id) for n in gast.walk(op.args["v"]) if isinstance(n, gast.Name)]
    if op.kind == O.GETITEM:
        return [(op.target, op.args["x"].id)] if isinstance(op.args["x"], gast.Name) else []
    return [(op.target, n) for n in op.operand_names()]


def dependency_edges(ops, vartypes) -> list:
    edges = []
    for op in ops:
        edges.extend(_edges(op))
        if op.kind == O.COPY and isinstance(op.args["x"], gast.Name) and \
                is_array_type(vartypes.get(op.target)):
            edges.append((op.args["x"].id, op.target))  # arrays alias: writes through one change both
    return edges


def find_varied(ops, wrt_names, vartypes, edges=None) -> set[str]:
    """Float variables that depend on a differentiated input (what forward mode makes dual)."""
    edges = dependency_edges(ops, vartypes) if edges is None else edges

    def is_float(v):
        return is_float_type(vartypes.get(v))

    varied = {v for v in wrt_names if is_float(v)}
    changed = True
    while changed:
        changed = False
        for target, source in edges:
            if source in varied and target not in varied and is_float(target):
                varied.add(target)
                changed = True
    return varied


def find_active(ops, wrt_names, result_names, vartypes) -> set[str]:
    ops = list(ops)
    edges = dependency_edges(ops, vartypes)

    def is_float(v):
        return is_float_type(vartypes.get(v))

    varied = find_varied(ops, wrt_names, vartypes, edges)
    useful = {v for v in result_names if is_float(v)}
    changed = True
    while changed:
        changed = False
        for target, source in edges:
            if target in useful and source not in useful and is_float(source):
                useful.add(source)
                changed = True
    return varied & useful

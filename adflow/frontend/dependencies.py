"""Which variables of a normalised function depend on which: the data flow both modes read.

Derivatives flow from an operand to the variable an operation assigns; an array assigned from
another shares its memory, so a write through either changes both (the edge runs both ways).
Reverse mode's activity analysis (:mod:`adflow.reverse.activity`) and forward mode's choice of
what becomes dual (:mod:`adflow.forward.transform`) both start from :func:`find_varied`.
"""
from __future__ import annotations

import gast

from ..value_types import is_array_type, is_float_type
from . import ops as O


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


def varied_before(body, ops, wrt_names, vartypes) -> dict:
    """``{id(assignment): the float variables that may carry tangents just before it}``.

    :func:`find_varied` says which variables carry tangents somewhere; this says where, following
    the order of statements as numba's typing of each assignment does: in ``c = np.ones(n) * a``
    followed later by ``a = s`` (``s`` carrying tangents), ``a`` carries none where ``c`` is made.
    A write of a value carrying tangents into an array makes the array, and every array that may
    share its memory, carry them.  Branches join; a loop joins its iterations until nothing
    changes.  Over-approximates ("may"), as the callers need.
    """
    partners: dict = {}  # array -> arrays that may share its memory (assigned one from the other)
    for op in ops.values():
        if op.kind == O.COPY and isinstance(op.args["x"], gast.Name) and is_array_type(vartypes.get(op.target)):
            group = partners.get(op.target, {op.target}) | partners.get(op.args["x"].id, {op.args["x"].id})
            for v in group:
                partners[v] = group
    found: dict = {}

    def is_float(v):
        return is_float_type(vartypes.get(v))

    def block(stmts, varied):
        for stmt in stmts:
            if isinstance(stmt, gast.Assign) and id(stmt) in ops:
                op = ops[id(stmt)]
                found[id(stmt)] = found.get(id(stmt), frozenset()) | varied
                carries = is_float(op.target) and any(source in varied for _, source in _edges(op))
                if op.kind == O.SETITEM:
                    varied = varied | partners.get(op.target, {op.target}) if carries else varied
                else:
                    varied = (varied - {op.target}) | ({op.target} if carries else frozenset())
            elif isinstance(stmt, gast.If):
                varied = block(stmt.body, varied) | block(stmt.orelse, varied)
            elif isinstance(stmt, (gast.For, gast.While)):
                if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name) and \
                        any(isinstance(n, gast.Name) and n.id in varied for n in gast.walk(stmt.iter)):
                    varied = varied | {stmt.target.id}
                while True:
                    after = varied | block(stmt.body, varied)
                    if after == varied:
                        break
                    varied = after
        return frozenset(varied)

    block(body, frozenset(v for v in wrt_names if is_float(v)))
    return found

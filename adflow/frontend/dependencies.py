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

"""Activity analysis: which variables carry derivatives.

A variable is *active* when it is a float (scalar or array), depends on a differentiated input
(*varied*) and influences the result (*useful*).  Integers, booleans, loop counters and index
arithmetic are never active, so no derivative code is written for them.  The analysis is
flow-insensitive: a variable is active if any of its assignments is.
"""
from __future__ import annotations

from ..frontend.dependencies import dependency_edges, find_varied
from ..value_types import is_float_type


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

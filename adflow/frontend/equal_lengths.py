"""Which 1-D arrays of a function always have the length of one of its arguments.

Fusion (frontend/fusion.py) may write a chain over several arrays as one loop only when they have
the same length: otherwise NumPy would broadcast a length-1 array, or refuse.  A time-stepper
written as users write it, ``u = u0.copy(); v = np.zeros_like(u0); ... v = v + c * lap - 0.01 * v;
u = u + 0.1 * v``, has that structure, which this analysis finds: every definition of ``u``, ``v``
and ``lap`` makes an array as long as ``u0``.

A variable gets the argument ``a`` when *every* assignment to it makes an array of ``a``'s length:
a copy of such an array (``t = y``, ``y.copy()``), an allocation like it (``np.zeros_like(y)`` and
friends), or an elementwise operation whose array operands all have ``a``'s length (numbers
broadcast without changing it).  ``a`` is an argument the function never assigns, so its length is
one for the whole call.  The assignments are read optimistically around loops (a variable's later
definitions may read it) and checked until nothing changes, so the answer holds for every
definition with the final answer for its operands.
"""
from __future__ import annotations

import gast
from numba.core import types

from . import ops as O

_LIKE = {"zeros_like", "empty_like", "ones_like", "full_like"}
_UNKNOWN = object()


def argument_lengths(fdef, ops, vartypes, elementwise) -> dict:
    """{variable: the argument whose length it always has}, for 1-D float arrays.

    ``ops``: ``{id(assignment): Op}``; ``elementwise(op)``: whether ``op`` is an elementwise
    primitive (its result has its array operands' common shape).
    """
    stores: dict = {}
    for node in gast.walk(fdef):
        if isinstance(node, gast.Name) and not isinstance(node.ctx, gast.Load):
            stores[node.id] = stores.get(node.id, 0) + 1
    params = [p.id for p in fdef.args.args]
    fixed = {p for p in params if stores.get(p, 0) == 1 and _is_vector(vartypes.get(p))}
    definitions: dict = {}
    for stmt in gast.walk(fdef):
        if isinstance(stmt, gast.Assign) and id(stmt) in ops:
            op = ops[id(stmt)]
            target = stmt.targets[0]
            if isinstance(target, gast.Name):
                definitions.setdefault(target.id, []).append(op)
    length = {p: p for p in fixed}
    length.update({p: _UNKNOWN for p in params if p not in fixed})  # its first value: any length
    changed = True
    while changed:
        changed = False
        for v, defs in definitions.items():
            if v in fixed or not _is_vector(vartypes.get(v)) or length.get(v) is _UNKNOWN:
                continue
            found = {_length_of(op, length, vartypes, elementwise) for op in defs}
            found.discard(None)  # operands not decided yet: optimistic
            new = found.pop() if len(found) == 1 else (_UNKNOWN if found else None)
            if new is not None and new != length.get(v):
                length[v] = new
                changed = True
    return {v: a for v, a in length.items() if a is not _UNKNOWN}


def _length_of(op, length, vartypes, elementwise):
    """The argument whose length ``op`` makes its array, None (not decided yet) or _UNKNOWN."""
    def of(node):
        if not isinstance(node, gast.Name):
            return _UNKNOWN
        return length.get(node.id)

    if op.kind == O.COPY:
        return of(op.args.get("x"))
    if op.kind == O.PRIMITIVE and op.prim == "copy" and not op.statics:
        return of(op.args.get("x"))
    if op.kind == O.ALLOCATION and op.prim in _LIKE:
        return of(op.args.get("p0"))
    if op.kind == O.PRIMITIVE and elementwise(op):
        found = set()
        for arg in op.args.values():
            if isinstance(arg, gast.Name) and _is_vector(vartypes.get(arg.id)):
                found.add(of(arg))
            elif not (isinstance(arg, gast.Constant) or
                      (isinstance(arg, gast.Name) and isinstance(vartypes.get(arg.id), (types.Number,)))):
                return _UNKNOWN
        if _UNKNOWN in found or len(found - {None}) > 1:
            return _UNKNOWN
        return None if None in found or not found else found.pop()
    return _UNKNOWN


def _is_vector(ty) -> bool:
    return isinstance(ty, types.Array) and ty.ndim == 1 and ty.dtype == types.float64

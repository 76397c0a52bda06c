"""Tapes of arrays the reverse sweep reads only for their shapes keep the shapes.

A function that rebinds an array (``u = u + dt * v`` in a time loop) saves the old array on a list
before each rebinding and gives it back in the reverse sweep (``u = _u_tape.pop()``).  When the
derivative does not read the old values (the update is linear in them, or they reach nothing
nonlinear), the reverse sweep reads the array only to shape the adjoint it starts for it::

    u = _u_tape.pop()
    u_bar = empty_like_float(u, _cotangent)

yet the list keeps every step's array alive: a stepper of 100 steps over 10^5 numbers holds
100 x 800 kB per rebound array, and each step's fresh arrays come from new pages instead of the
memory the previous step freed.  Here such a list saves the shapes instead::

    _u_tape.append(u.shape)            # was: _u_tape.append(u)
    ...
    _u_shape = _u_tape.pop()          # was: u = _u_tape.pop()
    u_bar = empty_like_float(u, _cotangent, shape=_u_shape)

The reads that want only a shape are ``zeros_like_float(u, ...)``, ``empty_like_float(u, ...)``,
``u.shape``, ``np.shape(u)`` and ``unbroadcast(g, u)`` (which gets an unset array of that shape).  A list qualifies when every restore from it is into one
variable ``u``; in the reverse sweep nothing else assigns ``u``; and after each restore nothing
but those shape reads sees the restored value (liveness, counting the shape reads as reads of
``_u_shape``).  ``_u_shape = u.shape`` before the reverse sweep's first restore gives the reads
that see the forward sweep's last ``u`` their shape; ``u`` itself keeps that array, so a read of its values
stays right.  The shape reads still name ``u`` for its type (float or dual, its dtype).

A pure function from the generated ``FunctionDef`` to a new one; the numbers are the same bit for bit.
"""
from __future__ import annotations

import dataclasses

import gast

from ..syntax.nodes import assign, attribute, call, copy_tree, dotted_name, fresh_name, name, statements, store
from .dead_code import live_after_each

_ALLOCATIONS = ("zeros_like_float", "empty_like_float")


def keep_shapes(fdef: gast.FunctionDef) -> gast.FunctionDef:
    sweeps = getattr(fdef, "sweeps", None)
    if sweeps is None or not any(t.dtype == "array" for t in sweeps.tapes):
        return fdef
    fdef = copy_tree(fdef)
    opening = _position(fdef.body, fdef.sweeps.reverse_sweep)
    if opening is None:
        return fdef
    taken = {n.id for n in gast.walk(fdef) if isinstance(n, gast.Name)}
    converted = []
    for tape in fdef.sweeps.tapes:
        if tape.dtype != "array":
            continue
        var = _restored_variable(fdef, tape.name, fdef.body[opening + 1:])
        if var is None:
            continue
        shape = fresh_name(f"_{var.lstrip('_')}_shape", set(taken))
        if not _only_shapes_read(fdef, tape.name, var, shape, opening):
            continue
        taken.add(shape)
        # Before the first statement that restores: the reads above it see the forward sweep's array.
        first = next(k for k in range(opening + 1, len(fdef.body))
                     if any(_use_of(s, tape.name) == "restore" for s in gast.walk(fdef.body[k])))
        fdef.body = ([_rewritten(s, tape.name, var, shape, reverse=False) for s in fdef.body[:first]]
                     + [assign(shape, attribute(var, "shape"), fdef.body[first].lineno)]
                     + [_rewritten(s, tape.name, var, shape, reverse=True) for s in fdef.body[first:]])
        converted.append(tape.name)
    if converted:
        fdef.sweeps = dataclasses.replace(fdef.sweeps, tapes=tuple(
            dataclasses.replace(t, dtype="shape") if t.name in converted else t for t in fdef.sweeps.tapes))
    return fdef


def _position(body, stmt):
    return next((k for k, s in enumerate(body) if s is stmt), None)


def _restored_variable(fdef, tape, reverse):
    """The one variable every restore from ``tape`` assigns, when the tape is only created, appended
    to and popped, its restores are in the reverse sweep, and nothing else there assigns that
    variable; else None."""
    every = list(statements(fdef.body))
    targets = {s.targets[0].id for s in every if _use_of(s, tape) == "restore"}
    if len(targets) != 1:
        return None
    var = targets.pop()
    restores = sum(1 for s in every if _use_of(s, tape) == "restore")
    uses = sum(1 for n in gast.walk(fdef) if isinstance(n, gast.Name) and n.id == tape)
    if uses != sum(1 for s in every if _use_of(s, tape)):
        return None  # read some other way (a peek, a length): left alone
    in_reverse = [s for top in reverse for s in gast.walk(top) if isinstance(s, gast.stmt)]
    if sum(1 for s in in_reverse if _use_of(s, tape) == "restore") != restores:
        return None
    for stmt in in_reverse:
        if _use_of(stmt, tape) == "restore":
            continue
        if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.For)):
            targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
            if any(isinstance(n, gast.Name) and n.id == var for t in targets for n in gast.walk(t)):
                return None
    return var


def _use_of(stmt, tape):
    """'create', 'push', 'restore' or 'drop' for the statements that name ``tape`` in those ways."""
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name):
        value = stmt.value
        if stmt.targets[0].id == tape and isinstance(value, gast.Call) and isinstance(value.func, gast.Name) \
                and value.func.id == "array_stack":
            return "create"
        if _is_call_on(value, tape, "pop", 0):
            return "restore"
    if isinstance(stmt, gast.Expr):
        if _is_call_on(stmt.value, tape, "append", 1):
            return "push"
        if _is_call_on(stmt.value, tape, "pop", 0):
            return "drop"
    return None


def _is_call_on(node, tape, method, nargs):
    return (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and node.func.attr == method
            and isinstance(node.func.value, gast.Name) and node.func.value.id == tape
            and len(node.args) == nargs and not node.keywords)


def _only_shapes_read(fdef, tape, var, shape, opening) -> bool:
    """After every restore, is the restored value read by nothing but the shape reads?"""
    trial = copy_tree(fdef)
    trial.body = trial.body[:opening + 1] + [_ShapeReads(var, shape, with_type=False).visit(s)
                                             for s in trial.body[opening + 1:]]
    restores = [s for s in gast.walk(trial) if isinstance(s, gast.stmt) and _use_of(s, tape) == "restore"]
    live = live_after_each(trial.body, restores)
    return all(var not in live[id(s)] for s in restores)


def _rewritten(stmt, tape, var, shape, reverse):
    """``stmt`` with the tape's creation, pushes and restores for shapes and, in the reverse sweep,
    the shape reads of ``var`` reading ``shape``."""
    stmt = _TapeOfShapes(tape, shape).visit(stmt)
    return _ShapeReads(var, shape, with_type=True).visit(stmt) if reverse else stmt


class _TapeOfShapes(gast.NodeTransformer):
    def __init__(self, tape, shape):
        self.tape, self.shape = tape, shape

    def visit_Assign(self, node):
        kind = _use_of(node, self.tape)
        if kind == "create":
            node.value.func = name("shape_stack")
        elif kind == "restore":
            node.targets = [store(self.shape)]
        return self.generic_visit(node)

    def visit_Expr(self, node):
        if _use_of(node, self.tape) == "push":
            pushed = node.value.args[0]
            if isinstance(pushed, gast.Call) and dotted_name(pushed.func) == "np.asarray":  # an array of another dtype: the same shape
                pushed = pushed.args[0]
            node.value.args = [gast.Attribute(value=pushed, attr="shape", ctx=gast.Load())]
        return node


class _ShapeReads(gast.NodeTransformer):
    """``zeros_like_float(v, c)`` -> ``zeros_like_float(v, c, shape=s)`` (``with_type``; else ``v``
    becomes ``s``: the form liveness reads), ``v.shape`` and ``np.shape(v)`` -> ``s``."""

    def __init__(self, var, shape, with_type):
        self.var, self.shape, self.with_type = var, shape, with_type

    def _is_var(self, node):
        return isinstance(node, gast.Name) and node.id == self.var and isinstance(node.ctx, gast.Load)

    def visit_Call(self, node):
        if isinstance(node.func, gast.Name) and node.func.id in _ALLOCATIONS and node.args \
                and self._is_var(node.args[0]) and not node.keywords:
            if self.with_type:
                node.keywords = [gast.keyword(arg="shape", value=name(self.shape))]
            else:
                node.args[0] = name(self.shape)
            node.args[1:] = [self.visit(a) for a in node.args[1:]]
            return node
        if dotted_name(node.func) == "np.shape" and len(node.args) == 1 and self._is_var(node.args[0]):
            return name(self.shape)
        if isinstance(node.func, gast.Name) and node.func.id == "unbroadcast" and len(node.args) == 2 \
                and self._is_var(node.args[1]) and not node.keywords:
            # It reads x's shape and type: an unset array of both stands in (no fill, freed at once).
            node.args[0] = self.visit(node.args[0])
            node.args[1] = (call("empty_like_float", name(self.var), shape=name(self.shape)) if self.with_type
                            else name(self.shape))
            return node
        return self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr == "shape" and self._is_var(node.value):
            return name(self.shape)
        return self.generic_visit(node)

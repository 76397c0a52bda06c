"""Bounds on a vjp's tape sizes, computed on the host before a launch (device code cannot allocate).

:class:`TapeSizer` walks the forward sweep with the argument values (shapes of arrays, integer
arguments), multiplies pushes by the trip counts of the ``for`` loops around them and takes the
larger branch of a data-dependent ``if``.  A ``while`` loop that pushes, or a ``for`` loop whose
bounds depend on array contents, cannot be bounded that way and raises
:class:`~adflow.UnsupportedSyntaxError` naming the loop.  Pushes are read from the record the
reverse transform attaches (:mod:`adflow.reverse.sweeps`).
"""
from __future__ import annotations

import operator

import gast
import numpy as np

from ..errors import SourceLocation, UnsupportedSyntaxError
from ..syntax.nodes import assigned_names, dotted_name, name, names_in, statements
from ..targets.cuda import TARGET_TEXT


class Unknown(Exception):
    """A value the host cannot know before the launch (it depends on array contents)."""


class ArgumentShape:
    """An array argument as the host sees it for sizing: only its shape (a row of a batch, before the launch)."""

    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)


_BINOPS = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul, gast.FloorDiv: operator.floordiv,
           gast.Mod: operator.mod, gast.Div: operator.truediv, gast.Pow: operator.pow}
_CMPOPS = {gast.Lt: operator.lt, gast.LtE: operator.le, gast.Gt: operator.gt, gast.GtE: operator.ge,
           gast.Eq: operator.eq, gast.NotEq: operator.ne}
ALLOCATORS = {"empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like"}


class TapeSizer:
    """Upper bounds on the pushes of each tape of a vjp, from the argument values (host side).

    Values are ``(value, depends_on_arguments)`` pairs; a tape whose bound does not depend on the
    arguments is a constant of the code (it can live in ``cuda.local.array``).
    """

    MAX_STEPS = 5_000_000  # statements walked one by one (loops whose bounds depend on an outer index)

    def __init__(self, fdef, tapes, result, fn):
        self.fdef = fdef  # the vjp as the reverse transform wrote it (its record: fdef.sweeps)
        self.tapes = set(tapes)  # the tapes to bound: those kept in memory the caller provides
        self.result = result
        self.fn = fn

    def location(self, node):
        return SourceLocation(self.fn.filename, getattr(node, "lineno", None) or self.fn.tree.lineno, self.fn.name)

    def run(self, env):
        """``env``: parameter -> (value or ArgumentShape, True).  Returns ({tape: (count, dyn)}, result size or None)."""
        self.counts = {t: [0, False] for t in self.tapes}
        self.result_size = None
        self.symbolic = 0
        self.steps = 0
        self.block(self.fdef.body, dict(env), (1, False))
        return {t: tuple(c) for t, c in self.counts.items()}, self.result_size

    # -- statements
    def block(self, stmts, env, mult):
        for stmt in stmts:
            self.steps += 1
            if self.steps > self.MAX_STEPS:
                raise UnsupportedSyntaxError(f"{TARGET_TEXT}: bounding the tape of {self.fn.name} takes too long",
                                             self.location(stmt), hint="make loop bounds independent of outer indices")
            if isinstance(stmt, gast.Return):
                return
            if isinstance(stmt, gast.Assign):
                self.assignment(stmt, env, mult)
            elif isinstance(stmt, gast.AugAssign):
                if isinstance(stmt.target, gast.Name):
                    self.bind(stmt.target.id, gast.BinOp(left=name(stmt.target.id), op=stmt.op, right=stmt.value), env)
            elif isinstance(stmt, gast.If):
                self.branch(stmt, env, mult)
            elif isinstance(stmt, gast.For):
                self.for_loop(stmt, env, mult)
            elif isinstance(stmt, gast.While):
                if self.pushes_in(stmt.body):
                    raise UnsupportedSyntaxError(
                        f"{TARGET_TEXT}: this while loop saves values on the tape, and its trip count cannot be bounded "
                        f"before the launch", self.location(stmt),
                        hint="write it as a for loop over a bounded range (with break), so the tape can be sized")
                for v in assigned_names(stmt.body):
                    env.pop(v, None)

    def pushes_in(self, stmts):
        return any(self.push_target(s) for s in statements(stmts))

    def push_target(self, stmt):
        tape = self.fdef.sweeps.pushed_tape(stmt)
        return tape.name if tape is not None and tape.name in self.tapes else None

    def assignment(self, stmt, env, mult):
        tape = self.push_target(stmt)
        if tape is not None:
            count = self.counts[tape]
            count[0] += mult[0]
            count[1] = count[1] or mult[1]
            return
        target = stmt.targets[0]
        if not isinstance(target, gast.Name):
            for v in names_in(target):
                if isinstance(target, gast.Tuple):
                    env.pop(v, None)
            return
        if target.id == self.result and isinstance(stmt.value, gast.Call):
            size = self.allocation_size(stmt.value, env)
            if size is not None:
                self.result_size = size
        self.bind(target.id, stmt.value, env)

    def allocation_size(self, call_node, env):
        func = dotted_name(call_node.func) or ""
        short = func.split(".")[-1]
        try:
            if short == "array" and call_node.args and isinstance(call_node.args[0], (gast.List, gast.Tuple)):
                return len(call_node.args[0].elts), False
            if short in ALLOCATORS and call_node.args:
                value, dyn = self.ev(call_node.args[0], env)
                if short.endswith("_like"):
                    value = value.shape if isinstance(value, ArgumentShape) else ()
                shape = value if isinstance(value, tuple) else (int(value),)
                return int(np.prod(shape, dtype=np.int64)), dyn
        except Unknown:
            return None
        return None

    def bind(self, var, value, env):
        try:
            env[var] = self.ev(value, env)
        except Unknown:
            env.pop(var, None)

    def branch(self, stmt, env, mult):
        try:
            test, dyn = self.ev(stmt.test, env)
        except Unknown:
            test = None
        if test is not None:
            self.block(stmt.body if test else stmt.orelse, env, (mult[0], mult[1] or dyn))
            return
        # Unknown before the launch: room for the larger of the two branches.
        before = {t: list(c) for t, c in self.counts.items()}
        self.block(stmt.body, dict(env), mult)
        after_body = {t: list(c) for t, c in self.counts.items()}
        self.counts = {t: list(c) for t, c in before.items()}
        self.block(stmt.orelse, dict(env), mult)
        for t, c in self.counts.items():
            b = after_body[t]
            c[0] = max(c[0], b[0])
            c[1] = c[1] or b[1]
        for v in assigned_names(stmt.body + stmt.orelse):
            env.pop(v, None)

    def for_loop(self, loop, env, mult):
        try:
            bounds = [self.ev(a, env) for a in loop.iter.args]
        except Unknown:
            if self.symbolic:
                raise
            raise UnsupportedSyntaxError(
                f"{TARGET_TEXT}: the bounds of this for loop depend on array contents, so its tape cannot be sized "
                f"before the launch", self.location(loop),
                hint="loop over a range given by integer arguments or array shapes") from None
        start, stop, step = (int(b[0]) for b in bounds)
        dyn = mult[1] or any(b[1] for b in bounds)
        trips = len(range(start, stop, step))
        index = loop.target.id
        assigned = assigned_names(loop.body) | {index}
        if trips and self.pushes_in(loop.body):
            trial = {k: v for k, v in env.items() if k not in assigned}
            saved = {t: list(c) for t, c in self.counts.items()}
            self.symbolic += 1
            try:
                self.block(loop.body, trial, (mult[0] * trips, dyn))
            except Unknown:
                # The body depends on the loop index (a triangular inner loop): walk every iteration.
                self.counts = saved
                self.symbolic -= 1
                for value in range(start, stop, step):
                    env[index] = (value, dyn)
                    self.block(loop.body, env, (mult[0], dyn))
                self.symbolic += 1
            finally:
                self.symbolic -= 1
        for v in assigned:
            env.pop(v, None)

    # -- expressions
    def ev(self, node, env):
        if isinstance(node, gast.Constant):
            return node.value, False
        if isinstance(node, gast.Name):
            if node.id not in env:
                raise Unknown(node.id)
            return env[node.id]
        if isinstance(node, gast.Attribute) and node.attr == "shape":
            value, dyn = self.ev(node.value, env)
            if isinstance(value, ArgumentShape):
                return value.shape, dyn
            raise Unknown("shape")
        if isinstance(node, gast.Attribute) and node.attr in ("size", "ndim"):
            value, dyn = self.ev(node.value, env)
            if isinstance(value, ArgumentShape):
                return (int(np.prod(value.shape, dtype=np.int64)) if node.attr == "size" else len(value.shape)), dyn
            raise Unknown(node.attr)
        if isinstance(node, gast.Subscript):
            value, dyn = self.ev(node.value, env)
            index, dyn2 = self.ev(node.slice, env)
            if isinstance(value, tuple) and isinstance(index, int):
                return value[index], dyn or dyn2
            raise Unknown("element")
        if isinstance(node, gast.Tuple):
            items = [self.ev(e, env) for e in node.elts]
            return tuple(v for v, _ in items), any(d for _, d in items)
        if isinstance(node, gast.BinOp) and type(node.op) in _BINOPS:
            (a, da), (b, db) = self.ev(node.left, env), self.ev(node.right, env)
            if isinstance(a, (ArgumentShape, tuple)) or isinstance(b, (ArgumentShape, tuple)):
                raise Unknown("array")
            return _BINOPS[type(node.op)](a, b), da or db
        if isinstance(node, gast.UnaryOp):
            a, da = self.ev(node.operand, env)
            if isinstance(node.op, gast.USub):
                return -a, da
            if isinstance(node.op, gast.Not):
                return not a, da
            if isinstance(node.op, gast.UAdd):
                return a, da
        if isinstance(node, gast.Compare):
            left, dyn = self.ev(node.left, env)
            result = True
            for op, right in zip(node.ops, node.comparators):
                r, dr = self.ev(right, env)
                if type(op) not in _CMPOPS:
                    raise Unknown("compare")
                result = result and _CMPOPS[type(op)](left, r)
                dyn, left = dyn or dr, r
            return result, dyn
        if isinstance(node, gast.BoolOp):
            items = [self.ev(v, env) for v in node.values]
            values = [v for v, _ in items]
            value = all(values) if isinstance(node.op, gast.And) else any(values)
            return value, any(d for _, d in items)
        if isinstance(node, gast.IfExp):
            test, dt = self.ev(node.test, env)
            v, dv = self.ev(node.body if test else node.orelse, env)
            return v, dt or dv
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and node.func.attr == "copy" \
                and not node.args:
            return self.ev(node.func.value, env)
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and not node.keywords:
            fn = {"len": None, "min": min, "max": max, "abs": abs, "int": int, "float": float, "bool": bool}
            if node.func.id in fn:
                items = [self.ev(a, env) for a in node.args]
                dyn = any(d for _, d in items)
                values = [v for v, _ in items]
                if node.func.id == "len":
                    v = values[0]
                    return (v.shape[0] if isinstance(v, ArgumentShape) else len(v)), dyn
                if any(isinstance(v, (ArgumentShape, tuple)) for v in values):
                    raise Unknown("array")
                return fn[node.func.id](*values), dyn
        raise Unknown(type(node).__name__)


def sizing_env(params, args):
    """What the sizer knows of the arguments: parameter -> (value or ArgumentShape, True)."""
    env = {}
    for p, a in zip(params, args):
        if isinstance(a, ArgumentShape):
            env[p] = (a, True)
        elif hasattr(a, "shape") and len(a.shape) > 0:
            env[p] = (ArgumentShape(a.shape), True)
        elif isinstance(a, (bool, int, float, np.integer, np.floating, np.bool_)):
            env[p] = (a.item() if isinstance(a, np.generic) else a, True)
    return env

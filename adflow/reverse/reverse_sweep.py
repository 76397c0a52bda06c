"""The reverse sweep: the statements backwards, each assignment's adjoint and the values it reads
popped back, adjoints reset where a variable is reassigned, loops run backwards over the same
iterations, branches replaying the recorded decision.

A part of :class:`adflow.reverse.transform.ReverseTransform`.
"""
from __future__ import annotations

import copy
import linecache

import gast
from numba.core import types

from ..backends.emit import comment
from ..frontend import ops as O
from ..rules.partials import elementwise_partials
from ..syntax.nodes import assign, call, const, name, statements, store
from .forward_sweep import copy_if
from .tape import assignment_counts, loop_body
from .tape_code import is_array_value


class ReverseSweep:
    """The reverse sweep written (a part of the ReverseTransform)."""

    def reverse_block(self, stmts) -> list:
        out, last_line = [], None
        for stmt in reversed(stmts):
            code = self.reverse_statement(stmt)
            ln = getattr(stmt, "lineno", None)
            if code and not isinstance(stmt, gast.Assign):
                last_line = None  # a loop or branch in between: name the line again after it
            elif code and ln is not None and ln != last_line:
                text = linecache.getline(self.fn.filename, ln).strip()
                if text:
                    out.append(comment(f"line {ln}: {text}", ln))
                last_line = ln
            out.extend(code)
        return out

    def reverse_statement(self, stmt) -> list:
        ln = getattr(stmt, "lineno", None)
        if isinstance(stmt, gast.Assign):
            op = self.ops[id(stmt)]
            out = list(self.adjoints.get(id(stmt), []))
            if op.kind == O.SETITEM:
                if id(stmt) in self.plan.push_element:
                    ety, tape, top = self.element_tape(op)
                    target = gast.Subscript(value=name(op.target), slice=copy.deepcopy(op.statics["index"]),
                                            ctx=gast.Store())
                    restore = self.pop_into(target, op.target, ln, tape, top, ety)
                    xtype = self.vartypes.get(op.target)
                    if (is_array_value(ety) and isinstance(xtype, types.Array) and isinstance(xtype.dtype, types.Float)
                            and self.writer.basic(op.statics["index"])):
                        restore[0].stores_into_view = True  # x[1:] = _x_slices.pop(): a loop nest (view_stores)
                    out.extend(restore)
                return out
            if id(stmt) in self.plan.push_value:
                out.extend(self.pop_into(store(op.target), op.target, ln))
            elif op.target in self.checkpointed_vars:
                out.append(self.peek(op.target, ln))
            if op.target in self.active and self.needs_reset(op.target):
                out.extend(self.resets(op.target, ln))
            return out
        if isinstance(stmt, gast.If):
            body, orelse = self.reverse_block(stmt.body), self.reverse_block(stmt.orelse)
            if not body and not orelse:
                return []
            return [copy_if(stmt, body or [gast.Pass()], orelse)]
        if isinstance(stmt, (gast.For, gast.While)):
            return self.reverse_loop(stmt, ln)
        return []

    def resets_reading_old_value(self, body) -> set:
        """Ids of assignments whose adjoint resets an array adjoint shaped like the value overwritten.

        ``x_bar = zeros_like_float(x, ...)`` after reversing ``x = e`` must have the shape ``x`` had
        before (``x = x[1:]`` shortens it), so the reverse sweep needs that old value back: the
        planner saves it.  Not needed when ``e`` is elementwise in the old ``x`` and numbers
        (``x = x / norm``): the shapes agree and the current value serves.
        """
        definitions = {}
        for stmt in statements(body):
            if isinstance(stmt, gast.Assign) and self.ops[id(stmt)].kind != O.SETITEM:
                definitions.setdefault(self.ops[id(stmt)].target, []).append(stmt)
        out = set()
        for stmt in statements(body):
            if not isinstance(stmt, gast.Assign):
                continue
            op = self.ops[id(stmt)]
            if (op.kind == O.SETITEM or op.target not in self.active or not self.needs_reset(op.target)
                    or not is_array_value(self.vartypes.get(op.target))):
                continue
            if not self.keeps_shape(op, op.target, definitions, depth=4):
                out.add(id(stmt))
        return out

    def keeps_shape(self, op, old, definitions, depth) -> bool:
        """Is ``op``'s result certainly shaped like ``old`` (elementwise in ``old`` and numbers)?"""
        if depth == 0:
            return False
        if op.kind == O.COPY or (op.kind == O.PRIMITIVE and op.prim in elementwise_partials):
            for arg in op.args.values():
                if not isinstance(arg, gast.Name) or not is_array_value(self.vartypes.get(arg.id)):
                    if isinstance(arg, (gast.Name, gast.Constant)):
                        continue  # a number broadcasts without changing the shape
                    return False
                if arg.id == old:
                    continue
                defs = definitions.get(arg.id, [])
                if len(defs) != 1 or not self.keeps_shape(self.ops[id(defs[0])], old, definitions, depth - 1):
                    return False
            return True
        return False

    def needs_reset(self, var) -> bool:
        """An adjoint restarts at zero where its variable is reassigned (loops, repeated assignment).

        Reversing ``v = e`` moves ``v_bar`` into ``e``; what ``v`` held before is another value,
        whose adjoint starts at zero.  An argument holds a value before the function's first
        statement, so ``a = a * 3.0`` reassigns it as a second assignment would.
        """
        if not hasattr(self, "_counts"):
            self._counts = assignment_counts(self.fdef.body)
            for p in self.params:
                self._counts[p] = self._counts.get(p, 0) + 1
            self._in_loop = set()
            for loop in statements(self.fdef.body):
                if isinstance(loop, (gast.For, gast.While)):
                    for s in statements(loop.body):
                        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                            self._in_loop.add(s.targets[0].id)
        return self._counts.get(var, 0) > 1 or var in self._in_loop

    def reverse_loop(self, loop, ln) -> list:
        info = self.loop_info[id(loop)]
        body = self.reverse_block(loop_body(loop))
        if not body:
            return []
        recompute = [copy.deepcopy(s) for s in self.plan.recompute.get(id(loop), [])]
        carried = self.plan.checkpoint.get(id(loop))
        if carried is not None:
            # Restore the iteration's start values (peek), recompute the body, run its adjoint, then
            # drop the saved values.
            restore = [self.peek(var, ln) for var in carried]
            recompute = ([comment("restore this iteration's start values and recompute it", ln)] + restore
                         + [copy.deepcopy(s) for s in loop_body(loop)])
            body = body + [self.drop(var, ln) for var in carried]
        out = []
        if info["counter"] and info["counter"] in self.pushed_vars:
            out.extend(self.pop_into(store(info["counter"]), info["counter"], ln, ty=types.int64))
        if isinstance(loop, gast.For) and info["iter"] is not None:
            rev = gast.For(target=store(loop.target.id), iter=info["iter"], body=recompute + body, orelse=[],
                           type_comment=None)
        else:
            k = self.normalizer.fresh("k")
            prefix = []
            if isinstance(loop, gast.For):
                start, _, step = loop.iter.args
                # i = start + (trips - 1 - k) * step, walking the recorded iterations backwards
                prefix.append(assign(loop.target.id, gast.BinOp(left=copy.deepcopy(start), op=gast.Add(), right=gast.BinOp(
                    left=name(k), op=gast.Mult(), right=copy.deepcopy(step))), ln))
                it = call("range", minus(name(info["counter"]), 1), const(-1), const(-1))
            else:
                it = call("range", name(info["counter"]))
            rev = gast.For(target=store(k), iter=it, body=prefix + recompute + body, orelse=[], type_comment=None)
        rev.lineno = ln
        out.append(rev)
        if id(loop) in self.plan.push_index:
            out.extend(self.pop_into(store(loop.target.id), loop.target.id, ln))
        return out


def minus(node, k):
    if isinstance(node, gast.Constant) and isinstance(node.value, int):
        return const(node.value - k)
    if k < 0:
        return gast.BinOp(left=copy.deepcopy(node), op=gast.Add(), right=const(-k))
    return gast.BinOp(left=copy.deepcopy(node), op=gast.Sub(), right=const(k))

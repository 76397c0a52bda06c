"""Assemble a reverse-mode function: forward sweep (with pushes), then reverse sweep (with pops).

For ``f(x, n)`` returning ``s`` this writes ``f_vjp(x, n, s_cotangent)`` returning
``(s, (x_bar,))``: the value and the cotangents of the differentiated arguments.  The forward
sweep is the normalised function itself plus tape pushes; the reverse sweep walks the statements
backwards, loops run backwards over the same iterations, branches replay the recorded decision.
"""
from __future__ import annotations

import copy
import linecache

import gast
from numba.core import types

from .. import runtime
from ..backends.emit import comment
from ..errors import NonDifferentiableError, TypingError
from ..frontend import ops as O
from ..duals.numba_dual import DualArrayType, DualType
from ..rules.partials import elementwise_partials
from ..syntax.nodes import (assign, assigned_names, call, call_attr, const, name, names_read, numpy_dtype, statements,
                            store)
from ..value_types import is_array_type, is_float_type, ndim_of
from . import passes
from .activity import find_active
from .adjoint import AdjointWriter, element_is_scalar
from .placeholders import dummy_value
from .rematerialize import rematerialize
from .sweeps import Sweeps, Tape, scalar_dtype, tape_dtype
from .tape import TapePlanner, alias_groups, assignment_counts, live_after, loop_body, sharing_at_writes


class ReverseTransform:
    def __init__(self, fn, fdef, normalizer, vartypes, wrt, helper_vjp_name, is_helper=False,
                 output_component=None):
        self.output_component = output_component  # has_aux: only this part of a tuple result is differentiated
        self.fn = fn
        self.fdef = fdef
        self.normalizer = normalizer
        self.vartypes = vartypes
        self.wrt = wrt  # indices of differentiated parameters
        self.helper_vjp_name = helper_vjp_name
        self.is_helper = is_helper
        self.params = [a.id for a in fdef.args.args]
        self.bars: dict = {}

    # ------------------------------------------------------------------ names
    def bar(self, var, component=None):
        key = (var, component)
        if key not in self.bars:
            base = f"{var.lstrip('_')}_bar" + ("" if component is None else str(component))
            candidate, k = base, 2
            while candidate in self.normalizer.taken:
                candidate, k = f"{base}{k}", k + 1
            if var.startswith("_"):
                candidate = "_" + candidate if "_" + candidate not in self.normalizer.taken else candidate
            self.normalizer.taken.add(candidate)
            self.bars[key] = candidate
        return self.bars[key]

    # ------------------------------------------------------------------ entry
    def run(self) -> gast.FunctionDef:
        body = self.freeze_branch_tests(list(self.fdef.body))
        ret = body.pop()
        assert isinstance(ret, gast.Return)
        self.result = ret.value
        wrt_names = [self.params[k] for k in self.wrt]
        for k in self.wrt:
            p = self.params[k]
            if not is_float_type(self.vartypes.get(p)):
                raise NonDifferentiableError(
                    f"argument '{p}' of {self.fn.name} is {self.vartypes.get(p)}, not a float or float array",
                    self.fn.location(self.fdef),
                    hint="differentiate with respect to float arguments only (pass 1.0, not 1), or pick others with wrt=")
        for stmt in statements(body):
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
            if isinstance(target, gast.Name) and target.id not in self.vartypes:
                raise TypingError(f"numba gave no type to '{target.id}', so adflow cannot write its derivative",
                                  self.fn.location(stmt),
                                  hint="numba may have found this line unreachable; remove the dead code")
        classifier = O.Classifier(self.fn, self.normalizer.helpers, self.normalizer.locals)
        self.ops = {}
        body = self.numpy_calls_for_duals(body, classifier)
        for stmt in statements(body):
            if isinstance(stmt, gast.Assign):
                self.ops[id(stmt)] = classifier.classify(stmt)
        result_names = [self.result.id] if isinstance(self.result, gast.Name) else []
        # The cotangent parameter.  Zero adjoints are allocated like it, so that a dual cotangent
        # carrying k output directions (vector mode) makes every adjoint a dual: k rows of the
        # Jacobian from one sweep.
        self.seed = self.normalizer.fresh(f"{self.result.id}_cotangent" if isinstance(self.result, gast.Name)
                                          else "cotangent")
        self.active = find_active(self.ops.values(), wrt_names, result_names, self.vartypes)
        self.writer = AdjointWriter(self.fn, self.active, self.vartypes, self.bar, self.helper_vjp_name)
        self.aliases = alias_groups(self.ops.values(), self.vartypes)
        self.check_aliasing(body)
        # Adjoint statements of every assignment, and what they read of the primal.
        self.adjoints, reads = {}, {}
        for stmt in statements(body):
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                stmts = self.writer.setitem(op) if op.kind == O.SETITEM else (
                    self.writer.contributions(op) if op.target in self.active else [])
                self.adjoints[id(stmt)] = stmts
                bar_names = set(self.bars.values())
                reads[id(stmt)] = names_read(stmts) - bar_names - {"np", "math"} - set(_runtime_names())
        # Loops: counters and reversed headers.
        self.loop_info, loop_reads = {}, {}
        for stmt in statements(body):
            if isinstance(stmt, (gast.For, gast.While)):
                info = self.loop_header(stmt)
                self.loop_info[id(stmt)] = info
                loop_reads[id(stmt)] = info["reads"]
        overwritten = self.resets_reading_old_value(body)
        if "rematerialize" not in passes.off():
            # Cheap values adjoints read are recomputed rather than saved (not in loops that will
            # recompute their whole body anyway).
            planner = TapePlanner(self.ops, reads, self.active, self.vartypes, body, loop_reads, self.aliases,
                                  overwritten)
            checkpointed = {id(s) for s in statements(body) if isinstance(s, (gast.For, gast.While))
                            and planner.checkpointable(s) is not None}
            rematerialize(body, self.adjoints, reads, loop_reads, self.vartypes, assignment_counts(body),
                          checkpointed)
        # A branch is replayed in the reverse sweep (its decision read back) only where its reverse
        # does something: ``if _brk: _cond = False`` only steers the forward loop, and saving its
        # decision every iteration would cost a tape for nothing.  Which branches those are depends
        # on the plan (a push inside makes a pop), and dropping a decision can only drop pushes: plan
        # again until the set holds.
        branches = [s for s in statements(body) if isinstance(s, gast.If)]
        replayed = {id(s) for s in branches}
        while True:
            for stmt in branches:
                reads[id(stmt)] = {stmt.test.id} if id(stmt) in replayed else set()
            self.plan = TapePlanner(self.ops, reads, self.active, self.vartypes, body, loop_reads, self.aliases,
                                    overwritten).run()
            self.recomputed = {id(s) for stmts in self.plan.recompute.values() for s in stmts}
            self.checkpointed_vars = {v for carried in self.plan.checkpoint.values() for v in carried}
            needed = {id(s) for s in branches if self.reverses_something(s.body + s.orelse)}
            if needed == replayed or "replayed_branches" in passes.off():
                break
            replayed = needed
        return self.assemble(body)

    def reverses_something(self, stmts) -> bool:
        """Whether the reverse sweep of ``stmts`` holds a statement, under the current plan (mirrors
        :meth:`reverse_statement`)."""
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                if self.adjoints.get(id(stmt)) or id(stmt) in self.plan.push_value \
                        or id(stmt) in self.plan.push_element:
                    return True
                if op.kind != O.SETITEM and (op.target in self.checkpointed_vars
                                             or (op.target in self.active and self.needs_reset(op.target))):
                    return True
            elif isinstance(stmt, gast.If) and self.reverses_something(stmt.body + stmt.orelse):
                return True
            elif isinstance(stmt, (gast.For, gast.While)) and self.reverses_something(loop_body(stmt)):
                return True
        return False

    def numpy_calls_for_duals(self, stmts, classifier) -> list:
        """With dual inputs (Hessians), ``math.f(dual)`` calls become ``np.f``, as in forward mode."""
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call) \
                    and isinstance(stmt.targets[0], gast.Name) \
                    and O.is_math_call(self.fn, stmt.value, self.normalizer.locals) \
                    and any(isinstance(self.vartypes.get(a.id), DualType)
                            for a in stmt.value.args if isinstance(a, gast.Name)):
                op = classifier.classify(stmt)
                if op.kind == O.PRIMITIVE:
                    stmt = O.numpy_call_for_duals(stmt, op)
            elif isinstance(stmt, gast.If):
                stmt.body = self.numpy_calls_for_duals(stmt.body, classifier)
                stmt.orelse = self.numpy_calls_for_duals(stmt.orelse, classifier)
            elif isinstance(stmt, (gast.For, gast.While)):
                stmt.body = self.numpy_calls_for_duals(stmt.body, classifier)
            out.append(stmt)
        return out

    def freeze_branch_tests(self, stmts) -> list:
        """``if c:`` whose branches reassign ``c`` tests a copy, so the reverse sweep replays the decision."""
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                stmt.body = self.freeze_branch_tests(stmt.body)
                stmt.orelse = self.freeze_branch_tests(stmt.orelse)
                if stmt.test.id in assigned_names(stmt.body + stmt.orelse):
                    taken = self.normalizer.fresh(stmt.test.id.lstrip("_") + "_taken")
                    out.append(assign(taken, name(stmt.test.id), stmt.lineno))
                    self.vartypes[taken] = self.vartypes.get(stmt.test.id, types.boolean)
                    stmt.test = name(taken)
            elif isinstance(stmt, (gast.For, gast.While)):
                stmt.body = self.freeze_branch_tests(stmt.body)
            out.append(stmt)
        return out

    def check_aliasing(self, body):
        """An in-place write into an array another live variable shares memory with changes both.

        Refused where that other variable is read later (or is the caller's array): its derivative
        would miss the write.  A view nothing reads after the write is fine: the adjoints that read it
        see the overwritten part restored from the tape (``b[1:] = b[:-1] * a``; and ``b = np.sin(b)``,
        which is ``_b1 = np.sin(b); b = _b1``).
        """
        sharing, live = sharing_at_writes(body, self.ops, self.vartypes, self.params), live_after(body)
        for stmt in statements(body):
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                if op.kind != O.SETITEM:
                    continue
                # Another name holding the written memory now and read later, or the caller's array
                # of another argument.
                shared = sharing[id(stmt)]
                others = {v for v in shared if isinstance(v, str) and (v in live[id(stmt)] or v in self.params)}
                others |= {v[1] for v in shared if not isinstance(v, str) and v[1] != op.target}
                if others and (op.target in self.active or others & self.active):
                    other = min(others, key=lambda v: (v.startswith("_"), v))  # a user name if any
                    raise NonDifferentiableError(
                        f"in-place write into '{op.target}', which shares memory with '{other}' (a view or alias)",
                        self.fn.location(stmt),
                        hint=f"make it an independent array first, e.g. {op.target} = ....copy()")
        if self.is_helper:
            for stmt in statements(body):
                if isinstance(stmt, gast.Assign) and self.ops[id(stmt)].kind == O.SETITEM \
                        and self.ops[id(stmt)].target in self.params:
                    raise NonDifferentiableError(
                        f"helper {self.fn.name} writes into its argument '{self.ops[id(stmt)].target}'",
                        self.fn.location(stmt),
                        hint="have the helper return a new array instead of modifying its argument")

    def loop_header(self, loop) -> dict:
        """How the reverse sweep runs this loop backwards, and what that reads."""
        has_break = isinstance(loop, gast.For) and loop_body(loop) is not loop.body
        if isinstance(loop, gast.For):
            start, stop, step = loop.iter.args
            if not has_break and isinstance(step, gast.Constant) and step.value in (1, -1):
                if step.value == 1:
                    rev = call("range", _minus(stop, 1), _minus(start, 1), const(-1))
                else:
                    rev = call("range", _minus(stop, -1), _minus(start, -1))
                return {"counter": None, "iter": rev, "reads": names_read([start, stop])}
        counter = self.normalizer.fresh("trips")
        reads = {counter}
        if isinstance(loop, gast.For):
            reads |= names_read(loop.iter.args[:1] + loop.iter.args[2:])
        return {"counter": counter, "iter": None, "reads": reads}

    # ------------------------------------------------------------------ assembly
    def assemble(self, body) -> gast.FunctionDef:
        ln = self.fdef.lineno
        self.pushed_vars, self.element_tapes = {}, {}
        forward = self.forward_block(body)
        reverse = self.reverse_block(body)

        prologue = []
        written_params = {self.ops[id(s)].target for s in statements(body)
                          if isinstance(s, gast.Assign) and self.ops[id(s)].kind == O.SETITEM}
        for p in self.params:
            if p in written_params and _is_array_value(self.vartypes.get(p)):
                # Never mutate the caller's arrays: the function works on its own copy.
                prologue.append(assign(p, gast.Call(func=gast.Attribute(value=name(p), attr="copy", ctx=gast.Load()),
                                                    args=[], keywords=[]), ln))
        declared = set(self.params)
        declarations = []
        # Declared up front: what is pushed before its first assignment, and arrays whose adjoint
        # starts as zeros shaped like them (scalar adjoints start as 0.0 and need no declaration).
        arrays = {v for v in self.active if _is_array_like(self.vartypes.get(v))}
        to_declare = sorted((set(self.pushed_vars) | arrays) - declared)
        for var in to_declare:
            ty = self.vartypes.get(var) or self.pushed_vars.get(var)
            if ty is not None:
                declarations.append(assign(var, dummy_value(ty), ln))
        tapes = []
        for var, ty in self.pushed_vars.items():
            tapes.extend(self.new_tape(var, ty, f"_{var.lstrip('_')}_tape", f"_{var.lstrip('_')}_top", ln))
        for (var, ty), (tape, top) in self.element_tapes.items():
            tapes.extend(self.new_tape(var, ty, tape, top, ln, like=dummy_value(ty)))

        seed = self.seed
        inits = [stmt for var in sorted(self.active) for stmt in self.resets(var, ln)]
        wrt_names = [self.params[k] for k in self.wrt]
        rebound = assignment_counts(self.fdef.body)
        for p in wrt_names:
            if p not in self.active:
                # Zeros shaped like the argument as passed, before the function rebinds it (x = x[1:]).
                (prologue if p in rebound else inits).append(assign(self.bar(p), self.zero_of(p), ln))
        if isinstance(self.result, gast.Name) and self.result.id in self.active:
            rty = self.vartypes.get(self.result.id)
            # add_cotangent: an empty cotangent (the probe run of vjp, which wants the value) adds nothing.
            if isinstance(rty, types.BaseTuple) and self.output_component is not None:
                out_bar = self.bar(self.result.id, self.output_component)
                inits.append(assign(out_bar, call("add_cotangent", name(out_bar), name(seed)), ln))
            elif isinstance(rty, types.BaseTuple):
                for k, t in enumerate(rty.types):
                    if is_float_type(t):
                        out_bar = self.bar(self.result.id, k)
                        part = gast.Subscript(value=name(seed), slice=const(k), ctx=gast.Load())
                        inits.append(assign(out_bar, call("add_cotangent", name(out_bar), part), ln))
            else:
                out_bar = self.bar(self.result.id)
                inits.append(assign(out_bar, call("add_cotangent", name(out_bar), name(seed)), ln))

        grads = gast.Tuple(elts=[name(self.bar(p)) for p in wrt_names], ctx=gast.Load())
        # The reverse sweep restores overwritten variables: keep the result as the forward sweep left it.
        result = copy.deepcopy(self.result)
        restored_in_place = {var for var, _ in self.element_tapes}
        rty = self.vartypes.get(self.result.id) if isinstance(self.result, gast.Name) else None
        if isinstance(rty, types.BaseTuple) and restored_in_place:
            # A tuple holds its arrays themselves, which the reverse sweep may write old values back
            # into (flow-insensitive aliases cannot say which): return copies of its arrays.
            value = self.normalizer.fresh("value")
            parts = [gast.Subscript(value=copy.deepcopy(self.result), slice=const(k), ctx=gast.Load())
                     for k in range(len(rty.types))]
            parts = [gast.Call(func=gast.Attribute(value=p, attr="copy", ctx=gast.Load()), args=[], keywords=[])
                     if _is_array_value(t) else p for p, t in zip(parts, rty.types)]
            forward.append(assign(value, gast.Tuple(elts=parts, ctx=gast.Load()), ln))
            result = name(value)
        elif isinstance(self.result, gast.Name):
            if restored_in_place & self.aliases.get(self.result.id, {self.result.id}):
                # The reverse sweep writes old values back into this array: return a copy.
                value = self.normalizer.fresh("value")
                forward.append(assign(value, gast.Call(func=gast.Attribute(value=copy.deepcopy(self.result),
                                                                           attr="copy", ctx=gast.Load()),
                                                       args=[], keywords=[]), ln))
                result = name(value)
            elif self.result.id in self.pushed_vars or self.result.id in self.checkpointed_vars:
                value = self.normalizer.fresh("value")
                forward.append(assign(value, copy.deepcopy(self.result), ln))
                result = name(value)
        ret = gast.Return(value=gast.Tuple(elts=[result, grads], ctx=gast.Load()))
        ret.lineno = ln
        forward_sweep, reverse_sweep = comment("forward sweep", ln), comment("reverse sweep", ln)
        new_body = (prologue + declarations + tapes + [forward_sweep] + forward
                    + [reverse_sweep] + inits + reverse + [ret])
        args = copy.deepcopy(self.fdef.args)
        args.args.append(gast.Name(id=seed, ctx=gast.Param(), annotation=None, type_comment=None))
        fdef = gast.FunctionDef(name=f"{self.fdef.name}_vjp", args=args, body=new_body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.lineno = ln
        started = {s.targets[0].id for s in inits}
        fdef.sweeps = Sweeps(
            params=tuple(self.params), cotangent=seed, wrt=tuple(self.wrt), is_helper=self.is_helper,
            copied=tuple(s.targets[0].id for s in prologue), declared=tuple(s.targets[0].id for s in declarations),
            tapes=tuple(Tape(tape, top if ndim_of(ty) == 0 else None, tape_dtype(ty), var)
                        for var, ty, tape, top in [(v, t) + self.tape_names(v) for v, t in self.pushed_vars.items()]
                        + [(v, t, tape, top) for (v, t), (tape, top) in self.element_tapes.items()]),
            adjoints={var: bar for (var, k), bar in self.bars.items() if k is None and bar in started},
            returned=result.id if isinstance(result, gast.Name) else None,
            gradients=tuple(self.bar(p) for p in wrt_names), forward_sweep=forward_sweep, reverse_sweep=reverse_sweep)
        return fdef

    def resets(self, var, ln) -> list:
        """``var``'s adjoint back to zero: one statement, or one per float component of a tuple."""
        ty = self.vartypes.get(var)
        if isinstance(ty, types.BaseTuple):
            return [assign(self.bar(var, k), call("zeros_like_float", gast.Subscript(
                        value=name(var), slice=const(k), ctx=gast.Load()), name(self.seed)), ln)
                    for k, t in enumerate(ty.types) if is_float_type(t)]
        return [assign(self.bar(var), self.zero_of(var), ln)]

    def zero_of(self, var):
        """A zero adjoint for ``var``: a literal for scalars, an array shaped like ``var`` otherwise."""
        ty = self.vartypes.get(var)
        if isinstance(ty, types.Float):
            return dummy_value(ty)
        if isinstance(ty, DualType):
            return const(0.0)  # numba promotes it to a dual where duals are added
        return call("zeros_like_float", name(var), name(self.seed))

    def new_tape(self, var, ty, tape, top, ln, like=None):
        if isinstance(ty, DualType):
            return [assign(tape, gast.Call(func=name("dual_zeros"), args=[const(16), const(ty.k)], keywords=[]), ln),
                    assign(top, const(0), ln)]
        if is_array_type(ty):
            if like is None:
                # Typed by the variable's type over the whole function, not by its first value (an
                # argument rebound to a view: x = x[::-1] in a loop).
                like = dummy_value(ty)
            return [assign(tape, call("array_stack", like), ln)]
        return [assign(tape, call_attr("np", "empty", const(16), numpy_dtype(scalar_dtype(ty))), ln),
                assign(top, const(0), ln)]

    # ------------------------------------------------------------------ forward sweep
    def tape_names(self, var):
        return f"_{var.lstrip('_')}_tape", f"_{var.lstrip('_')}_top"

    def push(self, var, value, ln, tape=None, top=None, ty=None):
        tape, top = tape or self.tape_names(var)[0], top or self.tape_names(var)[1]
        ty = ty if ty is not None else self.vartypes.get(var)
        if _is_array_value(ty):
            node = gast.Expr(value=gast.Call(func=gast.Attribute(value=name(tape), attr="append", ctx=gast.Load()),
                                             args=[value], keywords=[]))
            node.lineno = ln
            return node
        # Written out rather than called: the array is rebound only when it grows, so numba does
        # no reference counting per push (a call returning the array costs ~10x in tight loops).
        full = gast.Compare(left=name(top), ops=[gast.Eq()], comparators=[
            gast.Subscript(value=gast.Attribute(value=name(tape), attr="shape", ctx=gast.Load()), slice=const(0),
                           ctx=gast.Load())])
        grow = gast.If(test=full, body=[assign(tape, call("grow", name(tape)), ln)], orelse=[])
        grow.lineno = ln
        write = gast.Assign(targets=[gast.Subscript(value=name(tape), slice=name(top), ctx=gast.Store())],
                            value=value, type_comment=None)
        write.lineno = ln
        bump = gast.AugAssign(target=store(top), op=gast.Add(), value=const(1))
        bump.lineno = ln
        return _Group([grow, write, bump])

    def pop_into(self, target_node, var, ln, tape=None, top=None, ty=None):
        tape, top = tape or self.tape_names(var)[0], top or self.tape_names(var)[1]
        ty = ty if ty is not None else self.vartypes.get(var)
        if _is_array_value(ty):
            value = gast.Call(func=gast.Attribute(value=name(tape), attr="pop", ctx=gast.Load()), args=[], keywords=[])
            node = gast.Assign(targets=[target_node], value=value, type_comment=None)
            node.lineno = ln
            return [node]
        first = gast.AugAssign(target=store(top), op=gast.Sub(), value=const(1))
        first.lineno = ln
        second = gast.Assign(targets=[target_node], value=gast.Subscript(value=name(tape), slice=name(top),
                                                                         ctx=gast.Load()), type_comment=None)
        second.lineno = ln
        return [first, second]

    def peek(self, var, ln):
        tape, top = self.tape_names(var)
        ty = self.vartypes.get(var)
        index = gast.BinOp(left=name(top), op=gast.Sub(), right=const(1))
        if _is_array_value(ty):
            index = const(-1)
        return assign(var, gast.Subscript(value=name(tape), slice=index, ctx=gast.Load()), ln)

    def drop(self, var, ln):
        tape, top = self.tape_names(var)
        if _is_array_value(self.vartypes.get(var)):
            node = gast.Expr(value=gast.Call(func=gast.Attribute(value=name(tape), attr="pop", ctx=gast.Load()),
                                             args=[], keywords=[]))
            node.lineno = ln
            return node
        node = gast.AugAssign(target=store(top), op=gast.Sub(), value=const(1))
        node.lineno = ln
        return node

    def forward_block(self, stmts) -> list:
        out = []
        for stmt in stmts:
            ln = getattr(stmt, "lineno", None)
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                if id(stmt) in self.plan.push_value:
                    self.pushed_vars[op.target] = self.vartypes[op.target]
                    out.append(self.push(op.target, name(op.target), ln))
                if id(stmt) in self.plan.push_element:
                    out.append(self.push_element(op, ln))
                out.append(stmt)
            elif isinstance(stmt, gast.If):
                out.append(_copy_if(stmt, self.forward_block(stmt.body), self.forward_block(stmt.orelse)))
            elif isinstance(stmt, (gast.For, gast.While)):
                info = self.loop_info[id(stmt)]
                if id(stmt) in self.plan.push_index:
                    var = stmt.target.id
                    self.pushed_vars[var] = self.vartypes[var]
                    out.append(self.push(var, name(var), ln))
                self.depth = getattr(self, "depth", 0) + 1
                body = self.forward_block(stmt.body)
                self.depth -= 1
                carried = self.plan.checkpoint.get(id(stmt))
                if carried:
                    saves = []
                    for var in carried:
                        self.pushed_vars[var] = self.vartypes[var]
                        saves.append(self.push(var, name(var), ln))
                    body = [comment("save the values this iteration starts from", ln)] + _flatten(saves) + body
                if info["counter"]:
                    out.append(assign(info["counter"], const(0), ln))
                    inc = gast.AugAssign(target=store(info["counter"]), op=gast.Add(), value=const(1))
                    inc.lineno = ln
                    body = [inc] + body
                loop = copy.copy(stmt)
                loop.body = body
                out.append(loop)
                if info["counter"] and self.depth > 0:
                    # An inner loop's trip count differs per outer iteration: keep each one.
                    self.pushed_vars[info["counter"]] = types.int64
                    out.append(self.push(info["counter"], name(info["counter"]), ln, ty=types.int64))
            else:
                out.append(stmt)
        return _flatten(out)

    def element_tape(self, op):
        """The tape saving what ``x[index] = v`` overwrites: one per array and kind of part.

        Elements and sub-arrays of one array go on separate tapes (a scalar stack, a list of arrays).
        """
        x, index = op.target, op.statics["index"]
        xtype = self.vartypes[x]
        if len(index.elts if isinstance(index, gast.Tuple) else [index]) > ndim_of(xtype):
            # One name for arrays of different ranks (b = b.reshape(2, 2)) has no one type: numba
            # types each value apart, but a tape needs the element's type before the write.
            raise NonDifferentiableError(
                f"in-place write into '{x}', a name this function also gives arrays of other dimensions",
                self.fn.location(op.node), hint=f"give the reshaped array a name of its own, not '{x}'")
        dual = isinstance(xtype, DualArrayType)  # a Hessian's sweep: the parts saved are duals too
        if element_is_scalar(xtype, index):
            ety, suffix = (DualType(xtype.k) if dual else xtype.dtype), "saved"
        else:
            ndim = _slice_ndim(xtype, index)
            ety = types.Array(xtype.dtype, ndim, "C")
            if dual:
                ety = DualArrayType(xtype.k, ety, types.Array(xtype.dtype, ndim + 1, "C"))
            suffix = "slices" if ndim == 1 else f"slices{ndim}d"
        tape = f"_{x.lstrip('_')}_{suffix}"
        self.element_tapes[(x, ety)] = (tape, f"{tape}_top")
        return ety, tape, f"{tape}_top"

    def push_element(self, op, ln):
        ety, tape, top = self.element_tape(op)
        element = gast.Subscript(value=name(op.target), slice=copy.deepcopy(op.statics["index"]), ctx=gast.Load())
        if _is_array_value(ety):
            element = gast.Call(func=gast.Attribute(value=element, attr="copy", ctx=gast.Load()), args=[], keywords=[])
        return self.push(op.target, element, ln, tape, top, ety)

    # ------------------------------------------------------------------ reverse sweep
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
                    out.extend(self.pop_into(target, op.target, ln, tape, top, ety))
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
            return [_copy_if(stmt, body or [gast.Pass()], orelse)]
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
                    or not _is_array_value(self.vartypes.get(op.target))):
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
                if not isinstance(arg, gast.Name) or not _is_array_value(self.vartypes.get(arg.id)):
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
                it = call("range", _minus(name(info["counter"]), 1), const(-1), const(-1))
            else:
                it = call("range", name(info["counter"]))
            rev = gast.For(target=store(k), iter=it, body=prefix + recompute + body, orelse=[], type_comment=None)
        rev.lineno = ln
        out.append(rev)
        if id(loop) in self.plan.push_index:
            out.extend(self.pop_into(store(loop.target.id), loop.target.id, ln))
        return out


class _Group(list):
    """Several statements standing for one push; flattened where they are emitted."""


def _flatten(stmts):
    out = []
    for stmt in stmts:
        if isinstance(stmt, _Group):
            out.extend(stmt)
        else:
            out.append(stmt)
    return out


def _minus(node, k):
    if isinstance(node, gast.Constant) and isinstance(node.value, int):
        return const(node.value - k)
    if k < 0:
        return gast.BinOp(left=copy.deepcopy(node), op=gast.Add(), right=const(-k))
    return gast.BinOp(left=copy.deepcopy(node), op=gast.Sub(), right=const(k))


def _copy_if(stmt, body, orelse):
    node = gast.If(test=copy.deepcopy(stmt.test), body=body or [gast.Pass()], orelse=orelse)
    node.lineno = getattr(stmt, "lineno", None)
    return node


def _is_array_value(ty) -> bool:
    """Values pushed by reference onto a list stack: arrays (of floats, or of duals)."""
    return ndim_of(ty) > 0


def _is_array_like(ty) -> bool:
    return ndim_of(ty) > 0 or isinstance(ty, types.BaseTuple)


def _slice_ndim(xtype, index) -> int:
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    ints = sum(1 for p in parts if not isinstance(p, gast.Slice))
    return xtype.ndim - ints


def _runtime_names():
    return runtime.__all__

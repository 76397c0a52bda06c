"""Assemble a reverse-mode function: forward sweep (with pushes), then reverse sweep (with pops).

For ``f(x, n)`` returning ``s`` this writes ``f_vjp(x, n, s_cotangent)`` returning
``(s, (x_bar,))``: the value and the cotangents of the differentiated arguments.  The forward
sweep is the normalised function itself plus tape pushes; the reverse sweep walks the statements
backwards, loops run backwards over the same iterations, branches replay the recorded decision.

:class:`ReverseTransform` plans (here: activity, adjoints, the tape plan, the aliasing checks) and
takes the code it writes from its bases, one job each: :mod:`.assembly` (the function put
together), :mod:`.forward_sweep`, :mod:`.reverse_sweep` and :mod:`.tape_code` (pushes and pops).
"""
from __future__ import annotations

import gast
from numba.core import types

from .. import runtime
from ..errors import NonDifferentiableError, TypingError
from ..frontend import ops as O
from ..frontend.typeinfer import PromotedArray
from ..duals.numba_dual import DualType
from ..syntax.nodes import assign, assigned_names, call, const, name, names_read, statements
from ..value_types import is_float_type
from . import passes
from .activity import find_active
from .adjoint import AdjointWriter
from .assembly import Assembly
from . import dead_code
from .forward_sweep import ForwardSweep
from .rematerialize import rematerialize
from .reverse_sweep import ReverseSweep, minus
from .tape import TapePlanner, alias_groups, assignment_counts, live_after, loop_body, sharing_at_writes
from .tape_code import TapeCode


class ReverseTransform(Assembly, ForwardSweep, ReverseSweep, TapeCode):
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
        """The name of ``var``'s adjoint; of one float leaf of a tuple ``var`` when ``component`` gives
        its position (an index, or a path of indices into nested tuples)."""
        if isinstance(component, int):
            component = (component,)
        key = (var, component)
        if key not in self.bars:
            base = f"{var.lstrip('_')}_bar" + ("" if component is None else "_".join(map(str, component)))
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
        # A value the result never reads, on any path, gets no adjoint statements: its adjoint is
        # zero, and zero times a NaN or inf it holds (x / norm(x) of zeros) would be NaN in the
        # gradient where the derivative is finite.
        body = dead_code.eliminate(body, lambda stmt: dead_code.pure(stmt.value), live_out=dead_code.reads(ret.value))
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
                # An array of two dtypes (PromotedArray) is saved as a converted copy: the reverse sweep's
                # restore of the written element reaches the copy, not the other names (fuzz seed 32200192).
                promoted = isinstance(self.vartypes.get(op.target), PromotedArray)
                others = {v for v in shared if isinstance(v, str) and v != op.target
                          and (v in live[id(stmt)] or v in self.params or promoted)}
                others |= {v[1] for v in shared if not isinstance(v, str) and v[1] != op.target}
                if others and (op.target in self.active or others & self.active):
                    other = min(others, key=lambda v: (v.startswith("_"), v))  # a user name if any
                    raise NonDifferentiableError(
                        f"in-place write into '{op.target}', which shares memory with '{other}' (a view or alias)",
                        self.fn.location(stmt),
                        hint=f"make it an independent array first, e.g. {op.target} = ....copy()"
                             + (f"; '{op.target}' holds arrays of two float dtypes (numba widens float32 times a "
                                f"Python float to float64): give it one, e.g. {op.target} = {op.target}.astype(np.float64) "
                                "at the start" if promoted else ""))
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
                    rev = call("range", minus(stop, 1), minus(start, 1), const(-1))
                else:
                    rev = call("range", minus(stop, -1), minus(start, -1))
                return {"counter": None, "iter": rev, "reads": names_read([start, stop])}
        counter = self.normalizer.fresh("trips")
        reads = {counter}
        if isinstance(loop, gast.For):
            reads |= names_read(loop.iter.args[:1] + loop.iter.args[2:])
        return {"counter": counter, "iter": None, "reads": reads}


def _runtime_names():
    return runtime.__all__

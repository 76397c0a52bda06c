"""Generate, load and drive the pieces of a checkpointed reverse mode.

:func:`build_checkpointed` runs one function through the front end, splits it at the chosen
top-level loops (:mod:`adflow.checkpoint.split`), writes every piece's primal and reverse mode into
one module with the usual :class:`~adflow.pipeline.build.ModuleBuilder`, and returns a
:class:`Checkpointed`: a Python callable with the vjp's signature, ``(args..., cotangent) ->
(value, gradients)``, that calls the compiled pieces in order and each loop's schedule
(:class:`~adflow.checkpoint.run.LoopRun`, with the loop's compiled driver).
"""
from __future__ import annotations

import copy

import gast
import numpy as np
from numba.core import types

from ..errors import NonDifferentiableError, UnsupportedSyntaxError
from ..pipeline.build import ModuleBuilder, check_call
from ..reverse.transform import ReverseTransform
from ..rules.custom import custom_vjp_of
from ..syntax.nodes import assign, const, name, store
from ..value_types import is_float_type
from .drivers import header as sweeps_header
from .drivers import loop_sweeps
from .run import LoopRun, zero_like
from .schedule import LoopReport, state_bytes
from .split import Segment, Splitter, top_level_loops


def build_checkpointed(func, argtypes, wrt, target, output_component=None, positions=None, probes=False):
    """(a :class:`Checkpointed` vjp, the module's source, the prepared function).

    ``positions``: the indices, in the normalised body, of the top-level loops to checkpoint (None:
    every one); ``probes``: also compile, per loop, a function measuring one iteration's tape.
    """
    check_call(func, argtypes, wrt)
    if custom_vjp_of(func) is not None:
        raise UnsupportedSyntaxError(f"checkpoint= on {func.__name__}, which has its own rule (custom_vjp)",
                                     hint="the rule's vjp is called as written: drop checkpoint=")
    builder = ModuleBuilder(target)
    builder.enter(func)
    try:
        prepared = builder.prepare(func, argtypes)
        fn = prepared.fn
        loops = top_level_loops(fn, prepared.fdef)
        for k in wrt:
            p = fn.params[k]
            if not is_float_type(prepared.vartypes.get(p)):
                raise NonDifferentiableError(
                    f"argument '{p}' of {fn.name} is {prepared.vartypes.get(p)}, not a float or float array",
                    fn.location(prepared.fdef), hint="differentiate with respect to float arguments only")
        chosen = loops if positions is None else [prepared.fdef.body[p] for p in positions]
        splitter = Splitter(fn, prepared.fdef, prepared.vartypes, prepared.normalizer.fresh)
        pieces = splitter.run(chosen)
        compiled = [_PieceNames(piece) for piece in pieces]
        for piece, names in zip(pieces, compiled):
            where = f"{fn.name} ({fn.filename}:{piece.lineno})"
            if isinstance(piece, Segment):
                what = "the code after the last checkpointed loop" if piece.is_last else "the code before a loop"
                if not piece.is_last:
                    names.primal = builder.add(piece.primal, prepared, f"{what}, {where}: values only")
                names.vjp = _reverse(builder, prepared, piece.function, output_component if piece.is_last else None,
                                     f"reverse mode of {what}, {where}")
            else:
                kind = "while loop" if piece.kind == "while" else "loop"
                names.primal = builder.add(piece.advance, prepared,
                                           f"the {kind} at {where}: iterations k0 to k1, no tape")
                if piece.count is not None:
                    names.count = builder.add(piece.count, prepared,
                                              f"the {kind} at {where} as written: its trip count and final state")
                vjp = ReverseTransform(fn, copy.deepcopy(piece.step), prepared.normalizer, prepared.vartypes,
                                       _float_params(piece.step, prepared.vartypes),
                                       builder.helper_vjp_name(prepared)).run()
                if probes:
                    names.probe = builder.add(_tape_probe(vjp), prepared,
                                              f"the bytes one iteration of the {kind} at {where} keeps on its tape")
                names.vjp = builder.add(builder.target.after_reverse(vjp), prepared,
                                        f"one iteration of the {kind} at {where}, with its tape, and its reverse")
                _check_state_types(fn, piece, prepared.vartypes)
                sweeps, _ = loop_sweeps(builder.unique(names.primal.removesuffix("_advance") + "_sweeps"),
                                        names.primal, names.vjp, piece.carried, piece.invariants,
                                        {n for n in piece.carried if getattr(prepared.vartypes[n], "ndim", 0)},
                                        _float_params(piece.step, prepared.vartypes))
                names.sweeps = builder.add_template_function(sweeps, sweeps_header(where))
        module, text, _ = builder.load(f"{fn.name}_checkpointed", f"{fn.name}, checkpointed")
    finally:
        builder.in_progress.pop()
    text = _structure(fn, pieces, compiled) + text
    return Checkpointed(module, fn, pieces, compiled, prepared.vartypes, wrt), text, prepared


def _reverse(builder, prepared, function, output_component, header):
    vjp = ReverseTransform(prepared.fn, copy.deepcopy(function), prepared.normalizer, prepared.vartypes,
                           _float_params(function, prepared.vartypes), builder.helper_vjp_name(prepared),
                           False, output_component).run()
    return builder.add(builder.target.after_reverse(vjp), prepared, header)


def _float_params(fdef, vartypes) -> list:
    return [k for k, a in enumerate(fdef.args.args) if is_float_type(vartypes.get(a.id))]


def _tape_probe(vjp) -> gast.FunctionDef:
    """The forward sweep of one iteration's vjp, returning the bytes its tapes hold at the end."""
    probe = copy.deepcopy(vjp)
    sweeps = probe.sweeps
    body = probe.body[:next(k for k, s in enumerate(probe.body) if s is sweeps.reverse_sweep)]
    total, ln = "_tape_bytes", probe.lineno
    body.append(assign(total, const(0), ln))
    for tape in sweeps.tapes:
        if tape.holds_scalars:
            size = gast.BinOp(left=name(tape.top), op=gast.Mult(),
                              right=gast.Attribute(value=name(tape.name), attr="itemsize", ctx=gast.Load()))
            body.append(_add_to(total, size, ln))
        elif tape.top is None:
            item = "_saved"
            loop = gast.For(target=store(item), iter=name(tape.name),
                            body=[_add_to(total, gast.Attribute(value=name(item), attr="nbytes", ctx=gast.Load()), ln)],
                            orelse=[], type_comment=None)
            loop.lineno = ln
            body.append(loop)
    ret = gast.Return(value=name(total))
    ret.lineno = ln
    probe.body = body + [ret]
    probe.args.args = probe.args.args[:-1]  # no cotangent
    probe.name = probe.name.replace("_vjp", "_tape_bytes")
    return probe


def _add_to(var, value, ln):
    node = gast.AugAssign(target=store(var), op=gast.Add(), value=value)
    node.lineno = ln
    return node


class _PieceNames:
    """The generated functions of one piece, by name in the module."""

    def __init__(self, piece):
        self.piece = piece
        self.primal = self.vjp = self.count = self.probe = self.sweeps = None


def _structure(fn, pieces, compiled) -> str:
    """A comment block at the top of ``.source``: what the driver calls, in order."""
    lines = [f"# Checkpointed reverse mode of {fn.name} ({fn.filename}): adflow/checkpoint/build.py",
             "# runs these generated functions in order, then their reverse modes last to first:"]
    for piece, names in zip(pieces, compiled):
        if isinstance(piece, Segment):
            if piece.is_last:
                lines.append(f"#   {names.vjp}({', '.join(piece.inputs)}, cotangent) -> value and cotangents "
                             f"(line {piece.lineno} on)")
            else:
                lines.append(f"#   {', '.join(piece.outputs)} = {names.primal}({', '.join(piece.inputs)})")
        else:
            state = ", ".join(piece.carried)
            trips = ("the trips of range(" + ", ".join(map(str, piece.bounds)) + ")" if not piece.online
                     else f"the trips {names.count} counts first (online)")
            lines.append(f"#   loop at line {piece.lineno}, state ({state}), invariants "
                         f"({', '.join(piece.invariants)}): binomial schedule (Revolve, checkpoint_schedules)")
            lines.append(f"#     over {trips}: the compiled driver {names.sweeps} carries out its plan,")
            lines.append(f"#     calling {names.primal} (advance without a tape) and {names.vjp} (reverse one iteration)")
    return "\n".join(lines) + "\n\n"


def _or_zero(bar, zero):
    return zero if bar is None else bar


class Checkpointed:
    """The checkpointed vjp: ``(args..., cotangent) -> (value, gradients of wrt)``, like a compiled vjp.

    ``report`` holds a :class:`~adflow.checkpoint.schedule.LoopReport` per checkpointed loop of the
    last call.  ``snapshots`` (one count for every loop) is set by the caller before a call.
    """

    def __init__(self, module, fn, pieces, compiled, vartypes, wrt):
        self.module = module
        # compile_error() reads the generated module's records through the callable's globals.
        self.__globals__ = vars(module)
        self.fn = fn
        self.pieces = pieces
        self.compiled = compiled
        self.vartypes = vartypes
        self.wrt = wrt
        self.snapshots = None
        self.report = []

    def fn_of(self, names, kind):
        return getattr(self.module, getattr(names, kind))

    def inputs(self, piece, env):
        return tuple(env[n] if n in env else _placeholder(self.vartypes[n]) for n in piece.inputs)

    def loop_entry(self, piece, names, env):
        """(entry state, invariants, start, step, trips or None) of a loop piece."""
        state = self.inputs(piece, env)[:len(piece.carried)]
        invariants = tuple(env[n] for n in piece.invariants)
        check_no_shared_memory(self.fn, piece, state, invariants)
        if piece.kind == "while":
            return state, invariants, 0, 1, None
        start, stop, step = (env[b] if isinstance(b, str) else b for b in piece.bounds)
        return state, invariants, start, step, len(range(start, stop, step))

    def count(self, piece, names, state, invariants):
        trips, final = self.fn_of(names, "count")(*state, *invariants)
        return trips, final

    def __call__(self, *args):
        *args, cotangent = args
        params = self.fn.params
        env = dict(zip(params, args))
        self.report, records = [], []
        for piece, names in zip(self.pieces[:-1], self.compiled[:-1]):
            if isinstance(piece, Segment):
                inputs = self.inputs(piece, env)
                outputs = self.fn_of(names, "primal")(*inputs)
                records.append((inputs, [zero_like(v) for v in outputs]))
                env.update(zip(piece.outputs, outputs))
                continue
            state, invariants, start, step, trips = self.loop_entry(piece, names, env)
            final = None
            report = LoopReport(piece.lineno, 0, 0, state_bytes=state_bytes(state))
            if trips is None or piece.online:
                trips, final = self.count(piece, names, state, invariants)
                report.counted = trips
            report.trips = trips
            report.snapshots = self.snapshots_for(piece, report)
            floats = set(_float_params(piece.step, self.vartypes))
            run = LoopRun(self.fn_of(names, "sweeps"), state, invariants, start, step,
                          [j for j in range(len(invariants)) if len(piece.carried) + j in floats],
                          [self.vartypes[n] for n in piece.carried], report, _location(self.fn, piece.lineno))
            final = run.forward(final)
            records.append((run, [zero_like(v) for v in final]))
            self.report.append(report)
            env.update(zip(piece.carried, final))
        last, names = self.pieces[-1], self.compiled[-1]
        value, parts = self.fn_of(names, "vjp")(*self.inputs(last, env), cotangent)
        bars = {}
        self.accumulate(bars, last.inputs, self.float_inputs(last.function), parts)
        for piece, names, (record, zeros) in zip(reversed(self.pieces[:-1]), reversed(self.compiled[:-1]),
                                                 reversed(records)):
            outputs = piece.outputs if isinstance(piece, Segment) else piece.carried
            out_bar = tuple(_or_zero(bars.pop(n, None), z) for n, z in zip(outputs, zeros))
            if isinstance(piece, Segment):
                _, parts = self.fn_of(names, "vjp")(*record, out_bar)
                self.accumulate(bars, piece.inputs, self.float_inputs(piece.function), parts)
            else:
                state_bar, invariant_bar = record.reverse(out_bar)
                self.accumulate(bars, piece.carried, [k for k, n in enumerate(piece.carried)
                                                      if is_float_type(self.vartypes[n])], state_bar, positional=True)
                self.accumulate(bars, piece.invariants, range(len(piece.invariants)), invariant_bar, positional=True)
        grads = tuple(bars[params[k]] if bars.get(params[k]) is not None else zero_like(args[k]) for k in self.wrt)
        return value, grads

    def float_inputs(self, fdef):
        return _float_params(fdef, self.vartypes)

    @staticmethod
    def accumulate(bars, names, indices, parts, positional=False):
        for j, k in enumerate(indices):
            part = parts[k] if positional else parts[j]
            if part is None:
                continue
            n = names[k]
            bars[n] = part if bars.get(n) is None else bars[n] + part

    def snapshots_for(self, piece, report):
        return self.snapshots(piece, report) if callable(self.snapshots) else self.snapshots


def _check_state_types(fn, piece, vartypes):
    """The driver keeps snapshots in arrays: a loop carrying anything but numbers and arrays is refused."""
    for n in piece.carried:
        ty = vartypes[n]
        if not isinstance(ty, (types.Number, types.Boolean, types.Array)):
            raise UnsupportedSyntaxError(
                f"checkpointing: the loop carries '{n}' from one iteration to the next, a {ty}; "
                "a checkpointed loop's state is numbers and arrays", _location(fn, piece.lineno),
                hint=f"carry the parts of '{n}' as separate names, or drop checkpoint=")


def check_no_shared_memory(fn, piece, state, invariants):
    """A loop that writes into an array sharing memory with another of its inputs is refused: the
    schedule restores one from a snapshot without the other."""
    names = piece.carried + piece.invariants
    values = list(state) + list(invariants)
    for a, x in zip(names, values):
        if a not in piece.written_in_place or not isinstance(x, np.ndarray):
            continue
        for b, y in zip(names, values):
            if b != a and isinstance(y, np.ndarray) and np.shares_memory(x, y):
                raise NonDifferentiableError(
                    f"checkpointing: the loop writes into '{a}', which shares memory with '{b}' (a view or alias)",
                    _location(fn, piece.lineno),
                    hint=f"make one an independent array before the loop, e.g. {a} = {a}.copy()")


def _location(fn, lineno):
    node = gast.Pass()
    node.lineno = lineno
    return fn.location(node)


def _placeholder(ty):
    """A value of numba type ``ty`` for a name the code may read before assigning it."""
    ndim = getattr(ty, "ndim", 0)
    if ndim:
        return np.empty((0,) * ndim, dtype=str(ty.dtype))
    text = str(ty)
    return False if text == "bool" else 0 if text.startswith(("int", "uint")) else 0.0

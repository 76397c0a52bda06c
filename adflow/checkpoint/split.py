"""Split a normalised function at its top-level loops into pieces a checkpointing driver can call.

For ``f`` whose body is ``A; for t in range(a, b, c): B; C; return r`` (after the front end), with
the loop chosen, this writes

* ``f_part0(inputs of A) -> (what A assigns that is read later)``: a :class:`Segment`;
* the loop as a :class:`Loop`: its *carried* names (assigned in the body and read by a later
  iteration or after the loop), its *invariants* (read, never assigned), and three functions of
  ``(carried..., invariants..., start, step, ...)``: ``step`` (one iteration ``k``, ``t = start +
  k * step``, returning the carried values: what the reverse transform differentiates),
  ``advance`` (iterations ``k0`` to ``k1`` without a tape) and, for a ``while`` loop or one with
  ``break``, ``count`` (the loop as written, returning its trip count and final state);
* ``f_part1(inputs of C) -> r``: the last segment, which returns ``f``'s result.

Every function here is plain normalised code: the pipeline compiles the primal ones as they are
and runs the reverse transform on ``Segment.function`` and ``Loop.step``.  Primal functions copy
the array arguments they write into, so the driver's snapshots and the caller's arrays are never
changed.  Names come from a liveness analysis over the structured code
(:func:`adflow.reverse.tape.live_after`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import gast
from numba.core import types

from ..errors import UnsupportedSyntaxError
from ..syntax.nodes import assign, assigned_names, call, call_attr, const, name, param, statements, store
from ..reverse.tape import live_after, loop_body


@dataclass
class Segment:
    """Straight code between loops (inner loops and branches allowed): differentiated with a full tape."""

    inputs: list
    outputs: list  # empty for the last segment, which returns f's result
    function: gast.FunctionDef  # inputs -> tuple of outputs (or f's result)
    primal: gast.FunctionDef | None  # the same, copying the arrays it writes into; None for the last
    lineno: int

    @property
    def is_last(self) -> bool:
        return self.primal is None


@dataclass
class Loop:
    """A loop run under a checkpointing schedule."""

    lineno: int
    position: int  # its index in the normalised body
    kind: str  # "for" or "while"
    exits_early: bool  # a for loop with break: its trip count is known only by running it
    carried: list
    invariants: list
    bounds: tuple  # (start, stop, step) of range(): names (str) or ints; () for a while loop
    step: gast.FunctionDef  # (carried..., invariants..., start, step, k) -> tuple of carried
    advance: gast.FunctionDef  # (carried..., invariants..., start, step, k0, k1) -> tuple of carried
    count: gast.FunctionDef | None  # (carried..., invariants...) -> (trips, tuple of carried)
    written_in_place: set = field(default_factory=set)

    @property
    def inputs(self) -> list:
        return self.carried + self.invariants

    @property
    def online(self) -> bool:
        """The trip count is known only once the loop has run (while, break)."""
        return self.kind == "while" or self.exits_early


def _users_loop(stmt) -> bool:
    """A loop the user wrote, not one fusion made of whole-array code (frontend/fusion.py)."""
    return isinstance(stmt, (gast.For, gast.While)) and not getattr(stmt, "fused", False)


def top_level_loops(fn, fdef) -> list:
    """The loops of ``fdef``'s body (not nested in a branch or another loop); an adflow error when none."""
    loops = [s for s in fdef.body if _users_loop(s)]
    if loops:
        return loops
    nested = [s for s in statements(fdef.body) if _users_loop(s)]
    if nested:
        raise UnsupportedSyntaxError(
            f"checkpoint= needs a loop at the top level of {fn.name}, but its loops are inside branches",
            fn.location(nested[0]), hint="move the loop out of the if, or drop checkpoint=")
    raise UnsupportedSyntaxError(f"checkpoint= was given, but {fn.name} has no loop to checkpoint",
                                 fn.location(fdef), hint="checkpointing applies to long loops: drop checkpoint=")


class Splitter:
    """``Splitter(fn, fdef, vartypes, fresh).run(loops)``: the pieces, in program order."""

    def __init__(self, fn, fdef, vartypes, fresh):
        self.fn = fn
        self.fdef = fdef
        self.vartypes = vartypes
        self.fresh = fresh
        self.params = [a.id for a in fdef.args.args]
        self.locals = set(self.params) | assigned_names(fdef.body)
        sentinel = gast.Pass()
        self.body = list(fdef.body)
        self.live = live_after([sentinel] + self.body)
        self.live_at_entry = self.live[id(sentinel)]

    def live_before(self, k) -> set:
        return self.live[id(self.body[k - 1])] if k else set(self.live_at_entry) | set(self.params)

    def run(self, chosen) -> list:
        chosen_ids = {id(s) for s in chosen}
        pieces, start = [], 0
        for k, stmt in enumerate(self.body):
            if id(stmt) not in chosen_ids:
                continue
            if k > start:
                segment = self.segment(start, k, last=False)
                if segment.outputs:
                    pieces.append(segment)
            pieces.append(self.loop(k))
            start = k + 1
        pieces.append(self.segment(start, len(self.body), last=True))
        return pieces

    # ------------------------------------------------------------------ segments
    def segment(self, start, stop, last) -> Segment:
        stmts = self.body[start:stop]
        inputs = self.inputs(stmts, self.live_before(start))
        lineno = getattr(stmts[0], "lineno", self.fdef.lineno)
        stem = f"{self.fdef.name}_part{start}"
        if last:
            function = self.function(stem, inputs, copy.deepcopy(stmts), lineno)
            return Segment(inputs, [], function, None, lineno)
        outputs = sorted(_assigned(stmts) & self.live[id(stmts[-1])] & self.locals)
        body = copy.deepcopy(stmts) + self.returning(outputs, lineno)
        function = self.function(stem, inputs, body, lineno)
        primal = self.function(stem, inputs, self.copies(stmts, inputs, lineno) + copy.deepcopy(body), lineno)
        return Segment(inputs, outputs, function, primal, lineno)

    def inputs(self, stmts, live) -> list:
        """The names ``stmts`` may read or leave unchanged from before them (kept in f's order)."""
        read = _loads(stmts) | _assigned(stmts)
        return self.ordered(live & read & self.locals)

    def ordered(self, found) -> list:
        order = {n: k for k, n in enumerate(self.params)}
        return sorted(found, key=lambda n: (order.get(n, len(order)), n))

    # ------------------------------------------------------------------ loops
    def loop(self, k) -> Loop:
        loop = self.body[k]
        ln = loop.lineno
        kind = "for" if isinstance(loop, gast.For) else "while"
        body = loop_body(loop)
        exits_early = kind == "for" and body is not loop.body
        live_in = self.live_before(k)
        assigned = _assigned(loop.body)
        index = loop.target.id if kind == "for" else None
        if index is not None and index in self.live[id(loop)]:
            raise UnsupportedSyntaxError(
                f"checkpointing: the loop variable '{index}' is read after the loop", self.fn.location(loop),
                hint=f"keep its last value in another variable inside the loop (last = {index})")
        carried = self.ordered((live_in & assigned & self.locals) - {index})
        # The loop variable is bound by each iteration (index_line below), never read from outside.
        invariants = self.ordered((live_in & _loads([loop]) & self.locals) - assigned - {index})
        bounds = ()
        if kind == "for":
            bounds = tuple(self.bound(b, loop) for b in loop.iter.args)
        start, step, kname = self.fresh("start"), self.fresh("step"), self.fresh("k")
        for v in (start, step, kname):
            self.vartypes[v] = types.intp
        stem = f"{self.fdef.name}_loop{k}"
        index_line = [assign(index, gast.BinOp(left=name(start), op=gast.Add(), right=gast.BinOp(
            left=name(kname), op=gast.Mult(), right=name(step))), ln)] if index else []
        inputs = carried + invariants
        returned = self.returning(carried, ln)
        step_fn = self.function(f"{stem}_step", inputs + [start, step, kname],
                                index_line + copy.deepcopy(body) + copy.deepcopy(returned), ln)
        k0, k1 = self.fresh("k0"), self.fresh("k1")
        self.vartypes[k0] = self.vartypes[k1] = types.intp
        iterations = gast.For(target=store(kname), iter=call("range", name(k0), name(k1)),
                              body=copy.deepcopy(index_line) + copy.deepcopy(body), orelse=[], type_comment=None)
        iterations.lineno = ln
        copies = self.copies([loop], inputs, ln)
        advance = self.function(f"{stem}_advance", inputs + [start, step, k0, k1],
                                copies + [iterations] + copy.deepcopy(returned), ln)
        count = None
        if kind == "while" or exits_early:
            trips = self.fresh("trips")
            self.vartypes[trips] = types.intp
            counted = copy.deepcopy(loop)
            counted.body = [assign(trips, gast.BinOp(left=name(trips), op=gast.Add(), right=const(1)), ln)] \
                + counted.body
            pair = self.fresh("counted")
            self.vartypes[pair] = types.Tuple([types.intp, self.vartypes[returned[0].targets[0].id]])
            count = self.function(f"{stem}_count", inputs, copy.deepcopy(copies) + [assign(trips, const(0), ln), counted]
                                  + copy.deepcopy(returned[:1])
                                  + [assign(pair, gast.Tuple(elts=[name(trips), name(returned[0].targets[0].id)],
                                                             ctx=gast.Load()), ln), _return(pair, ln)], ln)
        return Loop(ln, k, kind, exits_early, carried, invariants, bounds, step_fn, advance, count,
                    _written_in_place([loop]))

    def bound(self, node, loop):
        if isinstance(node, gast.Name):
            return node.id
        if isinstance(node, gast.Constant) and isinstance(node.value, int):
            return node.value
        raise UnsupportedSyntaxError("checkpointing: this loop's range() bound is not a name or a number",
                                     self.fn.location(loop), hint="compute the bound in a variable before the loop")

    # ------------------------------------------------------------------ writing functions
    def returning(self, names, ln) -> list:
        out = self.fresh("out")
        self.vartypes[out] = types.Tuple([self.vartypes[n] for n in names])
        return [assign(out, gast.Tuple(elts=[name(n) for n in names], ctx=gast.Load()), ln), _return(out, ln)]

    def copies(self, stmts, inputs, ln) -> list:
        """``x = x.copy()`` for each input array the statements write into (never change what was passed)."""
        written = _written_in_place(stmts)
        return [assign(n, call_attr(n, "copy"), ln) for n in inputs
                if n in written and getattr(self.vartypes.get(n), "ndim", 0) > 0]

    def function(self, fname, params, body, ln) -> gast.FunctionDef:
        args = gast.arguments(args=[param(p) for p in params], posonlyargs=[], vararg=None, kwonlyargs=[],
                              kw_defaults=[], kwarg=None, defaults=[])
        fdef = gast.FunctionDef(name=fname, args=args, body=body, decorator_list=[], returns=None,
                                type_comment=None, type_params=[])
        fdef.lineno = ln
        return fdef


def _return(var, ln):
    node = gast.Return(value=name(var))
    node.lineno = ln
    return node


def _loads(stmts) -> set:
    return {n.id for s in stmts for n in gast.walk(s) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _written_in_place(stmts) -> set:
    out = set()
    for s in stmts:
        for node in gast.walk(s):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Subscript):
                base = node.targets[0].value
                while isinstance(base, gast.Subscript):
                    base = base.value
                if isinstance(base, gast.Name):
                    out.add(base.id)
    return out


def _assigned(stmts) -> set:
    """Names the statements rebind or write into."""
    return assigned_names(stmts) | _written_in_place(stmts)

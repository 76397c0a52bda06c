"""Pushes in a loop check the tape's room once per loop (or per chunk of iterations), not once per push.

A scalar push is a growth check, the write and the bump (:mod:`.sweeps`)::

    if _x_top == _x_tape.shape[0]:
        _x_tape = grow(_x_tape)
    _x_tape[_x_top] = x
    _x_top += 1

The check costs a compare and a branch, but the rebinding it may do costs far more: the tape is
a loop-carried value LLVM must reload on every access, and the loop cannot be scheduled as a
straight line (Lorenz's gradient ran at 3.3x its primal with three such pushes per step, 2.2x
without).  So:

* a ``for`` loop over ``range`` knows its trip count when it starts: before it goes
  ``_x_tape = reserve(_x_tape, _x_top + k * trip_count(start, stop, step))`` (``_x_top + n`` for
  ``range(0, n, 1)``) for the ``k`` pushes of each tape its body makes per iteration (inside branches too: an upper bound, and
  ``break`` only runs fewer), and those pushes lose their growth checks;
* a ``while`` loop runs in chunks of :data:`CHUNK` iterations, each chunk a ``for`` loop that
  reserves room for itself as above and leaves when the loop's condition turns false.

Left alone: tapes some loop nested inside pushes to (its pushes would use the room reserved for
the outer ones), loops whose range bounds are not :func:`~adflow.reverse.dead_code.pure` (they are
evaluated twice), ``while`` loops whose test is not a name or whose body breaks or continues
itself, and lists of arrays (no check to drop).  A pure function from the generated
``FunctionDef`` to a new one.
"""
from __future__ import annotations

import copy

import gast

from ..syntax.nodes import call, copy_tree, name
from .dead_code import pure

# Iterations of a while loop per check of its tapes' room.
CHUNK = 256


def reserve_tapes(fdef: gast.FunctionDef) -> gast.FunctionDef:
    sweeps = getattr(fdef, "sweeps", None)
    if sweeps is None or not any(t.top is not None for t in sweeps.tapes):
        return fdef
    fdef = copy_tree(fdef)
    taken = {n.id for n in gast.walk(fdef) if isinstance(n, gast.Name)}
    fdef.body = _Reserve(fdef.sweeps, taken).block(fdef.body)
    return fdef


class _Reserve:
    def __init__(self, sweeps, taken):
        self.sweeps = sweeps
        self.taken = taken  # every name of the function: a new one must differ

    def block(self, stmts) -> list:
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                stmt.body, stmt.orelse = self.block(stmt.body), self.block(stmt.orelse)
            elif isinstance(stmt, (gast.For, gast.While)):
                stmt.body = self.block(stmt.body)  # inner loops first: they reserve for themselves
                if isinstance(stmt, gast.For):
                    bounds = _range_bounds(stmt)
                    if bounds is not None:
                        out.extend(self.reservations(stmt, _trips(*bounds)))
                else:
                    stmt = self.in_chunks(stmt)
            out.append(stmt)
        return out

    def in_chunks(self, loop):
        """``while c: body`` as ``while c:`` (reserve room for CHUNK iterations) ``for _ in
        range(CHUNK): body; if not c: break``, when the body pushes: the same iterations, with one
        check of the tapes' room per CHUNK of them (``c`` is a name, read again at no cost)."""
        if not isinstance(loop.test, gast.Name) or loop.orelse or _jumps(loop.body):
            return loop
        chunk = gast.For(target=name(self.fresh("_chunk"), gast.Store()), iter=call("range", _int(CHUNK)),
                         body=loop.body, orelse=[], type_comment=None)
        chunk.lineno = getattr(loop, "lineno", None)
        reserve = self.reservations(chunk, _int(CHUNK))
        if not reserve:
            return loop
        stop = gast.If(test=gast.UnaryOp(op=gast.Not(), operand=name(loop.test.id)), body=[gast.Break()], orelse=[])
        chunk.body = chunk.body + [stop]
        loop.body = reserve + [chunk]
        return loop

    def fresh(self, base):
        candidate, k = base, 1
        while candidate in self.taken:
            candidate, k = f"{base}{k}", k + 1
        self.taken.add(candidate)
        return candidate

    def reservations(self, loop, trips) -> list:
        """The ``reserve`` statements to put before ``loop``, which runs ``trips`` times at most;
        drops the growth checks they replace."""
        if loop.orelse:
            return []
        direct, nested = {}, set()
        self._count(loop.body, direct, nested)
        reserved = {tape: k for tape, k in direct.items() if tape not in nested}
        if not reserved:
            return []
        loop.body = self._without_checks(loop.body, set(reserved))
        out = []
        for tape_name, k in sorted(reserved.items()):
            tape = self.sweeps.tape(tape_name)
            pushes = copy.deepcopy(trips) if k == 1 else gast.BinOp(
                left=gast.Constant(value=k, kind=None), op=gast.Mult(), right=copy.deepcopy(trips))
            need = gast.BinOp(left=name(tape.top), op=gast.Add(), right=pushes)
            stmt = gast.Assign(targets=[name(tape_name, gast.Store())], value=call("reserve", name(tape_name), need),
                               type_comment=None)
            stmt.lineno = getattr(loop, "lineno", None)
            out.append(stmt)
        return out

    def _count(self, stmts, direct, nested, inner=False):
        """Pushes per iteration of each scalar tape (``direct``), and tapes a nested loop pushes to."""
        for stmt in stmts:
            tape = self.sweeps.pushed_tape(stmt)
            if tape is not None and tape.top is not None:
                if inner:
                    nested.add(tape.name)
                else:
                    direct[tape.name] = direct.get(tape.name, 0) + 1
            elif isinstance(stmt, gast.If):
                self._count(stmt.body, direct, nested, inner)
                self._count(stmt.orelse, direct, nested, inner)
            elif isinstance(stmt, (gast.For, gast.While)):
                self._count(stmt.body, direct, nested, True)
                self._count(stmt.orelse, direct, nested, True)

    def _without_checks(self, stmts, tapes) -> list:
        """``stmts`` without the growth checks of ``tapes`` (not descending into nested loops)."""
        out = []
        for stmt in stmts:
            if self.sweeps.is_growth_check(stmt) and stmt.body[0].targets[0].id in tapes:
                continue
            if isinstance(stmt, gast.If):
                stmt.body = self._without_checks(stmt.body, tapes) or [gast.Pass()]
                stmt.orelse = self._without_checks(stmt.orelse, tapes)
            out.append(stmt)
        return out


def _int(value):
    return gast.Constant(value=value, kind=None)


def _jumps(stmts) -> bool:
    """Does a ``break`` or ``continue`` of this loop (not of one inside it) occur in ``stmts``?"""
    for stmt in stmts:
        if isinstance(stmt, (gast.Break, gast.Continue)):
            return True
        if isinstance(stmt, gast.If) and (_jumps(stmt.body) or _jumps(stmt.orelse)):
            return True
    return False


def _trips(start, stop, step):
    """The iterations of ``range(start, stop, step)``, or more: ``stop - start`` for a unit step (no
    call to compile; negative when the loop does not run, and reserving less than the tape holds
    does nothing)."""
    if isinstance(step, gast.Constant) and step.value in (1, -1):
        first, last = (start, stop) if step.value == 1 else (stop, start)
        if isinstance(first, gast.Constant) and first.value == 0:
            return last
        return gast.BinOp(left=last, op=gast.Sub(), right=first)
    return call("trip_count", start, stop, step)


def _range_bounds(loop):
    """``(start, stop, step)`` of ``for v in range(...)`` when re-evaluating them is harmless, else None."""
    it = loop.iter
    if not (isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "range"
            and not it.keywords and 1 <= len(it.args) <= 3 and all(pure(a) for a in it.args)):
        return None
    args = list(it.args)
    if len(args) == 1:
        args = [gast.Constant(value=0, kind=None)] + args
    if len(args) == 2:
        args.append(gast.Constant(value=1, kind=None))
    return args

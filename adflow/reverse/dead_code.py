"""Statements whose result nothing reads: a backward liveness walk over structured code.

:func:`eliminate` drops the statements a caller's predicate allows to go (``removable``) when the
name they assign is not live after them: not read on any path before it is assigned again.  Loops
run to a fixpoint (the end of the body flows back to its head); ``break`` and ``continue`` jump,
so everything live at the loop's head stays live at them.  What is not removable stays and reads
its names (returns, writes into arrays, tape operations, calls), and so does a loop or branch
whose body still holds something.

Passes that use it: :mod:`.unused_value` (the statements only the value needed), :mod:`.copies`
(the copies nothing reads any more) and
:mod:`.dead_reverse` (what the reverse sweep computes and nothing reads: zero resets, recomputations);
:mod:`.carried_adds` asks :func:`live_after` what a loop leaves that something reads, and
:mod:`.dead_tapes` which restores from a tape nothing reads.
"""
from __future__ import annotations

import copy

import gast


def eliminate(stmts, removable, live_out=frozenset()) -> list:
    """``stmts`` without the removable assignments nothing reads afterwards.

    ``removable(stmt)`` is asked of single-name assignments (``v = e``, ``v += e``) only; it must
    say no for any whose value has an effect or may raise.  Empty loops and branches go when
    their header is :func:`pure`.
    """
    kept, _ = _eliminate(list(stmts), set(live_out), None, removable)
    return kept


def live_after(stmts, watched) -> set:
    """The names live just after the statement ``watched`` (somewhere in ``stmts``, a function body)."""
    return live_after_each(stmts, [watched])[id(watched)]


def live_after_each(stmts, watched) -> dict:
    """For each statement in ``watched`` (somewhere in ``stmts``), by its id: the names live just after it."""
    seen = {id(stmt): set() for stmt in watched}
    _eliminate(list(stmts), set(), None, lambda stmt: False, seen)
    return seen


def _eliminate(stmts, live_out: set, loop_head: set | None, removable, seen=None):
    """(the statements that matter, the names live before them), given those live after them;
    ``seen`` (id of a statement -> set) collects the names live after the statements it names,
    over every round of a loop's fixpoint (the sets only grow, so the union is the last round's)."""
    live = set(live_out)
    kept = []
    for stmt in reversed(stmts):
        if seen is not None and id(stmt) in seen:
            seen[id(stmt)] |= live
        if isinstance(stmt, (gast.Assign, gast.AugAssign)) and defines_one_name(stmt):
            target = (stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target).id
            if target not in live and removable(stmt):
                continue
            if isinstance(stmt, gast.Assign):  # kept or not removable: it still defines the name
                live.discard(target)
            else:
                live.add(target)  # ``a += b`` reads a
            live |= reads(stmt.value)
        elif isinstance(stmt, gast.For):
            after = set(live)
            head = set(live)
            while True:  # names live at the top of an iteration: after the loop, or in a later iteration
                body, body_in = _eliminate(stmt.body, head, head, removable, seen)
                if body_in | live <= head:
                    break
                head |= body_in
            if not body and not stmt.orelse and pure(stmt.iter) and not (stored(stmt.target) & after):
                continue
            stmt = copy.copy(stmt)  # never mutated: a fixpoint iteration may revisit the original
            stmt.body = body or [gast.Pass()]
            # The loop assigns its variable: live before it only if read after a loop that may not run.
            live = (head - (stored(stmt.target) - after)) | reads(stmt.iter)
        elif isinstance(stmt, gast.While):
            head = set(live) | reads(stmt.test)
            while True:
                body, body_in = _eliminate(stmt.body, head, head, removable, seen)
                if body_in <= head:
                    break
                head |= body_in
            stmt = copy.copy(stmt)
            stmt.body = body or [gast.Pass()]
            live = head
        elif isinstance(stmt, gast.If):
            body, body_in = _eliminate(stmt.body, live, loop_head, removable, seen)
            orelse, else_in = _eliminate(stmt.orelse, live, loop_head, removable, seen)
            if not body and not orelse and pure(stmt.test):
                continue
            stmt = copy.copy(stmt)
            stmt.body, stmt.orelse = body or [gast.Pass()], orelse
            live = body_in | else_in | reads(stmt.test)
        elif isinstance(stmt, (gast.Break, gast.Continue)):
            live = set(loop_head) if loop_head is not None else live
        elif isinstance(stmt, gast.Pass):
            continue
        elif getattr(stmt, "adflow_comment", False):
            if not any(not getattr(k, "adflow_comment", False) for k in kept):
                continue  # it labelled statements that are gone
        else:  # returns, writes into arrays, tape operations, calls: kept, and they read their names
            live |= reads(stmt)
            if isinstance(stmt, gast.AugAssign):
                live |= stored(stmt.target)  # ``a += f(b)`` reads a
        kept.append(stmt)
    kept.reverse()
    return kept, live


def defines_one_name(stmt) -> bool:
    targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
    return len(targets) == 1 and isinstance(targets[0], gast.Name)


def stored(target) -> set:
    return {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}


def reads(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


# adflow.runtime functions that only compute their result (push/pop change the tape they get).
_PURE_RUNTIME = {"unbroadcast", "zeros_like_float", "empty_like_float", "add_cotangent", "sum_adjoint",
                 "array_stack", "shape_stack", "reduced_count", "reduce_sum", "ans_full", "reshape_like", "extremum_adjoint",
                 "cumsum_adjoint", "dot_adjoint_a", "dot_adjoint_b"}
# NumPy answers a domain error with NaN; ``math`` raises on target="python", as the primal does.
_PURE_MODULES = {"np"}
_NUMPY_WRITERS = {"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"}


def pure(node) -> bool:
    """No effect but its value, and no exception the primal would raise: no division (by zero), no
    call except NumPy functions and pure runtime helpers."""
    for n in gast.walk(node):
        if isinstance(n, (gast.Yield, gast.YieldFrom, gast.Await, gast.NamedExpr, gast.Lambda)):
            return False
        if isinstance(n, gast.BinOp) and isinstance(n.op, (gast.Div, gast.FloorDiv, gast.Mod)):
            return False
        if isinstance(n, gast.Call):
            func = n.func
            if isinstance(func, gast.Name) and func.id in _PURE_RUNTIME | {"range", "min", "max", "abs",
                                                                             "len"}:
                continue
            if (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)
                    and func.value.id in _PURE_MODULES and func.attr not in _NUMPY_WRITERS):
                continue
            return False
    return True

"""``grad`` throws the value away: a copy of the vjp without the work only the value needed.

The vjp returns ``(value, gradients)``.  When nothing in the reverse sweep reads what the forward
sweep computed (no tape, everything recomputed per reverse iteration, as in a Rosenbrock loop),
the forward loop exists only for the value, and ``adflow.grad`` discards it.  numba does not
delete that loop by itself, so :func:`without_value` returns a copy of the vjp that returns
``(0.0, gradients)`` and drops every statement whose result nothing live reads any more.

The elimination is a backward liveness pass over the structured code (loops to a fixpoint,
``break``/``continue`` treated as jumps that keep everything live at the loop's head).  Only plain
assignments to a name whose right-hand side has no effect are dropped: arithmetic without
division, indexing, attributes and calls of NumPy functions and of adflow's pure runtime helpers
(``math`` functions and divisions can raise, and the primal would).  Writes into
arrays, tape operations, calls of user helpers (which may write into their arguments) and every
other statement stay, and so does a loop whose body still holds one of them.
"""
from __future__ import annotations

import copy

import gast

# adflow.runtime functions that only compute their result (push/pop change the tape they get).
_PURE_RUNTIME = {"unbroadcast", "zeros_like_float", "add_cotangent", "sum_adjoint", "array_stack",
                 "reduced_count", "reduce_sum", "ans_full", "reshape_like", "extremum_adjoint",
                 "cumsum_adjoint", "dot_adjoint_a", "dot_adjoint_b"}
# NumPy answers a domain error with NaN; ``math`` raises on target="python", as the primal does.
_PURE_MODULES = {"np"}
_NUMPY_WRITERS = {"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"}


def without_value(fdef: gast.FunctionDef, name: str) -> gast.FunctionDef | None:
    """A copy of the vjp ``fdef`` named ``name`` that returns ``(0.0, gradients)``, its dead code
    removed; ``None`` when its last statement is not the ``return (value, gradients)`` expected."""
    fdef = copy.deepcopy(fdef)
    last = fdef.body[-1] if fdef.body else None
    if not (isinstance(last, gast.Return) and isinstance(last.value, gast.Tuple) and len(last.value.elts) == 2):
        return None
    last.value.elts[0] = gast.Constant(value=0.0, kind=None)
    fdef.body, _ = _eliminate(fdef.body, set(), None)
    fdef.name = name
    return fdef


def _eliminate(stmts, live_out: set, loop_head: set | None):
    """(the statements that matter, the names live before them), given those live after them."""
    live = set(live_out)
    kept = []
    for stmt in reversed(stmts):
        if isinstance(stmt, (gast.Assign, gast.AugAssign)) and _defines_one_name(stmt) and _pure(stmt.value):
            target = (stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target).id
            if target not in live:
                continue
            if isinstance(stmt, gast.Assign):
                live.discard(target)
            else:
                live.add(target)  # ``a += b`` reads a
            live |= _reads(stmt.value)
        elif isinstance(stmt, gast.For):
            after = set(live)
            head = set(live)
            while True:  # names live at the top of an iteration: after the loop, or in a later iteration
                body, body_in = _eliminate(stmt.body, head, head)
                if body_in | live <= head:
                    break
                head |= body_in
            if not body and not stmt.orelse and _pure(stmt.iter) and not (_stored(stmt.target) & after):
                continue
            stmt = copy.copy(stmt)  # never mutated: a fixpoint iteration may revisit the original
            stmt.body = body or [gast.Pass()]
            # The loop assigns its variable: live before it only if read after a loop that may not run.
            live = (head - (_stored(stmt.target) - after)) | _reads(stmt.iter)
        elif isinstance(stmt, gast.While):
            head = set(live) | _reads(stmt.test)
            while True:
                body, body_in = _eliminate(stmt.body, head, head)
                if body_in <= head:
                    break
                head |= body_in
            stmt = copy.copy(stmt)
            stmt.body = body or [gast.Pass()]
            live = head
        elif isinstance(stmt, gast.If):
            body, body_in = _eliminate(stmt.body, live, loop_head)
            orelse, else_in = _eliminate(stmt.orelse, live, loop_head)
            if not body and not orelse and _pure(stmt.test):
                continue
            stmt = copy.copy(stmt)
            stmt.body, stmt.orelse = body or [gast.Pass()], orelse
            live = body_in | else_in | _reads(stmt.test)
        elif isinstance(stmt, (gast.Break, gast.Continue)):
            live = set(loop_head) if loop_head is not None else live
        elif isinstance(stmt, gast.Pass):
            continue
        elif getattr(stmt, "adflow_comment", False):
            if not any(not getattr(k, "adflow_comment", False) for k in kept):
                continue  # it labelled statements that are gone
        else:  # returns, writes into arrays, tape operations, calls: kept, and they read their names
            live |= _reads(stmt)
            if isinstance(stmt, gast.AugAssign):
                live |= _stored(stmt.target)  # ``a += f(b)`` reads a
        kept.append(stmt)
    kept.reverse()
    return kept, live


def _defines_one_name(stmt) -> bool:
    targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
    return len(targets) == 1 and isinstance(targets[0], gast.Name)


def _stored(target) -> set:
    return {n.id for n in gast.walk(target) if isinstance(n, gast.Name)}


def _reads(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _pure(node) -> bool:
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

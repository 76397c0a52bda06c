"""Values saved outside every loop live in local variables, not on a tape.

The transform saves a number the forward sweep overwrites (``x = x / n``) on a growing stack,
whatever the code around it.  Where every push and pop of a scalar tape sits in the function's
top-level statements (straight-line code, no loop or branch between them), the stack's depth at
each of them is known when the code is written, so each push can name its own local::

    _x_saved = x                  # was: growth check, _x_tape[_x_top] = x, _x_top += 1
    ...
    x = _x_saved                  # was: _x_top -= 1; x = _x_tape[_x_top]

The function no longer allocates the tape (two allocations per call of a one-iteration vjp, as a
checkpointed loop's step or a batch row calls thousands of times) and reads like a hand-written
adjoint.  A tape touched anywhere else (inside a loop or branch, or by anything but its push,
pop, peek, drop and creation) is left as it is.  A pure function from the generated
``FunctionDef`` to a new one; the numbers are the same bit for bit.
"""
from __future__ import annotations

import dataclasses

import gast

from ..syntax.nodes import assign, copy_tree, fresh_name, name


def save_in_locals(fdef: gast.FunctionDef) -> gast.FunctionDef:
    sweeps = getattr(fdef, "sweeps", None)
    if sweeps is None:
        return fdef
    candidates = [t for t in sweeps.tapes if (t.holds_scalars or t.dtype == "array") and _only_at_top_level(fdef, t)]
    if not candidates:
        return fdef
    fdef = copy_tree(fdef)
    taken = {n.id for n in gast.walk(fdef) if isinstance(n, gast.Name)}
    converted = []
    for tape in candidates:
        body = _with_locals(fdef.body, fdef.sweeps, tape, taken)
        if body is not None:
            fdef.body = body
            converted.append(tape.name)
    if converted:
        fdef.sweeps = dataclasses.replace(fdef.sweeps, tapes=tuple(t for t in fdef.sweeps.tapes
                                                                   if t.name not in converted))
    return fdef


def _names_in(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _only_at_top_level(fdef, tape) -> bool:
    """No statement nested in a loop or branch names the tape or its top."""
    mine = {tape.name, tape.top} - {None}
    for stmt in fdef.body:
        if isinstance(stmt, (gast.If, gast.For, gast.While)):
            inner = stmt.body + stmt.orelse + ([stmt.test] if not isinstance(stmt, gast.For) else [stmt.iter])
            if any(mine & _names_in(s) for s in inner) and not _is_growth_check_of(stmt, tape):
                return False
    return True


def _is_growth_check_of(stmt, tape) -> bool:
    return (isinstance(stmt, gast.If) and len(stmt.body) == 1 and not stmt.orelse
            and isinstance(stmt.body[0], gast.Assign) and _is_name(stmt.body[0].targets[0], tape.name))


def _is_name(node, text) -> bool:
    return isinstance(node, gast.Name) and node.id == text


def _bumps(stmt, top, op) -> bool:
    return (isinstance(stmt, gast.AugAssign) and _is_name(stmt.target, top) and isinstance(stmt.op, op)
            and isinstance(stmt.value, gast.Constant) and stmt.value.value == 1)


def _reads_tape_at(stmt, tape, offset) -> bool:
    """``v = tape[top]`` (offset 0, a pop's read) or ``v = tape[top - 1]`` (offset 1, a peek)."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, gast.Subscript)
            and _is_name(stmt.value.value, tape.name)):
        return False
    index = stmt.value.slice
    if offset == 0:
        return _is_name(index, tape.top)
    return (isinstance(index, gast.BinOp) and isinstance(index.op, gast.Sub) and _is_name(index.left, tape.top)
            and isinstance(index.right, gast.Constant) and index.right.value == 1)


def _method_call(node, tape, method) -> bool:
    """``tape.method(...)``: a list of arrays' append or pop."""
    return (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and node.func.attr == method
            and _is_name(node.func.value, tape.name))


def _with_locals(body, sweeps, tape, taken):
    """``body`` with ``tape``'s pushes and pops as locals, or None when a use is not one of its forms."""
    out, stack, pushes = [], [], 0
    mine = {tape.name, tape.top} - {None}

    def push(value, like):
        local = fresh_name(f"_{tape.saves.lstrip('_')}_saved", taken)
        stack.append(local)
        out.append(_copy_lineno(assign(local, value, None), like))

    def restore(targets, local, like):
        out.append(_copy_lineno(gast.Assign(targets=targets, value=name(local), type_comment=None), like))

    k = 0
    while k < len(body):
        stmt = body[k]
        value = getattr(stmt, "value", None)
        if not (mine & _names_in(stmt)):
            out.append(stmt)
        elif sweeps.creates_tape(stmt) == tape or _is_growth_check_of(stmt, tape) or _bumps(stmt, tape.top, gast.Add):
            pass  # the stack, its room and its top are gone
        elif tape.top is None:  # a list of arrays: append, pop, [-1]
            if isinstance(stmt, gast.Expr) and _method_call(value, tape, "append") and len(value.args) == 1:
                push(value.args[0], stmt)
            elif isinstance(stmt, gast.Expr) and _method_call(value, tape, "pop") and stack:
                stack.pop()
            elif isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and _method_call(value, tape, "pop") \
                    and stack:
                restore(stmt.targets, stack.pop(), stmt)
            elif isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(value, gast.Subscript) \
                    and _is_name(value.value, tape.name) and isinstance(value.slice, gast.UnaryOp) and stack \
                    and gast.dump(value.slice) == gast.dump(gast.UnaryOp(op=gast.USub(), operand=gast.Constant(1, None))):
                restore(stmt.targets, stack[-1], stmt)
            else:
                return None
        elif isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and _is_name(stmt.targets[0], tape.top):
            if not (isinstance(value, gast.Constant) and value.value == 0 and not stack and pushes == 0):
                return None
        elif sweeps.pushed_tape(stmt) == tape and _is_name(stmt.targets[0].slice, tape.top):
            pushes += 1
            push(value, stmt)
        elif _reads_tape_at(stmt, tape, 1) and stack:
            restore(stmt.targets, stack[-1], stmt)
        elif _bumps(stmt, tape.top, gast.Sub) and stack:
            local = stack.pop()
            if k + 1 < len(body) and _reads_tape_at(body[k + 1], tape, 0):  # a pop; else a drop
                k += 1
                restore(body[k].targets, local, body[k])
        else:
            return None
        k += 1
    return out


def _copy_lineno(node, like):
    node.lineno = getattr(like, "lineno", None)
    return node

"""Adds into an adjoint array at constant offsets from a loop's index: one store per element.

A fused chain reading ``x[i]`` and ``x[i + 1]`` (frontend/fusion.py) has a reverse loop that
scatters, ``x_bar[i] += a`` and ``x_bar[i + 1] += b``: each iteration adds into an element the
next one adds into again, a dependence through memory that keeps LLVM from vectorising the loop.
This pass keeps each contribution in a local variable until the iteration that makes the element's
last one, which then stores the element once:

    for i in range(0, n):
        ...
        _x_bar_add1 = a
        _x_bar_add2 = b
        x_bar[i] = x_bar[i] + _x_bar_add1 + _x_bar_add2_1   # _x_bar_add2_1: b of iteration i - 1
        _x_bar_add2_1 = _x_bar_add2

and after the loop the elements past its last index get what the variables still hold.  Those
start as ``-0.0``, which added to any number (``-0.0``, infinities and NaN included) leaves it
unchanged, so an element fewer iterations reach gets the same sum without a branch.  Each element
adds its contributions in the order the original loop added them: the numbers are the same bit
for bit (float64 adjoints; a float32 adjoint is rounded once per element, not once per add, and
an index below zero, NumPy's count from the end, may meet its element in another order).
Measured at n = 10^6 on the vectorised Rosenbrock's gradient: 1.14 ms -> 0.34 ms.

The new loop runs forwards even where the original ran backwards (as reverse sweeps do): LLVM
vectorises the forward form and leaves the backward one scalar (1.14 ms either way, measured).
A backward loop with nothing to carry (each array it writes, at one offset) is turned as well,
under the same conditions: the per-sample gradients of benchmarks/problems/per_sample.py, whose
rows end in ``w_bar[i] += 2.0 * (g * w[i])`` over 32 elements, 1.3x -> 1.15x their primal.
A backward loop is turned only when its iterations may run in any order: every name it assigns
is assigned before it is read in the iteration or only ever copies its value from the iteration's
start (``_s_bar = _r_bar; _r_bar = _s_bar``), nothing it assigns is read after the loop, the other
arrays it writes are touched at one offset only, and it calls only ``math`` and NumPy functions.

Refused (the loop stays as it is) unless: the loop is ``for i in range(a, b[, 1 | -1])`` whose bounds
the body does not change, over plain assignments; the offsets are integers written out
(``i + 2``, or an index variable the body sets to ``i - 1`` before it reads it) and there are at
least two of them; each
contribution is a number (not a row of a matrix); the array is bound only to new arrays
(``zeros_like_float``, ``np.zeros``...), is read nowhere else in the loop, and nothing that may
share its memory is named in the loop.  A pure function from the generated ``FunctionDef`` to a
new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import assigned_names, copy_tree, names_in, names_read
from .dead_code import live_after

# Calls that give new arrays: an adjoint bound only to these shares memory with nothing bound before.
_NEW_ARRAYS = {"zeros_like_float", "np.zeros", "np.empty", "np.zeros_like", "np.empty_like", "np.ones"}
# What a loop may call and still run its iterations in any order: functions of their arguments.
_ORDER_FREE_MODULES = {"math", "np"}
_ORDER_FREE_BUILTINS = {"abs", "min", "max", "float", "int"}


def carry_adds(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    context = _Function(fdef)
    fdef.body = _block(fdef.body, context)
    return fdef


class _Function:
    """What the rewrite asks of the whole function: its names, what may alias what, liveness."""

    def __init__(self, fdef):
        self.fdef = fdef
        self.names = names_in(fdef)
        self.params = {a.id for a in fdef.args.args}

    def fresh(self, base) -> str:
        k = 1
        while f"{base}{k}" in self.names:
            k += 1
        self.names.add(f"{base}{k}")
        return f"{base}{k}"

    def new_and_unshared(self, array, loop) -> bool:
        """Is ``array`` bound only to new arrays, and is nothing bound from it outside ``loop`` named in
        it?  (Inside it, what the body binds from the array is checked by the caller.)"""
        bindings = _bindings(self.fdef, loop.node)
        if array in self.params or not all(_makes_new_array(v) for v in bindings.get(array, [None])):
            return False
        aliases, grown = {array}, True
        while grown:  # names bound from an expression naming the array or one of them (views, copies, tuples)
            grown = False
            for target, values in bindings.items():
                if target not in aliases and any(names_in(v) & aliases for v in values):
                    aliases.add(target)
                    grown = True
        return not ((aliases - {array}) & loop.names)


def _bindings(fdef, skipped) -> dict:
    """name -> the expressions it is bound from outside the statement ``skipped`` (for a loop
    target, what the loop runs over; for unpacking, the whole value): whatever may share memory
    with them may be bound to it."""
    out: dict = {}
    for node in _walk_outside(fdef, skipped):
        if isinstance(node, gast.Assign):
            for target in node.targets:
                for n in _stored_names(target):
                    out.setdefault(n, []).append(node.value if isinstance(target, gast.Name) else _Unpacked(node.value))
        elif isinstance(node, (gast.For, gast.comprehension)):
            for n in _stored_names(node.target):
                out.setdefault(n, []).append(_Unpacked(node.iter))
        elif isinstance(node, (gast.AnnAssign, gast.NamedExpr)) and node.value is not None:
            for n in _stored_names(node.target):
                out.setdefault(n, []).append(_Unpacked(node.value))
    return out


def _walk_outside(node, skipped):
    yield node
    for child in gast.iter_child_nodes(node):
        if child is not skipped:
            yield from _walk_outside(child, skipped)


class _Unpacked(gast.Tuple):
    """A name bound from part of ``value`` (never a new array itself)."""

    def __init__(self, value):
        super().__init__(elts=[value], ctx=gast.Load())


def _stored_names(target) -> set:
    """The names a target binds (not those a subscript target reads: ``a[i] = v`` binds nothing)."""
    if isinstance(target, gast.Name):
        return {target.id}
    if isinstance(target, (gast.Tuple, gast.List)):
        return set().union(*(_stored_names(t) for t in target.elts)) if target.elts else set()
    if isinstance(target, gast.Starred):
        return _stored_names(target.value)
    return set()


def _makes_new_array(value) -> bool:
    return isinstance(value, gast.Call) and _dotted(value.func) in _NEW_ARRAYS


def _dotted(node):
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _block(stmts, context) -> list:
    out = []
    for stmt in stmts:
        for field in ("body", "orelse"):
            if isinstance(getattr(stmt, field, None), list):
                setattr(stmt, field, _block(getattr(stmt, field), context))
        rewritten = _rewrite(stmt, context) if isinstance(stmt, gast.For) else None
        out.extend(rewritten if rewritten is not None else [stmt])
    return out


# --------------------------------------------------------------------------- the loop's shape

class _Loop:
    """``for index in range(...)`` over plain assignments: its ascending bounds [lo, hi) and its body."""

    def __init__(self, loop):
        self.node = loop
        self.index = loop.target.id
        self.body = [s for s in loop.body if not getattr(s, "adflow_comment", False)]
        self.names = set().union(*(names_in(s) for s in self.body))
        args = loop.iter.args
        step = _int(args[2]) if len(args) == 3 else 1
        self.backwards = step == -1
        if self.backwards:  # range(a, b, -1) runs a, a - 1, ..., b + 1
            self.lo, self.hi = _plus(args[1], 1), _plus(args[0], 1)
        else:
            self.lo, self.hi = (args[0], args[1]) if len(args) >= 2 else (gast.Constant(value=0, kind=None), args[0])
        # index variables: name -> (offset, position of its first assignment), for names every
        # assignment in the body sets to the index + the same k (reverse code recomputes _i2 = _i1 + 1)
        self.offsets = {self.index: (0, -1)}
        found: dict = {}
        for pos, s in enumerate(self.body):
            simple = isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
            for n in _stored_in(s):
                found.setdefault(n, []).append((self.offset(s.value, pos) if simple else None, pos))
        for n, defs in found.items():
            if n != self.index and defs[0][0] is not None and all(k == defs[0][0] for k, _ in defs):
                self.offsets[n] = defs[0]

    def offset(self, node, pos):
        """k for an index that is the loop's index + k (k an integer written out) in the body's
        statement ``pos``, else None."""
        if isinstance(node, gast.Name):
            k, defined = self.offsets.get(node.id, (None, pos))
            return k if defined < pos else None
        if isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub)):
            left, right = self.offset(node.left, pos), _int(node.right)
            if left is not None and right is not None:
                return left + right if isinstance(node.op, gast.Add) else left - right
            right = self.offset(node.right, pos)
            if isinstance(node.op, gast.Add) and _int(node.left) is not None and right is not None:
                return _int(node.left) + right
        return None


def _shape_ok(loop) -> bool:
    if not (isinstance(loop.target, gast.Name) and not loop.orelse and isinstance(loop.iter, gast.Call)
            and isinstance(loop.iter.func, gast.Name) and loop.iter.func.id == "range"
            and 1 <= len(loop.iter.args) <= 3 and not loop.iter.keywords):
        return False
    args = loop.iter.args
    if len(args) == 3 and _int(args[2]) not in (1, -1):
        return False
    body_assigns = assigned_names(loop.body)
    if any(not _bound_expression(a) or names_read([a]) & body_assigns for a in args) or loop.target.id in body_assigns:
        return False  # the bounds are evaluated again after the loop: they must still be what they were
    return all(getattr(s, "adflow_comment", False) or isinstance(s, gast.AugAssign)
               or (isinstance(s, gast.Assign) and len(s.targets) == 1) for s in loop.body)


def _bound_expression(node) -> bool:
    """Names, integers, + and -: evaluated twice, it gives the same number and raises nothing."""
    if isinstance(node, gast.Name) or _int(node) is not None:
        return True
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return _bound_expression(node.operand)
    return isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub)) \
        and _bound_expression(node.left) and _bound_expression(node.right)


def _int(node):
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and _int(node.operand) is not None:
        return -_int(node.operand)
    return None


def _plus(node, k: int):
    """``node + k``, folded where it is an integer or ``e - k`` (``_n3 - 1 + 1`` is ``_n3``)."""
    if k == 0:
        return node
    if _int(node) is not None:
        return gast.Constant(value=_int(node) + k, kind=None)
    if isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub)) and _int(node.right) is not None:
        inner = _int(node.right) if isinstance(node.op, gast.Add) else -_int(node.right)
        return _plus(node.left, inner + k) if inner + k != 0 else node.left
    op = gast.Add() if k > 0 else gast.Sub()
    return gast.BinOp(left=node, op=op, right=gast.Constant(value=abs(k), kind=None))


def _stored_in(stmt) -> list:
    return sorted(_stored_names(stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target))


# --------------------------------------------------------------------------- which adds, and whether

def _rewrite(node, context):
    if not _shape_ok(node):
        return None
    loop = _Loop(node)
    carried = {}
    for array in sorted(_candidates(loop)):
        adds = _adds_into(loop, array)
        if adds is not None and len({k for _, k in adds}) >= 2 and context.new_and_unshared(array, loop):
            carried[array] = adds
    if not carried:
        if loop.backwards and loop.body and _order_free(loop, set(), context):
            return [_forwards(node, loop)]  # nothing to carry: each element is touched by one iteration
        return None
    if loop.backwards and not _order_free(loop, set(carried), context):
        return None
    before, new_loop, after = [], node, []
    for array, adds in carried.items():
        start, new_loop, tail = _carried(loop, new_loop, array, adds, context)
        before, after = before + start, after + tail
    return before + [new_loop] + after


def _forwards(node, loop):
    """``node``, a backward loop whose iterations may run in any order, run forwards."""
    turned = gast.For(target=node.target, body=node.body, orelse=[], type_comment=None,
                      iter=gast.Call(func=_load("range"), args=[copy_tree(loop.lo), copy_tree(loop.hi)], keywords=[]))
    turned.lineno = getattr(node, "lineno", None)
    return turned


def _candidates(loop) -> set:
    return {s.target.value.id for s in loop.body
            if isinstance(s, gast.AugAssign) and isinstance(s.op, gast.Add) and isinstance(s.target, gast.Subscript)
            and isinstance(s.target.value, gast.Name)}


def _adds_into(loop, array):
    """[(position in the body, offset)] of ``array[index + k] += number``, or None where the loop
    names ``array`` otherwise."""
    adds = []
    for pos, s in enumerate(loop.body):
        if not (array in names_in(s)):
            continue
        if not (isinstance(s, gast.AugAssign) and isinstance(s.op, gast.Add) and isinstance(s.target, gast.Subscript)
                and isinstance(s.target.value, gast.Name) and s.target.value.id == array
                and not getattr(s, "adds_into_view", False) and array not in names_in(s.value)):
            return None
        k = loop.offset(s.target.slice, pos)
        if k is None:
            return None
        adds.append((pos, k))
    return adds


def _order_free(loop, arrays, context) -> bool:
    """May the iterations of ``loop`` run in any order, the adds into ``arrays`` aside?"""
    if not _names_iteration_local(loop.body):
        return False
    if (assigned_names(loop.body) | {loop.index}) & live_after(context.fdef.body, loop.node):
        return False  # after a loop turned around, its names hold the values of another iteration
    for s in loop.body:
        for n in gast.walk(s):
            if isinstance(n, gast.Call) and not _order_free_call(n.func):
                return False
    written = {t.value.id for s in loop.body for t in [s.targets[0] if isinstance(s, gast.Assign) else s.target]
               if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name)} - arrays
    for other in written:  # each of its elements is touched by one iteration only
        offsets = {loop.offset(n.slice, pos) for pos, s in enumerate(loop.body) for n in gast.walk(s)
                   if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and n.value.id == other}
        mentions = sum(isinstance(n, gast.Name) and n.id == other for s in loop.body for n in gast.walk(s))
        subscripted = sum(isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and n.value.id == other
                          for s in loop.body for n in gast.walk(s))
        if len(offsets) != 1 or None in offsets or mentions != subscripted \
                or not context.new_and_unshared(other, loop):
            return False
    return True


def _order_free_call(func) -> bool:
    if isinstance(func, gast.Name):
        return func.id in _ORDER_FREE_BUILTINS
    return isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
        and func.value.id in _ORDER_FREE_MODULES


def _names_iteration_local(body) -> bool:
    """Is every name the body assigns set in the iteration before it is read there, or only ever a
    copy of its value at the iteration's start (then it never changes)?"""
    assigned = assigned_names(body)
    done: set = set()
    copies: dict = {}  # name -> the name whose start-of-iteration value it holds
    carried: set = set()
    for s in body:
        reads = names_read([s.value]) | (names_read([s.target]) if isinstance(s, gast.AugAssign) else set())
        if isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name):
            reads.add(s.target.id)
        if isinstance(s, gast.Assign):
            reads |= names_read(s.targets)
        for n in reads & assigned - done:
            carried.add(n)
            copies.setdefault(n, n)
        for n in _stored_in(s):
            source = s.value.id if isinstance(s, gast.Assign) and isinstance(s.value, gast.Name) else None
            if n in carried and copies.get(source) != n:
                return False  # a name the next iteration reads gets a new value
            if source is not None and source in copies:
                copies[n] = copies[source]
            else:
                copies.pop(n, None)
            done.add(n)
    return True


# --------------------------------------------------------------------------- the rewrite

def _carried(loop, node, array, adds, context):
    """(what goes before the loop, the loop ``node`` with the adds into ``array`` carried, what goes
    after it); ``loop`` describes the loop as it was written (its direction sets the adds' order)."""
    kmin = min(k for _, k in adds)
    span = max(k for _, k in adds) - kmin
    # the order the original loop added into one element: by iteration, then by statement
    order = sorted(adds, key=lambda a: (a[1] if loop.backwards else -a[1], a[0]))
    value_of = {pos: context.fresh(f"_{array}_add") for pos, _ in adds}
    held = {pos: [f"{value_of[pos]}_{lag}" for lag in range(1, k - kmin + 1)] for pos, k in adds}
    context.names.update(n for names in held.values() for n in names)

    body = list(node.body)
    for pos, _ in adds:
        s = loop.body[pos]
        new = gast.Assign(targets=[gast.Name(id=value_of[pos], ctx=gast.Store(), annotation=None,
                                             type_comment=None)], value=s.value, type_comment=None)
        new.lineno = getattr(s, "lineno", None)
        body[body.index(s)] = new
    index = gast.Name(id=loop.index, ctx=gast.Load(), annotation=None, type_comment=None)
    terms = [_load(value_of[pos]) if k == kmin else _load(held[pos][k - kmin - 1]) for pos, k in order]
    body.append(_element_sum(array, _plus(index, kmin), terms))
    for pos, _ in adds:  # each held value moves one iteration older
        chain = [value_of[pos]] + held[pos]
        for lag in range(len(chain) - 1, 0, -1):
            body.append(_assign(chain[lag], _load(chain[lag - 1])))

    before = [_assign(n, gast.Constant(value=-0.0, kind=None)) for pos, _ in adds for n in held[pos]]
    new_loop = gast.For(target=node.target, body=body, orelse=[], type_comment=None,
                        iter=gast.Call(func=_load("range"), args=[copy_tree(loop.lo), copy_tree(loop.hi)], keywords=[]))
    # elements past the last index: hi - 1 + kmin + d gets what the adds of offset >= kmin + d left
    tail = []
    for d in range(1, span + 1):
        parts = [_load(held[pos][k - kmin - d]) for pos, k in order if k - kmin >= d]
        tail.append(_element_sum(array, _plus(copy_tree(loop.hi), kmin + d - 1), parts))
    after = [gast.If(test=gast.Compare(left=copy_tree(loop.hi), ops=[gast.Gt()], comparators=[copy_tree(loop.lo)]),
                     body=tail, orelse=[])]
    for stmt in before + [new_loop] + after + tail + body[len(node.body):]:
        stmt.lineno = getattr(loop.node, "lineno", None)
    return before, new_loop, after


def _element_sum(array, index, terms):
    """``array[index] = array[index] + t1 + t2 + ...``: added left to right, as the adds were."""
    total = gast.Subscript(value=_load(array), slice=index, ctx=gast.Load())
    for t in terms:
        total = gast.BinOp(left=total, op=gast.Add(), right=t)
    target = gast.Subscript(value=_load(array), slice=copy_tree(index), ctx=gast.Store())
    return gast.Assign(targets=[target], value=total, type_comment=None)


def _assign(target, value):
    return gast.Assign(targets=[gast.Name(id=target, ctx=gast.Store(), annotation=None, type_comment=None)],
                       value=value, type_comment=None)


def _load(name):
    return gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None)

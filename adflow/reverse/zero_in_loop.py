"""A new adjoint array that a loop then reaches element by element is zeroed in that loop.

An adjoint array starts as zeros, ``x_bar = zeros_like_float(x, g)``, and the reverse loop of a
chain over ``x`` (after :mod:`.carried_adds`, a forward loop storing each element once) reads each
element and stores it: two passes over memory where one does.  On the vectorised Rosenbrock's
gradient (n = 10^6) the zero fill was a quarter of the time.  When the first loop after the
allocation touches the array only at its own index, each iteration can zero its element itself,
just before it first touches it, and the elements the loop does not reach are zeroed after it::

    x_bar = empty_like_float(x, g)
    for i in range(0, n):
        ...
        x_bar[i] = 0.0
        x_bar[i] = x_bar[i] + a + b       # LLVM forwards the stored zero: one pass, no load
    x_bar[max(n, 0):] = 0.0

Every element is zero when first read, as before, so the numbers are the same bit for bit.

Only where that holds whatever the types: the loop is ``for i in range(n)``, ``range(0, n[, 1])``
or ``range(n - 1, -1, -1)`` (distinct, non-negative indices: no iteration meets another's element,
not even through NumPy's negative indices), ``n`` made of names and integers the body does not
assign (it is evaluated again after the loop); in the body the array appears only as ``x_bar[i]``
(an element, or a row's view, of its own iteration), ``i`` is not assigned, and nothing jumps
(``break`` would leave elements unset, ``continue`` could skip the zeroing); the statements between
the allocation and the loop neither name the array nor jump (the loop might not be reached).  A
pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import (assigned_names, call, const, copy_tree, dotted_name, name, names_in, names_read,
                            rewrite_blocks, subscript)

_JUMPS = (gast.Break, gast.Continue, gast.Return)


def zero_in_loop(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    fdef.body = rewrite_blocks(fdef.body, _block)
    return fdef


def _block(stmts) -> list:
    """One statement list, its nested ones already rewritten."""
    out = list(stmts)
    for k, stmt in enumerate(stmts):
        array = _new_zeros(stmt)
        if array is None:
            continue
        for later in stmts[k + 1:]:
            if isinstance(later, gast.For) and array in names_in(later):
                if _fits(later, array):
                    stmt.value.func = name("empty_like_float")
                    _zero_first(later, array)
                    out.insert(out.index(later) + 1, _tail(later, array))
                break
            if array in names_in(later) or _jumps(later):
                break
    return out


def _new_zeros(stmt):
    """``v`` for ``v = zeros_like_float(...)``, else None."""
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name) \
            and isinstance(stmt.value, gast.Call) and dotted_name(stmt.value.func) == "zeros_like_float":
        return stmt.targets[0].id
    return None


def _jumps(stmt) -> bool:
    return any(isinstance(n, _JUMPS) for n in gast.walk(stmt))


def _fits(loop, array) -> bool:
    """Does ``loop`` have the shape the module doc asks for?"""
    stop = _stop(loop)
    if stop is None or loop.orelse or array in names_in(loop.iter) or any(_jumps(s) for s in loop.body):
        return False
    index = loop.target.id
    assigned = assigned_names(loop.body)
    if array == index or index in assigned or array in assigned or names_read([stop]) & assigned:
        return False
    subscripts = [n for s in loop.body for n in gast.walk(s) if isinstance(n, gast.Subscript)
                  and isinstance(n.value, gast.Name) and n.value.id == array]
    mentions = sum(isinstance(n, gast.Name) and n.id == array for s in loop.body for n in gast.walk(s))
    return mentions == len(subscripts) and all(isinstance(n.slice, gast.Name) and n.slice.id == index
                                               for n in subscripts)


def _zero_first(loop, array):
    """``array[i] = 0.0`` before the first statement of the body that names the array."""
    first = next(k for k, s in enumerate(loop.body) if array in names_in(s))
    zero = gast.Assign(targets=[subscript(array, name(loop.target.id), gast.Store())], value=const(0.0),
                       type_comment=None)
    zero.lineno = getattr(loop.body[first], "lineno", None)
    loop.body.insert(first, zero)


def _stop(loop):
    """``n`` for ``for i in range(n)``, ``range(0, n[, 1])`` or ``range(n - 1, -1, -1)`` (a reverse
    sweep's loop), with ``n`` names, integers, + and -; else None."""
    it = loop.iter
    if not (isinstance(loop.target, gast.Name) and isinstance(it, gast.Call) and dotted_name(it.func) == "range"
            and not it.keywords and 1 <= len(it.args) <= 3):
        return None
    args = it.args
    if len(args) == 1:
        stop = args[0]
    elif len(args) == 3 and _is_int(args[1], -1) and _is_int(args[2], -1):
        stop = _plus_one(args[0])
    elif _is_int(args[0], 0) and (len(args) == 2 or _is_int(args[2], 1)):
        stop = args[1]
    else:
        return None
    return stop if _bound(stop) else None


def _plus_one(node):
    """``node + 1``, written ``n`` for ``n - 1``."""
    if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Sub) and _is_int(node.right, 1):
        return node.left
    return gast.BinOp(left=node, op=gast.Add(), right=const(1))


def _is_int(node, value) -> bool:
    """Is ``node`` the integer ``value`` written out (``-1`` as parsed, or as a constant)?"""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return _is_int(node.operand, -value)
    return isinstance(node, gast.Constant) and type(node.value) is int and node.value == value


def _bound(node) -> bool:
    """Names, integers, + and -: evaluated again after the loop, the same number, and no exception."""
    if isinstance(node, gast.Name) or isinstance(node, gast.Constant) and type(node.value) is int:
        return True
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return _bound(node.operand)
    return isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub)) \
        and _bound(node.left) and _bound(node.right)


def _tail(loop, array):
    """``array[max(n, 0):] = 0.0``: the elements the loop did not reach."""
    start = call("max", copy_tree(_stop(loop)), const(0))
    part = gast.Slice(lower=start, upper=None, step=None)
    stmt = gast.Assign(targets=[subscript(array, part, gast.Store())], value=const(0.0), type_comment=None)
    stmt.lineno = getattr(loop, "lineno", None)
    return stmt

"""Python lists of numbers, differentiated as float arrays.

numba compiles a list of numbers; adflow's transforms carry derivatives through arrays.  The
normaliser writes a list the function builds as a float64 array, where the two mean the same::

    v = [a, b]          ->  v = np.array([a, b], dtype=np.float64)
    v = []              ->  v = np.zeros(0)
    v.append(x)         ->  v = np.append(v, x)          (a new array: O(len(v)) per append)
    w = v[1:]           ->  w = np.copy(v[1:])           (a list slice is a copy, not a view)
    np.array(v)         ->  np.copy(v)                   (np.asarray(v) too: it copies a list)
    sum(v), max(v)      ->  np.sum(v), np.max(v)         (min(v) too)

Indexing (``v[i]``, ``v[i] = y``), ``len(v)``, loops over ``v`` and NumPy functions mean the same
for both.  What means something else for a list is refused: arithmetic and
comparisons (``+`` joins lists, ``*`` repeats them), ``v += w`` (extends ``v``), its truth value,
other list methods, a list passed to a helper that has its own derivative function, a second
name for a list that is appended to (the append makes a new array, the other name would keep the
old one), and appending to a list inside a loop over it (the normaliser says which, at the line).  Elements are numbers: an integer list
becomes a float array (write a tuple of integers instead), a list of arrays or of lists is refused.
"""
from __future__ import annotations

import builtins

import gast



def is_list_literal(node) -> bool:
    return isinstance(node, gast.List)


def list_variables(stmts, known=frozenset()) -> tuple[set, set]:
    """``(lists, appended)``: the names ``stmts`` assign a list (a literal, or a list of ``known`` or of
    their own) and the names they append to, flow-insensitively (a list anywhere is one everywhere).
    Functions defined in ``stmts`` are left out: their variables are renamed where they are called."""
    lists, appended, copies = set(known), set(), []
    for node in _walk_outside_functions(stmts):
        if isinstance(node, gast.Assign) and isinstance(node.value, (gast.List, gast.Name)):
            for target in node.targets:
                if isinstance(target, gast.Name):
                    if isinstance(node.value, gast.List):
                        lists.add(target.id)
                    else:
                        copies.append((target.id, node.value.id))
        if is_append_statement(node):
            appended.add(node.value.func.value.id)
    changed = True
    while changed:  # w = v: w is the list v is
        changed = False
        for target, source in copies:
            if source in lists and target not in lists:
                lists.add(target)
                changed = True
    return lists, appended


def _walk_outside_functions(stmts):
    todo = list(stmts)
    while todo:
        node = todo.pop()
        if isinstance(node, (gast.FunctionDef, gast.Lambda)):
            continue
        yield node
        todo.extend(gast.iter_child_nodes(node))


def is_append_statement(node) -> bool:
    return (isinstance(node, gast.Expr) and isinstance(node.value, gast.Call)
            and isinstance(node.value.func, gast.Attribute) and node.value.func.attr == "append"
            and isinstance(node.value.func.value, gast.Name))


def method_of(call, lists) -> bool:
    """Whether ``call`` is a method of one of the ``lists`` (``v.pop()``)."""
    func = call.func
    return isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and func.value.id in lists


def appended_in_loop_over(loop, lists) -> str | None:
    """The list a ``for`` loop iterates over and appends to in its body (Python's loop would see the
    new elements), if any."""
    seq = loop.iter
    if isinstance(seq, gast.Call) and seq.args:  # enumerate(v), zip(v, w)
        over = {a.id for a in seq.args if isinstance(a, gast.Name)}
    else:
        over = {seq.id} if isinstance(seq, gast.Name) else set()
    over &= lists
    for node in gast.walk(gast.Module(body=loop.body, type_ignores=[])):
        if is_append_statement(node) and node.value.func.value.id in over:
            return node.value.func.value.id
    return None


def builtin_reduction(func_value) -> str | None:
    """``"sum"``, ``"max"`` or ``"min"`` for the builtins of those names (of one list, they are NumPy's)."""
    for reduction in ("sum", "max", "min"):
        if func_value is getattr(builtins, reduction):
            return reduction
    return None


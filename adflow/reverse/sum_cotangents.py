"""The cotangent of a whole-array sum added straight into where it goes, as a number.

For ``v = np.sum(icf[j, :d])`` in a loop the reverse transform writes::

    _v2_bar += sum_adjoint(v_bar, _v2, None)     # an array full of v_bar
    icf_bar[j, :d] += _v2_bar
    ...
    _v2_bar = zeros_like_float(_v2, seed)        # ready for the next iteration

Three arrays per iteration (the full one, the sum, the zeros) to add one number to each element
of a view.  This pass writes ``icf_bar[j, :d] += v_bar`` instead: NumPy's and numba's ``+=`` of a
number adds it to every element, as adding the full array did, element for element.  ``_v2_bar``
is then written and never read, so its statements go; with them the last reads of ``_v2`` in the
reverse sweep, whose tape the dead-code passes then drop.

Applied only where ``t_bar`` (the sum's argument's adjoint) is written by nothing but zeros and
the one contribution, and read by nothing but the one add ``X += t_bar``, later in the same
block; and, unless the contribution is an assignment or runs at most once (not in a loop), a
reset to zeros follows the add in that block with no ``break``, ``continue`` or ``return``
between (so ``t_bar`` is zero whenever the contribution adds into it).  The add stays where it
was if nothing the number reads changes before it (the reverse transform often resets the
number, ``v_bar = 0.0``, right after the contribution); else it takes the contribution's place,
if nothing between reads or changes what the add's target names.  A pure function from the
generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree, names_read, rewrite_blocks
from .single_adjoints import changed_names


def add_sum_cotangents(fdef: gast.FunctionDef) -> gast.FunctionDef:
    fdef = copy_tree(fdef)
    uses = _uses_of_adjoints(fdef)
    rewrites = {}  # id of the contribution -> (the add, rewritten, and whether it moves there)
    dropped = set()  # names of adjoints whose statements all go
    for bar, found in uses.items():
        plan = _plan(bar, found)
        if plan is not None:
            contribution, add, number, moved = plan
            add.value = number
            rewrites[id(contribution)] = (add, moved)
            dropped.add(bar)
    if not rewrites:
        return fdef
    moved_adds = {id(add) for add, moved in rewrites.values() if moved}

    def rewrite(stmts):
        out = []
        for stmt in stmts:
            if id(stmt) in rewrites:
                add, moved = rewrites[id(stmt)]
                if moved:
                    out.append(add)
                continue
            if _writes_only(stmt) in dropped or id(stmt) in moved_adds:
                continue
            out.append(stmt)
        return out

    fdef.body = rewrite_blocks(fdef.body, rewrite)
    return fdef


def _writes_only(stmt) -> str | None:
    """``t_bar`` for ``t_bar = zeros_like_float(...)``."""
    if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)
            and _call_name(stmt.value) == "zeros_like_float"):
        return stmt.targets[0].id
    return None


def _call_name(node) -> str | None:
    return node.func.id if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) else None


def _sum_spread(stmt):
    """``(t_bar, number, assigned)`` for ``t_bar += sum_adjoint(number, t, None)`` (or ``=``)."""
    if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add) and isinstance(stmt.target, gast.Name):
        bar, value, assigned = stmt.target.id, stmt.value, False
    elif isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name):
        bar, value, assigned = stmt.targets[0].id, stmt.value, True
    else:
        return None
    if not (_call_name(value) == "sum_adjoint" and len(value.args) == 3 and not value.keywords
            and isinstance(value.args[2], gast.Constant) and value.args[2].value is None):
        return None
    number = value.args[0]
    if bar in names_read([number]):
        return None
    return bar, number, assigned


def _uses_of_adjoints(fdef):
    """For each name, every statement that mentions it: ``(statement, its block, index, in a loop)``."""
    uses: dict = {}

    def walk(stmts, in_loop):
        for i, stmt in enumerate(stmts):
            nested = [(getattr(stmt, f, None) or []) for f in ("body", "orelse", "finalbody")]
            inner = isinstance(stmt, (gast.For, gast.While)) or in_loop
            if any(nested) and not isinstance(stmt, gast.FunctionDef):
                for block in nested:
                    walk(block, inner)
                header = [getattr(stmt, f) for f in ("test", "iter", "target") if getattr(stmt, f, None) is not None]
                mentioned = {n.id for h in header for n in gast.walk(h) if isinstance(n, gast.Name)}
            else:
                mentioned = {n.id for n in gast.walk(stmt) if isinstance(n, gast.Name)}
            for n in mentioned:
                uses.setdefault(n, []).append((stmt, stmts, i, in_loop))

    walk(fdef.body, False)
    return uses


def _plan(bar, found):
    """``(contribution, add, number, moved)`` when ``bar``'s statements allow the rewrite, else None;
    ``moved``: the add takes the contribution's place (the number changes before the add)."""
    spreads, adds, others = [], [], []
    for use in found:
        stmt = use[0]
        if _writes_only(stmt) == bar:
            continue
        spread = _sum_spread(stmt)
        if spread is not None and spread[0] == bar:
            spreads.append((use, spread))
        elif (isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add)
              and isinstance(stmt.value, gast.Name) and stmt.value.id == bar
              and bar not in names_read([stmt.target])):
            adds.append(use)
        else:
            others.append(use)
    if others or len(spreads) != 1 or len(adds) != 1:
        return None
    (stmt, block, i, in_loop), (_, number, assigned) = spreads[0]
    add, add_block, j, _ = adds[0]
    if add_block is not block or j <= i:
        return None
    if not assigned and in_loop and not _reset_after(bar, block, j):
        return None
    between = block[i + 1:j]
    if not any(changed_names(s) & (names_read([number]) | names_read([add.target]) | {bar}) for s in between):
        return stmt, add, number, False  # the add, with the number, where it was
    target = names_read([add.target])
    if not any((changed_names(s) | names_read([s])) & target for s in between):
        return stmt, add, number, True  # the add, with the number, where the contribution was
    return None


def _reset_after(bar, block, j) -> bool:
    """Whether ``bar = zeros_like_float(...)`` follows ``block[j]``, with no exit from the block between."""
    for stmt in block[j + 1:]:
        if _writes_only(stmt) == bar:
            return True
        if any(isinstance(n, (gast.Break, gast.Continue, gast.Return)) for n in gast.walk(stmt)):
            return False
    return False

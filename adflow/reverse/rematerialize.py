"""Recompute a cheap value in the reverse sweep instead of saving it on the tape, where that costs less.

Inside a loop a temporary such as ``_a5 = _a4 * v`` gets a new value every iteration; when an
adjoint reads it (``_a6_bar += _a7_bar * _a5``), the tape planner saves the old value before each
assignment and restores it in the reverse sweep: a growth check, a store, a load and two index
updates per iteration, for one multiplication.  Here such a value is computed again in the
reverse sweep just before the adjoint that reads it last in forward order, from operands the
adjoints read anyway (so the planner restores them already and no new tape appears), and the
adjoints reading it stop counting as readers: nothing saves it any more.

A value qualifies (the planner's invariant, that each adjoint sees the values its statement saw,
is kept) when:

* it is a number (not an array, a tuple or a dual) assigned once in the function, inside a loop
  that is not checkpointed (a checkpointed loop recomputes its whole body already);
* its expression is arithmetic, comparisons and ``abs`` of names and constants, costing at most
  :data:`TAPE_COST` operations (divisions and powers count more);
* every statement whose adjoint reads it is an assignment in the same block, after it, and no
  operand is assigned between it and the last of them;
* every operand is read by some adjoint already, or assigned nowhere inside a loop.
"""
from __future__ import annotations

import copy

import gast
from numba.core import types

from ..syntax.nodes import assigned_names, statements

# What a push and its pop cost, in arithmetic operations: recompute what costs no more.
TAPE_COST = 4
_OP_COST = {gast.Div: 4, gast.FloorDiv: 4, gast.Mod: 4, gast.Pow: 8}
_CALLS = {"abs": 1}


def recompute_cost(node) -> int | None:
    """Operations to evaluate ``node`` again, or None when it is not plain arithmetic on numbers."""
    if isinstance(node, (gast.Name, gast.Constant)):
        return 0
    if isinstance(node, gast.BinOp):
        parts = [recompute_cost(node.left), recompute_cost(node.right)]
        return None if None in parts else sum(parts) + _OP_COST.get(type(node.op), 1)
    if isinstance(node, gast.UnaryOp):
        inner = recompute_cost(node.operand)
        return None if inner is None else inner + 1
    if isinstance(node, gast.Compare) and len(node.ops) == 1:
        parts = [recompute_cost(node.left), recompute_cost(node.comparators[0])]
        return None if None in parts else sum(parts) + 1
    if (isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id in _CALLS
            and len(node.args) == 1 and not node.keywords):
        inner = recompute_cost(node.args[0])
        return None if inner is None else inner + _CALLS[node.func.id]
    return None


def rematerialize(body, adjoints, reads, loop_reads, vartypes, counts, skipped_loops=frozenset()) -> list:
    """Move the qualifying values from the tape to recomputation; returns the values moved.

    ``adjoints`` (id of an assignment -> its adjoint statements) gets the recomputations put in
    front of the last readers' adjoints, and ``reads`` (id of an assignment -> names its adjoint
    reads) the readers' new reads; ``loop_reads`` are what reversed loop headers read (never moved),
    ``counts`` the assignment counts of the function; loops in ``skipped_loops`` (ids) are left alone.
    """
    everything_read = set().union(*reads.values()) if reads else set()
    # Read by a reversed loop header or a branch the reverse sweep replays: not an adjoint's read.
    pinned = set().union(*loop_reads.values()) if loop_reads else set()
    pinned |= {s.test.id for s in statements(body) if isinstance(s, gast.If)}
    assigned_in_loops = set()
    for loop in statements(body):
        if isinstance(loop, (gast.For, gast.While)):
            assigned_in_loops |= assigned_names(loop.body)
    moved = []
    for block in _loop_blocks(body, skipped_loops):
        for position in range(len(block) - 1, -1, -1):
            stmt = block[position]
            value = _candidate(stmt, vartypes, counts)
            if value is None:
                continue
            target = stmt.targets[0].id
            operands = {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)} - set(_CALLS)
            if target in pinned or not all(o in everything_read or o not in assigned_in_loops for o in operands):
                continue
            readers = [key for key, names in reads.items() if target in names]
            later = {id(s): k for k, s in enumerate(block) if k >= position and isinstance(s, gast.Assign)}
            if not readers or any(r not in later for r in readers):
                continue
            last = max(later[r] for r in readers)
            if operands & assigned_names(block[position + 1:last + 1]):
                continue
            recompute = copy.deepcopy(stmt)
            adjoints[id(block[last])] = [recompute] + list(adjoints.get(id(block[last]), []))
            for r in readers:
                reads[r] = reads[r] - {target}
            reads[id(block[last])] = reads[id(block[last])] | operands
            everything_read |= operands
            moved.append(target)
    return moved


def _candidate(stmt, vartypes, counts):
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)):
        return None
    target = stmt.targets[0].id
    if counts.get(target, 0) != 1 or not isinstance(vartypes.get(target), (types.Float, types.Integer,
                                                                              types.Boolean)):
        return None
    if any(not isinstance(vartypes.get(n.id), (types.Float, types.Integer, types.Boolean))
           for n in gast.walk(stmt.value) if isinstance(n, gast.Name) and n.id not in _CALLS):
        return None
    cost = recompute_cost(stmt.value)
    return stmt.value if cost is not None and cost <= TAPE_COST else None


def _loop_blocks(stmts, skipped_loops, in_loop=False):
    """The statement lists inside loops not skipped (their bodies and the branches in them)."""
    for stmt in stmts:
        if isinstance(stmt, (gast.For, gast.While)):
            inside = id(stmt) not in skipped_loops
            if inside:
                yield stmt.body
            yield from _loop_blocks(stmt.body, skipped_loops, inside)
        elif isinstance(stmt, gast.If):
            if in_loop:
                yield stmt.body
                yield stmt.orelse
            yield from _loop_blocks(stmt.body, skipped_loops, in_loop)
            yield from _loop_blocks(stmt.orelse, skipped_loops, in_loop)

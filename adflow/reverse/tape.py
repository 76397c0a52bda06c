"""Decide what the forward sweep saves on the tape, and what the reverse sweep recomputes instead.

The reverse sweep processes statements last to first; when it reaches a statement, every value
its adjoint reads must be what it was when the statement ran.  An assignment that overwrites a
value some earlier statement's adjoint still needs must *push* the old value first, and the
reverse sweep *pops* it back after that assignment's adjoint.  Three analyses keep the tape small:

* **exposure** (a forward may-analysis over the structured code): a variable is *exposed* once a
  statement's adjoint has read it and until it is reassigned; only assignments to exposed
  variables push.  Values assigned once, or never read by an adjoint, are never saved.
* **aliasing**: a view (``v = b[1:]``, ``v = b``, ``b.T``) shares memory with its base, so an
  adjoint that reads one reads the other: an in-place write into ``b`` after an adjoint read ``v``
  saves the overwritten part (``b[1:] = b[:-1] * a`` reads ``b[:-1]`` through a temporary view).
* **recomputation**: in a loop body, an assignment whose operands do not change inside the loop
  (loop-invariant values, the loop index, and other such assignments) is recomputed at the top
  of each reverse iteration instead of being pushed every iteration, as a hand-written adjoint
  would (Rosenbrock's loop then needs no tape at all).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gast
from numba.core import types

from ..frontend import ops as O
from ..rules import primitives as P
from ..syntax.nodes import assigned_names, statements
from ..value_types import is_array_type


@dataclass
class TapePlan:
    push_value: set = field(default_factory=set)  # ids of assignments that push their target first
    push_element: set = field(default_factory=set)  # ids of in-place writes that push the old element
    push_index: set = field(default_factory=set)  # ids of loops whose variable is saved around them
    recompute: dict = field(default_factory=dict)  # id(loop) -> [statements recomputed per reverse iteration]
    checkpoint: dict = field(default_factory=dict)  # id(loop) -> variables saved per iteration (body recomputed)


def assignment_counts(body) -> dict:
    counts: dict[str, int] = {}
    for node in gast.walk(gast.Module(body=body, type_ignores=[])):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def alias_groups(ops, vartypes) -> dict:
    """``{array variable: the variables that may share its memory}``, flow-insensitively.

    Views (slices, ``.T``, reshapes, ``np.asarray``) and plain assignments of arrays share memory
    with their base; over-approximating only costs extra saves.
    """
    parent: dict = {}

    def root(v):
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    for op in ops:
        source = viewed(op, vartypes)
        if source is not None:
            parent[root(op.target)] = root(source)
    groups: dict = {}
    for v in parent:
        groups.setdefault(root(v), set()).add(v)
    return {v: frozenset(groups[root(v)]) for v in parent}


def sharing_at_writes(body, ops, vartypes, params) -> dict:
    """``{id(in-place write): the names that may share memory with the written array just before it}``.

    The caller's array of argument ``p`` is named ``("argument", p)``: its name may hold other memory
    by then (``x = x * 2.0`` after ``v = x[1:]``).  Flow-sensitive and relational, unlike alias_groups:
    the analysis follows which *pairs* of names may share memory, so after ``b, c = c, b * 3.0`` the
    name ``b`` shares what ``c`` shared and ``c`` nothing, and a loop that swaps two arrays
    (``x, b = b, np.tanh(x)``) never makes them share, however many iterations it joins.  A view
    shares its base's memory; branches join; a loop joins its iterations until nothing changes.
    """
    found: dict = {}

    def rebind(pairs, target, source=None):
        """``pairs`` after ``target`` is bound to new memory, or to a view of ``source``."""
        partners = {v for pair in pairs if source in pair for v in pair} - {source, target} if source else set()
        pairs = {pair for pair in pairs if target not in pair}
        if source is not None and source != target:
            partners.add(source)
        return pairs | {frozenset((target, v)) for v in partners}

    def block(stmts, pairs):
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                op = ops[id(stmt)]
                if op.kind == O.SETITEM:
                    # In a loop, the last visit is the fixed point's.
                    found[id(stmt)] = frozenset(v for pair in pairs if op.target in pair for v in pair) - {op.target}
                elif is_array_type(vartypes.get(op.target)):
                    pairs = rebind(pairs, op.target, viewed(op, vartypes))
                else:
                    pairs = rebind(pairs, op.target)
            elif isinstance(stmt, gast.If):
                pairs = block(stmt.body, pairs) | block(stmt.orelse, pairs)
            elif isinstance(stmt, (gast.For, gast.While)):
                while True:
                    after = pairs | block(stmt.body, pairs)
                    if after == pairs:
                        break
                    pairs = after
        return pairs

    block(body, {frozenset((p, ("argument", p))) for p in params if is_array_type(vartypes.get(p))})
    return found


def viewed(op, vartypes):
    """The array variable whose memory ``op``'s target shares (a view or the array itself), or None."""
    source = op.args.get("x")
    if not (isinstance(source, gast.Name) and is_array_type(vartypes.get(op.target))
            and is_array_type(vartypes.get(source.id))):
        return None
    if op.kind in (O.COPY, O.GETITEM) or (op.kind == O.PRIMITIVE and (
            op.prim in P.views or (op.prim == "copy" and op.what.endswith("asarray")))):
        return source.id
    return None


def live_after(body) -> dict:
    """``{id(statement): the names some later statement may read before reassigning them}``."""
    out: dict = {}

    def loads(node):
        return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}

    def block(stmts, live):
        for stmt in reversed(stmts):
            out[id(stmt)] = set(live)
            if isinstance(stmt, gast.Assign):
                target = stmt.targets[0]
                live = (live - {target.id} if isinstance(target, gast.Name) else live | loads(target)) \
                    | loads(stmt.value)
            elif isinstance(stmt, gast.If):
                live = block(stmt.body, live) | block(stmt.orelse, live) | {stmt.test.id}
            elif isinstance(stmt, (gast.For, gast.While)):
                head = set(live) | loads(stmt.iter if isinstance(stmt, gast.For) else stmt.test)
                while True:  # the body's end flows back to the loop's head
                    new = head | block(stmt.body, head)
                    if new == head:
                        break
                    head = new
                live = head
            else:
                live = live | loads(stmt)
        return live

    block(body, set())
    return out


def _is_exit_test(stmt) -> bool:
    return isinstance(stmt, gast.If) and len(stmt.body) == 1 and isinstance(stmt.body[0], gast.Break)


def loop_body(loop):
    """A for loop's body without its trailing exit test (``if _brk: break``)."""
    body = loop.body
    if isinstance(loop, gast.For) and body and _is_exit_test(body[-1]):
        return body[:-1]
    return body


class TapePlanner:
    def __init__(self, ops, reads, active, vartypes, body, loop_reads, aliases, reads_overwritten=frozenset()):
        self.ops = ops  # id(stmt) -> Op
        # ids of assignments whose adjoint reads the value their target held before them
        self.reads_overwritten = reads_overwritten
        self.aliases = aliases  # from alias_groups
        self.reads = reads  # id(stmt) -> names its adjoint reads (primal values)
        self.loop_reads = loop_reads  # id(loop) -> names the reversed loop header reads
        self.active = active
        self.vartypes = vartypes
        self.body = body
        self.counts = assignment_counts(body)
        self.plan = TapePlan()

    def run(self) -> TapePlan:
        self.find_recomputable(self.body)
        self.flow(self.body, set())
        return self.plan

    # ------------------------------------------------------------------ recomputation
    def find_recomputable(self, stmts):
        for stmt in stmts:
            if isinstance(stmt, (gast.For, gast.While)):
                recomputed = self.recomputable(stmt)
                carried = self.checkpointable(stmt)
                if carried is not None and self.would_push(stmt, recomputed):
                    self.plan.checkpoint[id(stmt)] = carried
                    continue
                self.plan.recompute[id(stmt)] = recomputed
                self.find_recomputable(stmt.body)
            elif isinstance(stmt, gast.If):
                self.find_recomputable(stmt.body)
                self.find_recomputable(stmt.orelse)

    def recomputable(self, loop) -> list:
        body = loop_body(loop)
        written = assigned_names(body)
        for node in gast.walk(gast.Module(body=body, type_ignores=[])):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Subscript):
                written.add(node.targets[0].value.id)  # arrays written in place are not invariant
            if isinstance(node, gast.Call):
                op_names = [a.id for a in node.args if isinstance(a, gast.Name)]
                written.update(op_names)  # a helper may write into its array arguments
        index = loop.target.id if isinstance(loop, gast.For) else None
        reads_outside = self._reads_outside(loop)
        candidates, available = [], set()
        for stmt in body:
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            op = self.ops.get(id(stmt))
            if op is None or op.kind not in (O.PRIMITIVE, O.COPY, O.GETITEM, O.INACTIVE):
                continue
            target = op.target
            if self.counts.get(target, 0) != 1 or target in reads_outside:
                continue
            operands = {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}
            if all(o == index or o in available or o not in written for o in operands):
                candidates.append(stmt)
                available.add(target)
        # Keep only what the reversed body reads, directly or through other recomputed values.
        needed = set()
        for stmt in body:
            for sub in statements([stmt]):
                needed |= self.reads.get(id(sub), set())
        for stmt in body:
            if isinstance(stmt, (gast.For, gast.While)):
                needed |= self.loop_reads.get(id(stmt), set())
                for inner in self.plan.recompute.get(id(stmt), []):
                    needed |= {n.id for n in gast.walk(inner.value) if isinstance(n, gast.Name)}
        kept = []
        for stmt in reversed(candidates):
            target = stmt.targets[0].id
            if target in needed:
                kept.append(stmt)
                needed |= {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}
        return list(reversed(kept))

    def would_push(self, loop, recomputed) -> bool:
        """Does the body assign a value its adjoints read that recomputation alone cannot restore?"""
        body = loop_body(loop)
        assigned = assigned_names(body)
        restored = {s.targets[0].id for s in recomputed}
        needed = set()
        for stmt in statements(body):
            needed |= self.reads.get(id(stmt), set())
        return bool((needed & assigned) - restored)

    def checkpointable(self, loop):
        """The variables to save per iteration if this loop's reverse should recompute its whole body.

        Saving the few values an iteration starts from (Lorenz: x, y, z) and recomputing the body in
        the reverse iteration beats saving every intermediate, as long as the body is cheap scalar
        code: no inner loops, no in-place writes, no helper calls, no array results, and every name
        assigned once (so one recomputation reproduces every value the adjoints read).
        Returns None when the loop does not qualify.
        """
        body = loop_body(loop)
        inner = list(statements(body))
        counts: dict[str, int] = {}
        for stmt in inner:
            if isinstance(stmt, (gast.For, gast.While)):
                return None
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                if op.kind in (O.SETITEM, O.CALL_USER, O.ALLOCATION, O.UNKNOWN, O.TUPLE):
                    return None
                ty = self.vartypes.get(op.target)
                if ty is None or is_array_type(ty) or isinstance(ty, types.BaseTuple):
                    return None
                counts[op.target] = counts.get(op.target, 0) + 1
        if any(n > 1 for n in counts.values()):
            return None
        if not any(self.reads.get(id(s)) for s in inner):
            return None  # nothing in the body needs primal values: the general scheme saves nothing
        # Carried: read in the body before the body assigns it.
        carried, seen = [], set()
        for stmt in inner:
            if isinstance(stmt, gast.Assign):
                for n in gast.walk(stmt.value):
                    if isinstance(n, gast.Name) and n.id in counts and n.id not in seen and n.id not in carried:
                        carried.append(n.id)
                seen.add(stmt.targets[0].id)
            elif isinstance(stmt, gast.If):
                if stmt.test.id in counts and stmt.test.id not in seen and stmt.test.id not in carried:
                    carried.append(stmt.test.id)
        locals_ = set(counts) - set(carried)
        index = loop.target.id if isinstance(loop, gast.For) else None
        outside = self._reads_outside(loop)
        if locals_ & outside or (locals_ & self._assigned_outside(loop)) or index in counts:
            return None
        return carried

    def _assigned_outside(self, loop) -> set:
        inside = {id(s) for s in statements([loop])}
        out = set()
        for stmt in statements(self.body):
            if id(stmt) not in inside and isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                out.add(stmt.targets[0].id)
        return out

    def _reads_outside(self, loop) -> set:
        inside = {id(s) for s in statements([loop])}
        out = set()
        for stmt in statements(self.body):
            if id(stmt) not in inside:
                out |= self.reads.get(id(stmt), set())
        for key, names in self.loop_reads.items():
            if key not in inside:
                out |= names
        return out

    # ------------------------------------------------------------------ exposure
    def flow(self, stmts, exposed: set) -> set:
        exposed = set(exposed)
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                reads = set()
                for v in self.reads.get(id(stmt), ()):
                    reads |= self.aliases.get(v, {v})  # reading a view reads its base, and back
                if op.kind == O.SETITEM:
                    exposed |= reads
                    if op.target in exposed:
                        self.plan.push_element.add(id(stmt))
                    continue
                target = op.target
                # A view of memory an adjoint read (b = b[::-1], z = y, x = np.asarray(x)) stays
                # exposed under its new name: a write through it must save what it overwrites.
                source = viewed(op, self.vartypes)
                reads_exposed_memory = source is not None and source in exposed | reads
                exposed |= reads - {target}
                if target in exposed or id(stmt) in self.reads_overwritten:
                    self.plan.push_value.add(id(stmt))
                    exposed.discard(target)
                if target in reads or reads_exposed_memory:
                    exposed.add(target)
            elif isinstance(stmt, gast.If):
                exposed |= self.reads.get(id(stmt), set())  # the decision, where the reverse sweep replays it
                exposed = self.flow(stmt.body, exposed) | self.flow(stmt.orelse, exposed)
            elif isinstance(stmt, (gast.For, gast.While)):
                exposed = self.loop(stmt, exposed)
        return exposed

    def loop(self, loop, exposed: set) -> set:
        index = loop.target.id if isinstance(loop, gast.For) else None
        if id(loop) in self.plan.checkpoint:
            # The reverse iteration restores its start values from the tape and recomputes the rest:
            # it reads only what the body does not assign, and leaves nothing of its own exposed.
            body = loop_body(loop)
            assigned = assigned_names(body)
            reads = {n.id for n in gast.walk(gast.Module(body=body, type_ignores=[]))
                     if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
            return ((exposed | (reads - assigned) | self.loop_reads.get(id(loop), set())) - assigned) - {index}
        recomputed = self.plan.recompute.get(id(loop), [])
        recomputed_names = {s.targets[0].id for s in recomputed}
        invariant_reads = set()
        for stmt in recomputed:
            invariant_reads |= {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}
        invariant_reads -= recomputed_names | {index}
        if index is not None and index in exposed:
            self.plan.push_index.add(id(loop))
        state = (exposed | invariant_reads) - {index}
        while True:
            after = self.flow(loop_body(loop), state) - recomputed_names
            new_state = (state | after) - {index}
            if new_state == state:
                break
            state = new_state
        return state | after | self.loop_reads.get(id(loop), set())

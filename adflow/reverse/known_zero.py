"""An adjoint known to hold zero takes its first contribution as its value: ``v_bar = e``, not ``v_bar += e``.

The reverse sweep starts every scalar adjoint at zero, and restarts it at zero where its
variable's assignment has been reversed (:meth:`~adflow.reverse.reverse_sweep.ReverseSweep.needs_reset`),
so most contributions land in an adjoint that holds exactly zero.  ``0.0 + e`` is not ``e`` in
IEEE arithmetic (it is ``+0.0`` where ``e`` is ``-0.0``), so without fast-math LLVM keeps that
addition: one per contribution, on the reverse sweep's critical path.  This pass finds, by a
forward analysis over the structured code, the adjoints that certainly hold zero before each
``v_bar += e`` and writes ``v_bar = e`` there.  The zero starts it leaves unread are removed by
:mod:`.dead_reverse`.

What holds zero: an adjoint (a name the reverse transform started, :attr:`Sweeps.adjoints
<adflow.reverse.sweeps.Sweeps.adjoints>`) just assigned a zero literal (``0.0``, ``np.float32(0.0)``
or a zero dual), until any statement stores into it.  Branches keep what both sides keep; a
loop's head keeps what holds on entry and at the end of its body (to a fixpoint), and a loop with
``break`` or ``continue`` keeps nothing it assigns.

Numbers are unchanged but for the sign of a zero (``-0.0`` where ``0.0 + -0.0`` gave ``0.0``),
and for a float32 contribution into a float64 adjoint, which now stays float32 (a float32
cotangent into float64 code).  A pure function from the generated ``FunctionDef`` to a new one.
"""
from __future__ import annotations

import gast

from ..syntax.nodes import copy_tree

_FLOAT_CASTS = {"float64", "float32", "float16"}


def is_zero(node) -> bool:
    """``0.0``, ``np.float32(0.0)`` or ``dual_zeros_like(0.0, k)``: the zeros adjoints start as."""
    if isinstance(node, gast.Constant):
        return type(node.value) is float and node.value == 0.0
    if isinstance(node, gast.Call) and node.args and isinstance(node.args[0], gast.Constant):
        func = node.func
        first = node.args[0].value
        if type(first) is not float or first != 0.0:
            return False
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and func.value.id == "np":
            return func.attr in _FLOAT_CASTS and len(node.args) == 1
        return isinstance(func, gast.Name) and func.id == "dual_zeros_like"
    return False


def adjoint_names(fdef) -> set:
    """The adjoints the reverse transform started (empty for a function without its record)."""
    sweeps = getattr(fdef, "sweeps", None)
    return set(sweeps.adjoints.values()) if sweeps is not None else set()


def assign_known_zeros(fdef: gast.FunctionDef, adjoints=None) -> gast.FunctionDef:
    """A copy of ``fdef`` whose contributions into adjoints known to hold zero are assignments.

    ``adjoints``: the names considered (default: those of the function's record).
    """
    fdef = copy_tree(fdef)
    names = adjoint_names(fdef) if adjoints is None else set(adjoints)
    if names:
        fdef.body, _ = _KnownZero(names).block(fdef.body, frozenset(), rewrite=True)
    return fdef


class _KnownZero:
    def __init__(self, adjoints):
        self.adjoints = adjoints

    def block(self, stmts, zero: frozenset, rewrite: bool):
        """(the statements, rewritten when ``rewrite``; the adjoints holding zero after them)."""
        out = []
        for stmt in stmts:
            stmt, zero = self.statement(stmt, zero, rewrite)
            out.append(stmt)
        return out, zero

    def statement(self, stmt, zero, rewrite):
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0] if len(stmt.targets) == 1 else None
            zero = zero - _stored(stmt)
            if isinstance(target, gast.Name) and target.id in self.adjoints and is_zero(stmt.value):
                zero = zero | {target.id}
            return stmt, zero
        if isinstance(stmt, gast.AugAssign):
            target = stmt.target
            if (isinstance(target, gast.Name) and target.id in zero and isinstance(stmt.op, gast.Add)
                    and rewrite):
                node = gast.Assign(targets=[target], value=stmt.value, type_comment=None)
                node.lineno = getattr(stmt, "lineno", None)
                stmt = node
            return stmt, zero - _stored(stmt)
        if isinstance(stmt, gast.If):
            body, after_body = self.block(stmt.body, zero, rewrite)
            orelse, after_else = self.block(stmt.orelse, zero, rewrite)
            if rewrite:
                stmt.body, stmt.orelse = body, orelse
            return stmt, after_body & after_else
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop(stmt, zero, rewrite)
        return stmt, zero - _stored(stmt)

    def loop(self, loop, zero, rewrite):
        header = _stored(loop.target) if isinstance(loop, gast.For) else set()
        if _jumps(loop.body) or loop.orelse:
            head = zero - header - _stored_in(loop.body) - _stored_in(loop.orelse)
        else:
            head = zero - header
            while True:  # the end of an iteration flows back to the head
                _, end = self.block(loop.body, head, rewrite=False)
                new_head = head & end - header
                if new_head == head:
                    break
                head = new_head
        if rewrite:
            loop.body, _ = self.block(loop.body, head, rewrite=True)
        return loop, head


def _stored(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def _stored_in(stmts) -> set:
    out = set()
    for stmt in stmts:
        out |= _stored(stmt)
    return out


def _jumps(stmts) -> bool:
    """Does a ``break`` or ``continue`` of this loop (not of a loop inside it) occur in ``stmts``?"""
    for stmt in stmts:
        if isinstance(stmt, (gast.Break, gast.Continue)):
            return True
        if isinstance(stmt, gast.If) and (_jumps(stmt.body) or _jumps(stmt.orelse)):
            return True
    return False

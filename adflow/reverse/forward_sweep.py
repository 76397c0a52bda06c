"""The forward sweep: the normalised function with the pushes the tape plan asks for (values,
overwritten elements, loop indices and trip counts, the start values of checkpointed iterations).

A part of :class:`adflow.reverse.transform.ReverseTransform`.
"""
from __future__ import annotations

import copy

import gast
from numba.core import types

from ..backends.emit import comment
from ..duals.numba_dual import DualArrayType, DualType
from ..errors import NonDifferentiableError
from ..frontend import ops as O
from ..syntax.nodes import assign, const, name, store
from ..value_types import ndim_of
from .adjoint import element_is_scalar
from .tape_code import flatten_pushes, is_array_value


class ForwardSweep:
    """The forward sweep written (a part of the ReverseTransform)."""

    def forward_block(self, stmts) -> list:
        out = []
        for stmt in stmts:
            ln = getattr(stmt, "lineno", None)
            if isinstance(stmt, gast.Assign):
                op = self.ops[id(stmt)]
                if id(stmt) in self.plan.push_value:
                    self.pushed_vars[op.target] = self.vartypes[op.target]
                    out.append(self.push(op.target, name(op.target), ln))
                if id(stmt) in self.plan.push_element:
                    out.append(self.push_element(op, ln))
                out.append(self.marked_view_store(op, stmt))
            elif isinstance(stmt, gast.If):
                out.append(copy_if(stmt, self.forward_block(stmt.body), self.forward_block(stmt.orelse)))
            elif isinstance(stmt, (gast.For, gast.While)):
                info = self.loop_info[id(stmt)]
                if id(stmt) in self.plan.push_index:
                    var = stmt.target.id
                    self.pushed_vars[var] = self.vartypes[var]
                    out.append(self.push(var, name(var), ln))
                self.depth = getattr(self, "depth", 0) + 1
                body = self.forward_block(stmt.body)
                self.depth -= 1
                carried = self.plan.checkpoint.get(id(stmt))
                if carried:
                    saves = []
                    for var in carried:
                        self.pushed_vars[var] = self.vartypes[var]
                        saves.append(self.push(var, name(var), ln))
                    body = [comment("save the values this iteration starts from", ln)] + flatten_pushes(saves) + body
                if info["counter"]:
                    out.append(assign(info["counter"], const(0), ln))
                    inc = gast.AugAssign(target=store(info["counter"]), op=gast.Add(), value=const(1))
                    inc.lineno = ln
                    body = [inc] + body
                loop = copy.copy(stmt)
                loop.body = body
                out.append(loop)
                if info["counter"] and self.depth > 0:
                    # An inner loop's trip count differs per outer iteration: keep each one.
                    self.pushed_vars[info["counter"]] = types.int64
                    out.append(self.push(info["counter"], name(info["counter"]), ln, ty=types.int64))
            else:
                out.append(stmt)
        return flatten_pushes(out)

    def marked_view_store(self, op, stmt):
        """``x[1:-1] = v`` of a float array from an array, marked to become ``assign(x[1:-1], v)``
        (reverse/view_stores.py): the part is a view, selected by integers and slices."""
        if op.kind != O.SETITEM:
            return stmt
        xtype, v = self.vartypes.get(op.args["x"].id), op.args["v"]
        vtype = self.vartypes.get(v.id) if isinstance(v, gast.Name) else None
        if (isinstance(xtype, types.Array) and isinstance(xtype.dtype, types.Float)
                and isinstance(vtype, types.Array) and self.writer.basic(op.statics["index"])):
            stmt = copy.copy(stmt)
            stmt.stores_into_view = True
        return stmt

    def element_tape(self, op):
        """The tape saving what ``x[index] = v`` overwrites: one per array and kind of part.

        Elements and sub-arrays of one array go on separate tapes (a scalar stack, a list of arrays).
        """
        x, index = op.target, op.statics["index"]
        xtype = self.vartypes[x]
        if len(index.elts if isinstance(index, gast.Tuple) else [index]) > ndim_of(xtype):
            # One name for arrays of different ranks (b = b.reshape(2, 2)) has no one type: numba
            # types each value apart, but a tape needs the element's type before the write.
            raise NonDifferentiableError(
                f"in-place write into '{x}', a name this function also gives arrays of other dimensions",
                self.fn.location(op.node), hint=f"give the reshaped array a name of its own, not '{x}'")
        dual = isinstance(xtype, DualArrayType)  # a Hessian's sweep: the parts saved are duals too
        if element_is_scalar(xtype, index):
            ety, suffix = (DualType(xtype.k) if dual else xtype.dtype), "saved"
        else:
            ndim = _slice_ndim(xtype, index)
            ety = types.Array(xtype.dtype, ndim, "C")
            if dual:
                ety = DualArrayType(xtype.k, ety, types.Array(xtype.dtype, ndim + 1, "C"))
            suffix = "slices" if ndim == 1 else f"slices{ndim}d"
        tape = f"_{x.lstrip('_')}_{suffix}"
        self.element_tapes[(x, ety)] = (tape, f"{tape}_top")
        return ety, tape, f"{tape}_top"

    def push_element(self, op, ln):
        ety, tape, top = self.element_tape(op)
        element = gast.Subscript(value=name(op.target), slice=copy.deepcopy(op.statics["index"]), ctx=gast.Load())
        if is_array_value(ety):
            element = gast.Call(func=gast.Attribute(value=element, attr="copy", ctx=gast.Load()), args=[], keywords=[])
        return self.push(op.target, element, ln, tape, top, ety)


def copy_if(stmt, body, orelse):
    node = gast.If(test=copy.deepcopy(stmt.test), body=body or [gast.Pass()], orelse=orelse)
    node.lineno = getattr(stmt, "lineno", None)
    return node


def _slice_ndim(xtype, index) -> int:
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    ints = sum(1 for p in parts if not isinstance(p, gast.Slice))
    return xtype.ndim - ints

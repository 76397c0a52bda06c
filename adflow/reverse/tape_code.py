"""The code that saves values on tapes in the forward sweep and reads them back in the reverse
sweep: a growing float stack for numbers, a list for arrays.

A part of :class:`adflow.reverse.transform.ReverseTransform`.
"""
from __future__ import annotations

import gast

from ..duals.numba_dual import DualType
from ..syntax.nodes import assign, call, call_attr, const, name, numpy_dtype, store
from ..frontend.typeinfer import PromotedArray
from ..value_types import ndim_of
from .placeholders import dummy_value
from .sweeps import scalar_dtype


class TapeCode:
    """Tapes made, pushed onto, popped, peeked and dropped (a part of the ReverseTransform)."""

    def new_tape(self, var, ty, tape, top, ln, like=None):
        if isinstance(ty, DualType):
            return [assign(tape, gast.Call(func=name("dual_zeros"), args=[const(16), const(ty.k)], keywords=[]), ln),
                    assign(top, const(0), ln)]
        if is_array_value(ty):  # as push and pop decide: a 0-d array goes on the stack of numbers
            if like is None:
                # Typed by the variable's type over the whole function, not by its first value (an
                # argument rebound to a view: x = x[::-1] in a loop).
                like = dummy_value(ty)
            return [assign(tape, call("array_stack", like), ln)]
        return [assign(tape, call_attr("np", "empty", const(16), numpy_dtype(scalar_dtype(ty))), ln),
                assign(top, const(0), ln)]

    def tape_names(self, var):
        """``(_v_tape, _v_top)`` for ``v`` or ``_v``, one pair per variable: the user's ``t2`` and a
        temporary ``_t2`` both read as ``_t2_tape``, so the second gets ``_t2_2_tape`` (CI fuzz seed
        2028398981: a number pushed onto an array's tape)."""
        names = self.__dict__.setdefault("_tape_names_of", {})
        if var not in names:
            base, taken, k = var.lstrip("_"), set(names.values()), 1
            stem = base
            while (f"_{stem}_tape", f"_{stem}_top") in taken:
                k += 1
                stem = f"{base}_{k}"
            names[var] = (f"_{stem}_tape", f"_{stem}_top")
        return names[var]

    def push(self, var, value, ln, tape=None, top=None, ty=None):
        tape, top = tape or self.tape_names(var)[0], top or self.tape_names(var)[1]
        ty = ty if ty is not None else self.vartypes.get(var)
        if is_array_value(ty):
            if isinstance(ty, PromotedArray):  # a version of another dtype: the tape holds one
                value = call_attr("np", "asarray", value, numpy_dtype(ty.dtype))
            node = gast.Expr(value=gast.Call(func=gast.Attribute(value=name(tape), attr="append", ctx=gast.Load()),
                                             args=[value], keywords=[]))
            node.lineno = ln
            return node
        # Written out rather than called: the array is rebound only when it grows, so numba does
        # no reference counting per push (a call returning the array costs ~10x in tight loops).
        full = gast.Compare(left=name(top), ops=[gast.Eq()], comparators=[
            gast.Subscript(value=gast.Attribute(value=name(tape), attr="shape", ctx=gast.Load()), slice=const(0),
                           ctx=gast.Load())])
        grow = gast.If(test=full, body=[assign(tape, call("grow", name(tape)), ln)], orelse=[])
        grow.lineno = ln
        write = gast.Assign(targets=[gast.Subscript(value=name(tape), slice=name(top), ctx=gast.Store())],
                            value=value, type_comment=None)
        write.lineno = ln
        bump = gast.AugAssign(target=store(top), op=gast.Add(), value=const(1))
        bump.lineno = ln
        return _Group([grow, write, bump])

    def pop_into(self, target_node, var, ln, tape=None, top=None, ty=None):
        tape, top = tape or self.tape_names(var)[0], top or self.tape_names(var)[1]
        ty = ty if ty is not None else self.vartypes.get(var)
        if is_array_value(ty):
            value = gast.Call(func=gast.Attribute(value=name(tape), attr="pop", ctx=gast.Load()), args=[], keywords=[])
            node = gast.Assign(targets=[target_node], value=value, type_comment=None)
            node.lineno = ln
            return [node]
        first = gast.AugAssign(target=store(top), op=gast.Sub(), value=const(1))
        first.lineno = ln
        second = gast.Assign(targets=[target_node], value=gast.Subscript(value=name(tape), slice=name(top),
                                                                         ctx=gast.Load()), type_comment=None)
        second.lineno = ln
        return [first, second]

    def peek(self, var, ln):
        tape, top = self.tape_names(var)
        ty = self.vartypes.get(var)
        index = gast.BinOp(left=name(top), op=gast.Sub(), right=const(1))
        if is_array_value(ty):
            index = const(-1)
        return assign(var, gast.Subscript(value=name(tape), slice=index, ctx=gast.Load()), ln)

    def drop(self, var, ln):
        tape, top = self.tape_names(var)
        if is_array_value(self.vartypes.get(var)):
            node = gast.Expr(value=gast.Call(func=gast.Attribute(value=name(tape), attr="pop", ctx=gast.Load()),
                                             args=[], keywords=[]))
            node.lineno = ln
            return node
        node = gast.AugAssign(target=store(top), op=gast.Sub(), value=const(1))
        node.lineno = ln
        return node


class _Group(list):
    """Several statements standing for one push; flattened where they are emitted."""


def flatten_pushes(stmts):
    out = []
    for stmt in stmts:
        if isinstance(stmt, _Group):
            out.extend(stmt)
        else:
            out.append(stmt)
    return out


def is_array_value(ty) -> bool:
    """Values pushed by reference onto a list stack: arrays (of floats, or of duals)."""
    return ndim_of(ty) > 0

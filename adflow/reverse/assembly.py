"""The reverse-mode function put together: the caller's arrays copied, declarations, tapes, the
forward sweep, the adjoints started and seeded with the cotangent, the reverse sweep, and the
return of the value with the gradients (and its :class:`~adflow.reverse.sweeps.Sweeps` record).

A part of :class:`adflow.reverse.transform.ReverseTransform` (whose plan it reads).
"""
from __future__ import annotations

import copy

import gast
from numba.core import types

from ..backends.emit import comment
from ..duals.numba_dual import DualType
from ..syntax.nodes import assign, call, const, name, statements
from ..frontend import ops as O
from ..value_types import float_leaves, ndim_of
from .placeholders import dummy_value
from .sweeps import Sweeps, Tape, tape_dtype
from .tape import assignment_counts
from .tape_code import is_array_value


class Assembly:
    """The function around the two sweeps (a part of the ReverseTransform)."""

    def assemble(self, body) -> gast.FunctionDef:
        ln = self.fdef.lineno
        self.pushed_vars, self.element_tapes = {}, {}
        forward = self.forward_block(body)
        reverse = self.reverse_block(body)

        prologue = []
        written_params = {self.ops[id(s)].target for s in statements(body)
                          if isinstance(s, gast.Assign) and self.ops[id(s)].kind == O.SETITEM}
        for p in self.params:
            if p in written_params and is_array_value(self.vartypes.get(p)):
                # Never mutate the caller's arrays: the function works on its own copy.
                prologue.append(assign(p, gast.Call(func=gast.Attribute(value=name(p), attr="copy", ctx=gast.Load()),
                                                    args=[], keywords=[]), ln))
        declared = set(self.params)
        declarations = []
        # Declared up front: what is pushed before its first assignment, and arrays whose adjoint
        # starts as zeros shaped like them (scalar adjoints start as 0.0 and need no declaration).
        arrays = {v for v in self.active if _is_array_like(self.vartypes.get(v))}
        to_declare = sorted((set(self.pushed_vars) | arrays) - declared)
        for var in to_declare:
            ty = self.vartypes.get(var) or self.pushed_vars.get(var)
            if ty is not None:
                declarations.append(assign(var, dummy_value(ty), ln))
        tapes = []
        for var, ty in self.pushed_vars.items():
            tapes.extend(self.new_tape(var, ty, *self.tape_names(var), ln))
        for (var, ty), (tape, top) in self.element_tapes.items():
            tapes.extend(self.new_tape(var, ty, tape, top, ln, like=dummy_value(ty)))

        seed = self.seed
        inits = [stmt for var in sorted(self.active) for stmt in self.resets(var, ln)]
        wrt_names = [self.params[k] for k in self.wrt]
        rebound = assignment_counts(self.fdef.body)
        for p in wrt_names:
            if p not in self.active:
                # Zeros shaped like the argument as passed, before the function rebinds it (x = x[1:]).
                (prologue if p in rebound else inits).append(assign(self.bar(p), self.zero_of(p), ln))
        if isinstance(self.result, gast.Name) and self.result.id in self.active:
            rty = self.vartypes.get(self.result.id)
            # add_cotangent: an empty cotangent (the probe run of vjp, which wants the value) adds nothing.
            if isinstance(rty, types.BaseTuple) and self.output_component is not None:
                out_bar = self.bar(self.result.id, self.output_component)
                inits.append(assign(out_bar, call("add_cotangent", name(out_bar), name(seed)), ln))
            elif isinstance(rty, types.BaseTuple):
                for path, _ in float_leaves(rty):
                    out_bar = self.bar(self.result.id, path)
                    inits.append(assign(out_bar, call("add_cotangent", name(out_bar), part_of(name(seed), path)), ln))
            else:
                out_bar = self.bar(self.result.id)
                inits.append(assign(out_bar, call("add_cotangent", name(out_bar), name(seed)), ln))

        grads = gast.Tuple(elts=[name(self.bar(p)) for p in wrt_names], ctx=gast.Load())
        # The reverse sweep restores overwritten variables: keep the result as the forward sweep left it.
        result = copy.deepcopy(self.result)
        restored_in_place = {var for var, _ in self.element_tapes}
        rty = self.vartypes.get(self.result.id) if isinstance(self.result, gast.Name) else None
        if isinstance(rty, types.BaseTuple) and restored_in_place:
            # A tuple holds its arrays themselves, which the reverse sweep may write old values back
            # into (flow-insensitive aliases cannot say which): return copies of its arrays.
            value = self.normalizer.fresh("value")
            forward.append(assign(value, _with_arrays_copied(self.result, rty), ln))
            result = name(value)
        elif isinstance(self.result, gast.Name):
            if restored_in_place & self.aliases.get(self.result.id, {self.result.id}):
                # The reverse sweep writes old values back into this array: return a copy.
                value = self.normalizer.fresh("value")
                forward.append(assign(value, gast.Call(func=gast.Attribute(value=copy.deepcopy(self.result),
                                                                           attr="copy", ctx=gast.Load()),
                                                       args=[], keywords=[]), ln))
                result = name(value)
            elif self.result.id in self.pushed_vars or self.result.id in self.checkpointed_vars:
                value = self.normalizer.fresh("value")
                forward.append(assign(value, copy.deepcopy(self.result), ln))
                result = name(value)
        ret = gast.Return(value=gast.Tuple(elts=[result, grads], ctx=gast.Load()))
        ret.lineno = ln
        forward_sweep, reverse_sweep = comment("forward sweep", ln), comment("reverse sweep", ln)
        new_body = (prologue + declarations + tapes + [forward_sweep] + forward
                    + [reverse_sweep] + inits + reverse + [ret])
        args = copy.deepcopy(self.fdef.args)
        args.args.append(gast.Name(id=seed, ctx=gast.Param(), annotation=None, type_comment=None))
        fdef = gast.FunctionDef(name=f"{self.fdef.name}_vjp", args=args, body=new_body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.lineno = ln
        started = {s.targets[0].id for s in inits}
        fdef.sweeps = Sweeps(
            params=tuple(self.params), cotangent=seed, wrt=tuple(self.wrt), is_helper=self.is_helper,
            copied=tuple(s.targets[0].id for s in prologue), declared=tuple(s.targets[0].id for s in declarations),
            tapes=tuple(Tape(tape, top if ndim_of(ty) == 0 else None, tape_dtype(ty), var)
                        for var, ty, tape, top in [(v, t) + self.tape_names(v) for v, t in self.pushed_vars.items()]
                        + [(v, t, tape, top) for (v, t), (tape, top) in self.element_tapes.items()]),
            adjoints={var: bar for (var, k), bar in self.bars.items() if k is None and bar in started},
            returned=result.id if isinstance(result, gast.Name) else None,
            gradients=tuple(self.bar(p) for p in wrt_names), forward_sweep=forward_sweep, reverse_sweep=reverse_sweep)
        return fdef

    def resets(self, var, ln) -> list:
        """``var``'s adjoint back to zero: one statement, or one per float component of a tuple."""
        ty = self.vartypes.get(var)
        if isinstance(ty, types.BaseTuple):
            return [assign(self.bar(var, path), call("zeros_like_float", part_of(name(var), path), name(self.seed)), ln)
                    for path, _ in float_leaves(ty)]
        return [assign(self.bar(var), self.zero_of(var), ln)]

    def zero_of(self, var):
        """A zero adjoint for ``var``: a literal for scalars, an array shaped like ``var`` otherwise."""
        ty = self.vartypes.get(var)
        if isinstance(ty, types.Float):
            return dummy_value(ty)
        if isinstance(ty, DualType):
            return const(0.0)  # numba promotes it to a dual where duals are added
        return call("zeros_like_float", name(var), name(self.seed))


def part_of(value, path):
    """``value[k][j]...``: the part of a (nested) tuple at ``path``."""
    for k in path:
        value = gast.Subscript(value=value, slice=const(k), ctx=gast.Load())
    return value


def _with_arrays_copied(value, ty):
    """A tuple expression equal to ``value`` (of tuple type ``ty``), each of its arrays copied, at any depth."""
    def part(node, ty):
        if isinstance(ty, types.BaseTuple):
            return gast.Tuple(elts=[part(part_of(node, (k,)), t) for k, t in enumerate(ty.types)], ctx=gast.Load())
        return gast.Call(func=gast.Attribute(value=node, attr="copy", ctx=gast.Load()), args=[], keywords=[]) \
            if is_array_value(ty) else node

    return part(copy.deepcopy(value), ty)


def _is_array_like(ty) -> bool:
    return ndim_of(ty) > 0 or isinstance(ty, types.BaseTuple)

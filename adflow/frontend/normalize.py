"""Normalise a function into adflow's simple form: one operation per assignment.

The normal form (what every later pass relies on):

* an *atom* is a local ``Name`` or a ``Constant``;
* ``name = <op>`` where ``<op>`` is an atom, ``a <binop> b``, ``<unaryop> a``, ``a <cmp> b``,
  ``f(atoms..., kw=atoms)`` (``f`` a module attribute, builtin, helper or ``a.method``),
  ``a[index]`` (index parts are atoms or slices of atoms), ``a.attr`` or a tuple of atoms;
* ``a[index] = atom`` for in-place writes;
* ``if name:`` with normal-form branches; ``for name in range(atoms):``; ``while name:``
  whose body ends by recomputing ``name``;
* ``return atom`` (only as the last statement, after :mod:`.exits`); ``break``/``continue``
  remain until :mod:`.exits` replaces them with flags.

Temporaries are named after the variable they help compute (``_s1`` for a part of ``s``), so the
generated code reads like the user's.  Every statement keeps the user's line number.

The :class:`Normalizer` is one class in three modules, each a part of the normal form: the
statements (here), the expressions (:mod:`.normalize_expressions`) and the calls
(:mod:`.normalize_calls`: helpers, functions written out in place, adflow transforms called inside).
"""
from __future__ import annotations

import gast
import numpy as np

from ..errors import UnsupportedSyntaxError
from ..syntax.nodes import assign, assigned_names, const, name, store
from . import inline, lists
from . import namespace as ns
from .normalize_calls import CallNormalizer
from .normalize_expressions import ExpressionNormalizer, atom_names, is_atom


class Normalizer(ExpressionNormalizer, CallNormalizer):
    """Writes one function in the normal form: its state and statements (expressions and calls: the bases)."""

    def __init__(self, fn):
        self.fn = fn
        self.locals = set(fn.params) | inline.assigned_outside_functions(fn.tree.body)
        self.taken = {n.id for n in gast.walk(fn.tree) if isinstance(n, gast.Name)} | self.locals
        self.helpers: dict[str, object] = {}  # generated-code name -> user function
        self.arrays: dict[str, np.ndarray] = {}  # global array constants used
        self.globals_used: dict[str, object] = {}  # global names the code refers to (np, math...)
        self.lineno = fn.tree.lineno
        self.nested: dict[str, gast.FunctionDef] = {}  # functions defined in the body, by name
        self.expanding: list = []  # the calls being written out in place (frontend/inline.py), innermost last
        self.loaded: dict[int, object] = {}  # id(user function) -> its parsed source
        self.lists, self.appended = lists.list_variables(fn.tree.body)  # lists of numbers: float arrays

    # ------------------------------------------------------------------ names
    def fresh(self, hint: str) -> str:
        base = (hint or "t").strip("_").split(".")[0] or "t"
        k = 1
        while f"_{base}{k}" in self.taken:
            k += 1
        result = f"_{base}{k}"
        self.taken.add(result)
        self.locals.add(result)
        return result

    def error(self, what, node, hint=None):
        return UnsupportedSyntaxError(what, self.fn.location(node), hint=hint)

    # ------------------------------------------------------------------ entry
    def run(self) -> gast.FunctionDef:
        tree = self.fn.tree
        body = self.block(tree.body)
        new = gast.FunctionDef(name=tree.name, args=tree.args, body=body or [gast.Pass()],
                               decorator_list=[], returns=None, type_comment=None, type_params=[])
        new.lineno = tree.lineno
        return new

    def block(self, stmts) -> list:
        out = []
        for stmt in stmts:
            self.lineno = getattr(stmt, "lineno", self.lineno)
            out.extend(self.stmt(stmt))
        return out

    # ------------------------------------------------------------------ statements
    def stmt(self, s) -> list:
        out: list = []
        ln = s.lineno
        nested = inline.nested_function(s)
        if nested is not None:  # def h(...): or h = lambda ...: written out where it is called
            self.nested[nested.name] = nested
            return []
        if isinstance(s, gast.Assign):
            if len(s.targets) == 1:
                self.assign_to(s.targets[0], s.value, out, ln)
            else:
                value = self.atom(s.value, out, "t")
                for target in s.targets:
                    self.assign_to(target, value, out, ln)
        elif isinstance(s, gast.AugAssign):
            target = s.target
            if isinstance(target, gast.Name) and target.id in self.lists:
                raise self.error(f"'{target.id} {_OPERATOR_TEXT.get(type(s.op).__name__, '?')}= ...' on a list "
                                 "(it extends or repeats the list)", s,
                                 hint=f"use {target.id}.append(value), or np.array({target.id}) for arithmetic")
            load_target = _as_load(target)
            self.assign_to(target, gast.BinOp(left=load_target, op=s.op, right=s.value), out, ln)
        elif isinstance(s, gast.AnnAssign):
            if s.value is not None:
                self.assign_to(s.target, s.value, out, ln)
        elif isinstance(s, gast.Expr):
            if isinstance(s.value, gast.Constant):  # docstring or bare constant
                return []
            if lists.is_append_statement(s):
                self.append(s, out, ln)
                return out
            callee = self.callee(s.value, statement=True) if isinstance(s.value, gast.Call) else None
            if callee is None and isinstance(s.value, gast.Call) and lists.method_of(s.value, self.lists):
                self.op(s.value, out, "t")  # v.pop(): refused as a list method
            if callee is None:
                raise self.error("a statement whose value is unused (a call for its side effect)", s,
                                 hint="assign the value, or remove the call; your own functions (a helper "
                                      "filling an array it is given) may be called as statements")
            self.inline(callee, s.value, out, discard=True)
        elif isinstance(s, gast.Pass):
            return []
        elif isinstance(s, gast.If):
            test = self.not_a_list(self.atom(s.test, out, "cond"), s.test)
            node = gast.If(test=test, body=self.block(s.body) or [gast.Pass()], orelse=self.block(s.orelse))
            node.lineno = ln
            out.append(node)
        elif isinstance(s, gast.For):
            out.extend(self.for_loop(s))
        elif isinstance(s, gast.While):
            # while c: body  ->  _cond = c; while _cond: body; _cond = c
            flag = self.fresh("cond")
            out.extend(self.rebuild_condition(s.test, flag, ln))
            body = self.block(s.body)
            recompute = self.rebuild_condition(s.test, flag, ln)
            loop = gast.While(test=name(flag), body=body + recompute, orelse=[])
            loop.lineno = ln
            loop.cond_len = len(recompute)  # read by .exits and the reverse transform
            out.append(loop)
        elif isinstance(s, gast.Return):
            if s.value is None:
                raise self.error("a function without a return value", s,
                                 hint="return the value to differentiate")
            value = self.atom(s.value, out, "result")
            node = gast.Return(value=value)
            node.lineno = ln
            out.append(node)
        elif isinstance(s, (gast.Break, gast.Continue)):
            out.append(s)
        elif isinstance(s, gast.Assert):
            test = self.atom(s.test, out, "check")
            node = gast.Assert(test=test, msg=s.msg if isinstance(s.msg, gast.Constant) else None)
            node.lineno = ln
            out.append(node)
        elif isinstance(s, gast.Raise):
            out.append(s)
        else:
            raise self.error(f"the statement '{type(s).__name__}' is not supported", s)
        return out

    def rebuild_condition(self, test_expr, flag, ln) -> list:
        """Statements that recompute a while loop's condition into ``flag`` at the end of the body."""
        out: list = []
        value = self.not_a_list(self.op(test_expr, out, flag), test_expr)
        out.append(assign(flag, value, ln))
        return out

    def assign_to(self, target, value, out, ln):
        if isinstance(target, gast.Name):
            self.locals.add(target.id)
            if isinstance(value, gast.Name) and value.id in self.lists and value.id != target.id \
                    and {value.id, target.id} & self.appended:
                raise self.error(f"'{target.id} = {value.id}': a second name for a list that is appended to", value,
                                 hint=f"copy it ({target.id} = {value.id}.copy() reads as np.copy), or use one name")
            op = self.op(value, out, target.id)
            if isinstance(op, gast.Name) and op.id == target.id:
                return  # `s = s` changes nothing (and its adjoint would restart s_bar at zero)
            if not is_atom(op) and target.id in atom_names(op):
                # v = f(v, ...): the adjoint needs the old v, so compute into a temporary first.
                tmp = self.fresh(target.id)
                out.append(assign(tmp, op, ln))
                op = name(tmp)
            out.append(assign(target.id, op, ln))
        elif isinstance(target, (gast.Tuple, gast.List)):
            if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                parts = [self.atom(v, out, "t") for v in value.elts]
                # Copy names first so that `a, b = b, a` swaps.
                parts = [self._copy_if_target(p, target, out, ln) for p in parts]
                for t, p in zip(target.elts, parts):
                    self.assign_to(t, p, out, ln)
            else:
                whole = self.atom(value, out, "t")
                for k, t in enumerate(target.elts):
                    self.assign_to(t, gast.Subscript(value=whole, slice=const(k), ctx=gast.Load()), out, ln)
        elif isinstance(target, gast.Subscript):
            base = target.value
            if not isinstance(base, gast.Name) or base.id not in self.locals:
                raise self.error("an in-place write into something other than a local array", target,
                                 hint="write into a local array variable, e.g. out[i] = ...")
            index = self.index(target.slice, out, base.id)
            val = self.atom(value, out, base.id)
            node = gast.Assign(targets=[gast.Subscript(value=name(base.id), slice=index, ctx=gast.Store())],
                               value=val, type_comment=None)
            node.lineno = ln
            out.append(node)
        else:
            raise self.error("this assignment target is not supported", target)

    def _copy_if_target(self, atom, target, out, ln):
        targets = {t.id for t in target.elts if isinstance(t, gast.Name)}
        if isinstance(atom, gast.Name) and atom.id in targets:
            tmp = self.fresh(atom.id)
            out.append(assign(tmp, atom, ln))
            return name(tmp)
        return atom

    def for_loop(self, s) -> list:
        out: list = []
        ln = s.lineno
        grows = lists.appended_in_loop_over(s, self.lists)
        if grows is not None:
            raise self.error(f"a loop over the list '{grows}' that appends to it", s,
                             hint=f"loop over a copy (for v in {grows}.copy():), or over range(n)")
        it = s.iter
        body_prefix: list = []
        if not isinstance(it, gast.Call):
            # for v in arr:  ->  for _k in range(len(arr)): v = arr[_k]
            arr = self.sequence(it, s, out, ln)
            index = self.fresh("k")
            bounds = self.range_bounds([self.len_of(arr, out, ln)], out, ln, s)
            self.assign_to(s.target, gast.Subscript(value=arr, slice=name(index), ctx=gast.Load()),
                           body_prefix, ln)
            target = index
        else:
            func = ns.resolve(self.fn, it.func, self.locals)
            obj = func.value if func else None
            if obj is range:
                if not isinstance(s.target, gast.Name):
                    raise self.error("a range loop must have a single loop variable", s)
                target = s.target.id
                bounds = self.range_bounds(it.args, out, ln, s)
            elif obj is enumerate:
                if not (isinstance(s.target, gast.Tuple) and len(s.target.elts) == 2
                        and isinstance(s.target.elts[0], gast.Name)):
                    raise self.error("use 'for i, v in enumerate(seq)'", s)
                arr = self.sequence(it.args[0], s, out, ln)
                target = s.target.elts[0].id
                bounds = self.range_bounds([self.len_of(arr, out, ln)], out, ln, s)
                self.assign_to(s.target.elts[1], gast.Subscript(value=arr, slice=name(target), ctx=gast.Load()),
                               body_prefix, ln)
            elif obj is zip:
                if not (isinstance(s.target, gast.Tuple) and len(s.target.elts) == len(it.args)):
                    raise self.error("unpack zip() into as many loop variables as sequences", s)
                arrays = [self.sequence(a, s, out, ln) for a in it.args]
                lengths = [self.len_of(a, out, ln) for a in arrays]
                n = lengths[0]
                for other in lengths[1:]:
                    tmp = self.fresh("n")
                    out.append(assign(tmp, gast.Call(func=name("min"), args=[n, other], keywords=[]), ln))
                    n = name(tmp)
                target = self.fresh("k")
                bounds = self.range_bounds([n], out, ln, s)
                for t, a in zip(s.target.elts, arrays):
                    self.assign_to(t, gast.Subscript(value=a, slice=name(target), ctx=gast.Load()), body_prefix, ln)
            else:
                raise self.error("a for loop over something other than range/enumerate/zip/an array", s,
                                 hint="loop over range(len(x)) and index the array")
        self.locals.add(target)
        body = body_prefix + self.block(s.body)
        if target in assigned_names(body):
            raise self.error(f"the loop variable '{target}' is reassigned inside the loop", s,
                             hint="use another variable for the modified value")
        # Bounds the body reassigns are copied, so the reverse sweep sees the values range() saw.
        written = assigned_names(body)
        fixed = []
        for b in bounds:
            if isinstance(b, gast.Name) and b.id in written:
                tmp = self.fresh(b.id)
                out.append(assign(tmp, b, ln))
                b = name(tmp)
            fixed.append(b)
        call = gast.Call(func=name("range"), args=fixed, keywords=[])
        loop = gast.For(target=store(target), iter=call, body=body or [gast.Pass()], orelse=[], type_comment=None)
        loop.lineno = ln
        out.append(loop)
        return out

    def sequence(self, e, loop, out, ln):
        """The array a for loop iterates over, as an atom that the loop body does not rebind.

        Python iterates over the object the loop started with: ``for v in b: b = 2.0 * b`` still
        walks the first ``b`` (which would change under ``v = b[_k]`` once ``b`` is rebound).
        """
        arr = self.atom(e, out, "seq")
        if isinstance(arr, gast.Name) and arr.id in assigned_names(loop.body):
            if arr.id in _written_in_place(loop.body):
                # The loop would see the writes into the first array and not those into later ones.
                raise self.error(f"a for loop over '{arr.id}' that both rebinds '{arr.id}' and writes into it", loop,
                                 hint=f"loop over a copy ('for v in {arr.id}.copy():') or over range(len({arr.id}))")
            tmp = self.fresh(arr.id)
            out.append(assign(tmp, arr, ln))
            arr = name(tmp)
        return arr

    def len_of(self, arr, out, ln):
        tmp = self.fresh("n")
        out.append(assign(tmp, gast.Call(func=name("len"), args=[arr], keywords=[]), ln))
        return name(tmp)

    def range_bounds(self, args, out, ln, s):
        if not 1 <= len(args) <= 3:
            raise self.error("range() takes 1 to 3 arguments", s)
        atoms = [self.atom(a, out, "n") for a in args]
        if len(atoms) == 1:
            atoms = [const(0), atoms[0]]
        if len(atoms) == 2:
            atoms.append(const(1))
        step = atoms[2]
        if isinstance(step, gast.Constant) and step.value == 0:
            raise self.error("range() step is zero", s)
        return atoms

    def append(self, s, out, ln):
        """``v.append(x)`` as ``v = np.append(v, x)``."""
        call = s.value
        v = call.func.value.id
        if v not in self.lists:
            raise self.error(f"{v}.append() on something other than a list the function builds", s,
                             hint=f"start the list in the function ({v} = []), or use an array")
        if len(call.args) != 1 or call.keywords:
            raise self.error(f"{v}.append() takes one value", s)
        item = self.atom(call.args[0], out, v)
        self.assign_to(store(v), self.numpy_call("append", [name(v), item]), out, ln)


_OPERATOR_TEXT = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/", "Pow": "**", "Mod": "%", "FloorDiv": "//",
                  "MatMult": "@"}


def _written_in_place(stmts) -> set[str]:
    """Arrays that ``x[i] = ...`` or ``x[i] += ...`` writes into."""
    out = set()
    for stmt in stmts:
        for node in gast.walk(stmt):
            targets = node.targets if isinstance(node, gast.Assign) else [node.target] \
                if isinstance(node, gast.AugAssign) else []
            out |= {t.value.id for t in targets if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name)}
    return out


def _as_load(target):
    if isinstance(target, gast.Name):
        return name(target.id)
    if isinstance(target, gast.Subscript):
        return gast.Subscript(value=_as_load(target.value), slice=target.slice, ctx=gast.Load())
    return target


def normalize(fn):
    """Return (normalised FunctionDef, Normalizer) for a loaded, fenced user function."""
    normalizer = Normalizer(fn)
    return normalizer.run(), normalizer

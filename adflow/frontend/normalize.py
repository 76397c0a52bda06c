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
"""
from __future__ import annotations

import gast
import numpy as np

from ..errors import AdflowError, UnsupportedSyntaxError
from ..rules.custom import CustomRule
from ..syntax import source
from ..syntax.nodes import assign, assigned_names, const, name, store
from . import fence, inline, lists
from . import namespace as ns


def atom_names(node) -> list[str]:
    """Local names read by a normal-form expression."""
    return [n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)]


def is_atom(node) -> bool:
    return isinstance(node, (gast.Name, gast.Constant))


class Normalizer:
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

    # ------------------------------------------------------------------ expressions
    def atom(self, e, out, hint):
        """Normalise ``e`` and make it an atom (a local name or a constant)."""
        op = self.op(e, out, hint)
        if is_atom(op):
            return op
        tmp = self.fresh(hint)
        out.append(assign(tmp, op, self.lineno))
        return name(tmp)

    def op(self, e, out, hint):
        """Normalise ``e`` into one operation over atoms (or an atom)."""
        if isinstance(e, gast.Constant):
            return e
        if isinstance(e, (gast.Name, gast.Attribute)):
            return self.name_or_attribute(e, out, hint)
        if isinstance(e, gast.BinOp):
            left = self.atom(e.left, out, hint)
            right = self.atom(e.right, out, hint)
            self.no_list_arithmetic(e, left, right)
            if isinstance(e.op, gast.Pow) and isinstance(left, gast.Constant) and \
                    isinstance(left.value, (int, float)) and left.value < 0:
                # A folded negative base prints as -0.75 ** 2, which Python reads as -(0.75 ** 2).
                tmp = self.fresh(hint)
                out.append(assign(tmp, left, self.lineno))
                left = name(tmp)
            return gast.BinOp(left=left, op=e.op, right=right)
        if isinstance(e, gast.UnaryOp):
            if isinstance(e.op, gast.USub) and isinstance(e.operand, gast.Constant) \
                    and isinstance(e.operand.value, (int, float)):
                return const(-e.operand.value)
            operand = self.atom(e.operand, out, hint)
            self.no_list_arithmetic(e, operand)
            return gast.UnaryOp(op=e.op, operand=operand)
        if isinstance(e, gast.Compare):
            return self.compare(e, out, hint)
        if isinstance(e, gast.BoolOp):
            return self.boolop(e, out, hint)
        if isinstance(e, gast.IfExp):
            return self.ifexp(e, out, hint)
        if isinstance(e, gast.Call):
            return self.call(e, out, hint)
        if isinstance(e, gast.Subscript):
            base = self.atom(e.value, out, hint)
            part = gast.Subscript(value=base, slice=self.index(e.slice, out, hint), ctx=gast.Load())
            if isinstance(base, gast.Name) and base.id in self.lists and _slices(part.slice):
                view = self.fresh(hint)
                out.append(assign(view, part, self.lineno))
                return self.numpy_call("copy", [name(view)])  # a list's slice is a copy
            return part
        if isinstance(e, gast.Tuple):
            return gast.Tuple(elts=[self.atom(x, out, hint) for x in e.elts], ctx=gast.Load())
        if isinstance(e, gast.List):
            return self.list_array(e, out, hint)
        raise self.error(f"the expression '{type(e).__name__}' is not supported", e)

    def name_or_attribute(self, e, out, hint):
        resolved = ns.resolve(self.fn, e, self.locals)
        if resolved is None:
            if isinstance(e, gast.Name) and e.id in self.nested:
                raise self.error(f"the nested function '{e.id}' used as a value", e,
                                 hint="call it: adflow writes a nested function out where it is called")
            if isinstance(e, gast.Name):
                return name(e.id)
            base = self.atom(e.value, out, hint)
            return gast.Attribute(value=base, attr=e.attr, ctx=gast.Load())
        if resolved.kind == ns.CONSTANT:
            return const(_plain(resolved.value))
        if resolved.kind == ns.ARRAY:
            global_name = ns.dotted_name(e).replace(".", "_")
            self.arrays[global_name] = resolved.value
            return name(global_name)
        raise self.error(f"'{ns.dotted_name(e)}' is used as a value", e,
                         hint="only numbers, arrays and calls of functions are supported")

    def compare(self, e, out, hint):
        left = self.atom(e.left, out, hint)
        if len(e.ops) == 1:
            right = self.atom(e.comparators[0], out, hint)
            self.no_list_arithmetic(e, left, right)
            return gast.Compare(left=left, ops=e.ops, comparators=[right])
        # a < b < c  ->  short-circuit chain
        flag = self.fresh("cond")
        right = self.atom(e.comparators[0], out, hint)
        self.no_list_arithmetic(e, left, right)
        first = gast.Compare(left=left, ops=[e.ops[0]], comparators=[right])
        out.append(assign(flag, first, self.lineno))
        rest = gast.Compare(left=e.comparators[0], ops=e.ops[1:], comparators=e.comparators[1:])
        branch: list = []
        branch.append(assign(flag, self.op(rest, branch, hint), self.lineno))
        node = gast.If(test=name(flag), body=branch, orelse=[])
        node.lineno = self.lineno
        out.append(node)
        return name(flag)

    def boolop(self, e, out, hint):
        flag = self.fresh("cond")
        out.append(assign(flag, self.not_a_list(self.op(e.values[0], out, hint), e.values[0]), self.lineno))
        for value in e.values[1:]:
            branch: list = []
            branch.append(assign(flag, self.not_a_list(self.op(value, branch, hint), value), self.lineno))
            if isinstance(e.op, gast.And):
                node = gast.If(test=name(flag), body=branch, orelse=[])
            else:
                node = gast.If(test=name(flag), body=[gast.Pass()], orelse=branch)
            node.lineno = self.lineno
            out.append(node)
        return name(flag)

    def ifexp(self, e, out, hint):
        result = self.fresh(hint)
        test = self.atom(e.test, out, "cond")
        body: list = []
        body.append(assign(result, self.op(e.body, body, hint), self.lineno))
        orelse: list = []
        orelse.append(assign(result, self.op(e.orelse, orelse, hint), self.lineno))
        node = gast.If(test=test, body=body, orelse=orelse)
        node.lineno = self.lineno
        out.append(node)
        return name(result)

    def callee(self, call, statement) -> inline.Callee | None:
        """The function ``call`` runs if it is written out in place: a nested function; a helper called as a
        statement; a helper called for its value that writes into its arguments."""
        func = call.func
        if isinstance(func, gast.Name) and func.id in self.nested:
            return inline.Callee(func.id, self.nested[func.id])
        if isinstance(func, gast.Name) and (func.id in self.locals or func.id in self.helpers):
            return None  # a local, or a helper named above (a derivative made in the body: jvp_f)
        if isinstance(func, gast.Call):
            return None  # adflow.grad(f)(y): see call()
        resolved = ns.resolve(self.fn, func, self.locals)
        if resolved is None or resolved.kind != ns.USER_FUNCTION:
            return None
        if source.derivative_kind(resolved.value) is not None:
            return None  # df(y) of df = adflow.grad(f): called as a helper, its code from pipeline/derivative_calls.py
        if isinstance(resolved.value, CustomRule):
            if statement:
                raise self.error(f"{ns.dotted_name(func)}, a function with a custom rule, called for its side effect",
                                 call, hint="its rule gives the derivative of its value: assign the value")
            return None
        helper = self.loaded.get(id(resolved.value))
        if helper is None:
            helper = self.loaded[id(resolved.value)] = source.load(resolved.value)
        if statement or inline.writes_into_parameters(helper.tree):
            fence.check_body(helper, helper.tree.body)
            return inline.Callee(ns.dotted_name(func), helper.tree, helper)
        return None

    def inline(self, callee, call, out, discard):
        """Write ``callee``'s body out for ``call`` into ``out``; the variable holding its value (or None)."""
        key = callee.helper.py_func if callee.helper is not None else callee.tree
        if any(key is k for k in self.expanding):
            raise self.error(f"{callee.label} calls itself (recursion), which adflow cannot differentiate", call,
                             hint="write the recursion as a loop")
        expansion = inline.expand(callee, call, self.fn, self.locals, self.fresh, discard)
        more_lists, more_appended = lists.list_variables(expansion.statements, self.lists)
        self.lists |= more_lists
        self.appended |= more_appended
        lineno = self.lineno
        self.expanding.append(key)
        try:
            out.extend(self.block(expansion.statements))
        finally:
            self.expanding.pop()
            self.lineno = lineno
        return None if expansion.result is None else name(expansion.result)

    def call(self, e, out, hint):
        func = e.func
        if isinstance(func, gast.Call):  # adflow.grad(f)(y): a derivative made with fixed arguments
            derivative = self.derivative_made_by(func)
            kind = "value_and_grad" if getattr(derivative, "with_value", False) else derivative.adflow_transform
            base = f"{kind}_{getattr(getattr(derivative, 'func', None), '__name__', 'f')}"
            return self.call(gast.Call(func=name(self.helper_name(None, derivative, base)), args=e.args,
                                       keywords=e.keywords), out, hint)
        callee = self.callee(e, statement=False)
        if callee is not None:
            return self.inline(callee, e, out, discard=False)
        if isinstance(func, gast.Name) and func.id in self.helpers:  # a helper named above
            resolved = ns.Resolved(ns.USER_FUNCTION, self.helpers[func.id])
        else:
            resolved = ns.resolve(self.fn, func, self.locals)
        if resolved is not None and getattr(resolved.value, "adflow_entry", None) is not None:
            return self.call(self.values_transform_call(func, resolved.value, e), out, hint)
        if resolved is None:
            if isinstance(func, gast.Attribute):  # a method of a local array: x.sum(axis=0)
                base = self.atom(func.value, out, hint)
                if isinstance(base, gast.Name) and base.id in self.lists:
                    raise self.error(f"the list method {base.id}.{func.attr}()", e,
                                     hint="a list of numbers is differentiated as an array: append, index "
                                          "and len are supported; use np.array(...) and NumPy for the rest")
                new_func = gast.Attribute(value=base, attr=func.attr, ctx=gast.Load())
            else:
                raise self.error(f"calling the local variable '{func.id}'", e,
                                 hint="call module-level functions by name")
        elif resolved.kind == ns.USER_FUNCTION:
            helper = self.helper_name(func, resolved.value)
            new_func = name(helper)
        elif resolved.kind == ns.CALLABLE:
            self.use_global(func)
            new_func = func
        else:
            raise self.error(f"'{ns.dotted_name(func)}' is not callable", e)
        value = resolved.value if resolved is not None else None
        makes_array = value is np.array or value is np.asarray
        # sum([a, b]), helper([a, b]): a list variable, as below (NumPy's functions take the list as written)
        listing = lists.builtin_reduction(value) is not None or (resolved is not None and resolved.kind == ns.USER_FUNCTION)
        args = []
        for a in e.args:
            if isinstance(a, gast.List) and listing:
                args.append(self.atom(a, out, hint))
                self.lists.add(args[-1].id)
            elif isinstance(a, gast.List):
                if any(isinstance(x, (gast.List, gast.Tuple)) for x in a.elts):
                    raise self.error("nested lists in np.array", a, hint="build the rows separately and stack them")
                args.append(gast.List(elts=[self.atom(x, out, hint) for x in a.elts], ctx=gast.Load()))
            elif isinstance(a, gast.Tuple):
                args.append(gast.Tuple(elts=[self.atom(x, out, hint) for x in a.elts], ctx=gast.Load()))
            else:
                args.append(self.atom(a, out, hint))
        keywords = []
        for kw in e.keywords:
            value = kw.value
            if isinstance(value, gast.Tuple):
                value = gast.Tuple(elts=[self.atom(x, out, hint) for x in value.elts], ctx=gast.Load())
            elif isinstance(value, gast.Attribute) and ns.resolve(self.fn, value, self.locals) is not None:
                self.use_global(value)  # dtype=np.float64
            else:
                value = self.atom(value, out, hint)
            keywords.append(gast.keyword(arg=kw.arg, value=value))
        listed = [a.id for a in args if isinstance(a, gast.Name) and a.id in self.lists]
        if listed and not keywords and len(args) == 1:
            if makes_array:  # both copy a list
                return self.numpy_call("copy", args)
            reduction = lists.builtin_reduction(value)
            if reduction is not None:  # sum(v), max(v), min(v) of a list of numbers
                return self.numpy_call(reduction, args)
        if listed and resolved is not None and resolved.kind == ns.USER_FUNCTION:
            raise self.error(f"the list '{listed[0]}' passed to {ns.dotted_name(func)}, which has a derivative "
                             "function of its own", e,
                             hint=f"pass np.array({listed[0]}) (an array means the same in the helper)")
        return gast.Call(func=new_func, args=args, keywords=keywords)

    def derivative_made_by(self, call):
        """The derivative ``adflow.grad(f, wrt=1)`` in ``adflow.grad(f, wrt=1)(y)``, made once for these arguments."""
        resolved = None if isinstance(call.func, gast.Call) else ns.resolve(self.fn, call.func, self.locals)
        factory = resolved.value if resolved is not None else None
        if getattr(factory, "adflow_entry", None) != "derivative":
            raise self.error("calling the result of a call", call, hint="call module-level functions by name")
        args = [self.static_value(a) for a in call.args]
        kwargs = {kw.arg: self.static_value(kw.value) for kw in call.keywords}
        try:
            return made_derivative(factory, args, kwargs)
        except AdflowError as exc:  # a bad option of the inner transform: said at this line
            raise type(exc)(exc.message, exc.location or self.fn.location(call), exc.hint) from None

    def static_value(self, node):
        """The value of an argument of an adflow transform called in the function: fixed when it is compiled."""
        if isinstance(node, gast.Constant):
            return node.value
        if isinstance(node, gast.Tuple):
            return tuple(self.static_value(x) for x in node.elts)
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant):
            return -node.operand.value
        if isinstance(node, (gast.Name, gast.Attribute)):
            resolved = ns.resolve(self.fn, node, self.locals)
            if resolved is not None:
                return resolved.value
        raise self.error("an adflow transform called inside a differentiated function with an argument that is "
                         "not fixed when the function is compiled", node,
                         hint="pass module-level functions and constants, as in adflow.grad(f, wrt=1)(y)")

    def values_transform_call(self, func, transform, call):
        """``adflow.jvp(f, (x, a), (t, u))`` -> a call ``jvp_f(x, a, t, u)`` of the helper the transform makes
        for calls inside a function (``transform.called_inside``); the error for any other transform."""
        maker = getattr(transform, "called_inside", None)
        if maker is None:
            raise self.transform_called(func, transform, call)
        what = ns.dotted_name(func)
        args = list(call.args)
        if len(args) != 3 or not all(isinstance(a, (gast.Tuple, gast.List)) for a in args[1:]):
            raise self.error(f"{what} inside a differentiated function takes the function, a tuple of primals "
                             f"and a tuple of tangents", call, hint=f"write {what}(f, (x,), (t,))")
        options = {kw.arg: self.static_value(kw.value) for kw in call.keywords}
        primals, tangents = args[1].elts, args[2].elts
        if "wrt" not in options and len(tangents) != len(primals):
            raise self.error(f"{what} with {len(tangents)} tangents for {len(primals)} primals", call,
                             hint="pass wrt= (the positions of the primals the tangents belong to)")
        try:
            helper = made_derivative(maker, [self.static_value(args[0]), len(primals)], options)
        except AdflowError as exc:
            raise type(exc)(exc.message, exc.location or self.fn.location(call), exc.hint) from None
        return gast.Call(func=name(self.helper_name(None, helper, helper.__name__)), args=primals + tangents,
                         keywords=[])

    def transform_called(self, func, transform, node):
        """The error for an adflow transform called inside the function other than as ``adflow.grad(f)(y)``."""
        what = ns.dotted_name(func) or getattr(transform, "__name__", "transform")
        if transform.adflow_entry == "derivative":
            return self.error(f"{what}(...) makes a derivative; inside a differentiated function, call the derivative "
                              f"where it is made", node, hint=f"write {what}(f)(y), or make it at module level "
                                                              f"(df = {what}(f)) and call df(y)")
        return self.error(f"{what} inside a differentiated function", node,
                          hint="call adflow.grad(f)(y), adflow.value_and_grad(f)(y) or adflow.jvp(f, (x,), (t,)) "
                               f"there, or compose the transforms from outside: {what}(adflow.grad(f), ...)")
    # ------------------------------------------------------------------ lists (frontend/lists.py)
    def list_array(self, e, out, hint):
        """``[a, b]`` as ``np.array([a, b], dtype=np.float64)``, ``[]`` as ``np.zeros(0)``."""
        if any(isinstance(x, (gast.List, gast.Tuple, gast.Starred)) for x in e.elts):
            raise self.error("a list of lists or tuples", e, hint="build a 2-D array with np.zeros and fill it")
        if not e.elts:
            return self.numpy_call("zeros", [const(0)])
        items = gast.List(elts=[self.atom(x, out, hint) for x in e.elts], ctx=gast.Load())
        call = self.numpy_call("array", [items])
        call.keywords = [gast.keyword(arg="dtype", value=gast.Attribute(value=call.func.value, attr="float64",
                                                                        ctx=gast.Load()))]
        return call

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

    def numpy_call(self, function, args):
        """``np.<function>(args)``, with NumPy under a name of the namespace."""
        np_name, k = "np", 2
        while np_name in self.locals or self.fn.globals.get(np_name, np) is not np:
            np_name, k = f"np_{k}", k + 1
        self.fn.globals[np_name] = np
        self.globals_used[np_name] = np
        return gast.Call(func=gast.Attribute(value=name(np_name), attr=function, ctx=gast.Load()),
                         args=list(args), keywords=[])

    def no_list_arithmetic(self, e, *atoms):
        for atom in atoms:
            if isinstance(atom, gast.Name) and atom.id in self.lists:
                raise self.error(f"arithmetic or a comparison with the list '{atom.id}' (on lists, + joins, "
                                 "* repeats, == compares whole lists)", e,
                                 hint=f"use np.array({atom.id}) for elementwise arithmetic")

    def not_a_list(self, atom, e):
        if isinstance(atom, gast.Name) and atom.id in self.lists:
            raise self.error(f"the truth value of the list '{atom.id}'", e, hint=f"test len({atom.id}) > 0")
        return atom

    def use_global(self, node):
        root = ns.dotted_name(node).split(".")[0]
        if root in self.fn.globals:
            self.globals_used[root] = self.fn.globals[root]

    def helper_name(self, func, obj, base=None) -> str:
        base = base or (ns.dotted_name(func) or "helper").replace(".", "_")
        candidate = base
        k = 2
        while candidate in self.helpers and self.helpers[candidate] is not obj or candidate in self.locals:
            candidate = f"{base}_{k}"
            k += 1
        self.helpers[candidate] = obj
        return candidate

    def index(self, idx, out, hint):
        if isinstance(idx, gast.Slice):
            parts = [None if p is None else self.atom(p, out, "i") for p in (idx.lower, idx.upper, idx.step)]
            return gast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(idx, gast.Tuple):
            return gast.Tuple(elts=[self.index(x, out, hint) for x in idx.elts], ctx=gast.Load())
        return self.atom(idx, out, "i")


# Derivatives made inside differentiated functions (adflow.grad(f)(y)), by transform and arguments:
# one object per distinct call, so that its builds are made once.  The entry keeps the arguments
# alive, which the key names by id.
_MADE: dict = {}


def made_derivative(factory, args, kwargs):
    """``factory(*args, **kwargs)`` (an adflow transform making a derivative), once per distinct arguments."""
    key = (id(factory), tuple(_key(a) for a in args), tuple(sorted((k, _key(v)) for k, v in kwargs.items())))
    entry = _MADE.get(key)
    if entry is None:
        entry = _MADE[key] = (factory(*args, **kwargs), factory, args, kwargs)
    return entry[0]


def _key(value):
    if isinstance(value, tuple):
        return ("tuple", tuple(_key(v) for v in value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return ("value", value)
    return ("object", id(value))
_OPERATOR_TEXT = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/", "Pow": "**", "Mod": "%", "FloorDiv": "//",
                  "MatMult": "@"}


def _slices(index) -> bool:
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    return any(isinstance(p, gast.Slice) for p in parts)


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


def _plain(value):
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def normalize(fn):
    """Return (normalised FunctionDef, Normalizer) for a loaded, fenced user function."""
    normalizer = Normalizer(fn)
    return normalizer.run(), normalizer

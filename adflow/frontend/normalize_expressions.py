"""The expressions of the normal form: each becomes one operation over atoms (local names or
constants), the parts it needs computed into temporaries first; lists of numbers become arrays.

A part of :class:`adflow.frontend.normalize.Normalizer` (whose state and statements it uses).
"""
import gast
import numpy as np

from ..syntax.nodes import assign, const, name
from . import namespace as ns


def atom_names(node) -> list[str]:
    """Local names read by a normal-form expression."""
    return [n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)]


def is_atom(node) -> bool:
    return isinstance(node, (gast.Name, gast.Constant))


class ExpressionNormalizer:
    """Expressions, subscripts and list literals, normalised (a part of the Normalizer)."""

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

    def index(self, idx, out, hint):
        if isinstance(idx, gast.Slice):
            parts = [None if p is None else self.atom(p, out, "i") for p in (idx.lower, idx.upper, idx.step)]
            return gast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(idx, gast.Tuple):
            return gast.Tuple(elts=[self.index(x, out, hint) for x in idx.elts], ctx=gast.Load())
        return self.atom(idx, out, "i")


def _slices(index) -> bool:
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    return any(isinstance(p, gast.Slice) for p in parts)


def _plain(value):
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value

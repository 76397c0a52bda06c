"""Say what each normalised assignment computes: which primitive, on which operands.

``classify(stmt)`` turns ``y = np.sin(x)`` into ``Op(kind="primitive", prim="sin", target="y",
args={"x": Name(x)})``.  Both transforms and the analyses read statements through this one view.
"""
from __future__ import annotations

import builtins
import copy
import math
from dataclasses import dataclass, field

import gast

from ..errors import NonDifferentiableError
from ..rules import primitives as P
from . import namespace as ns

# Kinds of operation.
COPY, PRIMITIVE, GETITEM, SETITEM, CALL_USER, TUPLE, INACTIVE, ALLOCATION, UNKNOWN = (
    "copy", "primitive", "getitem", "setitem", "call_user", "tuple", "inactive", "allocation", "unknown")


@dataclass
class Op:
    kind: str
    target: str | None
    prim: str | None = None
    args: dict = field(default_factory=dict)  # parameter -> atom node (differentiable operands)
    statics: dict = field(default_factory=dict)  # static keyword -> node (axis=0)
    node: object = None
    what: str = ""  # how the user wrote it, for error messages

    def operand_names(self) -> list[str]:
        names = []
        for value in self.args.values():
            for n in gast.walk(value):
                if isinstance(n, gast.Name):
                    names.append(n.id)
        return names


def _is_name(node):
    return isinstance(node, gast.Name)


class Classifier:
    def __init__(self, fn, helpers: dict, local_names: set):
        self.fn = fn
        self.helpers = helpers
        self.local_names = local_names

    def classify(self, stmt) -> Op:
        target = stmt.targets[0]
        value = stmt.value
        if isinstance(target, gast.Subscript):
            return Op(SETITEM, target.value.id, args={"x": target.value, "v": value},
                      statics={"index": target.slice}, node=stmt, what="in-place write")
        t = target.id
        if isinstance(value, (gast.Name, gast.Constant)):
            return Op(COPY, t, "copy", {"x": value}, node=stmt, what="assignment")
        if isinstance(value, gast.BinOp):
            prim = P.binop_primitives.get(type(value.op).__name__)
            if prim == "matmul":
                return Op(PRIMITIVE, t, prim, {"a": value.left, "b": value.right}, node=stmt, what="@")
            if prim in P.zero_derivative or prim is None:
                return Op(INACTIVE, t, prim, {"x": value.left, "y": value.right}, node=stmt, what=prim or "?")
            return Op(PRIMITIVE, t, prim, {"x": value.left, "y": value.right}, node=stmt, what=prim)
        if isinstance(value, gast.UnaryOp):
            prim = P.unaryop_primitives[type(value.op).__name__]
            kind = INACTIVE if prim in P.zero_derivative else PRIMITIVE
            return Op(kind, t, prim, {"x": value.operand}, node=stmt, what=prim)
        if isinstance(value, (gast.Compare, gast.BoolOp)):
            return Op(INACTIVE, t, "compare", {}, node=stmt, what="comparison")
        if isinstance(value, gast.Subscript):
            return Op(GETITEM, t, "getitem", {"x": value.value}, {"index": value.slice}, node=stmt,
                      what="indexing")
        if isinstance(value, gast.Attribute):
            prim = P.attribute_primitives.get(value.attr)
            if prim == "transpose":
                return Op(PRIMITIVE, t, prim, {"x": value.value}, node=stmt, what=".T")
            if prim in P.zero_derivative:
                return Op(INACTIVE, t, prim, {}, node=stmt, what=f".{value.attr}")
            return Op(UNKNOWN, t, None, {"x": value.value}, node=stmt, what=f".{value.attr}")
        if isinstance(value, gast.Tuple):
            return Op(TUPLE, t, "tuple", {f"e{k}": e for k, e in enumerate(value.elts)}, node=stmt,
                      what="tuple")
        if isinstance(value, gast.Call):
            return self.call(t, value, stmt)
        return Op(UNKNOWN, t, None, {}, node=stmt, what=type(value).__name__)

    def call(self, t, call, stmt) -> Op:
        func = call.func
        if _is_name(func) and func.id in self.helpers:
            args = {f"p{k}": a for k, a in enumerate(call.args)}
            return Op(CALL_USER, t, func.id, args, node=stmt, what=f"{func.id}()")
        if isinstance(func, gast.Attribute) and _is_name(func.value) and func.value.id in self.local_names:
            prim = P.method_primitives.get(func.attr)
            positional = [func.value] + list(call.args)
            what = f".{func.attr}()"
            if prim == "reshape" and len(call.args) > 1:
                positional = [func.value, gast.Tuple(elts=list(call.args), ctx=gast.Load())]
        else:
            resolved = ns.resolve(self.fn, func, self.local_names)
            obj = resolved.value if resolved else None
            prim = P.primitive_of_object.get(id(obj))
            positional = list(call.args)
            what = ns.dotted_name(func) or "call"
            if prim in ("max_builtin", "min_builtin"):
                if len(positional) != 2:
                    return Op(UNKNOWN, t, None, {f"p{k}": a for k, a in enumerate(positional)},
                              node=stmt, what=what)
                prim = "maximum" if prim == "max_builtin" else "minimum"
            if prim == "float":
                prim = "copy"
        if prim is None:
            return Op(UNKNOWN, t, None, {f"p{k}": a for k, a in enumerate(positional)}, node=stmt, what=what)
        if prim in P.allocations:
            return Op(ALLOCATION, t, prim, {f"p{k}": a for k, a in enumerate(positional)}, node=stmt, what=what)
        if prim in P.zero_derivative:
            return Op(INACTIVE, t, prim, {}, node=stmt, what=what)
        sig = P.signatures[prim]
        if sig.variadic:
            items = positional[0]
            if not isinstance(items, gast.List):
                return Op(UNKNOWN, t, None, {"p0": items}, node=stmt, what=what)
            return Op(PRIMITIVE, t, prim, {f"items{k}": e for k, e in enumerate(items.elts)}, node=stmt,
                      what=what)
        args, statics = {}, dict(sig.static)
        params = list(sig.params)
        extra_static = list(sig.static)
        if len(positional) > len(params) + len(extra_static):
            # An argument the rules do not read (math.log(x, 10), np.linalg.norm(x, 1), np.cumsum(m, 0))
            # changes the derivative: refused, never dropped.
            known = ", ".join(params + extra_static)
            raise NonDifferentiableError(
                f"{what} is called with {len(positional)} positional arguments; adflow differentiates it "
                f"with {len(params) + len(extra_static)} ({known})", self.fn.location(stmt),
                hint="write it with the arguments adflow reads (np.sum(np.abs(x)) for a 1-norm), or give it a "
                     "rule with adflow.custom_vjp")
        for k, a in enumerate(positional):
            if k < len(params):
                args[params[k]] = a
            elif k - len(params) < len(extra_static):
                statics[extra_static[k - len(params)]] = a
        for kw in call.keywords:
            if kw.arg in sig.static:
                statics[kw.arg] = kw.value
            elif kw.arg in params:
                args[kw.arg] = kw.value
            elif kw.arg in ("dtype", "out", "keepdims"):
                if kw.arg != "dtype":
                    raise NonDifferentiableError(f"the keyword '{kw.arg}=' of {what} is not supported",
                                                 self.fn.location(stmt))
            else:
                raise NonDifferentiableError(f"unknown keyword '{kw.arg}=' in {what}", self.fn.location(stmt))
        missing = [p for p in params if p not in args]
        if missing:
            raise NonDifferentiableError(f"{what} is called without {', '.join(missing)}",
                                         self.fn.location(stmt))
        if prim == "reshape" and "shape" in args:
            statics["shape"] = args.pop("shape")
        return Op(PRIMITIVE, t, prim, args, statics, node=stmt, what=what)


def is_math_call(fn, call, local_names) -> bool:
    """Is ``call`` a call of a ``math`` function (``math.sin(x)``, or ``sin(x)`` after ``from math import sin``)?"""
    dotted = ns.dotted_name(call.func)
    if dotted is None or dotted.split(".")[0] in local_names:
        return False
    root = fn.globals.get(dotted.split(".")[0])
    if root is math:
        return True
    value = fn.globals.get(dotted)
    return getattr(value, "__self__", None) is math


def is_builtin_extremum(fn, call, local_names) -> bool:
    """Is ``call`` the builtin ``max(a, b)`` or ``min(a, b)``?  (Of numbers; on the columns of a block
    of rows, or on duals, it must become NumPy's maximum or minimum.)"""
    resolved = ns.resolve(fn, call.func, local_names) if ns.dotted_name(call.func) else None
    return (resolved is not None and len(call.args) == 2 and not call.keywords
            and any(resolved.value is f for f in (builtins.max, builtins.min)))


def numpy_call_for_duals(stmt, op):
    """``math.sin(a)`` as ``np.sin(a)``: in plain Python, math functions ask a dual for a float."""
    new = copy.deepcopy(stmt)
    new.value.func = gast.Attribute(value=gast.Name(id="np", ctx=gast.Load(), annotation=None, type_comment=None),
                                    attr=P.numpy_function_of[op.prim], ctx=gast.Load())
    return new

"""Write the adjoint statements of one operation, from the rule table.

A rule is a string such as ``"g * np.cos(x)"``; :func:`~adflow.syntax.templates.instantiate` parses it
once and substitutes the cotangent, the result and the operands, so ``y = np.sin(u)`` gets
``u_bar += y_bar * np.cos(u)``, which :func:`simplify` then folds (``x ** 1`` -> ``x``).
"""
from __future__ import annotations

import copy

import gast
from numba.core import types

from ..errors import NonDifferentiableError
from ..frontend import ops as O
from ..rules import primitives as P
from ..rules.adjoints import adjoint_rules
from ..syntax.nodes import accumulate, assign, call, call_attr, const, name
from ..syntax.templates import instantiate
from ..value_types import constant_type, float_leaves, is_array_type, is_float_type, ndim_of, tuple_index


def _number(node):
    return isinstance(node, gast.Constant) and type(node.value) in (int, float)


class _Simplify(gast.NodeTransformer):
    """Fold what substitution leaves behind: ``(2 - 1)`` -> ``1``, ``x ** 1`` -> ``x``, ``1 * x`` -> ``x``."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = node.left, node.right
        if _number(left) and _number(right):
            ops = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b, gast.Mult: lambda a, b: a * b}
            fold = ops.get(type(node.op))
            if fold is not None:
                return const(fold(left.value, right.value))
        if isinstance(node.op, gast.Pow) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, gast.Mult):
            if _number(right) and right.value == 1:
                return left
            if _number(left) and left.value == 1:
                return right
        return node


class _NumpyArithmetic(gast.NodeTransformer):
    """``a / b`` and ``a ** b`` as ``np.true_divide(a, b)`` and ``np.power(a, b)``.

    On Python floats (and in numba's default error model) ``0.5 / 0.0`` and ``0.0 ** -0.5`` raise
    ZeroDivisionError; a derivative that is infinite where its function is finite (sqrt, log and
    arcsin at the edge of their domain) is ``inf``, as it is for arrays.
    """

    def visit_BinOp(self, node):
        self.generic_visit(node)
        func = {gast.Div: "true_divide", gast.Pow: "power"}.get(type(node.op))
        if func is None:
            return node
        return call_attr("np", func, node.left, node.right)


def simplify(tree):
    return _Simplify().visit(tree)


def element_is_scalar(array_type, index) -> bool:
    """Does ``x[index]`` pick one element (rather than a sub-array)?"""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    if any(isinstance(p, gast.Slice) for p in parts):
        return False
    return len(parts) == ndim_of(array_type)


class AdjointWriter:
    """Adjoint statements for classified operations, given the active variables and their types."""

    def __init__(self, fn, active, vartypes, bar, helper_vjp_name):
        self.fn = fn
        self.active = active
        self.vartypes = vartypes
        self.bar = bar  # variable -> name of its adjoint
        self.helper_vjp_name = helper_vjp_name  # (helper name, argument types) -> generated vjp name

    def is_active(self, node) -> bool:
        return isinstance(node, gast.Name) and node.id in self.active

    def error(self, op, message, hint=None):
        return NonDifferentiableError(message, self.fn.location(op.node), hint=hint)

    def basic(self, index) -> bool:
        """Whether ``index`` (integers, slices of integers, new axes, a tuple of them) selects a view."""
        parts = index.elts if isinstance(index, gast.Tuple) else [index]
        for part in parts:
            if isinstance(part, gast.Constant) and part.value is None:
                continue  # m[:, None]: a view with a new axis of length one
            bounds = [part.lower, part.upper, part.step] if isinstance(part, gast.Slice) else [part]
            for bound in bounds:
                if bound is None or (isinstance(bound, gast.Constant) and bound.value is None):
                    continue
                if isinstance(bound, gast.Constant) and type(bound.value) is int:
                    continue
                if isinstance(bound, gast.UnaryOp) and isinstance(bound.operand, gast.Constant) \
                        and type(bound.operand.value) is int:
                    continue
                if not (isinstance(bound, gast.Name) and isinstance(self.vartypes.get(bound.id), types.Integer)):
                    return False
        return True

    def contributions(self, op) -> list:
        """``operand_bar += ...`` statements for an assignment ``op.target = ...``."""
        ln = op.node.lineno
        g = name(self.bar(op.target))
        if op.kind == O.COPY:
            x = op.args["x"]
            if not self.is_active(x):
                return []
            ty = self.vartypes.get(x.id)
            if isinstance(ty, types.BaseTuple):  # a tuple's adjoint is kept per float leaf
                return [accumulate(self.bar(x.id, path), name(self.bar(op.target, path)), ln)
                        for path, _ in float_leaves(ty)]
            return [accumulate(self.bar(x.id), g, ln)]
        if op.kind == O.GETITEM:
            x = op.args["x"]
            if not self.is_active(x):
                return []
            xtype = self.vartypes.get(x.id)
            if isinstance(xtype, (types.BaseTuple,)):
                k = tuple_index(xtype, op.statics["index"])
                if k is None:
                    raise self.error(op, "indexing a tuple of active values with anything but a constant integer",
                                     hint="unpack the tuple (a, b = t) or index it with a number written out")
                part = self.vartypes.get(op.target)
                if isinstance(part, types.BaseTuple):
                    return [accumulate(self.bar(x.id, (k,) + path), name(self.bar(op.target, path)), ln)
                            for path, _ in float_leaves(part)]
                return [accumulate(self.bar(x.id, k), g, ln)]
            target = gast.Subscript(value=name(self.bar(x.id)), slice=copy.deepcopy(op.statics["index"]),
                                    ctx=gast.Store())
            node = gast.AugAssign(target=target, op=gast.Add(), value=g)
            node.lineno = ln
            # x[j] of a matrix is a view: its adjoint can be added into in place (reverse/view_adds.py)
            node.adds_into_view = is_array_type(self.vartypes.get(op.target)) and self.basic(op.statics["index"])
            return [node]
        if op.kind == O.TUPLE:
            out = []
            for k, element in enumerate(op.args.values()):
                if not self.is_active(element):
                    continue
                part = self.vartypes.get(element.id)
                if isinstance(part, types.BaseTuple):  # a tuple inside the tuple: leaf by leaf
                    out += [accumulate(self.bar(element.id, path), name(self.bar(op.target, (k,) + path)), ln)
                            for path, _ in float_leaves(part)]
                else:
                    out.append(accumulate(self.bar(element.id), name(self.bar(op.target, k)), ln))
            return out
        if op.kind == O.CALL_USER:
            return self.helper_call(op, ln)
        if op.kind == O.ALLOCATION:
            # Allocations read only shapes, except the fill value of full/full_like.
            fill = op.args.get("p1") if op.prim in ("full", "full_like") else None
            if fill is not None and self.is_active(fill):
                raise self.error(op, f"{op.what} with a differentiated fill value",
                                 hint="allocate with np.zeros and add the value: np.zeros(shape) + value")
            return []
        if op.kind == O.INACTIVE:
            if any(self.is_active(a) for a in op.args.values()):
                raise self.error(op, f"{op.what} has no derivative with respect to its active arguments")
            return []
        if op.kind == O.UNKNOWN:
            if any(self.is_active(a) for a in op.args.values()):
                raise self.error(op, f"no derivative rule for {op.what}",
                                 hint="register one with adflow.custom_vjp, or rewrite with supported operations")
            return []
        return self.primitive(op, g, ln)

    def primitive(self, op, g, ln) -> list:
        rules = adjoint_rules.get(op.prim)
        sig = P.signatures.get(op.prim)
        out = []
        if sig is not None and sig.variadic:
            for k, item in enumerate(op.args.values()):
                if self.is_active(item):
                    out.append(accumulate(self.bar(item.id), gast.Subscript(value=g, slice=const(k), ctx=gast.Load()), ln))
            return out
        mapping = {"g": g, "ans": name(op.target)}
        mapping.update(op.args)
        if sig is not None:
            for key, default in sig.static.items():
                value = op.statics.get(key, default)
                mapping[key] = value if isinstance(value, gast.AST) else const(value)
        for param, operand in op.args.items():
            if not self.is_active(operand):
                continue
            if rules is None or param not in rules:
                raise self.error(op, f"no derivative rule for {op.what} with respect to its argument '{param}'",
                                 hint="register one with adflow.custom_vjp, or rewrite with supported operations")
            value = simplify(instantiate(rules[param], mapping))
            if self._all_scalar(op):
                value = _NumpyArithmetic().visit(value)
            if sig is not None and sig.elementwise and self._may_broadcast(operand, op.target):
                value = call("unbroadcast", value, copy.deepcopy(operand))
            out.append(accumulate(self.bar(operand.id), value, ln))
        return out

    def _all_scalar(self, op) -> bool:
        names = [op.target] + [a.id for a in op.args.values() if isinstance(a, gast.Name)]
        return all(isinstance(self.vartypes.get(v), types.Float) for v in names)

    def _may_broadcast(self, operand, target) -> bool:
        return ndim_of(self.vartypes.get(operand.id)) > 0 or ndim_of(self.vartypes.get(target)) > 0

    def helper_call(self, op, ln) -> list:
        active_args = [a for a in op.args.values() if self.is_active(a)]
        if not active_args:
            return []
        argtypes = tuple(self.vartypes[a.id] if isinstance(a, gast.Name) else constant_type(a)
                         for a in op.args.values())
        vjp = self.helper_vjp_name(op.prim, argtypes)
        grads_name = f"_{op.prim}_grads"
        args = [copy.deepcopy(a) for a in op.args.values()] + [self.cotangent_of(op.target)]
        grads = gast.Subscript(value=call(vjp, *args), slice=const(1), ctx=gast.Load())
        out = [assign(grads_name, grads, ln)]
        for k, a in enumerate(op.args.values()):
            if self.is_active(a):
                out.append(accumulate(self.bar(a.id), gast.Subscript(value=name(grads_name), slice=const(k),
                                                                      ctx=gast.Load()), ln))
        return out

    def cotangent_of(self, var):
        """The adjoint of ``var`` as one value: a tuple result's adjoint is kept per component.

        A component that is not a float has no adjoint; the helper's vjp never reads its place.
        """
        def part(ty, path):
            if isinstance(ty, types.BaseTuple):
                return gast.Tuple(elts=[part(t, path + (k,)) for k, t in enumerate(ty.types)], ctx=gast.Load())
            return name(self.bar(var, path)) if is_float_type(ty) else const(0.0)

        ty = self.vartypes.get(var)
        return part(ty, ()) if isinstance(ty, types.BaseTuple) else name(self.bar(var))

    def setitem(self, op) -> list:
        """Adjoint of ``x[index] = v``: v collects x_bar[index], which then restarts at zero."""
        ln = op.node.lineno
        x, v, index = op.args["x"], op.args["v"], op.statics["index"]
        if not self.is_active(x):
            return []
        x_bar_part = gast.Subscript(value=name(self.bar(x.id)), slice=copy.deepcopy(index), ctx=gast.Load())
        out = []
        if self.is_active(v):
            value = x_bar_part
            if not element_is_scalar(self.vartypes[x.id], index):
                value = call("unbroadcast", copy.deepcopy(x_bar_part), name(v.id))
            out.append(accumulate(self.bar(v.id), value, ln))
        zero = gast.Assign(targets=[gast.Subscript(value=name(self.bar(x.id)), slice=copy.deepcopy(index),
                                                   ctx=gast.Store())], value=const(0.0), type_comment=None)
        zero.lineno = ln
        out.append(zero)
        return out


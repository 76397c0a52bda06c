"""Forward mode: run the user's normalised function on dual numbers.

Dual numbers carry the derivatives through every operation by themselves (their overloads are
generated from the tangent rules), so the transform only has to make room for them where the
function creates floats of its own:

* an allocation that will hold values depending on the differentiated inputs
  (``np.zeros(n)``, ``np.empty_like(x)``, ``np.ones``, ``np.full``) becomes a dual allocation
  (``dual_zeros(n, K)``) carrying ``K`` directions;
* ``np.array([a, b, c])`` of such values is built element by element into a dual array;
* calls to the user's helpers go to their forward versions (``helper_fwd``), transformed the same
  way, and helpers with user tangent rules go to a wrapper that applies those rules.

Everything else is the normalised function as it was, so ``.source`` reads like the user's code.
"""
from __future__ import annotations

import copy

import gast
import numpy as np
from numba.core import types

from ..duals import formulas
from ..duals.helpers import dual_zeros
from ..errors import UnsupportedSyntaxError
from ..frontend import ops as O
from ..frontend.dependencies import find_varied, varied_before
from ..rules import primitives as P
from ..syntax.nodes import assign, attribute, call, const, name, statements
from ..value_types import constant_type
from .unread_values import unread_values


class ForwardTransform:
    def __init__(self, fn, fdef, normalizer, vartypes, wrt, chunk, helper_fwd_name, result_read=True):
        self.result_read = result_read  # False for a Jacobian: only the result's tangents are read
        self.fn = fn
        self.fdef = fdef
        self.normalizer = normalizer
        self.vartypes = vartypes
        self.wrt = wrt
        self.chunk = chunk
        self.helper_fwd_name = helper_fwd_name

    def run(self) -> gast.FunctionDef:
        classifier = O.Classifier(self.fn, self.normalizer.helpers, self.normalizer.locals)
        self.ops = {id(s): classifier.classify(s) for s in statements(self.fdef.body) if isinstance(s, gast.Assign)}
        params = [a.id for a in self.fdef.args.args]
        self.varied = find_varied(self.ops.values(), [params[k] for k in self.wrt], self.vartypes)
        self.varied_before = varied_before(self.fdef.body, self.ops, [params[k] for k in self.wrt], self.vartypes)
        self.unread = unread_values(self.fdef, self.ops, self.varied, self.vartypes, self.result_read)
        body = self.dual_arguments(params) + self.block(self.fdef.body)
        fdef = gast.FunctionDef(name=f"{self.fdef.name}_fwd", args=copy.deepcopy(self.fdef.args), body=body,
                                decorator_list=[], returns=None, type_comment=None, type_params=[])
        fdef.lineno = self.fdef.lineno
        return fdef

    def dual_arguments(self, params) -> list:
        """Dual copies of the arguments that receive duals; plain copies of those written otherwise
        (never the caller's arrays: the differentiated ones arrive as fresh duals)."""
        wrt = {params[k] for k in self.wrt}
        out = dual_arguments(params, wrt, self.varied, self.vartypes, self.chunk, self.fdef.lineno)
        written = {op.target for op in self.ops.values() if op.kind == O.SETITEM}
        for p in params:
            if p in written and p not in wrt and p not in self.varied and isinstance(self.vartypes.get(p), types.Array):
                out.append(assign(p, gast.Call(func=attribute(name(p), "copy"), args=[], keywords=[]), self.fdef.lineno))
        return out

    def block(self, stmts) -> list:
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                out.extend(self.assignment(stmt))
            elif isinstance(stmt, gast.If):
                new = copy.copy(stmt)
                new.body, new.orelse = self.block(stmt.body) or [gast.Pass()], self.block(stmt.orelse)
                out.append(new)
            elif isinstance(stmt, (gast.For, gast.While)):
                new = copy.copy(stmt)
                new.body = self.block(stmt.body) or [gast.Pass()]
                out.append(new)
            else:
                out.append(stmt)
        return out

    def assignment(self, stmt) -> list:
        op = self.ops[id(stmt)]
        ln = stmt.lineno
        if is_float_of(op, stmt, self.vartypes, self.varied) or is_asarray_of(op, self.varied):
            return [assign(op.target, copy.deepcopy(op.args["x"]), ln)]
        if op.kind == O.ALLOCATION and op.target in self.varied:
            return [assign(op.target, self.dual_allocation(op, stmt.value), ln)]
        if id(stmt) in self.unread:
            # Only its tangents are read (see unread_values): skip computing the value.
            prim = formulas.canonical(op.prim)
            tangents = gast.Call(func=attribute(name("tangents_only"), prim), keywords=[],
                                 args=[copy.deepcopy(op.args[p]) for p in formulas.signature(prim).params])
            return [assign(op.target, tangents, ln)]
        if op.kind == O.PRIMITIVE and op.prim == "array" and op.target in self.varied:
            return dual_array_of_items(op, self.chunk, ln)
        if op.kind == O.PRIMITIVE and isinstance(stmt.value, gast.Call) \
                and O.is_math_call(self.fn, stmt.value, self.normalizer.locals) \
                and any(isinstance(a, gast.Name) and a.id in self.varied for a in op.args.values()):
            return [O.numpy_call_for_duals(stmt, op)]
        if receives_duals_later(op, self.vartypes, self.varied, self.varied_before.get(id(stmt), self.varied)):
            return [stmt] + promoted(self.normalizer, stmt, op, self.chunk)
        if op.kind == O.CALL_USER:
            args = list(op.args.values())
            varied = [k for k, a in enumerate(args) if isinstance(a, gast.Name) and a.id in self.varied]
            if varied:
                argtypes = tuple(self.vartypes[a.id] if isinstance(a, gast.Name) else constant_type(a) for a in args)
                new = copy.deepcopy(stmt)
                new.value.func = name(self.helper_fwd_name(op.prim, argtypes, tuple(varied)))
                return [new]
        return [stmt]

    def dual_allocation(self, op, call_node):
        return dual_allocation(self.fn, op, call_node, self.chunk)


def dual_allocation(fn, op, call_node, chunk):
    """``np.zeros(shape)`` -> ``dual_zeros(shape, K)``, ``np.ones_like(x)`` -> ``dual_zeros(x.shape, K) + 1.0``..."""
    args = call_node.args
    if op.prim.endswith("_like"):
        shape = attribute(copy.deepcopy(args[0]), "shape")
    else:
        shape = copy.deepcopy(args[0])
    zeros = call("dual_zeros", shape, const(chunk))
    if op.prim in ("zeros", "empty", "zeros_like", "empty_like"):
        return zeros
    if op.prim in ("ones", "ones_like"):
        return gast.BinOp(left=zeros, op=gast.Add(), right=const(1.0))
    if op.prim in ("full", "full_like"):
        return gast.BinOp(left=zeros, op=gast.Add(), right=copy.deepcopy(args[1]))
    # np.eye, np.arange, np.linspace, ...: the values as allocated, with zero tangents to be written over
    return gast.BinOp(left=copy.deepcopy(call_node), op=gast.Add(),
                      right=call("dual_zeros_like", copy.deepcopy(call_node), const(chunk)))


def dual_array_of_items(op, chunk, lineno) -> list:
    """``t = np.array([a, b])`` of values carrying tangents -> ``t = dual_zeros(2, K); t[0] = a; t[1] = b``."""
    items = list(op.args.values())
    out = [assign(op.target, call("dual_zeros", const(len(items)), const(chunk)), lineno)]
    for k, item in enumerate(items):
        write = gast.Assign(targets=[gast.Subscript(value=name(op.target), slice=const(k), ctx=gast.Store())],
                            value=copy.deepcopy(item), type_comment=None)
        write.lineno = lineno
        out.append(write)
    return out


def dual_arguments(params, differentiated, varied, vartypes, chunk, lineno) -> list:
    """Arguments not differentiated that the function writes duals into become dual copies.

    ``x[1] = a * x[0]`` differentiated with respect to ``a`` alone stores a dual in ``x``: ``x``
    continues as ``x + dual_zeros(x.shape, K)`` (its values, zero tangents; and the caller's
    array is never written).
    """
    out = []
    for p in params:
        if p in varied and p not in differentiated and isinstance(vartypes.get(p), types.Array):
            zeros = call("dual_zeros", attribute(name(p), "shape"), const(chunk))
            out.append(assign(p, gast.BinOp(left=name(p), op=gast.Add(), right=zeros), lineno))
    return out


def is_float_of(op, stmt, vartypes, varied) -> bool:
    """``float(a)`` of a float that carries tangents: a copy (on target="python" a dual would be
    asked for a float, dropping them)."""
    return (op.kind == O.PRIMITIVE and op.prim in ("copy", "float") and isinstance(stmt.value, gast.Call)
            and isinstance(vartypes.get(op.target), types.Float)
            and isinstance(op.args.get("x"), gast.Name) and op.args["x"].id in varied)


def is_asarray_of(op, varied) -> bool:
    """``np.asarray(x)`` of a dual array: ``x`` itself, as for any array (Python's dual arrays are
    not NumPy arrays, so NumPy would make an array of objects of them)."""
    return (op.kind == O.PRIMITIVE and op.prim == "copy" and op.what.endswith("asarray")
            and isinstance(op.args.get("x"), gast.Name) and op.args["x"].id in varied)


def receives_duals_later(op, vartypes, varied, varied_here) -> bool:
    """``c = np.ones(n) * a`` or ``z = helper()``: a fresh float array, computed from no dual, that a
    later in-place write fills with duals (``c[1] = x[0]``), so it must become dual storage.
    ``varied_here``: what may carry tangents at this statement (``a`` may carry them only later)."""
    return (op.target in varied and op.kind in (O.PRIMITIVE, O.CALL_USER)
            and isinstance(vartypes.get(op.target), types.Array)
            and op.prim not in P.views  # views keep sharing memory
            and not set(op.operand_names()) & varied_here)


def promoted(normalizer, stmt, op, chunk) -> list:
    """``c`` continues as ``c + dual_zeros(c.shape, K)``: its values, with tangents to be written."""
    shape, zeros, ln = normalizer.fresh(f"{op.target}_shape"), normalizer.fresh("dual_zeros"), stmt.lineno
    return [assign(shape, attribute(name(op.target), "shape"), ln),
            assign(zeros, call("dual_zeros", name(shape), const(chunk)), ln),
            assign(op.target, gast.BinOp(left=name(op.target), op=gast.Add(), right=name(zeros)), ln)]


def with_dual_storage(fn, fdef, normalizer, vartypes, dual_params, chunk):
    """``fdef`` with its float allocations that receive values of ``dual_params`` made dual.

    A Hessian runs the reverse transform on dual arguments; ``b = np.zeros(n); b[i] = x[i] * a``
    would store a dual into a float array.  Forward mode makes the same allocations dual (above);
    here the rewritten function is then typed and reverse-differentiated as the user's own.
    ``math`` calls on those values become NumPy calls, and ``np.array([a, b])`` of them is written
    element by element into dual storage, as in forward mode.
    """
    if fn.globals.setdefault("dual_zeros", dual_zeros) is not dual_zeros:
        raise UnsupportedSyntaxError("the name 'dual_zeros' means something else in this module",
                                     fn.location(fn.tree), hint="a Hessian needs adflow's dual_zeros; rename yours")
    classifier = O.Classifier(fn, normalizer.helpers, normalizer.locals)
    fdef = copy.deepcopy(fdef)
    ops = {id(s): classifier.classify(s) for s in statements(fdef.body) if isinstance(s, gast.Assign)}
    varied = find_varied(ops.values(), dual_params, vartypes)
    varied_here = varied_before(fdef.body, ops, dual_params, vartypes)

    def block(stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                stmt.body, stmt.orelse = block(stmt.body), block(stmt.orelse)
            elif isinstance(stmt, (gast.For, gast.While)):
                stmt.body = block(stmt.body)
            out.append(stmt)
            op = ops.get(id(stmt))
            if op is None or op.target not in varied:
                continue
            if op.kind == O.PRIMITIVE and isinstance(stmt.value, gast.Call) \
                    and O.is_math_call(fn, stmt.value, normalizer.locals):
                # On target="python" math.log1p(dual) asks the dual for a float; np.log1p takes it.
                numpy_call = O.numpy_call_for_duals(stmt, op).value
                if fn.globals.setdefault("np", np) is not np:
                    raise UnsupportedSyntaxError("the name 'np' means something other than numpy in this module",
                                                 fn.location(stmt),
                                                 hint=f"a Hessian calls np.{numpy_call.func.attr} here")
                stmt.value = numpy_call
            elif op.kind == O.ALLOCATION:
                stmt.value = dual_allocation(fn, op, stmt.value, chunk)
            elif op.kind == O.PRIMITIVE and op.prim == "array":  # written element by element, as forward mode does
                out[-1:] = dual_array_of_items(op, chunk, stmt.lineno)
            elif is_float_of(op, stmt, vartypes, varied) or is_asarray_of(op, varied):
                stmt.value = copy.deepcopy(op.args["x"])
            elif receives_duals_later(op, vartypes, varied, varied_here.get(id(stmt), varied)):
                out.extend(promoted(normalizer, stmt, op, chunk))
        return out

    params = [a.id for a in fdef.args.args]
    fdef.body = dual_arguments(params, set(dual_params), varied, vartypes, chunk, fdef.lineno) + block(fdef.body)
    return fdef


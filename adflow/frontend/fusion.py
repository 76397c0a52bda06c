"""Fuse a chain of elementwise array operations into one loop over elements: a chain that ends in
``np.sum`` becomes a loop that adds, one that makes an array a loop that fills a new one.

Written with NumPy, ``np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)`` makes an
array per operation, and so do both sweeps of its derivative.  The loop a numba user would write
makes none, and its adjoint is one loop of scalar code.  After normalisation the chain is one
operation per line; this pass writes it as that loop::

    _result1 = x[1:]                          _n1 = x.shape
    _result2 = x[:-1]                         _n2 = _n1[0]
    _result3 = _result2 ** 2                  _n3 = _n2 - 1
    _result4 = _result1 - _result3    ->      _result11 = 0.0
    ...                                       for _i1 in range(0, _n3, 1):
    _result10 = _result6 + _result9               _i2 = _i1 + 1
    _result11 = np.sum(_result10)                 _result1 = x[_i2]
                                                  _result2 = x[_i1]
                                                  ... the same statements, on numbers ...
                                                  _sum1 = _result11 + _result10
                                                  _result11 = _sum1

Without the sum, ``u[1:-1] = u[1:-1] + nu * (u[2:] - 2.0 * u[1:-1] + u[:-2])`` fills one new array
``_u9 = np.empty(max(n - 2, 0))`` element by element (``_u9[_i1] = _u92``), then writes it into ``u``
as before: one temporary instead of nine, and an adjoint loop of scalar code.  The new array gets a
new name where the chain reads the name it is bound to (``u = u * 2.0 + 1.0``).  A chain of one
operation on whole arrays stays as it is: there is nothing to fuse.

Only where the loop computes the same numbers, up to the order of the sum's additions:

* every array of the chain is a 1-D float64 array: a slice ``b[lo:hi]`` (``lo >= 0``, ``hi < 0``
  or absent, no step) of one base array ``b``, ``b`` itself, or the result of an elementwise
  operation of the chain's arrays and numbers; every slice has the same length.  Several base
  arrays are one when each always has the length of one argument that the function never assigns
  (:mod:`.equal_lengths`: ``v = v + c * lap`` with ``v = np.zeros_like(u0)``, ``lap = np.zeros_like(u)``
  and ``u = u0.copy()``), and are all sliced alike;
* each intermediate is assigned once in the function and read only by the chain (one that is read
  elsewhere too stays an array, which the chain reads whole);
* the operations are arithmetic and ufuncs that NumPy and numba apply to numbers with the same
  result (:data:`SCALAR_UFUNCS`); division and powers only by constants (numba raises on a number
  divided by zero, where an array gets ``inf``); none is faster over a whole array
  (:data:`VECTOR_MATH_FASTER`);
* between the chain's first statement and its last, no other statement assigns a name the chain
  reads after it, writes into an array, or calls a function of the user's (the loop reads at the end).

A pure function from the normalised ``FunctionDef`` to a new one; the pipeline infers the types
again where it fused a chain.  The loops it writes carry ``fused = True``: ``checkpoint=`` counts
the user's loops only.
"""
from __future__ import annotations

import copy

import gast
from numba.core import types

from ..syntax.nodes import assign, attribute, call, const, copy_tree, name, store
from . import ops as O
from .equal_lengths import argument_lengths

# Elementwise primitives that NumPy and numba also apply to numbers, with the same result.
SCALAR_UFUNCS = {"abs", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cos",
                 "cosh", "exp", "exp2", "expm1", "hypot", "log", "log10", "log1p", "log2", "maximum", "minimum",
                 "mul", "neg", "pos", "pow", "sin", "sinh", "sqrt", "square", "sub", "tan", "tanh", "truediv"}


# Elementwise functions left to whole-array code: where glibc's vector math is available the CPU
# target evaluates them (and their partials) four at a time (backends/vector_math.py), several
# times faster than the one libm call per element a fused loop makes.  Measured on the gradient of
# np.sum(np.f(x) * 0.5 + x), n = 10^6, fused / unfused, in ms: sin 10.2 / 6.9, cos 9.5 / 6.6, tan
# 11.9 / 6.1, tanh 14.1 / 8.0, cosh 14.0 / 8.0, expm1 10.5 / 8.6; but exp 4.5 / 6.4, sinh 7.7 / 8.5,
# and where the partial needs no such call, log 0.4 / 6.8, arctan 0.4 / 7.4, sqrt 1.0 / 5.6.  The
# same chains are fused on every target, so that target="python" runs the code the CPU compiles.
VECTOR_MATH_FASTER = {"sin", "cos", "tan", "tanh", "cosh", "expm1"}


def fuse_reductions(fdef, ops, vartypes, fresh, numpy_call, fill_arrays=True):
    """(``fdef`` with each fusable chain written as a loop, how many were).

    ``ops``: ``{id(assignment): Op}`` for ``fdef`` (left unchanged); ``fresh(hint)``: a new name;
    ``numpy_call(function, args)``: ``np.<function>(args)`` under the name NumPy has in the function.
    ``fill_arrays=False`` fuses only chains that end in a sum: for a Hessian, whose arrays hold
    duals, ``vartypes`` are the values' types and a new array would be allocated for numbers.
    """
    fuser = _Fuser(fdef, ops, vartypes, fresh, numpy_call, fill_arrays)
    new = copy_tree(fdef)
    new.body = fuser.block(fdef.body)
    return new, fuser.fused


class _Fuser:
    def __init__(self, fdef, ops, vartypes, fresh, numpy_call, fill_arrays):
        self.ops, self.vartypes, self.fresh, self.numpy_call = ops, vartypes, fresh, numpy_call
        self.fill_arrays = fill_arrays
        self.fdef = fdef
        self.argument_lengths = None  # {vector: argument of its length}, worked out when a chain needs it
        self.fused = 0
        self.loads: dict = {}
        self.stores: dict = {}
        for node in gast.walk(fdef):
            if isinstance(node, gast.Name):
                counts = self.loads if isinstance(node.ctx, gast.Load) else self.stores
                counts[node.id] = counts.get(node.id, 0) + 1
        for p in fdef.args.args:
            self.stores[p.id] = self.stores.get(p.id, 0) + 1

    # ------------------------------------------------------------------ statement lists
    def block(self, stmts) -> list:
        stmts = [self.compound(s) for s in stmts]
        plans, claimed = {}, set()
        for j in reversed(range(len(stmts))):  # from the end: a chain claims the chains it continues
            if j in claimed:
                continue
            plan = self.chain_ending_at(stmts, j)
            if plan is not None and not (plan[0] & claimed):
                plans[j] = plan
                claimed |= plan[0]
        if not plans:
            return stmts
        out = []
        for j, stmt in enumerate(stmts):
            if j in plans:
                out.extend(self.loop(stmts, j, *plans[j]))
                self.fused += 1
            elif j not in claimed:
                out.append(stmt)
        return out

    def compound(self, stmt):
        if isinstance(stmt, (gast.If, gast.For, gast.While)):
            new = copy.copy(stmt)  # the statements inside stay the ones ``ops`` names
            new.body = self.block(stmt.body)
            new.orelse = self.block(stmt.orelse)
            return new
        return stmt

    # ------------------------------------------------------------------ finding a chain
    def is_vector(self, v) -> bool:
        ty = self.vartypes.get(v)
        return isinstance(ty, types.Array) and ty.ndim == 1 and ty.dtype == types.float64

    def is_view_base(self, view) -> bool:
        """Whether ``view`` (base, lo, hi, prefix) is a 1-D float64 part of its base: a slice of a
        vector, or a row (or a slice of one) of a matrix at integer indices."""
        base, _, _, prefix = view
        ty = self.vartypes.get(base)
        return (isinstance(ty, types.Array) and ty.dtype == types.float64 and ty.ndim == len(prefix) + 1
                and all(type(p) is int or isinstance(self.vartypes.get(p), types.Integer) for p in prefix))

    def is_number(self, v) -> bool:
        return isinstance(self.vartypes.get(v), (types.Float, types.Integer))

    def chain_ending_at(self, stmts, j):
        """For ``stmts[j]``, a sum of an array or an elementwise operation making one: (indices of the
        chain's statements with j, {array: (base, lo, hi, prefix), or None for an elementwise
        result}, the arrays read whole, the base array, the integer indices of its row, how much
        shorter than the base the slices are), or None when no chain ends there that can be fused.

        An intermediate that something outside the chain reads too stays an array, which the chain
        reads whole (``d = x[1:] - x[:-1]; s = np.sum(np.arctan(d * d)) + d[0]``)."""
        read_whole: set = set()
        while True:
            plan = self.chain_reading(stmts, j, read_whole)
            if not isinstance(plan, set):
                return plan
            read_whole |= plan

    def chain_reading(self, stmts, j, read_whole):
        """:meth:`chain_ending_at` with the arrays ``read_whole`` as inputs; the intermediates read
        outside the chain, when there are some."""
        stmt = stmts[j]
        op = self.ops.get(id(stmt)) if isinstance(stmt, gast.Assign) else None
        if op is None or not (isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id == op.target):
            return None
        if op.kind == O.PRIMITIVE and op.prim == "sum":
            if not (_is_none(op.statics.get("axis")) and isinstance(op.args.get("x"), gast.Name)
                    and self.is_vector(op.args["x"].id) and isinstance(self.vartypes.get(op.target), types.Float)):
                return None
            roots, top = [op.args["x"].id], set()
        elif self.fill_arrays and self.is_elementwise(op) and self.is_vector(op.target):
            # An array made by a chain: worth a loop where it saves a temporary in each sweep.
            roots, top = self.operands(op), {j}
            if roots is None:
                return None
        else:
            return None
        defined = {}
        for k in range(j):
            s = stmts[k]
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                defined[s.targets[0].id] = k
        members, views, inputs, elementwise = set(top), {}, set(), bool(top)
        frontier = list(roots)
        while frontier:
            v = frontier.pop()
            if v in views or v in inputs:
                continue
            k = defined.get(v)
            if k is None or self.stores.get(v) != 1 or v in read_whole:
                inputs.add(v)  # read as it is at the end of the chain: checked below
                continue
            vop = self.ops.get(id(stmts[k]))
            view = _slice_of(vop) if vop is not None and vop.kind == O.GETITEM else None
            if view is not None and self.is_view_base(view):
                members.add(k)
                views[v] = view
            elif vop is not None and vop.kind == O.PRIMITIVE and vop.prim in VECTOR_MATH_FASTER:
                return None
            elif vop is not None and self.is_elementwise(vop):
                operands = self.operands(vop)
                if operands is None:
                    return None
                members.add(k)
                views[v] = None  # an elementwise result: a number per element in the loop
                elementwise = True
                frontier.extend(operands)
            else:
                inputs.add(v)
        if (top and (not elementwise or len(members) < 2)) or not members:
            return None  # nothing to fuse: a sum of a whole array, or one operation on whole arrays
        for v in inputs:
            if not self.is_vector(v):
                return None
        bases = {(view[0], view[3]) for view in views.values() if view is not None} | {(v, ()) for v in inputs}
        lengths = {view[1] - view[2] for view in views.values() if view is not None} | ({0} if inputs else set())
        if len(lengths) != 1 or (len(bases) != 1 and not self.equally_long(bases)):
            return None  # arrays of lengths not known to be equal: NumPy would broadcast or refuse
        chain = members | {j}
        if not top and any(isinstance(node, gast.Name) and node.id == op.target
                           for k in members for node in gast.walk(stmts[k])):
            return None  # s = np.sum(x * s): the loop starts s at 0.0 before the chain reads it
        read_outside = self.read_outside(stmts, chain, list(views))
        if read_outside:
            return read_outside
        if not self.undisturbed(stmts, chain, min(chain), j):
            return None
        base, prefix = min(bases, key=repr)
        return chain, views, inputs, base, prefix, lengths.pop()

    def equally_long(self, bases) -> bool:
        """Whether the vectors ``bases`` (with no row indices) always have one argument's length."""
        if self.argument_lengths is None:
            self.argument_lengths = argument_lengths(self.fdef, self.ops, self.vartypes, self.is_elementwise)
        found = {self.argument_lengths.get(base) if not prefix else None for base, prefix in bases}
        return len(found) == 1 and None not in found

    def is_elementwise(self, op) -> bool:
        return op.kind == O.PRIMITIVE and op.prim in SCALAR_UFUNCS and op.prim not in VECTOR_MATH_FASTER \
            and not op.statics

    def operands(self, op):
        """The chain's arrays an elementwise operation reads (None: not fusable)."""
        arrays = []
        for param, arg in op.args.items():
            if isinstance(arg, gast.Constant) and isinstance(arg.value, (int, float)) and not isinstance(arg.value, bool):
                if op.prim in ("truediv", "pow") and param != "x" and not _safe_divisor(op.prim, arg.value):
                    return None
                continue
            if not isinstance(arg, gast.Name):
                return None
            if op.prim in ("truediv", "pow") and param != "x":
                return None  # by a variable: it could be zero (or a negative power of zero)
            if self.is_vector(arg.id):
                arrays.append(arg.id)
            elif not self.is_number(arg.id):
                return None
        return arrays

    def read_outside(self, stmts, chain, intermediates) -> set:
        """The intermediates that a statement outside the chain reads too."""
        inside: dict = {}
        for k in chain:
            for node in gast.walk(stmts[k].value):
                if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
                    inside[node.id] = inside.get(node.id, 0) + 1
        return {v for v in intermediates if self.loads.get(v, 0) != inside.get(v, 0)}

    def undisturbed(self, stmts, chain, first, j) -> bool:
        """Whether the statements between the chain's first one and the sum leave what it reads alone."""
        for m in range(first + 1, j):
            if m in chain:
                continue
            stmt = stmts[m]
            if not isinstance(stmt, gast.Assign):
                return False
            op = self.ops.get(id(stmt))
            if op is None or op.kind in (O.SETITEM, O.CALL_USER, O.UNKNOWN) or not isinstance(stmt.targets[0], gast.Name):
                return False
            target = stmt.targets[0].id
            later_reads = any(isinstance(node, gast.Name) and node.id == target
                              for k in chain if k > m for node in gast.walk(stmts[k].value))
            if later_reads and self.stores.get(target) != 1:
                return False
            earlier_reads = any(isinstance(node, gast.Name) and node.id == target
                                for k in chain if k < m for node in gast.walk(stmts[k].value))
            if earlier_reads:
                return False
        return True

    # ------------------------------------------------------------------ writing the loop
    def loop(self, stmts, j, chain, views, inputs, base, prefix, shortening):
        ln = stmts[j].lineno
        op = self.ops[id(stmts[j])]
        summing = op.prim == "sum"
        shape, length = self.fresh("n"), self.fresh("n")
        out = [assign(shape, attribute(base, "shape"), ln),
               assign(length, gast.Subscript(value=name(shape), slice=const(len(prefix)), ctx=gast.Load()), ln)]
        if shortening:
            trips = self.fresh("n")
            less = gast.BinOp(left=name(length), op=gast.Sub(), right=const(shortening))
            # x[2:] of a shorter array is empty; np.empty of a negative length would raise
            out.append(assign(trips, less if summing else call("max", less, const(0)), ln))
            length = trips
        if summing:
            out.append(assign(op.target, const(0.0), ln))
        else:
            # The loop fills a new array, under a new name where the chain reads the old (u = u * 2.0 + 1.0).
            reread = any(isinstance(node, gast.Name) and node.id == op.target
                         for k in chain for node in gast.walk(stmts[k].value))
            made = self.fresh(op.target) if reread else op.target
            out.append(assign(made, self.numpy_call("empty", [name(length)]), ln))
        index = self.fresh("i")
        body, shifted = [], {0: index}
        for lo in sorted({view[1] for view in views.values() if view is not None} - {0}):
            shifted[lo] = self.fresh("i")
            body.append(assign(shifted[lo], gast.BinOp(left=name(index), op=gast.Add(), right=const(lo)), ln))
        elements = {}
        for v in sorted(inputs):  # an array read whole: its element, under a new name
            elements[v] = self.fresh(v)
            body.append(assign(elements[v], _element(v, index), ln))
        for k in sorted(chain - {j} if summing else chain):
            stmt = stmts[k]
            target = stmt.targets[0].id
            view = views.get(target) if k != j else None
            if view is not None:
                body.append(assign(target, _element(view[0], shifted[view[1]], view[3]), stmt.lineno))
            else:
                new = copy_tree(stmt)
                for node in gast.walk(new.value):
                    if isinstance(node, gast.Name) and node.id in elements:
                        node.id = elements[node.id]
                if k == j:
                    element = self.fresh(target)  # the number for one element; the name is the array's
                    new.targets = [store(element)]
                body.append(new)
        if summing:
            partial = self.fresh("sum")
            body.append(assign(partial, gast.BinOp(left=name(op.target), op=gast.Add(), right=op.args["x"]), ln))
            body.append(assign(op.target, name(partial), ln))
        else:
            write = gast.Assign(targets=[gast.Subscript(value=name(made), slice=name(index), ctx=gast.Store())],
                                value=name(element), type_comment=None)
            write.lineno = ln
            body.append(write)
        loop = gast.For(target=store(index),
                        iter=gast.Call(func=name("range"), args=[const(0), name(length), const(1)], keywords=[]),
                        body=body, orelse=[], type_comment=None)
        loop.lineno = ln
        loop.fused = True  # not a loop of the user's: checkpoint= does not count it (checkpoint/split.py)
        return out + [loop] + ([assign(op.target, name(made), ln)] if not summing and made != op.target else [])


def _element(array, index, prefix=()):
    """``array[index]``, or ``array[j, index]`` for a row at the integer indices ``prefix``."""
    if not prefix:
        return gast.Subscript(value=name(array), slice=name(index), ctx=gast.Load())
    parts = [const(p) if type(p) is int else name(p) for p in prefix] + [name(index)]
    return gast.Subscript(value=name(array), slice=gast.Tuple(elts=parts, ctx=gast.Load()), ctx=gast.Load())


def _is_none(node) -> bool:
    return node is None or (isinstance(node, gast.Constant) and node.value is None)


def _int_of(node):
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant) \
            and type(node.operand.value) is int:
        return -node.operand.value
    return None


def _slice_of(op):
    """(base, lo, hi, prefix) for ``b[lo:hi]`` (``lo >= 0``, ``hi < 0`` or 0 for the end, no step),
    ``M[j]`` (lo = hi = 0) or ``M[j, lo:hi]``, with ``prefix`` the integer indices before the last
    axis (names or ints); else None."""
    index, base = op.statics.get("index"), op.args.get("x")
    if not isinstance(base, gast.Name):
        return None
    parts = list(index.elts) if isinstance(index, gast.Tuple) else [index]
    last = parts[-1] if isinstance(parts[-1], gast.Slice) else None
    prefix = []
    for part in parts[:-1] if last is not None else parts:
        value = part.id if isinstance(part, gast.Name) else _int_of(part)
        if value is None:
            return None
        prefix.append(value)
    if last is None:
        return base.id, 0, 0, tuple(prefix)
    if not _is_none(last.step):
        return None
    lo = 0 if _is_none(last.lower) else _int_of(last.lower)
    hi = 0 if _is_none(last.upper) else _int_of(last.upper)
    if lo is None or hi is None or lo < 0 or hi > 0:
        return None
    return base.id, lo, hi, tuple(prefix)


def _safe_divisor(prim, value) -> bool:
    return value != 0 if prim == "truediv" else value >= 0

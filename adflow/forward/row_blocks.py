"""Row-wise forward Jacobians a block of rows at a time: the row function rewritten for B rows.

``jacobian(f, batch=True)`` wants ``dY[i] / dX[i]`` for every row ``i``.  On dual numbers, one row
at a time, every matrix product is a small one (a 64x16 tangent through an 8x64 weight costs about
a microsecond in BLAS, whatever the loop around it).  The block function takes B rows at once,
``x`` of shape ``(B, d)``, and their tangents with two leading axes, ``(k, B, d)``, so each product
becomes one long BLAS call over the whole block, as ``jax.vmap`` makes it.

Each statement of the normalised row function becomes its block form:

* a statement that reads no row value (weights, constants) stays as it is;
* an elementwise primitive keeps its expression: broadcasting aligns trailing axes, so the leading
  ones pass through, when every operand carrying them has the result's row rank (checked);
* a matrix product takes its entry in :data:`adflow.rules.batching.batching_rules`
  (``W @ x`` -> ``lead_matmul_left(W, x)``);
* tangents come from :data:`adflow.rules.tangents.tangent_rules`, batched by the same two cases:
  ``W @ x`` has the tangent ``np.dot(a, b_dot)``, which becomes ``lead_matmul_left(W, x_dot)``.

The seed directions are the same for every row, so the seed carries a row axis of length one,
``(k, 1, d)``: the first layer's tangent ``W @ seed`` is computed once per block, not per row, and
broadcasting spreads it over the rows where a row value first multiplies it.

Anything else (control flow, indexing, reductions, calls to the user's helpers) raises
:class:`NotBatchable` naming the statement and its line; the Jacobian then runs one row at a time
on dual numbers, and its plan says why.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import gast
import numpy as np
from numba.core import types

from ..frontend import ops as O
from ..rules import primitives as P
from ..rules.batching import batching_rules, rule_calls
from ..rules.partials import elementwise_partials
from ..rules.tangents import tangent_rules
from ..syntax import templates
from ..syntax.nodes import name
from ..duals import formulas


class NotBatchable(Exception):
    """The row function has a statement without a block form; ``str()`` says which and where."""


@dataclass(frozen=True)
class Held:
    """How a value is held in the block function: ``lead`` leading axes (0: shared by every row,
    1: rows, 2: directions and rows) in front of the ``rank`` axes of one row's value."""

    lead: int
    rank: int


_SHARED_NUMBER = Held(0, 0)


# Primitives NumPy broadcasts elementwise (comparisons appear in the partials of maximum and minimum).
_BROADCASTING = (set(elementwise_partials) | set(P.compare_primitives.values())
                 | {"sign", "floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite"})


def _with_axes(node, lead: int, count: int):
    """``node`` (``lead`` leading axes) with ``count`` axes of length one after its leading axes: a
    row value of lower rank broadcast as NumPy broadcasts it within one row (``v[:, None]``)."""
    whole = [gast.Slice(lower=None, upper=None, step=None) for _ in range(lead)]
    axes = [gast.Constant(value=None, kind=None) for _ in range(count)]
    return gast.Subscript(value=node, slice=gast.Tuple(elts=whole + axes, ctx=gast.Load()), ctx=gast.Load())


def _is_none(static) -> bool:
    return static is None or (isinstance(static, gast.Constant) and static.value is None)


def batched(prim: str, operands: dict, rebuild, where: str, statics=None):
    """(block expression, Held) of primitive ``prim`` applied to ``operands`` ({param: (node, Held)}).

    ``rebuild({param: node})`` writes the primitive's expression on new operands (elementwise
    primitives keep their expression, with lower-rank row operands given axes to broadcast).
    """
    prim = formulas.canonical(prim)
    lead = max((h.lead for _, h in operands.values()), default=0)
    if prim in _BROADCASTING:
        rank = max((h.rank for _, h in operands.values()), default=0)
        nodes = {p: _with_axes(n, h.lead, rank - h.rank) if h.lead and h.rank < rank else n
                 for p, (n, h) in operands.items()}
        return rebuild(nodes), Held(lead, rank)
    if lead == 0:
        raise NotBatchable(f"{where}: {prim} inside a derivative rule has no block form")
    if statics and not all(_is_none(v) for v in statics.values()):
        raise NotBatchable(f"{where}: {prim} with {', '.join(f'{k}=' for k in statics)} has no block form")
    rules = batching_rules.get(prim, {})
    leading = " ".join(param for param, (_, h) in operands.items() if h.lead)
    if leading not in rules:
        raise NotBatchable(f"{where}: {prim} has no block form"
                           + (" with both operands from the row" if rules and " " in leading else ""))
    expression, ranks = rules[leading]
    key = tuple(operands[p][1].rank for p in P.signatures[prim].params)
    if key not in ranks:
        raise NotBatchable(f"{where}: {prim} of operands of ranks {key} has no block form")
    class Operands(gast.NodeTransformer):
        # The entry's parameters become the operands; its own elementwise products (``a * b``)
        # broadcast like any other.  One pass: inserted operands are not visited again.
        def visit_Name(self, node):
            return copy.deepcopy(operands[node.id][0]) if node.id in operands else node

        def visit_BinOp(self, node):
            parts = {"x": operands[node.left.id], "y": operands[node.right.id]}
            return batched("mul", parts, lambda n: gast.BinOp(n["x"], gast.Mult(), n["y"]), where)[0]

    return Operands().visit(templates.expression(expression)), Held(lead, ranks[key])


def indexed(node, held: Held, index, where: str, shared_integer=lambda name: False):
    """(block expression, Held) of ``node[index]`` taken in every row: the leading axes are kept
    whole.  Basic indices only: integers (constants, or names ``shared_integer`` accepts) and
    slices; the caller has checked that no part of ``index`` comes from the row."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    dropped = 0
    for part in parts:
        if isinstance(part, gast.Slice):
            continue
        if not ((isinstance(part, gast.Constant) and type(part.value) is int)
                or (isinstance(part, gast.Name) and shared_integer(part.id))):
            raise NotBatchable(f"{where}: indexing a row value with anything but numbers and slices "
                               f"has no block form")
        dropped += 1
    if len(parts) > held.rank:
        raise NotBatchable(f"{where}: too many indices for a row value of rank {held.rank}")
    whole = [gast.Slice(lower=None, upper=None, step=None)] * held.lead
    return (gast.Subscript(value=node, slice=gast.Tuple(elts=whole + [copy.deepcopy(p) for p in parts],
                                                         ctx=gast.Load()), ctx=gast.Load()),
            Held(held.lead, held.rank - dropped))


def _rebuilt(node, olds: dict):
    """``rebuild`` for an expression as written: a copy of ``node`` with the subtrees ``olds[param]``
    replaced by the new operands."""
    def rebuild(news):
        twin = copy.deepcopy(node)
        twin_of = {id(o): t for o, t in zip(gast.walk(node), gast.walk(twin))}
        swap = {id(twin_of[id(olds[p])]): n for p, n in news.items() if n is not olds[p]}

        class Swap(gast.NodeTransformer):
            def visit(self, n):
                return swap[id(n)] if id(n) in swap else super().visit(n)
        return Swap().visit(twin)
    return rebuild


class _RuleBatcher:
    """Batches a rule's expression (from the tables, written with ``np``) bottom-up."""

    def __init__(self, held: dict, where: str):
        self.held = held  # name -> Held
        self.where = where

    def expr(self, node):
        if isinstance(node, gast.Name):
            return node, self.held[node.id]
        if isinstance(node, gast.Constant):
            return node, _SHARED_NUMBER
        if isinstance(node, gast.BinOp):
            prim = P.binop_primitives[type(node.op).__name__]
            return self.apply(prim, [node.left, node.right], lambda a: gast.BinOp(a[0], node.op, a[1]))
        if isinstance(node, gast.Compare) and len(node.ops) == 1:
            prim = P.compare_primitives[type(node.ops[0]).__name__]
            return self.apply(prim, [node.left, node.comparators[0]],
                              lambda a: gast.Compare(left=a[0], ops=node.ops, comparators=[a[1]]))
        if isinstance(node, gast.UnaryOp):
            prim = P.unaryop_primitives[type(node.op).__name__]
            return self.apply(prim, [node.operand], lambda a: gast.UnaryOp(node.op, a[0]))
        if (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute)
                and isinstance(node.func.value, gast.Name) and node.func.value.id == "np" and not node.keywords):
            prim = P.primitive_of_object.get(id(getattr(np, node.func.attr, None)))
            if prim is not None:
                return self.apply(prim, node.args, lambda a: gast.Call(func=node.func, args=list(a), keywords=[]))
        if (isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id in rule_calls
                and not node.keywords):
            prim = rule_calls[node.func.id]
            params = P.signatures[prim].params
            statics = dict(zip(P.signatures[prim].static, node.args[len(params):]))
            return self.apply(prim, node.args[:len(params)], None, statics)
        raise NotBatchable(f"{self.where}: a derivative rule ({gast.dump(node)[:40]}...) has no block form")

    def apply(self, prim, args, rebuild, statics=None):
        done = [self.expr(a) for a in args]
        params = P.signatures[formulas.canonical(prim)].params if prim in P.signatures else ("x", "y")[:len(done)]
        if len(params) != len(done):
            raise NotBatchable(f"{self.where}: {prim} in a derivative rule has no block form")
        return batched(prim, dict(zip(params, done)), lambda news: rebuild([news[p] for p in params]),
                       self.where, statics)


def _rank(ty) -> int:
    return ty.ndim if isinstance(ty, types.Array) else 0


def _is_float_value(ty) -> bool:
    return (isinstance(ty, types.Array) and ty.dtype == types.float64) or ty == types.float64


class RowBlocks:
    """The block function of a prepared row function: ``<f>_rows(params..., <x>_seed)`` returns the
    tangents ``(k, B) + out.shape`` of the result for the B rows in ``x``."""

    def __init__(self, prepared, wrt: int):
        self.prepared = prepared
        self.fn = prepared.fn
        self.wrt = wrt
        self.held: dict[str, Held] = {}
        self.tangent: dict[str, str] = {}  # row value -> the name of its tangent

    def run(self) -> gast.FunctionDef:
        prepared = self.prepared
        params = [a.id for a in prepared.fdef.args.args]
        for p in params:
            self.held[p] = Held(0, _rank(prepared.vartypes.get(p)))
        x = params[self.wrt]
        if self.held[x].rank != 1 or not _is_float_value(prepared.vartypes.get(x)):
            raise NotBatchable(f"{self.fn.name}: the row argument must be a float64 vector")
        self.held[x] = Held(1, 1)
        seed = self.fresh(f"{x}_seed")
        self.tangent[x] = seed
        self.held[seed] = Held(2, 1)
        classifier = O.Classifier(self.fn, prepared.normalizer.helpers, prepared.normalizer.locals)
        body = []
        for stmt in prepared.fdef.body:
            body.extend(self.statement(stmt, classifier))
        args = copy.deepcopy(prepared.fdef.args)
        args.args.append(name(seed, gast.Param()))
        fdef = gast.FunctionDef(name=f"{prepared.fdef.name}_rows", args=args, body=body, decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        fdef.lineno = prepared.fdef.lineno
        return fdef

    def fresh(self, hint):
        return self.prepared.normalizer.fresh(hint)

    def where(self, node) -> str:
        loc = self.fn.location(node)
        return f"{loc.filename}:{loc.lineno}"

    def statement(self, stmt, classifier) -> list:
        where = self.where(stmt)
        if isinstance(stmt, gast.Return):
            value = stmt.value
            if not isinstance(value, gast.Name) or value.id not in self.tangent:
                raise NotBatchable(f"{where}: the result must be one array computed from the row")
            return [gast.Return(value=name(self.tangent[value.id]))]
        if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant):
            return []  # a docstring
        if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)):
            raise NotBatchable(f"{where}: {type(stmt).__name__.lower()} statements have no block form")
        target = stmt.targets[0].id
        read = {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}
        if not any(self.held.get(r, _SHARED_NUMBER).lead for r in read):
            # Shared by every row (weights, constants): as written, once per block.
            self.held[target] = Held(0, _rank(self.prepared.vartypes.get(target)))
            self.tangent.pop(target, None)
            return [stmt]
        op = classifier.classify(stmt)
        if op.kind == O.COPY:
            self.held[target] = self.held[stmt.value.id]
            self.tangent[target] = self.tangent[stmt.value.id]
            return [stmt]
        if op.kind == O.GETITEM and isinstance(op.args["x"], gast.Name):
            x, index = op.args["x"].id, op.statics["index"]
            if any(self.held.get(n.id, _SHARED_NUMBER).lead for n in gast.walk(index) if isinstance(n, gast.Name)):
                raise NotBatchable(f"{where}: an index computed from the row has no block form")

            def shared_integer(n):
                return isinstance(self.prepared.vartypes.get(n), types.Integer)
            value, held = indexed(op.args["x"], self.held[x], index, where, shared_integer)
            tangent = indexed(name(self.tangent[x]), self.held[self.tangent[x]], index, where, shared_integer)
            return self._assign(stmt, target, value, held, tangent, [], where)
        if op.kind != O.PRIMITIVE:
            raise NotBatchable(f"{where}: {op.what} has no block form")
        out = []
        locals_ = self.prepared.normalizer.locals
        if isinstance(stmt.value, gast.Call) and (O.is_math_call(self.fn, stmt.value, locals_)
                                                  or O.is_builtin_extremum(self.fn, stmt.value, locals_)):
            # math.tanh of a column of the block: np.tanh; max(a, b) of two columns: np.maximum.
            stmt = O.numpy_call_for_duals(stmt, op)
        operands = dict(op.args)
        if target in read:
            # ``h = np.tanh(h)``: the tangent rule reads the old h, which the value overwrites.
            old = self.fresh(target)
            out.append(gast.Assign(targets=[name(old, gast.Store())], value=name(target), type_comment=None))
            self.held[old], self.tangent[old] = self.held[target], self.tangent[target]
            operands = {p: name(old) if isinstance(n, gast.Name) and n.id == target else n
                        for p, n in operands.items()}
        value, held = batched(op.prim, {p: (n, self._held_atom(n)) for p, n in op.args.items()},
                              _rebuilt(stmt.value, op.args), where, op.statics)
        return self._assign(stmt, target, value, held, None, out, where, op.prim, operands, op.statics)

    def _assign(self, stmt, target, value, held, tangent, out, where, prim=None, operands=None, statics=None):
        """``out`` followed by ``target = value`` and the assignment of its tangent (``tangent``, or the
        tangent rules of ``prim`` on ``operands``)."""
        ty = self.prepared.vartypes.get(target)
        if ty is None or not _is_float_value(ty) or held.rank != _rank(ty):
            raise NotBatchable(f"{where}: the row value {target} is not a float64 number or array")
        out.append(gast.Assign(targets=[name(target, gast.Store())], value=value, type_comment=None))
        self.held[target] = held
        if tangent is None:
            tangent = self._tangent(prim, operands, statics, target, where)
        dot = self.fresh(f"{target}_dot")
        self.tangent[target] = dot
        self.held[dot] = tangent[1]
        out.append(gast.Assign(targets=[name(dot, gast.Store())], value=tangent[0], type_comment=None))
        for s in out:
            gast.copy_location(s, stmt)
        return out

    def _held_atom(self, node) -> Held:
        if isinstance(node, gast.Name):
            held = self.held.get(node.id)
            if held is None:  # a global constant of the user's module
                value = self.prepared.namespace.get(node.id)
                return Held(0, np.ndim(value))
            return held
        return _SHARED_NUMBER

    def _tangent(self, prim, operands, statics, target, where):
        """(block expression, Held) of the tangent of ``target = prim(operands)``: the sum of the
        tangent rules' terms of the operands that come from the row, batched."""
        rules = tangent_rules[formulas.canonical(prim)]
        names = {p: (n, self._held_atom(n)) for p, n in operands.items()}
        names["ans"] = (name(target), self.held[target])
        names.update({k: (v if v is not None else gast.Constant(None, None), _SHARED_NUMBER)
                      for k, v in (statics or {}).items()})
        terms = []
        for param, node in operands.items():
            if not (isinstance(node, gast.Name) and node.id in self.tangent and self.held[node.id].lead):
                continue
            if param not in rules:
                raise NotBatchable(f"{where}: {prim} has no tangent rule for its operand {param}")
            dot = self.tangent[node.id]
            rule = templates.instantiate(rules[param], {k: n for k, (n, _) in names.items()}
                               | {f"{param}_dot": name(dot)})
            held = dict(self.held)
            held.update({n.id: h for n, h in names.values() if isinstance(n, gast.Name)})
            terms.append(_RuleBatcher(held, where).expr(rule))
        total, held = terms[0]
        for term, h in terms[1:]:
            total, held = batched("add", {"x": (total, held), "y": (term, h)},
                                  lambda n: gast.BinOp(n["x"], gast.Add(), n["y"]), where)
        return total, held

"""``target="cuda"``: reverse-mode derivatives compiled with numba-cuda, per GPU thread.

The generated ``<f>_vjp`` (see :mod:`adflow.reverse.transform`) allocates: its tapes start as
``np.empty(16)`` and grow, array adjoints start as ``zeros_like_float(x)``.  Device code cannot
allocate, so :class:`DeviceAdapter` rewrites the vjp's tree for the device:

* every scalar tape becomes a slice of a per-thread **scratch** buffer passed in by the caller
  (``scratch[layout[k]:layout[k + 1]]``), or a ``cuda.local.array`` when its size is a constant of
  the code (at most :data:`LOCAL_LIMIT` values).  The capacity is an upper bound computed on the
  host, before launch, by :class:`TapeSizer`: it walks the forward sweep with the argument values
  (shapes of arrays, integer arguments), multiplies pushes by the trip counts of the ``for`` loops
  around them and takes the larger branch of a data-dependent ``if``.  A ``while`` loop that pushes,
  or a ``for`` loop whose bounds depend on array contents, cannot be bounded that way and raises
  :class:`~adflow.UnsupportedSyntaxError` naming the loop.  The growth checks are dropped.  Values
  are kept as float64 (integers and flags are exact in it) and cast back when popped;
* the adjoints of array arguments become **output arguments** the caller provides (zeroed by the
  device function), and an array result is written into an output argument too;
* anything else that allocates (array expressions, copies, array tapes, lists) raises
  :class:`~adflow.UnsupportedSyntaxError` naming the construct and the user's ``file:line``.

What you get (see :func:`grad`, :func:`jacobian`):

* ``adflow.grad(f, target="cuda").device_for(*args)`` -> :class:`DeviceFunction`: a
  ``numba.cuda.jit(device=True)`` function to call per thread from your own ``@cuda.jit`` kernel,
  with its signature and the host-side scratch sizing;
* ``adflow.grad(f, target="cuda", batch=True)(X, ...)`` and
  ``adflow.jacobian(f, target="cuda", batch=True)(X, ...)``: one thread per row of ``X`` (numpy
  arrays in, numpy out; numba device arrays in, device arrays out).  Jacobians on the device run
  one reverse sweep per output (the rows of ``J``) inside the thread;
* ``grad`` / ``value_and_grad`` / ``vjp`` / ``jacobian`` without ``batch``: one thread, for checks.

Forward mode (dual numbers) is not offered on the device: dual *arrays* need numba's runtime
(NRT) inside kernels, so ``jvp(..., target="cuda")`` raises and ``jacobian(..., target="cuda")``
always uses reverse sweeps.
"""
from __future__ import annotations

import copy
import math
import operator
import threading

import gast
import numba
import numpy as np
from numba.core import types

from ..errors import AdflowError, ArgumentError, ShapeError, SourceLocation, UnsupportedSyntaxError
from ..frontend.normalize import assign, const, name, store
from .emit import comment

LOCAL_LIMIT = 256  # tapes of a constant size up to this many values live in cuda.local.array
THREADS_PER_BLOCK = 128
SCRATCH_BUDGET = 1 << 30  # bytes of scratch per launch; more rows are launched in chunks
_TARGET = "target='cuda'"


def cuda_module():
    """``numba.cuda`` (from the numba-cuda package), or a clear error when it is missing."""
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise AdflowError(f"{_TARGET} needs numba-cuda ({exc})",
                          hint="pip install 'adflow[cuda]'  (or pip install numba-cuda); without a GPU, "
                               "set NUMBA_ENABLE_CUDASIM=1 to run on numba's CUDA simulator") from None
    return cuda


# --------------------------------------------------------------------------- small tree helpers

def _call(func, *args):
    return gast.Call(func=name(func) if isinstance(func, str) else func, args=list(args), keywords=[])


def _attr(value, attr):
    return gast.Attribute(value=name(value) if isinstance(value, str) else value, attr=attr, ctx=gast.Load())


def _sub(value, index, ctx=None):
    return gast.Subscript(value=name(value) if isinstance(value, str) else value, slice=index,
                          ctx=ctx or gast.Load())


def _dotted(node):
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _walk_stmts(stmts):
    for stmt in stmts:
        yield stmt
        for field in ("body", "orelse"):
            yield from _walk_stmts(getattr(stmt, field, []) or [])


def _names_in(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _assigned_in(stmts) -> set:
    out = set()
    for stmt in _walk_stmts(stmts):
        if isinstance(stmt, gast.Assign):
            for t in stmt.targets:
                out |= {n.id for n in gast.walk(t) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        elif isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            out.add(stmt.target.id)
        elif isinstance(stmt, gast.For):
            out |= {n.id for n in gast.walk(stmt.target) if isinstance(n, gast.Name)}
    return out


def _fill_loops(array, ndim, value, fresh, ln):
    """``for i0 in range(a.shape[0]): for i1 ...: a[i0, i1] = value`` (device code has no ``a[:] = v``)."""
    idx = [fresh("_cz") for _ in range(ndim)]
    index = name(idx[0]) if ndim == 1 else gast.Tuple(elts=[name(i) for i in idx], ctx=gast.Load())
    body = [gast.Assign(targets=[_sub(array, index, gast.Store())], value=value, type_comment=None)]
    body[0].lineno = ln
    for d in reversed(range(ndim)):
        loop = gast.For(target=store(idx[d]), iter=_call("range", _sub(_attr(array, "shape"), const(d))),
                        body=body, orelse=[], type_comment=None)
        loop.lineno = ln
        body = [loop]
    return body


# --------------------------------------------------------------------------- sizing on the host

class _Unknown(Exception):
    """A value the host cannot know before the launch (it depends on array contents)."""


class _Shape:
    """An array argument as the host sees it for sizing: only its shape."""

    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)


_BINOPS = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul, gast.FloorDiv: operator.floordiv,
           gast.Mod: operator.mod, gast.Div: operator.truediv, gast.Pow: operator.pow}
_CMPOPS = {gast.Lt: operator.lt, gast.LtE: operator.le, gast.Gt: operator.gt, gast.GtE: operator.ge,
           gast.Eq: operator.eq, gast.NotEq: operator.ne}
_ALLOCATORS = {"empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like"}


class TapeSizer:
    """Upper bounds on the pushes of each tape of a vjp, from the argument values (host side).

    Values are ``(value, depends_on_arguments)`` pairs; a tape whose bound does not depend on the
    arguments is a constant of the code (it can live in ``cuda.local.array``).
    """

    MAX_STEPS = 5_000_000  # statements walked one by one (loops whose bounds depend on an outer index)

    def __init__(self, fdef, tapes, result, fn):
        self.fdef = fdef
        self.tapes = set(tapes)
        self.result = result
        self.fn = fn

    def location(self, node):
        return SourceLocation(self.fn.filename, getattr(node, "lineno", None) or self.fn.tree.lineno, self.fn.name)

    def run(self, env):
        """``env``: parameter -> (value or _Shape, True).  Returns ({tape: (count, dyn)}, result size or None)."""
        self.counts = {t: [0, False] for t in self.tapes}
        self.result_size = None
        self.symbolic = 0
        self.steps = 0
        self.block(self.fdef.body, dict(env), (1, False))
        return {t: tuple(c) for t, c in self.counts.items()}, self.result_size

    # -- statements
    def block(self, stmts, env, mult):
        for stmt in stmts:
            self.steps += 1
            if self.steps > self.MAX_STEPS:
                raise UnsupportedSyntaxError(f"{_TARGET}: bounding the tape of {self.fn.name} takes too long",
                                             self.location(stmt), hint="make loop bounds independent of outer indices")
            if isinstance(stmt, gast.Return):
                return
            if isinstance(stmt, gast.Assign):
                self.assignment(stmt, env, mult)
            elif isinstance(stmt, gast.AugAssign):
                if isinstance(stmt.target, gast.Name):
                    self.bind(stmt.target.id, gast.BinOp(left=name(stmt.target.id), op=stmt.op, right=stmt.value), env)
            elif isinstance(stmt, gast.If):
                self.branch(stmt, env, mult)
            elif isinstance(stmt, gast.For):
                self.for_loop(stmt, env, mult)
            elif isinstance(stmt, gast.While):
                if self.pushes_in(stmt.body):
                    raise UnsupportedSyntaxError(
                        f"{_TARGET}: this while loop saves values on the tape, and its trip count cannot be bounded "
                        f"before the launch", self.location(stmt),
                        hint="write it as a for loop over a bounded range (with break), so the tape can be sized")
                for v in _assigned_in(stmt.body):
                    env.pop(v, None)

    def pushes_in(self, stmts):
        return any(self.push_target(s) for s in _walk_stmts(stmts))

    def push_target(self, stmt):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):
            base = stmt.targets[0].value
            if isinstance(base, gast.Name) and base.id in self.tapes:
                return base.id
        return None

    def assignment(self, stmt, env, mult):
        tape = self.push_target(stmt)
        if tape is not None:
            count = self.counts[tape]
            count[0] += mult[0]
            count[1] = count[1] or mult[1]
            return
        target = stmt.targets[0]
        if not isinstance(target, gast.Name):
            for v in _names_in(target):
                if isinstance(target, gast.Tuple):
                    env.pop(v, None)
            return
        if target.id == self.result and isinstance(stmt.value, gast.Call):
            size = self.allocation_size(stmt.value, env)
            if size is not None:
                self.result_size = size
        self.bind(target.id, stmt.value, env)

    def allocation_size(self, call, env):
        func = _dotted(call.func) or ""
        short = func.split(".")[-1]
        try:
            if short == "array" and call.args and isinstance(call.args[0], (gast.List, gast.Tuple)):
                return len(call.args[0].elts), False
            if short in _ALLOCATORS and call.args:
                value, dyn = self.ev(call.args[0], env)
                if short.endswith("_like"):
                    value = value.shape if isinstance(value, _Shape) else ()
                shape = value if isinstance(value, tuple) else (int(value),)
                return int(np.prod(shape, dtype=np.int64)), dyn
        except _Unknown:
            return None
        return None

    def bind(self, var, value, env):
        try:
            env[var] = self.ev(value, env)
        except _Unknown:
            env.pop(var, None)

    def branch(self, stmt, env, mult):
        try:
            test, dyn = self.ev(stmt.test, env)
        except _Unknown:
            test = None
        if test is not None:
            self.block(stmt.body if test else stmt.orelse, env, (mult[0], mult[1] or dyn))
            return
        # Unknown before the launch: room for the larger of the two branches.
        before = {t: list(c) for t, c in self.counts.items()}
        self.block(stmt.body, dict(env), mult)
        after_body = {t: list(c) for t, c in self.counts.items()}
        self.counts = {t: list(c) for t, c in before.items()}
        self.block(stmt.orelse, dict(env), mult)
        for t, c in self.counts.items():
            b = after_body[t]
            c[0] = max(c[0], b[0])
            c[1] = c[1] or b[1]
        for v in _assigned_in(stmt.body + stmt.orelse):
            env.pop(v, None)

    def for_loop(self, loop, env, mult):
        try:
            bounds = [self.ev(a, env) for a in loop.iter.args]
        except _Unknown:
            if self.symbolic:
                raise
            raise UnsupportedSyntaxError(
                f"{_TARGET}: the bounds of this for loop depend on array contents, so its tape cannot be sized "
                f"before the launch", self.location(loop),
                hint="loop over a range given by integer arguments or array shapes") from None
        start, stop, step = (int(b[0]) for b in bounds)
        dyn = mult[1] or any(b[1] for b in bounds)
        trips = len(range(start, stop, step))
        index = loop.target.id
        assigned = _assigned_in(loop.body) | {index}
        if trips and self.pushes_in(loop.body):
            trial = {k: v for k, v in env.items() if k not in assigned}
            saved = {t: list(c) for t, c in self.counts.items()}
            self.symbolic += 1
            try:
                self.block(loop.body, trial, (mult[0] * trips, dyn))
            except _Unknown:
                # The body depends on the loop index (a triangular inner loop): walk every iteration.
                self.counts = saved
                self.symbolic -= 1
                for value in range(start, stop, step):
                    env[index] = (value, dyn)
                    self.block(loop.body, env, (mult[0], dyn))
                self.symbolic += 1
            finally:
                self.symbolic -= 1
        for v in assigned:
            env.pop(v, None)

    # -- expressions
    def ev(self, node, env):
        if isinstance(node, gast.Constant):
            return node.value, False
        if isinstance(node, gast.Name):
            if node.id not in env:
                raise _Unknown(node.id)
            return env[node.id]
        if isinstance(node, gast.Attribute) and node.attr == "shape":
            value, dyn = self.ev(node.value, env)
            if isinstance(value, _Shape):
                return value.shape, dyn
            raise _Unknown("shape")
        if isinstance(node, gast.Attribute) and node.attr in ("size", "ndim"):
            value, dyn = self.ev(node.value, env)
            if isinstance(value, _Shape):
                return (int(np.prod(value.shape, dtype=np.int64)) if node.attr == "size" else len(value.shape)), dyn
            raise _Unknown(node.attr)
        if isinstance(node, gast.Subscript):
            value, dyn = self.ev(node.value, env)
            index, dyn2 = self.ev(node.slice, env)
            if isinstance(value, tuple) and isinstance(index, int):
                return value[index], dyn or dyn2
            raise _Unknown("element")
        if isinstance(node, gast.Tuple):
            items = [self.ev(e, env) for e in node.elts]
            return tuple(v for v, _ in items), any(d for _, d in items)
        if isinstance(node, gast.BinOp) and type(node.op) in _BINOPS:
            (a, da), (b, db) = self.ev(node.left, env), self.ev(node.right, env)
            if isinstance(a, (_Shape, tuple)) or isinstance(b, (_Shape, tuple)):
                raise _Unknown("array")
            return _BINOPS[type(node.op)](a, b), da or db
        if isinstance(node, gast.UnaryOp):
            a, da = self.ev(node.operand, env)
            if isinstance(node.op, gast.USub):
                return -a, da
            if isinstance(node.op, gast.Not):
                return not a, da
            if isinstance(node.op, gast.UAdd):
                return a, da
        if isinstance(node, gast.Compare):
            left, dyn = self.ev(node.left, env)
            result = True
            for op, right in zip(node.ops, node.comparators):
                r, dr = self.ev(right, env)
                if type(op) not in _CMPOPS:
                    raise _Unknown("compare")
                result = result and _CMPOPS[type(op)](left, r)
                dyn, left = dyn or dr, r
            return result, dyn
        if isinstance(node, gast.BoolOp):
            items = [self.ev(v, env) for v in node.values]
            values = [v for v, _ in items]
            value = all(values) if isinstance(node.op, gast.And) else any(values)
            return value, any(d for _, d in items)
        if isinstance(node, gast.IfExp):
            test, dt = self.ev(node.test, env)
            v, dv = self.ev(node.body if test else node.orelse, env)
            return v, dt or dv
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and node.func.attr == "copy" \
                and not node.args:
            return self.ev(node.func.value, env)
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and not node.keywords:
            fn = {"len": None, "min": min, "max": max, "abs": abs, "int": int, "float": float, "bool": bool}
            if node.func.id in fn:
                items = [self.ev(a, env) for a in node.args]
                dyn = any(d for _, d in items)
                values = [v for v, _ in items]
                if node.func.id == "len":
                    v = values[0]
                    return (v.shape[0] if isinstance(v, _Shape) else len(v)), dyn
                if any(isinstance(v, (_Shape, tuple)) for v in values):
                    raise _Unknown("array")
                return fn[node.func.id](*values), dyn
        raise _Unknown(type(node).__name__)


# --------------------------------------------------------------------------- the device rewrite

class Region:
    """One tape (or work array) of a device function: in the scratch buffer, or a local array."""

    def __init__(self, var, dtype, kind):
        self.var = var
        self.dtype = dtype  # the numpy dtype name of its values
        self.kind = kind  # "tape" or "result_bar"
        self.local_size = None  # set when its size is a constant of the code
        self.slot = None  # index in the scratch layout otherwise


class DeviceAdapter:
    """Rewrite one generated vjp FunctionDef so that it runs as a CUDA device function (see module doc)."""

    def __init__(self, fdef, prepared, wrt, is_helper, generated_names):
        self.original = fdef
        self.fdef = copy.deepcopy(fdef)
        self.fn = prepared.fn
        self.vartypes = dict(prepared.vartypes)
        self.wrt = list(wrt)
        self.is_helper = is_helper
        self.generated_names = set(generated_names)
        self.taken = _names_in(fdef) | {a.id for a in fdef.args.args}
        self.params = [a.id for a in fdef.args.args][:-1]
        self.cotangent = fdef.args.args[-1].id
        self.regions: dict[str, Region] = {}
        self.result = None  # the returned variable when it is an array
        self.result_out = None
        self.grad_outs = []  # (param index, adjoint name, ndim) of array arguments differentiated
        self.array_names = {p for p in self.params if isinstance(self.vartypes.get(p), types.Array)}

    def fresh(self, base):
        candidate, k = base, 0
        while candidate in self.taken:
            k += 1
            candidate = f"{base}{k}"
        self.taken.add(candidate)
        return candidate

    def location(self, node):
        return SourceLocation(self.fn.filename, getattr(node, "lineno", None) or self.fn.tree.lineno, self.fn.name)

    def error(self, what, node, hint=None):
        return UnsupportedSyntaxError(f"{_TARGET}: {what}", self.location(node), hint=hint)

    # -- entry
    def run(self, example_env):
        body = self.fdef.body
        ret = body[-1]
        assert isinstance(ret, gast.Return)
        result_node, grads_node = ret.value.elts
        self.inspect_result(result_node)
        self.find_tapes(body)
        grad_names = [g.id for g in grads_node.elts]
        for k, g in zip(self.wrt, grad_names):
            ty = self.vartypes.get(self.params[k])
            if isinstance(ty, types.Array):
                self.grad_outs.append((k, g, ty.ndim))
                self.array_names.add(g)
        if self.is_helper and (self.result or self.grad_outs):
            raise self.error(f"helper {self.fn.name} takes or returns arrays; helpers on the device take and "
                             f"return numbers only", self.fn.tree, hint="inline the helper into the caller")
        for stmt in body:  # an argument written in place is copied first: an allocation
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                    stmt.targets[0].id in self.params and isinstance(stmt.value, gast.Call) and \
                    _dotted(stmt.value.func) == f"{stmt.targets[0].id}.copy":
                self.rewrite(stmt, True)
        self.sizer = TapeSizer(self.original, [r.var for r in self.regions.values() if r.kind == "tape"],
                               self.result, self.fn)
        self.place_regions(example_env)
        new_body = self.rewrite_block(body, top=True)
        extra = ([self.result_out] if self.result else []) + [g for _, g, _ in self.grad_outs]
        if not self.is_helper:
            self.scratch, self.layout = self.fresh("scratch"), self.fresh("layout")
            extra += [self.scratch, self.layout]
        prologue = []
        for region in self.regions.values():
            prologue.append(assign(region.var, self.region_value(region), self.fdef.lineno))
        self.fdef.body = self.keep_value(self.place_prologue(new_body, prologue), result_node)
        self.fdef.args.args += [gast.Name(id=e, ctx=gast.Param(), annotation=None, type_comment=None) for e in extra]
        self.fdef.name = self.original.name
        self.check(self.fdef.body)
        return self.fdef

    def inspect_result(self, node):
        ty = self.vartypes.get(node.id) if isinstance(node, gast.Name) else None
        if isinstance(node, gast.Name) and isinstance(ty, types.Array):
            if ty.ndim != 1:
                raise self.error(f"{self.fn.name} returns a {ty.ndim}-D array; device functions return numbers or "
                                 f"1-D arrays", self.fn.tree, hint="return a flat array (reshape it on the host)")
            self.result = node.id
            self.result_out = self.fresh(f"{node.id.lstrip('_')}_out")
            self.array_names.add(node.id)
        elif isinstance(ty, types.BaseTuple) or isinstance(node, gast.Tuple):
            raise self.error(f"{self.fn.name} returns a tuple; device functions return one number or one 1-D array",
                             self.fn.tree, hint="return the parts as one array")
        elif ty is not None and not isinstance(ty, (types.Number, types.Boolean)):
            raise self.error(f"{self.fn.name} returns {ty}", self.fn.tree)

    def find_tapes(self, body):
        for stmt in body:
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            var, value = stmt.targets[0].id, stmt.value
            if isinstance(value, gast.Call) and _dotted(value.func) == "np.empty" and len(value.args) == 2 \
                    and isinstance(value.args[0], gast.Constant):
                self.regions[var] = Region(var, value.args[1].attr, "tape")
            elif isinstance(value, gast.Call) and _dotted(value.func) == "array_stack":
                saved = var[1:-5] if var.endswith("_tape") else var
                where = next((s for s in _walk_stmts(body) if isinstance(s, gast.Expr)
                              and isinstance(s.value, gast.Call) and _dotted(s.value.func) == f"{var}.append"),
                             stmt)
                raise self.error(f"the array '{saved}' is saved on the tape (it is reassigned while the reverse "
                                 f"sweep still needs it), and device code cannot allocate array copies", where,
                                 hint="write the loop over scalars, or into a preallocated output array")
            elif isinstance(value, gast.Call) and _dotted(value.func) == "zeros_like_float" and var not in \
                    {self.bar_of(p) for p in self.params} and self.result and _names_in(value.args[0]) == {self.result}:
                self.regions[var] = Region(var, "float64", "result_bar")
                self.array_names.add(var)

    def bar_of(self, param):
        ret = self.fdef.body[-1].value.elts[1].elts
        for k, g in zip(self.wrt, ret):
            if self.params[k] == param:
                return g.id
        return None

    def place_regions(self, env):
        counts, result_size = self.sizer.run(env)
        slot = 0
        for region in self.regions.values():
            n, dyn = counts[region.var] if region.kind == "tape" else (result_size or (None, True))
            if region.kind == "result_bar" and result_size is None:
                raise self.error(f"the size of the array {self.fn.name} returns cannot be known before the launch",
                                 self.fn.tree, hint="allocate the result with np.empty/np.zeros of a size given by "
                                                    "the arguments' shapes, or build it with np.array([...])")
            if not dyn and n <= LOCAL_LIMIT:
                region.local_size = max(int(n), 1)
            else:
                if self.is_helper:
                    raise self.error(f"helper {self.fn.name} needs a tape whose size depends on its arguments",
                                     self.fn.tree, hint="inline the helper into the caller")
                region.slot = slot
                slot += 1
        self.slots = slot

    def region_value(self, region):
        if region.local_size is not None:
            return _call(_attr(_attr("cuda", "local"), "array"), const(region.local_size), _attr("np", "float64"))
        lo = _sub(self.layout, const(region.slot))
        hi = _sub(self.layout, const(region.slot + 1))
        return _sub(self.scratch, gast.Slice(lower=lo, upper=hi, step=None))

    def keep_value(self, body, result_node):
        """Return the value the forward sweep ends with: the reverse sweep may restore its variable."""
        if self.result or not isinstance(result_node, gast.Name):
            return body
        for k, stmt in enumerate(body):
            if getattr(stmt, "adflow_comment", False) and stmt.value.value == "reverse sweep":
                keep = self.fresh(f"{result_node.id.lstrip('_')}_value")
                body.insert(k, assign(keep, name(result_node.id), stmt.lineno))
                body[-1].value.elts[0] = name(keep)
                break
        return body

    def place_prologue(self, body, prologue):
        # after the declarations the vjp starts with (first comment: "forward sweep")
        for k, stmt in enumerate(body):
            if getattr(stmt, "adflow_comment", False):
                return body[:k] + prologue + body[k:]
        return prologue + body

    # -- statements
    def rewrite_block(self, stmts, top=False):
        out = []
        for stmt in stmts:
            out.extend(self.rewrite(stmt, top))
        return out

    def rewrite(self, stmt, top):
        ln = getattr(stmt, "lineno", None) or self.fdef.lineno
        if isinstance(stmt, gast.If):
            if self.is_growth_check(stmt):
                return []
            new = copy.copy(stmt)
            new.body = self.rewrite_block(stmt.body) or [gast.Pass()]
            new.orelse = self.rewrite_block(stmt.orelse)
            return [new]
        if isinstance(stmt, (gast.For, gast.While)):
            new = copy.copy(stmt)
            new.body = self.rewrite_block(stmt.body) or [gast.Pass()]
            return [new]
        if not isinstance(stmt, gast.Assign):
            return [stmt]
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Name):
            var = target.id
            if var in self.regions and isinstance(value, gast.Call) and \
                    _dotted(value.func) in ("np.empty", "zeros_like_float"):
                if self.regions[var].kind == "tape":
                    return []  # replaced by the region in the prologue
                return _fill_loops(var, 1, const(0.0), self.fresh, ln)
            if isinstance(value, gast.Call) and _dotted(value.func) == "zeros_like_float":
                return self.zero_adjoint(var, value, stmt, ln)
            if isinstance(value, gast.Call) and _dotted(value.func) == "add_cotangent":
                return self.add_cotangent(var, value, ln)
            if var == self.result and isinstance(value, gast.Call):
                return self.result_allocation(value, stmt, ln)
            if var in self.params and isinstance(value, gast.Call) and _dotted(value.func) == f"{var}.copy":
                write = next((s for s in _walk_stmts(self.original.body) if isinstance(s, gast.Assign)
                              and isinstance(s.targets[0], gast.Subscript)
                              and isinstance(s.targets[0].value, gast.Name) and s.targets[0].value.id == var), stmt)
                raise self.error(f"{self.fn.name} writes into its argument '{var}', which the derivative would have "
                                 f"to copy (an allocation)", write,
                                 hint="write the values into a new array you return, or work on scalars")
            if isinstance(value, gast.Call) and _dotted(value.func) == "np.empty" and top and \
                    isinstance(value.args[0], gast.Tuple) and all(isinstance(e, gast.Constant) and e.value == 0
                                                                  for e in value.args[0].elts):
                return self.array_declaration(var, stmt)
            if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) and \
                    value.value.id in self.regions:
                return [self.cast_pop(stmt, self.regions[value.value.id])]
        return [stmt]

    def is_growth_check(self, stmt):
        body = stmt.body
        return (len(body) == 1 and not stmt.orelse and isinstance(body[0], gast.Assign)
                and isinstance(body[0].value, gast.Call) and _dotted(body[0].value.func) == "grow")

    def cast_pop(self, stmt, region):
        if region.dtype in ("float64",):
            return stmt
        new = copy.copy(stmt)
        if region.dtype in ("bool_", "bool"):
            new.value = gast.Compare(left=stmt.value, ops=[gast.NotEq()], comparators=[const(0.0)])
        elif region.dtype.startswith(("int", "uint")):
            new.value = _call("int", stmt.value)
        else:
            new.value = _call(_attr("np", region.dtype), stmt.value)
        return new

    def zero_adjoint(self, var, call, stmt, ln):
        arg = call.args[0]
        ty = self.vartypes.get(arg.id) if isinstance(arg, gast.Name) else None
        if ty is None or isinstance(ty, (types.Number, types.Boolean)):
            new = copy.copy(stmt)
            new.value = const(0.0)
            return [new]
        if any(var == g for _, g, _ in self.grad_outs):
            ndim = next(nd for _, g, nd in self.grad_outs if g == var)
            return _fill_loops(var, ndim, const(0.0), self.fresh, ln)
        raise self.error(f"the adjoint of the array '{arg.id}' would be a new array, and device code cannot "
                         f"allocate", stmt, hint="on the device, differentiate scalar code: read elements of the "
                                                 "arguments and accumulate in numbers")

    def add_cotangent(self, var, call, ln):
        bar, v = call.args
        if var in self.array_names:
            k = self.fresh("_ck")
            body = gast.AugAssign(target=_sub(var, name(k), gast.Store()), op=gast.Add(), value=_sub(copy.deepcopy(v),
                                                                                                        name(k)))
            body.lineno = ln
            loop = gast.For(target=store(k), iter=_call("range", _sub(_attr(var, "shape"), const(0))), body=[body],
                            orelse=[], type_comment=None)
            loop.lineno = ln
            return [loop]
        return [assign(var, gast.BinOp(left=copy.deepcopy(bar), op=gast.Add(), right=copy.deepcopy(v)), ln)]

    def result_allocation(self, call, stmt, ln):
        func = _dotted(call.func) or ""
        short = func.split(".")[-1]
        out = [assign(self.result, name(self.result_out), ln)]
        if short == "array" and call.args and isinstance(call.args[0], (gast.List, gast.Tuple)):
            for k, item in enumerate(call.args[0].elts):
                write = gast.Assign(targets=[_sub(self.result, const(k), gast.Store())], value=copy.deepcopy(item),
                                    type_comment=None)
                write.lineno = ln
                out.append(write)
            return out
        if func.startswith("np.") and short in _ALLOCATORS:
            if short.startswith("empty"):
                return out
            fill = {"zeros": const(0.0), "ones": const(1.0)}.get(short.replace("_like", ""))
            if fill is None:  # full / full_like
                fill = copy.deepcopy(call.args[1])
            return out + _fill_loops(self.result, 1, fill, self.fresh, ln)
        raise self.error(f"the array {self.fn.name} returns is made by {func or 'an expression'}; on the device it "
                         f"is written into an output array, so make it with np.empty/np.zeros/np.array([...]) and "
                         f"fill it", stmt)

    def array_declaration(self, var, stmt):
        if var == self.result:
            return []
        top_level = [s for s in self.original.body if isinstance(s, gast.Assign)
                     and isinstance(s.targets[0], gast.Name) and s.targets[0].id == var]
        if len(top_level) >= 2:
            return []  # declared, then really assigned at the top level: the declaration is not needed
        raise self.error(f"the array '{var}' is assigned inside a loop or branch; device code cannot allocate "
                         f"the placeholder it needs", stmt,
                         hint="work on elements of the arguments (scalars) inside loops")

    # -- what must not remain
    def check(self, stmts):
        for stmt in _walk_stmts(stmts):
            if getattr(stmt, "adflow_comment", False):
                continue
            if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name) and \
                    self.is_array(stmt.target):
                raise self.error(f"'{stmt.target.id} {_op_text(stmt.op)}= ...' is an array operation", stmt,
                                 hint="device code works element by element: write a loop")
            for part in self.expressions(stmt):
                for node in gast.walk(part):
                    self.check_node(node, stmt)

    def expressions(self, stmt):
        if isinstance(stmt, (gast.If, gast.While)):
            return [stmt.test]
        if isinstance(stmt, gast.For):
            return [stmt.iter]
        if isinstance(stmt, gast.Assign):
            return [stmt.value] + [t for t in stmt.targets if not isinstance(t, gast.Name)]
        if isinstance(stmt, gast.AugAssign):
            return [stmt.value, stmt.target]
        if isinstance(stmt, (gast.Expr, gast.Return)):
            return [stmt.value] if stmt.value is not None else []
        return []

    def is_array(self, node):
        return isinstance(node, gast.Name) and (node.id in self.array_names or
                                                isinstance(self.vartypes.get(node.id), types.Array))

    def check_node(self, node, stmt):
        if isinstance(node, (gast.List, gast.ListComp, gast.Dict, gast.Set, gast.DictComp, gast.SetComp)):
            raise self.error(f"a {type(node).__name__.lower()} is built (an allocation)", stmt)
        if isinstance(node, gast.BinOp) and (self.is_array(node.left) or self.is_array(node.right)):
            raise self.error("an arithmetic operation on whole arrays creates a new array (an allocation)", stmt,
                             hint="device code works element by element: write a loop over scalars")
        if isinstance(node, gast.UnaryOp) and self.is_array(node.operand):
            raise self.error("an operation on a whole array creates a new array (an allocation)", stmt)
        if not isinstance(node, gast.Call):
            return
        func = _dotted(node.func) or type(node.func).__name__
        root, _, attr = func.partition(".")
        array_args = [a for a in node.args if self.is_array(a)]
        if func in ("range", "len", "min", "max", "abs", "int", "float", "bool", "cuda.local.array"):
            return
        if root == "math" or func in self.generated_names:
            return
        if root == "np":
            if attr in _ALLOCATORS or attr in ("array", "copy", "arange", "linspace", "eye", "concatenate", "stack"):
                raise self.error(f"np.{attr}(...) allocates an array, which device code cannot do", stmt,
                                 hint="allocate on the host and pass the array in, or compute element by element")
            if array_args:
                raise self.error(f"np.{attr} on a whole array (an array operation that allocates or reduces)", stmt,
                                 hint="device code works element by element: write a loop over scalars")
            return
        if "." in func and root in self.array_names | set(self.vartypes):
            raise self.error(f"the array method .{func.split('.')[-1]}() is not available in device code", stmt,
                             hint="write the loop out element by element")
        if array_args:
            raise self.error(f"{func}(...) on a whole array: the rule for it allocates a new array", stmt,
                             hint="device code works element by element: write a loop over scalars")


def _op_text(op):
    return {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/"}.get(type(op), "?")


# --------------------------------------------------------------------------- building and compiling

def _runtime_names():
    from .. import runtime
    return set(runtime.__all__)


class _CudaBuilder:
    """Wraps :class:`adflow.pipeline.ModuleBuilder` to remember each generated vjp's types."""

    def __init__(self):
        from ..pipeline import ModuleBuilder

        info = self.info = {}

        class Builder(ModuleBuilder):
            def reverse(self, func, argtypes, wrt=None, is_helper=False, output_component=None, name=None):
                generated, prepared = super().reverse(func, argtypes, wrt, is_helper, output_component, name)
                if prepared is not None and generated not in info:
                    if wrt is None:
                        from ..reverse.activity import is_float_type
                        wrt = [k for k, p in enumerate(prepared.fn.params)
                               if is_float_type(prepared.vartypes.get(p))]
                    info[generated] = (prepared, list(wrt), is_helper)
                return generated, prepared

        self.builder = Builder("cuda")


class DeviceFunction:
    """A vjp compiled for the device, with what a caller needs to call it from a kernel.

    ``fn(*args, cotangent, [result_out], *gradient_outs, scratch, layout)`` returns
    ``(value, gradients)`` like the CPU vjp; the adjoints of array arguments are written into
    ``gradient_outs`` (zeroed first), an array result into ``result_out``.  ``scratch`` is this
    thread's 1-D float64 buffer of ``scratch_size(*args)`` values (any stride: ``S[:, i]`` of a
    ``(size, threads)`` array keeps neighbouring threads' accesses together), ``layout`` the int64
    array ``layout(*args)`` (shared by all threads).  See :attr:`signature`.
    """

    def __init__(self, module, name, adapter, source):
        self.module = module
        self.name = name
        self.adapter = adapter
        self.source = source

    @property
    def fn(self):
        return getattr(self.module, self.name)

    @property
    def signature(self):
        a = self.adapter
        parts = list(a.params) + [a.cotangent] + ([a.result_out] if a.result else []) + \
            [g for _, g, _ in a.grad_outs] + [a.scratch, a.layout]
        grads = ", ".join(a.params[k] + "_bar" for k in a.wrt) + ("," if len(a.wrt) == 1 else "")
        return f"{self.name}({', '.join(parts)}) -> (value, ({grads}))"

    def layout(self, *args):
        """Offsets of this call's tapes in the scratch buffer (int64; the last one is its size)."""
        env = _sizing_env(self.adapter.params, args)
        counts, result_size = self.adapter.sizer.run(env)
        sizes = [0] * self.adapter.slots
        for region in self.adapter.regions.values():
            if region.slot is not None:
                n = counts[region.var][0] if region.kind == "tape" else result_size[0]
                sizes[region.slot] = max(int(n), 1)
            elif region.kind == "tape" and counts[region.var][0] > region.local_size:  # pragma: no cover
                raise AssertionError(f"adflow: tape {region.var} outgrew its local array")
        return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)

    def scratch_size(self, *args):
        return int(self.layout(*args)[-1])


def _sizing_env(params, args):
    env = {}
    for p, a in zip(params, args):
        if isinstance(a, _Shape):
            env[p] = (a, True)
        elif hasattr(a, "shape") and len(a.shape) > 0:
            env[p] = (_Shape(a.shape), True)
        elif isinstance(a, (bool, int, float, np.integer, np.floating, np.bool_)):
            env[p] = (a.item() if isinstance(a, np.generic) else a, True)
    return env


_CACHE: dict = {}
_LOCK = threading.RLock()

_GRAD_ROWS = '''
def {name}({params}, out, scratch, layout):
    i = cuda.grid(1)
    if i < {x}.shape[0]:
        {vjp}({row_args}, 1.0, out[i], scratch[:, i], layout)
'''

_JACOBIAN_ROWS = '''
def {name}({params}, seeds, y, jac, scratch, layout):
    # Row i's Jacobian, one reverse sweep per output: row j of J[i] is seeds[j]^T dY[i]/dX[i].
    i = cuda.grid(1)
    if i < {x}.shape[0]:
        for j in range(seeds.shape[0]):
            {vjp}({row_args}, seeds[j], y[i], jac[i, j], scratch[:, i], layout)
'''

_SINGLE = '''
def {name}({params}, cotangent, {outs}scratch, layout, values):
    if cuda.grid(1) == 0:
        r = {vjp}({params}, cotangent, {outs}scratch[:, 0], layout)
{stores}
'''


def _kernel_source(kind, stem, vjp, adapter, wrt):
    params = adapter.params
    x = params[wrt] if wrt is not None else None
    row_args = ", ".join(f"{p}[i]" if k == wrt else p for k, p in enumerate(params))
    name_ = f"{stem}_{kind}"
    if kind == "grad_rows":
        return _GRAD_ROWS.format(name=name_, params=", ".join(params), x=x, vjp=vjp, row_args=row_args)
    if kind == "jacobian_rows":
        return _JACOBIAN_ROWS.format(name=name_, params=", ".join(params), x=x, vjp=vjp, row_args=row_args)
    outs = "".join(f"{o}, " for o in ([adapter.result_out] if adapter.result else [])
                   + [g for _, g, _ in adapter.grad_outs])
    stores = []
    if not adapter.result:
        stores.append("        values[0] = r[0]")
    array_wrt = {k for k, _, _ in adapter.grad_outs}
    for pos, k in enumerate(adapter.wrt):
        if k not in array_wrt:
            stores.append(f"        values[{1 + pos}] = r[1][{pos}]")
    return _SINGLE.format(name=name_, params=", ".join(params), outs=outs, vjp=vjp,
                          stores="\n".join(stores) or "        pass")


class CudaBuild:
    """One function, argument types and wrt, built for the device: the vjp plus its kernels."""

    def __init__(self, func, argtypes, wrt, example_args, batch_arg=None):
        cuda = cuda_module()
        self.cuda = cuda
        wrapper = _CudaBuilder()
        builder = wrapper.builder
        vjp_name, prepared = builder.reverse(func, argtypes, wrt)
        if prepared is None:
            raise UnsupportedSyntaxError(f"{_TARGET}: {getattr(func, '__name__', func)} has user-defined rules "
                                         f"(custom_vjp), which the device target does not run yet",
                                         hint="use target='cpu' for it")
        generated = [f.name for f, _ in builder.functions]
        adapters = {}
        for k, (fdef, header) in enumerate(builder.functions):
            if fdef.name not in wrapper.info:
                raise UnsupportedSyntaxError(f"{_TARGET}: {fdef.name} comes from user-defined rules (custom_vjp), "
                                             f"which the device target does not run yet", hint="use target='cpu'")
            prep, fwrt, is_helper = wrapper.info[fdef.name]
            if is_helper:
                env = {}
            else:
                env = _sizing_env(prep.fn.params, example_args)
            adapter = DeviceAdapter(fdef, prep, fwrt, is_helper, generated)
            new = adapter.run(env)
            builder.functions[k] = (new, header + f"\nadapted for CUDA devices ({_device_note(adapter)})")
            adapters[fdef.name] = adapter
        self.adapter = adapters[vjp_name]
        stem = prepared.fn.name
        self.kernels = {}
        kernel_names = set()
        for kind, arg in (("grad_rows", batch_arg), ("jacobian_rows", batch_arg), ("single", None)):
            if kind != "single" and batch_arg is None:
                continue
            if kind == "grad_rows" and self.adapter.result:
                continue
            if kind == "jacobian_rows" and not self.adapter.result:
                continue
            kname = builder.unique(f"{stem}_{kind}")
            text = _kernel_source(kind, stem, vjp_name, self.adapter, arg).replace(f"def {stem}_{kind}(",
                                                                                  f"def {kname}(")
            kdef = gast.parse(text).body[0]
            builder.functions.insert(0, (kdef, f"CUDA kernel: {kind.replace('_', ' ')}"))
            self.kernels[kind] = kname
            kernel_names.add(kname)
        builder.namespace["cuda"] = cuda
        builder.namespace["_ADFLOW_CUDA_KERNELS"] = frozenset(kernel_names)
        module, self.source, _ = builder.load(f"{stem}_cuda", stem)
        self.module = module
        self.device = DeviceFunction(module, vjp_name, self.adapter, self.source)
        self.prepared = prepared


def _device_note(adapter):
    parts = []
    for r in adapter.regions.values():
        where = f"cuda.local.array({r.local_size})" if r.local_size is not None else f"scratch slot {r.slot}"
        parts.append(f"{r.var}: {where}")
    outs = [g for _, g, _ in adapter.grad_outs] + ([adapter.result_out] if adapter.result else [])
    text = "tapes and work arrays: " + (", ".join(parts) if parts else "none")
    if outs:
        text += "; output arguments " + ", ".join(outs)
    return text


def compile_module(module, names):
    """Compile the generated functions for the device: kernels with ``cuda.jit``, the rest as device functions.

    Called by :meth:`adflow.pipeline.ModuleBuilder.load` for ``target="cuda"``; the functions must
    have been adapted by :class:`DeviceAdapter` first (:class:`CudaBuild` does both).
    """
    cuda = cuda_module()
    kernels = getattr(module, "_ADFLOW_CUDA_KERNELS", None)
    if kernels is None:
        raise AdflowError(f"{_TARGET}: this module was not adapted for the device",
                          hint="build CUDA derivatives through adflow.grad/jacobian(..., target='cuda')")
    from numba.core.registry import CPUDispatcher
    for key, value in list(vars(module).items()):
        if isinstance(value, CPUDispatcher):  # jitted helpers and rules, called from the generated code
            setattr(module, key, cuda.jit(device=True)(value.py_func))
    for fname in names:
        fn = getattr(module, fname)
        setattr(module, fname, cuda.jit(fn) if fname in kernels else cuda.jit(device=True)(fn))


def get_build(func, argtypes, wrt, example_args, batch_arg=None):
    from ..api import _code_identity
    key = (_code_identity(func), tuple(argtypes), tuple(wrt), batch_arg)
    entry = _CACHE.get(key)
    if entry is None:
        with _LOCK:
            entry = _CACHE.get(key)
            if entry is None:
                entry = (CudaBuild(func, argtypes, wrt, example_args, batch_arg), func)
                _CACHE[key] = entry
    return entry[0]


# --------------------------------------------------------------------------- host side: arrays and launches

def _is_device_array(cuda, a):
    return not isinstance(a, np.ndarray) and (hasattr(a, "__cuda_array_interface__") or hasattr(a, "copy_to_host"))


def _numba_type(cuda, a):
    if _is_device_array(cuda, a):
        layout = "C" if a.flags["C_CONTIGUOUS"] else "A"
        return types.Array(numba.from_dtype(a.dtype), a.ndim, layout)
    try:
        return numba.typeof(a)
    except ValueError:
        from ..errors import NonDifferentiableError
        raise NonDifferentiableError(f"cannot pass {type(a).__name__}: adflow takes numbers and arrays") from None


def _row_type(ty):
    return types.Array(ty.dtype, ty.ndim - 1, "C" if ty.layout == "C" else "A")


def _to_device(cuda, a):
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    return a


def _host(a, like_device):
    return a if like_device else a.copy_to_host()


def _launch(kernel, rows, *args):
    blocks = max(1, math.ceil(rows / THREADS_PER_BLOCK))
    kernel[blocks, THREADS_PER_BLOCK](*args)


def _chunks(rows, per_row_values):
    step = max(1, min(rows, SCRATCH_BUDGET // max(8 * per_row_values, 1)))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def _prepare(args):
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            a = np.asarray(a, dtype=float)
        out.append(a)
    return out


class CudaGradFunction:
    """``adflow.grad(f, target="cuda")``: gradients computed by CUDA threads.

    * ``g(*args)``: one thread computes the gradient (checks, small problems);
    * with ``batch=True``, ``g(X, *rest)``: one thread per row of ``X``, row ``i`` of the result
      the gradient of ``f(X[i], *rest)`` with respect to ``X[i]``;
    * ``g.device_for(*args)``: the :class:`DeviceFunction` to call from your own kernels
      (``g.device`` after a call); ``g.source`` the generated code (kernels included).
    """

    def __init__(self, func, wrt=0, has_aux=False, batch=False, with_value=False):
        from ..api import _normalize_wrt
        if has_aux:
            raise ArgumentError(f"has_aux is not supported with {_TARGET}",
                                hint="drop has_aux=True (return the value alone), or use target='cpu'")
        self.func = func
        self.wrt, self._single = _normalize_wrt(wrt)
        self.batch = batch
        self.with_value = with_value
        if batch and (len(self.wrt) != 1 or with_value):
            raise ArgumentError("batch=True takes one wrt argument, without value_and_grad")
        self.target = "cuda"
        self._last = None
        self.__name__ = getattr(func, "__name__", "f")
        self.__doc__ = getattr(func, "__doc__", None)

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        from ..pickling import reduce_derivative
        wrt = self.wrt[0] if self._single else self.wrt
        if self.with_value:
            return reduce_derivative(self, "value_and_grad", self.func, wrt=wrt, target="cuda")
        return reduce_derivative(self, "grad", self.func, wrt=wrt, target="cuda", batch=self.batch)

    # -- builds
    def _build(self, args, batch):
        cuda = cuda_module()
        argtypes = [_numba_type(cuda, a) for a in args]
        example = list(args)
        if batch:
            k = self.wrt[0]
            argtypes[k] = _row_type(argtypes[k])
            example[k] = _Shape(args[k].shape[1:])
        build = get_build(self.func, argtypes, self.wrt, [_example(a) for a in example],
                          self.wrt[0] if batch else None)
        self._last = build
        return build

    def device_for(self, *args):
        """The device function for arguments like ``args`` (one thread's arguments: a row, not a batch)."""
        return self._build(_prepare(args), batch=False).device

    @property
    def device(self):
        if self._last is None:
            raise AttributeError("adflow: call the function once, or use .device_for(*example_args)")
        return self._last.device

    @property
    def source(self):
        if self._last is None:
            raise AttributeError("adflow: call the function once, or use .source_for(*example_args)")
        return self._last.source

    def source_for(self, *args):
        return self._build(_prepare(args), batch=self.batch).source

    # -- calls
    def __call__(self, *args):
        args = _prepare(args)
        if self.batch:
            return self._rows(args)
        return self._one(args)

    def _one(self, args):
        cuda = cuda_module()
        for k in self.wrt:
            if not isinstance(args[k], (float, np.floating, np.ndarray)) and not _is_device_array(cuda, args[k]):
                from ..errors import NonDifferentiableError
                raise NonDifferentiableError(f"argument {k} is {type(args[k]).__name__}, not a float or float array",
                                             hint="pass 1.0, not 1")
        build = self._build(args, batch=False)
        a = build.adapter
        if a.result:
            raise ShapeError(f"grad needs {self.__name__} to return a scalar, but it returns an array",
                             hint="use adflow.jacobian(f, target='cuda') or adflow.vjp")
        value, grads = run_single(build, args, 1.0)
        out = tuple(_cast(g, args[k]) for g, k in zip(grads, a.wrt))
        out = out[0] if self._single else out
        return (value, out) if self.with_value else out

    def _rows(self, args):
        cuda = cuda_module()
        k = self.wrt[0]
        rows = args[k]
        if not hasattr(rows, "shape") or len(rows.shape) < 2 or rows.shape[0] == 0:
            raise ShapeError(f"batch=True needs argument {k} to be an array of rows, got {getattr(rows, 'shape', rows)}")
        on_device = _is_device_array(cuda, rows)
        build = self._build(args, batch=True)
        if build.adapter.result:
            raise ShapeError(f"grad(batch=True) needs {self.__name__} to return a scalar per row",
                             hint="use adflow.jacobian(f, batch=True, target='cuda') for vector outputs")
        row_args = list(args)
        row_args[k] = _Shape(rows.shape[1:])
        layout = build.device.layout(*row_args)
        size = max(int(layout[-1]), 1)
        dargs = [_to_device(cuda, a) for a in args]
        dlayout = cuda.to_device(layout)
        n = rows.shape[0]
        out = cuda.device_array(rows.shape, np.float64)
        kernel = getattr(build.module, build.kernels["grad_rows"])
        for lo, hi in _chunks(n, size):
            part = list(dargs)
            part[k] = dargs[k][lo:hi]
            scratch = cuda.device_array((size, hi - lo), np.float64)
            _launch(kernel, hi - lo, *part, out[lo:hi], scratch, dlayout)
        result = _host(out, on_device)
        return result if on_device else _cast(result, rows)


def _example(a):
    return a


def _cast(g, arg):
    if isinstance(arg, np.ndarray):
        return np.asarray(g, dtype=arg.dtype)
    if isinstance(arg, np.floating):
        return type(arg)(g)
    if isinstance(arg, float):
        return float(g)
    return g


def run_single(build, args, cotangent):
    """One thread: ``(value, gradients)`` of the vjp at ``args`` with ``cotangent`` (host arrays)."""
    cuda = build.cuda
    a = build.adapter
    layout = build.device.layout(*args)
    size = max(int(layout[-1]), 1)
    dargs = [_to_device(cuda, x) for x in args]
    outs = []
    result_out = None
    if a.result:
        m = build.device.layout  # noqa: F841 - the size comes from the sizer
        _, result_size = a.sizer.run(_sizing_env(a.params, args))
        result_out = cuda.device_array(result_size[0], np.float64)
        outs.append(result_out)
    grad_arrays = {}
    for k, g, nd in a.grad_outs:
        arr = cuda.device_array(np.shape(args[k]), np.float64)
        grad_arrays[k] = arr
        outs.append(arr)
    values = cuda.device_array(1 + len(a.wrt), np.float64)
    cot = _to_device(cuda, np.asarray(cotangent, dtype=np.float64)) if np.ndim(cotangent) else float(cotangent)
    kernel = getattr(build.module, build.kernels["single"])
    scratch = cuda.device_array((size, 1), np.float64)
    _launch(kernel, 1, *dargs, cot, *outs, scratch, cuda.to_device(layout), values)
    host_values = values.copy_to_host()
    value = result_out.copy_to_host() if a.result else float(host_values[0])
    grads = []
    for pos, k in enumerate(a.wrt):
        grads.append(grad_arrays[k].copy_to_host() if k in grad_arrays else float(host_values[1 + pos]))
    return value, tuple(grads)


def grad(func=None, wrt=0, has_aux=False, batch=False):
    """``adflow.grad(f, target="cuda", ...)``; see :class:`CudaGradFunction`."""
    if func is None:
        return lambda f: CudaGradFunction(f, wrt, has_aux, batch)
    return CudaGradFunction(func, wrt, has_aux, batch)


def value_and_grad(func=None, wrt=0, has_aux=False):
    if func is None:
        return lambda f: CudaGradFunction(f, wrt, has_aux, with_value=True)
    return CudaGradFunction(func, wrt, has_aux, with_value=True)


def vjp(func, *args, wrt=None):
    """``adflow.vjp(f, *args, target="cuda")``: ``(y, pullback)``, each pullback one thread's reverse sweep."""
    from ..api import _is_float_type, _normalize_wrt
    args = _prepare(args)
    cuda = cuda_module()
    argtypes = [_numba_type(cuda, a) for a in args]
    if wrt is None:
        wrt = tuple(k for k, t in enumerate(argtypes) if _is_float_type(t))
    wrt, _ = _normalize_wrt(wrt)
    build = get_build(func, argtypes, wrt, args)
    a = build.adapter
    probe = np.zeros(a.sizer.run(_sizing_env(a.params, args))[1][0]) if a.result else 0.0
    y, _ = run_single(build, args, probe)

    def pullback(v):
        if np.shape(v) != np.shape(y):
            raise ShapeError(f"the cotangent has shape {np.shape(v)} but the output has shape {np.shape(y)}")
        _, grads = run_single(build, args, v)
        return tuple(_cast(g, args[k]) for g, k in zip(grads, wrt))

    pullback.source = build.source
    return y, pullback


class CudaJacobianFunction:
    """``adflow.jacobian(f, target="cuda", batch=...)``: Jacobians by reverse sweeps inside CUDA threads.

    Forward mode (dual numbers) does not run on the device, so every plan is reverse mode: one
    sweep per output, all of a row's sweeps in that row's thread.
    """

    def __init__(self, func, mode="auto", wrt=0, chunk=None, batch=False):
        if not isinstance(wrt, int):
            raise ArgumentError(f"jacobian takes one argument to differentiate (wrt an int), not {wrt!r}",
                                hint="differentiate one argument at a time: one Jacobian per wrt")
        if mode not in ("auto", "reverse", "forward"):
            raise ArgumentError(f"mode must be 'auto', 'forward' or 'reverse', not {mode!r}",
                                hint="'auto' picks the cheaper of the two from the sizes")
        if mode == "forward":
            raise NotImplementedError(f"adflow: forward-mode Jacobians do not run with {_TARGET} (dual arrays need "
                                      f"numba's runtime on the device); use mode='reverse' or 'auto'")
        self.func = func
        self.mode, self.wrt, self.chunk, self.batch = mode, wrt, chunk, batch
        self.target = "cuda"
        self.plan = None
        self._grad = CudaGradFunction(func, wrt)
        self.__name__ = getattr(func, "__name__", "f")
        self.__doc__ = getattr(func, "__doc__", None)

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        from ..pickling import reduce_derivative
        return reduce_derivative(self, "jacobian", self.func, mode=self.mode, wrt=self.wrt, chunk=self.chunk,
                                 batch=self.batch, target="cuda")

    @property
    def source(self):
        return self._grad.source

    @property
    def device(self):
        return self._grad.device

    def __call__(self, *args):
        args = _prepare(args)
        cuda = cuda_module()
        x = args[self.wrt]
        if not self.batch:
            if not hasattr(x, "shape") or len(x.shape) == 0:
                raise ShapeError("jacobian with target='cuda' differentiates an array argument")
            call = list(args)
            call[self.wrt] = x[None] if isinstance(x, np.ndarray) else x.reshape((1,) + x.shape)
            out = self._rows(call, cuda)
            return out[0]
        if not hasattr(x, "shape") or len(x.shape) != 2:
            raise ShapeError(f"jacobian(batch=True) needs argument {self.wrt} as a 2-D array of rows")
        return self._rows(args, cuda)

    def _rows(self, args, cuda):
        from ..jacobian import plan
        k = self.wrt
        rows = args[k]
        on_device = _is_device_array(cuda, rows)
        build = self._grad._build(args, batch=True)
        a = build.adapter
        row_args = list(args)
        row_args[k] = _Shape(rows.shape[1:])
        n_in = int(np.prod(rows.shape[1:], dtype=np.int64))
        if not a.result:  # a scalar per row: its Jacobian is the gradient
            self.plan = plan(n_in, 1, "reverse")
            return self._grad._rows(args)
        m = a.sizer.run(_sizing_env(a.params, row_args))[1][0]
        self.plan = plan(n_in, m, "reverse")
        layout = build.device.layout(*row_args)
        size = max(int(layout[-1]), 1)
        dargs = [_to_device(cuda, x) for x in args]
        n = rows.shape[0]
        seeds = cuda.to_device(np.eye(m))
        y = cuda.device_array((n, m), np.float64)
        jac = cuda.device_array((n, m) + tuple(rows.shape[1:]), np.float64)
        kernel = getattr(build.module, build.kernels["jacobian_rows"])
        dlayout = cuda.to_device(layout)
        for lo, hi in _chunks(n, size):
            part = list(dargs)
            part[k] = dargs[k][lo:hi]
            scratch = cuda.device_array((size, hi - lo), np.float64)
            _launch(kernel, hi - lo, *part, seeds, y[lo:hi], jac[lo:hi], scratch, dlayout)
        return _host(jac, on_device)


def jacobian(func, mode="auto", wrt=0, chunk=None, batch=False):
    return CudaJacobianFunction(func, mode, wrt, chunk, batch)


def jvp(func, primals, tangents, wrt=None):
    """``adflow.jvp(f, primals, tangents, target="cuda")``: ``J @ t`` from reverse sweeps on the device.

    Dual numbers do not run on the device (see the module doc), so the product is assembled from
    vector-Jacobian products: one sweep for a scalar output (``y_dot = sum_k <grad_k, t_k>``),
    one per output ``j`` for an array output (``y_dot[j] = sum_k <e_j^T J_k, t_k>``).  Same
    numbers as forward mode up to rounding; cost grows with the number of outputs.
    """
    args = _prepare(tuple(primals))
    y, pullback = vjp(func, *args, wrt=wrt)
    cuda = cuda_module()
    if wrt is None:
        from ..api import _is_float_type
        wrt = tuple(k for k, a in enumerate(args) if _is_float_type(_numba_type(cuda, a)))
    wrt = (wrt,) if isinstance(wrt, int) else tuple(wrt)
    tangents = tuple(np.asarray(t, dtype=np.float64) for t in tangents)
    if len(tangents) != len(wrt):
        raise ShapeError(f"jvp got {len(tangents)} tangents for {len(wrt)} differentiated arguments")
    for k, t in zip(wrt, tangents):
        if t.shape != np.shape(args[k]):
            raise ShapeError(f"the tangent for argument {k} has shape {t.shape} but the argument has shape "
                             f"{np.shape(args[k])}", hint="pass one tangent shaped like each differentiated argument")

    def dot(cotangents):
        return float(sum(np.sum(np.asarray(g) * t) for g, t in zip(cotangents, tangents)))

    if np.ndim(y) == 0:
        return y, dot(pullback(1.0))
    y_dot = np.empty(np.shape(y))
    for j in range(y_dot.size):
        seed = np.zeros(y_dot.size)
        seed[j] = 1.0
        y_dot.flat[j] = dot(pullback(seed.reshape(np.shape(y))))
    return y, y_dot

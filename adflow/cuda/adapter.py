"""Rewrite a generated vjp so that it runs as a CUDA device function, which cannot allocate.

The reverse transform's vjp allocates: its tapes start as small arrays and grow, array adjoints
start as ``zeros_like_float(x)``.  :class:`DeviceAdapter` reads the record the transform attaches
(:mod:`adflow.reverse.sweeps`: which tapes there are and what they hold, where adjoints start,
where each sweep begins) and rewrites the function:

* every scalar tape becomes a slice of a per-thread **scratch** buffer passed in by the caller
  (``scratch[layout[k]:layout[k + 1]]``), or a ``cuda.local.array`` when its size is a constant of
  the code (at most :data:`LOCAL_LIMIT` values); the sizes are bounded on the host
  (:mod:`adflow.cuda.sizing`) and the growth checks are dropped.  Values are kept as float64
  (integers and flags are exact in it) and cast back when popped;
* the adjoints of array arguments become **output arguments** the caller provides (zeroed by the
  device function), and an array result is written into an output argument too;
* anything else that allocates (array expressions, copies, array tapes, lists) raises
  :class:`~adflow.UnsupportedSyntaxError` naming the construct and the user's ``file:line``.
"""
from __future__ import annotations

import copy

import gast
from numba.core import types

from ..errors import SourceLocation, UnsupportedSyntaxError
from ..syntax.nodes import (assign, attribute, call, const, dotted_name, name, names_in, param, statements, store,
                            subscript)
from ..targets.cuda import TARGET_TEXT
from .sizing import ALLOCATORS, TapeSizer

LOCAL_LIMIT = 256  # tapes of a constant size up to this many values live in cuda.local.array


def fill_loops(array, ndim, value, fresh, ln):
    """``for i0 in range(a.shape[0]): for i1 ...: a[i0, i1] = value`` (device code has no ``a[:] = v``)."""
    idx = [fresh("_cz") for _ in range(ndim)]
    index = name(idx[0]) if ndim == 1 else gast.Tuple(elts=[name(i) for i in idx], ctx=gast.Load())
    body = [gast.Assign(targets=[subscript(array, index, gast.Store())], value=value, type_comment=None)]
    body[0].lineno = ln
    for d in reversed(range(ndim)):
        loop = gast.For(target=store(idx[d]), iter=call("range", subscript(attribute(array, "shape"), const(d))),
                        body=body, orelse=[], type_comment=None)
        loop.lineno = ln
        body = [loop]
    return body


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

    def __init__(self, fdef, prepared, generated_names):
        self.original = fdef
        self.fdef = copy.deepcopy(fdef)
        self.sweeps = self.fdef.sweeps  # what the reverse transform wrote, for the copy (adflow/reverse/sweeps.py)
        self.fn = prepared.fn
        self.vartypes = dict(prepared.vartypes)
        self.wrt = list(self.sweeps.wrt)
        self.is_helper = self.sweeps.is_helper
        self.generated_names = set(generated_names)
        self.taken = names_in(fdef) | {a.id for a in fdef.args.args}
        self.params = list(self.sweeps.params)
        self.cotangent = self.sweeps.cotangent
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
        return UnsupportedSyntaxError(f"{TARGET_TEXT}: {what}", self.location(node), hint=hint)

    # -- entry
    def run(self, example_env):
        body = self.fdef.body
        ret = body[-1]
        assert isinstance(ret, gast.Return)
        result_node = ret.value.elts[0]
        self.inspect_result(result_node)
        self.find_tapes(body)
        for k, g in zip(self.wrt, self.sweeps.gradients):
            ty = self.vartypes.get(self.params[k])
            if isinstance(ty, types.Array):
                self.grad_outs.append((k, g, ty.ndim))
                self.array_names.add(g)
        if self.is_helper and (self.result or self.grad_outs):
            raise self.error(f"helper {self.fn.name} takes or returns arrays; helpers on the device take and "
                             f"return numbers only", self.fn.tree, hint="inline the helper into the caller")
        if self.sweeps.copied:  # an argument written in place is copied first: an allocation
            raise self.written_argument(self.sweeps.copied[0])
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
        self.fdef.args.args += [param(e) for e in extra]
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
        for tape in self.sweeps.tapes:
            if tape.holds_scalars:
                self.regions[tape.name] = Region(tape.name, tape.dtype, "tape")
            elif tape.dtype == "array":
                where = next((s for s in statements(body) if isinstance(s, gast.Expr)
                              and isinstance(s.value, gast.Call) and dotted_name(s.value.func) == f"{tape.name}.append"),
                             self.fdef)
                raise self.error(f"the array '{tape.saves}' is saved on the tape (it is reassigned while the reverse "
                                 f"sweep still needs it), and device code cannot allocate array copies", where,
                                 hint="write the loop over scalars, or into a preallocated output array")
        result_bar = self.sweeps.adjoints.get(self.result) if self.result else None
        if result_bar is not None and result_bar not in self.sweeps.gradients:
            self.regions[result_bar] = Region(result_bar, "float64", "result_bar")
            self.array_names.add(result_bar)

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
            return call(attribute(attribute("cuda", "local"), "array"), const(region.local_size), attribute("np", "float64"))
        lo = subscript(self.layout, const(region.slot))
        hi = subscript(self.layout, const(region.slot + 1))
        return subscript(self.scratch, gast.Slice(lower=lo, upper=hi, step=None))

    def keep_value(self, body, result_node):
        """Return the value the forward sweep ends with: the reverse sweep may restore its variable."""
        if self.result or not isinstance(result_node, gast.Name):
            return body
        k = _position(body, self.sweeps.reverse_sweep)
        keep = self.fresh(f"{result_node.id.lstrip('_')}_value")
        body.insert(k, assign(keep, name(result_node.id), self.sweeps.reverse_sweep.lineno))
        body[-1].value.elts[0] = name(keep)
        return body

    def place_prologue(self, body, prologue):
        """The regions are bound where the forward sweep starts (after the declarations)."""
        k = _position(body, self.sweeps.forward_sweep)
        return body[:k] + prologue + body[k:]

    # -- statements
    def rewrite_block(self, stmts, top=False):
        out = []
        for stmt in stmts:
            out.extend(self.rewrite(stmt, top))
        return out

    def rewrite(self, stmt, top):
        ln = getattr(stmt, "lineno", None) or self.fdef.lineno
        if isinstance(stmt, gast.If):
            if self.sweeps.is_growth_check(stmt):
                return []  # device tapes have the size the host computed
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
            region = self.regions.get(var)
            if region is not None and region.kind == "tape" and self.sweeps.creates_tape(stmt):
                return []  # replaced by the region in the prologue
            if region is not None and isinstance(value, gast.Call) and dotted_name(value.func) == "zeros_like_float":
                return fill_loops(var, 1, const(0.0), self.fresh, ln)  # the result's adjoint starts at zero
            if isinstance(value, gast.Call) and dotted_name(value.func) == "zeros_like_float":
                return self.zero_adjoint(var, value, stmt, ln)
            if isinstance(value, gast.Call) and dotted_name(value.func) == "add_cotangent":
                return self.add_cotangent(var, value, ln)
            if var == self.result and isinstance(value, gast.Call):
                return self.result_allocation(value, stmt, ln)
            if top and var in self.sweeps.declared and isinstance(value, gast.Call):
                return self.array_declaration(var, stmt)
            tape = self.sweeps.popped_tape(stmt)
            if tape is not None and tape.name in self.regions:
                return [self.cast_pop(stmt, self.regions[tape.name])]
        return [stmt]

    def cast_pop(self, stmt, region):
        if region.dtype in ("float64",):
            return stmt
        new = copy.copy(stmt)
        if region.dtype in ("bool_", "bool"):
            new.value = gast.Compare(left=stmt.value, ops=[gast.NotEq()], comparators=[const(0.0)])
        elif region.dtype.startswith(("int", "uint")):
            new.value = call("int", stmt.value)
        else:
            new.value = call(attribute("np", region.dtype), stmt.value)
        return new

    def zero_adjoint(self, var, call_node, stmt, ln):
        arg = call_node.args[0]
        ty = self.vartypes.get(arg.id) if isinstance(arg, gast.Name) else None
        if ty is None or isinstance(ty, (types.Number, types.Boolean)):
            new = copy.copy(stmt)
            new.value = const(0.0)
            return [new]
        if any(var == g for _, g, _ in self.grad_outs):
            ndim = next(nd for _, g, nd in self.grad_outs if g == var)
            return fill_loops(var, ndim, const(0.0), self.fresh, ln)
        raise self.error(f"the adjoint of the array '{arg.id}' would be a new array, and device code cannot "
                         f"allocate", stmt, hint="on the device, differentiate scalar code: read elements of the "
                                                 "arguments and accumulate in numbers")

    def add_cotangent(self, var, call_node, ln):
        bar, v = call_node.args
        if var in self.array_names:
            k = self.fresh("_ck")
            body = gast.AugAssign(target=subscript(var, name(k), gast.Store()), op=gast.Add(), value=subscript(copy.deepcopy(v),
                                                                                                        name(k)))
            body.lineno = ln
            loop = gast.For(target=store(k), iter=call("range", subscript(attribute(var, "shape"), const(0))), body=[body],
                            orelse=[], type_comment=None)
            loop.lineno = ln
            return [loop]
        return [assign(var, gast.BinOp(left=copy.deepcopy(bar), op=gast.Add(), right=copy.deepcopy(v)), ln)]

    def result_allocation(self, call_node, stmt, ln):
        func = dotted_name(call_node.func) or ""
        short = func.split(".")[-1]
        out = [assign(self.result, name(self.result_out), ln)]
        if short == "array" and call_node.args and isinstance(call_node.args[0], (gast.List, gast.Tuple)):
            for k, item in enumerate(call_node.args[0].elts):
                write = gast.Assign(targets=[subscript(self.result, const(k), gast.Store())], value=copy.deepcopy(item),
                                    type_comment=None)
                write.lineno = ln
                out.append(write)
            return out
        if func.startswith("np.") and short in ALLOCATORS:
            if short.startswith("empty"):
                return out
            fill = {"zeros": const(0.0), "ones": const(1.0)}.get(short.replace("_like", ""))
            if fill is None:  # full / full_like
                fill = copy.deepcopy(call_node.args[1])
            return out + fill_loops(self.result, 1, fill, self.fresh, ln)
        raise self.error(f"the array {self.fn.name} returns is made by {func or 'an expression'}; on the device it "
                         f"is written into an output array, so make it with np.empty/np.zeros/np.array([...]) and "
                         f"fill it", stmt)

    def written_argument(self, var):
        write = next((s for s in statements(self.original.body) if isinstance(s, gast.Assign)
                      and isinstance(s.targets[0], gast.Subscript)
                      and isinstance(s.targets[0].value, gast.Name) and s.targets[0].value.id == var), self.original)
        return self.error(f"{self.fn.name} writes into its argument '{var}', which the derivative would have "
                          f"to copy (an allocation)", write,
                          hint="write the values into a new array you return, or work on scalars")

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
        for stmt in statements(stmts):
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
        func = dotted_name(node.func) or type(node.func).__name__
        root, _, attr = func.partition(".")
        array_args = [a for a in node.args if self.is_array(a)]
        if func in ("range", "len", "min", "max", "abs", "int", "float", "bool", "cuda.local.array"):
            return
        if root == "math" or func in self.generated_names:
            return
        if root == "np":
            if attr in ALLOCATORS or attr in ("array", "copy", "arange", "linspace", "eye", "concatenate", "stack"):
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


def _position(body, marker) -> int:
    """Where the statement ``marker`` (one the reverse transform's record names) stands in ``body``."""
    return next(k for k, stmt in enumerate(body) if stmt is marker)


def device_note(adapter):
    """The header comment's note on where a device function keeps its tapes and outputs."""
    parts = []
    for r in adapter.regions.values():
        where = f"cuda.local.array({r.local_size})" if r.local_size is not None else f"scratch slot {r.slot}"
        parts.append(f"{r.var}: {where}")
    outs = [g for _, g, _ in adapter.grad_outs] + ([adapter.result_out] if adapter.result else [])
    text = "tapes and work arrays: " + (", ".join(parts) if parts else "none")
    if outs:
        text += "; output arguments " + ", ".join(outs)
    return text

"""Arrays of duals in numba: indexing, shape queries, allocation-like calls, and the
non-elementwise primitives (reductions, linear algebra) generated from the tangent rules.

Indexing mirrors the Python :class:`~adflow.duals.dual.DualArray`: the value array is indexed
with ``idx`` and the tangent array with ``idx + (slice(None),)``, so an element index yields a
scalar dual (its tangent row becomes a tuple) and anything else a dual-array view.

Non-elementwise primitives (``np.sum``, ``np.dot``, ``@``, ``np.linalg.solve``...) apply their
tangent rule (a function of one direction, from :mod:`adflow.duals.formulas`) to each of the k
directions in a loop::

    def impl(a, b):
        a_v = value_of(a)
        b_v = value_of(b)
        ans = primal(a_v, b_v)
        t = tangent_buffer(ans, 3)
        for j in range(3):
            acc = tangent_a(a_v, b_v, direction(a, j), ans)
            acc = acc + tangent_b(a_v, b_v, direction(b, j), ans)
            store_direction(t, j, acc)
        return wrap(ans, t, 3)

Static parameters (``axis``) must be ``None`` in numba (an integer axis works where numba's own
function takes one, i.e. ``np.sum``).
"""
from __future__ import annotations

import functools
import operator

import numpy as np
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import lower_builtin, overload, overload_attribute, overload_method, register_jitable

from adflow.rules.primitives import method_primitives

from ..backends.cache_files import CACHED, helper_function, overload_cached_apart
from ..backends.symbols import distinct, exec_function
from . import formulas
from .helpers import value_of
from .numba_dual import DualArrayType, DualType, new_dual, new_dual_array
from .numba_elementwise import common_k, kind_of
from .numba_tuples import tup_from_row, tup_zeros

# ---------------------------------------------------------------------------- small jitted helpers
# Stubs whose bodies are the overloads below; they exist for jitted code only.


def tangent_index(idx):
    """The index into ``tangents`` matching ``idx`` into ``value``: ``idx + (slice(None),)``."""
    raise NotImplementedError("jitted code only")


def wrap(value, tangents, like):
    """A scalar dual for a number ``value``, a dual array for an array (``k`` from ``like``)."""
    raise NotImplementedError("jitted code only")


def tangent_buffer(ans, k):
    """Zeros of shape ``np.shape(ans) + (k,)``."""
    raise NotImplementedError("jitted code only")


def direction(x, j):
    """Direction ``j`` of the tangents of ``x``: a number or a contiguous array like the value."""
    raise NotImplementedError("jitted code only")


def store_direction(t, j, v):
    """``t[..., j] = v``."""
    raise NotImplementedError("jitted code only")


@overload(tangent_index)
def _tangent_index(idx):
    if isinstance(idx, types.BaseTuple):
        return lambda idx: idx + (slice(None),)
    return lambda idx: (idx, slice(None))


@overload(wrap)
def _wrap(value, tangents, like):
    if isinstance(value, types.Array):
        return lambda value, tangents, like: new_dual_array(value, tangents, like)
    if isinstance(value, (types.Number, types.Boolean)):
        return lambda value, tangents, like: new_dual(value, tup_from_row(tangents, like))


@overload(tangent_buffer)
def _tangent_buffer(ans, k):
    if isinstance(ans, types.Array):
        return lambda ans, k: np.zeros(ans.shape + (k,))
    return lambda ans, k: np.zeros(k)


def _loops(ndim: int, shape: str, body: str) -> str:
    """Source of ``ndim`` nested loops ``i0, i1, ...`` over ``shape`` around ``body``."""
    lines, indent = [], "    "
    for d in range(ndim):
        lines.append(f"{indent}for i{d} in range({shape}[{d}]):")
        indent += "    "
    return "\n".join(lines + [indent + body]) + "\n"


@functools.cache
def _direction_copy(ndim: int):
    # An explicit copy loop: ``np.ascontiguousarray(t[..., j])`` costs seconds of compilation.
    at = "".join(f"i{d}, " for d in range(ndim))
    source = (
        "def impl(x, j):\n    t = x.tangents\n    shape = x.value.shape\n"
        "    out = np.empty(shape)\n" + _loops(ndim, "shape", f"out[{at}] = t[{at}j]")
        + "    return out\n"
    )
    return exec_function(source, {"np": np}, f"tangent direction, ndim={ndim}")


@functools.cache
def _direction_store(ndim: int):
    at = "".join(f"i{d}, " for d in range(ndim))
    source = "def impl(t, j, v):\n    shape = v.shape\n" + _loops(ndim, "shape", f"t[{at}j] = v[{at}]")
    return exec_function(source, {}, f"store direction, ndim={ndim}")


@overload(direction)
def _direction(x, j):
    if isinstance(x, DualArrayType):
        return _direction_copy(x.ndim)
    if isinstance(x, DualType):
        return lambda x, j: x.tangents[j]


@overload(store_direction)
def _store_direction(t, j, v):
    if t.ndim == 1:

        def store_number(t, j, v):
            t[j] = v

        return store_number
    return _direction_store(t.ndim - 1)


# ----------------------------------------------------------------------------- shape and size


@overload(len)
def _len(a):
    if isinstance(a, DualArrayType):
        return lambda a: len(a.value)


@overload_attribute(DualArrayType, "shape")
def _shape(a):
    return lambda a: a.value.shape


@overload_attribute(DualArrayType, "size")
def _size(a):
    return lambda a: a.value.size


@overload_attribute(DualArrayType, "ndim")
def _ndim(a):
    return lambda a: a.value.ndim


@overload_attribute(DualArrayType, "k")
@overload_attribute(DualType, "k")
def _k(a):
    K = a.k
    return lambda a: K


# ----------------------------------------------------------------------------------- indexing


def _is_element_index(idx, ndim: int) -> bool:
    if isinstance(idx, types.Integer):
        return ndim == 1
    return (
        isinstance(idx, types.BaseTuple)
        and len(idx) == ndim
        and all(isinstance(i, types.Integer) for i in idx)
    )


@functools.cache
def _element_access(ndim: int, k: int, store: bool):
    """Get or set one element, written out for ``ndim`` and ``k`` (the hot path of user loops).

    For a 2-D array with k=2 the getter is::

        def impl(a, idx):
            i0, i1 = idx
            t = a.tangents
            return new_dual(a.value[i0, i1], (t[i0, i1, 0], t[i0, i1, 1], ))

    Spelling the element out avoids the slicing and helper calls of the general path, so it
    compiles in a fraction of the time and leaves LLVM only scalar loads and stores.
    """
    unpack = "    i0 = idx\n" if ndim == 1 else f"    {', '.join(f'i{d}' for d in range(ndim))}, = idx\n"
    at = ", ".join(f"i{d}" for d in range(ndim))
    if store:
        body = f"    a.value[{at}] = item.value\n    t = a.tangents\n    u = item.tangents\n"
        body += "".join(f"    t[{at}, {j}] = u[{j}]\n" for j in range(k))
        source = f"def impl(a, idx, item):\n{unpack}{body}"
    else:
        loads = "".join(f"t[{at}, {j}], " for j in range(k))
        source = (
            f"def impl(a, idx):\n{unpack}    t = a.tangents\n"
            f"    return new_dual(a.value[{at}], ({loads}))\n"
        )
    return helper_function(source, {"new_dual": new_dual}, f"dual array element, ndim={ndim}, k={k}")


def _getitem(a, idx):
    if not isinstance(a, DualArrayType):
        return None
    if _is_element_index(idx, a.ndim):
        return _element_access(a.ndim, a.k, store=False)
    return lambda a, idx: wrap(a.value[idx], a.tangents[tangent_index(idx)], a)


def _setitem(a, idx, item):
    if not isinstance(a, DualArrayType):
        return None
    if isinstance(item, (DualType, DualArrayType)) and item.k != a.k:
        raise TypingError(f"adflow: cannot store a dual with {item.k} directions into {a.k}")
    if _is_element_index(idx, a.ndim):
        if isinstance(item, DualType):
            return _element_access(a.ndim, a.k, store=True)
        if isinstance(item, (types.Number, types.Boolean)):

            def set_element_number(a, idx, item):
                a.value[idx] = item
                a.tangents[tangent_index(idx)] = 0.0

            return set_element_number
        return None
    if isinstance(item, DualArrayType):

        def set_slice(a, idx, item):
            assign(a.value[idx], item.value)
            assign(a.tangents[tangent_index(idx)], item.tangents)

        return set_slice
    if isinstance(item, DualType):

        def set_slice_dual(a, idx, item):
            assign(a.value[idx], item.value)
            assign(a.tangents[tangent_index(idx)], np.array(item.tangents))

        return set_slice_dual
    if isinstance(item, (types.Array, types.Number, types.Boolean)):

        def set_slice_constant(a, idx, item):
            assign(a.value[idx], item)
            assign(a.tangents[tangent_index(idx)], 0.0)

        return set_slice_constant


# An element's get and set are helper modules (cached on disk); slices are closures (not cached).
overload_cached_apart(functools.partial(overload, operator.getitem), _getitem)
overload_cached_apart(functools.partial(overload, operator.setitem), _setitem)


def assign(dst, src):
    """``dst[...] = src`` with NumPy broadcasting, for a view ``dst``; compiled, a loop nest that
    reads a copy of ``src`` where its memory may meet ``dst``'s (``b[1:] = b[:-1]``), as NumPy does."""
    dst[...] = src


@register_jitable
def memory_extent(a):
    """The first and one-past-last byte addresses that a strided array can touch."""
    lo = np.int64(a.ctypes.data)
    hi = lo
    for axis in range(a.ndim):
        if a.shape[axis] == 0:
            return lo, lo
        span = (a.shape[axis] - 1) * a.strides[axis]
        if span < 0:
            lo += span
        else:
            hi += span
    return lo, hi + a.itemsize


@register_jitable
def may_overlap(a, b):
    a_lo, a_hi = memory_extent(a)
    b_lo, b_hi = memory_extent(b)
    return b_lo < a_hi and a_lo < b_hi


@functools.cache
def _assign_impl(dst_ndim: int, src_ndim: int):
    # Nested loops rather than numba's slice assignment, whose general machinery (including the
    # formatting of its error messages) takes seconds to compile.
    offset = dst_ndim - src_ndim
    lines = ["def impl(dst, src):", "    d = dst.shape"]
    if src_ndim:
        lines.append("    s = src.shape")
        for axis in range(src_ndim):
            lines.append(f"    if s[{axis}] != 1 and s[{axis}] != d[{axis + offset}]:")
            lines.append("        raise ValueError('could not broadcast input array into the slice')")
        index = ", ".join(f"min(i{axis + offset}, s[{axis}] - 1)" for axis in range(src_ndim))
        value = f"src[{index}]"
        # A forward element loop over memory it also writes would read what it wrote.
        lines.append("    if may_overlap(dst, src):")
        lines.append("        src = src.copy()")
    else:
        value = "src"
    at = "".join(f"i{axis}, " for axis in range(dst_ndim))
    source = "\n".join(lines) + "\n" + _loops(dst_ndim, "d", f"dst[{at}] = {value}")
    return helper_function(source, {"may_overlap": may_overlap}, f"assign {src_ndim}-d into {dst_ndim}-d")


@overload(assign, jit_options=CACHED)  # the loop nests are cached on disk (cache_files.helper_function)
def _assign(dst, src):
    if not isinstance(dst, types.Array):
        return None
    src_ndim = src.ndim if isinstance(src, types.Array) else 0
    if src_ndim > dst.ndim:
        raise TypingError("adflow: cannot assign an array into a slice with fewer dimensions")
    return _assign_impl(dst.ndim, src_ndim)


# ------------------------------------------------------------------ allocations like a dual array


def _register_like(function, values_fn):
    @overload(function)
    def _like(a):
        if isinstance(a, DualArrayType):
            return distinct(lambda a: new_dual_array(values_fn(a.value), np.zeros_like(a.tangents), a),
                            values_fn.__name__)
        if isinstance(a, DualType):
            return distinct(lambda a: new_dual(0.0, tup_zeros(a)), values_fn.__name__)


_register_like(np.zeros_like, np.zeros_like)
_register_like(np.empty_like, np.empty_like)
_register_like(np.ones_like, np.ones_like)


# --------------------------------------------------- non-elementwise primitives from tangent rules


def _is_none(ty) -> bool:
    return isinstance(ty, (types.NoneType, types.Omitted)) or ty is None


@functools.cache
def _rule_impl(function, name: str, kinds: tuple, static_given: tuple, k: int, chunked: bool):
    sig = formulas.signature(name)
    params, static = sig.params, tuple(sig.static)
    header = ", ".join(params + tuple(f"{s}=None" for s in static))
    values = ", ".join(f"{p}_v" for p in params)
    static_args = ", ".join(s if given else "None" for s, given in zip(static, static_given))
    primal_static = ", ".join(s for s, given in zip(static, static_given) if given)
    lines = [f"def impl({header}):"]
    lines += [f"    {p}_v = value_of({p})" for p in params]
    lines.append(f"    ans = primal({values}{', ' + primal_static if primal_static else ''})")
    if chunked:
        # All k directions in one call per argument (a matrix product on the tangent arrays).
        terms = [f"chunk_{p}({values}, {p}.tangents, ans{', ' + static_args if static else ''})"
                 for p, kind in zip(params, kinds) if kind == "dual_array"]
        lines.append(f"    return wrap(ans, {' + '.join(terms)}, {k})")
        namespace = {"primal": function, "value_of": value_of, "wrap": wrap}
        namespace.update({f"chunk_{p}": formulas.chunk_tangent_function(name, p) for p in params})
        return helper_function("\n".join(lines) + "\n", namespace,
                               f"dual chunk rule {name} of {getattr(function, '__name__', function)}")
    lines.append(f"    t = tangent_buffer(ans, {k})")
    lines.append(f"    for j in range({k}):")
    first = True
    for p, kind in zip(params, kinds):
        if kind not in ("dual", "dual_array"):
            continue
        term = f"tangent_{p}({values}, direction({p}, j), ans{', ' + static_args if static else ''})"
        lines.append(f"        acc = {term}" if first else f"        acc = acc + {term}")
        first = False
    lines.append("        store_direction(t, j, acc)")
    lines.append(f"    return wrap(ans, t, {k})")
    namespace = {
        "primal": function, "value_of": value_of, "tangent_buffer": tangent_buffer,
        "direction": direction, "store_direction": store_direction, "wrap": wrap,
    }
    namespace.update({f"tangent_{p}": formulas.tangent_function(name, p) for p in params})
    return helper_function("\n".join(lines) + "\n", namespace,
                           f"dual rule {name} of {getattr(function, '__name__', function)}")


def _passive_kind(ty):
    # Non-array parameters such as reshape's ``shape`` (an integer or a tuple of integers).
    if isinstance(ty, types.BaseTuple) and all(isinstance(t, types.Integer) for t in ty):
        return "number"
    return kind_of(ty)


def _choose_rule(function, name: str, argtypes, statictypes):
    kinds = tuple(_passive_kind(t) for t in argtypes)
    if None in kinds or "dual_array" not in kinds and not (name in _OF_SCALAR_DUALS and "dual" in kinds):
        return None
    static_given = []
    for s, ty in zip(formulas.signature(name).static, statictypes):
        if _is_none(ty):
            static_given.append(False)
        elif isinstance(ty, types.Integer):
            static_given.append(True)
        else:
            raise TypingError(f"adflow: {name}({s}={ty}) is not supported on dual arrays in numba")
    for param, kind in zip(formulas.signature(name).params, kinds):
        if kind in ("dual", "dual_array") and formulas.tangent_function(name, param) is None:
            raise TypingError(f"adflow: {name} has no tangent rule for {param}")
    # The chunk form applies when every dual is an array and the other operands float arrays.
    chunked = all(
        formulas.chunk_tangent_function(name, param) is not None
        if kind == "dual_array" else kind == "array" and isinstance(ty.dtype, types.Float)
        for param, kind, ty in zip(formulas.signature(name).params, kinds, argtypes)
    )
    return _rule_impl(function, name, kinds, tuple(static_given), common_k(argtypes), chunked)


def _rule_typer(function, name: str):
    """A typer with the primitive's parameters (``x, axis=None``), as numba requires."""
    sig = formulas.signature(name)
    header = ", ".join(sig.params + tuple(f"{s}=None" for s in sig.static))
    source = (
        f"def typer({header}):\n"
        f"    return choose(function, name, [{', '.join(sig.params)}], "
        f"[{', '.join(sig.static)}])\n"
    )
    namespace = {"choose": _choose_rule, "function": function, "name": name}
    exec(source, namespace)
    return namespace["typer"]


# Primitives of arrays that numba's own NumPy supports, so their primal runs in jitted code.
_NUMBA_ARRAY_RULES = (
    "sum", "mean", "prod", "amax", "amin", "dot", "matmul", "outer", "cross", "vdot", "trace", "transpose",
    "inv", "solve", "det", "norm", "ravel", "cumsum", "roll", "copy", "reshape", "atleast_1d", "atleast_2d", "atleast_3d",
    "append",
)
# Those of them that make an array of dual numbers too (np.atleast_1d(x[0]), np.append(a, x[0])).
_OF_SCALAR_DUALS = ("atleast_1d", "atleast_2d", "atleast_3d", "append")


def register_all() -> None:
    # The rules' implementations are all helper modules (_rule_impl): cached on disk.
    for name in _NUMBA_ARRAY_RULES:
        for function in formulas.functions_of(name):
            if function is np.asarray:  # asarray(d) is d itself, not a copy: below
                continue
            overload(function, jit_options=CACHED)(_rule_typer(function, name))
    overload(np.asarray)(_asarray_of_dual)
    for method, name in method_primitives.items():
        if name in _NUMBA_ARRAY_RULES:
            primal = formulas.primal_function(name)
            if name == "matmul":
                primal = operator.matmul
            if method != "reshape":
                overload_method(DualArrayType, method, jit_options=CACHED)(_rule_typer(primal, name))
    overload_method(DualArrayType, "reshape")(_reshape_method)
    overload_attribute(DualArrayType, "T")(_rule_typer(np.transpose, "transpose"))


def _asarray_of_dual(a, dtype=None):
    if isinstance(a, DualArrayType) and _is_none(dtype):
        return lambda a, dtype=None: a
    return None


@functools.cache
def _jitable(rule):
    # The rule implementations are cached per signature; register each with numba once, not per typing.
    return register_jitable(rule)


def _reshape_method(a, d0, d1=None, d2=None, d3=None):
    # d.reshape((3, 1)) and d.reshape(3, 1) both mean np.reshape(d, (3, 1)), as for arrays (up to
    # 4 axes: numba's star-argument methods do not lower here).
    extra = [d for d in (d1, d2, d3) if not _is_none(d)]
    shape = d0 if not extra else types.UniTuple(types.intp, 1 + len(extra))
    rule = _choose_rule(np.reshape, "reshape", [a, shape], [])
    if rule is None:
        return None
    reshape = _jitable(rule)
    if not extra:
        return lambda a, d0, d1=None, d2=None, d3=None: reshape(a, d0)
    if len(extra) == 1:
        return lambda a, d0, d1=None, d2=None, d3=None: reshape(a, (d0, d1))
    if len(extra) == 2:
        return lambda a, d0, d1=None, d2=None, d3=None: reshape(a, (d0, d1, d2))
    return lambda a, d0, d1=None, d2=None, d3=None: reshape(a, (d0, d1, d2, d3))


# numba types np.ravel(x) itself, as x.ravel() (which the method table above answers for dual
# arrays), but lowers it for plain arrays only: lower the dual-array case as the method call.
@lower_builtin(np.ravel, DualArrayType)
def _lower_np_ravel(context, builder, sig, args):
    return context.compile_internal(builder, lambda a: a.ravel(), sig, args)


register_all()

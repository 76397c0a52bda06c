"""Transcendental functions over arrays, four at a time, through glibc's vector math library.

numba evaluates ``np.tanh`` over an array as one scalar libm call per element.  glibc's libmvec
has AVX2 versions that take four doubles at once (``_ZGVdN4v_tanh``).  Measured in a numba loop
on this project's 2-core EPYC:

* tanh: 18 ns per element with libm, 3.6 ns with libmvec;
* cos: 10 ns with libm, 1.8 ns with libmvec.

libmvec's results are within 4 ulp of the correctly rounded value (glibc's documented bound);
against NumPy's values we measured at most 3 ulp.

Two places use them:

* the flat elementwise loops of forward mode (:mod:`adflow.duals.numba_elementwise`) fill a
  primitive's value, and the functions its partials call (``sin``'s ``cos``), with :func:`filler`;
* generated code for the CPU calls ``vector_math.cos(x)`` where the transforms wrote ``np.cos(x)``
  (:func:`with_vector_calls`): on a C-contiguous float64 array that is one fill, on anything else
  (a number, a dual, a strided view) it is ``np.cos(x)`` itself.

Every element goes through the vector function, the last one to three padded, so an element's
value never depends on where it sits in the array.

It is used only when all of these hold:

* the C library is glibc, and its libmvec exports the symbol (sin, cos, exp, log since glibc
  2.22; the rest since 2.35);
* numba compiles for the host CPU (``NUMBA_CPU_NAME`` unset: portable code cannot assume AVX2),
  and the host has AVX2;
* ``ADFLOW_VECTOR_MATH`` is not ``0``.

Elsewhere the loops call libm once per element, as the user's numba code does.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import gast
import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload, register_jitable

from ..syntax.nodes import copy_tree
from .cache_files import CACHED, helper_function
from .symbols import exec_function

# NumPy's name for each function (the primitive's name) -> C's name, as libmvec spells it.
C_NAMES = {
    "exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2", "log10": "log10",
    "log1p": "log1p", "cbrt": "cbrt", "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin",
    "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
}


def _symbol(name: str) -> str:
    """The AVX2 variant's symbol in glibc's vector ABI: 4 lanes (``N4``), one vector argument (``v``)."""
    return f"_ZGVdN4v_{C_NAMES[name]}"


@functools.cache
def _library() -> ctypes.CDLL | None:
    """libmvec, loaded into the process so that compiled code (cached code too) resolves its symbols."""
    path = ctypes.util.find_library("mvec")
    if path is None:
        return None
    try:
        library = ctypes.CDLL(path)
        llvm.load_library_permanently(path)
    except OSError:
        return None
    return library


def enabled() -> bool:
    """Whether the conditions in this module's docstring hold (the library aside)."""
    if os.environ.get("ADFLOW_VECTOR_MATH", "1") == "0":
        return False
    if numba.config.CPU_NAME not in (None, "", "host") or numba.config.CPU_FEATURES:
        return False
    return bool(llvm.get_host_cpu_features().get("avx2"))


@functools.cache
def available() -> frozenset[str]:
    """The functions (NumPy names) computed four at a time in this process."""
    library = _library()  # loaded even when disabled: code cached by another process may call it
    if library is None or not enabled():
        return frozenset()
    return frozenset(name for name in C_NAMES if hasattr(library, _symbol(name)))


def has(name: str) -> bool:
    return name in available()


@functools.cache
def _four_wide(symbol: str):
    """An intrinsic ``(a, b, c, d) -> (f(a), f(b), f(c), f(d))`` calling ``symbol`` once."""
    vector = ir.VectorType(ir.DoubleType(), 4)
    lanes = [ir.Constant(ir.IntType(32), lane) for lane in range(4)]

    @intrinsic
    def four_wide(typingctx, a, b, c, d):
        sig = types.UniTuple(types.float64, 4)(types.float64, types.float64, types.float64, types.float64)

        def codegen(context, builder, sig, args):
            packed = ir.Constant(vector, ir.Undefined)
            for lane, arg in zip(lanes, args):
                packed = builder.insert_element(packed, arg, lane)
            function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector]), symbol)
            result = builder.call(function, [packed])
            return context.make_tuple(builder, sig.return_type,
                                      [builder.extract_element(result, lane) for lane in lanes])
        return sig, codegen
    return four_wide


# dst[i] = f(src[i]) for 1-d float64 arrays of one size, four elements per call.
_FILL_LOOP = """
    n = src.size
    i = 0
    while i + 4 <= n:
        r = four_wide(src[i], src[i + 1], src[i + 2], src[i + 3])
        dst[i] = r[0]
        dst[i + 1] = r[1]
        dst[i + 2] = r[2]
        dst[i + 3] = r[3]
        i += 4
    if i < n:
        last = n - 1
        r = four_wide(src[i], src[min(i + 1, last)], src[min(i + 2, last)], src[last])
        for lane in range(n - i):
            dst[i + lane] = r[lane]
"""
_FILL = "def fill(src, dst):" + _FILL_LOOP
# The array function, with the loop in its body rather than behind a call: one function for numba
# to compile (once per machine: it is cached on disk) instead of two.
_NEW_ARRAY = ("def four_at_a_time(x):\n    out = np.empty_like(x)\n    src = x.reshape(-1)\n"
              "    dst = out.reshape(-1)" + _FILL_LOOP + "    return out\n")


@functools.cache
def filler(name: str):
    """A jitable ``fill(src, dst)``: ``dst[i] = name(src[i])`` for 1-d float64 arrays of one size."""
    if not has(name):
        raise ValueError(f"adflow: no vector version of {name!r} in this process")
    return register_jitable(exec_function(_FILL, {"four_wide": _four_wide(_symbol(name))}, f"fill {name}", "fill"))


@functools.cache
def _new_array(name: str):
    """``four_at_a_time(x)``: a new array of ``name(x[i])`` for a C-contiguous float64 array ``x``."""
    return helper_function(_NEW_ARRAY, {"four_wide": _four_wide(_symbol(name))}, f"vector {name}", "four_at_a_time")


def fingerprint() -> str:
    """What generated code compiled in this process assumes (part of its cache key)."""
    return ",".join(sorted(available()))


# --- array functions for generated code ------------------------------------------------------


def _define(name: str):
    ufunc = getattr(np, name)

    def function(x):
        return ufunc(x)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``np.{name}(x)``; in numba, four elements per call on a C-contiguous float64 array."

    def four_at_a_time(x) -> bool:
        return (isinstance(x, types.Array) and x.dtype == types.float64 and x.layout == "C" and x.ndim > 0
                and has(name))

    @overload(function, jit_options=CACHED)  # both implementations are helper modules, cached on disk
    def _typer(x):
        return _new_array(name) if four_at_a_time(x) else _ufunc_call(name)

    return function


@functools.cache
def _ufunc_call(name: str):
    """``np.<name>(x)`` itself, for what the vector loop does not take (a number, a dual, a view)."""
    return helper_function(f"def impl(x):\n    return np.{name}(x)\n", {}, f"numpy {name}")


for _name in C_NAMES:
    globals()[_name] = _define(_name)

# Loaded at import: a user's own cache=True function on dual arrays may call libmvec from its cached
# machine code, which numba links without asking adflow anything.
_library()


def vector_function(call) -> str | None:
    """``f`` when the gast node ``call`` is ``np.f(x)`` (one argument) and libmvec has ``f`` here."""
    func = call.func
    if (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and func.value.id == "np"
            and has(func.attr) and len(call.args) == 1 and not call.keywords
            and not isinstance(call.args[0], gast.Starred)):
        return func.attr
    return None


def with_vector_calls(fdef):
    """``fdef`` (a gast function, not modified) with ``np.f(x)`` calls as ``vector_math.f(x)``.

    Only the calls :func:`vector_function` names; the caller checks that ``np`` and ``vector_math``
    mean numpy and this module where the code runs.
    """
    class _Rewrite(gast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if vector_function(node) is not None:
                node.func.value = gast.Name(id="vector_math", ctx=gast.Load(), annotation=None, type_comment=None)
            return node

    return _Rewrite().visit(copy_tree(fdef)) if available() else fdef

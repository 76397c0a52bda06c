"""A random-program fuzzer for adflow: "correct or loud".

It writes random, well-formed numerical Python functions to real files, imports them, and checks
every derivative API of adflow on them against finite differences and against each other.

The grammar (:class:`ProgramGenerator`):

* control flow: loops, nested loops, ``while`` with bounded trip counts, ``break``/``continue``,
  early ``return``, ``if``/``elif``/``else`` on values, conditional expressions;
* arguments given new values (:data:`REBIND_A`, :data:`REBIND_X`, :data:`REBIND_M`):
  ``a = a * 3.0``, ``a *= 2.0``, ``a = np.sin(a)``, ``a = float(a)``,
  ``x = x / np.sqrt(np.sum(x * x))``, ``x = x.copy()``, ``x = np.asarray(x)``, ``x = x[::-1]``,
  ``M = M.T``, ... as the first statement, in straight-line code, in branches, before loops and
  (damped) in loop bodies; ``x = x[1:]`` and other shortenings last; tuple swaps
  (``a, s0 = s0, a * s0``, ``x, b = b, x * 0.5``); locals computed from themselves (``s = s * s``)
  or rebound to views of themselves (``b = b[::-1]``, ``b = np.asarray(b)``, ``b = b.reshape(n)``);
* arrays: element, slice and overlapping-slice writes, ``+=``, writes into the arguments,
  ``np.where``/``np.clip``/``np.maximum``/``np.minimum``, reductions, ``reshape``;
* matrices (an ``n x n`` argument ``M`` and a local ``P``): ``@``, ``np.dot``, ``np.outer``,
  ``.T``, ``np.trace``, ``np.linalg.solve``/``inv``/``det`` (of ``M + 5I``: well conditioned,
  since entries stay in [-1, 1]), row and element writes;
* calls to a fixed set of helper functions, math kept inside its domain;
* signatures (:class:`Signature`): ``(x, a, n)`` or ``(x, M, a, n)``; float64 or float32 arrays
  (float32 programs are straight-line and without matrices: numba would not compile more);
  outputs a number, an array (1-D, or 2-D from matrices) or a tuple of a number and an array.

The checks (:func:`check_program`), each an adflow API on every target asked for:

* ``value_and_grad`` and ``grad`` (numbers only), ``vjp`` (any output, random cotangent ``v``),
  ``jvp`` (not tuples, random tangent ``t``), ``hvp`` (numbers only, with respect to ``x``) and
  ``jacobian`` in one or two variants drawn with the program (``mode`` auto/forward/reverse,
  ``sparsity="auto"``, ``batch=True`` on two rows; with respect to ``x``, ``M`` or ``a``);
* each returns the function's value, leaves the caller's arrays alone, and gives finite
  derivatives shaped and typed like their arguments (float32 stays float32);
* each agrees with central finite differences of the function: the gradient, ``v^T J``, ``J t``
  and the Jacobian entries; the Hessian-vector product with differences of the float64 gradient.
  Every entry has its own error bound from differences at two steps (:func:`reference`), not one
  scaled by the largest entry; entries whose two steps disagree (a kink within the step) are left
  out and counted;
* ``target="python"`` and ``target="cpu"`` agree to rounding, ``grad`` agrees with
  ``value_and_grad``, and ``jvp`` and ``vjp`` pass the dot-product test ``<v, J t> == <J^T v, t>``;
* every generated program is valid Python, so any error is a finding, except an
  :class:`adflow.AdflowError` that names the program's line and is one of :data:`REFUSALS` (a
  construct adflow refuses on purpose: "correct or loud").

Constructs that reach a known defect (:data:`KNOWN_DEFECTS`, each pinned by a strict xfail in
``tests/test_regressions.py``) are avoided by default, so that a failure is a new defect.

Used two ways:

* from the tests (``tests/test_fuzz.py``), through the hypothesis strategy :func:`programs`, so a
  failing program is shrunk to a small one;
* as a long campaign from the command line, which keeps going after failures and groups them::

      python -m adflow.fuzz --examples 5000 --cpu-every 20 --jobs 2 --out fuzz-findings

Generated programs look like this (``x`` a float array of length 4, ``a`` a float, ``n == 4``)::

    def prog(x, a, n):
        a = a * 3.0
        s0 = 0.5
        s1 = a * x[0]
        b = x.copy()
        for i0 in range(n):
            if math.sin(x[i0]) > 0.25:
                b[i0] += 0.5 * math.tanh(s0 * x[i0])
                continue
            s0 = 0.5 * s0 + math.atan(fz_soft(b[i0]))
        x = x / np.sqrt(np.sum(x * x))
        return s0 + 0.5 * s1 + 0.25 * np.sum(b * b), b * s0 + x
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

N = 4  # length of the array argument ``x``

# --------------------------------------------------------------------------- helpers
# Generated programs call these (adflow reads their source from this file and differentiates them
# as helpers).  Each is smooth where the programs use it, or has a kink only on a set of measure 0.


def fz_soft(u):
    return math.log(1.0 + u * u) + 0.5 * u


def fz_mix(u, v):
    return u * math.tanh(v) + 0.25 * v


def fz_rat(u):
    return u / (1.0 + u * u)


def fz_branchy(u):
    if u > 0.0:
        return u * u + 0.1 * u
    return 0.1 * u


def fz_loop(u, k):
    s = u
    for j in range(k):
        s = 0.5 * s + math.sin(s + j)
    return s


def fz_norm2(v):
    s = 0.0
    for i in range(v.shape[0]):
        s = s + v[i] * v[i]
    return math.sqrt(1.0 + s)


def fz_smooth(v, c):
    out = np.empty_like(v)
    for i in range(v.shape[0]):
        out[i] = math.sin(v[i]) * c + 0.5 * v[i]
    return out


def fz_nested(u, v):
    return fz_soft(u) * fz_rat(v)


HELPER_NAMES = ["fz_soft", "fz_mix", "fz_rat", "fz_branchy", "fz_loop", "fz_norm2", "fz_smooth", "fz_nested"]

HEADER = "import math\nimport numpy as np\nfrom adflow.fuzz import " + ", ".join(HELPER_NAMES) + "\n"

# Constructs that trigger a known adflow defect, each pinned by a strict-xfail test in
# tests/test_regressions.py.  The CI fuzz test avoids them (so that it keeps looking for *new*
# defects); a second test and the campaign's ``--all`` include them.  Remove an entry when its
# defect is fixed.
KNOWN_DEFECTS: dict = {  # name -> what goes wrong (the test in tests/test_regressions.py that pins it)
}

# Valid Python that adflow refuses on purpose, each pinned by a test in tests/test_regressions.py.
# Such an error naming the program's file and line is a "loud" outcome, not a finding.
REFUSALS = {
    "loop over an array the body rebinds and writes into": r"a for loop over '\w+' that both rebinds",
}

# --------------------------------------------------------------------------- drawing choices


class RandomDrawer:
    """Choices from a seeded ``random.Random`` (the long campaign)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def choice(self, options):
        return options[self.rng.randrange(len(options))]

    def boolean(self, p=0.5):
        return self.rng.random() < p


class HypothesisDrawer:
    """Choices from hypothesis' ``draw`` (the tests): simplest options first, so failures shrink."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self.draw = draw
        self.st = st

    def integer(self, lo, hi):
        return self.draw(self.st.integers(lo, hi))

    def choice(self, options):
        return options[self.draw(self.st.integers(0, len(options) - 1))]

    def boolean(self, p=0.5):
        # 0 (what hypothesis shrinks to) means False: the simpler program.
        return self.draw(self.st.integers(0, 999)) >= 1000 - int(1000 * p)


# --------------------------------------------------------------------------- the generator
CONSTANTS = ["0.5", "1.5", "-0.75", "0.25", "2.0", "-1.25", "0.3"]
COEFFS = ["0.5", "-0.5", "0.9", "0.25", "-0.7"]
GROWTHS = ["2.0", "3.0", "-1.5", "0.5"]  # factors for straight-line code only: a loop would compound them
BOUNDED = ["math.sin({})", "math.tanh({})", "math.cos({})", "math.atan({})", "fz_rat({})",
           "math.exp(-0.5 * ({}) ** 2)"]
THRESHOLDS = ["0.0", "0.25", "-0.3", "0.5", "0.1"]
SHIFTED = "{} + 5.0 * np.eye(n)"  # M, P have entries in [-1, 1]: plus 5I is well conditioned (Gershgorin)

# New values for the arguments (issue 17: the adjoint of the old value must be reset, not added
# to).  Placeholders: {g} a growth factor, {c} a damping coefficient, {e} an expression, {T} a
# bounded expression, {s} a scalar, {v} an array of length n, {t} a threshold.  Loop bodies get
# the damped forms, so that values stay bounded over the iterations.
REBIND_A = ["a = a * {g}", "a *= {g}", "a = np.sin(a)", "a = float(a)", "a = {e}", "a = a + {e}",
            "a -= {c} * {T}", "a = math.tanh(a) * {g} + {s}"]
REBIND_A_LOOP = ["a = {c} * a + {T}", "a = np.sin(a)", "a = float(a)", "a *= {c}", "a = math.tanh(a + {e})"]
REBIND_X = ["x = x / np.sqrt(np.sum(x * x))", "x = x * {g}", "x *= {g}", "x = np.sin(x)", "x = x * a",
            "x = x.copy()", "x = np.asarray(x)", "x = x[::-1]", "x = x + {c} * {v}", "x += {c} * {v}",
            "x = np.tanh(x) * {g} + {s}", "x = np.where(x > {t}, x, {c} * x)"]
REBIND_X_LOOP = ["x = x / np.sqrt(np.sum(x * x))", "x = {c} * x + 0.1 * np.tanh({v})", "x *= {c}", "x = np.sin(x)",
                 "x = x.copy()", "x = np.asarray(x)", "x = x[::-1]", "x = np.where(x > {t}, x, {c} * x)"]
# Every form keeps M's entries in [-1, 1] (SHIFTED relies on it), in loops too.
REBIND_M = ["M = M.T", "M = np.tanh(M)", "M = 0.5 * (M + M.T)", "M = 0.25 * (M @ M)", "M = np.clip(M, -0.5, 0.5)",
            "M = M * {c}", "M = M.copy()", "M *= {c}", "M = np.maximum(M, {c} * M)"]
# The argument shortened, last thing before the return (statements index x up to n - 1).
SHORTEN_X = ["x = x[1:]", "x = x[:-1]", "x = x[1:] - x[:-1]", "x = x[1:] * a"]
# Text of the forms that reach a known defect (KNOWN_DEFECTS), by the defect's name.
DEFECT_FORMS: dict = {}


@dataclass
class Signature:
    """What a program takes and returns."""
    matrix: bool = False  # takes M, an n x n float matrix, between x and a
    output: str = "scalar"  # "scalar", "vector" (an array) or "tuple" (a number and an array)
    # x (and M) are float32.  Such programs are straight-line code without matrices: in numba a
    # float32 array times a float is float64, a variable has one type where paths merge (loops,
    # branches), and `@` needs one dtype, so anything more would not compile (docs/subset.md).
    float32: bool = False

    def params(self):
        return ["x"] + (["M"] if self.matrix else []) + ["a", "n"]


OUTPUTS = ["scalar", "scalar", "vector", "tuple"]  # the scalar programs first: what failures shrink to


def draw_signature(d) -> Signature:
    output = d.choice(OUTPUTS)
    float32 = d.boolean(0.15)
    return Signature(matrix=not float32 and d.boolean(0.35), output=output, float32=float32)


@dataclass
class Loop:
    var: str | None  # an integer index usable as x[var], or None
    kind: str  # "range", "range1", "inner", "while", "array"
    value_var: str | None = None  # the float element of "for v in x"


@dataclass
class Context:
    loops: list = field(default_factory=list)
    depth: int = 0  # nesting of compound statements
    in_branch: bool = False


class ProgramGenerator:
    """Writes one random function ``def <name>(x, [M,] a, n)`` returning what its signature says."""

    def __init__(self, drawer, name="prog", max_statements=4, avoid=frozenset(), budget=8, depth=2,
                 signature=Signature()):
        self.d = drawer
        self.avoid = frozenset(avoid)
        unknown = self.avoid - set(KNOWN_DEFECTS)
        if unknown:
            raise ValueError(f"unknown defects to avoid: {sorted(unknown)}")
        self.name = name
        self.signature = signature
        self.max_statements = max_statements
        self.lines: list[str] = []
        self.scalars = ["s0", "s1"]
        self.arrays = ["b"]
        self.matrices = ["M"] if signature.matrix else []
        self.x_shortened = False
        self.counter = 0
        self.budget = budget  # statements in all, so programs stay small (typing and compile time)
        self.depth = depth  # of expressions outside loops (inside loops one less)
        # Every return gives the same type (numba unifies them): a 1-D or a 2-D array, drawn once.
        self.vector_rank = 1

    # ------------------------------------------------------------------ entry
    def generate(self) -> str:
        d = self.d
        self.emit(0, f"def {self.name}({', '.join(self.signature.params())}):")
        if d.boolean(0.25):
            self.rebind_first()
        self.emit(1, f"s0 = {d.choice(['0.5', 'a', 'a * x[0]', 'math.sin(a) + x[1]'])}")
        self.emit(1, f"s1 = {d.choice(['x[0] * a', '0.25', 'np.sum(x) * 0.5', 'fz_soft(a)'])}")
        self.emit(1, f"b = {d.choice(['x.copy()', 'np.zeros(n)', 'x * a', 'np.sin(x) + 0.5'])}")
        if d.boolean(0.3):
            self.arrays.append("c")
            self.emit(1, f"c = {d.choice(['np.ones(n) * a', 'np.cos(x)', 'x * x'])}")
        if d.boolean(0.3):
            self.scalars.append("s2")
            self.emit(1, "s2 = 0.0")
        if not self.signature.float32 and d.boolean(0.5 if self.matrices else 0.15):
            self.matrices.append("P")
            self.emit(1, f"P = {d.choice(self.local_matrix_inits())}")
        if self.matrices and self.signature.output != "scalar" and d.boolean(0.4):
            self.vector_rank = 2
        for _ in range(d.integer(1, self.max_statements)):
            self.statement(1, Context())
        if d.boolean(0.15):
            self.x_shortened = True
            self.emit(1, d.choice(SHORTEN_X))
        if self.signature.output == "scalar" and d.boolean(0.3):
            # Return a variable the function overwrote, not a fresh expression.
            self.emit(1, f"s0 = {self.scalar_result()}")
            self.emit(1, "return s0")
        else:
            self.emit(1, f"return {self.result()}")
        return "\n".join(self.lines) + "\n"

    def local_matrix_inits(self):
        inits = ["np.outer(np.tanh(x), np.cos(x))", "np.eye(n) * 0.5"]
        if "M" in self.matrices:
            inits += ["M.copy()", "M.T @ M * 0.25"]
        return inits

    def emit(self, indent, text):
        self.lines.append("    " * indent + text)

    def fresh(self, base):
        self.counter += 1
        return f"{base}{self.counter}"

    def allowed(self, forms):
        """The forms that reach no defect the generator was told to avoid."""
        banned = [text for name in self.avoid for text in DEFECT_FORMS.get(name, ())]
        return [form for form in forms if not any(text in form for text in banned)]

    # ------------------------------------------------------------------ statements
    def statement(self, indent, ctx):
        if self.budget <= 0:
            self.scalar_update(indent, ctx)
            return
        self.budget -= 1
        d = self.d
        kinds = ["scalar", "scalar_aug", "elem", "array", "rebind", "rebind", "swap", "local_rebind"]
        if self.matrices:
            kinds += ["matrix", "matrix"]
        if not self.signature.float32:
            if ctx.depth < 2:
                kinds += ["for", "for", "while", "for_array"]
            if ctx.depth < 3:
                kinds += ["if", "if"]
        if ctx.loops:
            kinds += ["elem", "break", "continue"]
        kinds += ["input_write", "return"]
        kind = d.choice(kinds)
        getattr(self, "stmt_" + kind)(indent, ctx)

    def scalar_update(self, indent, ctx):
        self.stmt_scalar(indent, ctx)

    def stmt_scalar(self, indent, ctx):
        d = self.d
        var = d.choice(self.scalars)
        if ctx.loops:
            # Inside loops an update must not blow up over the iterations: damp or bound it.
            form = d.choice(["{v} = {T}", "{v} = {c} * {v} + {T}", "{v} = {c} * {v} + {c2} * {E}"])
            e_inner = self.expr(self.depth - 1, ctx)
            text = form.format(v=var, T=self.bounded(e_inner), c=d.choice(COEFFS), c2=d.choice(["0.1", "0.2"]),
                               E=self.bounded(self.expr(1, ctx)))
        else:
            text = f"{var} = {self.expr(self.depth, ctx)}"
        self.emit(indent, text)

    def stmt_scalar_aug(self, indent, ctx):
        d = self.d
        var = d.choice(self.scalars)
        op = d.choice(["+=", "-=", "*="])
        value = self.bounded(self.expr(self.depth - 1, ctx))
        if op != "*=":
            value = f"{d.choice(COEFFS)} * {value}"
        self.emit(indent, f"{var} {op} {value}")

    def stmt_rebind(self, indent, ctx):
        """An argument gets a new value, in straight-line code, a branch or a loop body."""
        d = self.d
        target = d.choice(["a", "x", "a", "x"] + (["M"] if "M" in self.matrices else []))
        forms = {"a": REBIND_A_LOOP if ctx.loops else REBIND_A, "x": REBIND_X_LOOP if ctx.loops else REBIND_X,
                 "M": REBIND_M}[target]
        self.emit(indent, self.fill(d.choice(self.allowed(forms)), ctx))

    def rebind_first(self):
        """An argument rebound before anything else reads it: from the arguments alone."""
        forms = [form for form in REBIND_A + REBIND_X + (REBIND_M if self.signature.matrix else [])
                 if not any(key in form for key in ("{e}", "{s}", "{v}", "{T}"))]
        self.emit(1, self.fill(self.d.choice(self.allowed(forms + ["a, x = x[1] * a, x * a"])), Context()))

    def fill(self, form, ctx):
        """A form with its placeholders drawn (only those it has, so that shrinking stays local)."""
        d = self.d
        makers = {"g": lambda: d.choice(GROWTHS), "c": lambda: d.choice(COEFFS), "t": lambda: d.choice(THRESHOLDS),
                  "e": lambda: self.expr(self.depth - 1, ctx), "T": lambda: self.bounded(self.expr(1, ctx)),
                  "s": lambda: self.scalar_atom(ctx), "v": lambda: d.choice(self.vectors())}
        return form.format(**{key: make() for key, make in makers.items() if "{" + key + "}" in form})

    def stmt_swap(self, indent, ctx):
        """A tuple assignment that swaps two names, often an argument's (``a, b = b, a * b``)."""
        d = self.d
        if d.boolean(0.6):
            p, q = self.two_of(["a"] + self.scalars)
            product = f"math.tanh({p} * {q})" if ctx.loops else f"{p} * {q}"
            self.emit(indent, d.choice([f"{p}, {q} = {q}, {product}", f"{p}, {q} = {product}, {p}"]))
        elif len(self.matrices) == 2 and d.boolean(0.3):
            self.emit(indent, "M, P = P, M.T")
        else:
            other = d.choice(self.arrays)
            scaled = "np.tanh(x)" if ctx.loops else f"x * {d.choice(COEFFS)}"
            self.emit(indent, f"x, {other} = {other}, {scaled}")

    def two_of(self, names):
        first = self.d.choice(names)
        return first, self.d.choice([name for name in names if name != first])

    def stmt_local_rebind(self, indent, ctx):
        """A local computed from itself, then read (``s = s * s; y = s * s``), or an array rebound to
        a view of itself (``b = b[::-1]``: what adjoints read of the old b is overwritten by later
        writes into the new one, fuzz seed 888177)."""
        d = self.d
        if d.boolean(0.7):
            s, t = self.two_of(self.scalars)
            self.emit(indent, f"{s} = math.tanh({s} * {s})" if ctx.loops else f"{s} = {s} * {s}")
            if d.boolean(0.5):
                self.emit(indent, f"{t} = math.sin({s} * {s})" if ctx.loops else f"{t} = {s} * {s}")
        else:
            arr = d.choice(self.arrays)
            self.emit(indent, d.choice([f"{arr} = np.tanh({arr} * {arr})" if ctx.loops else f"{arr} = {arr} * {arr}",
                                        f"{arr} = {arr}[::-1]", f"{arr} = np.asarray({arr})",
                                        f"{arr} = {arr}.reshape(n)"]))

    def index(self, ctx):
        """An integer index expression valid for an array of length n (may be negative: wraps)."""
        d = self.d
        options = ["0", str(N - 1), "1"]
        for loop in ctx.loops:
            if loop.var is None:
                continue
            if loop.kind == "while":
                options += [f"{loop.var} % n", f"n - {loop.var}"]
            else:
                options += [loop.var, loop.var, f"({loop.var} + 1) % n", f"n - 1 - {loop.var}"]
                if loop.kind == "range1":
                    options.append(f"{loop.var} - 1")
        return d.choice(options)

    def stmt_elem(self, indent, ctx):
        d = self.d
        arr = d.choice(self.arrays)
        idx = self.index(ctx)
        form = d.choice(["=", "+=", "*=", "damp"])
        if form == "=":
            value = self.bounded(self.expr(self.depth - 1, ctx)) if ctx.loops else self.expr(self.depth, ctx)
            self.emit(indent, f"{arr}[{idx}] = {value}")
        elif form == "+=":
            self.emit(indent, f"{arr}[{idx}] += {d.choice(COEFFS)} * {self.bounded(self.expr(self.depth - 1, ctx))}")
        elif form == "*=":
            self.emit(indent, f"{arr}[{idx}] *= {self.bounded(self.expr(self.depth - 1, ctx))}")
        else:
            self.emit(indent, f"{arr}[{idx}] = {d.choice(COEFFS)} * {arr}[{idx}] + {self.bounded(self.expr(self.depth - 1, ctx))}")

    def stmt_array(self, indent, ctx):
        d = self.d
        form = d.choice([
            "{a} = {c} * {a} + np.sin({o} * {s})",
            "{a} = np.tanh({a}) * {c} + {o} * 0.1",
            "{a} = fz_smooth({a}, {c} * math.tanh({s}))",
            "{a}[1:] = {r}[:-1] * {c} + np.tanh({o}[1:])",
            "{a} = {a} * np.cos({o}) * {c}",
            "{a}[:2] = {c} * {r}[2:] + 0.1 * {s}",
            "{a} = np.where({a} > {t}, {a}, {c} * {a})",
            "{a} = np.clip({a} + {c} * {o}, -0.8, 0.8)",
            "{a} = np.maximum({a}, {c} * {o})",
            "{a} = np.minimum({a}, np.sin({o}))",
        ])
        arr = d.choice(self.arrays)
        other = d.choice(self.arrays + ["x"])
        source = d.choice(self.arrays + ["x"])  # the array itself: an overlapping slice write
        s = self.scalar_atom(ctx)
        self.emit(indent, form.format(a=arr, c=d.choice(COEFFS), o=other, s=s, r=source, t=d.choice(THRESHOLDS)))

    def stmt_matrix(self, indent, ctx):
        """Matrix products, np.linalg, outer products, reshapes and writes into 2-D arrays.

        Matrices keep their entries in [-1, 1] (SHIFTED relies on it); vectors written from
        matrix products are bounded or damped, so loops cannot blow them up."""
        d = self.d
        form = d.choice(self.allowed([
            "{m} = np.tanh({m} + {c} * {o})",
            "{m} = 0.25 * ({m} @ {o})",
            "{m} = {m}.T",
            "{m} = np.clip({m} + {c} * {o}, -0.5, 0.5)",
            "{m} = np.maximum({m}, {c} * {o})",
            "{m} = np.where({m} > {t}, {m}, {c} * {m})",
            "{m}[{i}, {j}] = {T}",
            "{m}[{i}] = np.tanh({v})",
            "{m} = np.outer(np.tanh({v}), np.cos({w}))",
            "{b} = np.tanh({m} @ {v})",
            "{b} = {c} * {b} + 0.1 * np.tanh(np.dot({m}, {v}))",
            "{b} = np.linalg.solve(" + SHIFTED.format("{m}") + ", {v}) * {c}",
            "{b} = np.linalg.inv(" + SHIFTED.format("{m}") + ") @ {v}",
            "{b} = np.tanh({v} @ {m})",
            "{b} = {c} * {b} + np.tanh(({m} @ {o}).reshape(n * n)[::n])",
        ]))
        self.emit(indent, form.format(
            m=d.choice(self.matrices), o=d.choice(self.matrices), b=d.choice(self.arrays), v=d.choice(self.vectors()),
            w=d.choice(self.vectors()), c=d.choice(COEFFS), t=d.choice(THRESHOLDS), i=self.index(ctx),
            j=self.index(ctx), T=self.bounded(self.expr(1, ctx))))

    def vectors(self):
        """The arrays of length n."""
        return self.arrays + ([] if self.x_shortened else ["x"])

    def stmt_input_write(self, indent, ctx):
        # Writing into the argument: adflow must not let it show outside (inputs are never modified).
        d = self.d
        idx = self.index(ctx)
        self.emit(indent, f"x[{idx}] = {d.choice(COEFFS)} * x[{idx}] + 0.1 * {self.bounded(self.expr(1, ctx))}")

    def body(self, indent, ctx, lo=1, hi=3):
        for _ in range(self.d.integer(lo, hi)):
            self.statement(indent, ctx)

    def child(self, ctx, loop=None, branch=False):
        loops = ctx.loops + [loop] if loop is not None else list(ctx.loops)
        return Context(loops, ctx.depth + 1, ctx.in_branch or branch)

    def stmt_for(self, indent, ctx):
        d = self.d
        var = self.fresh("i")
        outer = [lp for lp in ctx.loops if lp.kind in ("range", "range1") and lp.var]
        options = [("range(n)", "range"), ("range(1, n)", "range1"), ("range(n - 1, -1, -1)", "range"),
                   ("range(x.shape[0])", "range"), ("range(0, n, 2)", "range")]
        if outer:
            options.append((f"range({outer[-1].var})", "inner"))
        header, kind = d.choice(options)
        self.emit(indent, f"for {var} in {header}:")
        self.body(indent + 1, self.child(ctx, Loop(var, kind)))

    def stmt_for_array(self, indent, ctx):
        d = self.d
        v = self.fresh("v")
        seqs = ["x", "b"]  # b may be rebound or written in the loop
        if d.boolean(0.5):
            i = self.fresh("i")
            self.emit(indent, f"for {i}, {v} in enumerate({d.choice(seqs)}):")
            loop = Loop(i, "range", v)
        else:
            self.emit(indent, f"for {v} in {d.choice(seqs)}:")
            loop = Loop(None, "array", v)
        self.body(indent + 1, self.child(ctx, loop))

    def stmt_while(self, indent, ctx):
        d = self.d
        k = self.fresh("k")
        trips = d.integer(1, 4)
        self.emit(indent, f"{k} = 0")
        if d.boolean(0.5):
            cond = f"{k} < {trips} and {self.expr(1, ctx)} < {d.choice(['1.0', '2.0', '0.5'])}"
        else:
            cond = f"{k} < {trips}"
        self.emit(indent, f"while {cond}:")
        self.emit(indent + 1, f"{k} = {k} + 1")  # first, so 'continue' cannot skip it
        self.body(indent + 1, self.child(ctx, Loop(k, "while")))

    def condition(self, ctx):
        d = self.d
        return f"{self.expr(2, ctx)} {d.choice(['>', '<', '>=', '<='])} {d.choice(THRESHOLDS)}"

    def stmt_if(self, indent, ctx):
        d = self.d
        self.emit(indent, f"if {self.condition(ctx)}:")
        inner = self.child(ctx, branch=True)
        self.body(indent + 1, inner, 1, 2)
        if d.boolean(0.3):
            self.emit(indent, f"elif {self.condition(ctx)}:")
            self.body(indent + 1, inner, 1, 2)
        if d.boolean(0.6):
            self.emit(indent, "else:")
            self.body(indent + 1, inner, 1, 2)

    def stmt_break(self, indent, ctx):
        if not ctx.loops:
            return self.stmt_scalar(indent, ctx)
        self.emit(indent, f"if {self.condition(ctx)}:")
        if self.d.boolean(0.5):
            self.scalar_update(indent + 1, ctx)
        self.emit(indent + 1, "break")

    def stmt_continue(self, indent, ctx):
        if not ctx.loops:
            return self.stmt_scalar(indent, ctx)
        self.emit(indent, f"if {self.condition(ctx)}:")
        if self.d.boolean(0.5):
            self.scalar_update(indent + 1, ctx)
        self.emit(indent + 1, "continue")

    def stmt_return(self, indent, ctx):
        if not ctx.loops and not ctx.in_branch:
            return self.stmt_scalar(indent, ctx)
        self.emit(indent, f"if {self.condition(ctx)}:")
        self.emit(indent + 1, f"return {self.result()}")

    # ------------------------------------------------------------------ expressions
    def bounded(self, e):
        return self.d.choice(BOUNDED).format(e)

    def scalar_atom(self, ctx):
        d = self.d
        options = list(self.scalars) + ["a", "x[{}]", "b[{}]", "a"]
        if "c" in self.arrays:
            options.append("c[{}]")
        options += [m + "[{}, {}]" for m in self.matrices]
        for loop in ctx.loops:
            if loop.value_var:
                options += [loop.value_var, loop.value_var]
        atom = d.choice(options)
        return atom.format(*(self.index(ctx) for _ in range(atom.count("{}"))))

    def expr(self, depth, ctx):
        d = self.d
        if depth <= 0 or d.boolean(0.3):
            if d.boolean(0.15):
                return d.choice(CONSTANTS)
            return self.scalar_atom(ctx)
        e = lambda: self.expr(depth - 1, ctx)  # noqa: E731
        form = d.choice([
            "binary", "binary", "binary", "unary", "unary", "helper", "reduce", "minmax", "ifexp", "pow",
        ])
        if form == "binary":
            op = d.choice(["+", "-", "*", "*", "/"])
            if op == "/":
                return f"({e()}) / (2.0 + math.cos({e()}))"
            return f"({e()}) {op} ({e()})"
        if form == "unary":
            pattern = d.choice(["-({})", "math.sin({})", "math.cos({})", "math.tanh({})", "math.atan({})",
                                "math.log(1.0 + ({}) ** 2)", "math.sqrt(1.0 + ({}) ** 2)",
                                "abs({})", "np.sin({})", "math.exp(-({}) ** 2)", "math.log1p(({}) ** 2)",
                                "math.hypot({}, 0.5)"])
            return pattern.format(e())
        if form == "helper":
            helper = d.choice(["fz_soft({})", "fz_mix({}, {})", "fz_rat({})", "fz_branchy({})", "fz_loop({}, 2)",
                               "fz_nested({}, {})"])
            return helper.format(*(e() for _ in range(helper.count("{}"))))
        if form == "reduce":
            return self.reduction()
        if form == "minmax":
            return f"{d.choice(['max', 'min'])}({e()}, {e()})"
        if form == "ifexp":
            return f"(({e()}) if ({self.expr(depth - 1, ctx)}) > {d.choice(THRESHOLDS)} else ({e()}))"
        return f"({e()}) ** {d.choice(['2', '3', '2.0'])}"

    def reduction(self):
        """A number from arrays: sums, products, norms, reshapes, and from matrices np.linalg."""
        d = self.d
        arr = d.choice(self.arrays)
        options = [f"np.sum({arr}) * 0.25", f"{self.dot('x', arr)} * 0.5", f"fz_norm2({arr})",
                   f"np.mean(np.sin({arr}))", f"np.max({arr})", f"np.sum({arr} * {arr}) * 0.1",
                   f"np.trace(({arr} * 0.5).reshape(2, 2))"]
        if self.matrices:
            m, o = d.choice(self.matrices), d.choice(self.matrices)
            v, w = d.choice(self.vectors()), d.choice(self.vectors())
            options += [f"np.sum({m} @ {v}) * 0.25", f"np.dot({v}, {m} @ {w}) * 0.1", f"np.trace({m} @ {o}) * 0.25",
                        f"np.linalg.det({SHIFTED.format(m)}) * 0.001",
                        f"np.sum(np.linalg.solve({SHIFTED.format(m)}, {v}))", f"np.sum({m} * {m}) * 0.1",
                        f"np.trace({m})", f"np.sum(np.outer({v}, {w})) * 0.1"]
        return d.choice(options)

    def dot(self, u, v):
        # numba's np.dot needs one dtype, and in float32 programs arrays may be float32 or float64.
        return f"np.sum({u} * {v})" if self.signature.float32 else f"np.dot({u}, {v})"

    # ------------------------------------------------------------------ what the function returns
    def result(self):
        output = self.signature.output
        if output == "scalar":
            return self.scalar_result()
        if output == "vector":
            return self.array_result()
        return f"{self.scalar_result()}, {self.array_result()}"

    def scalar_result(self):
        d = self.d
        parts = []
        for s in self.scalars:
            parts.append(f"{d.choice(['1.0', '0.5', '-0.3'])} * {s}")
        for arr in self.arrays:
            dot = self.dot(arr, "x") if not self.x_shortened else "0.5 * np.sum(x * x)"
            parts.append(d.choice([f"0.25 * np.sum({arr} * {arr})", dot, f"0.5 * np.sum({arr})",
                                   f"fz_norm2({arr})"]))
        for m in self.matrices:
            parts.append(d.choice([f"0.25 * np.sum({m} * {m})", f"np.trace({m})", f"0.25 * np.sum({m} @ b)"]))
        # The arguments themselves: their new values when the function rebound them.
        if d.boolean(0.4):
            parts.append(f"{d.choice(COEFFS)} * a")
        if d.boolean(0.4):
            entry = "np.sum(x * x)" if self.x_shortened else f"x[{d.choice(['0', '1', '2'])}]"
            parts.append(f"{d.choice(COEFFS)} * {entry}")
        return " + ".join(parts)

    def array_result(self):
        d = self.d
        if self.vector_rank == 2:
            m = d.choice(self.matrices)
            return d.choice([m, f"np.tanh({m} @ {d.choice(self.matrices)}) + a",
                                                      "np.outer(b, x) * s0", f"{m} * s1"])
        options = ["b", "np.sin(b) * s1 + a", "x", "x * a"]
        if not self.x_shortened:
            options += ["b * s0 + x", "np.tanh(b) + x * s0"]
        if self.matrices:
            options += [f"{d.choice(self.matrices)} @ b", f"np.tanh({d.choice(self.matrices)} @ b) * s0"]
        return d.choice(options)


# --------------------------------------------------------------------------- a program and its inputs
# "batch": batch=True (mode auto, forward passes over blocks of rows where it can); "batch-reverse":
# with mode="reverse" (a reverse sweep per row).
JACOBIAN_VARIANTS = ["auto", "forward", "reverse", "sparse", "batch", "batch-reverse"]


@dataclass
class Program:
    source: str  # the function's text (without the module header)
    name: str
    x: np.ndarray
    a: float
    n: int = N
    M: np.ndarray | None = None  # the matrix argument, for programs that take one
    float32: bool = False  # x and M are passed as float32
    jacobians: tuple = ()  # (variant, wrt) pairs adflow.jacobian is checked with; variants: JACOBIAN_VARIANTS

    def args(self, dtype=None):
        """Fresh copies of the arguments (programs write into them); ``dtype`` overrides the arrays'."""
        dtype = dtype or (np.float32 if self.float32 else np.float64)
        arrays = (self.x,) if self.M is None else (self.x, self.M)
        return tuple(np.array(v, dtype=dtype) for v in arrays) + (float(self.a), self.n)

    def wrt(self):
        """The differentiated arguments: every float one (all but n)."""
        return tuple(range(2 if self.M is None else 3))

    def coordinate_names(self):
        names = [f"x[{j}]" for j in range(N)]
        if self.M is not None:
            names += [f"M[{i}, {j}]" for i in range(N) for j in range(N)]
        return names + ["a"]

    def module_text(self):
        return HEADER + "\n\n" + self.source

    def inputs_text(self):
        text = f"x = np.{self.x!r}; a = {self.a!r}; n = {self.n}"
        if self.M is not None:
            text += f"; M = np.{self.M!r}"
        if self.float32:
            text += " (x, M as float32)"
        return text + (f"; jacobians {self.jacobians}" if self.jacobians else "")

    def __repr__(self):  # what hypothesis prints for a failing example
        return f"Program({self.inputs_text()}):\n" + self.source


def _inputs(d):
    # Values away from 0 and from simple fractions: kinks (abs at 0, max ties, thresholds) are hit
    # only by accident.
    x = np.array([d.integer(-100, 100) / 100.0 + 0.0123 * (k + 1) for k in range(N)])
    a = d.integer(-150, 150) / 100.0 + 0.0071
    return x, a


def _matrix(d):
    """An n x n matrix with entries in [-1, 1] (the generator's matrix forms keep them there)."""
    return np.array([[d.integer(-90, 90) / 100.0 + 0.0037 * (i + 2 * j + 1) for j in range(N)] for i in range(N)])


def _jacobian_variants(d, signature):
    """One or two ways to call adflow.jacobian, each with the argument it differentiates."""
    if signature.output == "tuple":
        return ()  # jacobian refuses tuple outputs (docs/subset.md)
    scalar = signature.output == "scalar"
    chosen = []
    for _ in range(1 if scalar else 2):
        variant = d.choice(JACOBIAN_VARIANTS)
        others = [1, 2] if signature.matrix else [1]  # M, a
        # batch=True maps rows of x to rows of the Jacobian: only x (1-D) has rows.
        chosen.append((variant, 0 if variant.startswith("batch") else d.choice([0] + others)))
    return tuple(chosen)


def draw_program(d, name="prog", avoid=frozenset()) -> Program:
    signature = draw_signature(d)
    source = ProgramGenerator(d, name, avoid=avoid, signature=signature).generate()
    x, a = _inputs(d)
    M = _matrix(d) if signature.matrix else None
    return Program(source, name, x, a, M=M, float32=signature.float32, jacobians=_jacobian_variants(d, signature))


def programs(avoid=frozenset(KNOWN_DEFECTS)):
    """A hypothesis strategy of :class:`Program` objects (by default avoiding known defects)."""
    from hypothesis import strategies as st

    @st.composite
    def _programs(draw):
        return draw_program(HypothesisDrawer(draw), avoid=avoid)
    return _programs()


# --------------------------------------------------------------------------- finite differences
EPS = float(np.finfo(np.float64).eps)
STEPS = (1e-6, 1e-5)  # central-difference steps, relative to max(1, |coordinate|)
MARGIN = 10.0  # times the gap between the two steps' differences: the error bound of the smaller step's
ROUNDING = 100.0  # f's rounding error, in units of eps * |f|
CONSISTENT = 1e-4  # differences at the two steps further apart than this (relative) are left out
FLOAT32 = 2e-3  # relative error allowed to derivatives computed in float32


def _coordinates(args, wrt):
    """(argument, index) of every differentiated number; the index is None for a float argument."""
    return [(k, idx) for k in wrt
            for idx in (np.ndindex(args[k].shape) if isinstance(args[k], np.ndarray) else [None])]


def _moved(args, k, idx, value):
    """Fresh copies of ``args`` with one number set to ``value``."""
    out = [np.array(v) if isinstance(v, np.ndarray) else v for v in args]
    if idx is None:
        out[k] = value
    else:
        out[k][idx] = value
    return out


def _flatten(y):
    """A number, an array or a tuple of them as one float64 vector (the Jacobian's rows)."""
    if isinstance(y, tuple):
        return np.concatenate([_flatten(part) for part in y])
    return np.asarray(y, dtype=np.float64).ravel()


def _unflatten(flat, like):
    """``flat`` shaped like ``like``: a number, an array or a tuple of them."""
    if isinstance(like, tuple):
        sizes = np.cumsum([0] + [np.size(part) for part in like])
        return tuple(_unflatten(flat[lo:hi], part) for lo, hi, part in zip(sizes, sizes[1:], like))
    if isinstance(like, np.ndarray) and like.ndim:
        return flat.reshape(like.shape)
    return float(flat[0])


def _differences(f, args, coordinates, h):
    """Central differences of every output in every coordinate at relative step ``h``, and the error
    f's rounding may put into each (its last bits divided by the step)."""
    columns, rounding = [], []
    for k, idx in coordinates:
        v = float(args[k] if idx is None else args[k][idx])
        up, down = v + h * max(1.0, abs(v)), v - h * max(1.0, abs(v))
        y_up, y_down = _flatten(f(*_moved(args, k, idx, up))), _flatten(f(*_moved(args, k, idx, down)))
        columns.append((y_up - y_down) / (up - down))  # the step as represented, not as asked for
        rounding.append(ROUNDING * EPS * np.maximum(np.abs(y_up), np.abs(y_down)) / (up - down))
    return np.stack(columns, axis=1), np.stack(rounding, axis=1)


@dataclass
class Reference:
    """Central differences of every output (rows) in every differentiated number (columns), each
    with the error it may carry.  An entry whose differences at the two steps disagree (a kink or a
    branch that flips within the step) is left out: it is 0 with error 0, and ``ok`` is False."""
    jac: np.ndarray
    err: np.ndarray
    ok: np.ndarray

    def along(self, left=None, right=None):
        """``left @ J @ right`` (None: the identity), its error bound, and which of its entries rest
        on self-consistent differences only (the ones to check)."""
        jac, err, left_out = self.jac, self.err, (~self.ok).astype(float)
        if left is not None:
            jac, err, left_out = left @ jac, np.abs(left) @ err, (left != 0) @ left_out
        if right is not None:
            jac, err, left_out = jac @ right, err @ np.abs(right), left_out @ (right != 0)
        return jac, err, left_out == 0

    def columns(self, wanted):
        return Reference(self.jac[:, wanted], self.err[:, wanted], self.ok[:, wanted])


def reference(f, args, wrt, float32=False) -> Reference:
    """Finite differences with an error estimate per entry, from two step sizes.

    Central differences are second order: at ten times the step the truncation error is about a
    hundred times larger, so the gap between the two bounds the smaller step's error, and MARGIN
    times it leaves room.  The bound is per entry: a small derivative is checked as tightly as a
    large one.  ``float32``: the derivatives to check were computed in float32 (``args`` are the
    float64 copies the differences use), which adds FLOAT32 relative to the entry and to its row."""
    coordinates = _coordinates(args, wrt)
    with np.errstate(all="ignore"):
        d1, rounding = _differences(f, args, coordinates, STEPS[0])
        d2, _ = _differences(f, args, coordinates, STEPS[1])
        gap = np.abs(d1 - d2)
        ok = gap <= CONSISTENT * np.maximum(np.abs(d1), np.abs(d2)) + rounding  # False where not finite
        err = MARGIN * gap + rounding + 1e-10 * np.abs(d1)
        if float32:
            row_size = np.sqrt(np.mean(np.where(ok, d1, 0.0) ** 2, axis=1, keepdims=True))
            err = err + FLOAT32 * (np.abs(d1) + row_size)
    return Reference(np.where(ok, d1, 0.0), np.where(ok, err, 0.0), ok)


def _compare(kind, what, got, expected, err, checked, names, program):
    """Raise a Finding where ``got`` is further from the differences than their error bound."""
    got = np.asarray(got, dtype=np.float64).ravel()
    off = checked & ~(np.abs(got - expected) <= err)  # a NaN is off too
    if np.any(off):
        j = int(np.flatnonzero(off)[0])
        raise Finding(kind, f"{what}, {names[j]}: adflow {got[j]!r}, finite differences {expected[j]!r} "
                            f"(error bound {err[j]:.1e}); all: adflow {got}, differences {expected}", program)


# --------------------------------------------------------------------------- checking one program
CHECKS = ("grad", "vjp", "jvp", "hvp", "jacobian")


class Finding(AssertionError):
    """adflow was wrong, crashed or refused a program of the supported subset."""

    def __init__(self, kind, detail, program):
        self.kind = kind
        self.detail = detail
        self.program = program
        super().__init__(f"[{kind}] {detail}\n--- program ---\n{program!r}")


class _Refused(Exception):
    """adflow refused the program on purpose: one of REFUSALS, naming the program's line."""


@dataclass
class Outcome:
    status: str  # "ok", "rejected" (value not finite or too large) or "refused" (one of REFUSALS)
    fd_checked: int = 0  # Jacobian entries from self-consistent finite differences
    fd_skipped: int = 0  # entries left out: the differences at two steps disagree (a kink)
    targets: tuple = ()
    hvp_checked: bool | None = None  # Hessian-vector product vs differences of gradients (None: not run)
    checks: tuple = ()  # what was checked: "grad", "vjp", "jvp", "hvp", "jacobian-<variant>"


class Loader:
    """Writes programs to real files (adflow reads source) and imports them."""

    def __init__(self, folder=None):
        self.folder = folder or tempfile.mkdtemp(prefix="adflow-fuzz-")
        self.count = 0

    def load(self, program: Program):
        text = program.module_text()
        self.count += 1
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        modname = f"fuzzprog_{digest}_{self.count}"
        path = os.path.join(self.folder, modname + ".py")
        with open(path, "w") as fh:
            fh.write(text)
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, program.name), path


def _close(u, v, rtol, scale):
    return abs(u - v) <= rtol * max(abs(u), abs(v)) + rtol * scale


def _acceptable(value):
    """A result the checks can use: finite, not huge, of numbers."""
    flat = _flatten(value)
    return flat.size > 0 and bool(np.all(np.isfinite(flat))) and float(np.max(np.abs(flat))) < 1e6


def _rng(program, salt):
    digest = hashlib.sha1((salt + program.source).encode()).hexdigest()
    return np.random.default_rng(int(digest[:8], 16))


def check_program(program: Program, loader: Loader, targets=("python",), checks=CHECKS) -> Outcome:
    """Run the ``checks`` (of :data:`CHECKS`) on one program; raise :class:`Finding` on the first failure.

    A program returning a number gets "grad" (value_and_grad and grad) and "hvp"; one returning a
    tuple gets neither "jvp" nor "jacobian" (adflow refuses tuples there on purpose)."""
    f, path = loader.load(program)
    try:
        value = f(*program.args())
    except (ArithmeticError, ValueError, IndexError) as exc:  # pragma: no cover - generator bug
        raise Finding("primal-raises", f"the generated program itself raises {exc!r}", program) from None
    if not _acceptable(value):
        return Outcome("rejected")
    checker = _Checker(f, path, program, value, targets)
    single = not isinstance(value, tuple)
    scalar = single and np.ndim(value) == 0
    planned = {"grad": scalar, "vjp": True, "jvp": single, "hvp": scalar, "jacobian": single}
    try:
        for check in CHECKS:
            if check in checks and planned[check]:
                getattr(checker, check)()
    except _Refused:
        return Outcome("refused", targets=tuple(targets))
    return checker.outcome


class _Checker:
    """The checks of one program against its finite differences and between adflow's APIs."""

    def __init__(self, f, path, program, value, targets):
        import adflow
        self.adflow, self.f, self.path, self.program, self.value = adflow, f, path, program, value
        self.targets = tuple(targets)
        self.wrt = program.wrt()
        self.ref = reference(f, program.args(np.float64), self.wrt, program.float32)
        self.names = program.coordinate_names()
        # numba and NumPy may round float32 differently (a float32 array times a float is float64 in numba).
        self.rtol = 1e-5 if program.float32 else 1e-12
        self.outcome = Outcome("ok", int(self.ref.ok.sum()), int((~self.ref.ok).sum()), self.targets)
        rng = _rng(program, "directions")
        self.cotangent = rng.standard_normal(self.ref.jac.shape[0])  # v, weighting the outputs
        self.tangent = rng.standard_normal(self.ref.jac.shape[1])  # t, a direction in the inputs
        self.pulled = {}  # target -> v^T J from vjp, for the dot-product test

    def ran(self, check):
        self.outcome.checks += (check,)

    def call(self, api, target, fn, *args):
        """``fn(*args)``: a refusal on purpose raises _Refused, anything else it raises is a finding,
        and so is a change to the arrays it was given."""
        before = [np.array(v) if isinstance(v, np.ndarray) else v for v in args]
        try:
            result = fn(*args)
        except self.adflow.AdflowError as exc:
            if f"{self.path}:" in str(exc) and any(re.search(p, str(exc)) for p in REFUSALS.values()):
                raise _Refused() from None
            raise Finding(f"refused-{api}-{target}", f"{type(exc).__name__}: {exc}", self.program) from None
        except Exception as exc:  # noqa: BLE001 - any other exception is a crash of adflow
            raise Finding(f"crash-{api}-{target}", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}",
                          self.program) from None
        for k, (arg, copy) in enumerate(zip(args, before)):
            if isinstance(arg, np.ndarray) and not np.array_equal(arg, copy):
                raise Finding("input-modified", f"{api} target={target}: argument {k} changed from {copy} to {arg}",
                              self.program)
        return result

    def check_value(self, api, target, got):
        want, have = _flatten(self.value), _flatten(got)
        scale = float(np.max(np.abs(want)))
        if want.shape != have.shape or not all(_close(u, v, self.rtol, scale) for u, v in zip(have, want)):
            raise Finding("wrong-value", f"{api} target={target}: value {got!r}, the function returns {self.value!r}",
                          self.program)

    def check_derivatives(self, api, target, derivatives):
        """Finite, and shaped and typed like their arguments (derivatives keep the input's dtype)."""
        flat = _flatten(derivatives)
        if not np.all(np.isfinite(flat)):
            raise Finding("non-finite-gradient", f"{api} target={target}: {flat}", self.program)
        args = self.program.args()
        for k, derivative in zip(self.wrt, derivatives):
            want = (args[k].shape, args[k].dtype) if isinstance(args[k], np.ndarray) else ((), np.float64)
            if (np.shape(derivative), np.asarray(derivative).dtype) != want:
                raise Finding("derivative-type", f"{api} target={target}: the derivative for argument {k} has shape "
                                                 f"{np.shape(derivative)} and dtype {np.asarray(derivative).dtype}, "
                                                 f"the argument {want}", self.program)
        return flat

    def agree(self, what, results):
        """Every target gives the numbers of the first (to rounding: the same arithmetic)."""
        (t0, g0), *others = results.items()
        scale = float(np.max(np.abs(g0)))
        for t1, g1 in others:
            for j in range(len(g0)):
                if not _close(g0[j], g1[j], self.rtol, scale):
                    raise Finding("targets-disagree", f"{what} d/d{self.names[j]}: {t0} {g0[j]!r} vs {t1} {g1[j]!r} "
                                                      f"(all: {g0} vs {g1})", self.program)

    # ------------------------------------------------------------------ the checks
    def grad(self):
        """value_and_grad on every target, against finite differences; grad (its own copy of the vjp,
        without what only the value needed) gives the same numbers."""
        results = {}
        for target in self.targets:
            fn = self.adflow.value_and_grad(self.f, wrt=self.wrt, target=target)
            got, grads = self.call("value_and_grad", target, fn, *self.program.args())
            self.check_value("value_and_grad", target, got)
            results[target] = self.check_derivatives("value_and_grad", target, grads)
        self.agree("gradient", results)
        expected, err, checked = self.ref.along(left=np.ones(1))
        _compare("wrong-gradient", "gradient", next(iter(results.values())), expected, err, checked, self.names,
                 self.program)
        for target, g_target in results.items():
            fn = self.adflow.grad(self.f, wrt=self.wrt, target=target)
            only = _flatten(self.call("grad", target, fn, *self.program.args()))
            if not np.allclose(only, g_target, rtol=self.rtol, atol=1e-300):
                raise Finding("grad-disagrees", f"target={target}: grad {only} vs value_and_grad {g_target}",
                              self.program)
        self.ran("grad")

    def vjp(self):
        """vjp on every target: its value, and v^T J against finite differences."""
        for target in self.targets:
            args = self.program.args()
            y, pullback = self.call("vjp", target, lambda *a: self.adflow.vjp(self.f, *a, wrt=self.wrt, target=target),
                                    *args)
            self.check_value("vjp", target, y)
            pulled = self.call("pullback", target, pullback, _unflatten(self.cotangent, y))
            if not all(np.array_equal(u, v) for u, v in zip(args, self.program.args())):
                raise Finding("input-modified", f"the pullback (target={target}) changed the arguments", self.program)
            self.pulled[target] = self.check_derivatives("vjp", target, pulled)
        self.agree("vjp", self.pulled)
        expected, err, checked = self.ref.along(left=self.cotangent)
        _compare("wrong-vjp", f"vjp with cotangent {self.cotangent}", next(iter(self.pulled.values())), expected,
                 err, checked, self.names, self.program)
        self.ran("vjp")

    def tangents(self):
        """``self.tangent`` split into one direction per differentiated argument, shaped like it."""
        args = self.program.args()
        sizes = np.cumsum([0] + [np.size(args[k]) for k in self.wrt])
        return tuple(_unflatten(self.tangent[lo:hi], args[k]) for lo, hi, k in zip(sizes, sizes[1:], self.wrt))

    def jvp(self):
        """jvp on every target: its value, J t against finite differences, and with vjp the
        dot-product test <v, J t> == <J^T v, t>."""
        expected, err, checked = self.ref.along(right=self.tangent)
        names = [f"output {i}" for i in range(len(expected))]
        for target in self.targets:
            fn = lambda *a: self.adflow.jvp(self.f, a, self.tangents(), wrt=self.wrt, target=target)  # noqa: E731
            y, y_dot = self.call("jvp", target, fn, *self.program.args())
            self.check_value("jvp", target, y)
            pushed = _flatten(y_dot)
            _compare("wrong-jvp", f"jvp target={target} along {self.tangent}", pushed, expected, err, checked, names,
                     self.program)
            if target in self.pulled:
                self.dot_product_test(target, pushed)
        self.ran("jvp")

    def dot_product_test(self, target, pushed):
        forward, reverse = self.cotangent @ pushed, self.pulled[target] @ self.tangent
        # What rounding can do to the two sums is relative to the terms summed, not to the result.
        terms = np.abs(self.cotangent) @ np.abs(pushed) + np.abs(self.pulled[target]) @ np.abs(self.tangent)
        if not abs(forward - reverse) <= (1e-4 if self.program.float32 else 1e-9) * terms:
            raise Finding("forward-reverse-disagree", f"target={target}: <v, jvp> = {forward!r}, "
                                                      f"<vjp, t> = {reverse!r}", self.program)

    def hvp(self):
        """hvp (dual numbers through the reverse sweep: tapes, adjoint rules and helper adjoints all
        carry tangents) against central differences of the float64 gradient along the same direction,
        with a per-component error bound from two steps as for the first derivatives."""
        v = _rng(self.program, "hvp").standard_normal(N)
        x, rest = self.program.args(np.float64)[0], self.program.args(np.float64)[1:]
        grad = self.adflow.grad(self.f, wrt=0, target="python")
        steps = [h * max(1.0, float(np.max(np.abs(x)))) for h in (1e-5, 1e-4)]
        pairs = [(self.call("grad", "python", grad, x + s * v, *rest), self.call("grad", "python", grad, x - s * v, *rest))
                 for s in steps]
        with np.errstate(all="ignore"):
            d1, d2 = [(up - down) / (2 * s) for (up, down), s in zip(pairs, steps)]
            rounding = ROUNDING * EPS * np.maximum(np.abs(pairs[0][0]), np.abs(pairs[0][1])) / steps[0]
            gap = np.abs(d1 - d2)
            checked = gap <= 1e-3 * np.maximum(np.abs(d1), np.abs(d2)) + rounding
            err = MARGIN * gap + rounding + 1e-8 * np.abs(d1)
            if self.program.float32:
                err = err + FLOAT32 * (np.abs(d1) + np.sqrt(np.mean(np.where(checked, d1, 0.0) ** 2)))
        names = [f"(H v)[{j}]" for j in range(N)]
        for target in self.targets:
            x, *rest = self.program.args()
            hv = self.call("hvp", target, self.adflow.hvp(self.f, wrt=0, target=target), x, v, *rest)
            _compare("wrong-hvp", f"hvp target={target} along {v} (differences of the gradient at steps {steps})",
                     hv, d1, err, checked, names, self.program)
        self.outcome.hvp_checked = bool(np.any(checked))
        self.ran("hvp")

    def jacobian(self):
        """adflow.jacobian in the program's variants (mode auto/forward/reverse, sparsity="auto",
        batch=True) against the finite differences of the argument it differentiates."""
        for variant, wrt in self.program.jacobians:
            for target in self.targets:
                if variant.startswith("batch"):
                    self.batched_jacobian(variant, target)
                else:
                    self.single_jacobian(variant, wrt, target)
            self.ran(f"jacobian-{variant}")

    def columns_of(self, wrt):
        return [j for j, (k, _) in enumerate(_coordinates(self.program.args(), self.wrt)) if k == wrt]

    def single_jacobian(self, variant, wrt, target):
        options = {"sparsity": "auto"} if variant == "sparse" else {"mode": variant}
        fn = self.adflow.jacobian(self.f, wrt=wrt, target=target, **options)
        got = self.call(f"jacobian-{variant}", target, fn, *self.program.args())
        got = got.toarray() if hasattr(got, "toarray") else np.asarray(got)  # sparsity=: scipy.sparse
        columns = self.columns_of(wrt)
        self.compare_jacobian(f"jacobian({variant}, wrt={wrt}) target={target}", got, self.ref.columns(columns),
                              [self.names[j] for j in columns])

    def batched_jacobian(self, variant, target):
        """jacobian(batch=True) on two rows: x and another point, each against its own differences."""
        x = self.program.x
        rows = np.stack([x, 0.5 * x[::-1] + 0.1]).astype(self.program.args()[0].dtype)
        rest = self.program.args()[1:]
        mode = "reverse" if variant == "batch-reverse" else "auto"
        fn = self.adflow.jacobian(self.f, wrt=0, batch=True, mode=mode, target=target)
        got = self.call(f"jacobian-{variant}", target, fn, rows, *rest)
        names = self.names[:N]
        for r, row in enumerate(rows):
            args = (row.astype(np.float64),) + self.program.args(np.float64)[1:]
            ref = self.ref.columns(self.columns_of(0)) if r == 0 else reference(self.f, args, (0,), self.program.float32)
            self.compare_jacobian(f"jacobian(batch=True, mode={mode}) target={target}, row {r}", np.asarray(got)[r],
                                  ref, names)

    def compare_jacobian(self, what, got, ref, input_names):
        rows = ref.jac.shape[0]
        if np.size(got) != ref.jac.size:
            raise Finding("wrong-jacobian", f"{what}: shape {np.shape(got)}, expected {rows} x {len(input_names)} "
                                            f"entries", self.program)
        expected, err, checked = ref.along()
        names = [f"d out[{i}] / d {name}" for i in range(rows) for name in input_names]
        _compare("wrong-jacobian", what, np.reshape(got, (rows, -1)), expected.ravel(), err.ravel(), checked.ravel(),
                 names, self.program)


# --------------------------------------------------------------------------- the long campaign
def _worker(job):
    seeds, cpu_every, avoid, cache = job
    os.environ["ADFLOW_CACHE_DIR"] = cache
    import warnings
    warnings.simplefilter("ignore")
    from .pipeline import cache as builds
    loader = Loader(tempfile.mkdtemp(prefix="adflow-fuzz-"))
    stats = {"counts": Counter(), "findings": []}
    for n_done, seed in enumerate(seeds):
        program = draw_program(RandomDrawer(seed), name=f"prog{seed}", avoid=avoid)
        targets = ("python", "cpu") if cpu_every and seed % cpu_every == 0 else ("python",)
        try:
            outcome = check_program(program, loader, targets)
        except Finding as exc:
            stats["findings"].append((seed, exc.kind, exc.detail.splitlines()[0][:300], program))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug of the fuzzer itself is reported, not hidden
            stats["findings"].append((seed, "fuzzer-error", repr(exc)[:300], program))
            continue
        stats["counts"].update({outcome.status: 1, "cpu": len(outcome.targets) > 1, "fd_checked": outcome.fd_checked,
                                "fd_skipped": outcome.fd_skipped, "hvp_checked": outcome.hvp_checked is True})
        stats["counts"].update(outcome.checks)
        if n_done % 100 == 99:
            # Builds keep their functions alive; a long campaign lets them go (the dict is rebuilt
            # from scratch, so no entry can be found again by a reused id).
            builds.clear()
    shutil.rmtree(loader.folder, ignore_errors=True)
    return stats


def campaign(examples=5000, cpu_every=20, jobs=2, seed=0, out="fuzz-findings", avoid=frozenset(KNOWN_DEFECTS)):
    import multiprocessing as mp

    cache = tempfile.mkdtemp(prefix="adflow-fuzz-cache-")
    seeds = list(range(seed, seed + examples))
    chunks = [seeds[k::jobs * 8] for k in range(jobs * 8)]
    t0 = time.perf_counter()
    counts, findings = Counter(), []
    ctx = mp.get_context("spawn")
    with ctx.Pool(jobs) as pool:
        for stats in pool.imap_unordered(_worker, [(c, cpu_every, frozenset(avoid), cache) for c in chunks]):
            counts.update(stats["counts"])
            findings += stats["findings"]
            done = counts["ok"] + counts["rejected"] + counts["refused"] + len(findings)
            print(f"  {done}/{examples} programs, {len(findings)} findings, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    groups: dict = {}
    for finding in findings:
        groups.setdefault((finding[1], _signature(finding[2])), []).append(finding)
    if findings:
        os.makedirs(out, exist_ok=True)
        for seed_, kind, detail, program in findings:
            with open(os.path.join(out, f"seed{seed_}_{kind}.py"), "w") as fh:
                fh.write(f"# {kind}: {detail}\n# {program.inputs_text()}\n")
                fh.write(program.module_text())
    checks = ", ".join(f"{counts[name]} {name}" for name in sorted(counts) if name in CHECKS or "-" in name)
    print(f"\n{examples} programs in {elapsed:.0f} s with {jobs} processes: {counts['ok']} checked, "
          f"{counts['rejected']} rejected (value not finite or > 1e6), {counts['refused']} refused on purpose "
          f"(REFUSALS), {counts['cpu']} also on target='cpu'; "
          f"{counts['fd_checked']} Jacobian entries from finite differences, {counts['fd_skipped']} left out "
          f"(kinks); {counts['hvp_checked']} Hessian-vector products vs differences of gradients; checks: {checks}")
    print(f"{len(findings)} findings in {len(groups)} groups" + (f", programs in {out}/" if groups else ""))
    for (kind, sig), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(items):5d} x [{kind}] {sig}   e.g. seed {items[0][0]}")
    return {"counts": counts, "findings": findings}


def minimize(program: Program, targets=("python",), kind=None, loader=None) -> Program:
    """Delete and unwrap statements while the same kind of finding remains (delta debugging)."""
    import ast

    loader = loader or Loader()

    def finding_kind(source):
        try:
            check_program(dataclasses.replace(program, source=source), loader, targets)
        except Finding as exc:
            return exc.kind
        except Exception:  # noqa: BLE001 - e.g. the candidate no longer parses or compiles
            return None
        return None

    kind = kind or finding_kind(program.source)
    if kind is None:
        return program
    source = program.source
    progress = True
    while progress:
        progress = False
        tree = ast.parse(source)
        bodies = [(node, attr) for node in ast.walk(tree) for attr in ("body", "orelse")
                  if isinstance(getattr(node, attr, None), list)]
        edits = []
        for node, attr in bodies:
            stmts = getattr(node, attr)
            for k, stmt in enumerate(stmts):
                if isinstance(stmt, ast.Return) and node is tree.body[0] and attr == "body":
                    continue
                edits.append((node, attr, k, None))  # delete
                if isinstance(stmt, (ast.If, ast.For, ast.While)):
                    edits.append((node, attr, k, "unwrap"))
                    if isinstance(stmt, ast.If) and stmt.orelse:
                        edits.append((node, attr, k, "else"))
        for node, attr, k, how in edits:
            stmts = getattr(node, attr)
            old = list(stmts)
            if how is None:
                replacement = []
            elif how == "unwrap":
                replacement = [s for s in stmts[k].body if not isinstance(s, (ast.Break, ast.Continue))]
            else:
                replacement = list(stmts[k].orelse)
            new = stmts[:k] + replacement + stmts[k + 1:]
            if not new:
                continue
            setattr(node, attr, new)
            candidate = ast.unparse(tree) + "\n"
            setattr(node, attr, old)
            if finding_kind(candidate) == kind:
                source = candidate
                progress = True
                break
    return dataclasses.replace(program, source=source)


def _signature(detail):
    text = re.sub(r"0x[0-9a-f]+", "0x", detail)
    text = re.sub(r"-?\d+\.\d+(e-?\d+)?", "#", text)
    text = re.sub(r"\b(prog|fuzzprog_)\w*", "prog", text)
    text = re.sub(r"\d+", "#", text)
    return text[:160]


def _show(program):
    print(program.module_text() + f"\n# {program.inputs_text()}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m adflow.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="programs to generate (default 1000)")
    parser.add_argument("--cpu-every", type=int, default=20,
                        help="also run target='cpu' on every k-th program (0: never; default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--out", default="fuzz-findings", help="folder for failing programs")
    parser.add_argument("--show", type=int, metavar="SEED", help="print the program of one seed and exit")
    parser.add_argument("--check", type=int, metavar="SEED",
                        help="check the program of one seed (both targets) and print the outcome")
    parser.add_argument("--minimize", action="store_true", help="with --check: shrink a failing program first")
    parser.add_argument("--all", action="store_true",
                        help="also generate the constructs of known defects (KNOWN_DEFECTS; avoided by default)")
    ns = parser.parse_args(argv)
    avoid = frozenset() if ns.all else frozenset(KNOWN_DEFECTS)
    if ns.check is not None:
        program = draw_program(RandomDrawer(ns.check), name=f"prog{ns.check}", avoid=avoid)
        targets = ("python",) if ns.cpu_every == 0 else ("python", "cpu")
        if ns.minimize:
            program = minimize(program, targets)
        _show(program)
        print(check_program(program, Loader(), targets))
        return 0
    if ns.show is not None:
        _show(draw_program(RandomDrawer(ns.show), name=f"prog{ns.show}", avoid=avoid))
        return 0
    total = campaign(ns.examples, ns.cpu_every, ns.jobs, ns.seed, ns.out, avoid)
    return 1 if total["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""A random-program fuzzer for adflow's reverse mode: "correct or loud".

It writes random, well-formed numerical Python functions (loops, nested loops, ``while`` with
bounded trip counts, ``break``/``continue``, early ``return``, ``if``/``else`` on values, in-place
array writes, ``+=``, calls to a fixed set of helper functions, math kept inside its domain) to
real files, imports them, and checks ``adflow.value_and_grad`` on them:

* the value equals the function's own result, and the caller's arrays are never modified;
* ``target="python"`` and ``target="cpu"`` agree to 1e-12 (relative to the gradient's size), and
  ``adflow.grad`` (its own copy of the vjp, without what only the value needed) agrees with
  ``value_and_grad``;
* both agree with central finite differences (components whose finite differences are not
  self-consistent, i.e. a branch flips within the step, are left out and counted);
* with forward mode present (``adflow.jvp``), forward and reverse pass the dot-product test, and
  ``adflow.hvp`` (duals through the reverse sweep) matches central differences of the gradient;
* every generated program is valid Python, so any error is a finding, except an
  :class:`adflow.AdflowError` that names the program's line and is one of :data:`REFUSALS` (a
  construct adflow refuses on purpose: "correct or loud").

Used two ways:

* from the tests (``tests/test_fuzz.py``), through the hypothesis strategy :func:`programs`, so a
  failing program is shrunk to a small one;
* as a long campaign from the command line, which keeps going after failures and groups them::

      python -m adflow.fuzz --examples 5000 --cpu-every 20 --jobs 2 --out fuzz-findings

Generated programs look like this (``x`` a float array of length 4, ``a`` a float, ``n == 4``)::

    def prog(x, a, n):
        s0 = 0.5
        s1 = a * x[0]
        b = x.copy()
        for i0 in range(n):
            if math.sin(x[i0]) > 0.25:
                b[i0] += 0.5 * math.tanh(s0 * x[i0])
                continue
            s0 = 0.5 * s0 + math.atan(fz_soft(b[i0]))
        return s0 + 0.5 * s1 + 0.25 * np.sum(b * b)
"""
from __future__ import annotations

import argparse
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
KNOWN_DEFECTS: dict = {}  # name -> what goes wrong (the test that pins it); all fixed for now

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
BOUNDED = ["math.sin({})", "math.tanh({})", "math.cos({})", "math.atan({})", "fz_rat({})",
           "math.exp(-0.5 * ({}) ** 2)"]
THRESHOLDS = ["0.0", "0.25", "-0.3", "0.5", "0.1"]


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
    """Writes one random function ``def <name>(x, a, n)`` returning a float."""

    def __init__(self, drawer, name="prog", max_statements=4, avoid=frozenset(), budget=8, depth=2):
        self.d = drawer
        self.avoid = frozenset(avoid)
        unknown = self.avoid - set(KNOWN_DEFECTS)
        if unknown:
            raise ValueError(f"unknown defects to avoid: {sorted(unknown)}")
        self.name = name
        self.max_statements = max_statements
        self.lines: list[str] = []
        self.scalars = ["s0", "s1"]
        self.arrays = ["b"]
        self.counter = 0
        self.budget = budget  # statements in all, so programs stay small (typing and compile time)
        self.depth = depth  # of expressions outside loops (inside loops one less)

    # ------------------------------------------------------------------ entry
    def generate(self) -> str:
        d = self.d
        self.emit(0, f"def {self.name}(x, a, n):")
        self.emit(1, f"s0 = {d.choice(['0.5', 'a', 'a * x[0]', 'math.sin(a) + x[1]'])}")
        self.emit(1, f"s1 = {d.choice(['x[0] * a', '0.25', 'np.sum(x) * 0.5', 'fz_soft(a)'])}")
        self.emit(1, f"b = {d.choice(['x.copy()', 'np.zeros(n)', 'x * a', 'np.sin(x) + 0.5'])}")
        if d.boolean(0.3):
            self.arrays.append("c")
            self.emit(1, f"c = {d.choice(['np.ones(n) * a', 'np.cos(x)', 'x * x'])}")
        if d.boolean(0.3):
            self.scalars.append("s2")
            self.emit(1, "s2 = 0.0")
        count = d.integer(1, self.max_statements)
        for _ in range(count):
            self.statement(1, Context())
        if d.boolean(0.3):
            # Return a variable the function overwrote, not a fresh expression.
            self.emit(1, f"s0 = {self.result()}")
            self.emit(1, "return s0")
        else:
            self.emit(1, f"return {self.result()}")
        return "\n".join(self.lines) + "\n"

    def emit(self, indent, text):
        self.lines.append("    " * indent + text)

    def fresh(self, base):
        self.counter += 1
        return f"{base}{self.counter}"

    # ------------------------------------------------------------------ statements
    def statement(self, indent, ctx):
        if self.budget <= 0:
            self.scalar_update(indent, ctx)
            return
        self.budget -= 1
        d = self.d
        kinds = ["scalar", "scalar_aug", "elem", "array"]
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
        ])
        arr = d.choice(self.arrays)
        other = d.choice(self.arrays + ["x"])
        source = d.choice(self.arrays + ["x"])  # the array itself: an overlapping slice write
        s = self.scalar_atom(ctx)
        self.emit(indent, form.format(a=arr, c=d.choice(COEFFS), o=other, s=s, r=source))

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
        for loop in ctx.loops:
            if loop.value_var:
                options += [loop.value_var, loop.value_var]
        atom = d.choice(options)
        if "{}" in atom:
            atom = atom.format(self.index(ctx))
        return atom

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
            arr = d.choice(self.arrays)
            return d.choice([f"np.sum({arr}) * 0.25", f"np.dot(x, {arr}) * 0.5", f"fz_norm2({arr})",
                             f"np.mean(np.sin({arr}))", f"np.max({arr})", f"np.sum({arr} * {arr}) * 0.1"])
        if form == "minmax":
            return f"{d.choice(['max', 'min'])}({e()}, {e()})"
        if form == "ifexp":
            return f"(({e()}) if ({self.expr(depth - 1, ctx)}) > {d.choice(THRESHOLDS)} else ({e()}))"
        return f"({e()}) ** {d.choice(['2', '3', '2.0'])}"

    def result(self):
        d = self.d
        parts = []
        for s in self.scalars:
            parts.append(f"{d.choice(['1.0', '0.5', '-0.3'])} * {s}")
        for arr in self.arrays:
            parts.append(d.choice([f"0.25 * np.sum({arr} * {arr})", f"np.dot({arr}, x)", f"0.5 * np.sum({arr})",
                                   f"fz_norm2({arr})"]))
        return " + ".join(parts)


# --------------------------------------------------------------------------- a program and its inputs
@dataclass
class Program:
    source: str  # the function's text (without the module header)
    name: str
    x: np.ndarray
    a: float
    n: int = N

    def args(self):
        return (self.x.copy(), float(self.a), self.n)

    def module_text(self):
        return HEADER + "\n\n" + self.source

    def __repr__(self):  # what hypothesis prints for a failing example
        return (f"Program(x=np.{self.x!r}, a={self.a!r}):\n" + self.source)


def _inputs(d):
    # Values away from 0 and from simple fractions: kinks (abs at 0, max ties, thresholds) are hit
    # only by accident.
    x = np.array([d.integer(-100, 100) / 100.0 + 0.0123 * (k + 1) for k in range(N)])
    a = d.integer(-150, 150) / 100.0 + 0.0071
    return x, a


def draw_program(d, name="prog", avoid=frozenset()) -> Program:
    source = ProgramGenerator(d, name, avoid=avoid).generate()
    x, a = _inputs(d)
    return Program(source, name, x, a)


def programs(avoid=frozenset(KNOWN_DEFECTS)):
    """A hypothesis strategy of :class:`Program` objects (by default avoiding known defects)."""
    from hypothesis import strategies as st

    @st.composite
    def _programs(draw):
        return draw_program(HypothesisDrawer(draw), avoid=avoid)
    return _programs()


# --------------------------------------------------------------------------- checking one program
class Finding(AssertionError):
    """adflow was wrong, crashed or refused a program of the supported subset."""

    def __init__(self, kind, detail, program):
        self.kind = kind
        self.detail = detail
        self.program = program
        super().__init__(f"[{kind}] {detail}\n--- program ---\n{program!r}")


@dataclass
class Outcome:
    status: str  # "ok", "rejected" (value not finite or too large) or "refused" (one of REFUSALS)
    fd_checked: int = 0  # gradient components compared with finite differences
    fd_skipped: int = 0  # components left out: finite differences not self-consistent (a kink)
    targets: tuple = ()
    hvp_checked: bool | None = None  # Hessian-vector product vs differences of gradients (None: not run)


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


def _central(f, args, k, j, h):
    """Central difference in one coordinate; every call gets fresh copies (programs write into x)."""
    x, a, n = args
    if k == 0:
        step = h * max(1.0, abs(x[j]))
        xp, xm = x.copy(), x.copy()
        xp[j] += step
        xm[j] -= step
        return (f(xp, a, n) - f(xm, a, n)) / (2 * step)
    step = h * max(1.0, abs(a))
    return (f(x.copy(), a + step, n) - f(x.copy(), a - step, n)) / (2 * step)


def _flat(grads):
    gx, ga = grads
    return np.concatenate([np.asarray(gx, dtype=float).ravel(), [float(ga)]])


def _close(u, v, rtol, scale):
    return abs(u - v) <= rtol * max(abs(u), abs(v)) + rtol * scale


def check_program(program: Program, loader: Loader, targets=("python",), fd=True, forward=True,
                  hvp_errors=True) -> Outcome:
    """Run every check on one program; raise :class:`Finding` on the first failure.

    ``hvp_errors=False`` records a Hessian-vector product that raises as ``hvp_checked=False``
    instead of a finding (a wrong number is always a finding)."""
    import adflow

    f, path = loader.load(program)
    args = program.args()
    try:
        value = f(*program.args())
    except (ArithmeticError, ValueError, IndexError) as exc:  # pragma: no cover - generator bug
        raise Finding("primal-raises", f"the generated program itself raises {exc!r}", program) from None
    if not (isinstance(value, float) and math.isfinite(value) and abs(value) < 1e6):
        return Outcome("rejected")

    results = {}
    for target in targets:
        x_before = args[0].copy()
        try:
            got_value, grads = adflow.value_and_grad(f, wrt=(0, 1), target=target)(*args)
        except adflow.AdflowError as exc:
            if f"{path}:" in str(exc) and any(re.search(p, str(exc)) for p in REFUSALS.values()):
                return Outcome("refused", targets=tuple(targets))
            raise Finding(f"refused-{target}", f"{type(exc).__name__}: {exc}", program) from None
        except Exception as exc:  # noqa: BLE001 - any other exception is a crash of adflow
            tb = traceback.format_exc(limit=-3)
            raise Finding(f"crash-{target}", f"{type(exc).__name__}: {exc}\n{tb}", program) from None
        if not np.array_equal(args[0], x_before):
            raise Finding("input-modified", f"target={target}: x changed from {x_before} to {args[0]}", program)
        if not _close(float(got_value), value, 1e-12, 1e-300):
            raise Finding("wrong-value", f"target={target}: value {got_value!r}, the function returns {value!r}",
                          program)
        g = _flat(grads)
        if not np.all(np.isfinite(g)):
            raise Finding("non-finite-gradient", f"target={target}: {g}", program)
        results[target] = g

    names = [f"x[{j}]" for j in range(N)] + ["a"]
    if len(results) > 1:
        (t0, g0), (t1, g1) = list(results.items())[:2]
        scale = float(np.max(np.abs(g0)))
        for j in range(len(g0)):
            if not _close(g0[j], g1[j], 1e-12, scale):
                raise Finding("targets-disagree",
                              f"d/d{names[j]}: {t0} {g0[j]!r} vs {t1} {g1[j]!r} (all: {g0} vs {g1})", program)

    outcome = Outcome("ok", targets=tuple(targets))
    g = next(iter(results.values()))
    if fd:
        scale = max(1.0, abs(value), float(np.max(np.abs(g))))
        for j in range(N + 1):
            k, jj = (0, j) if j < N else (1, 0)
            d1 = _central(f, args, k, jj, 1e-6)
            d2 = _central(f, args, k, jj, 1e-5)
            if not (math.isfinite(d1) and math.isfinite(d2)) or abs(d1 - d2) > 1e-5 * max(scale, abs(d1)):
                outcome.fd_skipped += 1  # a kink or branch flip within the step
                continue
            outcome.fd_checked += 1
            if abs(g[j] - d1) > 2e-5 * max(scale, abs(d1)):
                raise Finding("wrong-gradient",
                              f"d/d{names[j]}: adflow {g[j]!r}, finite differences {d1!r} (h=1e-6) and {d2!r} "
                              f"(h=1e-5); full adflow gradient {g}", program)
    for target, g_target in results.items():
        # grad runs its own copy of the vjp, without what only the value needed: the same numbers.
        only = _flat(adflow.grad(f, wrt=(0, 1), target=target)(*args))
        if not np.allclose(only, g_target, rtol=1e-12, atol=1e-300):
            raise Finding("grad-disagrees", f"target={target}: grad {only} vs value_and_grad {g_target}", program)
    if forward and hasattr(adflow, "jvp"):
        _forward_check(adflow, f, args, g, program, targets[0])
        outcome.hvp_checked = _second_order_check(adflow, f, args, program, targets[0], hvp_errors)
    return outcome


def _forward_check(adflow, f, args, g, program, target):
    """Forward vs reverse: ``<J t, 1> == <t, J^T 1>`` for a random tangent (the dot-product test).

    Calls ``adflow.jvp(f, primals, tangents, wrt=(0, 1))``: one tangent per differentiated
    argument, returning ``(y, y_dot)``.
    """
    from .testing import dot_product_test

    rng = np.random.default_rng(int(hashlib.sha1(program.source.encode()).hexdigest()[:8], 16))
    tx, ta = rng.standard_normal(N), float(rng.standard_normal())
    args = (args[0].copy(),) + tuple(args[1:])
    before = args[0].copy()
    try:
        _, y_dot = adflow.jvp(f, args, (tx, ta), wrt=(0, 1), target=target)
    except adflow.AdflowError as exc:
        raise Finding("forward-refused", f"{type(exc).__name__}: {exc}", program) from None
    except Exception as exc:  # noqa: BLE001
        raise Finding("forward-crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}",
                      program) from None
    if not np.array_equal(args[0], before):
        raise Finding("input-modified", f"jvp changed x from {before} to {args[0]}", program)
    tangent = np.concatenate([tx, [ta]])
    if not dot_product_test(y_dot, g, tangent, 1.0, rtol=1e-9):
        raise Finding("forward-reverse-disagree",
                      f"jvp gives {float(y_dot)!r}, <t, grad> = {float(tangent @ g)!r}", program)


def _second_order_check(adflow, f, args, program, target, errors_are_findings=True):
    """``hvp`` (dual numbers through the reverse sweep: tapes, adjoint rules and helper adjoints all
    carry tangents) against central differences of the gradient along the same direction.

    Returns True when checked, None when the differences are not self-consistent (a branch flips
    within the step), False when hvp raised and ``errors_are_findings`` is off."""
    rng = np.random.default_rng(int(hashlib.sha1(program.source.encode()).hexdigest()[8:16], 16))
    x, a, n = args
    v = rng.standard_normal(N)
    try:
        hv = np.asarray(adflow.hvp(f, wrt=0, target=target)(x.copy(), a, n, v))
    except adflow.AdflowError as exc:
        if not errors_are_findings:
            return False
        raise Finding("hvp-refused", f"{type(exc).__name__}: {exc}", program) from None
    except Exception as exc:  # noqa: BLE001
        if not errors_are_findings:
            return False
        raise Finding("hvp-crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}",
                      program) from None
    grad = adflow.grad(f, wrt=0, target=target)

    def gradient_difference(h):
        step = h * max(1.0, float(np.max(np.abs(x))))
        return (np.asarray(grad(x + step * v, a, n)) - np.asarray(grad(x - step * v, a, n))) / (2 * step)

    d1, d2 = gradient_difference(1e-5), gradient_difference(1e-4)
    scale = max(1.0, float(np.max(np.abs(d1))))
    if not (np.all(np.isfinite(d1)) and np.all(np.isfinite(d2))) or np.max(np.abs(d1 - d2)) > 1e-3 * scale:
        return None
    if not np.all(np.isfinite(hv)) or np.max(np.abs(hv - d1)) > 1e-4 * scale:
        raise Finding("wrong-hvp", f"hvp {hv}, differences of the gradient {d1} (h=1e-5) and {d2} (h=1e-4)",
                      program)
    return True


# --------------------------------------------------------------------------- the long campaign
def _worker(job):
    seeds, cpu_every, avoid, cache = job
    os.environ["ADFLOW_CACHE_DIR"] = cache
    import warnings
    warnings.simplefilter("ignore")
    from .pipeline import cache
    loader = Loader(tempfile.mkdtemp(prefix="adflow-fuzz-"))
    stats = {"ok": 0, "rejected": 0, "refused": 0, "cpu": 0, "fd_checked": 0, "fd_skipped": 0, "hvp_checked": 0,
             "findings": []}
    for n_done, seed in enumerate(seeds):
        program = draw_program(RandomDrawer(seed), name=f"prog{seed}", avoid=avoid)
        targets = ("python", "cpu") if cpu_every and seed % cpu_every == 0 else ("python",)
        try:
            outcome = check_program(program, loader, targets)
        except Finding as exc:
            stats["findings"].append((seed, exc.kind, exc.detail.splitlines()[0][:300], program.source,
                                      program.x.tolist(), program.a))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug of the fuzzer itself is reported, not hidden
            stats["findings"].append((seed, "fuzzer-error", repr(exc)[:300], program.source,
                                      program.x.tolist(), program.a))
            continue
        stats[outcome.status] += 1
        stats["cpu"] += len(outcome.targets) > 1
        stats["fd_checked"] += outcome.fd_checked
        stats["fd_skipped"] += outcome.fd_skipped
        stats["hvp_checked"] += outcome.hvp_checked is True
        if n_done % 100 == 99:
            # Builds keep their functions alive; a long campaign lets them go (the dict is rebuilt
            # from scratch, so no entry can be found again by a reused id).
            cache.clear()
    shutil.rmtree(loader.folder, ignore_errors=True)
    return stats


def campaign(examples=5000, cpu_every=20, jobs=2, seed=0, out="fuzz-findings", avoid=frozenset(KNOWN_DEFECTS)):
    import multiprocessing as mp

    cache = tempfile.mkdtemp(prefix="adflow-fuzz-cache-")
    seeds = list(range(seed, seed + examples))
    chunks = [seeds[k::jobs * 8] for k in range(jobs * 8)]
    t0 = time.perf_counter()
    total = {"ok": 0, "rejected": 0, "refused": 0, "cpu": 0, "fd_checked": 0, "fd_skipped": 0, "hvp_checked": 0,
             "findings": []}
    ctx = mp.get_context("spawn")
    with ctx.Pool(jobs) as pool:
        for stats in pool.imap_unordered(_worker, [(c, cpu_every, frozenset(avoid), cache) for c in chunks]):
            for key in total:
                total[key] += stats[key]
            done = total["ok"] + total["rejected"] + total["refused"] + len(total["findings"])
            print(f"  {done}/{examples} programs, {len(total['findings'])} findings, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    groups: dict = {}
    for finding in total["findings"]:
        groups.setdefault((finding[1], _signature(finding[2])), []).append(finding)
    if total["findings"]:
        os.makedirs(out, exist_ok=True)
        for finding in total["findings"]:
            seed_, kind, detail, source, x, a = finding
            with open(os.path.join(out, f"seed{seed_}_{kind}.py"), "w") as fh:
                fh.write(f"# {kind}: {detail}\n# x = np.array({x!r}); a = {a!r}; n = {N}\n")
                fh.write(HEADER + "\n\n" + source)
    print(f"\n{examples} programs in {elapsed:.0f} s with {jobs} processes: {total['ok']} checked, "
          f"{total['rejected']} rejected (value not finite or > 1e6), {total['refused']} refused on purpose "
          f"(REFUSALS), {total['cpu']} also on target='cpu'; "
          f"{total['fd_checked']} gradient components vs finite differences, {total['fd_skipped']} left out "
          f"(kinks); {total['hvp_checked']} Hessian-vector products vs differences of gradients")
    print(f"{len(total['findings'])} findings in {len(groups)} groups" + (f", programs in {out}/" if groups else ""))
    for (kind, sig), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(items):5d} x [{kind}] {sig}   e.g. seed {items[0][0]}")
    return total


def minimize(program: Program, targets=("python",), kind=None, loader=None) -> Program:
    """Delete and unwrap statements while the same kind of finding remains (delta debugging)."""
    import ast

    loader = loader or Loader()

    def finding_kind(source):
        candidate = Program(source, program.name, program.x, program.a, program.n)
        try:
            check_program(candidate, loader, targets)
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
    return Program(source, program.name, program.x, program.a, program.n)


def _signature(detail):
    text = re.sub(r"0x[0-9a-f]+", "0x", detail)
    text = re.sub(r"-?\d+\.\d+(e-?\d+)?", "#", text)
    text = re.sub(r"\b(prog|fuzzprog_)\w*", "prog", text)
    text = re.sub(r"\d+", "#", text)
    return text[:160]


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
        if ns.minimize:
            targets = ("python",) if ns.cpu_every == 0 else ("python", "cpu")
            program = minimize(program, targets)
        print(HEADER + "\n\n" + program.source + f"\n# x = np.{program.x!r}; a = {program.a!r}; n = {N}")
        targets = ("python",) if ns.cpu_every == 0 else ("python", "cpu")
        print(check_program(program, Loader(), targets))
        return 0
    if ns.show is not None:
        program = draw_program(RandomDrawer(ns.show), name=f"prog{ns.show}", avoid=avoid)
        print(HEADER + "\n\n" + program.source + f"\n# x = np.{program.x!r}; a = {program.a!r}; n = {N}")
        return 0
    total = campaign(ns.examples, ns.cpu_every, ns.jobs, ns.seed, ns.out, avoid)
    return 1 if total["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())

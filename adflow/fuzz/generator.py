"""The generator of one random function: statements, loops, branches and expressions of the grammar."""
from __future__ import annotations

from dataclasses import dataclass, field

from .defects import DEFECT_FORMS, KNOWN_DEFECTS
from .grammar import (BOUNDED, COEFFS, CONSTANTS, GROWTHS, N, REBIND_A, REBIND_A_LOOP, REBIND_M, REBIND_X,
                      REBIND_X_LOOP, SHIFTED, SHORTEN_X, THRESHOLDS, Signature)


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
            self.emit(1, f"c = {d.choice(self.allowed(['np.ones(n) * a', 'np.cos(x)', 'x * x']))}")
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
        kinds = ["scalar", "scalar_aug", "elem", "array", "rebind", "rebind", "swap", "local_rebind", "recompute",
                 "sum_chain", "array_chain"]
        if self.matrices:
            kinds += ["matrix", "matrix"]
        if not self.signature.float32:
            kinds.append("tuple")
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

    def stmt_tuple(self, indent, ctx):
        """Values packed into a tuple, sometimes nested, and read back by constant indices, negative ones
        too: ``t[-1]`` lost its adjoint (fixed in stop 27), and reverse mode once refused nested tuples."""
        d = self.d
        p, q = self.two_of(self.scalars)
        t, part = self.fresh("tp"), f"{d.choice(self.arrays)} * {d.choice(COEFFS)}"
        if d.boolean(0.5):
            self.emit(indent, f"{t} = ({p}, ({part}, {q}))")
            inner = f"{t}[{d.choice(['1', '-1'])}]"
            read = (f"{t}[{d.choice(['0', '-2'])}] * {inner}[{d.choice(['1', '-1'])}] + "
                    f"{d.choice(COEFFS)} * np.sum({inner}[{d.choice(['0', '-2'])}])")
        else:
            self.emit(indent, f"{t} = ({p}, {part}, {q})")
            read = (f"{t}[{d.choice(['0', '-3'])}] * {t}[{d.choice(['2', '-1'])}] + "
                    f"{d.choice(COEFFS)} * np.sum({t}[{d.choice(['1', '-2'])}])")
        target = d.choice(self.scalars)
        self.emit(indent, f"{target} = math.tanh({read})" if ctx.loops else f"{target} = {read}")

    def two_of(self, names):
        first = self.d.choice(names)
        return first, self.d.choice([name for name in names if name != first])

    def stmt_local_rebind(self, indent, ctx):
        """A local computed from itself, then read (``s = s * s; y = s * s``), or an array rebound to
        a view of itself (``b = b[::-1]``: what adjoints read of the old b is overwritten by later
        writes into the new one, fuzz seed 888177).  ``ravel``, not ``reshape``: after ``b = b[::-1]``
        (here, or swapped in from x) numba types b as non-contiguous and refuses reshape even in the
        primal (CI's fuzz seed 3143907977, not an adflow defect)."""
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
                                        f"{arr} = {arr}.ravel()"]))

    def stmt_recompute(self, indent, ctx):
        """An array computed, written into, read, and computed again by the same statement: the second
        computation is not redundant (reverse/reloads.py dropped it once, a wrong value and gradient,
        and a doubled Hessian where the statement was an adjoint's reset: fuzz seed 2363189735)."""
        d = self.d
        arr = d.choice(self.arrays)
        made = f"{arr} = {d.choice(['np.sin(x) * ' + d.choice(COEFFS), 'x * a', 'np.zeros(n)', 'x.copy()'])}"
        scalar = d.choice(self.scalars)
        self.emit(indent, made)
        self.emit(indent, f"{arr}[{self.index(ctx)}] = {self.bounded(self.expr(1, ctx))}")
        self.fold_into(indent, ctx, scalar, f"np.sum({arr} * {arr})")
        self.emit(indent, made)

    def stmt_sum_chain(self, indent, ctx):
        """An elementwise chain over slices, split over statements and ended by a sum, sometimes with
        a write into an array, or a new value for a name it reads, in between: frontend/fusion.py
        makes it a loop only where nothing in between changes what the chain reads."""
        d = self.d
        if self.matrices and d.boolean(0.3):
            # Rows of a matrix, and slices of a row: loops over a row's elements.
            m, i = d.choice(self.matrices), self.index(ctx)
            t, scalar = self.fresh("t"), d.choice(self.scalars)
            self.emit(indent, f"{t} = {m}[{i}]")
            # np.sum of a row's slice with a bound known only at run time is not fused: its cotangent
            # goes into the slice's adjoint as a number (reverse/sum_cotangents.py).
            whole = f"np.sum({t}) * {d.choice(COEFFS)}"
            total = d.choice([whole, f"np.sum({m}[{i}, 1:] * {m}[{i}, :-1])", f"np.sum(np.log1p({t} * {t}) * {scalar})"])
            if total == whole and d.boolean(0.5):
                total = f"np.sum({m}[{i}, :n - 1]) * {scalar}"
            self.fold_into(indent, ctx, scalar, total + (f" + {t}[0]" if d.boolean(0.2) else ""))
            return
        v, w = d.choice(self.vectors()), d.choice(self.vectors())
        t, scalar = self.fresh("t"), d.choice(self.scalars)
        self.emit(indent, f"{t} = " + d.choice([f"np.arctan({v}[1:]) * {scalar}", f"{v}[1:] - {v}[:-1] ** 2",
                                                 f"np.log1p(({v}[:-1] + a) ** 2)", f"np.tanh({v}[:-1] + a)"]))
        between = d.choice(["", "", "elem", "input_write", "scalar"])
        if between:
            getattr(self, "stmt_" + between)(indent, ctx)
        total = f"np.sum({t} * {w}[{d.choice(['1:', ':-1'])}])" + (f" + {t}[0]" if d.boolean(0.2) else "")
        if d.boolean(0.2):  # not fused (a bound known at run time): reverse/sum_cotangents.py
            total += f" + np.sum({w}[:n - 1]) * {d.choice(COEFFS)}"
        self.fold_into(indent, ctx, scalar, total)

    def stmt_array_chain(self, indent, ctx):
        """An array made by an elementwise chain over slices (a stencil), sometimes with a write or a
        new value in between, then written into a slice of an array, often the one it reads (the loop
        must not read what it writes); or an array bound to a chain of itself (``b = 0.5 * b + ...``):
        frontend/fusion.py fills these arrays with one loop."""
        d = self.d
        arr, c = d.choice(self.arrays), d.choice(COEFFS)
        if d.boolean(0.3):
            self.emit(indent, f"{arr} = {c} * {arr} + 0.1 * np.arctan({arr} * {arr} - {self.scalar_atom(ctx)})")
            return
        v, t = d.choice(self.vectors() + [arr]), self.fresh("t")
        self.emit(indent, f"{t} = " + d.choice([f"{v}[2:] - 2.0 * {v}[1:-1] + {v}[:-2]",
                                                 f"({v}[1:-1] - {v}[:-2]) * {d.choice(COEFFS)}"]))
        between = d.choice(["", "", "elem", "input_write", "scalar"])
        if between:
            getattr(self, "stmt_" + between)(indent, ctx)
        self.emit(indent, f"{arr}[1:-1] = {c} * {arr}[1:-1] + 0.1 * " +
                  d.choice([f"{t}", f"np.arctan({t} * {self.scalar_atom(ctx)})", f"{t} * {t}"]))

    def fold_into(self, indent, ctx, scalar, value):
        """``scalar`` plus a multiple of ``value``; in loops damped and bounded, so it stays finite."""
        c = self.d.choice(COEFFS)
        self.emit(indent, f"{scalar} = {c} * {scalar} + 0.2 * math.tanh({value})" if ctx.loops
                  else f"{scalar} = {scalar} + {c} * {value}")

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
            "{a}[1:] = {r}[:-1]",  # a view written into a slice: of itself, the memory overlaps
            "{a}[:-2] = {r}[2:]",
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
        return self.loop_exit(indent, ctx, "break")

    def stmt_continue(self, indent, ctx):
        return self.loop_exit(indent, ctx, "continue")

    def loop_exit(self, indent, ctx, word):
        """``if <condition>: [update]; break`` (or ``continue``); a scalar update outside loops."""
        if not ctx.loops:
            return self.stmt_scalar(indent, ctx)
        self.emit(indent, f"if {self.condition(ctx)}:")
        if self.d.boolean(0.5):
            self.scalar_update(indent + 1, ctx)
        self.emit(indent + 1, word)

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
                   f"np.trace(({arr} * 0.5).reshape(2, 2))",
                   # elementwise chains over slices, which frontend/fusion.py makes loops
                   f"np.sum(({arr}[1:] - {arr}[:-1] ** 2) ** 2 + np.sin({arr}[:-1])) * 0.1",
                   f"np.sum(np.arctan({arr}[2:] - 2.0 * {arr}[1:-1] + {arr}[:-2] * a) ** 2) * 0.25",
                   # shifted away from 0, where the norm has no derivative
                   f"np.linalg.norm({arr} + 0.5) * 0.5"]
        if self.matrices:
            m, o = d.choice(self.matrices), d.choice(self.matrices)
            v, w = d.choice(self.vectors()), d.choice(self.vectors())
            options += [f"np.sum({m} @ {v}) * 0.25", f"np.dot({v}, {m} @ {w}) * 0.1", f"np.trace({m} @ {o}) * 0.25",
                        f"np.linalg.det({SHIFTED.format(m)}) * 0.001",
                        f"np.sum(np.linalg.solve({SHIFTED.format(m)}, {v}))", f"np.sum({m} * {m}) * 0.1",
                        f"np.trace({m})", f"np.sum(np.outer({v}, {w})) * 0.1", f"np.linalg.norm({m} + 0.5) * 0.1",
                        # reductions along an axis, named, positional and as a method (an argument a
                        # rule must read); numba takes an axis only for sums
                        f"np.dot(np.sum({m}, axis=0), {v}) * 0.1", f"np.sum(np.sin(np.sum({m}, 1))) * 0.5",
                        f"np.dot({m}.sum(0), {w}) * 0.5"]
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

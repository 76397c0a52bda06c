"""The checks of one program: every derivative API of adflow against finite differences and against
each other; a failure is a :class:`Finding`."""
from __future__ import annotations

import hashlib
import re
import traceback
from dataclasses import dataclass

import numpy as np

import adflow

from .defects import REFUSALS
from .differences import EPS, FLOAT32, MARGIN, ROUNDING, coordinates_of, flatten, reference, unflatten
from .grammar import N
from .programs import Loader, Program

CHECKS = ("grad", "vjp", "jvp", "hvp", "jacobian", "checkpoint")
# What checkpoint= refuses by design, beyond REFUSALS: programs without a loop at the top level, and
# loops whose state the snapshot stores cannot hold (docs/checkpointing.md).
CHECKPOINT_LIMITS = ("has no loop to checkpoint", "loops are inside branches", "changed shape between iterations",
                     "a checkpointed loop's state is numbers and arrays", "shares memory with")


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


def _compare(kind, what, got, expected, err, checked, names, program):
    """Raise a Finding where ``got`` is further from the differences than their error bound."""
    got = np.asarray(got, dtype=np.float64).ravel()
    off = checked & ~(np.abs(got - expected) <= err)  # a NaN is off too
    if np.any(off):
        j = int(np.flatnonzero(off)[0])
        raise Finding(kind, f"{what}, {names[j]}: adflow {got[j]!r}, finite differences {expected[j]!r} "
                            f"(error bound {err[j]:.1e}); all: adflow {got}, differences {expected}", program)


def _close(u, v, rtol, scale):
    return abs(u - v) <= rtol * max(abs(u), abs(v)) + rtol * scale


def _acceptable(value):
    """A result the checks can use: finite, not huge, of numbers."""
    flat = flatten(value)
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
    planned = {"grad": scalar, "vjp": True, "jvp": single, "hvp": scalar, "jacobian": single,
               "checkpoint": scalar and "grad" in checks}
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
        self.adflow, self.f, self.path, self.program, self.value = adflow, f, path, program, value
        self.targets = tuple(targets)
        self.wrt = program.wrt()
        self.ref = reference(f, program.args(np.float64), self.wrt, program.float32)
        # A float32 program's value is a sum of terms of order one, rounded to float32 in an order
        # that depends on the target (dual numbers on target="python" carry float64 values): after
        # cancellation two roundings differ by ~1e-7, however small the value (fuzz seed 28100043).
        self.value_scale = 1.0 if program.float32 else 0.0
        self.names = program.coordinate_names()
        # numba and NumPy may round float32 differently (a float32 array times a float is float64 in numba).
        self.rtol = 1e-5 if program.float32 else 1e-12
        self.outcome = Outcome("ok", int(self.ref.ok.sum()), int((~self.ref.ok).sum()), self.targets)
        rng = _rng(program, "directions")
        self.cotangent = rng.standard_normal(self.ref.jac.shape[0])  # v, weighting the outputs
        self.tangent = rng.standard_normal(self.ref.jac.shape[1])  # t, a direction in the inputs
        self.pulled = {}  # target -> v^T J from vjp, for the dot-product test
        self.gradients = {}  # target -> the full tape's gradient, flattened, from the grad check

    def _close_to(self, value, got) -> bool:
        want, have = flatten(value), flatten(got)
        scale = max(float(np.max(np.abs(want))), self.value_scale)
        return want.shape == have.shape and all(_close(u, v, self.rtol, scale) for u, v in zip(have, want))

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
        if not self._close_to(self.value, got):
            raise Finding("wrong-value", f"{api} target={target}: value {got!r}, the function returns {self.value!r}",
                          self.program)

    def check_derivatives(self, api, target, derivatives):
        """Finite, and shaped and typed like their arguments (derivatives keep the input's dtype)."""
        flat = flatten(derivatives)
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
        self.gradients = results
        expected, err, checked = self.ref.along(left=np.ones(1))
        _compare("wrong-gradient", "gradient", next(iter(results.values())), expected, err, checked, self.names,
                 self.program)
        for target, g_target in results.items():
            fn = self.adflow.grad(self.f, wrt=self.wrt, target=target)
            only = flatten(self.call("grad", target, fn, *self.program.args()))
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
            pulled = self.call("pullback", target, pullback, unflatten(self.cotangent, y))
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
        return tuple(unflatten(self.tangent[lo:hi], args[k]) for lo, hi, k in zip(sizes, sizes[1:], self.wrt))

    def jvp(self):
        """jvp on every target: its value, J t against finite differences, and with vjp the
        dot-product test <v, J t> == <J^T v, t>."""
        expected, err, checked = self.ref.along(right=self.tangent)
        names = [f"output {i}" for i in range(len(expected))]
        for target in self.targets:
            fn = lambda *a: self.adflow.jvp(self.f, a, self.tangents(), wrt=self.wrt, target=target)  # noqa: E731
            y, y_dot = self.call("jvp", target, fn, *self.program.args())
            self.check_value("jvp", target, y)
            pushed = flatten(y_dot)
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
            # The gradient's rounding error is relative to its terms, which the result need not show:
            # a gradient that underflows to exactly 0 on both sides has a Hessian that does not
            # (fuzz seed 3330393000; JAX gives the same 1e-25). f's own size stands in for the terms.
            size = np.maximum(np.maximum(np.abs(pairs[0][0]), np.abs(pairs[0][1])),
                              float(np.max(np.abs(flatten(self.value)))))
            rounding = ROUNDING * EPS * size / steps[0]
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

    def checkpoint(self):
        """grad with checkpoint=2 (the program's top-level loops under a binomial schedule, on every
        target) gives the full tape's gradient, checked against differences by the grad check, to
        rounding: the same arithmetic in another order of iterations."""
        for target, full in self.gradients.items():
            fn = self.adflow.grad(self.f, wrt=self.wrt, checkpoint=2, target=target)
            try:
                got = self.call("grad-checkpoint", target, fn, *self.program.args())
            except Finding as finding:
                if finding.kind.startswith("refused") and any(p in finding.detail for p in CHECKPOINT_LIMITS):
                    return
                raise
            got = self.check_derivatives("grad-checkpoint", target, got)
            scale = float(np.max(np.abs(full)))
            for j in range(len(full)):
                if not _close(got[j], full[j], self.rtol, scale):
                    raise Finding("wrong-checkpointed-gradient",
                                  f"target={target} d/d{self.names[j]}: checkpoint=2 {got[j]!r}, full tape {full[j]!r} "
                                  f"(all: {got} vs {full})", self.program)
        self.ran("checkpoint")

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
        return [j for j, (k, _) in enumerate(coordinates_of(self.program.args(), self.wrt)) if k == wrt]

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
        # Fresh arguments for each call: the program may write into them (M *= 0.9, fuzz seed 29000142).
        shapes = {np.shape(self.f(row.copy(), *self.program.args()[1:])) for row in rows}
        if len(shapes) > 1:  # the rows return in different branches: a refusal, never a Jacobian (seed 27000456)
            try:
                fn(rows, *rest)
            except self.adflow.ShapeError as exc:
                if "another shape than the first row's" in str(exc):
                    return
            raise Finding(f"jacobian-{variant}-{target}", f"rows with outputs of shapes {sorted(shapes)} were "
                          "not refused", self.program)
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

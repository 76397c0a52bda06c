"""Random programs (adflow/fuzz/) differentiated and checked: the CI budget of the fuzzer.

* FAST_PROGRAMS programs on target="python" in the default run, SLOW_PROGRAMS more under the
  ``slow`` marker (``pytest -m slow``): 320 in all.  Each gets value_and_grad/grad, vjp, jvp,
  hvp and its adflow.jacobian variants, against finite differences with a per-entry error bound,
  and the dot-product test between jvp and vjp; an error from any of them is a finding;
* a sample on target="cpu" as well, which must agree with target="python" to rounding;
* the seed changes every run and is printed; a failure names it.  Replay one with
  ``ADFLOW_FUZZ_SEED=<seed> python -m pytest -n 0 tests/test_fuzz.py`` (add ``-m slow`` for the
  slow part);
* the checker itself is checked: a wrong value, gradient, vjp, jvp, Jacobian entry, Hessian-vector
  product, a modified input or a target disagreement is caught (mutations of adflow's answers),
  and every generated program is valid Python;
* with the constructs of known defects allowed, the fuzzer finds them (strict xfail);
* a construct adflow refuses on purpose (fuzz.REFUSALS) is a "refused" outcome, any other refusal a finding.

The generated programs avoid the constructs of known defects (adflow.fuzz.KNOWN_DEFECTS, each pinned
by a test in test_regressions.py) so that a failure here is a new defect.  A failure prints the
shrunk program; ``python -m adflow.fuzz --examples 5000`` runs a long campaign.
"""
import math
import os
import re
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, seed, settings

import adflow
from adflow import fuzz

SEED = int(os.environ.get("ADFLOW_FUZZ_SEED") or time.time_ns() % 2 ** 32)
FAST_PROGRAMS = 12
SLOW_PROGRAMS = 296
REPLAY = f"ADFLOW_FUZZ_SEED={SEED} python -m pytest -n 0 tests/test_fuzz.py"

FAST = dict(deadline=None, derandomize=False, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
FIXED = dict(FAST, derandomize=True)  # for the checker's own tests: the same programs every run

PASSED = set()  # sources of the programs that passed: the budget counts distinct programs
RUN = {"programs": 0, "first_failure": None, "parts": set()}


@pytest.fixture(scope="module")
def loader(tmp_path_factory):
    """Programs go to real files in a temporary folder; adflow's cache goes there too (not ~/.cache)."""
    folder = tmp_path_factory.mktemp("fuzz-programs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADFLOW_CACHE_DIR", str(tmp_path_factory.mktemp("fuzz-cache")))
        yield fuzz.Loader(str(folder))


def check_named(program, loader, targets):
    """check_program, counting programs; a failure notes the seed and how many programs it took."""
    RUN["programs"] += 1
    try:
        return fuzz.check_program(program, loader, targets=targets)
    except fuzz.Finding:
        RUN["first_failure"] = RUN["first_failure"] or RUN["programs"]
        note(f"fuzz seed {SEED} (replay: {REPLAY}); the first failing program was number "
             f"{RUN['first_failure']} of this session")
        raise


def check_distinct(program, loader, part):
    # hypothesis repeats small programs; a repeat is skipped, so N examples are N distinct programs.
    # (Only passed ones are remembered: a failing program replays and shrinks normally.)
    RUN["parts"].add(part)
    assume(program.source not in PASSED)
    outcome = check_named(program, loader, ("python",))
    assert outcome.status in ("ok", "rejected", "refused")
    PASSED.add(program.source)


@pytest.mark.xdist_group("fuzz_budget")
@seed(SEED)
@settings(max_examples=FAST_PROGRAMS, **FAST)
@given(program=fuzz.programs())
def test_fuzz_python_target(loader, program):
    print(f"fuzz seed {SEED} (replay: {REPLAY})")
    check_distinct(program, loader, "fast")


@pytest.mark.slow
@pytest.mark.xdist_group("fuzz_budget")
@seed(SEED + 1)
@settings(max_examples=SLOW_PROGRAMS, **FAST)
@given(program=fuzz.programs())
def test_fuzz_python_target_more(loader, program):
    print(f"fuzz seed {SEED} (replay: {REPLAY} -m slow)")
    check_distinct(program, loader, "slow")


@pytest.mark.xdist_group("fuzz_budget")
def test_fuzz_budget_counts_distinct_programs():
    if not PASSED:
        pytest.skip("the fuzz tests did not run in this session")
    budget = {"fast": FAST_PROGRAMS, "slow": SLOW_PROGRAMS}
    assert len(PASSED) >= sum(budget[part] for part in RUN["parts"])


@seed(SEED + 2)
@settings(max_examples=1, phases=[Phase.explicit, Phase.reuse, Phase.generate], **FAST)
@given(program=fuzz.programs())
def test_fuzz_cpu_agrees_with_python(loader, program):
    # No shrinking: each check compiles with numba (seconds); the failure prints the whole program.
    print(f"fuzz seed {SEED} (replay: {REPLAY})")
    check_named(program, loader, ("python", "cpu"))


@pytest.mark.slow
@seed(SEED + 3)
@settings(max_examples=6, phases=[Phase.explicit, Phase.reuse, Phase.generate], **FAST)
@given(program=fuzz.programs())
def test_fuzz_cpu_agrees_with_python_more(loader, program):
    print(f"fuzz seed {SEED} (replay: {REPLAY} -m slow)")
    check_named(program, loader, ("python", "cpu"))


@pytest.mark.skipif(not fuzz.DEFECT_SEEDS, reason="no known defect has a seed that reaches it")
@pytest.mark.parametrize("name", sorted(fuzz.DEFECT_SEEDS))
def test_fuzz_finds_the_known_defects(loader, name):
    # A known defect can be too rare for a hundred random programs: its seed's program, drawn with
    # its forms allowed, holds one of them and is a finding; drawn avoiding it, it holds none.
    seed_ = fuzz.DEFECT_SEEDS[name]
    program = fuzz.draw_program(fuzz.RandomDrawer(seed_), avoid=frozenset())
    assert any(form in program.source for form in fuzz.DEFECT_FORMS[name]), program.source
    with pytest.raises(fuzz.Finding):
        fuzz.check_program(program, loader, targets=("python",))
    avoided = fuzz.draw_program(fuzz.RandomDrawer(seed_), avoid=frozenset([name]))
    assert not any(form in avoided.source for form in fuzz.DEFECT_FORMS[name]), avoided.source


# ====================================================================== the fuzzer itself
def test_generated_programs_are_valid_python():
    for seed_ in range(300):
        for avoid in (frozenset(), frozenset(fuzz.KNOWN_DEFECTS)):
            program = fuzz.draw_program(fuzz.RandomDrawer(seed_), avoid=avoid)
            namespace = {}
            exec(compile(program.module_text(), f"<prog {seed_}>", "exec"), namespace)
            with np.errstate(all="ignore"):
                value = namespace["prog"](*program.args())
            parts = value if isinstance(value, tuple) else (value,)
            assert all(isinstance(part, (float, np.floating, np.ndarray)) for part in parts), program


def _programs(count=300):
    return [fuzz.draw_program(fuzz.RandomDrawer(seed_)) for seed_ in range(count)]


def test_programs_cover_the_constructs():
    texts = [p.source for p in _programs(600)]
    joined = "\n".join(texts)
    for construct in ["for i", "while k", "break", "continue", "if ", "else:", "elif ", "] += ", "] = ", " += ",
                      " *= ", "fz_", "math.log(1.0 +", "math.sqrt(1.0 +", "x[", "return", "enumerate(",
                      " if ", "max(", "np.sum(", "range(1, n)", "range(n - 1, -1, -1)", "fz_nested(",
                      "b[1:] = b[:-1]", "in b:", "return s0\n",
                      # arguments rebound (issue 17), tuple swaps, locals rebound in straight-line code
                      "    a = a * ", "    a *= ", "    a = np.sin(a)", "    x = x / np.sqrt(np.sum(x * x))",
                      "    x = x[1:]", "    x = x.copy()", "    x = np.asarray(x)", "    x = x[::-1]", "    x *= ",
                      "    M = M.T", ", a = ", "a, s", "x, b = b, x", "s0 = s0 * s0\n",
                      "b = b[::-1]", "b = np.asarray(b)", "b = b.ravel()",
                      # matrices, np.linalg, piecewise array functions, reshapes, outputs
                      "def prog(x, M, a, n):", " @ ", "np.dot(M, ", "np.linalg.solve(", "np.linalg.inv(",
                      "np.linalg.det(", "np.linalg.norm(", "axis=0), ", "np.sum(M, 1)", ".sum(0), ", "x = x / np.linalg.norm(x)", "np.outer(", ".reshape(", "np.where(", "np.clip(", "np.maximum(",
                      "np.minimum(", "P[", "return b\n", "return x\n",
                      # chains that fusion makes loops: over slices, and split over statements
                      "[1:] - b[:-1] ** 2) ** 2", "[2:] - 2.0 * ", " * b[1:])", ") + t", "np.log1p((",
                      # arrays that fusion fills with a loop: written into a slice, or bound to a chain of themselves
                      "b[1:-1] = ", "[:-2]) * ", "b = 0.9 * b + 0.1 * np.arctan(b * b - ",
                      # rows of a matrix summed
                      ", 1:] * M[", "np.log1p(t", ":n - 1]) * "]:
        assert construct in joined, construct
    nested = sum(1 for t in texts if "        for " in t or "        while " in t)
    assert nested >= 10, "nested loops are too rare"
    # Rebinding an argument in straight-line code at the top level, before a loop, and in a branch.
    assert sum(1 for t in texts if "\n    a = a * " in t or "\n    x = x " in t) >= 20
    assert any(re.search(r"\n    (a|x) (=|\*=) .*\n(    .*\n)*    for ", t) for t in texts)
    assert any(re.search(r"\n    (if|elif|else).*:\n        (a|x) (=|\*=) ", t) for t in texts)


def test_programs_cover_the_signatures_and_the_jacobians():
    programs = _programs()
    outputs = {kind: 0 for kind in fuzz.OUTPUTS}
    for p in programs:
        namespace = {}
        exec(compile(p.module_text(), "<prog>", "exec"), namespace)
        with np.errstate(all="ignore"):
            value = namespace["prog"](*p.args())
        outputs["tuple" if isinstance(value, tuple) else "scalar" if np.ndim(value) == 0 else "vector"] += 1
    assert min(outputs.values()) >= 40, outputs
    assert sum(p.float32 for p in programs) >= 20
    assert sum(p.M is not None for p in programs) >= 50
    variants = {variant for p in programs for variant, _ in p.jacobians}
    assert variants == set(fuzz.JACOBIAN_VARIANTS)
    assert {wrt for p in programs for _, wrt in p.jacobians} == {0, 1, 2}


def _fixed_program():
    source = ("def prog(x, a, n):\n    s0 = a * x[0]\n    b = x.copy()\n    for i in range(n):\n"
              "        b[i] = math.sin(b[i] * a) + s0\n        s0 = 0.5 * s0 + math.tanh(b[i])\n"
              "    return s0 + np.sum(b * b)\n")
    return fuzz.Program(source, "prog", np.array([0.31, -0.52, 0.77, 0.1]), 0.63)


def _fixed_vector_program(jacobians=(("forward", 0), ("reverse", 1), ("sparse", 0), ("batch", 0), ("auto", 0),
                                     ("batch-reverse", 0))):
    source = ("def prog(x, M, a, n):\n    b = np.tanh(M @ x) * a\n"
              "    b = np.where(b > 0.1, b, 0.5 * b)\n    return np.sin(b) + x * a * 3.0\n")
    matrix = np.array([[0.3, 0.1, -0.2, 0.5], [0.2, -0.4, 0.6, 0.1], [0.7, 0.2, 0.1, -0.3], [0.1, 0.5, -0.2, 0.9]])
    return fuzz.Program(source, "prog", np.array([0.31, -0.52, 0.77, 0.1]), 0.63, M=matrix, jacobians=jacobians)


@pytest.mark.parametrize("mutation, kind", [
    ("gradient", "wrong-gradient"), ("value", "wrong-value"), ("input", "input-modified"),
    ("cpu", "targets-disagree"), ("nan", "non-finite-gradient"), ("raise", "crash-value_and_grad-python"),
    ("small", "wrong-gradient"),
])
def test_checker_catches_wrong_answers(loader, monkeypatch, mutation, kind):
    real = adflow.value_and_grad

    def mutated(f, wrt=0, target="cpu", **kw):
        g = real(f, wrt=wrt, target="python", **kw)

        def run(x, a, n):
            if mutation == "raise" and target == "python":
                raise RuntimeError("boom")
            value, (gx, ga) = g(x, a, n)
            if mutation == "gradient":
                gx = gx.copy()
                gx[2] *= 1.001
            elif mutation == "small":
                # 1e-5 of the largest entry: the error bound of each entry is its own.
                gx = gx.copy()
                gx[0] += 1e-5 * np.max(np.abs(gx))
            elif mutation == "value":
                value = value * (1 + 1e-9)
            elif mutation == "input":
                x[1] += 1e-12
            elif mutation == "cpu" and target == "cpu":
                ga = ga * (1 + 1e-10)
            elif mutation == "nan":
                gx = gx.copy()
                gx[0] = math.nan
            return value, (gx, ga)
        return run
    monkeypatch.setattr(adflow, "value_and_grad", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_program(), loader, targets=("python", "cpu"), checks=("grad",))
    assert info.value.kind == kind
    assert "def prog(x, a, n):" in str(info.value)


def test_checker_catches_a_grad_that_disagrees_with_value_and_grad(loader, monkeypatch):
    real = adflow.grad

    def mutated(f, wrt=0, target="cpu", **kw):
        g = real(f, wrt=wrt, target=target, **kw)
        return lambda *args: tuple(d * (1 + 1e-9) for d in g(*args))
    monkeypatch.setattr(adflow, "grad", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_program(), loader, targets=("python",), checks=("grad",))
    assert info.value.kind == "grad-disagrees"


@pytest.mark.parametrize("entry", [0, 17, 20])  # of x, M, a
def test_checker_catches_a_wrong_vjp(loader, monkeypatch, entry):
    real = adflow.vjp

    def mutated(f, *args, **kw):
        y, pullback = real(f, *args, **kw)

        def wrong(v):
            cotangents = pullback(v)
            flat = fuzz.flatten(cotangents)
            flat[entry] += 1e-6 * np.max(np.abs(flat))
            return fuzz.unflatten(flat, cotangents)
        return y, wrong
    monkeypatch.setattr(adflow, "vjp", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_vector_program(()), loader, targets=("python",), checks=("vjp",))
    assert info.value.kind == "wrong-vjp"


def test_checker_catches_a_wrong_jvp(loader, monkeypatch):
    real = adflow.jvp

    def mutated(f, primals, tangents, **kw):
        y, y_dot = real(f, primals, tangents, **kw)
        y_dot = np.array(y_dot, copy=True)
        y_dot[3] *= 1 + 1e-6
        return y, y_dot
    monkeypatch.setattr(adflow, "jvp", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_vector_program(()), loader, targets=("python",), checks=("jvp",))
    assert info.value.kind == "wrong-jvp"


@pytest.mark.parametrize("variant, wrt", [("forward", 0), ("reverse", 0), ("auto", 2), ("sparse", 1), ("batch", 0),
                                          ("batch-reverse", 0)])
def test_checker_catches_a_wrong_jacobian_entry(loader, monkeypatch, variant, wrt):
    real = adflow.jacobian

    def mutated(f, **kw):
        jac = real(f, **kw)

        def wrong(*args):
            J = jac(*args)
            J = J.toarray() if hasattr(J, "toarray") else np.array(J, copy=True)
            J.reshape(-1)[-1] *= 1 + 1e-5  # the last entry (of the last row, with batch=True)
            return J
        return wrong
    monkeypatch.setattr(adflow, "jacobian", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_vector_program(((variant, wrt),)), loader, targets=("python",),
                           checks=("jacobian",))
    assert info.value.kind == "wrong-jacobian"


def test_checker_passes_right_programs(loader):
    outcome = fuzz.check_program(_fixed_program(), loader, targets=("python",))
    assert outcome.status == "ok" and outcome.fd_checked == 5 and outcome.hvp_checked
    assert outcome.checks == ("grad", "vjp", "jvp", "hvp", "checkpoint")
    outcome = fuzz.check_program(_fixed_vector_program(), loader, targets=("python",))
    assert outcome.status == "ok" and outcome.fd_checked + outcome.fd_skipped == 4 * 21
    assert outcome.checks == ("vjp", "jvp", "jacobian-forward", "jacobian-reverse", "jacobian-sparse",
                              "jacobian-batch", "jacobian-auto", "jacobian-batch-reverse")


def test_checker_finds_a_wrong_checkpointed_gradient(loader, monkeypatch):
    # A deliberately broken driver: the cotangent of the loop's entry state comes back doubled.
    from adflow.checkpoint.run import LoopRun
    reverse = LoopRun.reverse

    def doubled(self, cotangent):
        state_bars, invariant_bars = reverse(self, cotangent)
        return tuple(2.0 * b for b in state_bars), invariant_bars
    monkeypatch.setattr(LoopRun, "reverse", doubled)
    with pytest.raises(fuzz.Finding, match="wrong-checkpointed-gradient"):
        fuzz.check_program(_fixed_program(), loader, targets=("python",), checks=("grad", "checkpoint"))


def test_checker_passes_a_hessian_whose_gradient_underflows(loader):
    # Fuzz seed 3330393000: the gradient underflows to exactly 0 at x and at x +- s v while H v is
    # 1e-25 (JAX's forward-over-reverse gives the same numbers); the differences see nothing there.
    source = ("def prog(x, a, n):\n    a = np.sin(a)\n    s0 = 0.5\n    s1 = x[0] * a\n"
              "    b = np.zeros(n)\n    for v1 in x:\n        for i2 in range(n):\n"
              "            s0 *= math.sin(s0)\n            tp3 = (s0, b * 0.5, s1)\n"
              "            s0 = math.tanh(tp3[0] * tp3[2] + 0.5 * np.sum(tp3[1]))\n"
              "            x, b = b, np.tanh(x)\n        b = np.tanh(b * b)\n"
              "        if (((-0.75) if (a) > -0.3 else (b[0]))) ** 3 <= 0.1:\n"
              "            x, b = b, np.tanh(x)\n    s1 = ((b[1]) * (b[3])) + (abs(b[0]))\n"
              "    s1 = max(math.cos(a), s0)\n    s0 = (math.sin(s0)) + (-(s0))\n"
              "    return 0.5 * s0 + 1.0 * s1 + 0.25 * np.sum(b * b)\n")
    program = fuzz.Program(source, "prog", np.array([0.0323, 0.0346, 0.0369, 0.0492]), 0.0071)
    assert fuzz.check_program(program, loader, targets=("python",), checks=("hvp",)).status == "ok"


def test_checker_gives_a_program_that_writes_into_its_arguments_fresh_ones(loader):
    # Fuzz seed 29000142: M *= 0.9 scaled the checker's own M on each call it made to see the rows'
    # shapes, so the batched Jacobian was taken at 0.81 M and compared with differences at M.
    source = "def prog(x, M, a, n):\n    M *= 0.9\n    return np.sum(np.sin(x) * x) + 0.25 * np.sum(M @ x) + a\n"
    M = np.array([[-0.28, -0.28, 0.29, 0.18], [0.71, -0.26, 0.6, 0.4],
                  [0.41, -0.08, -0.64, 0.76], [0.62, 0.32, 0.77, 0.52]])
    program = fuzz.Program(source, "prog", np.array([0.91, 0.28, 0.96, -0.59]), 0.58, M=M,
                           jacobians=(("batch-reverse", 0),))
    assert fuzz.check_program(program, loader, targets=("python",), checks=("jacobian",)).status == "ok"


def test_checker_accepts_a_refusal_on_purpose_and_nothing_else(loader):
    source = ("def prog(x, a, n):\n    b = x * a\n    s0 = 0.0\n    for v in b:\n        b[0] = 0.5 * v\n"
              "        b = b * 0.5\n        s0 = s0 + v\n    return s0\n")
    program = fuzz.Program(source, "prog", np.array([0.31, -0.52, 0.77, 0.1]), 0.63)
    assert fuzz.check_program(program, loader, targets=("python",)).status == "refused"
    unsorted = "def prog(x, a, n):\n    return np.sum(np.sort(x) * a)\n"  # no rule: not a refusal of REFUSALS
    wrong = fuzz.Program(unsorted, "prog", program.x, program.a)
    with pytest.raises(fuzz.Finding) as info:  # a refusal that is not in REFUSALS is a finding
        fuzz.check_program(wrong, loader, targets=("python",))
    assert info.value.kind == "refused-value_and_grad-python"


@pytest.mark.parametrize("mutation, kind", [("wrong", "wrong-hvp"), ("raise", "crash-hvp-python")])
def test_checker_catches_a_wrong_or_failing_hessian_vector_product(loader, monkeypatch, mutation, kind):
    real = adflow.hvp

    def mutated(f, wrt=0, target="cpu"):
        h = real(f, wrt=wrt, target=target)

        def run(*args):
            if mutation == "raise":
                raise RuntimeError("boom")
            return h(*args) * (1 + 1e-3)
        return run
    monkeypatch.setattr(adflow, "hvp", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_program(), loader, targets=("python",))
    assert info.value.kind == kind


def test_campaign_command_shows_a_program(capsys):
    assert fuzz.main(["--show", "7"]) == 0
    out = capsys.readouterr().out
    assert "def prog7(x, " in out and "from adflow.fuzz import" in out


def test_helpers_are_differentiable_module_functions():
    for name in fuzz.HELPER_NAMES:
        assert callable(getattr(fuzz, name))
    assert os.path.exists(fuzz.__file__)

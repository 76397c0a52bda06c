"""Random programs (adflow/fuzz.py) differentiated and checked: the CI budget of the fuzzer.

* 200 programs on target="python" against finite differences, forward mode (the dot-product test)
  and Hessian-vector products (against differences of the gradient);
* a sample on target="cpu" as well, which must agree with target="python" to 1e-12;
* the checker itself is checked: a wrong value, gradient, modified input or target disagreement
  is caught (mutations of adflow's answers), and every generated program is valid Python;
* with the constructs of known defects allowed, the fuzzer finds them (strict xfail; none at present);
* a construct adflow refuses on purpose (fuzz.REFUSALS) is a "refused" outcome, any other refusal a finding.

The generated programs avoid the constructs of known defects (adflow.fuzz.KNOWN_DEFECTS, each pinned
by a test in test_regressions.py) so that a failure here is a new defect.  A failure prints the
shrunk program; ``python -m adflow.fuzz --examples 5000`` runs a long campaign.
"""
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings

import adflow
from adflow import fuzz

FAST = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

PASSED = set()  # sources of the programs that passed: the budget counts distinct programs


@pytest.fixture(scope="module")
def loader(tmp_path_factory):
    """Programs go to real files in a temporary folder; adflow's cache goes there too (not ~/.cache)."""
    folder = tmp_path_factory.mktemp("fuzz-programs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADFLOW_CACHE_DIR", str(tmp_path_factory.mktemp("fuzz-cache")))
        yield fuzz.Loader(str(folder))


@pytest.mark.xdist_group("fuzz_budget")
@settings(max_examples=200, **FAST)
@given(program=fuzz.programs())
def test_fuzz_python_target(loader, program):
    # hypothesis repeats small programs; a repeat is skipped, so 200 examples are 200 distinct programs.
    # (Only passed ones are remembered: a failing program replays and shrinks normally.)
    assume(program.source not in PASSED)
    # A Hessian-vector product that raises is counted, not failed (the campaign reports those);
    # a wrong one fails here like any wrong number.
    outcome = fuzz.check_program(program, loader, targets=("python",), hvp_errors=False)
    assert outcome.status in ("ok", "rejected", "refused")
    PASSED.add(program.source)


@pytest.mark.xdist_group("fuzz_budget")
def test_fuzz_budget_was_200_distinct_programs():
    if not PASSED:
        pytest.skip("test_fuzz_python_target did not run in this session")
    assert len(PASSED) >= 200


@settings(max_examples=6, phases=[Phase.explicit, Phase.reuse, Phase.generate], **FAST)
@given(program=fuzz.programs())
def test_fuzz_cpu_agrees_with_python(loader, program):
    # No shrinking: each program costs a numba compile (~1-4 s); the failure prints the whole program.
    fuzz.check_program(program, loader, targets=("python", "cpu"), forward=False)


@pytest.mark.skipif(not fuzz.KNOWN_DEFECTS, reason="no known defects")
@pytest.mark.xfail(strict=True, raises=fuzz.Finding,
                   reason="with the constructs of KNOWN_DEFECTS allowed, the fuzzer finds one of them")
@settings(max_examples=100, phases=[Phase.explicit, Phase.generate], **FAST)
@given(program=fuzz.programs(avoid=frozenset()))
def test_fuzz_finds_the_known_defects(loader, program):
    fuzz.check_program(program, loader, targets=("python",), forward=False)


# ====================================================================== the fuzzer itself
def test_generated_programs_are_valid_python():
    for seed in range(300):
        for avoid in (frozenset(), frozenset(fuzz.KNOWN_DEFECTS)):
            program = fuzz.draw_program(fuzz.RandomDrawer(seed), avoid=avoid)
            namespace = {}
            exec(compile(program.module_text(), f"<prog {seed}>", "exec"), namespace)
            with np.errstate(all="ignore"):
                value = namespace["prog"](*program.args())
            assert isinstance(value, float), program


def test_programs_cover_the_constructs():
    texts = [fuzz.draw_program(fuzz.RandomDrawer(seed)).source for seed in range(200)]
    joined = "\n".join(texts)
    for construct in ["for i", "while k", "break", "continue", "if ", "else:", "elif ", "] += ", "] = ", " += ",
                      " *= ", "fz_", "math.log(1.0 +", "math.sqrt(1.0 +", "x[", "return", "enumerate(",
                      " if ", "max(", "np.sum(", "range(1, n)", "range(n - 1, -1, -1)", "fz_nested(",
                      "b[1:] = b[:-1]", "in b:", "return s0\n"]:
        assert construct in joined, construct
    nested = sum(1 for t in texts if "        for " in t or "        while " in t)
    assert nested >= 10, "nested loops are too rare"


def _fixed_program():
    source = ("def prog(x, a, n):\n    s0 = a * x[0]\n    b = x.copy()\n    for i in range(n):\n"
              "        b[i] = math.sin(b[i] * a) + s0\n        s0 = 0.5 * s0 + math.tanh(b[i])\n"
              "    return s0 + np.sum(b * b)\n")
    return fuzz.Program(source, "prog", np.array([0.31, -0.52, 0.77, 0.1]), 0.63)


@pytest.mark.parametrize("mutation, kind", [
    ("gradient", "wrong-gradient"), ("value", "wrong-value"), ("input", "input-modified"),
    ("cpu", "targets-disagree"), ("nan", "non-finite-gradient"), ("raise", "crash-python"),
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
        fuzz.check_program(_fixed_program(), loader, targets=("python", "cpu"), forward=False)
    assert info.value.kind == kind
    assert "def prog(x, a, n):" in str(info.value)


def test_checker_catches_a_grad_that_disagrees_with_value_and_grad(loader, monkeypatch):
    real = adflow.grad

    def mutated(f, wrt=0, target="cpu", **kw):
        g = real(f, wrt=wrt, target=target, **kw)
        return lambda *args: tuple(d * (1 + 1e-9) for d in g(*args))
    monkeypatch.setattr(adflow, "grad", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_program(), loader, targets=("python",), forward=False)
    assert info.value.kind == "grad-disagrees"


def test_checker_accepts_a_refusal_on_purpose_and_nothing_else(loader):
    source = ("def prog(x, a, n):\n    b = x * a\n    s0 = 0.0\n    for v in b:\n        b[0] = 0.5 * v\n"
              "        b = b * 0.5\n        s0 = s0 + v\n    return s0\n")
    program = fuzz.Program(source, "prog", np.array([0.31, -0.52, 0.77, 0.1]), 0.63)
    assert fuzz.check_program(program, loader, targets=("python",)).status == "refused"
    aliased = "def prog(x, a, n):\n    b = x * a\n    c = b\n    b[0] = a\n    return np.sum(c * c)\n"
    wrong = fuzz.Program(aliased, "prog", program.x, program.a)
    with pytest.raises(fuzz.Finding) as info:  # a refusal that is not in REFUSALS is a finding
        fuzz.check_program(wrong, loader, targets=("python",))
    assert info.value.kind == "refused-python"


def test_checker_passes_a_right_program(loader):
    outcome = fuzz.check_program(_fixed_program(), loader, targets=("python",))
    assert outcome.status == "ok" and outcome.fd_checked == 5 and outcome.hvp_checked


def test_checker_catches_a_wrong_hessian_vector_product(loader, monkeypatch):
    real = adflow.hvp

    def mutated(f, wrt=0, target="cpu"):
        h = real(f, wrt=wrt, target=target)
        return lambda *args: h(*args) * (1 + 1e-3)
    monkeypatch.setattr(adflow, "hvp", mutated)
    with pytest.raises(fuzz.Finding) as info:
        fuzz.check_program(_fixed_program(), loader, targets=("python",))
    assert info.value.kind == "wrong-hvp"


def test_campaign_command_shows_a_program(capsys):
    assert fuzz.main(["--show", "7"]) == 0
    out = capsys.readouterr().out
    assert "def prog7(x, a, n):" in out and "from adflow.fuzz import" in out


def test_helpers_are_differentiable_module_functions():
    for name in fuzz.HELPER_NAMES:
        assert callable(getattr(fuzz, name))
    assert os.path.exists(fuzz.__file__)

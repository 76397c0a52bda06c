"""Feedback on long work and the errors a first call can meet.

* build reports on the logger ``adflow`` (one per build, its time per stage);
* the notice on stderr of a long build (forced on here: it is for interactive sessions only);
* ``adflow.cache``: ``info()``, ``clear()`` and ``python -m adflow.cache``, in a private folder;
* numba's failing signature kept in typing errors, the has_aux hint, CUDA without a GPU.

Each test differentiates a function no other test uses: a build is made once per process, and a
report (or notice) comes with the build, not with later calls.
"""
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adflow
from adflow.pipeline import build_report, notice

ROOT = Path(__file__).resolve().parent.parent
X = np.array([0.5, 1.5, -0.25])


@pytest.fixture
def reports(caplog):
    """The build reports logged while the test runs (INFO and DEBUG records of the logger adflow)."""
    caplog.set_level(logging.DEBUG, logger="adflow")
    return lambda: [r for r in caplog.records if r.name == "adflow" and hasattr(r, "build_report")]


@pytest.fixture
def notices():
    """Notices forced on (tests are not interactive); the defaults again afterwards."""
    adflow.build_notices(True, after=0.0, interactive_only=False)
    yield
    adflow.build_notices()


def line_of(func, text):
    """The line number of ``text`` in ``func``'s source file."""
    lines = Path(func.__code__.co_filename).read_text().splitlines()
    return next(k for k, line in enumerate(lines, 1) if text in line and k >= func.__code__.co_firstlineno)


# ================================================================================= build reports
def cubic_for_report(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 3
    return s


def test_a_first_call_logs_its_build_with_the_time_of_every_stage(reports, tmp_path, monkeypatch):
    # A private cache: a build an earlier run left on disk would load without parsing anything.
    monkeypatch.setenv("ADFLOW_CACHE_DIR", str(tmp_path))
    g = adflow.grad(cubic_for_report)
    np.testing.assert_allclose(g(X), 3 * X ** 2)
    (record,) = [r for r in reports() if "cubic_for_report" in r.getMessage()]
    report = record.build_report
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("reverse mode of cubic_for_report(array(float64, 1d, C)), target cpu: ")
    seconds = report.seconds
    for stage in ("parse/normalize", "transform", "emit", "module load"):
        assert seconds[stage] > 0, stage
    assert seconds["type inference"] + seconds["type cache load"] > 0
    # numba compiled the generated module at the first call, or loaded it from its disk cache
    assert seconds["numba compile"] + seconds["numba cache load"] > 0
    assert report.total == pytest.approx(sum(t for s, t in seconds.items() if s != build_report.FIRST_RUN))
    assert report.failed is None
    g(X)  # later calls build nothing and report nothing
    assert len([r for r in reports() if "cubic_for_report" in r.getMessage()]) == 1


def square_for_python_report(x):
    return np.sum(x * x)


def test_a_python_target_build_is_reported_when_built(reports):
    adflow.grad(square_for_python_report, target="python")(X)
    (record,) = [r for r in reports() if "square_for_python_report" in r.getMessage()]
    assert record.getMessage().startswith("reverse mode of square_for_python_report(array(float64, 1d, C)), "
                                          "target python: ")
    # Its generated code runs as Python: the report waits for no first call (numba compiled only
    # what typing the function needed, inside the build).
    assert record.build_report.kept == () and record.build_report.seconds[build_report.FIRST_RUN] == 0


def sine_rows_for_report(x):
    return np.sin(x) * x[0]


def test_a_forward_jacobian_reports_its_builds_with_their_compile(reports):
    J = adflow.jacobian(sine_rows_for_report, mode="forward")(X)
    np.testing.assert_allclose(J, np.diag(np.cos(X) * X[0]) + np.outer(np.sin(X), [1.0, 0.0, 0.0]))
    messages = {r.getMessage().split(":")[0]: r.build_report for r in reports()}
    forward = messages["forward mode of sine_rows_for_report(array(float64, 1d, C)), target cpu"]
    assert forward.seconds["numba compile"] + forward.seconds["numba cache load"] > 0
    assert "output shape (a run of the primal) of sine_rows_for_report(array(float64, 1d, C)), target cpu" in messages


def not_compilable_for_report(x):
    return np.sum(x) + np.exp("text")


def test_a_failed_build_is_reported_too(reports):
    with pytest.raises(adflow.TypingError):
        adflow.grad(not_compilable_for_report)(X)
    (record,) = [r for r in reports() if "not_compilable_for_report" in r.getMessage()]
    assert record.getMessage().endswith("; failed: TypingError")


def test_stages_add_up_and_nest_exclusively():
    with build_report.build("outer") as outer:
        with build_report.stage("transform"):
            with build_report.build("inner") as inner:
                with build_report.stage("emit"):
                    sum(range(20000))
    assert inner.nested and not outer.nested
    assert inner.seconds["emit"] > 0 and outer.seconds["emit"] == inner.seconds["emit"]  # counted in both
    assert outer.total >= inner.total
    with build_report.stage("emit"):  # outside a build: nothing to time, nothing raised
        pass


# ================================================================================= the notice
NOTICE = re.compile(r"adflow: building (?P<what>.+) \(first call with these argument types; later calls reuse it\) "
                    r"\.\.\. done in \d+\.\d s\n")


def quartic_for_notice(x):
    return np.sum(x ** 4)


def test_a_long_build_says_so_on_one_line(notices, capsys):
    adflow.grad(quartic_for_notice)(X)  # cpu: the line ends after the first call's compile
    err = capsys.readouterr().err
    match = NOTICE.fullmatch(err)
    assert match, err
    assert match["what"] == "reverse mode of quartic_for_notice(array(float64, 1d, C)), target cpu"


def quintic_for_quiet(x):
    return np.sum(x ** 5)


def sextic_for_logged(x):
    return np.sum(x ** 6)


def septic_for_default(x):
    return np.sum(x ** 7)


def test_the_notice_is_off_when_quiet_when_logged_and_outside_interactive_sessions(notices, capsys, monkeypatch,
                                                                                   caplog):
    monkeypatch.setenv("ADFLOW_QUIET", "1")
    adflow.grad(quintic_for_quiet, target="python")(X)
    monkeypatch.delenv("ADFLOW_QUIET")
    with caplog.at_level(logging.INFO, logger="adflow"):  # the log says it already
        adflow.grad(sextic_for_logged, target="python")(X)
    adflow.build_notices(True, after=0.0)  # interactive sessions only, and pytest is not one
    assert not notice.interactive_session()
    adflow.grad(septic_for_default, target="python")(X)
    assert capsys.readouterr().err == ""


def test_an_interactive_session_is_recognised(monkeypatch):
    assert not notice.interactive_session()
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    assert notice.interactive_session()


def test_build_notices_can_turn_the_notice_off(capsys):
    adflow.build_notices(False, interactive_only=False)
    try:
        assert notice.start("anything") is None
    finally:
        adflow.build_notices()
    assert notice.start("anything") is None  # the default in a test: not interactive


def test_a_notice_shows_the_whole_line_when_the_build_ends_before_its_timer(capsys):
    shown = notice.Notice("f", after=3600.0)
    shown.finish(3600.5)  # longer than `after`, though the timer has not fired
    assert capsys.readouterr().err == ("adflow: building f (first call with these argument types; later calls reuse "
                                       "it) ... done in 3600.5 s\n")
    quiet = notice.Notice("g", after=3600.0)
    quiet.finish(1.0)
    assert capsys.readouterr().err == ""


# ================================================================================= adflow.cache
def tanh_for_cache(x):
    return np.sum(np.tanh(x))


def test_cache_info_and_clear_in_a_private_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ADFLOW_CACHE_DIR", str(tmp_path))
    assert adflow.cache.info() == adflow.cache.CacheInfo(tmp_path, 0, 0)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not adflow's")
    expected = 1 - np.tanh(X) ** 2
    np.testing.assert_allclose(adflow.grad(tanh_for_cache)(X), expected)
    info = adflow.cache.info()
    generated = sorted(p.name for p in tmp_path.glob("tanh_for_cache_*.py"))
    assert info.folder == tmp_path and info.entries == len(generated) == 1
    # Runtime helpers (loop nests shared by all derivatives) are counted apart: whether this call
    # wrote any depends on what this process compiled before.
    assert info.helpers == len(list(tmp_path.glob("adflow-helper-*.py")))
    assert info.bytes > (tmp_path / generated[0]).stat().st_size  # the module, its compiled code, its types
    assert str(info).startswith(f"adflow cache {tmp_path}: 1 generated module, ")
    assert list((tmp_path / "builds").glob("*.pkl"))  # the build's record (pipeline/build_cache.py)
    removed = adflow.cache.clear()
    assert removed == info
    assert adflow.cache.info() == adflow.cache.CacheInfo(tmp_path, 0, 0)
    assert not list((tmp_path / "builds").glob("*.pkl"))
    assert foreign.read_text() == "not adflow's"  # only adflow's files are removed
    # The builds of this process are forgotten too: the next call builds (and writes) again.
    np.testing.assert_allclose(adflow.grad(tanh_for_cache)(X), expected)
    assert adflow.cache.info().entries == 1


def test_python_m_adflow_cache(tmp_path):
    (tmp_path / "f_0123456789abcdef0123.py").write_text("x = 1\n")  # a generated module, as far as names go
    (tmp_path / "types").mkdir()
    (tmp_path / "types" / "0123.pkl").write_bytes(b"12345")
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "adflow.cache", *args], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "RuntimeWarning" not in done.stderr
        return done.stdout

    assert run() == run("info") == f"adflow cache {tmp_path}: 1 generated module, 11 bytes\n"
    assert run("clear") == f"removed 1 generated module (11 bytes) from {tmp_path}\n"
    assert run() == f"adflow cache {tmp_path}: 0 generated modules, 0 bytes\n"


# ================================================================================= errors
def exp_of_an_array(x):
    return math.exp(x) * 2.0


def test_a_typing_error_keeps_numbas_failing_signature():
    with pytest.raises(adflow.TypingError) as info:
        adflow.grad(exp_of_an_array)(X)
    line = line_of(exp_of_an_array, "return math.exp(x)")
    assert str(info.value) == (
        "adflow: numba cannot compile exp_of_an_array for these argument types: No implementation of function "
        "Function(<built-in function exp>) found for signature:\n"
        "    >>> exp(array(float64, 1d, C))\n"
        f"  at {__file__}:{line} (in exp_of_an_array):    return math.exp(x) * 2.0\n"
        "  hint: adflow differentiates the numba-compilable subset of Python and NumPy; check that this line runs "
        "under numba.njit (numba's full report is the cause above)")
    assert "exp(array(float64, 1d, C))" in str(info.value.__cause__)


def loss_and_aux(x):
    loss = np.sum(x ** 2)
    return loss, x * 2.0


@pytest.mark.parametrize("call", ["grad", "value_and_grad"])
def test_a_tuple_result_without_has_aux_gets_the_has_aux_hint(call):
    with pytest.raises(adflow.ShapeError) as info:
        getattr(adflow, call)(loss_and_aux)(X)
    line = line_of(loss_and_aux, "return loss, x * 2.0")
    assert str(info.value) == (
        f"adflow: {call} needs loss_and_aux to return a scalar, but it returns a tuple "
        "Tuple(float64, array(float64, 1d, C))\n"
        f"  at {__file__}:{line} (in loss_and_aux):    return loss, x * 2.0\n"
        f"  hint: to return (value, aux), pass has_aux=True: adflow.{call}(loss_and_aux, has_aux=True) "
        "differentiates the value and returns aux as computed")
    gradient, aux = adflow.grad(loss_and_aux, has_aux=True)(X)  # what the hint says works
    np.testing.assert_allclose(gradient, 2 * X)
    np.testing.assert_allclose(aux, 2 * X)


NO_GPU = """
import numpy as np, adflow
from numba import cuda
from adflow.targets.cuda import no_gpu_reason
if cuda.is_available():
    print("HAS-GPU")
    raise SystemExit
def f(x):
    return x[0] * x[1]
try:
    adflow.grad(f, target="cuda")(np.array([1.0, 2.0]))
except adflow.AdflowError as exc:
    print(type(exc).__name__)
    print(str(exc))
    print("REASON", no_gpu_reason(cuda))
"""


def test_cuda_without_a_gpu_says_so_and_names_the_simulator():
    pytest.importorskip("numba.cuda")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", NO_GPU], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if done.stdout.startswith("HAS-GPU"):
        pytest.skip("this machine has a GPU")
    kind, *message, reason = done.stdout.rstrip("\n").split("\n")
    reason = reason[len("REASON "):]
    assert kind == "AdflowError" and reason
    assert message == [
        f"adflow: target='cuda' needs a CUDA GPU, and numba finds none: {reason}",
        "  hint: run on a machine with an NVIDIA GPU and its driver, use target='cpu', or set NUMBA_ENABLE_CUDASIM=1 "
        "(before numba.cuda is first imported) to run the same code on numba's CUDA simulator, slowly, on the CPU"]


def pair_for_the_records(x):
    return np.sum(x ** 2), x * 2.0


def test_the_has_aux_hint_when_the_build_comes_from_the_build_records(tmp_path, monkeypatch):
    # Another process records the build (value_and_grad); grad here then finds it on disk, which
    # holds the result type only (an AttributeError once: the hint read the function's tree there).
    monkeypatch.setenv("ADFLOW_CACHE_DIR", str(tmp_path))
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import importlib, sys; sys.path[:0] = [{here!r}, {os.path.dirname(here)!r}]; import adflow\n"
            f"m = importlib.import_module({pair_for_the_records.__module__!r})\n"
            "try:\n    adflow.value_and_grad(m.pair_for_the_records)(m.X)\nexcept adflow.ShapeError:\n    pass\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))
    with pytest.raises(adflow.ShapeError, match=r"grad needs pair_for_the_records to return a scalar") as info:
        adflow.grad(pair_for_the_records)(X)
    assert f"test_feedback.py:{line_of(pair_for_the_records, 'return np.sum(x ** 2), x * 2.0')}" in str(info.value)

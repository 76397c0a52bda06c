"""Invariants every derivative must keep, whatever the function: inputs untouched, thread safety, one
build per function, redefinitions seen, and NaN/inf as the primal and the documented rules say."""
import importlib
import math
import sys
import threading
import warnings

import numpy as np
import pytest

import adflow
from adflow import specializations
from adflow.pipeline import cache
from adflow.testing import numerical_grad


# ====================================================================== the user's inputs are never modified
def writes_into_its_input(x, w):
    for i in range(x.shape[0]):
        x[i] = x[i] * w[i] + math.sin(x[i])
    x[0] += 1.0
    return np.sum(x * x)


def writes_into_a_buffer_argument(x, buf):
    for i in range(x.shape[0]):
        buf[i] = x[i] * x[i]
    return np.sum(buf * x)


def writes_into_2d_input(m):
    m[0, :] = m[1, :] * 2.0
    m[:, 0] = m[:, 1] * m[:, 0]
    return np.sum(m * m)


def _snapshot(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _assert_untouched(args, before):
    for a, b in zip(args, before):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f, args, wrt", [
    (writes_into_its_input, (np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -1.0])), (0, 1)),
    (writes_into_its_input, (np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -1.0])), 1),
    (writes_into_a_buffer_argument, (np.array([0.3, -1.2, 2.0]), np.zeros(3)), 0),
    (writes_into_2d_input, (np.arange(6.0).reshape(2, 3) / 7,), 0),
    (writes_into_2d_input, (np.asfortranarray(np.arange(6.0).reshape(2, 3) / 7),), 0),
    (writes_into_its_input, (np.linspace(-1, 1, 6)[::2], np.array([1.5, 0.5, -1.0])), 0),  # a strided view
    (writes_into_its_input, (np.array([0.3, -1.2, 2.0], dtype=np.float32),
                             np.array([1.5, 0.5, -1.0], dtype=np.float32)), 0),
], ids=["input", "non-wrt-input", "buffer", "2d", "fortran", "strided", "float32"])
def test_inputs_are_never_modified(target, f, args, wrt):
    before = _snapshot(args)
    g = adflow.grad(f, wrt=wrt, target=target)(*args)
    _assert_untouched(args, before)
    value, g2 = adflow.value_and_grad(f, wrt=wrt, target=target)(*args)
    _assert_untouched(args, before)
    assert value == pytest.approx(f(*_snapshot(before)), rel=1e-6)
    g, g2 = (g, g2) if isinstance(wrt, tuple) else ((g,), (g2,))
    expected = _differences(f, args, wrt)
    float32 = any(getattr(a, "dtype", None) == np.float32 for a in args)
    for a, b, e, k in zip(g, g2, expected, wrt if isinstance(wrt, tuple) else (wrt,)):
        np.testing.assert_array_equal(a, b)
        assert a.shape == args[k].shape
        np.testing.assert_allclose(a, e, rtol=1e-5 if float32 else 1e-7, atol=1e-6 if float32 else 1e-9)


def _differences(f, args, wrt):
    """Central differences in float64 on C-ordered copies: a reference that shares nothing with adflow's
    handling of strides, memory order or float32 (f writes into its inputs, so each call gets copies)."""
    args64 = [np.array(a, dtype=np.float64, order="C") if isinstance(a, np.ndarray) else a for a in args]
    return numerical_grad(lambda *a: f(*_snapshot(a)), args64, wrt if isinstance(wrt, tuple) else (wrt,))


def test_vjp_and_pullback_leave_inputs_alone(target):
    x, w = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -1.0])
    before = _snapshot((x, w))
    y, pullback = adflow.vjp(writes_into_its_input, x, w, target=target)
    pullback(1.0)
    pullback(2.0)
    _assert_untouched((x, w), before)
    assert y == pytest.approx(writes_into_its_input(x.copy(), w.copy()))


def test_jvp_leaves_inputs_alone():
    if not hasattr(adflow, "jvp"):
        pytest.skip("no forward mode")
    x, w = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -1.0])
    before = _snapshot((x, w))
    adflow.jvp(writes_into_its_input, (x, w), (np.ones(3), np.zeros(3)), target="python")
    _assert_untouched((x, w), before)


def test_readonly_input_is_accepted():
    # (A function that writes into a read-only array fails in Python too; this one only reads it.)
    x = np.array([0.3, -1.2, 2.0])
    x.setflags(write=False)
    g = adflow.grad(tape_heavy, target="python")(x, 0.5)
    np.testing.assert_array_equal(g, adflow.grad(tape_heavy, target="python")(x.copy(), 0.5))


# ====================================================================== threads
def tape_heavy(x, a):
    # A loop whose adjoint needs the tape (nonlinear in the carried value): shared state would show.
    s = 0.0
    for i in range(x.shape[0]):
        s = math.sin(s * a + x[i]) + 0.5 * s * s
        if s > 1.0:
            s = s * 0.5
    return s


def test_one_compiled_gradient_from_8_threads():
    rng = np.random.default_rng(0)
    inputs = [(rng.uniform(-1, 1, 40), float(rng.uniform(0.2, 0.9))) for _ in range(8)]
    g = adflow.grad(tape_heavy, wrt=(0, 1), target="cpu")
    barrier = threading.Barrier(8)
    results, errors = {}, []

    def work(k):
        try:
            x, a = inputs[k]
            barrier.wait()  # the first calls (and the build) race on purpose
            out = [g(x, a) for _ in range(30)]
            results[k] = out
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    reference = adflow.grad(tape_heavy, wrt=(0, 1), target="python")
    for k, (x, a) in enumerate(inputs):
        gx_ref, ga_ref = reference(x, a)
        for gx, ga in results[k]:
            np.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-15)
            assert ga == pytest.approx(ga_ref, rel=1e-12)


# ====================================================================== one build per function
def built_once(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + math.cos(x[i]) * x[i]
    return s


def test_building_twice_does_not_rebuild(monkeypatch, target):
    calls = []
    real = specializations.build_reverse

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(specializations, "build_reverse", counting)
    x = np.array([0.1, 0.2, 0.3])
    g1 = adflow.grad(built_once, target=target)(x)
    built = len(calls)
    size = cache.size()
    g2 = adflow.grad(built_once, target=target)(x)  # a new grad object for the same function
    g3 = adflow.value_and_grad(built_once, target=target)(x + 1.0)[1]
    adflow.grad(built_once, target=target)(np.array([0.5, 0.6]))  # another length: same types
    assert len(calls) == built, "the same function and argument types were built again"
    assert cache.size() == size
    np.testing.assert_array_equal(g1, g2)
    assert g3.shape == (3,)
    adflow.grad(built_once, target=target)(np.array([0.5, 0.6], dtype=np.float32))
    assert len(calls) == built + 1, "new argument types need a new build"


def test_compiled_code_is_not_recompiled_per_call():
    g = adflow.grad(built_once, target="cpu")
    x = np.array([0.1, 0.2, 0.3])
    g(x)
    vjp_fn = g._specs.get([x], g.wrt)[0]
    dispatchers = [d for d in (vjp_fn, getattr(vjp_fn, "__wrapped__", None)) if hasattr(d, "signatures")]
    assert dispatchers, f"expected the cpu build to be a numba dispatcher, got {type(vjp_fn)}"
    before = [len(d.signatures) for d in dispatchers]
    for _ in range(5):
        g(x * 2.0)
        g(np.linspace(0, 1, 7))
    assert [len(d.signatures) for d in dispatchers] == before


# ====================================================================== redefinitions are seen
def _write_module(folder, name, text):
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


@pytest.fixture
def module_folder(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("adflow_redef_")]:
        del sys.modules[name]


def test_rewritten_and_reloaded_function_is_transformed_again(module_folder, target):
    name = f"adflow_redef_reload_{target}"
    _write_module(module_folder, name, "def f(x):\n    return x * x\n")
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    assert adflow.grad(module.f, target=target)(3.0) == pytest.approx(6.0)
    # Same name, same file, new body (longer, so the file's size changes as well as its time).
    _write_module(module_folder, name, "def f(x):\n    return x * x * x + 0.0\n")
    module = importlib.reload(module)
    assert module.f(3.0) == 27.0
    assert adflow.grad(module.f, target=target)(3.0) == pytest.approx(27.0)


def test_function_exec_into_a_rewritten_file(module_folder):
    # A notebook-like redefinition: source written to a file, compiled with that file name, exec'd.
    path = module_folder / "adflow_redef_cell.py"
    namespace = {"np": np}
    bodies = ["def cell(x):\n    return np.sin(x) * 2.0\n", "def cell(x):\n    return np.cos(x) * 3.0 + 1.0\n"]
    expected = [2.0 * math.cos(0.5), -3.0 * math.sin(0.5)]
    for body, slope in zip(bodies, expected):
        path.write_text(body)
        exec(compile(body, str(path), "exec"), namespace)
        assert adflow.grad(namespace["cell"], target="python")(0.5) == pytest.approx(slope)


def test_redefined_helper_is_seen(module_folder, target):
    _write_module(module_folder, f"adflow_redef_helper_{target}",
                  "def helper(u):\n    return u * u\n\n\ndef f(x):\n    return helper(x) * 3.0\n")
    _write_module(module_folder, f"adflow_redef_other_{target}", "def helper(u):\n    return 2.0 * u\n")
    module = importlib.import_module(f"adflow_redef_helper_{target}")
    other = importlib.import_module(f"adflow_redef_other_{target}")
    g = adflow.grad(module.f, target=target)
    assert g(2.0) == pytest.approx(12.0)
    module.helper = other.helper
    assert module.f(2.0) == 12.0  # the primal sees the new helper: 3 * (2 * 2)
    assert adflow.grad(module.f, target=target)(2.0) == pytest.approx(6.0)
    assert g(2.0) == pytest.approx(6.0), "a grad object made before the redefinition kept the old helper"


def test_redefined_helper_of_a_helper_is_seen(module_folder):
    # f -> middle -> inner: rebinding inner, two calls away and in another module, is seen too.
    _write_module(module_folder, "adflow_redef_inner", "def inner(u):\n    return u * u\n")
    _write_module(module_folder, "adflow_redef_middle",
                  "from adflow_redef_inner import inner\n\n\ndef middle(u):\n    return inner(u) + u\n")
    _write_module(module_folder, "adflow_redef_top",
                  "import adflow_redef_middle\n\n\ndef f(x):\n    return adflow_redef_middle.middle(x) * 2.0\n")
    top = importlib.import_module("adflow_redef_top")
    middle = importlib.import_module("adflow_redef_middle")
    g = adflow.grad(top.f, target="python")
    assert g(3.0) == pytest.approx(14.0)  # 2 * (2x + 1)
    middle.inner = lambda u: 5.0 * u
    assert g(3.0) == pytest.approx(12.0)  # 2 * (5 + 1)


def _closure_over(helper):
    def f(x):
        return helper(x) * 3.0
    return f


def _square(u):
    return u * u


def _double(u):
    return 2.0 * u


def test_closures_over_different_helpers_are_built_apart(target):
    # Both closures share one code object: only the helper in their cell tells them apart.
    assert adflow.grad(_closure_over(_square), target=target)(2.0) == pytest.approx(12.0)
    assert adflow.grad(_closure_over(_double), target=target)(2.0) == pytest.approx(6.0)


# ====================================================================== NaN and inf
def np_sqrt(x):
    return np.sqrt(x)


def np_log(x):
    return np.log(x)


def math_log(x):
    return math.log(x)


def power(x, y):
    return x ** y


def absolute(x):
    return abs(x)


def builtin_max(x, y):
    return max(x, y)


def np_maximum(x, y):
    return np.maximum(x, y)


def square(x):
    return x * x


def sum_sqrt(x):
    return np.sum(np.sqrt(x) * 2.0)


def sum_log(x):
    return np.sum(np.log(x))


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_sqrt_and_log_at_zero_give_inf_for_arrays(target):
    # Documented in adflow/rules/partials.py: "sqrt at 0 and log at 0 give inf, as the formulas say".
    value, g = adflow.value_and_grad(sum_sqrt, target=target)(np.array([0.0, 1.0]))
    assert value == 2.0
    assert g[0] == np.inf and g[1] == pytest.approx(1.0)
    value, g = adflow.value_and_grad(sum_log, target=target)(np.array([0.0, 1.0]))
    assert value == -np.inf
    assert g[0] == np.inf and g[1] == 1.0


def test_np_sqrt_of_scalar_zero_gives_inf_on_python_target():
    assert adflow.grad(np_sqrt, target="python")(0.0) == np.inf


def math_sqrt(x):
    return math.sqrt(x)


def half_power(x):
    return x ** 0.5


def np_arcsin(x):
    return np.arcsin(x)


# The scalar formulas raised ZeroDivisionError (0.5 / ans, 1.0 / x, 0.0 ** -0.5 on Python floats and in
# numba's default error model); they are now computed with np.true_divide and np.power.
@pytest.mark.parametrize("f, x", [(np_sqrt, 0.0), (np_log, 0.0), (math_sqrt, 0.0), (half_power, 0.0),
                                  (np_arcsin, 1.0)], ids=lambda v: getattr(v, "__name__", str(v)))
def test_sqrt_and_log_at_scalar_zero_give_inf(f, x, target):
    assert adflow.grad(f, target=target)(x) == np.inf


def test_log_of_negative_is_nan_like_the_primal(target):
    value, g = adflow.value_and_grad(np_log, target=target)(-1.0)
    assert math.isnan(value)
    assert g == -1.0  # the formula 1/x, as JAX gives; the value carries the NaN
    _, g = adflow.value_and_grad(sum_log, target=target)(np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(g, [-1.0, 0.5])


def test_math_log_of_negative_behaves_as_the_primal(target):
    if target == "python":
        with pytest.raises(ValueError, match="math domain error"):  # as math.log(-1.0) does in Python
            adflow.grad(math_log, target=target)(-1.0)
    else:
        value, g = adflow.value_and_grad(math_log, target=target)(-1.0)  # as numba's math.log does
        assert math.isnan(value) and g == -1.0


def test_power_with_active_exponent_of_nonpositive_base_is_nan(target):
    # Documented: "x ** y with y active and x <= 0 gives nan for the y partial".
    value, (gx, gy) = adflow.value_and_grad(power, wrt=(0, 1), target=target)(-2.0, 2.0)
    assert value == 4.0 and gx == -4.0 and math.isnan(gy)
    value, (gx, gy) = adflow.value_and_grad(power, wrt=(0, 1), target=target)(0.0, 2.0)
    assert value == 0.0 and gx == 0.0 and math.isnan(gy)
    assert adflow.grad(power, wrt=0, target=target)(-2.0, 2.0) == -4.0  # x alone: no NaN


def test_kinks_follow_the_documented_choices(target):
    assert adflow.grad(absolute, target=target)(0.0) == 0.0
    assert adflow.grad(builtin_max, wrt=(0, 1), target=target)(1.0, 1.0) == (0.5, 0.5)
    assert adflow.grad(np_maximum, wrt=(0, 1), target=target)(1.0, 1.0) == (0.5, 0.5)


def test_nan_and_inf_inputs_propagate(target):
    value, g = adflow.value_and_grad(square, target=target)(float("nan"))
    assert math.isnan(value) and math.isnan(g)
    value, g = adflow.value_and_grad(square, target=target)(float("inf"))
    assert value == np.inf and g == np.inf
    value, g = adflow.value_and_grad(sum_sqrt, target=target)(np.array([np.nan, 4.0]))
    assert math.isnan(value)
    assert math.isnan(g[0]) and g[1] == pytest.approx(0.5)


def test_nan_in_one_element_stays_in_its_element(target):
    g = adflow.grad(writes_into_its_input, wrt=1, target=target)(np.array([0.3, np.nan, 2.0]), np.ones(3))
    assert math.isnan(g[1]) and np.isfinite(g[0]) and np.isfinite(g[2])

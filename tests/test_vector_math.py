"""Transcendental functions four at a time (glibc's libmvec) in forward mode's flat loops."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import adflow
from adflow.backends import vector_math
from adflow.backends.emit import expr_source
from adflow.duals.numba_elementwise import flat_impl

needs_libmvec = pytest.mark.skipif(not vector_math.available(), reason="no glibc libmvec with AVX2 here")

DOMAINS = {  # arguments inside each function's domain
    "arccos": (-0.99, 0.99), "arcsin": (-0.99, 0.99), "arctanh": (-0.99, 0.99), "arccosh": (1.01, 30.0),
    "log": (0.01, 30.0), "log2": (0.01, 30.0), "log10": (0.01, 30.0), "log1p": (-0.99, 30.0),
}


def _filled(name, x):
    fill = vector_math.filler(name)

    @numba.njit
    def run(x):
        out = np.empty_like(x)
        fill(x, out)
        return out
    return run(x)


@needs_libmvec
@pytest.mark.parametrize("name", sorted(vector_math.C_NAMES))
def test_vector_functions_match_numpy_within_4_ulp(name):
    if not vector_math.has(name):
        pytest.skip(f"this glibc has no vector {name}")
    low, high = DOMAINS.get(name, (-8.0, 8.0))
    x = np.random.default_rng(0).uniform(low, high, 1001)   # 250 full vectors and a tail of one
    expected = getattr(np, name)(x)
    ulps = np.abs(_filled(name, x) - expected) / np.spacing(np.abs(expected))
    assert ulps.max() <= 4


@needs_libmvec
def test_an_elements_value_does_not_depend_on_its_position():
    # The last one to three elements go through the vector function too, padded.
    x = np.random.default_rng(1).standard_normal(11)
    whole = _filled("tanh", x)
    for n in range(1, 11):
        np.testing.assert_array_equal(_filled("tanh", x[:n]), whole[:n])
        np.testing.assert_array_equal(_filled("tanh", x[n:]), whole[n:])


@needs_libmvec
def test_flat_loops_fill_values_and_partials_before_the_loop():
    with_value = flat_impl(np.sin, "sin", ("dual_array",), (1,), 3)
    assert {"fill_sin", "fill_cos"} <= set(with_value.__globals__)
    tangents_only = flat_impl(np.sin, "sin", ("dual_array",), (1,), 3, value=False)
    assert "fill_cos" in tangents_only.__globals__ and "fill_sin" not in tangents_only.__globals__
    assert "fill_tanh" in flat_impl(np.tanh, "tanh", ("dual_array",), (1,), 3, value=False).__globals__


def waves(x):
    return np.sin(x) * np.tanh(x) + np.exp(x / 4.0) - np.cos(x) + np.log1p(x * x)


def waves_jacobian(x):
    diagonal = (np.cos(x) * np.tanh(x) + np.sin(x) * (1.0 - np.tanh(x) ** 2) + np.exp(x / 4.0) / 4.0
                + np.sin(x) + 2.0 * x / (1.0 + x * x))
    return np.diag(diagonal)


@pytest.mark.parametrize("n", [4] + [pytest.param(n, marks=pytest.mark.slow) for n in (1, 2, 3, 5, 7, 9)])
def test_forward_jacobians_with_vector_math_match_the_closed_form(n):
    x = np.random.default_rng(n).standard_normal(n)
    expected = waves_jacobian(x)
    for target in ("cpu", "python"):
        got = adflow.jacobian(waves, mode="forward", target=target)(x)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    y, y_dot = adflow.jvp(waves, (x,), (np.ones(n),))
    np.testing.assert_allclose(y, waves(x), rtol=1e-14)
    np.testing.assert_allclose(y_dot, expected.sum(axis=1), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("setting", [{"ADFLOW_VECTOR_MATH": "0"}, {"NUMBA_CPU_NAME": "generic"}],
                         ids=["opted-out", "portable-numba-code"])
def test_vector_math_can_be_switched_off(setting):
    # Code compiled for a generic CPU cannot assume AVX2, so NUMBA_CPU_NAME switches it off too.
    code = "from adflow.backends import vector_math as v; print(sorted(v.available()))"
    env = dict(os.environ, **setting)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_vector_math_in_use_is_part_of_the_cache_key():
    code = "from adflow.backends import modules; print(modules.runtime_fingerprint())"
    keys = set()
    for setting in ("0", "1"):
        env = dict(os.environ, ADFLOW_VECTOR_MATH=setting)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        keys.add(out.stdout.strip())
    assert len(keys) == (2 if vector_math.available() else 1)


# --- np.f(x) in generated code for the CPU -------------------------------------------------------

def sines(x, s):
    y = np.sin(x) * np.cos(x[::-1])          # a reversed view: not C-contiguous, so np.cos itself
    return np.sum(y * np.tanh(x)) + np.sin(s) * np.sum(np.exp(x[1:]))


def sines_gradient(x, s):
    """Closed form of d sines / d(x, s)."""
    r = x[::-1]
    y = np.sin(x) * np.cos(r)
    t = np.tanh(x)
    g = np.cos(x) * np.cos(r) * t + y * (1.0 - t * t)
    g_rev = -np.sin(x) * np.sin(r) * t           # d/dr of sin(x) cos(r) tanh(x), at position of r
    g = g + g_rev[::-1]
    e = np.exp(x)
    g[1:] += np.sin(s) * e[1:]
    return g, np.cos(s) * np.sum(e[1:])


def test_with_vector_calls_rewrites_single_argument_numpy_calls_only():
    import gast
    tree = gast.parse("def f(x):\n    return np.sin(x) + np.sin(x, out=x) + np.sqrt(x) + math.cos(x) + np.arctan2(x, x)\n")
    fdef = tree.body[0]
    before = gast.dump(fdef)
    rewritten = vector_math.with_vector_calls(fdef)
    assert gast.dump(fdef) == before                      # pure: the input tree is unchanged
    text = expr_source(rewritten)
    if vector_math.available():
        assert "vector_math.sin(x) + np.sin(x, out=x) + np.sqrt(x) + math.cos(x) + np.arctan2(x, x)" in text
    else:
        assert "vector_math" not in text


@pytest.mark.parametrize("shape", [(7,), (4, 5)])
def test_gradients_through_vector_calls_match_the_closed_form(shape):
    x = np.random.default_rng(3).uniform(-1.0, 1.0, shape)
    expected = sines_gradient(x, 0.3)
    for target in ("cpu", "python"):
        gx, gs = adflow.grad(sines, wrt=(0, 1), target=target)(x, 0.3)
        np.testing.assert_allclose(gx, expected[0], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(gs, expected[1], rtol=1e-13)


@pytest.mark.slow  # Hessians compile the dual vector functions: 10 s
def test_hessians_take_the_numpy_function_for_duals():
    def reference(x):
        return np.diag(np.exp(x) - np.sin(x))        # of sum(sin(x) + exp(x)), below
    x = np.random.default_rng(4).uniform(-1.0, 1.0, 6)
    np.testing.assert_allclose(adflow.hessian(sin_exp_sum)(x), reference(x), rtol=1e-13, atol=1e-14)


def sin_exp_sum(x):
    return np.sum(np.sin(x) + np.exp(x))


@needs_libmvec
def test_cpu_source_shows_the_vector_calls_and_python_source_the_numpy_ones():
    x = np.linspace(0.1, 1.0, 8)
    def code(source):  # without the comments that quote the user's line
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    cpu = code(adflow.grad(sin_exp_sum).source_for(x))
    python = code(adflow.grad(sin_exp_sum, target="python").source_for(x))
    assert "vector_math.sin(x)" in cpu and "vector_math.cos(x)" in cpu and "np.sin(" not in cpu
    assert "np.sin(x)" in python and "vector_math" not in python


def outer_power(x):
    return x[:, None] ** x[None, :]        # both operands vary, shapes differ: the broadcasting loop


def own_power(x):
    return x ** x[::-1].copy()             # both operands vary, one shape: the flat loop


@pytest.mark.parametrize("f", [outer_power, own_power])
def test_power_of_two_dual_arrays_keeps_its_primal(f):
    # pow's partial calls np.log(x), which the flat loop fills first; that must not replace the
    # primitive the loop (or its broadcasting fallback) evaluates.
    x = np.random.default_rng(5).uniform(0.5, 2.0, 5)
    h = 1e-6
    expected = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(5)], axis=-1)
    for target in ("cpu", "python"):
        np.testing.assert_allclose(adflow.jacobian(f, mode="forward", target=target)(x), expected,
                                   rtol=1e-7, atol=1e-9)


USER_CODE = '''
import numba, numpy as np
import adflow.forward as fw

@numba.njit(cache=True)
def user_function(x):
    return np.sin(x) * 2.0

x = fw.make_dual(np.linspace(0.1, 1.0, 9), np.ones((9, 1)), 1)
y = user_function(x)
print(sum(user_function.stats.cache_hits.values()), float(np.abs(fw.tangents_of(y, 1)[:, 0] - 2.0 * np.cos(x.value)).max()))
'''


@pytest.mark.slow  # new processes compiling from scratch: about 20 s
def test_a_users_cached_function_on_duals_links_libmvec_in_a_new_process(tmp_path):
    # The second process loads the machine code from numba's cache, with no typing that would have
    # asked adflow for the vector functions: importing adflow must have loaded libmvec already.
    script = tmp_path / "user_code.py"
    script.write_text(USER_CODE)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for hits in ("0", "1"):
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        cache_hits, error = out.stdout.split(maxsplit=1)
        assert cache_hits == hits and float(error) < 1e-14


TWO_CACHED_FUNCTIONS = '''
import sys
import numba
import numpy as np
from adflow.backends import vector_math
from adflow.forward import seed, tangents_of


@numba.njit(cache=True)
def vector_tanh(x):
    return vector_math.tanh(x)


@numba.njit(cache=True)
def vector_sin(x):
    return vector_math.sin(x)


@numba.njit(cache=True)
def dual_tanh(x):
    return tangents_of(np.tanh(seed(x, np.ones(x.shape + (2,)), 2)), 2)[:, 0]


@numba.njit(cache=True)
def dual_sin(x):
    return tangents_of(np.sin(seed(x, np.ones(x.shape + (2,)), 2)), 2)[:, 0]


EXPECTED = {"vector_tanh": np.tanh, "vector_sin": np.sin,
            "dual_tanh": lambda x: 1.0 - np.tanh(x) ** 2, "dual_sin": np.cos}
x = np.linspace(0.1, 1.0, 8)
for name in sys.argv[1:]:
    print(name, float(np.abs(globals()[name](x) - EXPECTED[name](x)).max()))
'''


@pytest.mark.slow  # new processes compiling from scratch: about 20 s
def test_cached_functions_compiled_in_different_processes_keep_their_own_rules(tmp_path):
    # Two processes with the same compile history compile a tanh and a sin: numba's per-process
    # counter gave adflow's generated rules (every one named "fill" or "impl") the same machine-code
    # name in both, and a third process loading both from the cache ran tanh for sin.
    script = tmp_path / "two_rules.py"
    script.write_text(TWO_CACHED_FUNCTIONS)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run(*names):
        out = subprocess.run([sys.executable, str(script), *names], env=env, capture_output=True, text=True,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        return dict((line.split()[0], float(line.split()[1])) for line in out.stdout.splitlines())

    run("vector_tanh", "dual_tanh")
    run("vector_sin", "dual_sin")
    errors = run("vector_tanh", "dual_tanh", "vector_sin", "dual_sin")  # all four from the cache
    assert max(errors.values()) < 1e-14, errors


def test_compiled_lambdas_get_distinct_names_and_the_users_stay_as_they_are():
    # Custom rules are lambdas: all called "<lambda>" in their module, so the compiled copies take
    # names from their code (the same reason as above), leaving the user's function objects alone.
    from adflow.frontend.typeinfer import jitted
    first, second = (lambda g, x: g * x), (lambda g, x: g + x)
    a, b = jitted(first), jitted(second)
    assert a.py_func.__qualname__ != b.py_func.__qualname__
    assert first.__qualname__ == second.__qualname__ == \
        "test_compiled_lambdas_get_distinct_names_and_the_users_stay_as_they_are.<locals>.<lambda>"
    assert a(2.0, 3.0) == 6.0 and b(2.0, 3.0) == 5.0

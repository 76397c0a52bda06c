"""Builds recorded on disk (adflow/pipeline/build_cache.py): a new process loads the generated module
without transforming again, and anything the module depends on makes a new build when it changes."""
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from adflow.pipeline import build_cache
from adflow.targets import cpu

ROOT = Path(__file__).resolve().parent.parent

USER_MODULE = '''
import math
import numpy as np

SCALE = {scale}
WEIGHTS = np.array([1.0, 2.0, {weight}])


def helper(u):
    return u * u * SCALE


def loss(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + helper(x[i]) * WEIGHTS[i] + math.sin(x[i])
    return s
'''

RUN = '''
import sys
import numpy as np
import adflow
import adflow.reverse.transform, adflow.forward.transform
from adflow.pipeline import build_cache
import user_code

if sys.argv[1] == "no-transform":
    def refuse(self):
        raise AssertionError("transformed again")
    adflow.reverse.transform.ReverseTransform.run = refuse
    adflow.forward.transform.ForwardTransform.run = refuse
x = np.array([0.3, -1.2, 0.8])
g = adflow.grad(user_code.loss)(x)
j = adflow.jacobian(user_code.loss, mode="forward")(x)
print(" ".join(repr(float(v)) for v in list(g) + list(j)))
'''


def expected(x, scale, weights):
    # d/dx_i of sum(scale * x_i^2 * w_i + sin(x_i))
    return [2.0 * scale * v * w + np.cos(v) for v, w in zip(x, weights)]


def write_user_module(folder, scale, weight):
    (folder / "user_code.py").write_text(USER_MODULE.format(scale=scale, weight=weight))


def run(folder, mode):
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(folder / "cache"), PYTHONPATH=f"{ROOT}{os.pathsep}{folder}",
               PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, str(folder / "run.py"), mode], env=env, capture_output=True, text=True,
                         cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return [float(v) for v in out.stdout.split()]


def records(folder):
    return sorted((folder / "cache" / "builds").glob("*.pkl"))


def test_a_second_process_loads_the_build_without_transforming(tmp_path):
    (tmp_path / "run.py").write_text(RUN)
    write_user_module(tmp_path, 1.5, 3.0)
    x = [0.3, -1.2, 0.8]
    want = expected(x, 1.5, [1.0, 2.0, 3.0])
    first = run(tmp_path, "build")
    assert len(records(tmp_path)) == 2  # the gradient's and the forward Jacobian's
    second = run(tmp_path, "no-transform")  # fails if anything is transformed again
    assert second == first
    np.testing.assert_allclose(second[:3], want, rtol=1e-13)
    np.testing.assert_allclose(second[3:], want, rtol=1e-13)


@pytest.mark.parametrize("change", ["helper", pytest.param("scale", marks=pytest.mark.slow),
                                    pytest.param("weight", marks=pytest.mark.slow)])
def test_what_the_module_depends_on_makes_a_new_build_when_it_changes(tmp_path, change):
    (tmp_path / "run.py").write_text(RUN)
    write_user_module(tmp_path, 1.5, 3.0)
    run(tmp_path, "build")
    scale, weight = {"scale": (2.5, 3.0), "weight": (1.5, -4.0), "helper": (1.5, 3.0)}[change]
    write_user_module(tmp_path, scale, weight)
    if change == "helper":  # the helper's own code changes: u * u * SCALE -> u * u * SCALE * 2.0
        path = tmp_path / "user_code.py"
        path.write_text(path.read_text().replace("return u * u * SCALE", "return u * u * SCALE * 2.0"))
        scale = 3.0
    got = run(tmp_path, "build")
    assert len(records(tmp_path)) == 4
    want = expected([0.3, -1.2, 0.8], scale, [1.0, 2.0, weight])
    np.testing.assert_allclose(got[:3], want, rtol=1e-13)
    np.testing.assert_allclose(got[3:], want, rtol=1e-13)


class Knob:
    factor = 2.0


def test_a_value_it_cannot_describe_leaves_the_build_unrecorded(tmp_path, monkeypatch):
    (tmp_path / "knobbed.py").write_text(textwrap.dedent('''
        def f(x):
            return x[0] * KNOB.factor
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("knobbed")
    module.KNOB = Knob()
    types = (build_cache.numba.typeof(np.ones(2)),)
    assert build_cache.key_of("reverse", module.f, types, ((0,), None, None), cpu.TARGET) is None
    module.KNOB = 2.0
    assert build_cache.key_of("reverse", module.f, types, ((0,), None, None), cpu.TARGET) is not None


PRIMAL_MODULE = '''
import numpy as np


def spread(x):
    return np.array([x[0] * x[1], np.sin(x[2]) * {scale}, x[1] ** 2])
'''

PRIMAL_RUN = '''
import sys
import numba
import numpy as np
import adflow
import user_primal

J = adflow.jacobian(user_primal.spread, mode="reverse")(np.array([1.0, 2.0, 3.0]))
runner = adflow.targets.named("cpu").primal_runner(user_primal.spread)
print(sum(runner.stats.cache_misses.values()), sum(runner.stats.cache_hits.values()), J[1, 2])
'''


@pytest.mark.slow  # three processes: 12-15 s
def test_a_jacobians_run_of_the_primal_is_cached_in_adflows_folder(tmp_path):
    # The run that finds the output's shape compiles f on its own: cached on disk (in the cache
    # folder, not beside the user's file), so a later process loads it; an edit of f compiles again.
    (tmp_path / "run.py").write_text(PRIMAL_RUN)
    (tmp_path / "user_primal.py").write_text(PRIMAL_MODULE.format(scale=1.0))
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}",
               PYTHONDONTWRITEBYTECODE="1")

    def counts():
        out = subprocess.run([sys.executable, "run.py"], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        misses, hits, entry = out.stdout.split()
        return int(misses), int(hits), float(entry)

    assert counts() == (1, 0, np.cos(3.0))
    assert counts() == (0, 1, np.cos(3.0))
    assert list((tmp_path / "cache" / "primals").rglob("*.nbi")) and not (tmp_path / "__pycache__").exists()
    (tmp_path / "user_primal.py").write_text(PRIMAL_MODULE.format(scale=2.0))
    assert counts() == (1, 0, 2.0 * np.cos(3.0))


def _callee(u):
    return u * 2.0


def _caller(x):
    return _callee(x) + 1.0


def _alone(x):
    return x * 2.0


def test_a_primal_that_calls_the_users_functions_is_not_cached_on_its_own():
    # numba's cache would not see an edit of the callee (in another file, say), nor tell apart local
    # functions of one qualified name: those are compiled in each process.
    def local(x):
        return x * 3.0

    target = cpu.TARGET
    assert target.primal_runner(_caller) is target.wrap(_caller)
    assert target.primal_runner(local) is target.wrap(local)
    assert target.primal_runner(_alone) is not target.wrap(_alone)
    assert target.primal_runner(_alone)._cache.__class__.__name__ == "_PrimalCache"


HELPERS_USER = '''
import numpy as np


def loss(X):
    m = np.max(X, axis=1)
    z = np.exp(X - m[:, None])
    return np.sum(np.log(np.sum(z, axis=1)) * {scale}) + np.sum(np.mean(X, axis=0))
'''

HELPERS_RUN = '''
import sys
import numpy as np
from numba.core import event
import adflow

compiled = []


class Compiles(event.Listener):
    def on_start(self, e):
        pass

    def on_end(self, e):
        compiled.append(getattr(e.data["dispatcher"].py_func, "__module__", ""))


event.register("numba:compile", Compiles())
user = __import__(sys.argv[1])
X = np.array([[0.3, -1.2, 0.8], [1.1, 0.4, 0.4], [-0.5, 0.9, 0.2]])
g = adflow.grad(user.loss)(X)
helpers = sorted(m for m in compiled if m.startswith("adflow_generated_helper_"))
print(" ".join(repr(float(v)) for v in g.ravel()), "|", " ".join(helpers))
'''


def test_a_new_process_loads_the_helpers_generated_code_calls_instead_of_compiling_them(tmp_path):
    # The loop nests adflow writes for reductions along an axis and their adjoints, unbroadcast,
    # and vector math are cached on disk (backends/modules.helper_function): a second process,
    # differentiating another function, compiles none of them and gets the right numbers.
    (tmp_path / "run.py").write_text(HELPERS_RUN)
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}",
               PYTHONDONTWRITEBYTECODE="1")

    def run_helpers(scale, name):
        (tmp_path / f"{name}.py").write_text(HELPERS_USER.format(scale=scale))
        out = subprocess.run([sys.executable, "run.py", name], env=env, capture_output=True, text=True,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        numbers, helpers = out.stdout.split("|")
        return np.array([float(v) for v in numbers.split()]).reshape(3, 3), helpers.split()

    def expected(X, scale):
        # loss = scale * sum_i (logsumexp(X_i) - max(X_i)) + sum_j mean_i X_ij
        soft = np.exp(X) / np.sum(np.exp(X), axis=1, keepdims=True)
        return scale * (soft - (X == X.max(axis=1, keepdims=True))) + 1.0 / X.shape[0]

    X = np.array([[0.3, -1.2, 0.8], [1.1, 0.4, 0.4], [-0.5, 0.9, 0.2]])
    first, compiled_first = run_helpers(1.5, "first")
    assert compiled_first, "the first process compiles the helpers"
    second, compiled_second = run_helpers(2.5, "second")
    assert compiled_second == []
    np.testing.assert_allclose(first, expected(X, 1.5), rtol=1e-12)
    np.testing.assert_allclose(second, expected(X, 2.5), rtol=1e-12)


USER_JITTED = '''
import sys
import numba
import numpy as np
import adflow


@numba.njit(cache=True)
def row_sums(a):
    return np.sum(a, axis=1) * 2.0  # adflow's overload: a helper module in adflow's cache folder


print(" ".join(repr(float(v)) for v in row_sums(np.arange(6.0).reshape(2, 3))))
if sys.argv[1:] == ["clear"]:
    adflow.cache.clear()
'''


def test_the_users_own_cached_numba_code_loads_after_adflows_cache_is_cleared(tmp_path):
    # The user's njit(cache=True) function calls adflow's np.sum(a, axis=1), whose module numba
    # imports when it loads that function's cached code: gone after adflow.cache.clear(), it was a
    # ModuleNotFoundError in the user's code.
    (tmp_path / "user_jitted.py").write_text(USER_JITTED)
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT),
               PYTHONDONTWRITEBYTECODE="1")
    for argument in ("compile", "clear", "load"):
        out = subprocess.run([sys.executable, "user_jitted.py", argument], env=env, capture_output=True, text=True,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        assert [float(v) for v in out.stdout.split()] == [6.0, 24.0]
    assert list((tmp_path / "__pycache__").glob("user_jitted.row_sums-*.nbi"))  # loaded from numba's cache

"""The on-disk cache of generated modules is keyed on the code those modules call.

numba's cache of a generated module stores machine code with adflow's helpers inlined (the
runtime's, the rule helpers', the dual numbers' overloads), and does not look at those helpers
again when it loads it.  So the module's key carries a fingerprint of their files
(``backends.modules.runtime_fingerprint``): moving or editing a helper must make a new module,
and an unchanged tree must load the cached machine code.  The class of bug this guards against is
the one of commit 1901aca (machine code of one rule served for another).
"""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adflow.backends import modules

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "adflow"
# What registers code that compiled generated functions run (numba extensions).
EXTENSIONS = {"overload", "register_jitable", "intrinsic", "lower_builtin", "lower_cast", "overload_method",
              "overload_attribute", "typeof_impl", "register_model", "box", "unbox"}


def _registers_numba_code(path):
    for node in ast.walk(ast.parse(path.read_text())):
        func = node.func if isinstance(node, ast.Call) else node
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in EXTENSIONS and isinstance(node, (ast.Call, ast.Name, ast.Attribute)):
            return True
    return False


def test_the_fingerprint_covers_every_module_that_compiled_code_runs():
    covered = {path.resolve() for path in modules.called_files()}
    for name in ("runtime.py", "value_types.py", "duals/rule_helpers.py", "duals/formulas.py",
                 "backends/vector_math.py", "backends/symbols.py", "rules/tangents.py", "syntax/templates.py"):
        assert (PACKAGE / name).resolve() in covered, name
    # Every module that registers numba extensions (what compiled generated code may inline),
    # found independently of the import closure the fingerprint follows.
    registering = {p.resolve() for p in PACKAGE.rglob("*.py") if "cuda" not in p.parts and _registers_numba_code(p)}
    assert registering and registering <= covered, sorted(str(p) for p in registering - covered)


FINGERPRINT = "from adflow.backends import modules; print(modules.runtime_fingerprint())"


def _fingerprint(package_parent, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(package_parent), ADFLOW_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", FINGERPRINT], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@pytest.mark.parametrize("helper", ["duals/rule_helpers.py", "value_types.py"])
def test_editing_a_helper_changes_the_fingerprint(tmp_path, helper):
    copy = tmp_path / "tree"
    shutil.copytree(PACKAGE, copy / "adflow", ignore=shutil.ignore_patterns("__pycache__"))
    before = _fingerprint(copy, tmp_path)
    with open(copy / "adflow" / helper, "a") as fh:
        fh.write("\n# the helper changed\n")
    assert _fingerprint(copy, tmp_path) != before


def test_the_fingerprint_is_kept_per_stamp_of_the_files(tmp_path):
    # Finding the called files parses them: a later process reads the result kept on disk, and an
    # edit (another stamp) computes it again (test above).
    copy = tmp_path / "tree"
    shutil.copytree(PACKAGE, copy / "adflow", ignore=shutil.ignore_patterns("__pycache__"))
    first = _fingerprint(copy, tmp_path)
    kept = list((tmp_path / "cache" / "fingerprints").iterdir())
    assert len(kept) == 1 and kept[0].read_text() == first
    kept[0].write_text("0123456789ab")  # a later process reads it, and does not parse again
    assert _fingerprint(copy, tmp_path) == "0123456789ab"


CACHED_BUILD = '''
import sys
import numpy as np
import adflow


def loss(x):
    # a reshape, a sum along an axis, a mean and a max: their adjoints and tangents call the rule helpers
    c = np.sum(x.reshape(2, 3) ** 2, axis=0)
    return np.mean(c) + np.max(x) * x[0]


x = np.array([0.3, -1.2, 0.8, 2.0, 0.1, -0.4])
g = adflow.grad(loss)(x)
jf = adflow.jacobian(loss, mode="forward")(x)
hits = misses = 0
for name, module in list(sys.modules.items()):
    if name.startswith("adflow_generated_"):
        for value in vars(module).values():
            stats = getattr(value, "stats", None)
            if stats is not None and hasattr(stats, "cache_hits"):
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
print(" ".join(repr(float(v)) for v in g), "|", " ".join(repr(float(v)) for v in jf), "|", hits, misses)
'''


@pytest.mark.slow  # two new processes, the first compiling rule helpers from scratch: about 40 s
# (tests/test_build_cache.py loads a build in a second process in the default tier)
def test_a_cached_build_loads_in_a_new_process_with_the_same_numbers(tmp_path):
    script = tmp_path / "cached_build.py"
    script.write_text(CACHED_BUILD)
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))

    def run():
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        grad, jac, counts = out.stdout.strip().split("|")
        hits, misses = map(int, counts.split())
        return [float(v) for v in grad.split()], [float(v) for v in jac.split()], hits, misses

    first = run()
    second = run()  # the modules, the types and numba's machine code all come from the cache
    assert second[:2] == first[:2]
    assert second[3] == 0 and second[2] > 0, f"second process: {second[2]} cache hits, {second[3]} misses"
    x = [0.3, -1.2, 0.8, 2.0, 0.1, -0.4]
    expected = [2.0 * v / 3.0 for v in x]  # the mean of the column sums of squares
    expected[0] += 2.0  # max(x) * x[0]: the max is x[3] = 2.0
    expected[3] += 0.3
    for got in (second[0], second[1]):
        assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-12, (got, expected)

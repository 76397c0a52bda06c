"""Every example in examples/ runs with its fast settings and passes its own checks.

Each example has ``main(fast=False)``; ``fast=True`` is what ``python examples/<name>.py --fast``
runs: small sizes, the same code paths, compiled (target="cpu").  ``examples/dask_*.py`` start a
LocalCluster and are skipped without dask and distributed.  The examples assert their
results (against finite differences, closed forms or exact solutions), so a wrong derivative
fails here.  ``examples/cuda_*.py`` run in a child process on numba's CUDA simulator (numba reads
NUMBA_ENABLE_CUDASIM when ``numba.cuda`` is first imported, so not in this process).
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith(("cuda_", "_")))
CUDA_NAMES = sorted(p.stem for p in EXAMPLES.glob("cuda_*.py"))
# Examples whose fast settings still compile for over 10 s run in the slow tier (.ci/run runs it).
SLOW = {"mlp_rowwise_jacobian", "why_backward_needs_a_vector", "dask_logistic", "newton_hessian",
        "checkpointed_heat"}


def tiered(names):
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in names]


def load(stem):
    name = f"adflow_example_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # adflow reads the functions' source through their module
    spec.loader.exec_module(module)
    return module


def test_the_examples_are_there():
    assert {"rosenbrock_lbfgs", "lorenz_sensitivities", "mlp_rowwise_jacobian", "why_backward_needs_a_vector",
            "bratu_sparse_newton", "newton_hessian"} <= set(NAMES)
    assert "cuda_lorenz" in CUDA_NAMES


@pytest.mark.parametrize("stem", tiered(NAMES))
def test_example_runs_fast(stem, capsys):
    if stem.startswith("dask_"):
        pytest.importorskip("distributed", reason="examples/dask_*.py need pip install 'adflow[dask]'")
    module = load(stem)
    module.main(fast=True)
    out = capsys.readouterr().out
    assert out.strip(), f"examples/{stem}.py printed nothing"


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="numba-cuda is not installed (pip install 'adflow[cuda]')")
@pytest.mark.slow  # the simulator runs the kernels in Python: half a minute
@pytest.mark.parametrize("stem", CUDA_NAMES)
def test_cuda_example_runs_fast_on_the_simulator(stem):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{stem}.py"), "--fast"], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"examples/{stem}.py --fast failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "simulator" in proc.stdout and "largest difference" in proc.stdout

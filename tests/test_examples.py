"""Every example in examples/ runs with its fast settings and passes its own checks.

Each example has ``main(fast=False)``; ``fast=True`` is what ``python examples/<name>.py --fast``
runs: small sizes, the same code paths, compiled (target="cpu").  ``examples/dask_*.py`` start a
LocalCluster and are skipped without dask and distributed.  The examples assert their
results (against finite differences, closed forms or exact solutions), so a wrong derivative
fails here.  ``examples/cuda_*.py`` need a GPU and are tested with the CUDA target, not here.
"""
import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith(("cuda_", "_")))


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


@pytest.mark.parametrize("stem", NAMES)
def test_example_runs_fast(stem, capsys):
    if stem.startswith("dask_"):
        pytest.importorskip("distributed", reason="examples/dask_*.py need pip install 'adflow[dask]'")
    module = load(stem)
    module.main(fast=True)
    out = capsys.readouterr().out
    assert out.strip(), f"examples/{stem}.py printed nothing"

"""Random straight-line row functions: the block form against dual numbers row by row.

Each program is a chain of statements drawn from what the block transform handles (elementwise
functions, broadcasting a row number against a row vector, products with shared matrices on either
side, sums, indexing, rebinding a name), written to a file so adflow can read its source.  Its
row-wise Jacobian in blocks must equal the per-row forward Jacobian on dual numbers (another code
path) and central differences.  Uncompiled target: no numba compile per program.
"""
import importlib.util

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_jacobian

SHARED = {"W": (6, 4), "V": (4, 3), "U": (3, 6), "w": (4,), "c": (6,)}

UNARY = ["np.sin({v})", "np.cos({v})", "np.tanh({v})", "np.exp(0.3 * {v})", "np.log(1.5 + {v} * {v})",
         "np.sqrt(2.0 + {v} * {v})", "{v} ** 2", "-{v}", "np.arctan({v})", "1.0 / (1.5 + {v} * {v})"]
BINARY = ["{a} + {b}", "{a} * {b}", "{a} - {b}", "{a} / (2.0 + {b} * {b})", "np.hypot({a}, {b})",
          "np.maximum({a}, {b})"]


def _program(seed):
    rng = np.random.default_rng(seed)
    values = {"x": (4,)}                # row values and their shapes
    lines = []

    def pick(shape=None):
        names = [n for n, s in values.items() if shape is None or s == shape]
        return names[rng.integers(len(names))] if names else None

    for k in range(int(rng.integers(3, 8))):
        kind = rng.integers(7)
        v = pick()
        shape = values[v]
        target = f"v{k}" if rng.random() < 0.8 else v          # sometimes rebind a name
        if kind == 0:
            expr, out = UNARY[rng.integers(len(UNARY))].format(v=v), shape
        elif kind == 1:
            other = pick(shape) if rng.random() < 0.6 else (pick(()) or v)
            a, b = (v, other) if rng.random() < 0.5 else (other, v)
            out = values[a] if values[a] != () else values[b]
            expr = BINARY[rng.integers(len(BINARY))].format(a=a, b=b)
        elif kind == 2 and shape in ((4,), (6,), (3,)):
            mat = {(4,): "W", (6,): "U", (3,): "V"}[shape]
            if mat == "V":
                expr, out = f"{mat} @ {v}", (4,)
            else:
                expr, out = f"np.dot({mat}, {v})", (SHARED[mat][0],)
        elif kind == 3 and shape == (4,):
            expr, out = f"{v} @ V", (3,)
        elif kind == 4 and len(shape) == 1:
            expr, out = f"np.sum({v})", ()
        elif kind == 5 and len(shape) == 1 and shape[0] > 2:
            expr, out = (f"{v}[1:]", (shape[0] - 1,)) if rng.random() < 0.5 else (f"{v}[-1]", ())
        elif kind == 6 and shape == (4,):
            expr, out = f"{v} * w + c[0]", (4,)
        else:
            expr, out = f"np.tanh({v}) * 0.5", shape
        if target == "x" or (target in values and values[target] != out):
            target = f"v{k}"
        lines.append(f"    {target} = {expr}")
        values[target] = out
    vectors = [n for n, s in values.items() if len(s) == 1 and n != "x"] or ["x"]
    last = vectors[-1]
    lines.append(f"    return {last} * (1.0 + 0.1 * np.sum(x))")
    return "def row(x, W, V, U, w, c):\n" + "\n".join(lines) + "\n"


def _load(tmp_path, seed):
    path = tmp_path / f"row_{seed}.py"
    path.write_text("import numpy as np\n\n\n" + _program(seed))
    spec = importlib.util.spec_from_file_location(f"row_{seed}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.row


@pytest.mark.parametrize("seed", range(40))
def test_random_row_functions_in_blocks(seed, tmp_path):
    f = _load(tmp_path, seed)
    rng = np.random.default_rng(100 + seed)
    shared = [rng.standard_normal(SHARED[k]) * 0.6 for k in SHARED]
    X = rng.standard_normal((35, 4)) * 0.8
    jac = adflow.jacobian(f, batch=True, mode="forward", target="python")
    Z = jac(X, *shared)
    assert jac.plan.block == 32, (jac.plan.unblocked, _program(seed))
    row_jac = adflow.jacobian(f, mode="forward", target="python")
    for i in (0, 33, 34):
        np.testing.assert_allclose(Z[i], row_jac(X[i], *shared), rtol=1e-12, atol=1e-12, err_msg=_program(seed))
        fd = numerical_jacobian(lambda v: f(v, *shared), X[i])
        np.testing.assert_allclose(Z[i], fd.reshape(Z[i].shape), rtol=2e-5, atol=2e-6, err_msg=_program(seed))

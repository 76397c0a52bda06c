"""Never mutate the user's inputs, whatever the transform: a function that writes into its own
argument gets the derivative at the point it was called with, and the caller's arrays stay as
they were.  (The Jacobian's first call once ran the primal on the caller's array to learn the
output's shape: the array changed, and the Jacobian was taken at the changed point.)
"""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_jacobian


def doubles_first(x):
    x[0] = x[0] * 2.0
    return x * x


def doubles_first_loss(x):
    x[0] = x[0] * 2.0
    return np.sum(x * x * x)


def copy_call(f):
    return lambda x: f(x.copy())


TRANSFORMS = {
    "jacobian forward": lambda t, x: adflow.jacobian(doubles_first, mode="forward", target=t)(x),
    "jacobian reverse": lambda t, x: adflow.jacobian(doubles_first, mode="reverse", target=t)(x),
    "jacobian sparse": lambda t, x: adflow.jacobian(doubles_first, sparsity="auto", target=t)(x).toarray(),
    "jvp": lambda t, x: adflow.jvp(doubles_first, (x,), (np.ones_like(x),), target=t)[1],
    "vjp": lambda t, x: adflow.vjp(doubles_first, x, target=t)[1](np.ones_like(x))[0],
    "grad": lambda t, x: adflow.grad(doubles_first_loss, target=t)(x),
    "hessian": lambda t, x: adflow.hessian(doubles_first_loss, target=t)(x),
    "hvp": lambda t, x: adflow.hvp(doubles_first_loss, target=t)(x, np.ones_like(x)),
}
X = np.array([0.3, 0.5, -0.7])
J = numerical_jacobian(copy_call(doubles_first), X)
G = np.array([24.0, 3.0, 3.0]) * X ** 2
H = np.diag(np.array([48.0, 6.0, 6.0]) * X)
EXPECTED = {"jacobian forward": J, "jacobian reverse": J, "jacobian sparse": J, "jvp": J @ np.ones(3),
            "vjp": np.ones(3) @ J, "grad": G, "hessian": H, "hvp": H @ np.ones(3)}


@pytest.mark.cpu_slow
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_inputs_untouched(name, target):
    x = X.copy()
    for _ in range(2):  # the first call builds (and once ran the primal on x); the second reuses
        result = TRANSFORMS[name](target, x)
        np.testing.assert_array_equal(x, X)
        np.testing.assert_allclose(result, EXPECTED[name], rtol=1e-7, atol=1e-9)


@pytest.mark.cpu_slow
def test_batched_inputs_untouched(target):
    rows = np.array([[0.3, 0.5, -0.7], [0.1, 0.2, 0.4]])
    kept = rows.copy()
    Z = adflow.jacobian(doubles_first, batch=True, target=target)(rows)
    np.testing.assert_array_equal(rows, kept)
    for i in range(2):
        np.testing.assert_allclose(Z[i], numerical_jacobian(copy_call(doubles_first), rows[i]), rtol=1e-7, atol=1e-9)
    g = adflow.grad(doubles_first_loss, batch=True, target=target)(rows)
    np.testing.assert_array_equal(rows, kept)
    np.testing.assert_allclose(g, np.array([24.0, 3.0, 3.0]) * rows ** 2, rtol=1e-13)

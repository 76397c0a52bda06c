"""np.cross and np.vdot: one rule-table entry each, checked in both modes against differences."""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian

C = np.array([1.0, 2.0, 3.0])


def cross_constant(x):
    return np.cross(x, C)


def cross_both(x):
    return np.cross(x * x, x)


def cross_rows(x):
    rows = np.reshape(x, (2, 3))
    return np.ravel(np.cross(rows, np.sin(rows)))


def vdot_loss(x):
    return np.vdot(x, x * 2.0) + np.vdot(C, x)


X = np.array([0.3, -0.5, 0.7])


@pytest.mark.cpu_slow
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("f, x", [(cross_constant, X), (cross_both, X),
                                  (cross_rows, np.array([0.3, -0.5, 0.7, 1.1, 0.2, -0.4]))])
def test_cross(f, x, mode, target):
    J = adflow.jacobian(f, mode=mode, target=target)(x)
    np.testing.assert_allclose(J, numerical_jacobian(f, x), rtol=1e-7, atol=1e-9)


@pytest.mark.cpu_slow
def test_vdot(target):
    np.testing.assert_allclose(adflow.grad(vdot_loss, target=target)(X), 4.0 * X + C, rtol=1e-14)
    np.testing.assert_allclose(4.0 * X + C, numerical_grad(vdot_loss, (X,))[0], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(adflow.hessian(vdot_loss, target=target)(X), 4.0 * np.eye(3), atol=1e-14)

"""Arrays a function creates and then fills with values that depend on the inputs, and helpers
returning tuples, in every mode.

Forward mode must make such arrays dual storage whatever made them: ``np.eye`` (once refused), an
array returned by a helper (once a raw numba TypingError from the generated code).  Reverse mode
must hand a helper returning a tuple one cotangent per component (once a NameError inside the
generated code).  References are closed forms and central differences.
"""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian


def rotation_like(x):
    R = np.eye(2)
    R[0, 1] = x[0]
    return R @ x


def zeros3():
    return np.zeros(3)


def filled_helper_array(x):
    z = zeros3()
    z[0] = x[0] * 2.0
    return z * x


def ramp_written(x):
    r = np.arange(3.0)
    r[1] = np.sin(x[1])
    return r * x


def doubled_and_sine(x):
    return x * 2.0, np.sin(x)


def sum_of_pair_product(x):
    a, b = doubled_and_sine(x)
    return np.sum(a * b)


def pair_product(x):
    a, b = doubled_and_sine(x)
    return a * b


X = np.array([0.3, 0.5, 0.7])


@pytest.mark.cpu_slow
@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_of_created_arrays(mode, target):
    x2 = X[:2]
    J = adflow.jacobian(rotation_like, mode=mode, target=target)(x2)
    np.testing.assert_allclose(J, [[1.0 + x2[1], x2[0]], [0.0, 1.0]], rtol=1e-14)
    J = adflow.jacobian(filled_helper_array, mode=mode, target=target)(X)
    np.testing.assert_allclose(J, np.diag([4.0 * X[0], 0.0, 0.0]), rtol=1e-14)
    J = adflow.jacobian(ramp_written, mode=mode, target=target)(X)
    np.testing.assert_allclose(J, numerical_jacobian(ramp_written, X), rtol=1e-7, atol=1e-9)


def test_jvp_of_created_arrays(target):
    t = np.array([1.0, -2.0, 0.5])
    _, y_dot = adflow.jvp(filled_helper_array, (X,), (t,), target=target)
    np.testing.assert_allclose(y_dot, numerical_jacobian(filled_helper_array, X) @ t, rtol=1e-7, atol=1e-9)


@pytest.mark.cpu_slow
def test_helper_returning_a_tuple(target):
    expected = 2.0 * np.sin(X) + 2.0 * X * np.cos(X)
    np.testing.assert_allclose(adflow.grad(sum_of_pair_product, target=target)(X), expected, rtol=1e-14)
    np.testing.assert_allclose(expected, numerical_grad(sum_of_pair_product, (X,))[0], rtol=1e-7)
    v = np.array([1.0, 0.5, -1.0])
    y, pullback = adflow.vjp(pair_product, X, target=target)
    np.testing.assert_allclose(y, pair_product(X), rtol=1e-15)
    np.testing.assert_allclose(pullback(v)[0], v * expected, rtol=1e-14)

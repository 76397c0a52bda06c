"""Python and NumPy the way people write it: reductions along an axis, helpers called for their
side effects, lists, np.atleast_*d, nested functions, bound methods and callable objects.

Every derivative is checked against an independent reference: a closed form or central
differences (adflow.testing), on both the Python and the CPU targets.
"""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian


def hessian_by_differences(f, x, eps=1e-5):
    """Central differences of the gradient, itself checked against differences of f."""
    gradient = adflow.grad(f, target="python")
    n = x.size
    H = np.zeros((n, n))
    for j in range(n):
        step = np.zeros(n)
        step[j] = eps
        step = step.reshape(x.shape)
        H[:, j] = ((gradient(x + step) - gradient(x - step)) / (2 * eps)).ravel()
    return H.reshape(x.shape + x.shape)


def check_every_mode(f, x, target, hessian=True):
    """grad against differences of f, forward Jacobian against differences, Hessian against
    differences of the gradient."""
    g = adflow.grad(f, target=target)(x)
    np.testing.assert_allclose(g, numerical_grad(f, (x,))[0], rtol=1e-6, atol=1e-8)
    J = adflow.jacobian(f, mode="forward", target=target)(x)
    np.testing.assert_allclose(J, numerical_grad(f, (x,))[0], rtol=1e-6, atol=1e-8)
    if hessian:
        H = adflow.hessian(f, target=target)(x)
        np.testing.assert_allclose(H, hessian_by_differences(f, x), rtol=1e-5, atol=1e-6)


# ============================================================================ reductions along an axis

X0 = np.array([[0.3, -1.2, 0.8, 0.5], [1.1, 0.4, -0.6, 0.9], [-0.8, 1.5, 0.2, -0.3]])


def reductions_along_axes(X):
    return (np.sum(np.max(X, axis=0) ** 2) + np.sum(np.sin(np.min(X, axis=1)))
            + np.sum(np.mean(X, axis=-1) ** 3) + np.sum(np.prod(X, axis=0) * np.amax(X, 1)[0])
            + np.sum(np.sum(X * X, axis=1) ** 2))


def test_reductions_along_an_axis_in_every_mode(target):
    check_every_mode(reductions_along_axes, X0, target)


def column_maxima(X):
    return np.max(X, axis=0)


def test_vjp_of_max_along_an_axis(target):
    # The maximum of each column takes the whole cotangent of that column.
    y, back = adflow.vjp(column_maxima, X0, target=target)
    np.testing.assert_array_equal(y, X0.max(axis=0))
    ct = np.array([1.0, -2.0, 0.5, 3.0])
    (X_bar,) = back(ct)
    expected = np.zeros_like(X0)
    expected[X0.argmax(axis=0), np.arange(4)] = ct
    np.testing.assert_array_equal(X_bar, expected)
    np.testing.assert_allclose(adflow.jacobian(column_maxima, mode="forward", target=target)(X0),
                               numerical_jacobian(column_maxima, X0), rtol=1e-6, atol=1e-8)


def squared_column_means(X):
    return np.sum(np.mean(X, axis=0) ** 2)


def test_hessian_through_mean_along_an_axis_closed_form(target):
    # f = sum_j (sum_i X_ij / m)^2: d2f/dX_ij dX_kl = 2 / m^2 when j == l.
    m, n = X0.shape
    H = adflow.hessian(squared_column_means, target=target)(X0)
    expected = np.einsum("ik,jl->ijkl", np.ones((m, m)), np.eye(n)) * 2.0 / m ** 2
    np.testing.assert_allclose(H, expected, rtol=1e-12, atol=1e-14)


def max_along_rows_3d(T):
    return np.sum(np.max(T, axis=1) * np.mean(T, axis=2)[:, :1])


def test_reductions_of_three_dimensional_arrays(target):
    T = np.random.default_rng(3).standard_normal((2, 3, 4))
    g = adflow.grad(max_along_rows_3d, target=target)(T)
    np.testing.assert_allclose(g, numerical_grad(max_along_rows_3d, (T,))[0], rtol=1e-6, atol=1e-8)


# ============================================================================ np.atleast_1d/2d/3d

W2 = np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.6]])


def at_least(x):
    a = np.atleast_1d(x[0] * x[1])
    b = np.atleast_2d(x) * W2[0]
    c = np.atleast_3d(np.sin(x))
    d = np.atleast_2d(x[2])
    return np.sum(a * x) + np.sum(b * b) + np.sum(c[0, :, 0] * W2[1]) + d[0, 0] ** 3


def test_at_least_in_every_mode(target):
    check_every_mode(at_least, np.array([0.4, -0.9, 1.3]), target)

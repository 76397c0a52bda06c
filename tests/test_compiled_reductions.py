"""Reductions along an axis in compiled code: adflow's loop nests (adflow/duals/numba_numpy.py)
stand in for numba's ``np.sum(a, axis=k)`` and fill in ``np.max``/``np.min``/``np.mean``/
``np.prod`` along an axis; the adjoints spread and share cotangents with loop nests too.

References: NumPy itself for the values; closed forms and central differences for derivatives.
"""
import numba
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad

REDUCTIONS = ["sum", "mean", "prod", "max", "min"]
COMPILED = {name: numba.njit(eval(f"lambda a, axis: np.{name}(a, axis=axis)")) for name in REDUCTIONS}  # noqa: S307


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (4, 6), (3, 4, 5), (2, 3, 2, 3)])
def test_reductions_along_every_axis_match_numpy(name, shape):
    a = np.random.default_rng(len(shape)).standard_normal(shape)
    for axis in range(-len(shape), len(shape)):
        np.testing.assert_allclose(COMPILED[name](a, axis), getattr(np, name)(a, axis=axis), rtol=1e-13,
                                   err_msg=f"np.{name}(a, axis={axis}) of shape {shape}")


def test_reductions_of_views_and_float32_and_nan():
    a = np.random.default_rng(0).standard_normal((5, 8))
    view = a[1:, ::3]
    for name in REDUCTIONS:
        np.testing.assert_allclose(COMPILED[name](view, 0), getattr(np, name)(view, axis=0), rtol=1e-13)
    single = a.astype(np.float32)
    assert COMPILED["sum"](single, 1).dtype == np.float32 == np.sum(single, axis=1).dtype
    a[2, 3] = np.nan
    for name in ("max", "min"):  # a NaN wins, as in NumPy
        np.testing.assert_array_equal(np.isnan(COMPILED[name](a, 1)), np.isnan(getattr(np, name)(a, axis=1)))
    with pytest.raises(ValueError, match="zero-size"):
        COMPILED["max"](np.ones((0, 3)), 0)


def sum_of_squared_sums_4d(x):
    return np.sum(np.sum(x, axis=2) ** 2)


@pytest.mark.cpu_slow
def test_gradient_of_a_sum_along_an_axis_of_a_4d_array(target):
    # f = sum over (i, j, l) of (sum_k x_ijkl)^2, so df/dx_ijkl = 2 sum_k' x_ijk'l.
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2))
    expected = np.broadcast_to(2 * np.sum(x, axis=2, keepdims=True), x.shape)
    np.testing.assert_allclose(adflow.grad(sum_of_squared_sums_4d, target=target)(x), expected, rtol=1e-13)


def row_maxima_weighted(X):
    return np.sum(np.max(X, axis=1) * np.arange(1.0, X.shape[0] + 1.0))


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_maximum_shares_its_cotangent_among_ties(target):
    # Row i's maximum weighs i + 1; tied maxima share it evenly, as their mean (np.maximum's rule).
    X = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.5], [4.0, 4.0, 4.0]])
    expected = np.array([[0.0, 0.5, 0.5], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(adflow.grad(row_maxima_weighted, target=target)(X), expected, rtol=1e-15)


def softmax_cross_entropy(W, X, y):
    logits = X @ W
    m = np.max(logits, axis=1)
    z = logits - m[:, None]
    lse = np.log(np.sum(np.exp(z), axis=1))
    picked = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        picked[i] = z[i, y[i]]
    return np.sum(lse - picked) / X.shape[0]


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_softmax_cross_entropy_as_users_write_it(target):
    # m[:, None] is a view with a new axis: its adjoint is added into m_bar in place.
    rng = np.random.default_rng(2)
    W, X, y = 0.5 * rng.standard_normal((4, 3)), rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    g = adflow.grad(softmax_cross_entropy, target=target)(W, X, y)
    np.testing.assert_allclose(g, numerical_grad(softmax_cross_entropy, (W, X, y), wrt=(0,))[0], rtol=1e-6, atol=1e-9)

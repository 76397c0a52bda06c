"""``batch=`` over chosen arguments, as ``jax.vmap``'s ``in_axes``: per-sample gradients with respect
to shared parameters, ``grad(loss, wrt=0, batch=(None, 0, 0))(w, X, y)`` of shape (n, d), checked
against the closed form and central differences of each sample's loss (and ``jax.vmap`` if installed).
"""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad

TARGETS = ["python", "cpu"]
RNG = np.random.default_rng(7)
N, D = 6, 4
W = RNG.standard_normal(D)
XS = RNG.standard_normal((N, D))
YS = RNG.standard_normal(N)


def loss(w, x, y):
    r = np.dot(x, w) - y
    return r * r + 0.1 * np.sum(w * w)


def closed_w(w, X, y):
    return 2 * (X @ w - y)[:, None] * X + 0.2 * w


def closed_x(w, X, y):
    return 2 * (X @ w - y)[:, None] * w


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", TARGETS)
def test_per_sample_gradients_of_shared_parameters(target):
    G = adflow.grad(loss, wrt=0, batch=(None, 0, 0), target=target)(W, XS, YS)
    assert G.shape == (N, D)
    np.testing.assert_allclose(G, closed_w(W, XS, YS), rtol=1e-13)
    for i in (0, N - 1):
        np.testing.assert_allclose(G[i], numerical_grad(loss, (W, XS[i], YS[i]), wrt=[0])[0], rtol=1e-6)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", TARGETS)
def test_several_wrt_over_batched_and_shared_arguments(target):
    Gw, Gx, Gy = adflow.grad(loss, wrt=(0, 1, 2), batch=(None, 0, 0), target=target)(W, XS, YS)
    np.testing.assert_allclose(Gw, closed_w(W, XS, YS), rtol=1e-13)
    np.testing.assert_allclose(Gx, closed_x(W, XS, YS), rtol=1e-13)
    np.testing.assert_allclose(Gy, -2 * (XS @ W - YS), rtol=1e-13)
    assert (Gw.shape, Gx.shape, Gy.shape) == ((N, D), (N, D), (N,))


def test_batch_true_is_the_differentiated_argument():
    def row_loss(x, w, y):
        return loss(w, x, y)

    np.testing.assert_allclose(adflow.grad(row_loss, batch=True)(XS, W, 1.5), closed_x(W, XS, np.full(N, 1.5)),
                               rtol=1e-13)
    np.testing.assert_allclose(adflow.grad(row_loss, batch=(0, None, None))(XS, W, 1.5),
                               closed_x(W, XS, np.full(N, 1.5)), rtol=1e-13)


def test_float32_rows_and_shared_parameters_keep_their_dtype():
    G = adflow.grad(loss, batch=(None, 0, 0))(W.astype(np.float32), XS.astype(np.float32), YS.astype(np.float32))
    assert G.dtype == np.float32
    np.testing.assert_allclose(G, closed_w(W, XS, YS), rtol=1e-5)


@pytest.mark.parametrize("batch, message", [
    ((None, 1, 0), "tuple of 0 and None"),
    ((None, None, None), "tuple of 0 and None"),
    ("rows", "tuple of 0 and None"),
])
def test_bad_batch_options(batch, message):
    with pytest.raises(adflow.ArgumentError, match=message):
        adflow.grad(loss, batch=batch)


def test_bad_batched_calls():
    g = adflow.grad(loss, batch=(None, 0, 0))
    with pytest.raises(adflow.ShapeError, match="argument 1 has 6, argument 2 has 5"):
        g(W, XS, YS[:5])
    with pytest.raises(adflow.ArgumentError, match="4 entries but loss is called with 3"):
        adflow.grad(loss, batch=(None, 0, 0, 0))(W, XS, YS)
    with pytest.raises(adflow.ArgumentError, match="has_aux"):
        adflow.grad(loss, batch=(None, 0, 0), has_aux=True)
    with pytest.raises(adflow.ArgumentError, match="batch=True"):
        adflow.grad(loss, batch=(None, 0, 0), target="cuda")


@pytest.mark.slow  # JAX's import and compile: 4-13 s
def test_against_jax_vmap():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def loss_jax(w, x, y):
        r = jnp.dot(x, w) - y
        return r * r + 0.1 * jnp.sum(w * w)

    expected = jax.vmap(jax.grad(loss_jax), in_axes=(None, 0, 0))(W, XS, YS)
    np.testing.assert_allclose(adflow.grad(loss, batch=(None, 0, 0))(W, XS, YS), np.asarray(expected), rtol=1e-13)


def test_jacobian_takes_batch_true_only():
    with pytest.raises(adflow.ArgumentError, match="jacobian takes batch=True"):
        adflow.jacobian(loss, batch=(None, 0, 0))


def normalised_loss(w, x, y):
    # w is rebound: its adjoint starts once per value, so its gradient is computed apart and copied
    # into its row; x is not, and its gradient is computed in its row (reverse/gradient_rows.py).
    w = w / np.sqrt(np.sum(w * w))
    r = np.dot(x, w) - y
    return r * r + y * np.sum(np.sin(w))


def differences_loss(w, x, y):
    # x rebound to another shape: the adjoint started first is the shorter one's (CI fuzz, slow tier)
    x = x[1:] - x[:-1]
    return np.sum(x * x) * y + np.sum(w[:3] * x)


@pytest.mark.parametrize("target", ["python", pytest.param("cpu", marks=pytest.mark.cpu_slow)])
@pytest.mark.parametrize("f", [normalised_loss, differences_loss])
def test_each_rows_gradient_is_computed_in_its_row_of_the_result(target, f):
    grad = adflow.grad(f, wrt=(0, 1, 2), batch=(None, 0, 0), target=target)
    Gw, Gx, Gy = grad(W, XS, YS)
    for i in range(N):
        ew, ex, ey = numerical_grad(f, (W, XS[i], YS[i]), wrt=[0, 1, 2])
        np.testing.assert_allclose(Gw[i], ew, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(Gx[i], ex, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(Gy[i], ey, rtol=1e-6, atol=1e-9)
    source = grad.source  # the batched module, built by the call
    assert "_grad_rows(w, x[_i], y[_i], 1.0, _out0, _out1, _out2, _i)" in source, source
    unchanged = "x" if f is differences_loss else "w"
    assert f"{unchanged}_bar = row_of(_out" not in source and f"{unchanged}_bar = zeroed_row(_out" not in source
    in_row = "w_bar = {}(_out0, _row)" if f is differences_loss else "x_bar = {}(_out1, _row)"
    assert in_row.format("row_of") in source or in_row.format("zeroed_row") in source, source
    assert "settle_row(_out2, _row, y_bar)" in source

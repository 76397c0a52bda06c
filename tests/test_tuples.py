"""Tuple outputs and several ``wrt`` arguments, laid out as JAX lays them out.

* ``jvp`` of a function returning a (nested) tuple: a tuple of tangents of the same layout;
* ``vjp``: a cotangent per part;
* ``jacobian`` of ``f -> (a, b)``: ``(da/dx, db/dx)``; with ``wrt=(0, 1)``:
  ``((da/dx0, da/dx1), (db/dx0, db/dx1))``, in forward and reverse mode;
* ``hessian(wrt=(0, 1))``: ``((H00, H01), (H10, H11))``; of a tuple output, one Hessian per part;
* helpers returning tuples, in every mode.

References are closed forms and central differences (adflow.testing), and JAX where installed.
"""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_jacobian

TARGETS = ["python", "cpu"]
MODES = ["forward", "reverse"]
X = np.array([0.5, 1.5])
Y = np.array([2.0, 3.0, 4.0])


def pair(x):
    return x[0] * x[1], np.sin(x)


def two_args(x, y):
    return x * y[0], np.sum(x) * y


def nested(x, s):
    return (x[0] * s, x * s), np.sum(x * x)


def split(x):
    return x[0] * x[1], x * 2.0


def through_helper(x):
    a, b = split(x)
    return a * np.sum(b)


def mixed(x, y):
    return np.sum(x * x) * y[0] + x[0] * y[1] ** 3


def closed_pair(x):
    return np.array([x[1], x[0]]), np.diag(np.cos(x))


def assert_tree_close(actual, expected, rtol=1e-12, atol=1e-14):
    assert type(actual) is type(expected) or not isinstance(expected, tuple), (actual, expected)
    if isinstance(expected, tuple):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_tree_close(a, e, rtol, atol)
    else:
        assert np.shape(actual) == np.shape(expected), (np.shape(actual), np.shape(expected))
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("target", TARGETS)
def test_jvp_of_a_tuple(target):
    t = np.array([0.3, -0.7])
    (a, b), (a_dot, b_dot) = adflow.jvp(pair, (X,), (t,), target=target)
    da, db = closed_pair(X)
    assert_tree_close((a, b), pair(X))
    assert_tree_close((a_dot, b_dot), (float(da @ t), db @ t))
    assert isinstance(a_dot, type(a))  # a tangent has its value's type


@pytest.mark.parametrize("target", TARGETS)
def test_jvp_of_a_nested_tuple_with_two_arguments(target):
    t, ts = np.array([1.0, 0.5]), 2.0
    value, tangent = adflow.jvp(nested, (X, 3.0), (t, ts), target=target)
    expected = ((t[0] * 3.0 + X[0] * ts, t * 3.0 + X * ts), float(2 * X @ t))
    assert_tree_close(value, nested(X, 3.0))
    assert_tree_close(tangent, expected)


def flat(x, s):
    return x[0] * s, x * s, np.sum(x * x)


@pytest.mark.parametrize("target", TARGETS)
def test_vjp_of_a_tuple(target):
    y, pullback = adflow.vjp(flat, X, 3.0, target=target)
    assert_tree_close(y, flat(X, 3.0))
    gx, gs = pullback((0.5, np.array([1.0, -1.0]), 2.0))
    # d/dx: 0.5 * s e0 + s * [1, -1] + 2.0 * 2x;  d/ds: 0.5 * x0 + [1, -1] . x
    np.testing.assert_allclose(gx, 0.5 * 3.0 * np.array([1.0, 0.0]) + 3.0 * np.array([1.0, -1.0]) + 4.0 * X, rtol=1e-14)
    np.testing.assert_allclose(gs, 0.5 * X[0] + X[0] - X[1], rtol=1e-14)
    with pytest.raises(adflow.ShapeError, match="tuple of 3 parts"):
        pullback((1.0, 2.0))


@pytest.mark.parametrize("target", TARGETS)
def test_reverse_mode_of_a_nested_tuple(target):
    # nested(x, s) = ((x0 s, x s), x.x): a cotangent ((c0, c1), c2) gives
    # d/dx = c0 s e0 + s c1 + 2 c2 x and d/ds = c0 x0 + c1.x.
    y, pullback = adflow.vjp(nested, X, 3.0, target=target)
    assert_tree_close(y, nested(X, 3.0))
    c0, c1, c2 = 0.5, np.array([1.0, -1.0]), 2.0
    gx, gs = pullback(((c0, c1), c2))
    np.testing.assert_allclose(gx, c0 * 3.0 * np.array([1.0, 0.0]) + 3.0 * c1 + 2.0 * c2 * X, rtol=1e-14)
    np.testing.assert_allclose(gs, c0 * X[0] + c1 @ X, rtol=1e-14)
    with pytest.raises(adflow.ShapeError, match="tuple of 2 parts"):
        pullback((c0, c1, c2))
    jac = adflow.jacobian(nested, mode="reverse", target=target)(X, 3.0)
    assert_tree_close(jac, ((np.array([3.0, 0.0]), 3.0 * np.eye(2)), 2.0 * X))
    fd = ((numerical_jacobian(lambda x: nested(x, 3.0)[0][0], X), numerical_jacobian(lambda x: nested(x, 3.0)[0][1], X)),
          numerical_jacobian(lambda x: nested(x, 3.0)[1], X))
    assert_tree_close(jac, fd, rtol=1e-7, atol=1e-8)
    hess = adflow.hessian(nested, wrt=0, target=target)(X, 3.0)
    assert_tree_close(hess, ((np.zeros((2, 2)), np.zeros((2, 2, 2))), 2.0 * np.eye(2)))


def packs_and_reads(x):
    """A helper's nested tuple, unpacked and indexed, negative indices included."""
    a, (b, c) = nested_parts(x)
    t = nested_parts(x)
    u = t[-1]
    return a * c + np.sum(b) + t[0] * u[-1] + np.sum(u[-2] * u[0])


def nested_parts(x):
    return x[0], (np.sin(x), x[1] * 2.0)


def packs_and_reads_closed(x):
    # 2 (x0 * 2 x1) + sum(sin x) + sum(sin(x)^2): d/dx0 = 4 x1 + cos x0 + sin(2 x0), d/dx1 = 4 x0 + cos x1 + sin(2 x1)
    return np.array([4.0 * x[1], 4.0 * x[0]]) + np.cos(x) + np.sin(2.0 * x)


@pytest.mark.parametrize("target", TARGETS)
def test_gradient_through_a_helper_returning_a_nested_tuple(target):
    g = adflow.grad(packs_and_reads, target=target)(X)
    np.testing.assert_allclose(g, packs_and_reads_closed(X), rtol=1e-13)
    np.testing.assert_allclose(g, numerical_jacobian(packs_and_reads, X), rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_of_a_tuple(target, mode):
    jac = adflow.jacobian(pair, mode=mode, target=target)(X)
    assert_tree_close(jac, closed_pair(X))
    fd = (numerical_jacobian(lambda x: pair(x)[0], X), numerical_jacobian(lambda x: pair(x)[1], X))
    assert_tree_close(jac, fd, rtol=1e-7, atol=1e-8)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_of_a_tuple_with_two_wrt(target, mode):
    jac = adflow.jacobian(two_args, wrt=(0, 1), mode=mode, target=target)(X, Y)
    e0 = np.zeros((2, 3))
    e0[:, 0] = X
    expected = ((Y[0] * np.eye(2), e0), (np.outer(Y, np.ones(2)), np.sum(X) * np.eye(3)))
    assert_tree_close(jac, expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_of_one_output_with_two_wrt(target, mode):
    dx, dy = adflow.jacobian(mixed, wrt=(0, 1), mode=mode, target=target)(X, Y)
    np.testing.assert_allclose(dx, 2 * X * Y[0] + np.array([Y[1] ** 3, 0.0]), rtol=1e-13)
    np.testing.assert_allclose(dy, [np.sum(X * X), 3 * X[0] * Y[1] ** 2, 0.0], rtol=1e-13)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("mode", ["forward", "auto"])
@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_of_a_nested_tuple(target, mode):
    (da, db), dc = adflow.jacobian(nested, wrt=(0, 1), mode=mode, target=target)(X, 3.0)
    assert_tree_close(da, (np.array([3.0, 0.0]), X[0]))
    assert_tree_close(db, (3.0 * np.eye(2), X.copy()))
    assert_tree_close(dc, (2 * X, np.array(0.0)))


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", TARGETS)
def test_hessian_blocks_of_two_arguments(target):
    (hxx, hxy), (hyx, hyy) = adflow.hessian(mixed, wrt=(0, 1), target=target)(X, Y)
    np.testing.assert_allclose(hxx, 2 * Y[0] * np.eye(2), rtol=1e-14)
    expected_xy = np.array([[2 * X[0], 3 * Y[1] ** 2, 0.0], [2 * X[1], 0.0, 0.0]])
    np.testing.assert_allclose(hxy, expected_xy, rtol=1e-14)
    np.testing.assert_allclose(hyx, expected_xy.T, rtol=1e-14)
    np.testing.assert_allclose(hyy, np.diag([0.0, 6 * X[0] * Y[1], 0.0]), rtol=1e-14)


@pytest.mark.parametrize("target", TARGETS)
def test_hessian_of_a_tuple(target):
    h_product, h_sines = adflow.hessian(pair, target=target)(X)
    np.testing.assert_allclose(h_product, [[0.0, 1.0], [1.0, 0.0]], atol=1e-15)
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0], expected[1, 1, 1] = -np.sin(X)
    np.testing.assert_allclose(h_sines, expected, atol=1e-15)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", TARGETS)
def test_helper_returning_a_tuple_in_every_mode(target):
    # f = x0 x1 * 2 (x0 + x1)
    grad = 2 * np.array([X[1] * (2 * X[0] + X[1]), X[0] * (X[0] + 2 * X[1])])
    hess = 2 * np.array([[2 * X[1], 2 * X[0] + 2 * X[1]], [2 * X[0] + 2 * X[1], 2 * X[0]]])
    np.testing.assert_allclose(adflow.grad(through_helper, target=target)(X), grad, rtol=1e-14)
    np.testing.assert_allclose(adflow.jvp(through_helper, (X,), (np.ones(2),), target=target)[1], grad.sum(), rtol=1e-14)
    np.testing.assert_allclose(adflow.jacobian(through_helper, mode="forward", target=target)(X), grad, rtol=1e-14)
    np.testing.assert_allclose(adflow.hessian(through_helper, target=target)(X), hess, rtol=1e-14)
    _, pullback = adflow.vjp(split, X, target=target)
    np.testing.assert_allclose(pullback((1.0, np.ones(2)))[0], [X[1] + 2.0, X[0] + 2.0], rtol=1e-14)


@pytest.mark.slow  # importing and compiling JAX: about 20 s; closed forms check the same tuples by default
def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def two_args_jax(x, y):
        return x * y[0], jnp.sum(x) * y

    def mixed_jax(x, y):
        return jnp.sum(x * x) * y[0] + x[0] * y[1] ** 3

    assert_tree_close(adflow.jacobian(two_args, wrt=(0, 1))(X, Y),
                      jax.tree_util.tree_map(np.asarray, jax.jacobian(two_args_jax, argnums=(0, 1))(X, Y)))
    assert_tree_close(adflow.hessian(mixed, wrt=(0, 1))(X, Y),
                      jax.tree_util.tree_map(np.asarray, jax.hessian(mixed_jax, argnums=(0, 1))(X, Y)))


def head_and_all(x):
    y = np.sin(x) * 2.0
    return y[0], y


@pytest.mark.parametrize("target", TARGETS)
def test_jvp_of_an_element_and_its_array(target):
    # issue 22: "jvp of a function returning (y[0], y)" failed on reshape (cpu) and a dual-to-float error (python)
    t = np.array([0.5, -1.0, 2.0])
    x = np.array([0.1, 0.2, 0.3])
    (y0, y), (t0, ty) = adflow.jvp(head_and_all, (x,), (t,), target=target)
    np.testing.assert_allclose(ty, 2 * np.cos(x) * t, rtol=1e-14)
    assert t0 == pytest.approx(2 * np.cos(x[0]) * t[0], rel=1e-14) and isinstance(t0, np.float64)


def picks_by_a_variable(x, i):
    t = (x[0] * 2.0, x[1] * 3.0)
    return t[i]


def test_a_tuple_indexed_by_a_variable_is_refused_at_its_line():
    with pytest.raises(adflow.NonDifferentiableError,
                       match=r"indexing a tuple of active values with anything but a constant integer") as info:
        adflow.grad(picks_by_a_variable, target="python")(X, 1)
    assert f"test_tuples.py:{picks_by_a_variable.__code__.co_firstlineno + 2}" in str(info.value)

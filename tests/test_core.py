"""The core reverse-mode API: classic backward(v) examples, helpers, custom rules, options, errors."""
import math

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad


# ---------------------------------------------------------------- the three classic backward(v) questions
def classic_a(a, b, c):
    return 3 * a + 2 * b * b + np.log(c)


def classic_b(x):
    return np.outer(x, x)


def classic_c(x):
    x1, x2, x3 = x[0], x[1], x[2]
    return np.array([x1 ** 3 + 2 * x2 ** 2 + 3 * x3,
                     3 * x1 + 2 * x2 ** 2 + x3 ** 3,
                     2 * x1 + x2 ** 3 + 3 * x3 ** 2])


def test_classic_a(target):
    a, b, c = np.array([1.0, 2, 3]), np.array([3.0, 4, 5]), np.array([6.0, 7, 8])
    y, pullback = adflow.vjp(classic_a, a, b, c, target=target)
    np.testing.assert_allclose(y, 3 * a + 2 * b * b + np.log(c))
    ga, gb, gc = pullback(np.array([0.1, 1.0, 0.0001]))
    np.testing.assert_allclose(ga, [0.3, 3, 3e-4], rtol=1e-12)
    np.testing.assert_allclose(gb, [1.2, 16, 2e-3], rtol=1e-12)
    np.testing.assert_allclose(gc, [1 / 60, 1 / 7, 1.25e-5], rtol=1e-12)


@pytest.mark.cpu_slow
def test_classic_b(target):
    x = np.array([1.0, 2, 3, 4])
    y, pullback = adflow.vjp(classic_b, x, target=target)
    (gx,) = pullback(np.ones((4, 4)))
    np.testing.assert_allclose(gx, [20, 20, 20, 20])


def test_classic_c(target):
    y, pullback = adflow.vjp(classic_c, np.array([1.0, 2.0, 3.0]), target=target)
    np.testing.assert_allclose(y, [1 + 8 + 9, 3 + 8 + 27, 2 + 8 + 27])
    (gx,) = pullback(np.array([3.0, 2.0, 1.0]))
    np.testing.assert_allclose(gx, [17, 52, 81])


def test_targets_agree(rng):
    x = rng.standard_normal(6)

    def f(x):
        return np.sum(np.tanh(x) * np.exp(-x * x)) + math.cos(x[2]) * x[3]
    g_py = adflow.grad(f, target="python")(x)
    g_cpu = adflow.grad(f, target="cpu")(x)
    np.testing.assert_allclose(g_py, g_cpu, rtol=1e-14)
    np.testing.assert_allclose(g_cpu, numerical_grad(f, (x,))[0], rtol=1e-7)


# ---------------------------------------------------------------- helpers and user rules
def squash(u, scale):
    return scale * np.tanh(u / scale)


def energy(x, s):
    return np.sum(squash(x, s) ** 2) + squash(x[0], s)


def test_helper_functions_are_transformed(target, rng):
    x = rng.standard_normal(5)
    got = adflow.grad(energy, wrt=(0, 1), target=target)(x, 1.7)
    expected = numerical_grad(energy, (x, 1.7))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-7)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-7)


@adflow.custom_vjp
def clipped_identity(x):
    return np.minimum(np.maximum(x, -1.0), 1.0)


# A straight-through rule: deliberately not the body's true derivative, so the test can tell which was used.
clipped_identity.defvjp(lambda g, ans, x: g * 1.0)


def uses_custom(x):
    return np.sum(clipped_identity(x) * np.array([1.0, 2.0, 3.0]))


def test_custom_vjp_rule_is_used(target):
    x = np.array([-3.0, 0.5, 4.0])
    g = adflow.grad(uses_custom, target=target)(x)
    np.testing.assert_allclose(g, [1.0, 2.0, 3.0])  # the true derivative would be [0, 2, 0]


@adflow.custom_jvp
def softsign(x):
    return x / (1.0 + np.abs(x))


softsign.defjvp(lambda x_dot, ans, x: 3.0 * x_dot)  # deliberately wrong: reverse mode must not use it


def uses_softsign(x):
    return np.sum(softsign(x) * np.array([1.0, 2.0, 3.0]))


def test_a_tangent_rule_alone_leaves_reverse_mode_to_the_body(target):
    # docs/custom-rules.md: a function with rules for one mode is differentiated through its body in the other
    x = np.array([-3.0, 0.5, 4.0])
    g = adflow.grad(uses_softsign, target=target)(x)
    np.testing.assert_allclose(g, np.array([1.0, 2.0, 3.0]) / (1.0 + np.abs(x)) ** 2, rtol=1e-14)
    np.testing.assert_allclose(g, numerical_grad(uses_softsign, (x,))[0], rtol=1e-7)


# ---------------------------------------------------------------- options
def quadratic(x, y):
    return np.sum(x * x * y) + y[0]


def test_wrt_tuple_and_value_and_grad(target):
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    gx, gy = adflow.grad(quadratic, wrt=(0, 1), target=target)(x, y)
    np.testing.assert_allclose(gx, 2 * x * y)
    np.testing.assert_allclose(gy, x * x + [1.0, 0.0])
    value, gy2 = adflow.value_and_grad(quadratic, wrt=1, target=target)(x, y)
    assert value == pytest.approx(quadratic(x, y))
    np.testing.assert_allclose(gy2, gy)


def with_aux(x):
    loss = np.sum(x ** 2)
    return loss, x.shape[0]


def test_has_aux(target):
    g, aux = adflow.grad(with_aux, has_aux=True, target=target)(np.array([1.0, -2.0]))
    np.testing.assert_allclose(g, [2.0, -4.0])
    assert aux == 2


def loss_and_scaled(x, w):
    return np.sum(w * x ** 3), x * 2.0


def test_value_and_grad_has_aux(target):
    # ((value, aux), gradient): aux comes back as computed, not differentiated
    x, w = np.array([1.0, -2.0, 0.5]), np.array([0.3, 1.5, -2.0])
    (value, aux), (gx, gw) = adflow.value_and_grad(loss_and_scaled, wrt=(0, 1), has_aux=True, target=target)(x, w)
    assert value == pytest.approx(np.sum(w * x ** 3), rel=1e-15)
    np.testing.assert_array_equal(aux, 2.0 * x)
    np.testing.assert_allclose(gx, 3.0 * w * x ** 2, rtol=1e-15)
    np.testing.assert_allclose(gw, x ** 3, rtol=1e-15)


def test_bare_decorator():
    @adflow.grad
    def f(x):
        return x * x * x
    assert f(2.0) == pytest.approx(12.0)


def test_float32_keeps_dtype(target):
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)

    def f(x):
        return np.sum(x * x)
    g = adflow.grad(f, target=target)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * x)


def test_numba_dispatcher_is_accepted():
    import numba

    @numba.njit
    def f(x):
        return np.sum(np.sin(x))
    x = np.array([0.1, 0.2])
    np.testing.assert_allclose(adflow.grad(f)(x), np.cos(x))


def writes_into_input(x):
    x[0] = x[0] * 2.0
    return np.sum(x * x)


def test_inputs_are_never_modified(target):
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    g = adflow.grad(writes_into_input, target=target)(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(g, [8.0, 4.0, 6.0])
    assert writes_into_input(x.copy()) == pytest.approx(4 + 4 + 9)  # the user's function still works


def test_source_is_readable():
    g = adflow.grad(quadratic)
    with pytest.raises(AttributeError, match="call the function once"):
        g.source
    g(np.array([1.0]), np.array([2.0]))
    text = g.source
    assert "def quadratic_vjp(x, y" in text and "x_bar" in text and "# reverse sweep" in text
    assert "line" in text  # comments name the user's lines


# ---------------------------------------------------------------- errors
def vector_out(x):
    return x * 2.0


def test_grad_of_vector_output_suggests_vjp():
    with pytest.raises(adflow.ShapeError, match="vjp"):
        adflow.grad(vector_out)(np.array([1.0, 2.0]))


def test_cotangent_shape_mismatch_names_both_shapes():
    _, pullback = adflow.vjp(vector_out, np.array([1.0, 2.0]))
    with pytest.raises(adflow.ShapeError, match=r"\(3,\).*\(2,\)"):
        pullback(np.ones(3))


def int_arg(x, n):
    return x * n


def test_integer_wrt_is_refused():
    with pytest.raises(adflow.NonDifferentiableError, match="'n'"):
        adflow.grad(int_arg, wrt=1)(2.0, 3)


def uses_with(x):
    with open("f") as fh:  # noqa: F841
        pass
    return x


def test_unsupported_syntax_names_file_and_line():
    with pytest.raises(adflow.UnsupportedSyntaxError) as info:
        adflow.grad(uses_with)(1.0)
    assert "test_core.py:" in str(info.value) and "with open" in str(info.value)

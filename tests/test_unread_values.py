"""Forward Jacobians skip values nothing reads (adflow.forward.unread_values, tangents_only)."""
import numba
import numpy as np
import pytest

import adflow
from adflow.backends.drivers import forward_jacobian
from adflow.duals import make_dual, tangents_of, tangents_only, value_of
from adflow.pipeline import build_forward
from adflow.testing import numerical_jacobian


def narrow_to_wide(x, B):
    return B @ np.tanh(x) + np.sin(B @ x)


def chain(x, B):
    u = B @ x
    return np.exp(u) * 2.0 + np.sin(u) - u / 3.0


def value_in_a_condition(x, B):
    s = np.sin(B @ x)
    if s[0] > 0.0:
        return s + x[0]
    return s - x[0]


def value_squared(x, B):
    s = np.sin(B @ x)
    return s * s


def rebound_in_a_loop(x, B):
    u = B @ x
    y = np.cos(u)
    for _ in range(3):
        y = y + np.sin(u)
    return y


def _source(f, x, B, driver):
    argtypes = (numba.typeof(x), numba.typeof(B))
    return build_forward(f, argtypes, (0,), x.size, "python", driver=driver)[1]


@pytest.fixture
def data(rng):
    return rng.standard_normal(4), rng.standard_normal((6, 4))


def test_a_jacobian_skips_the_values_only_the_result_needs(data):
    source = _source(narrow_to_wide, *data, forward_jacobian)
    assert "tangents_only.sin(" in source and "tangents_only.add(" in source
    assert "np.tanh(x)" in source  # tanh's tangent reads its own value
    # jvp returns the value: nothing is skipped.
    assert "tangents_only." not in _source(narrow_to_wide, *data, None)


@pytest.mark.parametrize("f, skipped, kept", [
    (value_in_a_condition, ["add(", "sub("], ["np.sin("]),   # s is read by the test s[0] > 0
    (value_squared, ["mul("], ["np.sin("]),                  # s * s reads s
    (rebound_in_a_loop, ["add(", "sin(", "cos("], []),       # y feeds nothing but y's tangents
    (chain, ["sin(", "add(", "sub(", "truediv("], ["np.exp("]),
])
def test_only_values_nothing_reads_are_skipped(f, skipped, kept, data):
    body = _source(f, *data, forward_jacobian).split("def ")[1]
    for call in skipped:
        assert f"tangents_only.{call}" in body, (call, body)
    for call in kept:
        assert call in body and f"tangents_only.{call[3:]}" not in body, (call, body)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [narrow_to_wide, chain, value_in_a_condition, value_squared, rebound_in_a_loop])
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_jacobians_with_skipped_values_match_finite_differences(f, target, data):
    x, B = data
    J = adflow.jacobian(f, mode="forward", target=target)(x, B)
    np.testing.assert_allclose(J, numerical_jacobian(lambda xx: f(xx, B), x), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(J, adflow.jacobian(f, mode="reverse", target=target)(x, B), rtol=1e-12, atol=1e-13)


@pytest.mark.slow  # a batched forward Jacobian on cpu: 16 s
def test_row_wise_jacobians_skip_them_too(rng):
    B = rng.standard_normal((6, 4))
    X = rng.standard_normal((5, 4))
    Z = adflow.jacobian(narrow_to_wide, batch=True, mode="forward")(X, B)
    for i in range(X.shape[0]):
        np.testing.assert_allclose(Z[i], numerical_jacobian(lambda xx: narrow_to_wide(xx, B), X[i]),
                                   rtol=1e-7, atol=1e-8)


@numba.njit
def _sin_both_ways(value, tangents):
    d = make_dual(value, tangents, 3)
    return value_of(tangents_only.sin(d)), tangents_of(np.sin(d), 3), tangents_of(tangents_only.sin(d), 3)


def test_a_skipped_value_is_nan_never_a_plausible_number(rng):
    value, tangents = rng.standard_normal(5), rng.standard_normal((5, 3))
    skipped, full, only = _sin_both_ways(value, tangents)
    assert np.isnan(skipped).all()
    np.testing.assert_array_equal(only, full)
    np.testing.assert_allclose(only, np.cos(value)[:, None] * tangents, rtol=1e-15)


@numba.njit
def _strided_and_scalar(value, tangents):
    d = make_dual(value, tangents, 3)
    strided = tangents_only.mul(d[::2], d[::2])     # not contiguous: the ordinary overload
    scalar = tangents_only.sin(d[1])                # a scalar dual: the ordinary overload
    return value_of(strided), tangents_of(strided, 3), value_of(scalar), tangents_of(scalar, 3)


def test_other_operands_take_the_ordinary_overload(rng):
    value, tangents = rng.standard_normal(6), rng.standard_normal((6, 3))
    v, t, sv, st = _strided_and_scalar(value, tangents)
    np.testing.assert_allclose(v, value[::2] ** 2, rtol=1e-15)
    np.testing.assert_allclose(t, 2 * value[::2, None] * tangents[::2], rtol=1e-15)
    assert sv == pytest.approx(np.sin(value[1]), rel=1e-15)
    np.testing.assert_allclose(st, np.cos(value[1]) * tangents[1], rtol=1e-15)

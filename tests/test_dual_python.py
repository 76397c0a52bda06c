"""Plain-Python dual numbers (adflow.duals.dual) against central finite differences."""
import doctest

import numpy as np
import pytest

import adflow.forward as fwd
from adflow.errors import NonDifferentiableError, ShapeError
from adflow.forward import (
    Dual,
    DualArray,
    dual_empty,
    dual_empty_like,
    dual_zeros,
    dual_zeros_like,
    make_dual,
    seed,
    tangents_of,
    value_of,
)
from adflow.duals import dual as dual_module
from adflow.duals import formulas, helpers, sample_points
from adflow.rules.partials import elementwise_partials

H = 1e-6


def central_difference(f, args, i, h=H):
    """d f / d args[i] by central differences (args are floats)."""
    plus, minus = list(args), list(args)
    plus[i] += h
    minus[i] -= h
    return (f(*plus) - f(*minus)) / (2 * h)


def directional_difference(f, x, v, h=H):
    """(f(x + h v) - f(x - h v)) / 2h for array x."""
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)


ELEMENTWISE = sorted(elementwise_partials)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_partials_match_central_differences(name):
    args = sample_points.sample_point(name)
    primal = formulas.primal_function(name)
    for param in sample_points.differentiable_params(name):
        i = formulas.signature(name).params.index(param)
        dual_args = list(args)
        dual_args[i] = Dual(args[i], [1.0])
        result = fwd.apply_primitive(name, *dual_args)
        expected = central_difference(lambda *a: float(primal(*a)), args, i)
        assert result.value == pytest.approx(float(primal(*args)), rel=1e-12)
        assert result.tangents[0] == pytest.approx(expected, rel=1e-6, abs=1e-8), (name, param)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_chunk_of_three_equals_three_single_directions(name):
    args = sample_points.sample_point(name)
    params = sample_points.differentiable_params(name)
    sig_params = formulas.signature(name).params
    rng = np.random.default_rng(len(name))
    directions = {p: rng.normal(size=3) for p in params}
    chunk_args = list(args)
    for p in params:
        chunk_args[sig_params.index(p)] = Dual(args[sig_params.index(p)], directions[p])
    chunk = fwd.apply_primitive(name, *chunk_args)
    for j in range(3):
        single_args = list(args)
        for p in params:
            single_args[sig_params.index(p)] = Dual(args[sig_params.index(p)], directions[p][j])
        single = fwd.apply_primitive(name, *single_args)
        assert chunk.tangents[j] == pytest.approx(single.tangents[0], rel=1e-14, abs=1e-15)


def test_operators_and_numpy_functions_dispatch():
    x = Dual(0.7, [1.0])
    checks = [
        (lambda v: v * v + 3.0 * v - 1.0 / v, 0.7),
        (lambda v: 2.0 ** v - v ** 3 + (-v) + (+v), 0.7),
        (lambda v: np.exp(np.sin(v)) * np.log(v) + abs(v - 1.0), 0.7),
        (lambda v: np.maximum(v, 0.5) + np.minimum(v, 0.5) + np.hypot(v, 2.0), 0.7),
        (lambda v: np.arctan2(v, 0.3) + np.mod(v, 0.5) + v % 0.4, 0.7),
    ]
    for f, x0 in checks:
        result = f(x)
        assert result.tangents[0] == pytest.approx(central_difference(f, [x0], 0), rel=1e-6)


def test_comparisons_and_zero_derivative_operations_use_the_value():
    x, y = Dual(0.7, [1.0]), Dual(0.2, [5.0])
    assert (x > y) is True or (x > y) == True  # noqa: E712 (numpy bool is fine)
    assert not (x < 0.5)
    assert x == 0.7 and x != y
    assert np.floor(x) == 0.0 and np.sign(-x) == -1.0 and x // 0.3 == 2.0
    assert int(Dual(2.9, [1.0])) == 2
    a = DualArray(np.array([0.1, 0.9]), np.ones((2, 1)))
    np.testing.assert_array_equal(a > 0.5, [False, True])


def test_maximum_splits_the_derivative_on_ties():
    x = Dual(1.0, [1.0, 0.0])
    y = Dual(1.0, [0.0, 1.0])
    np.testing.assert_allclose(np.maximum(x, y).tangents, [0.5, 0.5])
    np.testing.assert_allclose(np.maximum(x, x).tangents, [1.0, 0.0])


def test_broadcasting_between_dual_arrays_floats_and_scalar_duals():
    rng = np.random.default_rng(1)
    xv = rng.uniform(0.5, 1.5, size=(3, 4))
    v = rng.normal(size=(3, 4))
    x = DualArray(xv, v[..., None])
    row = rng.normal(size=4)
    s = Dual(0.3, [2.0])

    def f(x, s):
        return np.sin(x) * row + x / s + s ** 2 - np.sqrt(x) * np.ones((2, 1, 1))

    result = f(x, s)
    assert isinstance(result, DualArray) and result.shape == (2, 3, 4)
    expected = directional_difference(lambda z: f(z, 0.3), xv, v)
    expected += 2.0 * directional_difference(lambda t: f(xv, t), 0.3, 1.0)
    np.testing.assert_allclose(result.tangents[..., 0], expected, rtol=1e-6, atol=1e-8)


ARRAY_CASES = {
    "sum": lambda a: np.sum(a),
    "sum_axis0": lambda a: np.sum(a, axis=0),
    "method_sum_axis1": lambda a: a.sum(axis=1),
    "mean": lambda a: np.mean(a, axis=1),
    "prod": lambda a: np.prod(a, axis=0),
    "max": lambda a: np.max(a),
    "max_axis": lambda a: a.max(axis=0),
    "min_axis": lambda a: np.min(a, axis=1),
    "dot": lambda a: np.dot(a, np.arange(1.0, 4.0)),
    "matmul_left": lambda a: np.arange(6.0).reshape(2, 3) @ a,
    "matmul_self": lambda a: a @ a,
    "method_dot": lambda a: a.dot(a.T),
    "outer": lambda a: np.outer(a[0], a[:, 1]),
    "transpose": lambda a: a.T * np.arange(3.0),
    "reshape": lambda a: a.reshape(9)[::2],
    "ravel": lambda a: np.ravel(a),
    "trace": lambda a: np.trace(a),
    "inv": lambda a: np.linalg.inv(a),
    "solve": lambda a: np.linalg.solve(a, np.array([1.0, -2.0, 0.5])),
    "solve_both": lambda a: np.linalg.solve(a, a[:, 0] * 2.0),
    "det": lambda a: np.linalg.det(a),
    "norm": lambda a: np.linalg.norm(a) * np.linalg.norm(a[0]),
    "where": lambda a: np.where(value_of(a) > 1.0, a * a, -a),
    "clip": lambda a: np.clip(a, 0.8, 1.6),
    "maximum": lambda a: np.maximum(a, 1.1),
    "cumsum": lambda a: np.cumsum(a),
    "roll": lambda a: np.roll(a, 4) * np.roll(a[1], -1),
    "index": lambda a: a[1, 2] * a[0] + a[..., 1],
    "at_least": lambda a: np.atleast_3d(a) * np.atleast_1d(a[0, 1])[0] + np.atleast_2d(a[1]) + np.atleast_1d(a),
    "append": lambda a: np.append(a, a[0, 1] * 2.0) * np.append(np.zeros(0), a[1]).sum(),
}


@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_array_primitives_match_directional_differences(case):
    f = ARRAY_CASES[case]
    rng = np.random.default_rng(7)
    xv = np.eye(3) * 2.0 + rng.uniform(0.1, 0.9, size=(3, 3))
    directions = rng.normal(size=(3, 3, 2))
    result = f(DualArray(xv, directions))
    np.testing.assert_allclose(value_of(result), f(xv), rtol=1e-12)
    for j in range(2):
        expected = directional_difference(f, xv, directions[..., j])
        np.testing.assert_allclose(tangents_of(result)[..., j], expected, rtol=1e-5, atol=1e-7)


def test_indexing_gives_duals_and_views():
    a = DualArray(np.arange(6.0).reshape(2, 3), np.arange(18.0).reshape(2, 3, 3))
    assert isinstance(a[1, 2], Dual) and a[1, 2].value == 5.0
    np.testing.assert_array_equal(a[1, 2].tangents, [15.0, 16.0, 17.0])
    assert isinstance(a[0], DualArray) and a[0].shape == (3,)
    np.testing.assert_array_equal(a[:, 1].tangents, a.tangents[:, 1])
    np.testing.assert_array_equal(a[..., 0].tangents, a.tangents[:, 0])
    np.testing.assert_array_equal(a[a.value > 3].value, [4.0, 5.0])
    a[0, :2] = 10.0
    assert a[0, 0].value == 10.0 and not a.tangents[0, :2].any()
    a[1] = Dual(-1.0, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a.tangents[1], [[1.0, 2.0, 3.0]] * 3)
    a[:, 2] = DualArray(np.array([7.0, 8.0]), np.ones((2, 3)))
    assert a.value[1, 2] == 8.0 and a.tangents[1, 2].tolist() == [1.0, 1.0, 1.0]
    view = a[0]
    view[1] = Dual(3.0, [9.0, 9.0, 9.0])  # writes through the view
    assert a.value[0, 1] == 3.0 and a.tangents[0, 1, 0] == 9.0
    assert a.shape == (2, 3) and a.T.shape == (3, 2) and a.size == 6 and a.ndim == 2 and len(a) == 2
    assert [d.value for d in a[1]] == [-1.0, -1.0, 8.0]


def test_in_place_arithmetic_updates_views():
    a = DualArray(np.ones(4), np.zeros((4, 1)))
    alias = a
    a += Dual(2.0, [1.0])
    a *= 2.0
    assert alias is a
    np.testing.assert_array_equal(a.value, 6.0)
    np.testing.assert_array_equal(a.tangents, 2.0)


def test_allocations_like_a_dual_are_duals():
    a = DualArray(np.ones((2, 2)), np.zeros((2, 2, 3)))
    z = np.zeros_like(a)
    assert isinstance(z, DualArray) and z.k == 3 and z.shape == (2, 2)
    assert np.shape(a) == (2, 2) and np.ndim(a) == 2 and np.size(a) == 4


def test_helpers_seed_make_value_tangents():
    d = seed(1.5, 1.0)
    assert isinstance(d, Dual) and d.k == 1 and value_of(d) == 1.5 and isinstance(value_of(d), float)
    x = np.array([1.0, 2.0])
    directions = np.eye(2)
    a = seed(x, directions)
    assert isinstance(a, DualArray) and a.k == 2
    x[0] = 99.0
    directions[0, 0] = 99.0
    assert a.value[0] == 1.0 and a.tangents[0, 0] == 1.0  # seed copies
    m = make_dual(np.ones(3), np.zeros((3, 2)))
    assert isinstance(m, DualArray) and m.k == 2
    assert make_dual(2.0, (1.0, 0.0, 0.0)).k == 3
    assert tangents_of(d).shape == (1,) and tangents_of(a).shape == (2, 2)
    assert tangents_of(np.ones(3), k=4).shape == (3, 4) and not tangents_of(2.0, k=2).any()
    assert value_of(3.0) == 3.0
    with pytest.raises(ShapeError):
        seed(x, np.ones((3, 2)))
    with pytest.raises(ShapeError):
        seed(1.0, [1.0, 2.0], k=3)
    with pytest.raises(TypeError):
        tangents_of(np.ones(3))


def test_allocation_helpers():
    z = dual_zeros((2, 3), 4)
    assert isinstance(z, DualArray) and z.tangents.shape == (2, 3, 4) and not z.value.any()
    assert dual_zeros(5, 1).shape == (5,)
    assert dual_empty(3, 2).tangents.shape == (3, 2) and not dual_empty(3, 2).tangents.any()
    like = dual_zeros_like(np.ones((2, 2)), k=3)
    assert like.k == 3 and like.shape == (2, 2)
    assert dual_zeros_like(seed(np.ones(2), np.ones((2, 5)))).k == 5
    assert dual_empty_like(np.ones(3), 2).tangents.shape == (3, 2)
    assert isinstance(dual_zeros_like(Dual(1.0, [1.0, 2.0])), Dual)
    with pytest.raises(TypeError):
        dual_zeros_like(np.ones(3))


def test_errors_are_explicit():
    x = Dual(0.5, [1.0])
    with pytest.raises(TypeError, match="drop its tangents"):
        float(x)
    out = np.zeros(3)
    with pytest.raises(TypeError, match="drop its tangents"):
        out[0] = x  # storing a dual into a float array would lose the derivative
    with pytest.raises(NonDifferentiableError):
        np.clip(0.5, x, 1.0)  # clip has no partial for its bounds
    with pytest.raises(ShapeError):
        Dual(1.0, [1.0]) + Dual(1.0, [1.0, 2.0])
    with pytest.raises(NonDifferentiableError):
        np.add.reduce(DualArray(np.ones(2), np.ones((2, 1))))


@pytest.mark.parametrize("module", [fwd, dual_module, helpers, sample_points])
def test_docstring_examples_run(module):
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0

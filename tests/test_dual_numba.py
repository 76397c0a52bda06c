"""Dual numbers inside numba-jitted code, against central differences and the Python duals.

Compilation dominates this file's run time, so compiled functions are shared between tests:
functions written here use ``cache=True``; the elementwise sweep (generated from the rules table)
is compiled once per session in a module-scoped fixture.
"""
import math

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

import adflow.duals as fwd
from adflow.duals import (
    Dual,
    DualArray,
    dual_empty,
    dual_zeros,
    dual_zeros_like,
    formulas,
    make_dual,
    sample_points,
    seed,
    tangents_of,
    value_of,
)

H = 1e-6


def directional_difference(f, x, v, h=H):
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)


# ------------------------------------------------------------- every elementwise primitive


def _sweep_cases():
    """(primitive, function object, active parameters) covering every elementwise primitive.

    Each primitive runs through its NumPy function, its operator and its builtin (``*``, ``abs``,
    ``max``: they keep their own Python semantics for the value), with all differentiable
    parameters active; the first of them also with one active parameter at a time (dual op float,
    float op dual).  ``math.*`` functions share the NumPy code path (see ``mixed`` below for a few).
    """
    cases = []
    for name in formulas.all_primitive_names():
        if not formulas.is_elementwise(name):
            continue
        active = tuple(sample_points.differentiable_params(name))
        functions = [f for f in formulas.functions_of(name) if f not in vars(math).values()]
        for n, function in enumerate(functions):
            cases.append((name, function, active))
            if n == 0 and len(active) > 1:
                cases.extend((name, function, (p,)) for p in active)
    return cases


SWEEP = _sweep_cases()


def _build_sweep():
    """One jitted function calling every case: ``run(duals, values) -> tuple of results``."""
    namespace, calls = {}, []
    for i, (name, function, active) in enumerate(SWEEP):
        namespace[f"f{i}"] = function
        args = []
        for j, param in enumerate(formulas.signature(name).params):
            if param in active:
                args.append(f"duals[{2 * i + active.index(param)}]")
            elif param == "c":
                args.append(f"values[{i}, {j}] > 0.5")  # where's condition stays a bool
            else:
                args.append(f"values[{i}, {j}]")
        calls.append(f"f{i}({', '.join(args)})")
    exec("def run(duals, values):\n    return (" + ", ".join(calls) + ",)\n", namespace)
    return njit(namespace["run"])


@pytest.fixture(scope="module")
def sweep():
    """The sweep evaluated with k=3 random directions per active argument."""
    rng = np.random.default_rng(3)
    values = np.zeros((len(SWEEP), 3))
    for i, (name, _, _) in enumerate(SWEEP):
        point = sample_points.sample_point(name)
        values[i, : len(point)] = point
    directions = rng.normal(size=(2 * len(SWEEP), 3))
    duals = []
    for i, (name, _, active) in enumerate(SWEEP):
        params = formulas.signature(name).params
        for slot in range(2):
            value = values[i, params.index(active[slot])] if slot < len(active) else 0.0
            duals.append(seed(value, directions[2 * i + slot]))
    results = _build_sweep()(tuple(duals), values)
    return values, directions, results


def _case_id(case):
    name, function, active = case
    module = getattr(function, "__module__", None) or "builtins"
    return f"{name}-{module.strip('_')}.{function.__name__}-{''.join(active)}"


@pytest.mark.parametrize("index", range(len(SWEEP)), ids=[_case_id(c) for c in SWEEP])
def test_elementwise_partials_match_central_differences(sweep, index):
    values, directions, results = sweep
    name, function, active = SWEEP[index]
    params = formulas.signature(name).params
    point = [bool(v > 0.5) if p == "c" else float(v) for p, v in zip(params, values[index])]

    def f(*args):
        return float(function(*args))

    result = results[index]
    assert isinstance(result, Dual) and result.k == 3
    assert result.value == pytest.approx(f(*point), rel=1e-12)
    for j in range(3):
        plus, minus = list(point), list(point)
        for slot, param in enumerate(active):
            step = H * directions[2 * index + slot, j]
            plus[params.index(param)] += step
            minus[params.index(param)] -= step
        expected = (f(*plus) - f(*minus)) / (2 * H)
        assert result.tangents[j] == pytest.approx(expected, rel=1e-5, abs=1e-7)


# ------------------------------------------------------- chunks, promotion, user float code


@njit(cache=True)
def mixed(x, y):
    a = x * y + 2.0 / x - y ** 3 + 1.5 ** x + abs(x - y)
    b = math.exp(-x * x) * np.hypot(x, y) + max(x, y) - min(x, 0.1) + np.arctan2(y, x)
    return a * b, math.sqrt(a * a + 1.0) % 0.7


@pytest.mark.parametrize("output", [0, 1])
def test_chunk_of_three_equals_three_single_directions(output):
    rng = np.random.default_rng(5)
    dx, dy = rng.normal(size=3), rng.normal(size=3)
    chunk = mixed(seed(0.6, dx), seed(1.1, dy))[output]
    for j in range(3):
        single = mixed(seed(0.6, dx[j]), seed(1.1, dy[j]))[output]
        assert single.k == 1
        assert chunk.tangents[j] == pytest.approx(single.tangents[0], rel=1e-14, abs=1e-15)
        expected = (mixed(0.6 + H * dx[j], 1.1 + H * dy[j])[output]
                    - mixed(0.6 - H * dx[j], 1.1 - H * dy[j])[output]) / (2 * H)
        assert single.tangents[0] == pytest.approx(expected, rel=1e-6)


@njit(cache=True)
def promoted_loop(x, steps):
    s = 0.0  # a float, then a dual: numba unifies the two into a dual
    for _ in range(steps):
        s = s * x + math.sin(x * s + 1.0)
    return s


@njit(cache=True)
def promoted_branches(x, flag):
    total = 0  # an int promoted too
    if flag:
        return 1.0  # a float on one path, a dual on the other: the result is a dual
    for i in range(3):
        total += x * i
    return total


def test_float_variable_promotes_to_dual():
    result = promoted_loop(seed(0.3, 1.0), 50)
    assert isinstance(result, Dual)
    expected = (promoted_loop(0.3 + H, 50) - promoted_loop(0.3 - H, 50)) / (2 * H)
    assert result.tangents[0] == pytest.approx(expected, rel=1e-6)
    assert result.value == promoted_loop(0.3, 50)
    out = promoted_branches(seed(2.0, (1.0, 0.0)), False)
    assert out.value == 6.0 and out.tangents.tolist() == [3.0, 0.0]
    const = promoted_branches(seed(2.0, (1.0, 0.0)), True)
    assert const.value == 1.0 and const.tangents.tolist() == [0.0, 0.0]


@njit(cache=True)
def lorenz(x, y, z, sigma, rho, beta):
    return sigma * (y - x), x * (rho - z) - y, x * y - beta * z


@njit(cache=True)
def rk4_step(x, y, z, dt):
    """A user's float RK4 step, unchanged."""
    sigma, rho, beta = 10.0, 28.0, 8.0 / 3.0
    k1x, k1y, k1z = lorenz(x, y, z, sigma, rho, beta)
    k2x, k2y, k2z = lorenz(x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, z + 0.5 * dt * k1z, sigma, rho, beta)
    k3x, k3y, k3z = lorenz(x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, z + 0.5 * dt * k2z, sigma, rho, beta)
    k4x, k4y, k4z = lorenz(x + dt * k3x, y + dt * k3y, z + dt * k3z, sigma, rho, beta)
    return (
        x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
        y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y),
        z + dt / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z),
    )


@njit(cache=True)
def lorenz_trajectory(x, y, z, dt, steps):
    for _ in range(steps):
        x, y, z = rk4_step(x, y, z, dt)
    return x, y, z


def test_lorenz_rk4_user_function_jacobian():
    state = np.array([1.0, 1.5, 20.0])
    eye = np.eye(3)
    duals = [seed(state[i], eye[i]) for i in range(3)]  # k=3: the full Jacobian in one pass
    out = lorenz_trajectory(*duals, 0.01, 20)
    assert all(isinstance(d, Dual) for d in out)
    jacobian = np.array([d.tangents for d in out])
    f = lambda s: np.array(lorenz_trajectory(s[0], s[1], s[2], 0.01, 20))  # noqa: E731
    for j in range(3):
        np.testing.assert_allclose(jacobian[:, j], directional_difference(f, state, eye[j]), rtol=1e-5)
    np.testing.assert_array_equal([d.value for d in out], f(state))


# ----------------------------------------------------------------------------- dual arrays


@njit(cache=True)
def stencil(u):
    out = dual_zeros_like(u)
    n = len(u)
    for i in range(1, n - 1):
        out[i] = u[i - 1] - 2.0 * u[i] + u[i + 1] * u[i]
    out[0] = 0.0  # a float into a dual element: zero tangent
    out[n - 1] = u[n - 1]
    return out


def test_stencil_indexing_in_a_loop():
    u0 = np.linspace(0.1, 1.0, 6) ** 2
    result = stencil(seed(u0, np.eye(6)))  # k = n: the full Jacobian
    assert isinstance(result, DualArray) and result.k == 6

    def reference(u):
        out = np.zeros_like(u)
        out[1:-1] = u[:-2] - 2.0 * u[1:-1] + u[2:] * u[1:-1]
        out[-1] = u[-1]
        return out

    np.testing.assert_allclose(result.value, reference(u0))
    for j in range(6):
        np.testing.assert_allclose(
            result.tangents[:, j], directional_difference(reference, u0, np.eye(6)[j]), atol=1e-8
        )


@njit(cache=True)
def slicing(a, d, m):
    first = a[0]  # a row: a dual array view
    element = a[1, 2]  # a scalar dual
    column = a[:, 1]
    b = dual_zeros((3, 4), 2)
    b[0] = first  # dual array into a row
    b[1, :] = d  # scalar dual broadcast into a row
    b[2] = m[0]  # float array into a row
    b[2, 3] = element
    return first, element, column, b, a[1:, ::2], len(a), a.shape, a.size, a.ndim, a.k


def test_getitem_and_setitem_with_slices():
    rng = np.random.default_rng(2)
    a = DualArray(rng.normal(size=(3, 4)), rng.normal(size=(3, 4, 2)))
    d = Dual(5.0, [1.0, -1.0])
    m = rng.normal(size=(2, 4))
    first, element, column, b, strided, n, shape, size, ndim, k = slicing(a, d, m)
    assert (n, shape, size, ndim, k) == (3, (3, 4), 12, 2, 2)
    for got, want in [(first, a[0]), (element, a[1, 2]), (column, a[:, 1]), (strided, a[1:, ::2])]:
        assert type(got) is type(want)
        np.testing.assert_array_equal(value_of(got), value_of(want))
        np.testing.assert_array_equal(tangents_of(got), tangents_of(want))
    expected = fwd.dual_zeros((3, 4), 2)
    expected[0] = a[0]
    expected[1, :] = d
    expected[2] = m[0]
    expected[2, 3] = a[1, 2]
    np.testing.assert_array_equal(b.value, expected.value)
    np.testing.assert_array_equal(b.tangents, expected.tangents)


@njit(cache=True)
def array_ops(a, b, m, s):
    return (
        np.sin(a) * m + a / b,  # dual array with dual array and float array (broadcast 2-D by 1-D)
        s * m + np.exp(s),  # scalar dual with a float array
        a ** 2 - np.maximum(a, 0.2) + np.where(m > 0.0, a, b),
        -a + abs(b) * 3.0,
    )


def test_elementwise_on_dual_arrays_matches_python():
    rng = np.random.default_rng(4)
    a = DualArray(rng.uniform(0.1, 1.0, (2, 3)), rng.normal(size=(2, 3, 2)))
    b = DualArray(rng.uniform(0.5, 2.0, 3), rng.normal(size=(3, 2)))
    m = rng.normal(size=3)
    s = Dual(0.4, [1.0, 2.0])
    got = array_ops(a, b, m, s)
    want = array_ops.py_func(a, b, m, s)
    for g, w in zip(got, want):
        assert isinstance(g, DualArray) and g.shape == w.shape
        np.testing.assert_allclose(g.value, w.value, rtol=1e-14)
        np.testing.assert_allclose(g.tangents, w.tangents, rtol=1e-13, atol=1e-14)


@njit(cache=True)
def one_shape_and_broadcast_ops(a, c, f):
    # Operands of one contiguous shape take one flat loop; the rest take the broadcasting loops.
    return (
        a + a * 2.0,                     # flat, two dual arrays and a number
        np.tanh(a) * c,                  # same ndim, shapes (2, 3) and (2, 1): falls back to broadcasting
        np.sin(f),                       # Fortran order: broadcasting loops
        a - f,                           # C meets F
        np.where(a.value > 0.5, a, -a),  # three operands: a boolean array and two dual arrays
    )


def test_flat_and_broadcasting_elementwise_agree_with_python():
    rng = np.random.default_rng(5)
    a = DualArray(rng.uniform(0.1, 1.0, (2, 3)), rng.normal(size=(2, 3, 2)))
    c = DualArray(rng.uniform(0.5, 2.0, (2, 1)), rng.normal(size=(2, 1, 2)))
    f = DualArray(np.asfortranarray(rng.normal(size=(2, 3))), np.asfortranarray(rng.normal(size=(2, 3, 2))))
    got = one_shape_and_broadcast_ops(a, c, f)
    want = one_shape_and_broadcast_ops.py_func(a, c, f)
    for g, w in zip(got, want):
        assert isinstance(g, DualArray) and g.shape == w.shape
        np.testing.assert_allclose(g.value, w.value, rtol=1e-14)
        np.testing.assert_allclose(g.tangents, w.tangents, rtol=1e-13, atol=1e-14)


@njit(cache=True)
def reductions(a, v):
    return np.sum(a), np.mean(a), np.max(a), a.min(), np.prod(v), a.sum(axis=1)


@njit(cache=True)
def products(a, v, w, m, n):
    # 1-D . 1-D, 2-D . 1-D, 2-D @ 2-D; dual with dual and dual with float on either side.
    return np.dot(v, w), np.dot(a, w), np.dot(m, v), a @ m, n @ a, np.outer(v, w)


@njit(cache=True)
def linear_algebra(a, r):
    # solve with a matrix right-hand side: the same numba specialisation as det's tangent rule.
    return np.linalg.inv(a), np.linalg.solve(a, r), np.linalg.det(a), a.T, a.reshape((9,))


def _assert_same(got, want):
    for g, w in zip(got, want):
        assert type(g) is type(w)
        np.testing.assert_allclose(value_of(g), value_of(w), rtol=1e-12)
        np.testing.assert_allclose(tangents_of(g), tangents_of(w), rtol=1e-10, atol=1e-12)


def test_reductions_match_python():
    rng = np.random.default_rng(6)
    a = DualArray(rng.normal(size=(3, 4)), rng.normal(size=(3, 4, 2)))
    v = DualArray(rng.uniform(0.5, 1.5, 4), rng.normal(size=(4, 2)))
    _assert_same(reductions(a, v), reductions.py_func(a, v))


@njit(cache=True)
def along_axes_at_least_append(a):
    return (np.max(a, axis=0), np.min(a, axis=-1), np.mean(a, axis=1), np.prod(a, axis=0),
            np.atleast_1d(a[0, 1]), np.atleast_2d(a[1]), np.atleast_3d(a), np.append(a[0], a[1, 2]),
            np.append(np.zeros(2), a[1, 2]), np.append(a[1], 3.0))


@pytest.mark.slow  # compiles a dozen reductions on dual arrays: 16 s
def test_reductions_along_an_axis_at_least_and_append_match_python():
    rng = np.random.default_rng(6)
    a = DualArray(rng.normal(size=(3, 4)), rng.normal(size=(3, 4, 2)))
    _assert_same(along_axes_at_least_append(a), along_axes_at_least_append.py_func(a))


@pytest.mark.slow  # compiles every dual matrix product form: 22 s
def test_dot_and_matmul_match_python():
    rng = np.random.default_rng(8)
    a = DualArray(rng.normal(size=(3, 4)), rng.normal(size=(3, 4, 2)))
    v = DualArray(rng.normal(size=4), rng.normal(size=(4, 2)))
    w = DualArray(rng.normal(size=4), rng.normal(size=(4, 2)))
    m, n = rng.normal(size=(4, 4)), rng.normal(size=(3, 3))
    _assert_same(products(a, v, w, m, n), products.py_func(a, v, w, m, n))


@pytest.mark.slow  # compiles solve/inv/det on duals: 16 s
def test_linear_algebra_matches_python():
    rng = np.random.default_rng(9)
    a = DualArray(np.eye(3) * 3.0 + rng.normal(size=(3, 3)), rng.normal(size=(3, 3, 2)))
    r = rng.normal(size=(3, 3))
    _assert_same(linear_algebra(a, r), linear_algebra.py_func(a, r))


@njit(cache=True)
def halve_until_short(u):
    while len(u) > 2:
        u = u[::2]  # C-contiguous array, then a strided view: the variable unifies to layout A
    return u


@njit(cache=True)
def in_place(u, d):
    u += d
    u *= 2.0
    return u


def test_dual_array_layouts_unify_and_in_place_ops_write_through():
    u = seed(np.arange(8.0), np.ones((8, 1)))
    short = halve_until_short(u)
    np.testing.assert_array_equal(short.value, [0.0, 4.0])
    target = seed(np.ones(3), np.zeros((3, 1)))
    in_place(target, Dual(1.0, [1.0]))
    np.testing.assert_array_equal(target.value, 4.0)
    np.testing.assert_array_equal(target.tangents, 2.0)


# ------------------------------------------------------------------------ helpers in numba


@njit(cache=True)
def helpers_in_jit(x, v, k):
    d = seed(x, (1.0, 0.0))
    a = seed(v, np.ones((v.shape[0], 2)), 2)
    b = make_dual(v, np.zeros((v.shape[0], 3)), 3)
    c = dual_zeros(4, k)  # k from an argument: numba.literally specialises on it
    e = dual_empty((2, 2), 2)
    z = dual_zeros_like(v, 3)
    return (value_of(d), tangents_of(d), value_of(a), tangents_of(a), b.k, c.k, c.shape, e.shape,
            z.k, tangents_of(v, 2), make_dual(1.0, 2.0), seed(x, np.ones(2), 2))


def test_helpers_work_in_numba():
    (dv, dt, av, at, bk, ck, cshape, eshape, zk, passive, scalar, seeded) = helpers_in_jit(
        1.5, np.arange(3.0), 5
    )
    assert dv == 1.5 and isinstance(dv, float) and dt.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(av, np.arange(3.0))
    assert at.shape == (3, 2) and (bk, ck, zk) == (3, 5, 3)
    assert cshape == (4,) and eshape == (2, 2) and passive.shape == (3, 2) and not passive.any()
    assert isinstance(scalar, Dual) and scalar.tangents.tolist() == [2.0]
    assert isinstance(seeded, Dual) and seeded.k == 2


@njit(cache=True)
def identity(x):
    return x


def test_boxing_round_trip_keeps_values_tangents_and_views():
    d = Dual(0.25, [1.0, 2.0, 3.0])
    back = identity(d)
    assert isinstance(back, Dual) and back.value == 0.25 and back.tangents.tolist() == [1.0, 2.0, 3.0]
    a = DualArray(np.arange(12.0).reshape(3, 4), np.arange(24.0).reshape(3, 4, 2))
    view = a[:, ::2]  # non-contiguous
    out = identity(view)
    np.testing.assert_array_equal(out.value, view.value)
    np.testing.assert_array_equal(out.tangents, view.tangents)


def test_typing_errors_name_the_problem():
    @njit
    def store_into_float_array(x):
        out = np.zeros(2)
        out[0] = x  # needs dual storage (dual_zeros_like): numba arrays cannot hold duals
        return out

    with pytest.raises(TypingError):
        store_into_float_array(Dual(1.0, [1.0]))

    @njit
    def mixed_chunks(x, y):
        return x * y

    with pytest.raises(TypingError, match="different numbers of directions"):
        mixed_chunks(Dual(1.0, [1.0]), Dual(1.0, [1.0, 2.0]))

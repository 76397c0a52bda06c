"""Reverse mode through loops, branches, early exits and in-place writes, against finite differences."""
import math
import re

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad


def check(f, args, target, wrt=None, rtol=1e-6, atol=1e-8):
    wrt = tuple(k for k, a in enumerate(args) if not isinstance(a, int)) if wrt is None else wrt
    got = adflow.grad(f, wrt=wrt, target=target)(*args)
    expected = numerical_grad(f, args, wrt)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
    return got


def data_dependent_trips(x, scale):
    n = int(abs(x[0]) * 10) + 1  # the trip count depends on an input (piecewise constant)
    s = 0.0
    for i in range(n):
        s = s * scale + math.sin(x[i % x.shape[0]] + i)
    return s


def test_trip_count_depends_on_input(target):
    check(data_dependent_trips, (np.array([0.43, 1.2, -0.7]), 0.9), target)


def cube_root_newton(a, b):
    # Solve y**3 + a*y = b by Newton's method: a while loop with a data-dependent condition.
    y = 1.0
    step = 1.0
    while abs(step) > 1e-13:
        step = (y ** 3 + a * y - b) / (3 * y * y + a)
        y = y - step
    return y


def test_while_newton_matches_implicit_function_theorem(target):
    a, b = 2.0, 5.0
    ga, gb = check(cube_root_newton, (a, b), target)
    y = cube_root_newton(a, b)
    # d/da: 3y^2 y' + y + a y' = 0;  d/db: (3y^2 + a) y' = 1
    assert gb == pytest.approx(1 / (3 * y * y + a), rel=1e-10)
    assert ga == pytest.approx(-y / (3 * y * y + a), rel=1e-10)


def nested_break(x, limit):
    total = 0.0
    found = False
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            total = total + x[i, j] * x[i, j]
            if total > limit:
                found = True
                break
        if found:
            break
    return total * limit


def test_break_out_of_nested_loops(target, rng):
    x = rng.uniform(0.2, 1.0, (4, 5))
    check(nested_break, (x, 3.0), target)


def continue_and_elif(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < -0.5:
            continue
        elif x[i] < 0.5:
            s = s + x[i] ** 3
        else:
            s = s + math.exp(x[i]) * s
    return s


def test_continue_and_elif(target):
    check(continue_and_elif, (np.array([0.1, -0.9, 0.7, 0.3, 1.1, -0.2]),), target)


def early_return(x):
    acc = 1.0
    for i in range(x.shape[0]):
        acc = acc * x[i]
        if acc > 10.0:
            return acc * 2.0
    if acc < 0.0:
        return -acc
    return acc


def test_return_inside_loop_and_branch(target):
    check(early_return, (np.array([2.0, 3.0, 4.0, 5.0]),), target)
    check(early_return, (np.array([2.0, -3.0, 1.0]),), target)
    check(early_return, (np.array([0.5, 0.5, 0.5]),), target)


def heat(u0, dt, steps):
    u = u0.copy()
    for t in range(steps):
        for i in range(1, u.shape[0] - 1):
            u[i] = u[i] + dt * (u[i - 1] - 2 * u[i] + u[i + 1])
    return np.sum(u * u)


def test_in_place_stencil_over_time(target, rng):
    u0 = rng.standard_normal(8)
    check(heat, (u0, 0.2, 5), target)


def softplus(v):
    return math.log1p(math.exp(v))


def loop_with_helper(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + softplus(w * x[i]) * x[i]
    return s


def test_helper_called_inside_loop(target):
    check(loop_with_helper, (np.array([0.3, -1.0, 2.0]), 0.7), target)


def fills_allocated(x):
    y = np.zeros(x.shape[0])
    z = np.empty_like(x)
    for i in range(x.shape[0]):
        y[i] = x[i] * x[i]
        z[i] = math.sin(y[i])
    w = np.zeros((2, x.shape[0]))
    w[0, :] = z
    w[1, 1:] = y[:-1] * 2.0
    return np.sum(w * w) + y[0]


def test_arrays_allocated_and_filled(target):
    check(fills_allocated, (np.array([0.3, -1.0, 2.0, 0.5]),), target)


def strided_loops(x):
    s = 0.0
    for i in range(1, x.shape[0], 2):
        s = s + x[i] * x[i - 1]
    for i in range(x.shape[0] - 1, 0, -3):
        s = s * 0.5 + x[i] ** 2
    return s


def test_strided_and_backward_ranges(target):
    check(strided_loops, (np.linspace(-1, 1, 9),), target)


def loop_over_array(x):
    s = 0.0
    for v in x:
        s = s + v * v * s + v
    for i, v in enumerate(x):
        s = s + i * v
    return s


def test_for_over_array_and_enumerate(target):
    check(loop_over_array, (np.array([0.5, -0.25, 0.75]),), target)


def lorenz(params, state, steps):
    s, r, b = params[0], params[1], params[2]
    x, y, z = state[0], state[1], state[2]
    dt = 0.01
    for _ in range(steps):
        k1x, k1y, k1z = s * (y - x), x * (r - z) - y, x * y - b * z
        x2, y2, z2 = x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, z + 0.5 * dt * k1z
        k2x, k2y, k2z = s * (y2 - x2), x2 * (r - z2) - y2, x2 * y2 - b * z2
        x3, y3, z3 = x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, z + 0.5 * dt * k2z
        k3x, k3y, k3z = s * (y3 - x3), x3 * (r - z3) - y3, x3 * y3 - b * z3
        x4, y4, z4 = x + dt * k3x, y + dt * k3y, z + dt * k3z
        k4x, k4y, k4z = s * (y4 - x4), x4 * (r - z4) - y4, x4 * y4 - b * z4
        x = x + dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
        y = y + dt / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
        z = z + dt / 6 * (k1z + 2 * k2z + 2 * k3z + k4z)
    return x * x + y * y + z * z


def test_lorenz_rk4_short_horizon(target):
    check(lorenz, (np.array([10.0, 28.0, 8.0 / 3.0]), np.array([1.0, 1.0, 1.0]), 100), target, rtol=1e-5)


def whole_array_time_loop(u, dt):
    for _ in range(4):
        lap = np.zeros(u.shape[0])
        lap[1:-1] = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u = u + dt * lap * np.exp(-u * u)
    return np.sum(u ** 3)


@pytest.mark.cpu_slow
def test_whole_array_updates_in_a_loop(target, rng):
    check(whole_array_time_loop, (rng.standard_normal(7), 0.3), target)


def test_loop_adjoint_is_readable():
    g = adflow.grad(heat)
    g(np.ones(5), 0.1, 2)
    text = g.source
    assert "# forward sweep" in text
    forward, reverse = text[text.index("# forward sweep"):].split("# reverse sweep", 1)
    # Both loops run backwards in the reverse sweep, the inner one down to its start value 1.
    assert re.search(r"^ +for t in range\(steps - 1, -1, -1\):$", reverse, re.M)
    assert re.search(r"^ +for i in range\(\w+ - 1, 0, -1\):$", reverse, re.M)
    # The inner loop's bound is saved on a tape in the forward sweep and read back in the reverse one.
    saved = re.findall(r"^ +(\w+)\[(\w+)\] = (\w+)$", forward, re.M)
    assert any(re.search(rf"^ +{v} = {tape}\[{top}\]$", reverse, re.M) for tape, top, v in saved), saved
    # Each adjoint block names the source line it comes from.
    line = heat.__code__.co_firstlineno + 4
    assert f"# line {line}: u[i] = u[i] + dt * (u[i - 1] - 2 * u[i] + u[i + 1])" in reverse

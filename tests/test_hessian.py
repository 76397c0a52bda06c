"""Hessians and Hessian-vector products (forward-over-reverse) against differences of exact gradients."""
import math

import numpy as np
import pytest

import adflow

import test_control_flow as CF

A = np.array([[2.0, 0.5, 0.0], [0.5, 3.0, -1.0], [0.0, -1.0, 4.0]])


def quadratic_form(x):
    return 0.5 * np.dot(x, np.dot(A, x)) + np.sum(np.sin(x) * x)


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def hessian_fd(f, args, eps=1e-5):
    """Central differences of the (exact, reverse-mode) gradient."""
    grad = adflow.grad(f, target="python")
    x = args[0]
    n = x.size
    H = np.zeros((n, n))
    for j in range(n):
        d = np.zeros(n)
        d[j] = eps
        H[:, j] = (grad(x + d, *args[1:]) - grad(x - d, *args[1:])) / (2 * eps)
    return H


CASES = [
    (quadratic_form, (np.array([0.3, -1.2, 0.8]),)),
    (rosenbrock, (np.array([1.5, -0.5, 2.0, 0.3]),)),
    (CF.continue_and_elif, (np.array([0.1, -0.9, 0.7, 0.3, 1.1, -0.2]),)),
    (CF.lorenz, (np.array([10.0, 28.0, 8.0 / 3.0]), np.array([1.0, 1.0, 1.0]), 20)),
    (CF.heat, (np.random.default_rng(2).standard_normal(6), 0.2, 3)),
]


@pytest.mark.cpu_slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].__name__)
def test_hessian_matches_gradient_differences(case, target):
    f, args = case
    H = adflow.hessian(f, target=target)(*args)
    np.testing.assert_allclose(H, hessian_fd(f, args), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10)


@pytest.mark.cpu_slow
def test_quadratic_form_closed_form(target):
    x = np.array([0.3, -1.2, 0.8])
    H = adflow.hessian(quadratic_form, chunk=2, target=target)(x)   # two passes, the second half full
    np.testing.assert_allclose(H, A + np.diag(2 * np.cos(x) - x * np.sin(x)), rtol=1e-12)


def rosenbrock_hessian(x):
    """Closed form of the Rosenbrock Hessian (tridiagonal), of the loop and of the slices alike."""
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] += -400.0 * x[i]
        H[i + 1, i] += -400.0 * x[i]
    return H


def test_all_passes_run_in_one_compiled_loop(target):
    x = np.random.default_rng(7).uniform(-1.0, 1.0, 11)
    hess = adflow.hessian(rosenbrock, chunk=4, target=target)      # passes of 4, 4 and 3 columns
    np.testing.assert_allclose(hess(x), rosenbrock_hessian(x), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(hess(x[::-1].copy()), rosenbrock_hessian(x[::-1]), rtol=1e-12, atol=1e-10)
    assert "def rosenbrock_hessian_passes_4(" in hess._specs.last_source


def linear_in_x(x, w):
    return np.sum(w * x) + 3.0


def sum_of_squares_2d(X):
    return np.sum(X * X * X)


@pytest.mark.cpu_slow
def test_compiled_hessians_of_linear_functions_and_matrices(target):
    np.testing.assert_array_equal(adflow.hessian(linear_in_x, target=target)(np.ones(5), np.arange(5.0)),
                                  np.zeros((5, 5)))
    X = np.random.default_rng(8).standard_normal((2, 3))
    H = adflow.hessian(sum_of_squares_2d, target=target)(X)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), np.diag(6.0 * X.reshape(6)), rtol=1e-14)


def vector_valued(x):
    return x * x


def test_hessian_of_a_vector_valued_function_has_one_per_output(target):
    # As jax.hessian: shape out.shape + x.shape + x.shape; d2(x_i^2)/dx_j dx_k = 2 if i == j == k.
    H = adflow.hessian(vector_valued, target=target)(np.ones(3))
    expected = np.zeros((3, 3, 3))
    expected[[0, 1, 2], [0, 1, 2], [0, 1, 2]] = 2.0
    np.testing.assert_allclose(H, expected, atol=1e-15)
    with pytest.raises(adflow.ShapeError, match="hvp needs vector_valued to return a number"):
        adflow.hvp(vector_valued, target=target)(np.ones(3), np.ones(3))


def test_hvp_without_forming_the_hessian(target):
    x = np.array([1.5, -0.5, 2.0, 0.3])
    v = np.array([0.2, -1.0, 0.5, 3.0])
    hvp = adflow.hvp(rosenbrock, target=target)
    hv = hvp(x, v)
    np.testing.assert_allclose(hv, hessian_fd(rosenbrock, (x,)) @ v, rtol=1e-6)
    np.testing.assert_allclose(hv, rosenbrock_hessian(x) @ v, rtol=1e-12)
    assert "def rosenbrock_hessian_passes_1(" in hvp.__self__._specs.last_source  # one compiled pass


@pytest.mark.cpu_slow
def test_hvp_of_a_matrix_argument(target):
    X = np.random.default_rng(9).standard_normal((2, 3))
    V = np.random.default_rng(10).standard_normal((2, 3))
    np.testing.assert_allclose(adflow.hvp(sum_of_squares_2d, target=target)(X, V), 6.0 * X * V, rtol=1e-14)


# --- loop programs the fuzzer's hvp check found failing (each fails without its fix) ------------

def soft(u):
    return math.log(1.0 + math.exp(u))


def filled_and_overwritten(x, a):
    # np.zeros filled with values of x (the allocation must hold duals), elements overwritten in a
    # loop (their tape holds duals), a helper using math (on target="python" it gets duals).
    b = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        b[i] = x[i] * a + soft(x[i])
    for i in range(x.shape[0]):
        b[i] = math.sin(b[i]) * x[0]
    return np.sum(b * b)


def array_rebound_in_a_loop(x, a):
    # b rebound to a new array each iteration: no per-iteration recomputation for array bodies.
    b = x * a
    for _ in range(3):
        b = 0.9 * b + np.sin(x * b[1])
    return np.dot(b, x)


def computed_then_written(x, a):
    # A float array computed without x (not an allocation) that receives a value of x.
    c = np.ones(x.shape[0]) * a
    c[1] = math.hypot(x[0] + a, 0.5)
    return np.dot(c, x)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [filled_and_overwritten, array_rebound_in_a_loop, computed_then_written])
def test_hessians_of_loops_writing_arrays(f, target):
    args = (np.array([0.3, -0.8, 0.5, 1.1]), 0.7)
    H = adflow.hessian(f, target=target)(*args)
    np.testing.assert_allclose(H, hessian_fd(f, args), rtol=1e-6, atol=1e-6)


def float_then_dual(x, a):
    # c starts as a float array (computed without x) and becomes a dual array in one branch.
    b = x.copy()
    c = np.ones(x.shape[0]) * a
    if a > 0.1:
        b[:2] = -0.7 * b[2:] + 0.1 * c[1]
        c = np.tanh(c) * -0.5 + b * 0.1
    return np.sum(b * b) + 0.25 * np.sum(c * c)


@pytest.mark.cpu_slow
def test_hessian_where_an_array_becomes_dual_on_one_path(target):
    args = (np.array([0.3, -0.8, 0.5, 1.1]), 0.7)
    H = adflow.hessian(float_then_dual, target=target)(*args)
    np.testing.assert_allclose(H, hessian_fd(float_then_dual, args), rtol=1e-6, atol=1e-6)



def math_of_a_restored_value(x, a):
    # Found by the fuzzer (seed 3869, shrunk).  s2 starts as a float and becomes a dual after the
    # loop, so the reverse sweep restores it from a dual tape; recomputing math.log1p(s2 ** 2)
    # then met a dual (on target="python" math asks the dual for a float).
    s0 = math.sin(a) + x[1]
    s1 = soft(a)
    b = np.zeros(x.shape[0])
    s2 = 0.0
    for _ in range(3):
        s1 = 0.9 * s1 + math.exp(-0.5 * math.log1p(s2 ** 2) ** 2)
    s2 = min(s0 ** 2, x[0] * b[3])
    return 0.5 * s0 + s1 - 0.3 * s2 + np.dot(b, x)


@pytest.mark.cpu_slow
def test_hessian_with_math_on_values_restored_from_a_tape(target):
    args = (np.array([0.7023, -0.6054, -0.6031, 0.6092]), 0.9571)
    H = adflow.hessian(math_of_a_restored_value, target=target)(*args)
    np.testing.assert_allclose(H, hessian_fd(math_of_a_restored_value, args), rtol=1e-6, atol=1e-6)


# --- Hessians through defvjp rules (docs/custom-rules.md: the rules run on dual numbers) ---------
@adflow.custom_vjp
def cube(x):
    return x * x * x


cube.defvjp(lambda g, ans, x: g * (3.0 * x * x + x))  # deliberately not the body's 3x^2: H must be the rule's 6x + 1


def sum_of_cubes(x):
    return np.sum(cube(x))


@adflow.custom_vjp
def softclip(x, c):
    return c * np.tanh(x / c)


softclip.defvjp(lambda g, ans, x, c: g * (1.0 - (ans / c) ** 2), None)  # the docs' rule: the true derivative


def softclip_loss(x, c):
    return np.sum(softclip(x, c) ** 2)


@pytest.mark.cpu_slow
def test_hessian_differentiates_the_adjoint_rule(target):
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(adflow.hessian(sum_of_cubes, target=target)(x), np.diag(6.0 * x + 1.0), rtol=1e-14)


@pytest.mark.cpu_slow
def test_hessian_through_the_documented_rule(target):
    x, c = np.array([0.5, -1.0, 3.0]), 2.0
    s = c * np.tanh(x / c)
    ds = 1.0 - (s / c) ** 2
    d2s = -2.0 * s / c ** 2 * ds
    H = adflow.hessian(softclip_loss, target=target)(x, c)
    np.testing.assert_allclose(H, np.diag(2.0 * (ds ** 2 + s * d2s)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(H, hessian_fd(softclip_loss, (x, c)), rtol=1e-6, atol=1e-8)
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(adflow.hvp(softclip_loss, target=target)(x, v, c), H @ v, rtol=1e-12)


def rosenbrock_slices(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_hessian_of_a_fused_chain(target):
    # The chain over slices becomes a loop of dual numbers (frontend/fusion.py, deciding on the
    # values' types), not whole-array dual code: checked against the closed form.
    x = np.array([1.5, -0.5, 2.0, 0.3, 0.9])
    h = adflow.hessian(rosenbrock_slices, target=target)
    np.testing.assert_allclose(h(x), rosenbrock_hessian(x), rtol=1e-12, atol=1e-12)
    hv = adflow.hvp(rosenbrock_slices, target=target)(x, np.arange(5.0))
    np.testing.assert_allclose(hv, rosenbrock_hessian(x) @ np.arange(5.0), rtol=1e-12, atol=1e-12)

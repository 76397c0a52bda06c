"""Row-wise forward Jacobians computed a block of rows at a time (adflow/forward/row_blocks.py).

Every block result is checked against central differences of the row function and against the
per-row forward Jacobian on dual numbers (a separate code path); functions without a block form
must fall back, say why in the plan, and still be right.
"""
import math

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_jacobian

RNG = np.random.default_rng(11)
W1, b1 = RNG.standard_normal((6, 4)), RNG.standard_normal(6)
W2, b2 = RNG.standard_normal((3, 6)), RNG.standard_normal(3)
M = RNG.standard_normal((5, 4))
v5 = RNG.standard_normal(5)


def mlp(x, W1, b1, W2, b2):
    return np.tanh(W2 @ np.tanh(np.dot(W1, x) + b1) + b2)


def right_products(x, W1, b1, W2, b2):
    h = np.sin(x @ W1.T) * b1          # x @ M: the row on the left
    return np.cos(h @ W2.T) / (1.0 + b2 * b2)


def elementwise(x, W1, b1, W2, b2):
    a = np.exp(0.3 * x) - np.log(1.5 + np.cos(x)) + np.sqrt(2.0 + x * x)
    b = np.arctan2(x, 1.0 + a * a) + np.hypot(a, 0.5) - (-a) ** 3 / (2.0 + np.sinh(x) ** 2)
    return np.maximum(a, -10.0) * b + np.abs(x + 5.0) ** 1.5


def softmax(x, W1, b1, W2, b2):
    z = W1 @ x + b1
    e = np.exp(z - 1.0)
    s = np.sum(e)
    return e / s                        # a per-row number broadcast against a per-row vector


def broadcast_against_matrix(x, W1, b1, W2, b2):
    P = x * W1 + 0.5                    # row vector (4,) times a (6, 4) matrix: (6, 4) per row
    return np.tanh(P) @ x               # a per-row matrix times the row


def indexed(x, W1, b1, W2, b2):
    head = x[0]
    tail = x[1:]
    return head * tail + x[-1] ** 2


def rebinding(x, W1, b1, W2, b2):
    x = x * 2.0
    h = W1 @ x
    h = np.tanh(h)
    h = h * h + h
    return h


def linear(x, W1, b1, W2, b2):
    return W2 @ (W1 @ x) + b2           # the same Jacobian in every row


def identity(x, W1, b1, W2, b2):
    y = x
    return y


def matrix_output(x, W1, b1, W2, b2):
    return np.sin(x * W1) * b1.reshape((6, 1))


def indexed_by_a_shared_integer(x, W1, b1, W2, b2):
    k = W1.shape[1] - 2                 # an integer shared by every row
    return x[k] * x[:k]


BLOCKED = [mlp, right_products, elementwise, softmax, broadcast_against_matrix, indexed, rebinding, linear,
           identity, matrix_output, indexed_by_a_shared_integer]


def _check(f, Z, X, tol=1e-6):
    for i in range(X.shape[0]):
        ref = numerical_jacobian(lambda v: f(v, W1, b1, W2, b2), X[i])
        np.testing.assert_allclose(Z[i], ref.reshape(Z[i].shape), rtol=tol, atol=tol)


# The uncompiled target covers every case, the CPU the ones whose block code differs in kind
# (products on either side, broadcasting a row number, indexing, a linear function).  Cases with
# per-row matrices are left to the uncompiled target: numba takes seconds per 4-D broadcast.
CASES = ([pytest.param(f, "python", id=f"python-{f.__name__}") for f in BLOCKED]
         + [pytest.param(f, "cpu", id=f"cpu-{f.__name__}")
            for f in (mlp, right_products, softmax, indexed, linear)])


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f, target", CASES)
def test_blocks_agree_with_differences_and_with_dual_numbers_row_by_row(f, target):
    X = RNG.standard_normal((37, 4)) * 0.7   # one full block of 32 and a partial one
    X0 = X.copy()
    jac = adflow.jacobian(f, batch=True, mode="forward", target=target)
    Z = jac(X, W1, b1, W2, b2)
    assert jac.plan.block == 32, jac.plan.unblocked
    assert "rows in blocks of 32" in str(jac.plan)
    np.testing.assert_array_equal(X, X0)     # the rows are not written to
    out_shape = np.shape(f(X[0], W1, b1, W2, b2))
    assert Z.shape == (37,) + out_shape + (4,)
    _check(f, Z[:6], X[:6])
    row_jac = adflow.jacobian(f, mode="forward", target="python")  # dual numbers, one row
    for i in (0, 31, 32, 36):                # first and last rows of both blocks
        np.testing.assert_allclose(Z[i], row_jac(X[i], W1, b1, W2, b2), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jac(X[::-1].copy(), W1, b1, W2, b2), Z[::-1], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("rows", [1, 31, 32, 33, 70])
def test_any_number_of_rows(rows):
    # The partition into blocks is the driver's, which runs as written on the uncompiled target; the
    # compiled blocks of mlp are checked by the cpu variant above (slow tier: a 15 s numba build).
    X = RNG.standard_normal((rows, 4))
    Z = adflow.jacobian(mlp, batch=True, target="python")(X, W1, b1, W2, b2)
    assert Z.shape == (rows, 3, 4)
    _check(mlp, Z[-2:], X[-2:])


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_passes_of_fewer_directions_than_inputs(target):
    X = RNG.standard_normal((40, 4))
    jac = adflow.jacobian(softmax, batch=True, chunk=3, target=target)
    Z = jac(X, W1, b1, W2, b2)
    assert jac.plan.passes == 2 and jac.plan.block == 32
    _check(softmax, Z[30:34], X[30:34])


def with_a_loop(x, W1, b1, W2, b2):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i]
    return W2 @ np.tanh(W1 @ x) * s


def with_max(x, W1, b1, W2, b2):
    return np.exp(x - np.max(x))


def _scale(h):
    return 2.0 * h


def with_helper(x, W1, b1, W2, b2):
    return _scale(np.tanh(W1 @ x))


def reduced_along_an_axis(x, W1, b1, W2, b2):
    return np.sum(x * W1, axis=1)


def indexed_by_the_row(x, W1, b1, W2, b2):
    k = int(x[0] > 0.0)                 # row-dependent control of the indexing
    return x[k] * x


def scalar_times_matrix_row(x, W1, b1, W2, b2):
    return x[0] * W1                    # a per-row number against a shared matrix: fine


@pytest.mark.parametrize("f, why", [(with_a_loop, ".shape"), (with_max, "max"), (with_helper, "_scale()"),
                                    (reduced_along_an_axis, "axis="), (indexed_by_the_row, "comparison")],
                         ids=lambda a: getattr(a, "__name__", ""))
def test_without_a_block_form_rows_go_one_at_a_time_and_the_plan_says_why(f, why):
    target = "cpu" if f is with_a_loop else "python"
    X = RNG.standard_normal((5, 4))
    jac = adflow.jacobian(f, batch=True, mode="forward", target=target)
    Z = jac(X, W1, b1, W2, b2)
    assert jac.plan.block == 0
    assert why in jac.plan.unblocked and "test_row_blocks.py:" in jac.plan.unblocked
    assert "rows one at a time" in str(jac.plan)
    _check(f, Z, X)


def test_a_row_number_against_a_shared_matrix():
    X = RNG.standard_normal((33, 4))
    jac = adflow.jacobian(scalar_times_matrix_row, batch=True, mode="forward", target="python")
    Z = jac(X, W1, b1, W2, b2)
    assert jac.plan.block == 32 and Z.shape == (33, 6, 4, 4)
    _check(scalar_times_matrix_row, Z[31:], X[31:])


def loss(x, W1, b1, W2, b2):
    return np.sum(np.tanh(W1 @ x) * b1)


def test_auto_takes_blocks_of_rows_over_per_row_sweeps_where_they_are_cheaper():
    X = RNG.standard_normal((35, 4))
    jac = adflow.jacobian(loss, batch=True, target="python")
    Z = jac(X, W1, b1, W2, b2)
    # 4 inputs, 1 output: a reverse sweep per row is estimated at 11 evaluations of f (3, and 8 for
    # the sweep: planning.ROW_SWEEP_OVERHEAD), one forward pass at 3.4, in blocks of rows at a sixth
    # of that (planning.BLOCK_SPEEDUP).
    assert jac.plan.mode == "forward" and jac.plan.block == 32 and Z.shape == (35, 4)
    _check(loss, Z[:3], X[:3])


def wide_loss(x, W):
    s = 0.0
    for i in range(W.shape[0]):  # a loop: the forward passes go one row at a time
        s += math.tanh(np.dot(W[i], x))
    return s


@pytest.mark.cpu_slow
def test_auto_keeps_per_row_gradients_for_many_inputs_and_one_output(target):
    # 40 inputs: 3 forward passes of 14 directions (28 evaluations; no blocks of rows for a loop)
    # against one reverse sweep (11, with the sweep's own cost).  Measured on such a row
    # (benchmarks/auto_mode.py): reverse 1.8x faster.
    rng = np.random.default_rng(4)
    W, X = rng.standard_normal((5, 40)) * 0.3, rng.standard_normal((6, 40))
    jac = adflow.jacobian(wide_loss, batch=True, target=target)
    Z = jac(X, W)
    assert jac.plan.mode == "reverse" and jac.plan.block == 0 and Z.shape == (6, 40)
    grads = adflow.grad(wide_loss, batch=True, target=target)(X, W)
    np.testing.assert_allclose(Z, grads, rtol=1e-13, atol=1e-14)
    for i in (0, 5):
        np.testing.assert_allclose(Z[i], numerical_jacobian(lambda v: wide_loss(v, W), X[i]), rtol=1e-6, atol=1e-8)


def rows_second(W1, x):
    return np.sin(W1 @ x) * x[0]


def test_the_rows_may_be_any_argument():
    X = RNG.standard_normal((34, 4))
    jac = adflow.jacobian(rows_second, batch=True, wrt=1, mode="forward", target="python")
    Z = jac(W1, X)
    assert jac.plan.block == 32 and Z.shape == (34, 6, 4)
    for i in (0, 33):
        np.testing.assert_allclose(Z[i], numerical_jacobian(lambda v: rows_second(W1, v), X[i]), rtol=1e-6, atol=1e-8)

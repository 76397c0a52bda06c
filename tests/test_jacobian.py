"""Jacobians in every mode, the auto plan, row-wise (batched) and sparse Jacobians."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

import adflow
from adflow.testing import numerical_jacobian
from adflow.jacobian import default_chunk

B = np.random.default_rng(5).standard_normal((2000, 8))
A = np.random.default_rng(6).standard_normal((8, 2000))


def narrow_to_wide(x):
    return np.dot(B, np.tanh(x)) + np.sin(np.dot(B, x))


def wide_to_narrow(x):
    return np.dot(A, np.sin(x)) * (1.0 + np.sum(np.cos(x)) / x.shape[0])


def looped(x, c):
    y = np.zeros(3)
    for i in range(3):
        acc = 0.0
        for j in range(x.shape[0]):
            if x[j] * (i + 1) > c:
                acc = acc + math.sin(x[j] * (i + 1))
            else:
                acc = acc - x[j] ** 2 * c
        y[i] = acc
    return y


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_modes_agree_with_finite_differences(mode, target):
    x = np.array([0.3, -0.8, 1.1, 0.05])
    J = adflow.jacobian(looped, mode=mode, target=target)(x, 0.2)
    np.testing.assert_allclose(J, numerical_jacobian(lambda v: looped(v, 0.2), x), rtol=1e-6, atol=1e-8)


def test_auto_picks_the_cheaper_mode():
    jf = adflow.jacobian(narrow_to_wide, target="python")
    J = jf(np.linspace(-1, 1, 8))
    assert jf.plan.mode == "forward" and J.shape == (2000, 8)
    jr = adflow.jacobian(wide_to_narrow, target="python")
    J2 = jr(np.linspace(-1, 1, 2000))
    assert jr.plan.mode == "reverse" and J2.shape == (8, 2000)
    assert "reverse mode, 1 pass of 8 output directions" in str(jr.plan)
    x = np.linspace(-1, 1, 2000)
    np.testing.assert_allclose(J2[:, :5], numerical_jacobian(wide_to_narrow, x)[:, :5], rtol=1e-5, atol=1e-8)


def mlp_row(x, W1, b1, W2, b2):
    return np.tanh(np.dot(W2, np.tanh(np.dot(W1, x) + b1)) + b2)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_batched_jacobian_equals_per_row_loop(mode, target):
    rng = np.random.default_rng(0)
    W1, b1 = rng.standard_normal((6, 4)), rng.standard_normal(6)
    W2, b2 = rng.standard_normal((3, 6)), rng.standard_normal(3)
    X = rng.standard_normal((5, 4))
    Z = adflow.jacobian(mlp_row, mode=mode, batch=True, target=target)(X, W1, b1, W2, b2)
    assert Z.shape == (5, 3, 4)
    for i in range(5):
        ref = numerical_jacobian(lambda v: mlp_row(v, W1, b1, W2, b2), X[i])
        np.testing.assert_allclose(Z[i], ref, rtol=1e-6, atol=1e-9)


def per_sample_loss(w, target_value):
    return (np.sum(w * w) - target_value) ** 2


@pytest.mark.cpu_slow
def test_per_sample_gradients(target):
    W = np.random.default_rng(1).standard_normal((6, 3))
    G = adflow.grad(per_sample_loss, batch=True, target=target)(W, 0.5)
    for i in range(6):
        np.testing.assert_allclose(G[i], 4 * (np.sum(W[i] ** 2) - 0.5) * W[i], rtol=1e-12)


def bratu(u):
    n = u.shape[0]
    h = 1.0 / (n + 1)
    F = np.zeros(n)
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        F[i] = left - 2.0 * u[i] + right + h * h * math.exp(u[i])
    return F


@pytest.mark.cpu_slow
def test_sparse_tridiagonal_needs_three_colours(target):
    u = np.random.default_rng(0).standard_normal(50)
    jf = adflow.jacobian(bratu, sparsity="auto", target=target)
    J = jf(u)
    assert sp.issparse(J) and jf.colors == 3 and J.nnz == 3 * 50 - 2
    np.testing.assert_allclose(J.toarray(), adflow.jacobian(bratu, mode="forward", target=target)(u), rtol=1e-14)
    assert "3 colours in 1 pass" in str(jf.plan)


def arrow(x):
    # Outputs 0..n-2 read x[0] and their own input; the last reads every input, so every pair of
    # columns shares a row: n colours, more than one compressed pass of at most 32 directions.
    n = x.shape[0]
    F = np.zeros(n)
    for i in range(n - 1):
        F[i] = math.sin(x[i]) * x[0] + x[i] ** 2
    s = 0.0
    for j in range(n):
        s = s + math.cos(x[j]) * (j + 1)
    F[n - 1] = s
    return F


def blocks(x):
    # Six uncoupled blocks of six inputs, each output reading its whole block: six colours.
    F = np.zeros(x.shape[0])
    for b in range(0, x.shape[0], 6):
        s = 0.0
        for j in range(b, b + 6):
            s = s + math.sin(x[j]) * (j - b + 1)
        for i in range(b, b + 6):
            F[i] = s * x[i]
    return F


@pytest.mark.parametrize("f, n, colours, passes, nnz", [
    (arrow, 40, 40, 2, 2 * 39 - 1 + 40),
    (blocks, 36, 6, 1, 6 * 36),
], ids=["arrow", "blocks"])
def test_sparse_patterns_over_several_detection_and_compression_passes(f, n, colours, passes, nnz):
    # More than 16 inputs: the pattern is detected in several forward passes of 16 directions.
    x = np.random.default_rng(3).uniform(-1, 1, n)
    jf = adflow.jacobian(f, sparsity="auto")
    J = jf(x)
    assert sp.issparse(J) and J.nnz == nnz and jf.colors == colours
    assert f"{colours} colours in {passes} pass" in str(jf.plan)
    np.testing.assert_allclose(J.toarray(), numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


def test_sparse_with_a_given_pattern():
    u = np.random.default_rng(1).standard_normal(20)
    pattern = sp.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(20, 20))
    J = adflow.jacobian(bratu, sparsity=pattern, target="python")(u)
    np.testing.assert_allclose(J.toarray(), numerical_jacobian(bratu, u), rtol=1e-6, atol=1e-9)


def test_sparse_pattern_shape_is_checked():
    with pytest.raises(adflow.ShapeError, match="pattern"):
        adflow.jacobian(bratu, sparsity=np.ones((3, 3), bool), target="python")(np.ones(5))


def lorenz_state(u, p, T):
    x, y, z = u[0], u[1], u[2]
    for _ in range(T):
        x, y, z = x + 0.01 * p[0] * (y - x), y + 0.01 * (x * (p[1] - z) - y), z + 0.01 * (x * y - p[2] * z)
    return np.array([x, y, z])


def test_batched_jacobian_with_an_argument_named_like_a_driver_local():
    # The compiled row loop once used `p` as its pass counter and overwrote the user's argument `p`.
    U = np.random.default_rng(0).standard_normal((4, 3))
    p = np.array([10.0, 28.0, 8.0 / 3.0])
    fwd = adflow.jacobian(lorenz_state, batch=True, mode="forward")(U, p, 5)
    rev = adflow.jacobian(lorenz_state, batch=True, mode="reverse", target="python")(U, p, 5)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-14)


# --- vector-mode reverse: k output directions per sweep, as duals through the adjoint ------------

def softplus(v):
    return math.log1p(math.exp(v))


def heat_profile(u0, dt):
    # In-place writes overwritten in a loop (values saved on the tape), a helper call, a while.
    u = u0.copy()
    for t in range(3):
        for i in range(1, u.shape[0] - 1):
            u[i] = u[i] + dt * (u[i - 1] - 2 * u[i] + u[i + 1]) + 0.1 * softplus(u[i])
    k = 0
    while k < 2:
        u = u * np.exp(-0.1 * u * u)
        k += 1
    return u[1:]


def rk4_states(state, steps):
    # Scalar loop state (checkpointed per iteration) and a result written element by element.
    x, y, z = state[0], state[1], state[2]
    out = np.empty(3 * steps)
    for t in range(steps):
        dx, dy, dz = 10.0 * (y - x), x * (28.0 - z) - y, x * y - 2.5 * z
        x, y, z = x + 0.01 * dx, y + 0.01 * dy, z + 0.01 * dz
        if x > 0:
            out[3 * t] = x
        else:
            out[3 * t] = -x * 0.5
        out[3 * t + 1] = y
        out[3 * t + 2] = np.sqrt(z * z + 1.0)
    return out


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f, args", [(heat_profile, (np.linspace(-1.0, 1.2, 9), 0.2)),
                                     (rk4_states, (np.array([1.0, 1.5, 2.0]), 5)),
                                     (looped, (np.array([0.3, -0.8, 1.1, 0.05]), 0.2))],
                         ids=["heat_profile", "rk4_states", "looped"])
def test_vector_mode_reverse_equals_one_sweep_per_output(f, args, target):
    x = args[0]
    jac = adflow.jacobian(f, mode="reverse", target=target)
    J = jac(*args)
    m = J.shape[0]
    assert jac.plan.chunk == default_chunk(m) > 1 and jac.plan.passes == -(-m // jac.plan.chunk)
    per_output = adflow.jacobian(f, mode="reverse", chunk=1, target=target)(*args)
    np.testing.assert_allclose(J, per_output, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J, adflow.jacobian(f, mode="forward", target=target)(*args), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(J, numerical_jacobian(lambda v: f(v, *args[1:]), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(jac(*args), J)  # the cached run gives the same numbers


def column_sums(x):
    M = np.outer(x, np.sin(x))
    return np.sum(M * M, axis=0)


@pytest.mark.cpu_slow
def test_reductions_along_an_axis_take_a_dual_cotangent(target):
    # sum(axis=)'s adjoint spreads each of the k output directions: one vector-mode sweep.
    x = np.array([0.3, -0.7, 1.2, 0.4])
    jac = adflow.jacobian(column_sums, mode="reverse", target=target)
    J = jac(x)
    np.testing.assert_allclose(J, numerical_jacobian(column_sums, x), rtol=1e-6, atol=1e-8)
    assert jac.plan.chunk == 4


def running_sums(x):
    return np.cumsum(np.sin(x) * x)


@pytest.mark.cpu_slow
def test_cumsum_takes_a_dual_cotangent(target):
    # cumsum's adjoint once took no dual cotangent (one sweep per output on cpu, a TypeError on python
    # when run first); now all four rows come from one sweep on both targets.  The fallback to one
    # sweep per row, where a dual cotangent cannot be typed, is tested in test_compose.py
    # (test_jacobians_of_a_function_calling_grad).
    x = np.array([0.3, -0.7, 1.2, 0.4])
    jac = adflow.jacobian(running_sums, mode="reverse", target=target)
    J = jac(x)
    np.testing.assert_allclose(J, numerical_jacobian(running_sums, x), rtol=1e-6, atol=1e-8)
    assert jac.plan.chunk == 4


def two_of_many(x, W):
    h = np.tanh(W @ x)
    return np.array([np.sum(h * h), np.sum(np.sin(x) * h[:x.shape[0]])])


@pytest.mark.cpu_slow
def test_batched_reverse_jacobians_run_in_one_compiled_row_loop(target):
    rng = np.random.default_rng(2)
    W, X = rng.standard_normal((7, 5)), rng.standard_normal((6, 5))
    jac = adflow.jacobian(two_of_many, batch=True, mode="reverse", target=target)
    Z = jac(X, W)
    assert Z.shape == (6, 2, 5) and jac.plan.mode == "reverse" and jac.plan.chunk == 2
    for i in range(6):
        ref = numerical_jacobian(lambda v: two_of_many(v, W), X[i])
        np.testing.assert_allclose(Z[i], ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(Z, adflow.jacobian(two_of_many, batch=True, mode="forward")(X, W),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(jac(X[::-1].copy(), W), Z[::-1])  # the cached run, rows reordered
    # The rows run in the module's compiled loop over rows (not one Python call per row).
    assert "def two_of_many_row_jacobian_reverse_2(" in jac._reverse.last_source


@pytest.mark.cpu_slow
def test_batched_reverse_jacobians_fall_back_to_one_row_at_a_time_without_dual_cotangents(target):
    X = np.random.default_rng(3).standard_normal((3, 4))
    Z = adflow.jacobian(column_sums, batch=True, mode="reverse", target=target)(X)
    for i in range(3):
        np.testing.assert_allclose(Z[i], numerical_jacobian(column_sums, X[i]), rtol=1e-6, atol=1e-8)


def reshaped(x):
    m = np.sin(x).reshape((2, 2))
    return (m @ m).reshape(4) * x


def test_vector_mode_reverse_through_a_reshape():
    # The python target once turned a dual cotangent into an object array at a reshape.
    x = np.array([0.3, -0.7, 1.2, 0.4])
    J = adflow.jacobian(reshaped, mode="reverse", target="python")(x)
    np.testing.assert_allclose(J, numerical_jacobian(reshaped, x), rtol=1e-6, atol=1e-8)


@pytest.mark.slow  # a compile per shape and layout: 15 s
def test_one_jacobian_called_with_other_shapes_and_layouts():
    # Each call finds its prepared run by the arguments' shapes, dtypes and flags: a new shape
    # plans again (8 inputs: forward; 40 inputs for 3 outputs: reverse), and a strided or read-only
    # array is a different numba type, so it gets its own compiled driver.
    def f(x):
        return np.sin(x[:3]) * np.sum(x * x)

    J = adflow.jacobian(f)
    wide = np.linspace(-1.0, 1.0, 80)
    for x in (wide[:8].copy(), wide[:40].copy(), wide[::2], wide[:8].copy()):
        np.testing.assert_allclose(J(x), numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)
    assert J.plan.mode == "forward"
    frozen = wide[:8].copy()
    frozen.flags.writeable = False
    np.testing.assert_allclose(J(frozen), numerical_jacobian(f, frozen), rtol=1e-6, atol=1e-8)


def shape_by_row(x):
    if x[0] > 0:
        return x * 2.0
    return x[1:] * 3.0


# Fuzz seed 27000456 (stop 27): rows whose outputs differ in shape (a return in a branch).  The
# forward row loop crashed in a reshape; the compiled reverse row loop wrote uninitialised memory
# into the second row's Jacobian (a dual cotangent of 3 added to an adjoint of 2 read past it), a
# wrong number.  Every row loop now compares the output's shape and refuses after the loop.
@pytest.mark.parametrize("mode, chunk", [("forward", None), ("reverse", None), ("reverse", 1)])
def test_rows_whose_outputs_differ_in_shape_are_refused(target, mode, chunk):
    X = np.array([[1.0, 2.0, 3.0], [-1.0, 2.0, 3.0]])
    with pytest.raises(adflow.ShapeError, match="a row of the batch gives an output of another shape than the first"):
        adflow.jacobian(shape_by_row, batch=True, mode=mode, chunk=chunk, target=target)(X)
    # Rows of one shape are still fine: closed form 2I.
    J = adflow.jacobian(shape_by_row, batch=True, mode=mode, chunk=chunk, target=target)(np.abs(X))
    np.testing.assert_allclose(J, np.broadcast_to(2.0 * np.eye(3), (2, 3, 3)), rtol=1e-15)


def test_column_colouring_is_valid_and_greedy():
    import scipy.sparse as sp
    from adflow.sparsity import color_columns
    rng = np.random.default_rng(5)
    for m, n, per_row in [(30, 40, 3), (200, 100, 6), (7, 7, 7)]:
        rows = np.repeat(np.arange(m), per_row)
        pattern = sp.csr_array((np.ones(rows.size, bool), (rows, rng.integers(0, n, rows.size))), shape=(m, n))
        colors = color_columns(pattern)
        for r in range(m):  # no row has two columns of one colour
            cols = np.unique(pattern.indices[pattern.indptr[r]:pattern.indptr[r + 1]])
            assert len(set(colors[cols])) == cols.size
        for j in range(n):  # greedy: each column takes the smallest colour its neighbours leave
            neighbours = {c for r in np.flatnonzero(pattern[:, [j]].toarray().ravel())
                          for c in pattern.indices[pattern.indptr[r]:pattern.indptr[r + 1]] if c != j}
            assert all(k in {colors[c] for c in neighbours} for k in range(colors[j]))
    assert color_columns(sp.csr_array(np.eye(4, dtype=bool))).tolist() == [0, 0, 0, 0]

"""Sparsity detection: one forward pass of index sets, checked against closed-form patterns.

The expected patterns are written out from each program's structure (which outputs read which
inputs), not produced by another adflow pass, so a rule that loses or invents an entry fails here.
"""
import logging

import numpy as np
import pytest
import scipy.sparse as sp

import adflow
from adflow import sparsity
from adflow.duals import Dual
from adflow.duals.index_sets import IndexSet, propagating
from adflow.testing import numerical_jacobian

from test_jacobian import arrow, bratu as stencil  # a tridiagonal loop stencil; an arrow pattern


def tridiagonal(n):
    return sp.diags([1, 1, 1], [-1, 0, 1], shape=(n, n), dtype=bool).toarray()


def rosenbrock_residuals(x):
    return 100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2


def bidiagonal(n):
    expected = np.zeros((n - 1, n), bool)
    expected[np.arange(n - 1), np.arange(n - 1)] = expected[np.arange(n - 1), np.arange(1, n)] = True
    return expected


def arrow_pattern(n):
    expected = np.zeros((n, n), bool)
    expected[np.arange(n - 1), np.arange(n - 1)] = expected[:, 0] = expected[n - 1] = True
    return expected


def scaled_pair(a, b):
    return a * np.exp(b)


def calls_a_helper(x):
    n = x.shape[0]
    y = np.empty(n)
    for i in range(n):
        y[i] = scaled_pair(x[i], x[(i + 2) % n])
    return y


def skip_two(n):
    expected = np.eye(n, dtype=bool)
    expected[np.arange(n), (np.arange(n) + 2) % n] = True
    return expected


def row_sums(x):
    X = x.reshape(4, 3)
    return np.sum(X * X, axis=1) + X[:, 0]


SPD = np.array([[4.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 4.0]])


def solves_a_block(x):
    A = SPD
    return np.linalg.solve(A, x[:3]) * x[4]


def solve_pattern(n):
    expected = np.zeros((3, n), bool)
    expected[:, :3] = expected[:, 4] = True
    return expected


def zero_partials(x):
    y = np.zeros(3)
    y[0] = x[0] * x[1]        # at x[1] = 0 the partial d/dx[0] is 0, but the entry is structural
    y[1] = 0.0 * x[2]
    y[2] = np.floor(x[3]) + x[3] - x[3]
    return y


CASES = {
    "loop stencil": (stencil, 30, lambda n: tridiagonal(n)),
    "NumPy slices": (rosenbrock_residuals, 25, bidiagonal),
    "arrow": (arrow, 20, arrow_pattern),
    "helper call": (calls_a_helper, 12, skip_two),
    "axis reduction": (row_sums, 12, lambda n: np.kron(np.eye(4, dtype=bool), np.ones((1, 3), bool))),
    "linalg.solve": (solves_a_block, 6, solve_pattern),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_index_sets_give_the_closed_form_pattern(case):
    f, n, expected = CASES[case]
    x = np.random.default_rng(1).uniform(0.5, 1.5, n)
    pattern = sparsity.index_set_pattern(f, (x,), 0)
    np.testing.assert_array_equal(pattern.toarray(), expected(n))
    # Every nonzero of the numerical Jacobian lies in the pattern.
    J = numerical_jacobian(f, x).reshape(pattern.shape)
    assert not np.any((np.abs(J) > 1e-6) & ~pattern.toarray())


def test_the_pattern_is_structural_not_the_values_at_the_point():
    x = np.array([2.0, 0.0, 3.0, 1.5])
    expected = np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], bool)
    np.testing.assert_array_equal(sparsity.index_set_pattern(zero_partials, (x,), 0).toarray(), expected)


def test_detection_is_one_pass_whatever_the_size(monkeypatch):
    calls = []
    real_forward_pass = sparsity.forward_pass
    monkeypatch.setattr(sparsity, "forward_pass", lambda *a: calls.append(a[3].shape) or real_forward_pass(*a))
    n = 3000
    u = np.random.default_rng(2).uniform(-1, 1, n)
    J = adflow.jacobian(stencil, sparsity="auto", target="python")(u)
    assert calls[0] == (n, 1)   # the detection pass: one index set per input
    assert len(calls) == 2      # then one compressed pass of 3 colours
    assert J.nnz == 3 * n - 2


def test_a_function_the_sets_cannot_run_falls_back_to_nan_passes(monkeypatch, caplog):
    def refuse(*args):
        raise adflow.NonDifferentiableError("not on sets")

    monkeypatch.setattr(sparsity, "index_set_pattern", refuse)
    u = np.random.default_rng(3).uniform(-1, 1, 20)
    with caplog.at_level(logging.INFO, logger="adflow"):
        J = adflow.jacobian(stencil, sparsity="auto", target="python")(u)
    assert "NaN tangents" in caplog.text
    np.testing.assert_array_equal(J.toarray() != 0, tridiagonal(20))


def test_index_sets_do_not_outlive_the_detection():
    with pytest.raises(ZeroDivisionError):
        with propagating():
            raise ZeroDivisionError
    y = Dual(2.0, [1.0]) * 3.0
    assert y.tangents.dtype == np.float64 and y.tangents[0] == 3.0


def test_index_set_arithmetic():
    a, b = IndexSet({0, 1}), IndexSet({1, 2})
    assert (a + b).indices == (a - 2.0 * b).indices == (a * b).indices == {0, 1, 2}
    assert (0.0 * a).indices == (-a).indices == (a / 4.0).indices == {0, 1}
    assert (a + 0.0) is a and (IndexSet({1}) + a) is a

"""Rows over threads (adflow/pipeline/rows.py): a batched derivative split into ranges of rows on
several threads gives the numbers it gives on one thread, bit for bit, and against per-row
references; a part's error reaches the caller."""
import numba
import numpy as np
import pytest

import adflow
from adflow.pipeline import rows
from adflow.testing import numerical_jacobian


@pytest.fixture
def split_always(monkeypatch):
    """Every call after the first is split (the first runs on one thread: it compiles)."""
    monkeypatch.setattr(rows, "SPLIT_ABOVE", 0.0)
    calls = []
    real = rows._parts

    def parts(n, granule, threads):
        found = real(n, granule, max(threads, 3))  # three parts even on a 1- or 2-core machine
        calls.append(found)
        return found

    monkeypatch.setattr(rows, "_parts", parts)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
    return calls


def row_loss(w, x, y):
    z = np.dot(x, w)
    return np.log(1.0 + np.exp(-y * z)) + 0.01 * np.sum(w * w)


def mlp_row(x, W):
    return np.tanh(W @ np.tanh(x))


def branchy_row(x):
    # no block form (a branch on the row's values): the forward row loop on duals
    if x[0] > 0:
        return np.sin(x) * x[1]
    return np.cos(x) * 2.0


def two_outputs(x, W):
    h = np.tanh(W @ x)
    return np.array([np.sum(h * h), np.sum(np.sin(x) * h[:x.shape[0]])])


def tanh_sum(x, W):
    return np.sum(np.tanh(W @ x))


def shape_by_row(x):
    if x[0] > 0:
        return x * 2.0
    return x[1:] * 3.0


def _twice(call):
    first = call()   # one thread: compiles, and times the rows
    second = call()  # split
    return first, second


def test_parts_cover_the_rows_in_whole_granules():
    for n in range(0, 70):
        for granule in (1, 4, 32):
            for threads in (1, 2, 3, 8):
                parts = rows._parts(n, granule, threads)
                assert [i for lo, hi in parts for i in range(lo, hi)] == list(range(n))
                assert all(lo % granule == 0 for lo, _ in parts) and len(parts) <= threads


@pytest.mark.parametrize("rows_count", [1, 7, 65])
def test_per_row_gradients_split_over_threads(split_always, rows_count):
    rng = np.random.default_rng(1)
    w, X, Y = rng.normal(size=4), rng.normal(size=(rows_count, 4)), np.sign(rng.normal(size=rows_count))
    g = adflow.grad(row_loss, wrt=(0, 1), batch=(None, 0, 0))
    (gw1, gx1), (gw2, gx2) = _twice(lambda: g(w, X, Y))
    np.testing.assert_array_equal(gw1, gw2)
    np.testing.assert_array_equal(gx1, gx2)
    for i in range(rows_count):
        np.testing.assert_allclose(gx2[i], numerical_jacobian(lambda v: row_loss(w, v, Y[i]), X[i]), rtol=1e-6)
    if rows_count > 1:
        assert any(len(p) > 1 for p in split_always)


@pytest.mark.parametrize("f, mode", [(mlp_row, "forward"), (branchy_row, "forward"), pytest.param(two_outputs, "reverse", marks=pytest.mark.slow),
                                     (tanh_sum, "reverse")],
                         ids=["row blocks", "rows of duals", "reverse rows", "rows of gradients"])
def test_row_jacobians_split_over_threads(split_always, f, mode):
    rng = np.random.default_rng(2)
    X, W = rng.normal(size=(70, 3)), rng.normal(size=(4, 3))
    args = (X,) if f is branchy_row else (X, W)
    J = adflow.jacobian(f, batch=True, mode=mode)
    first, second = _twice(lambda: J(*args))
    np.testing.assert_array_equal(first, second)
    for i in (0, 33, 69):
        ref = numerical_jacobian(lambda v: f(v, *args[1:]), X[i])
        np.testing.assert_allclose(second[i], ref.reshape(second[i].shape), rtol=1e-6, atol=1e-8)
    assert any(len(p) > 1 for p in split_always)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_an_error_in_one_part_reaches_the_caller(split_always, mode):
    X = np.abs(np.random.default_rng(3).normal(size=(40, 3))) + 0.1
    J = adflow.jacobian(shape_by_row, batch=True, mode=mode)
    J(X)
    J(X)  # split, every row of one shape
    X[37, 0] = -1.0  # a row in the last part
    with pytest.raises(adflow.ShapeError, match="a row of the batch gives an output of another shape"):
        J(X)

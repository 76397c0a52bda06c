"""Row-wise MLP: the Jacobian of each row's output with respect to that row's input.

One row is ``y = tanh(W2 @ tanh(W1 @ x + b1) + b2)`` with d_in = 16, hidden = 64, d_out = 8.
Rows are independent, so the asked derivative is the stack of small per-row Jacobians
``Z[i, j, k] = dY[i, j] / dX[i, k]``, shape (2000, 8, 16), never the (2000*8) x (2000*16) whole.

Peers get the same per-row function; where a tool only offers whole-Jacobian calls (PyTorch's
``jacobian``, one-hot ``backward``, autograd) we differentiate ``sum_i Y[i, :]`` with respect to
``X``: since rows are independent, that gives every row's Jacobian in d_out passes (the standard
trick, and far cheaper than the full block-diagonal Jacobian).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, need, rel_err, rng, torch

D_IN, HIDDEN, D_OUT = 16, 64, 8


# --- the function as a numba user writes it (one row) -----------------------------------------

def mlp_row(x, W1, b1, W2, b2):
    return np.tanh(W2 @ np.tanh(W1 @ x + b1) + b2)


mlp_row_nb = numba.njit(mlp_row)


@numba.njit
def mlp_rows(X, W1, b1, W2, b2):
    """The primal over all rows: the row function in a loop, as a numba user would apply it."""
    Y = np.empty((X.shape[0], W2.shape[0]))
    for i in range(X.shape[0]):
        Y[i] = mlp_row_nb(X[i], W1, b1, W2, b2)
    return Y


# --- hand-written derivative: a per-row tangent loop ----------------------------------------------

@numba.njit
def mlp_rows_jac_hand(X, W1, b1, W2, b2):
    """For each row: one forward pass, then one tangent pass per input direction k."""
    n, d_in = X.shape
    hid, d_out = W1.shape[0], W2.shape[0]
    Z = np.empty((n, d_out, d_in))
    h = np.empty(hid)
    dh_dpre = np.empty(hid)       # tanh' at the hidden layer
    dy_dpre = np.empty(d_out)     # tanh' at the output layer
    t = np.empty(hid)
    for i in range(n):
        for a in range(hid):
            acc = b1[a]
            for k in range(d_in):
                acc += W1[a, k] * X[i, k]
            h[a] = math.tanh(acc)
            dh_dpre[a] = 1.0 - h[a] * h[a]
        for j in range(d_out):
            acc = b2[j]
            for a in range(hid):
                acc += W2[j, a] * h[a]
            y = math.tanh(acc)
            dy_dpre[j] = 1.0 - y * y
        for k in range(d_in):     # tangent along e_k
            for a in range(hid):
                t[a] = dh_dpre[a] * W1[a, k]
            for j in range(d_out):
                acc = 0.0
                for a in range(hid):
                    acc += W2[j, a] * t[a]
                Z[i, j, k] = dy_dpre[j] * acc
    return Z


# --- data -----------------------------------------------------------------------------------------

def make_data(size):
    g = rng()
    return {"X": g.standard_normal((size["n"], D_IN)),
            "W1": g.standard_normal((HIDDEN, D_IN)) / np.sqrt(D_IN),
            "b1": g.standard_normal(HIDDEN) * 0.1,
            "W2": g.standard_normal((D_OUT, HIDDEN)) / np.sqrt(HIDDEN),
            "b2": g.standard_normal(D_OUT) * 0.1}


def _args(d):
    return d["X"], d["W1"], d["b1"], d["W2"], d["b2"]


def primal(d):
    a = _args(d)
    return lambda: mlp_rows(*a)


def fd_check(d, Z):
    X, W1, b1, W2, b2 = _args(d)
    V = rng().standard_normal(X.shape)
    fd = directional_fd(lambda XX: mlp_rows(XX, W1, b1, W2, b2), X, V)
    return rel_err(np.einsum("ijk,ik->ij", Z, V), fd)


# --- columns --------------------------------------------------------------------------------------

def hand(d):
    a = _args(d)
    return lambda: mlp_rows_jac_hand(*a)


def adflow_batch(d):
    # batch=True maps the row function over the rows of X (the first argument); the weights
    # are shared by every row.
    J = adflow().jacobian(mlp_row, batch=True)
    a = _args(d)
    return lambda: J(*a)


def _jax(transform):
    def build(d):
        jx = jax()
        jnp = jx.numpy

        def row(x, W1, b1, W2, b2):
            return jnp.tanh(W2 @ jnp.tanh(W1 @ x + b1) + b2)

        J = jx.jit(jx.vmap(getattr(jx, transform)(row), in_axes=(0, None, None, None, None)))
        a = [jnp.asarray(v) for v in _args(d)]
        return lambda: np.asarray(J(*a))
    return build


def _torch_row(th):
    def row(x, W1, b1, W2, b2):
        return th.tanh(W2 @ th.tanh(W1 @ x + b1) + b2)
    return row


def _torch_func(transform):
    def build(d):
        th = torch()
        J = th.func.vmap(getattr(th.func, transform)(_torch_row(th)),
                         in_dims=(0, None, None, None, None))
        a = [th.from_numpy(v) for v in _args(d)]
        return lambda: J(*a).numpy()
    return build


def _torch_rows(th, W1, b1, W2, b2):
    """All rows at once, as a PyTorch user batches them: (n, 16) -> (n, 8)."""
    return lambda X: th.tanh(th.tanh(X @ W1.T + b1) @ W2.T + b2)


def torch_jacobian(d):
    th = torch()
    X, *w = [th.from_numpy(v) for v in _args(d)]
    rows = _torch_rows(th, *w)
    jac = th.autograd.functional.jacobian

    # d(sum_i Y[i, :]) / dX is (8, n, 16): every row's Jacobian, since rows are independent.
    return lambda: jac(lambda XX: rows(XX).sum(0), X, vectorize=True).permute(1, 0, 2).numpy()


def torch_onehot(d):
    th = torch()
    X0, *w = [th.from_numpy(v) for v in _args(d)]
    rows = _torch_rows(th, *w)

    def run():
        X = X0.clone().requires_grad_(True)
        Y = rows(X)
        Z = np.empty((X.shape[0], Y.shape[1], X.shape[1]))
        for j in range(Y.shape[1]):        # one backward per output column, all rows at once
            seed = th.zeros_like(Y)
            seed[:, j] = 1.0
            (g,) = th.autograd.grad(Y, X, seed, retain_graph=True)
            Z[:, j, :] = g.numpy()
        return Z
    return run


def autograd_jacobian(d):
    ag = need("autograd")
    anp = need("autograd.numpy")
    X, W1, b1, W2, b2 = _args(d)
    J = ag.jacobian(lambda XX: anp.sum(anp.tanh(anp.tanh(XX @ W1.T + b1) @ W2.T + b2), axis=0))
    return lambda: J(X).transpose(1, 0, 2)


PROBLEMS = [Problem(
    name="rowwise_mlp",
    title="MLP 16-64-8 applied row by row",
    derivative="row-wise Jacobian Z[i,j,k] = dY[i,j]/dX[i,k]",
    sizes={"full": {"n": 2000}, "quick": {"n": 200}},
    scale_key="n",
    probe={"full": 200, "quick": 50},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written per-row tangent loop", "hand", hand),
        Column("adflow.jacobian(batch=True)", "adflow", adflow_batch),
        Column("jax jit(vmap(jacfwd))", "jax", _jax("jacfwd")),
        Column("jax jit(vmap(jacrev))", "jax", _jax("jacrev")),
        Column("torch.func vmap(jacfwd)", "torch", _torch_func("jacfwd")),
        Column("torch.func vmap(jacrev)", "torch", _torch_func("jacrev")),
        Column("torch jacobian(vectorize) of row sum", "torch", torch_jacobian),
        Column("torch one-hot backward x8", "torch", torch_onehot),
        Column("autograd jacobian of row sum", "autograd", autograd_jacobian),
    ],
    notes=["the numba primal and the hand-written derivative are serial loops over rows; "
           "JAX and PyTorch batch all rows into matrix products"],
)]

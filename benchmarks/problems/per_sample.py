"""Per-sample gradients: the gradient of each sample's loss with respect to shared parameters.

One sample's loss is L2-regularised logistic regression, ``log(1 + exp(-y x.w)) + lam/2 |w|^2``
with d = 32 features.  The asked derivative is ``G[i] = d loss(w, X[i], y[i]) / dw``, shape
(n, d): what differentially private SGD clips and what influence estimates read, one gradient per
sample instead of their sum.

adflow asks for it as ``grad(loss, wrt=0, batch=(None, 0, 0))(w, X, y)``: the rows of X and y
batched, w shared, one compiled loop over rows spread over the cores.  JAX gets
``jit(vmap(grad(loss), in_axes=(None, 0, 0)))`` and PyTorch torch.func's per-sample-gradient recipe,
``vmap(grad(loss), in_dims=(None, 0, 0))``; both batch the rows into array operations.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, rel_err, rng, torch

D = 32
LAM = 1e-3


# --- the function as a numba user writes it (one sample) ---------------------------------------

def sample_loss(w, x, y):
    z = np.dot(x, w)
    return np.log(1.0 + np.exp(-y * z)) + 0.5 * LAM * np.sum(w * w)


sample_loss_nb = numba.njit(sample_loss)


@numba.njit(parallel=True)
def sample_losses(w, X, y):
    """The primal over all samples: the sample function in a prange loop, as a numba user applies it."""
    out = np.empty(X.shape[0])
    for i in numba.prange(X.shape[0]):
        out[i] = sample_loss_nb(w, X[i], y[i])
    return out


# --- hand-written derivative: the closed form per sample ------------------------------------------

@numba.njit(parallel=True)
def per_sample_grads_hand(w, X, y):
    n, d = X.shape
    G = np.empty((n, d))
    for i in numba.prange(n):
        z = 0.0
        for k in range(d):
            z += X[i, k] * w[k]
        s = -y[i] / (1.0 + math.exp(y[i] * z))  # d/dz log(1 + exp(-y z))
        for k in range(d):
            G[i, k] = s * X[i, k] + LAM * w[k]
    return G


# --- data ----------------------------------------------------------------------------------------

def make_data(size):
    g = rng()
    X = g.standard_normal((size["n"], D))
    w = 0.3 * g.standard_normal(D)
    y = np.where(g.uniform(size=size["n"]) < 1.0 / (1.0 + np.exp(-(X @ w))), 1.0, -1.0)
    return {"w": w, "X": X, "y": y}


def _args(d):
    return d["w"], d["X"], d["y"]


def primal(d):
    w, X, y = _args(d)
    return lambda: sample_losses(w, X, y)


def fd_check(d, G):
    # Row i of G . v against the central difference of sample i's loss along v: every row at once.
    w, X, y = _args(d)
    v = rng().standard_normal(D)
    return rel_err(G @ v, directional_fd(lambda ww: sample_losses(ww, X, y), w, v))


# --- columns ---------------------------------------------------------------------------------------

def hand(d):
    w, X, y = _args(d)
    return lambda: per_sample_grads_hand(w, X, y)


def adflow_batch(d):
    g = adflow().grad(sample_loss, wrt=0, batch=(None, 0, 0))
    w, X, y = _args(d)
    return lambda: g(w, X, y)


def jax_vmap(d):
    jx = jax()
    jnp = jx.numpy

    def loss(w, x, y):
        return jnp.log(1.0 + jnp.exp(-y * jnp.dot(x, w))) + 0.5 * LAM * jnp.sum(w * w)

    G = jx.jit(jx.vmap(jx.grad(loss), in_axes=(None, 0, 0)))
    w, X, y = (jnp.asarray(a) for a in _args(d))
    return lambda: np.asarray(G(w, X, y).block_until_ready())


def torch_vmap(d):
    th = torch()

    def loss(w, x, y):
        return th.log(1.0 + th.exp(-y * th.dot(x, w))) + 0.5 * LAM * th.sum(w * w)

    G = th.func.vmap(th.func.grad(loss), in_dims=(None, 0, 0))
    w, X, y = (th.from_numpy(a) for a in _args(d))
    return lambda: G(w, X, y).numpy()


PROBLEMS = [Problem(
    name="per_sample_grad",
    title="Per-sample gradients, logistic loss, d = 32, w shared",
    derivative="per-sample gradients G[i] = d loss(w, X[i], y[i]) / dw",
    sizes={"full": {"n": 100_000}, "quick": {"n": 5000}},
    scale_key="n",
    probe={"full": 5000, "quick": 500},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written per-sample loop (prange)", "hand", hand),
        Column("adflow.grad(wrt=0, batch=(None, 0, 0))", "adflow", adflow_batch),
        Column("jax jit(vmap(grad), in_axes=(None, 0, 0))", "jax", jax_vmap),
        Column("torch.func vmap(grad), in_dims=(None, 0, 0)", "torch", torch_vmap),
    ],
    notes=["the numba primal and the hand-written derivative loop over samples with prange, as "
           "adflow's batched gradient does; JAX and PyTorch batch the samples into array operations"],
)]

"""Lorenz batch: per-row gradients of the Lorenz loss for 100,000 initial states (T = 1,000).

Row i's loss is ``lorenz_loss(U0[i], p, T)`` (the same function as the ``lorenz`` problem) and
the asked derivative is every row's gradient with respect to its own initial state, shape
(100000, 3).  The numba primal and the hand-written derivative run the rows with ``prange``
(on CUDA this would be one thread per row).

Peers keep a tape of every step for every row at once, which does not fit in memory at full
size (~30 GB for PyTorch), so they run all rows for at most 50 steps (5 million row-steps) and
are scaled linearly in steps.  Scaling in steps rather than rows is exact up to noise: every
step does the same work, whereas per-operation overheads would make a few rows look far more
expensive per row than many.
"""
from __future__ import annotations

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, need, rel_err, rng, torch
from .lorenz import jax_loss, lorenz_grad_hand, lorenz_loss, lorenz_loss_nb

def peer_steps(size):
    """Memory cap for peers that tape every step of every row: 5 million row-steps (~2 GB)."""
    return max(10, 5_000_000 // size["rows"])


@numba.njit(parallel=True)
def lorenz_rows(U0, p, nsteps):
    """The primal: every row's loss, rows in parallel."""
    out = np.empty(U0.shape[0])
    for i in numba.prange(U0.shape[0]):
        out[i] = lorenz_loss_nb(U0[i], p, nsteps)
    return out


@numba.njit
def _row_grad_into(G, i, U0, p, nsteps):
    # A helper that writes the row (rather than `G[i] = f(...)[0]` in the prange body) makes
    # numba's parallel compilation three times faster; the run time is the same.
    du0 = lorenz_grad_hand(U0[i], p, nsteps)[0]
    G[i, 0], G[i, 1], G[i, 2] = du0[0], du0[1], du0[2]


@numba.njit(parallel=True)
def lorenz_rows_grad_hand(U0, p, nsteps):
    """Per-row gradients: the lorenz problem's hand-written adjoint, rows in parallel."""
    G = np.empty_like(U0)
    for i in numba.prange(U0.shape[0]):
        _row_grad_into(G, i, U0, p, nsteps)
    return G


# --- data -------------------------------------------------------------------------------------

def make_data(size):
    g = rng()
    return {"U0": g.standard_normal((size["rows"], 3)) + np.array([0.0, 0.0, 20.0]),
            "p": np.array([10.0, 28.0, 8.0 / 3.0]), "T": size["T"]}


def _args(d):
    return d["U0"], d["p"], d["T"]


def primal(d):
    a = _args(d)
    return lambda: lorenz_rows(*a)


def fd_check(d, G):
    U0, p, T = _args(d)
    V = rng().standard_normal(U0.shape)
    fd = directional_fd(lambda UU: lorenz_rows(UU, p, T), U0, V, h=1e-6)
    return rel_err(np.sum(G * V, axis=1), fd)


# --- columns ------------------------------------------------------------------------------------

def hand(d):
    a = _args(d)
    return lambda: lorenz_rows_grad_hand(*a)


def adflow_batch(d):
    # batch=True maps the row function over the rows of the first argument (the one
    # differentiated); the other arguments are shared by every row.
    g = adflow().grad(lorenz_loss, batch=True)
    a = _args(d)
    return lambda: g(*a)


def jax_vmap(d):
    jx = jax()
    g = jx.jit(jx.vmap(jx.grad(jax_loss(jx)), in_axes=(0, None, None)), static_argnums=2)
    U0, p, T = _args(d)
    U0, p = jx.numpy.asarray(U0), jx.numpy.asarray(p)
    return lambda: np.asarray(g(U0, p, T))


def torch_eager(d):
    """The unchanged row function on the transposed batch: ``u0[0]`` is then the x column,
    so every scalar operation acts on all rows; rows are independent, so the gradient of the
    summed losses holds every row's gradient."""
    th = torch()
    U00, p, T = th.from_numpy(d["U0"]), th.from_numpy(d["p"]), d["T"]

    def run():
        U0 = U00.clone().requires_grad_(True)
        lorenz_loss(U0.T, p, T).sum().backward()
        return U0.grad.numpy()
    return run


def torch_vmap(d):
    th = torch()
    g = th.func.vmap(th.func.grad(lorenz_loss), in_dims=(0, None, None))
    U0, p, T = th.from_numpy(d["U0"]), th.from_numpy(d["p"]), d["T"]
    return lambda: g(U0, p, T).numpy()


def autograd_batch(d):
    ag = need("autograd")
    U0, p, T = _args(d)
    # Same transposed-batch trick as torch_eager.
    g = ag.grad(lambda UU: ag.numpy.sum(lorenz_loss(UU.T, p, T)))
    return lambda: g(U0)


PROBLEMS = [Problem(
    name="lorenz_batch",
    title="Lorenz RK4 for many initial states",
    derivative="per-row gradients w.r.t. each initial state",
    sizes={"full": {"rows": 100_000, "T": 1000}, "quick": {"rows": 2000, "T": 100}},
    check_sizes={"full": {"rows": 200, "T": 100}, "quick": {"rows": 2000, "T": 100}},
    scale_key="T",
    probe={"full": 10, "quick": 10},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written prange adjoint", "hand", hand),
        Column("adflow.grad(batch=True)", "adflow", adflow_batch),
        Column("jax jit(vmap(grad)) fori_loop", "jax", jax_vmap, cap=peer_steps, probe=True),
        Column("torch eager, batch as vectors", "torch", torch_eager, cap=peer_steps, probe=True),
        Column("torch.func vmap(grad)", "torch", torch_vmap, cap=peer_steps, probe=True),
        Column("autograd, batch as vectors", "autograd", autograd_batch, cap=peer_steps,
               probe=True),
    ],
)]

"""Rosenbrock: the gradient of a scalar function of a long vector (n = 1,000,000).

Two variants of the same function, as a numba user writes them:

* ``rosenbrock``: a scalar ``for`` loop (numba's home ground; each peer gets the loop too:
  JAX as ``lax.fori_loop``, PyTorch and autograd run the unchanged Python function).
* ``rosenbrock_array``: numpy array operations (each peer gets its own array version).

The hand-written derivative, shared by both, is one forward-and-backward adjoint loop.
"""
from __future__ import annotations

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, need, rel_err, rng, torch


# --- the functions as a numba user writes them -------------------------------------------

def rosen_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def rosen_array(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


# --- hand-written derivative: the adjoint loop ----------------------------------------------

@numba.njit
def rosen_grad_hand(x):
    # Term i depends on x[i] and x[i+1] only, so the reverse sweep needs no tape: each term's
    # adjoint is 1 and its partials are added straight into the gradient.
    n = x.shape[0]
    g = np.zeros(n)
    for i in range(n - 1):
        t = x[i + 1] - x[i] ** 2
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * t
    return g


# --- data --------------------------------------------------------------------------------

def make_data(size):
    return {"x": rng().uniform(-2.0, 2.0, size["n"])}


rosen_loop_nb = numba.njit(rosen_loop)  # compiled once: timing and the FD check share it


def primal_loop(d):
    f = rosen_loop_nb
    x = d["x"]
    return lambda: f(x)


def primal_array(d):
    f = numba.njit(rosen_array)
    x = d["x"]
    return lambda: f(x)


def fd_check(d, g):
    x = d["x"]
    v = rng().standard_normal(x.shape[0])
    f = rosen_loop_nb
    return rel_err(np.dot(g, v), directional_fd(f, x, v))


# --- columns shared by both variants ------------------------------------------------------

def hand(d):
    x = d["x"]
    return lambda: rosen_grad_hand(x)


def adflow_grad(fn):
    def build(d):
        g = adflow().grad(fn)
        x = d["x"]
        return lambda: g(x)
    return build


def torch_eager(fn):
    """Eager autograd: a fresh leaf tensor, the forward pass, ``backward``."""
    def build(d):
        th = torch()
        x0 = th.from_numpy(d["x"])

        def run():
            x = x0.clone().requires_grad_(True)
            fn(x).backward()
            return x.grad.numpy()
        return run
    return build


def torch_func(fn):
    def build(d):
        th = torch()
        g = th.func.grad(fn)
        x = th.from_numpy(d["x"])
        return lambda: g(x).numpy()
    return build


def autograd_grad(fn):
    def build(d):
        g = need("autograd").grad(fn)
        x = d["x"]
        return lambda: g(x)
    return build


# --- peer ports of the loop variant ----------------------------------------------------------

def jax_loop(d):
    jx = jax()
    jnp = jx.numpy

    def f(x):
        def body(i, s):
            return s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return jx.lax.fori_loop(0, x.shape[0] - 1, body, 0.0)

    g = jx.jit(jx.grad(f))
    x = jnp.asarray(d["x"])
    return lambda: np.asarray(g(x).block_until_ready())


# --- peer ports of the array variant ---------------------------------------------------------

def jax_array(d):
    jx = jax()
    jnp = jx.numpy

    def f(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    g = jx.jit(jx.grad(f))
    x = jnp.asarray(d["x"])
    return lambda: np.asarray(g(x).block_until_ready())


def rosen_torch(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def autograd_array(d):
    anp = need("autograd.numpy")

    def f(x):
        return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return autograd_grad(f)(d)


_INDEXING = ("runs the user's loop unchanged; the backward of each x[i] scatters into a zero "
             "array of size n, so the cost tends to ~n^2 and linear scaling understates it")

SIZES = {"full": {"n": 1_000_000}, "quick": {"n": 20_000}}

LOOP = Problem(
    name="rosenbrock",
    title="Rosenbrock, scalar for-loop",
    derivative="gradient",
    sizes=SIZES,
    scale_key="n",
    probe={"full": 1000, "quick": 100},
    make_data=make_data,
    primal=primal_loop,
    fd_check=fd_check,
    columns=[
        Column("hand-written adjoint loop", "hand", hand),
        Column("adflow.grad", "adflow", adflow_grad(rosen_loop)),
        Column("jax jit(grad) fori_loop", "jax", jax_loop, probe=True),
        Column("torch eager loop", "torch", torch_eager(rosen_loop), probe=True, note=_INDEXING),
        Column("autograd grad loop", "autograd", autograd_grad(rosen_loop), probe=True,
               note=_INDEXING),
    ],
)

ARRAY = Problem(
    name="rosenbrock_array",
    title="Rosenbrock, numpy array operations",
    derivative="gradient",
    sizes=SIZES,
    scale_key="n",
    probe={"full": 1000, "quick": 100},
    make_data=make_data,
    primal=primal_array,
    fd_check=fd_check,
    columns=[
        Column("hand-written adjoint loop", "hand", hand),
        Column("adflow.grad", "adflow", adflow_grad(rosen_array)),
        Column("jax jit(grad)", "jax", jax_array),
        Column("torch eager", "torch", torch_eager(rosen_torch)),
        Column("torch.func.grad", "torch", torch_func(rosen_torch)),
        Column("autograd grad", "autograd", autograd_array),
    ],
    notes=["the hand-written adjoint is shared with rosenbrock, so its first call here "
           "finds it compiled already"],
)

PROBLEMS = [LOOP, ARRAY]

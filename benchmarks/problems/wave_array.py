"""A damped wave-equation stepper on two array states, written with whole-array updates.

``lap[1:-1] = u[2:] - 2 u[1:-1] + u[:-2]; v = v + c * lap - damping * v; u = u + dt * v`` for
``steps`` steps, then ``sum(u**2)``: the gradient with respect to the initial displacement, as a
user writes a time stepper with NumPy (fresh arrays each step, several arrays in one update).
adflow fuses each update into one loop, since every array has the initial state's length
(frontend/equal_lengths.py).  JAX gets its own port in ``lax.fori_loop``, PyTorch the same code on
tensors.  The hand-written derivative needs no tape: the stepper is linear, so its adjoint is
the transposed step, run backwards from ``2 u``.
"""
from __future__ import annotations

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, rel_err, rng, torch

C, DAMPING, DT = 0.2, 0.01, 0.1


def wave(u0, steps):
    u = u0.copy()
    v = np.zeros_like(u0)
    for t in range(steps):
        lap = np.zeros_like(u)
        lap[1:-1] = u[2:] - 2.0 * u[1:-1] + u[:-2]
        v = v + C * lap - DAMPING * v
        u = u + DT * v
    return np.sum(u ** 2)


wave_nb = numba.njit(wave)


@numba.njit
def wave_grad_hand(u0, steps):
    n = u0.shape[0]
    u, v, lap = u0.copy(), np.zeros(n), np.zeros(n)
    for t in range(steps):
        for i in range(1, n - 1):
            lap[i] = u[i + 1] - 2.0 * u[i] + u[i - 1]
        for i in range(n):
            v[i] = v[i] + C * lap[i] - DAMPING * v[i]
            u[i] = u[i] + DT * v[i]
    gu, gv = 2.0 * u, np.zeros(n)
    for t in range(steps):
        for i in range(n):  # u' = u + DT v', v' = (1 - DAMPING) v + C lap
            gv[i] = gv[i] + DT * gu[i]
            lap[i] = C * gv[i]
            gv[i] = (1.0 - DAMPING) * gv[i]
        for i in range(1, n - 1):  # lap = the stencil of u: its transpose
            gu[i + 1] += lap[i]
            gu[i] -= 2.0 * lap[i]
            gu[i - 1] += lap[i]
    return gu


def make_data(size):
    n = size["n"]
    return {"u0": np.sin(np.linspace(0.0, 3.0, n)) + 0.1 * rng().standard_normal(n), "steps": size["steps"]}


def primal(d):
    u0, steps = d["u0"], d["steps"]
    return lambda: wave_nb(u0, steps)


def fd_check(d, g):
    u0, steps = d["u0"], d["steps"]
    v = rng().standard_normal(u0.shape[0])
    return rel_err(np.dot(g, v), directional_fd(lambda u: wave_nb(u, steps), u0, v))


def hand(d):
    u0, steps = d["u0"], d["steps"]
    return lambda: wave_grad_hand(u0, steps)


def adflow_grad(d):
    g = adflow().grad(wave)
    u0, steps = d["u0"], d["steps"]
    return lambda: g(u0, steps)


def jax_grad(d):
    jx = jax()
    jnp = jx.numpy
    steps = d["steps"]

    def f(u0):
        def step(t, state):
            u, v = state
            lap = jnp.zeros_like(u).at[1:-1].set(u[2:] - 2.0 * u[1:-1] + u[:-2])
            v = v + C * lap - DAMPING * v
            return u + DT * v, v
        u, _ = jx.lax.fori_loop(0, steps, step, (u0, jnp.zeros_like(u0)))
        return jnp.sum(u ** 2)

    g = jx.jit(jx.grad(f))
    u0 = jnp.asarray(d["u0"])
    return lambda: np.asarray(g(u0).block_until_ready())


def torch_eager(d):
    th = torch()
    u00, steps = th.from_numpy(d["u0"]), d["steps"]

    def run():
        u0 = u00.clone().requires_grad_(True)
        u, v = u0.clone(), th.zeros_like(u0)
        for t in range(steps):
            lap = th.zeros_like(u)
            lap[1:-1] = u[2:] - 2.0 * u[1:-1] + u[:-2]
            v = v + C * lap - DAMPING * v
            u = u + DT * v
        (u ** 2).sum().backward()
        return u0.grad.numpy()
    return run


PROBLEMS = [Problem(
    name="wave_array",
    title="damped wave-equation stepper, whole-array updates of two states",
    derivative="gradient",
    sizes={"full": {"n": 100_000, "steps": 100}, "quick": {"n": 10_000, "steps": 20}},
    scale_key="n",
    probe={"full": 1000, "quick": 100},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written adjoint loops", "hand", hand),
        Column("adflow.grad", "adflow", adflow_grad),
        Column("jax jit(grad) fori_loop", "jax", jax_grad),
        Column("torch eager", "torch", torch_eager),
    ],
)]

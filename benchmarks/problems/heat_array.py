"""An explicit heat-equation time stepper on an array state, written with NumPy slices.

``u[1:-1] = u[1:-1] + nu * (u[2:] - 2 u[1:-1] + u[:-2])`` for ``steps`` steps, then ``sum(u**2)``:
the gradient with respect to the initial state, as a user writes the stepper (slices inside a time
loop, an in-place write).  JAX gets its own port (``.at[].set`` in ``lax.fori_loop``), PyTorch the
same slices on tensors.  The hand-written derivative is two loops per step: the stepper is linear,
so its adjoint needs no tape, only the transposed stencil.
"""
from __future__ import annotations

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, rel_err, rng, torch


def heat(u0, nu, steps):
    u = u0.copy()
    for t in range(steps):
        u[1:-1] = u[1:-1] + nu * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    return np.sum(u ** 2)


@numba.njit
def heat_grad_hand(u0, nu, steps):
    n = u0.shape[0]
    u, old = u0.copy(), np.empty(n)
    for t in range(steps):
        old[:] = u
        for i in range(1, n - 1):
            u[i] = old[i] + nu * (old[i + 1] - 2.0 * old[i] + old[i - 1])
    g, h = 2.0 * u, np.empty(n)
    for t in range(steps):  # g <- A^T g: interior rows are the stencil, the two end rows the identity
        h[:] = g
        for j in range(n):
            s = h[j] * (1.0 - 2.0 * nu) if 0 < j < n - 1 else h[j]
            if j >= 2:
                s += nu * h[j - 1]
            if j <= n - 3:
                s += nu * h[j + 1]
            g[j] = s
    return g


NU = 0.2


def make_data(size):
    n = size["n"]
    return {"u0": np.sin(np.linspace(0.0, 3.0, n)) + 0.1 * rng().standard_normal(n), "steps": size["steps"]}


heat_nb = numba.njit(heat)


def primal(d):
    u0, steps = d["u0"], d["steps"]
    return lambda: heat_nb(u0, NU, steps)


def fd_check(d, g):
    u0, steps = d["u0"], d["steps"]
    v = rng().standard_normal(u0.shape[0])
    return rel_err(np.dot(g, v), directional_fd(lambda u: heat_nb(u, NU, steps), u0, v))


def hand(d):
    u0, steps = d["u0"], d["steps"]
    return lambda: heat_grad_hand(u0, NU, steps)


def adflow_grad(d):
    g = adflow().grad(heat)
    u0, steps = d["u0"], d["steps"]
    return lambda: g(u0, NU, steps)


def jax_grad(d):
    jx = jax()
    jnp = jx.numpy
    steps = d["steps"]

    def f(u0):
        def step(t, u):
            return u.at[1:-1].set(u[1:-1] + NU * (u[2:] - 2.0 * u[1:-1] + u[:-2]))
        return jnp.sum(jx.lax.fori_loop(0, steps, step, u0) ** 2)

    g = jx.jit(jx.grad(f))
    u0 = jnp.asarray(d["u0"])
    return lambda: np.asarray(g(u0).block_until_ready())


def torch_eager(d):
    th = torch()
    u00, steps = th.from_numpy(d["u0"]), d["steps"]

    def run():
        u0 = u00.clone().requires_grad_(True)
        u = u0.clone()
        for t in range(steps):
            u[1:-1] = u[1:-1] + NU * (u[2:] - 2.0 * u[1:-1] + u[:-2])
        (u ** 2).sum().backward()
        return u0.grad.numpy()
    return run


PROBLEMS = [Problem(
    name="heat_array",
    title="heat-equation stepper, NumPy slices in a time loop",
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

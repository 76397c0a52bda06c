"""Lorenz: gradient of a long sequential loop of scalar math (T = 10,000 RK4 steps).

``lorenz_loss(u0, p, nsteps)`` integrates the Lorenz system with classical RK4 (dt = 0.01)
from the state ``u0 = (x, y, z)`` with parameters ``p = (s, r, b)`` and returns the final state's
squared norm.  The gradient is asked with respect to both ``u0`` and ``p``.

The system is chaotic: over 10,000 steps the gradient grows to ~1e39 and rounding differences
between tools grow to O(1), so correctness is checked on a 100-step horizon (where tools agree
to ~1e-14) and the timing runs the full horizon.

The same ``lorenz_loss`` and hand-written adjoint are used row by row by ``lorenz_batch``.
"""
from __future__ import annotations

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, jax, need, rel_err, rng, torch

DT = 0.01


# --- the function as a numba user writes it ---------------------------------------------------

def lorenz_loss(u0, p, nsteps):
    s = p[0]
    r = p[1]
    b = p[2]
    x = u0[0]
    y = u0[1]
    z = u0[2]
    h = 0.01
    for _ in range(nsteps):
        k1x = s * (y - x)
        k1y = x * (r - z) - y
        k1z = x * y - b * z
        x2 = x + 0.5 * h * k1x
        y2 = y + 0.5 * h * k1y
        z2 = z + 0.5 * h * k1z
        k2x = s * (y2 - x2)
        k2y = x2 * (r - z2) - y2
        k2z = x2 * y2 - b * z2
        x3 = x + 0.5 * h * k2x
        y3 = y + 0.5 * h * k2y
        z3 = z + 0.5 * h * k2z
        k3x = s * (y3 - x3)
        k3y = x3 * (r - z3) - y3
        k3z = x3 * y3 - b * z3
        x4 = x + h * k3x
        y4 = y + h * k3y
        z4 = z + h * k3z
        k4x = s * (y4 - x4)
        k4y = x4 * (r - z4) - y4
        k4z = x4 * y4 - b * z4
        x = x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + h / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    return x * x + y * y + z * z


# --- hand-written derivative: checkpoint every state, then an adjoint sweep ---------------------

@numba.njit
def _rhs(x, y, z, s, r, b):
    return s * (y - x), x * (r - z) - y, x * y - b * z


@numba.njit
def _rhs_adj(x, y, z, s, r, b, ax, ay, az):
    """Pull the cotangent (ax, ay, az) of rhs(x, y, z) back to the state and the parameters."""
    xb = -s * ax + (r - z) * ay + y * az
    yb = s * ax - ay + x * az
    zb = -x * ay - b * az
    return xb, yb, zb, (y - x) * ax, x * ay, -z * az


@numba.njit
def lorenz_grad_hand(u0, p, nsteps):
    """Gradient of ``lorenz_loss`` with respect to (u0, p), as (du0, dp).

    The forward sweep stores the state at every step (3 floats a step); the reverse sweep
    recomputes that step's four RK4 stages from it and pulls the cotangent back through them.
    """
    s, r, b = p[0], p[1], p[2]
    h = DT
    traj = np.empty((nsteps + 1, 3))
    x, y, z = u0[0], u0[1], u0[2]
    traj[0, 0], traj[0, 1], traj[0, 2] = x, y, z
    for n in range(nsteps):
        k1x, k1y, k1z = _rhs(x, y, z, s, r, b)
        k2x, k2y, k2z = _rhs(x + 0.5 * h * k1x, y + 0.5 * h * k1y, z + 0.5 * h * k1z, s, r, b)
        k3x, k3y, k3z = _rhs(x + 0.5 * h * k2x, y + 0.5 * h * k2y, z + 0.5 * h * k2z, s, r, b)
        k4x, k4y, k4z = _rhs(x + h * k3x, y + h * k3y, z + h * k3z, s, r, b)
        x = x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + h / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
        traj[n + 1, 0], traj[n + 1, 1], traj[n + 1, 2] = x, y, z

    xb, yb, zb = 2.0 * x, 2.0 * y, 2.0 * z      # d(x^2 + y^2 + z^2)
    sb = rb = bb = 0.0
    for n in range(nsteps - 1, -1, -1):
        x, y, z = traj[n, 0], traj[n, 1], traj[n, 2]
        k1x, k1y, k1z = _rhs(x, y, z, s, r, b)
        x2, y2, z2 = x + 0.5 * h * k1x, y + 0.5 * h * k1y, z + 0.5 * h * k1z
        k2x, k2y, k2z = _rhs(x2, y2, z2, s, r, b)
        x3, y3, z3 = x + 0.5 * h * k2x, y + 0.5 * h * k2y, z + 0.5 * h * k2z
        k3x, k3y, k3z = _rhs(x3, y3, z3, s, r, b)
        x4, y4, z4 = x + h * k3x, y + h * k3y, z + h * k3z
        # u' = u + h/6 (k1 + 2 k2 + 2 k3 + k4): the state's cotangent passes straight through,
        # and each stage gets its weight's share.
        c = h / 6.0
        a4x, a4y, a4z = c * xb, c * yb, c * zb
        a3x, a3y, a3z = 2 * c * xb, 2 * c * yb, 2 * c * zb
        a2x, a2y, a2z = 2 * c * xb, 2 * c * yb, 2 * c * zb
        a1x, a1y, a1z = c * xb, c * yb, c * zb
        # k4 = rhs(u + h k3)
        wx, wy, wz, ds, dr, db = _rhs_adj(x4, y4, z4, s, r, b, a4x, a4y, a4z)
        xb, yb, zb = xb + wx, yb + wy, zb + wz
        a3x, a3y, a3z = a3x + h * wx, a3y + h * wy, a3z + h * wz
        sb, rb, bb = sb + ds, rb + dr, bb + db
        # k3 = rhs(u + h/2 k2)
        wx, wy, wz, ds, dr, db = _rhs_adj(x3, y3, z3, s, r, b, a3x, a3y, a3z)
        xb, yb, zb = xb + wx, yb + wy, zb + wz
        a2x, a2y, a2z = a2x + 0.5 * h * wx, a2y + 0.5 * h * wy, a2z + 0.5 * h * wz
        sb, rb, bb = sb + ds, rb + dr, bb + db
        # k2 = rhs(u + h/2 k1)
        wx, wy, wz, ds, dr, db = _rhs_adj(x2, y2, z2, s, r, b, a2x, a2y, a2z)
        xb, yb, zb = xb + wx, yb + wy, zb + wz
        a1x, a1y, a1z = a1x + 0.5 * h * wx, a1y + 0.5 * h * wy, a1z + 0.5 * h * wz
        sb, rb, bb = sb + ds, rb + dr, bb + db
        # k1 = rhs(u)
        wx, wy, wz, ds, dr, db = _rhs_adj(x, y, z, s, r, b, a1x, a1y, a1z)
        xb, yb, zb = xb + wx, yb + wy, zb + wz
        sb, rb, bb = sb + ds, rb + dr, bb + db
    return np.array([xb, yb, zb]), np.array([sb, rb, bb])


# --- data ---------------------------------------------------------------------------------------

# One numba compilation of the primal, shared by the timing, the finite-difference check and
# lorenz_batch's rows (compiling it again would only cost start-up time).
lorenz_loss_nb = numba.njit(lorenz_loss)


def make_data(size):
    g = rng()
    return {"u0": g.standard_normal(3) + np.array([0.0, 0.0, 20.0]),
            "p": np.array([10.0, 28.0, 8.0 / 3.0]), "T": size["T"]}


def primal(d):
    f = lorenz_loss_nb
    u0, p, T = d["u0"], d["p"], d["T"]
    return lambda: f(u0, p, T)


def fd_check(d, grads):
    f = lorenz_loss_nb
    z0 = np.concatenate([d["u0"], d["p"]])
    v = rng().standard_normal(6)
    fd = directional_fd(lambda z: f(z[:3], z[3:], d["T"]), z0, v, h=1e-6)
    return rel_err(np.dot(np.concatenate(grads), v), fd)


# --- columns ------------------------------------------------------------------------------------

def hand(d):
    u0, p, T = d["u0"], d["p"], d["T"]
    return lambda: lorenz_grad_hand(u0, p, T)


def adflow_grad(d):
    g = adflow().grad(lorenz_loss, wrt=(0, 1))
    u0, p, T = d["u0"], d["p"], d["T"]
    return lambda: g(u0, p, T)


def adflow_value_and_grad(d):
    vg = adflow().value_and_grad(lorenz_loss, wrt=(0, 1))
    u0, p, T = d["u0"], d["p"], d["T"]
    return lambda: vg(u0, p, T)[1]


def jax_loss(jx):
    """The JAX port: the loop body as a ``lax.fori_loop`` step over the carried state."""
    def loss(u0, p, nsteps):
        s, r, b = p[0], p[1], p[2]
        h = DT

        def step(_, u):
            x, y, z = u
            k1x, k1y, k1z = s * (y - x), x * (r - z) - y, x * y - b * z
            x2, y2, z2 = x + 0.5 * h * k1x, y + 0.5 * h * k1y, z + 0.5 * h * k1z
            k2x, k2y, k2z = s * (y2 - x2), x2 * (r - z2) - y2, x2 * y2 - b * z2
            x3, y3, z3 = x + 0.5 * h * k2x, y + 0.5 * h * k2y, z + 0.5 * h * k2z
            k3x, k3y, k3z = s * (y3 - x3), x3 * (r - z3) - y3, x3 * y3 - b * z3
            x4, y4, z4 = x + h * k3x, y + h * k3y, z + h * k3z
            k4x, k4y, k4z = s * (y4 - x4), x4 * (r - z4) - y4, x4 * y4 - b * z4
            return (x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
                    y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y),
                    z + h / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z))

        x, y, z = jx.lax.fori_loop(0, nsteps, step, (u0[0], u0[1], u0[2]))
        return x * x + y * y + z * z
    return loss


def jax_grad(d):
    jx = jax()
    g = jx.jit(jx.grad(jax_loss(jx), argnums=(0, 1)), static_argnums=2)
    u0, p, T = jx.numpy.asarray(d["u0"]), jx.numpy.asarray(d["p"]), d["T"]

    def run():
        a, b = g(u0, p, T)
        return np.asarray(a), np.asarray(b)
    return run


def torch_eager(d):
    """The user's function unchanged, on 0-d tensors: one autograd node per scalar operation."""
    th = torch()
    u00, p0, T = th.from_numpy(d["u0"]), th.from_numpy(d["p"]), d["T"]

    def run():
        u0 = u00.clone().requires_grad_(True)
        p = p0.clone().requires_grad_(True)
        lorenz_loss(u0, p, T).backward()
        return u0.grad.numpy(), p.grad.numpy()
    return run


def torch_func(d):
    th = torch()
    g = th.func.grad(lorenz_loss, argnums=(0, 1))
    u0, p, T = th.from_numpy(d["u0"]), th.from_numpy(d["p"]), d["T"]

    def run():
        a, b = g(u0, p, T)
        return a.numpy(), b.numpy()
    return run


def autograd_grad(d):
    ag = need("autograd")
    T = d["T"]
    # One reverse pass for both arguments: differentiate with respect to their concatenation.
    g = ag.grad(lambda zz: lorenz_loss(zz[:3], zz[3:], T))
    z0 = np.concatenate([d["u0"], d["p"]])

    def run():
        gz = g(z0)
        return gz[:3], gz[3:]
    return run


_LOOP = "the user's Python loop runs unchanged, one tape node per scalar operation"

PROBLEMS = [Problem(
    name="lorenz",
    title="Lorenz RK4, scalar for-loop over steps",
    derivative="gradient w.r.t. initial state and params",
    sizes={"full": {"T": 10_000}, "quick": {"T": 2_000}},
    check_sizes={"full": {"T": 100}, "quick": {"T": 100}},
    scale_key="T",
    probe={"full": 500, "quick": 25},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written adjoint loop", "hand", hand),
        Column("adflow.grad(wrt=(0,1))", "adflow", adflow_grad),
        Column("adflow.value_and_grad", "adflow", adflow_value_and_grad,
               full_only=True),
        Column("jax jit(grad) fori_loop", "jax", jax_grad),
        Column("torch eager loop", "torch", torch_eager, probe=True, note=_LOOP),
        Column("torch.func.grad loop", "torch", torch_func, probe=True, note=_LOOP),
        Column("autograd grad loop", "autograd", autograd_grad, probe=True, note=_LOOP),
    ],
)]

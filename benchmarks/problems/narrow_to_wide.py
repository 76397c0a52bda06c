"""Narrow to wide: the full 2000 x 8 Jacobian of ``y = B @ tanh(x) + sin(B @ x)``.

Eight inputs, 2000 outputs: forward mode needs 8 passes (or one chunk of 8 tangents) where
reverse mode needs 2000, so forward (or adflow's "auto") should win.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, rel_err, rng
from ._jacobians import peer_columns

N = 8


# --- the function as a numba user writes it -------------------------------------------------

def narrow_to_wide(x, B):
    return B @ np.tanh(x) + np.sin(B @ x)


narrow_to_wide_nb = numba.njit(narrow_to_wide)


# --- hand-written derivative: one forward sweep carrying a chunk of all 8 tangents -----------

@numba.njit
def narrow_to_wide_jac_hand(x, B):
    m, n = B.shape
    # Seeding tangent k with e_k makes the tangent of tanh(x) along e_k equal tanh'(x_k) e_k.
    dtanh = np.empty(n)
    for k in range(n):
        t = math.tanh(x[k])
        dtanh[k] = 1.0 - t * t
    J = np.empty((m, n))
    du = np.empty(n)          # tangents of u_i = (B @ x)_i along e_0..e_{n-1}: the chunk
    for i in range(m):
        u = 0.0
        for k in range(n):
            u += B[i, k] * x[k]
            du[k] = B[i, k]
        cu = math.cos(u)
        for k in range(n):
            J[i, k] = B[i, k] * dtanh[k] + cu * du[k]
    return J


# --- data -------------------------------------------------------------------------------------

def make_data(size):
    g = rng()
    return {"x": g.standard_normal(N), "B": g.standard_normal((size["m"], N))}


def _args(d):
    return d["x"], d["B"]


def primal(d):
    x, B = _args(d)
    return lambda: narrow_to_wide_nb(x, B)


def fd_check(d, J):
    x, B = _args(d)
    v = rng().standard_normal(x.shape[0])
    return rel_err(J @ v, directional_fd(lambda xx: narrow_to_wide_nb(xx, B), x, v))


def port(xp):
    def f(x, B):
        return B @ xp.tanh(x) + xp.sin(B @ x)
    return f


def hand(d):
    x, B = _args(d)
    return lambda: narrow_to_wide_jac_hand(x, B)


def adflow_jacobian(mode):
    def build(d):
        J = adflow().jacobian(narrow_to_wide, mode=mode)
        x, B = _args(d)
        return lambda: J(x, B)
    return build


PROBLEMS = [Problem(
    name="narrow_to_wide",
    title="y = B @ tanh(x) + sin(B @ x), B is m x 8",
    derivative="full Jacobian (m x 8): forward mode should win",
    sizes={"full": {"m": 2000}, "quick": {"m": 500}},
    scale_key="m",
    probe={"full": 200, "quick": 50},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written chunked tangent loop", "hand", hand),
        Column("adflow.jacobian(mode='auto')", "adflow", adflow_jacobian("auto")),
        Column("adflow.jacobian(mode='forward')", "adflow", adflow_jacobian("forward"),
               full_only=True),
        Column("adflow.jacobian(mode='reverse')", "adflow", adflow_jacobian("reverse"),
               full_only=True),
        *peer_columns(port, _args, onehot_probe=True),
    ],
)]

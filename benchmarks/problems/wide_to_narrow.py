"""Wide to narrow: the full 8 x 2000 Jacobian of ``y = A @ sin(x) * (1 + sum(cos(x)) / n)``.

Eight outputs, 2000 inputs: reverse mode needs 8 passes where forward mode needs 2000, so
reverse (or adflow's "auto") should win; the forward-mode columns are there to show it.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..core import Column, Problem, adflow, directional_fd, rel_err, rng
from ._jacobians import peer_columns

M = 8


# --- the function as a numba user writes it -------------------------------------------------

def wide_to_narrow(x, A):
    return A @ np.sin(x) * (1.0 + np.sum(np.cos(x)) / x.shape[0])


wide_to_narrow_nb = numba.njit(wide_to_narrow)


# --- hand-written derivative: one adjoint sweep per output -----------------------------------

@numba.njit
def wide_to_narrow_jac_hand(x, A):
    m, n = A.shape
    sx = np.empty(n)
    cx = np.empty(n)
    csum = 0.0
    for k in range(n):
        sx[k] = math.sin(x[k])
        cx[k] = math.cos(x[k])
        csum += cx[k]
    q = 1.0 + csum / n
    J = np.empty((m, n))
    for j in range(m):
        u = 0.0                       # u_j = (A @ sin(x))_j
        for k in range(n):
            u += A[j, k] * sx[k]
        # y_j = u_j * q, seeded with ybar_j = 1: ubar_j = q, qbar = u_j, and
        # xbar_k = ubar_j A[j, k] cos(x_k) + qbar (1/n) (-sin(x_k)).
        ubar, qbar = q, u
        for k in range(n):
            J[j, k] = ubar * A[j, k] * cx[k] - qbar / n * sx[k]
    return J


# --- data -------------------------------------------------------------------------------------

def make_data(size):
    g = rng()
    return {"x": g.standard_normal(size["n"]), "A": g.standard_normal((M, size["n"]))}


def _args(d):
    return d["x"], d["A"]


def primal(d):
    x, A = _args(d)
    return lambda: wide_to_narrow_nb(x, A)


def fd_check(d, J):
    x, A = _args(d)
    v = rng().standard_normal(x.shape[0])
    return rel_err(J @ v, directional_fd(lambda xx: wide_to_narrow_nb(xx, A), x, v))


def port(xp):
    def f(x, A):
        return A @ xp.sin(x) * (1.0 + xp.sum(xp.cos(x)) / x.shape[0])
    return f


def hand(d):
    x, A = _args(d)
    return lambda: wide_to_narrow_jac_hand(x, A)


def adflow_jacobian(mode):
    def build(d):
        J = adflow().jacobian(wide_to_narrow, mode=mode)
        x, A = _args(d)
        return lambda: J(x, A)
    return build


PROBLEMS = [Problem(
    name="wide_to_narrow",
    title="y = A @ sin(x) * (1 + sum(cos x)/n), A is 8 x n",
    derivative="full Jacobian (8 x n): reverse mode should win",
    sizes={"full": {"n": 2000}, "quick": {"n": 500}},
    scale_key="n",
    probe={"full": 200, "quick": 50},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written adjoint sweeps x8", "hand", hand),
        Column("adflow.jacobian(mode='auto')", "adflow", adflow_jacobian("auto")),
        Column("adflow.jacobian(mode='reverse')", "adflow", adflow_jacobian("reverse"),
               full_only=True),
        Column("adflow.jacobian(mode='forward')", "adflow", adflow_jacobian("forward"),
               full_only=True),
        *peer_columns(port, _args),
    ],
)]

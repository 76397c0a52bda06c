"""Sparse PDE residual: the full Jacobian of a 1-D Bratu-type finite-difference residual.

``F(u)[i] = u[i-1] - 2 u[i] + u[i+1] + h^2 exp(u[i])`` with zero boundaries, h = 1/(n+1),
n = 5,000.  The Jacobian is tridiagonal: a dense Jacobian costs n forward (or reverse) passes
and a 5000 x 5000 array, where colouring the columns (j mod 3: columns of one colour never
share a row) recovers every nonzero from 3 forward passes.

Peers have no automatic sparsity: they get the dense Jacobian, plus one JAX column where the
user colours by hand (``vmap`` of three ``jvp``), JAX's practical limit for this problem.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse

from ..core import Column, Problem, adflow, directional_fd, jax, rel_err, rng
from ._jacobians import peer_columns


# --- the function as a numba user writes it -------------------------------------------------

def pde_residual(u):
    n = u.shape[0]
    h = 1.0 / (n + 1)
    F = np.empty(n)
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        F[i] = left - 2.0 * u[i] + right + h * h * np.exp(u[i])
    return F


pde_residual_nb = numba.njit(pde_residual)


# --- hand-written derivative: 3-colour compressed Jacobian -------------------------------------

def tridiagonal_pattern(n):
    """CSR indices and row pointers of an n x n tridiagonal matrix."""
    rows = [np.arange(max(0, i - 1), min(n, i + 2)) for i in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    return np.concatenate(rows), indptr


@numba.njit
def pde_jac_coloured(u, indices, indptr):
    """CSR values of dF/du from one tangent sweep carrying 3 seeds, the colours j mod 3."""
    n = u.shape[0]
    h = 1.0 / (n + 1)
    C = np.zeros((n, 3))          # C[:, c] = J @ seed_c, the compressed Jacobian
    for i in range(n):
        # The tangent of F[i] along seed c is the sum of the partials dF[i]/du[j] over the
        # neighbours j of colour c; seed c has du[j] = 1 exactly where j % 3 == c.
        C[i, i % 3] += -2.0 + h * h * math.exp(u[i])
        if i > 0:
            C[i, (i - 1) % 3] += 1.0
        if i < n - 1:
            C[i, (i + 1) % 3] += 1.0
    # Decompress: in row i, column j is the only column of its colour, so J[i, j] = C[i, j % 3].
    data = np.empty(indices.shape[0])
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            data[p] = C[i, indices[p] % 3]
    return data


# --- data -------------------------------------------------------------------------------------

def make_data(size):
    n = size["n"]
    indices, indptr = tridiagonal_pattern(n)
    return {"u": rng().uniform(0.0, 1.0, n), "indices": indices, "indptr": indptr}


def primal(d):
    u = d["u"]
    return lambda: pde_residual_nb(u)


def fd_check(d, J):
    u = d["u"]
    v = rng().standard_normal(u.shape[0])
    return rel_err(J @ v, directional_fd(pde_residual_nb, u, v))


def hand(d):
    u, indices, indptr = d["u"], d["indices"], d["indptr"]
    n = u.shape[0]

    def run():
        data = pde_jac_coloured(u, indices, indptr)
        return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    return run


def adflow_jacobian(**kw):
    def build(d):
        J = adflow().jacobian(pde_residual, **kw)
        u = d["u"]
        return lambda: J(u)
    return build


def port(xp):
    """The residual with array operations (what a user of an array library writes)."""
    def F(u):
        n = u.shape[0]
        h = 1.0 / (n + 1)
        zero = u[:1] * 0.0
        left = xp.concatenate([zero, u[:-1]])
        right = xp.concatenate([u[1:], zero])
        return left - 2.0 * u + right + h * h * xp.exp(u)
    return F


def jax_coloured(d):
    """Hand colouring in JAX: three jvps at once, then the same decompression as above."""
    jx = jax()
    jnp = jx.numpy
    F = port(jnp)
    u_np, indices, indptr = d["u"], d["indices"], d["indptr"]
    n = u_np.shape[0]
    seeds = jnp.asarray((np.arange(n)[None, :] % 3 == np.arange(3)[:, None]).astype(float))
    compressed = jx.jit(lambda u: jx.vmap(lambda s: jx.jvp(F, (u,), (s,))[1])(seeds))
    rows = np.repeat(np.arange(n), np.diff(indptr))
    colours = indices % 3
    u = jnp.asarray(u_np)

    def run():
        C = np.asarray(compressed(u))          # (3, n)
        return scipy.sparse.csr_matrix((C[colours, rows], indices, indptr), shape=(n, n))
    return run


PROBLEMS = [Problem(
    name="sparse_pde",
    title="1-D finite-difference residual, tridiagonal Jacobian",
    derivative="full Jacobian (n x n, 3n-2 nonzeros)",
    sizes={"full": {"n": 5000}, "quick": {"n": 500}},
    scale_key="n",
    probe={"full": 500, "quick": 100},
    make_data=make_data,
    primal=primal,
    fd_check=fd_check,
    columns=[
        Column("hand-written 3-colour tangent sweep", "hand", hand),
        Column("adflow.jacobian(sparsity='auto')", "adflow", adflow_jacobian(sparsity="auto")),
        Column("adflow.jacobian (dense)", "adflow", adflow_jacobian(),
               full_only=True),
        Column("jax 3 colours by hand, vmap(jvp)", "jax", jax_coloured),
        *peer_columns(port, lambda d: (d["u"],), onehot_probe=True),
    ],
    notes=["sparse results (hand-written, adflow sparsity='auto', JAX coloured) are "
           "scipy.sparse CSR matrices, and their times include building it (~40 us); the "
           "other columns return dense n x n arrays"],
)]

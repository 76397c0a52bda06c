"""GradBench ``gmm``: log posterior of a Gaussian mixture model with a Wishart prior, and its gradient.

The objective is ADBench's GMM objective as GradBench specifies it (evals/gmm/README.md): the
precision matrix of component ``k`` is ``Q_k^T Q_k`` where ``Q_k`` is lower triangular with
diagonal ``exp(q[k])`` and strictly lower part ``l[k]`` filled column by column.  It is written
as loops over points, components and dimensions, as for ``numba.njit``.

``objective``: the loops compiled by numba.  ``jacobian``: ``adflow.grad`` with respect to
``(alpha, mu, q, l)`` (one reverse sweep), returned as the eval's ``Independent`` record.
"""
from __future__ import annotations

import math

import numba
import numpy as np

import adflow

from ._runs import Function, floats, tolist


@numba.njit(cache=True)
def log_gamma_distrib(a, p):
    # log of the multivariate gamma function Gamma_p(a): a constant of the prior
    out = 0.25 * p * (p - 1) * math.log(math.pi)
    for j in range(1, p + 1):
        out = out + math.lgamma(a + 0.5 * (1 - j))
    return out


@numba.njit(cache=True)  # a helper the compiled objective calls; adflow differentiates its source
def log_sum_exp(v):
    # log(sum(exp(v))), shifted by the largest entry so that no exp overflows
    mx = v[0]
    for c in range(1, v.shape[0]):
        if v[c] > mx:
            mx = v[c]
    se = 0.0
    for c in range(v.shape[0]):
        se += math.exp(v[c] - mx)
    return math.log(se) + mx


def gmm_objective(alpha, mu, q, l, x, gamma, m):
    n = x.shape[0]
    d = x.shape[1]
    k = alpha.shape[0]
    xc = np.zeros(d)
    qx = np.zeros(d)
    main_term = np.zeros(k)
    sum_qs = np.zeros(k)
    for c in range(k):
        for j in range(d):
            sum_qs[c] += q[c, j]

    slse = 0.0
    for i in range(n):
        for c in range(k):
            for j in range(d):
                xc[j] = x[i, j] - mu[c, j]
            # Q_c (x_i - mu_c): the diagonal, then the strictly lower part column by column
            for j in range(d):
                qx[j] = math.exp(q[c, j]) * xc[j]
            idx = 0
            for j in range(d):
                for r in range(j + 1, d):
                    qx[r] += l[c, idx] * xc[j]
                    idx += 1
            sq = 0.0
            for j in range(d):
                sq += qx[j] * qx[j]
            main_term[c] = alpha[c] + sum_qs[c] - 0.5 * sq
        slse += log_sum_exp(main_term)

    lse_alpha = log_sum_exp(alpha)

    # Wishart prior on the precision matrices
    dof = d + m + 1
    const = dof * d * (math.log(gamma) - 0.5 * math.log(2.0)) - log_gamma_distrib(0.5 * dof, d)
    prior = 0.0
    for c in range(k):
        frobenius = 0.0
        for j in range(d):
            e = math.exp(q[c, j])
            frobenius += e * e
        for j in range(l.shape[1]):
            frobenius += l[c, j] * l[c, j]
        prior += 0.5 * gamma * gamma * frobenius - m * sum_qs[c]

    return -n * d * 0.5 * math.log(2.0 * math.pi) + slse - n * lse_alpha - prior + k * const


objective_compiled = numba.njit(cache=True)(gmm_objective)
gradient_of_gmm = adflow.grad(gmm_objective, wrt=(0, 1, 2, 3), target="cpu")


def _prepare(input):
    d = int(input["d"])
    k = int(input["k"])
    m = int(input["m"])
    l = floats(input["l"])
    if l.size == 0:  # d = 1: no strictly lower part
        l = np.zeros((k, 0))
    return (floats(input["alpha"]), floats(input["mu"]).reshape(k, d), floats(input["q"]).reshape(k, d),
            l.reshape(k, d * (d - 1) // 2), floats(input["x"]).reshape(-1, d), float(input["gamma"]), m)


def _independent(grads):
    alpha, mu, q, l = grads
    return {"alpha": tolist(alpha), "mu": tolist(mu), "q": tolist(q), "l": tolist(l)}


FUNCTIONS = {
    "objective": Function(_prepare, objective_compiled, float),
    "jacobian": Function(_prepare, gradient_of_gmm, _independent),
}

"""Newton's method for optimisation with exact Hessians: ``adflow.hessian`` and ``adflow.hvp``.

The objective is L2-regularised logistic regression written as loops over samples and features,
with a numerically stable ``softplus`` helper (helpers and their branches are differentiated
too).  It is strictly
convex, so Newton's method converges quadratically.  Two ways to use second derivatives:

1. ``adflow.hessian(f)(w, ...)``: the dense d x d Hessian by forward-over-reverse (dual numbers
   pushed through the compiled reverse sweep, ``ceil(d / 12)`` passes); each Newton step solves
   ``H p = -g``.
2. ``adflow.hvp(f)(w, v, ...)``: ``H v`` in one pass, without forming ``H``, for SciPy's
   ``minimize(..., method="Newton-CG", hessp=...)``.  The vector comes right after the argument
   it is a direction for, as SciPy calls ``hessp(x, p, *args)``: ``hessp=adflow.hvp(f)`` fits
   as it is, with ``args=`` too.

Both are checked against the closed form H = X^T diag(p (1 - p)) X / N + lam I.

Run:  python examples/newton_hessian.py          (N = 20,000 samples, d = 40 features)
      python examples/newton_hessian.py --fast   (N = 500, d = 5)
"""
import math
import sys
import time

import numba
import numpy as np
import scipy.optimize

import adflow


@numba.njit  # so that numba.njit(logistic_loss) can call it; adflow reads the Python source
def softplus(t):
    """log(1 + exp(t)), without overflow for large t.

    Written with a branch rather than as ``max(t, 0) + log1p(exp(-abs(t)))``: both are exact, but
    the second has kinks at t = 0 that cancel in the value only, so its derivatives *at exactly
    0* follow the kink conventions (sign(0) = 0) and the second derivative there comes out 0,
    not 1/4.  Newton from w = 0 (all margins 0) would then take a wild first step.
    """
    if t > 0.0:
        return t + math.log1p(math.exp(-t))
    return math.log1p(math.exp(t))


def logistic_loss(w, X, y, lam):
    """Mean of log(1 + exp(-y_i <x_i, w>)) over the samples, plus lam / 2 |w|^2 (labels y_i = +-1)."""
    total = 0.0
    for i in range(X.shape[0]):
        margin = 0.0
        for j in range(X.shape[1]):
            margin = margin + X[i, j] * w[j]
        total = total + softplus(-y[i] * margin)
    return total / X.shape[0] + 0.5 * lam * np.sum(w * w)


def closed_form_hessian(w, X, y, lam):
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return (X.T * (p * (1.0 - p))) @ X / X.shape[0] + lam * np.eye(w.size)


def main(fast=False):
    n, d = (500, 5) if fast else (20_000, 40)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = np.where(rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(X @ w_true))), 1.0, -1.0)
    lam = 1e-3
    data = (X, y, lam)

    grad = adflow.grad(logistic_loss)
    hess = adflow.hessian(logistic_loss)
    hvp = adflow.hvp(logistic_loss)

    # Checks at a random point: gradient and Hessian against their closed forms, hvp against H @ v.
    w = 0.1 * rng.standard_normal(d)
    p = 1.0 / (1.0 + np.exp(-y * (X @ w)))
    g_exact = -(X.T @ (y * (1.0 - p))) / n + lam * w
    np.testing.assert_allclose(grad(w, *data), g_exact, rtol=1e-12, atol=1e-15)
    H = hess(w, *data)
    err = np.max(np.abs(H - closed_form_hessian(w, *data)))
    print(f"Hessian {H.shape} against the closed form: max abs err {err:.1e}")
    assert err < 1e-12, err
    v = rng.standard_normal(d)
    np.testing.assert_allclose(hvp(w, v, *data), H @ v, rtol=1e-12, atol=1e-14)
    print("hvp(w, v, X, y, lam) == hessian(w, X, y, lam) @ v")

    # 1. Newton's method with the dense Hessian: quadratic convergence from w = 0.
    w = np.zeros(d)
    start = time.perf_counter()
    norms = []
    for _ in range(30):
        g = grad(w, *data)
        norms.append(np.max(np.abs(g)))
        if norms[-1] < 1e-12:
            break
        w = w - np.linalg.solve(hess(w, *data), g)
    elapsed = time.perf_counter() - start
    print(f"\n1. Newton with adflow.hessian, N = {n}, d = {d}: {len(norms) - 1} steps, {elapsed:.2f} s")
    print("   max |gradient| per step: " + "  ".join(f"{g:.1e}" for g in norms))
    assert norms[-1] < 1e-12 and len(norms) <= 12, norms
    w_newton = w

    # 2. Newton-CG in SciPy: H only through Hessian-vector products.
    loss = numba.njit(logistic_loss)
    start = time.perf_counter()
    res = scipy.optimize.minimize(loss, np.zeros(d), args=data, jac=grad, method="Newton-CG",
                                  hessp=hvp, options={"xtol": 1e-12})
    elapsed = time.perf_counter() - start
    print(f"2. scipy Newton-CG with adflow.hvp: {res.nit} iterations, {res.nhev} Hessian-vector "
          f"products, {elapsed:.2f} s (numba compiling the loss included)")
    print(f"   max |w_newton_cg - w_newton| = {np.max(np.abs(res.x - w_newton)):.1e}")
    assert res.success and np.allclose(res.x, w_newton, rtol=0.0, atol=1e-5), res
    return w_newton


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

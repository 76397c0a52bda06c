"""Newton's method for a nonlinear PDE with a sparse Jacobian: the 1-D Bratu problem.

    u'' + exp(u) = 0 on (0, 1),  u(0) = u(1) = 0,

discretised on n interior points (h = 1 / (n + 1)) as the residual

    F(u)[i] = u[i-1] - 2 u[i] + u[i+1] + h^2 exp(u[i])   (u[-1] = u[n] = 0).

``adflow.jacobian(bratu, sparsity="auto")`` finds the tridiagonal pattern at the first call,
colours the columns (3 colours, whatever n) and from then on computes each Jacobian from one
forward pass carrying 3 directions, returned as a ``scipy.sparse.csr_array`` ready for
``scipy.sparse.linalg.spsolve``.  The dense Jacobian would take n / 12 forward passes and n^2
numbers.

The discrete solution is compared with the exact one,
u(x) = -2 log(cosh((x - 1/2) theta / 2) / cosh(theta / 4)) with theta = sqrt(2) cosh(theta / 4):
the error must shrink like h^2.

Run:  python examples/bratu_sparse_newton.py          (n = 20,000)
      python examples/bratu_sparse_newton.py --fast   (n = 200, also checked against the dense Jacobian)
"""
import math
import sys
import time

import numba
import numpy as np
import scipy.optimize
import scipy.sparse.linalg

import adflow


def bratu(u):
    n = u.shape[0]
    h = 1.0 / (n + 1)
    F = np.zeros(n)
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        F[i] = left - 2.0 * u[i] + right + h * h * math.exp(u[i])
    return F


def exact_solution(x):
    theta = scipy.optimize.brentq(lambda t: t - math.sqrt(2.0) * math.cosh(t / 4.0), 0.0, 4.0)
    return -2.0 * np.log(np.cosh((x - 0.5) * theta / 2.0) / math.cosh(theta / 4.0))


def newton(residual, jac, u, tol=1e-12, max_steps=20):
    """Solve F(u) = 0 from u; stop when the Newton step is below tol (relative to max |u|)."""
    residuals = []
    for _ in range(max_steps):
        F = residual(u)
        residuals.append(np.max(np.abs(F)))
        J = jac(u)                                        # scipy.sparse.csr_array, n x n
        du = scipy.sparse.linalg.spsolve(J.tocsc(), -F)
        u = u + du
        if np.max(np.abs(du)) < tol * max(np.max(np.abs(u)), 1.0):
            break
    residuals.append(np.max(np.abs(residual(u))))
    return u, residuals


def main(fast=False):
    n = 200 if fast else 20_000
    jac = adflow.jacobian(bratu, sparsity="auto")

    start = time.perf_counter()
    J0 = jac(np.zeros(n))                                 # detects the pattern, colours, computes
    first = time.perf_counter() - start
    print(f"n = {n}: pattern with {J0.nnz} nonzeros ({J0.nnz / n:.2f} per row), {jac.colors} colours")
    print(f"  plan: {jac.plan}")
    start = time.perf_counter()
    jac(np.zeros(n))
    again = time.perf_counter() - start
    print(f"  first call (compilation, pattern detection, colouring) {first:.2f} s; then {again * 1e3:.2f} ms")
    assert jac.colors == 3 and J0.nnz == 3 * n - 2

    if fast:  # the sparse Jacobian holds exactly the dense one's nonzeros
        u = np.random.default_rng(0).uniform(0.0, 0.2, n)
        dense = adflow.jacobian(bratu)(u)
        np.testing.assert_allclose(jac(u).toarray(), dense, rtol=1e-14, atol=0.0)
        print("  equal to the dense forward-mode Jacobian at a random point")

    start = time.perf_counter()
    u, residuals = newton(numba.njit(bratu), jac, np.zeros(n))
    elapsed = time.perf_counter() - start
    print(f"Newton: {len(residuals) - 1} steps in {elapsed:.2f} s; max |F| per step:")
    print("  " + "  ".join(f"{r:.1e}" for r in residuals))
    # quadratic convergence: the residual falls to rounding level (u is O(0.1)) in a few steps
    assert len(residuals) <= 7 and residuals[-1] < 10 * np.finfo(float).eps, residuals

    x = np.arange(1, n + 1) / (n + 1)
    err = np.max(np.abs(u - exact_solution(x)))
    h = 1.0 / (n + 1)
    print(f"max |u - u_exact| = {err:.2e}  (h^2 = {h * h:.2e}); max u = {u.max():.6f}")
    assert err < 0.1 * h * h, err
    return u


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

"""Minimise the n-dimensional Rosenbrock function with SciPy's L-BFGS-B and an adflow gradient.

The objective is a plain scalar loop, exactly as you would write it for numba.  adflow turns it
into a compiled adjoint loop; SciPy only needs a callable that returns the gradient:

    scipy.optimize.minimize(fun, x0, jac=adflow.grad(rosenbrock), method="L-BFGS-B")

or one callable returning both, from one forward and one reverse sweep:

    scipy.optimize.minimize(adflow.value_and_grad(rosenbrock), x0, jac=True, method="L-BFGS-B")

Run:  python examples/rosenbrock_lbfgs.py          (n = 500)
      python examples/rosenbrock_lbfgs.py --fast   (n = 20, what tests/test_examples.py runs)
"""
import sys
import time

import numba
import numpy as np
import scipy.optimize

import adflow


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def main(fast=False):
    n = 20 if fast else 500
    x0 = np.tile([-1.2, 1.0], n // 2)            # the classic starting point, repeated

    fun = numba.njit(rosenbrock)                  # the value, compiled as written
    grad = adflow.grad(rosenbrock)                # the gradient: a compiled reverse sweep
    fun(x0)                                       # compile both before the timed run

    # Check the gradient once against central differences before trusting the optimiser with it.
    g0 = grad(x0)
    eps = 1e-6
    fd = np.array([(rosenbrock(x0 + eps * e) - rosenbrock(x0 - eps * e)) / (2 * eps)
                   for e in np.eye(n)[:10]])
    err = np.max(np.abs(g0[:10] - fd)) / np.max(np.abs(fd))
    print(f"gradient at x0 vs central differences (first 10 entries): max rel err {err:.1e}")
    assert err < 1e-7, err

    start = time.perf_counter()
    res = scipy.optimize.minimize(fun, x0, jac=grad, method="L-BFGS-B",
                                  options={"maxiter": 20000, "gtol": 1e-9, "ftol": 1e-15})
    elapsed = time.perf_counter() - start
    print(f"L-BFGS-B, n = {n}: {res.message}")
    print(f"  {res.nit} iterations, {res.nfev} evaluations of f and of its gradient, {elapsed:.2f} s")
    print(f"  f(x*) = {res.fun:.3e}, max |x* - 1| = {np.max(np.abs(res.x - 1.0)):.2e}")
    assert res.success and np.allclose(res.x, 1.0, atol=1e-4), res

    # The same with one call per iteration: value_and_grad shares the forward sweep, jac=True.
    res2 = scipy.optimize.minimize(adflow.value_and_grad(rosenbrock), x0, jac=True, method="L-BFGS-B",
                                   options={"maxiter": 20000, "gtol": 1e-9, "ftol": 1e-15})
    print(f"  with jac=True and adflow.value_and_grad(rosenbrock): {res2.nit} iterations, "
          f"max |x* - 1| = {np.max(np.abs(res2.x - 1.0)):.2e}")
    assert res2.success and np.allclose(res2.x, 1.0, atol=1e-4), res2

    if fast:  # without a gradient SciPy differences f: n + 1 evaluations per gradient
        res3 = scipy.optimize.minimize(fun, x0, method="L-BFGS-B")
        print(f"  without jac= (finite differences): {res3.nfev} evaluations of f for {res3.nit} iterations")
    return res


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

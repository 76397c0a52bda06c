"""Sensitivities of a Lorenz-63 trajectory to its parameters and initial state (RK4 in a loop).

``lorenz_loss`` integrates the Lorenz system with the classical Runge-Kutta scheme, a plain
``for`` loop over scalars, and returns the squared distance from the origin at the end.
``adflow.grad(lorenz_loss, wrt=(0, 1))`` gives d loss / d(sigma, rho, beta) and
d loss / d(x0, y0, z0) from one reverse sweep.  The reverse loop saves only the three state
values per step and recomputes the step's body (see docs/generated-code.md).

The derivatives are checked against central finite differences on a short horizon (100 steps).
On long horizons the system is chaotic: the sensitivities grow exponentially with time, and
finite differences become meaningless long before the exact derivatives do.

Run:  python examples/lorenz_sensitivities.py          (up to 5000 steps)
      python examples/lorenz_sensitivities.py --fast   (up to 500 steps)
"""
import sys
import time

import numpy as np

import adflow


def lorenz_loss(params, state, steps):
    s, r, b = params[0], params[1], params[2]
    x, y, z = state[0], state[1], state[2]
    h = 0.01
    for _ in range(steps):
        k1x, k1y, k1z = s * (y - x), x * (r - z) - y, x * y - b * z
        x2, y2, z2 = x + 0.5 * h * k1x, y + 0.5 * h * k1y, z + 0.5 * h * k1z
        k2x, k2y, k2z = s * (y2 - x2), x2 * (r - z2) - y2, x2 * y2 - b * z2
        x3, y3, z3 = x + 0.5 * h * k2x, y + 0.5 * h * k2y, z + 0.5 * h * k2z
        k3x, k3y, k3z = s * (y3 - x3), x3 * (r - z3) - y3, x3 * y3 - b * z3
        x4, y4, z4 = x + h * k3x, y + h * k3y, z + h * k3z
        k4x, k4y, k4z = s * (y4 - x4), x4 * (r - z4) - y4, x4 * y4 - b * z4
        x = x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + h / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    return x * x + y * y + z * z


def central_differences(f, args, k, eps):
    """d f / d args[k], one component at a time."""
    out = np.zeros_like(args[k])
    for j in range(args[k].size):
        plus = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        minus = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        plus[k][j] += eps
        minus[k][j] -= eps
        out[j] = (f(*plus) - f(*minus)) / (2 * eps)
    return out


def main(fast=False):
    params = np.array([10.0, 28.0, 8.0 / 3.0])      # sigma, rho, beta
    state = np.array([1.0, 1.0, 1.0])                # x0, y0, z0
    grad = adflow.grad(lorenz_loss, wrt=(0, 1))      # steps (an int) is not differentiated

    # 1. Check against central differences where they are still reliable: 100 steps (t = 1).
    g_params, g_state = grad(params, state, 100)
    fd_params = central_differences(lorenz_loss, (params, state, 100), 0, 1e-6)
    fd_state = central_differences(lorenz_loss, (params, state, 100), 1, 1e-6)
    err = max(np.max(np.abs(g_params - fd_params) / np.abs(fd_params)),
              np.max(np.abs(g_state - fd_state) / np.abs(fd_state)))
    print("100 steps (t = 1):")
    print(f"  d loss / d(sigma, rho, beta) = {g_params}")
    print(f"  d loss / d(x0, y0, z0)       = {g_state}")
    print(f"  max relative difference from central differences: {err:.1e}")
    assert err < 1e-5, err

    # 2. Longer horizons: the same compiled code (the step count is a runtime argument).
    horizons = (100, 200, 500) if fast else (100, 500, 1000, 2000, 5000)
    print("\nsteps   |d loss / d state0|   time")
    for steps in horizons:
        start = time.perf_counter()
        g_params, g_state = grad(params, state, steps)
        elapsed = time.perf_counter() - start
        print(f"{steps:5d}   {np.linalg.norm(g_state):18.3e}   {elapsed * 1e3:6.2f} ms")
        assert np.all(np.isfinite(g_params)) and np.all(np.isfinite(g_state))
    return g_params, g_state


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

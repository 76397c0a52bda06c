"""A few seconds of what adflow does, on built-in data: ``python -m adflow.demo``."""
from __future__ import annotations

import math
import time

import numpy as np

import adflow


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def classic(a, b, c):
    return 3 * a + 2 * b * b + np.log(c)


def pendulum(theta0, omega0, damping):
    """Energy after 500 explicit steps of a damped pendulum: a loop numba compiles as written."""
    theta, omega = theta0, omega0
    dt = 0.01
    for _ in range(500):
        alpha = -9.81 * math.sin(theta) - damping * omega
        omega = omega + dt * alpha
        theta = theta + dt * omega
    return 0.5 * omega * omega + 9.81 * (1.0 - math.cos(theta))


def main():
    print(f"adflow {adflow.__version__}: exact derivatives of loop-heavy Python, compiled by numba\n")

    x = np.random.default_rng(0).uniform(-1.0, 1.0, 100_000)
    value_and_grad = adflow.value_and_grad(rosenbrock)
    start = time.perf_counter()
    value, gradient = value_and_grad(x)
    first = time.perf_counter() - start
    start = time.perf_counter()
    value_and_grad(x)
    warm = time.perf_counter() - start
    print(f"Rosenbrock (scalar loop, n = {x.size:,}): value {value:.6g}")
    print(f"  gradient[:3] = {gradient[:3]}")
    print(f"  first call (transform + compile or load from cache) {first:.2f} s, then {warm * 1e3:.2f} ms\n")

    grads = adflow.grad(pendulum, wrt=(0, 1, 2))(0.8, 0.0, 0.3)
    print("Damped pendulum energy after 500 steps, d/d(theta0, omega0, damping):")
    print("  " + ", ".join(f"{g:.6f}" for g in grads) + "\n")

    a, b, c = np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0])
    y, pullback = adflow.vjp(classic, a, b, c)
    v = np.array([0.1, 1.0, 0.0001])
    print("Why does backward need a vector?  y = 3a + 2b*b + log(c) is a vector, so reverse mode")
    print("computes v^T J for a cotangent v shaped like y (PyTorch's y.backward(v)):")
    for label, g in zip("abc", pullback(v)):
        print(f"  d(v.y)/d{label} = {g}")
    print()

    grad_fn = adflow.grad(rosenbrock)
    grad_fn(x[:4])
    print("The generated reverse-mode code (adflow.grad(rosenbrock).source), reverse sweep:")
    text = grad_fn.source
    print(text[text.index("    # reverse sweep"):])


if __name__ == "__main__":
    main()

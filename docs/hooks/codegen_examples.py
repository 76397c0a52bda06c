"""The functions whose generated code docs/generated-code.md shows (built when the site is built)."""
import math

import numpy as np


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def clipped_sum(x, limit):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > limit:
            s = s + limit * x[i]
        else:
            s = s + math.sin(x[i])
    return s


def product(x):
    p = 1.0
    for i in range(x.shape[0]):
        p = p * math.tanh(x[i])
    return p


def first_crossing(x, limit):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i]
        if s > limit:
            break
    return s


def heat(u0, dt, steps):
    u = u0.copy()
    for t in range(steps):
        for i in range(1, u.shape[0] - 1):
            u[i] = u[i] + dt * (u[i - 1] - 2 * u[i] + u[i + 1])
    return np.sum(u * u)


def heat_slices(u0, dt, steps):
    u = u0.copy()
    for t in range(steps):
        u[1:-1] = u[1:-1] + dt * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    return np.sum(u * u)


def normalised(x, w):
    x = x / np.sqrt(np.sum(x * x))
    x = np.tanh(x) * w
    return np.sum(x * x)


def classic_a(a, b, c):
    return 3 * a + 2 * b * b + np.log(c)


def weighted(a, b, c, v):
    return np.sum(v * classic_a(a, b, c))


# name -> example arguments (only their types and shapes matter)
EXAMPLES = {
    "rosenbrock": (np.zeros(3),),
    "clipped_sum": (np.zeros(3), 0.5),
    "product": (np.zeros(3),),
    "first_crossing": (np.zeros(3), 1.0),
    "heat": (np.zeros(4), 0.1, 2),
    "heat_slices": (np.zeros(4), 0.1, 2),
    "normalised": (np.ones(3), 0.5),
    "weighted": (np.zeros(3), np.zeros(3), np.ones(3), np.ones(3)),
}

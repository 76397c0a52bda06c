"""The Jacobians ``python -m benchmarks.auto_mode`` times both ways: written as users write them.

In a module of their own, so that adflow reads their source from a file.
"""
from __future__ import annotations

import math

import numpy as np


def reprojection(row):
    """Bundle adjustment, one observation: camera (rotation, centre, focal, distortion), point, weight
    -> weighted reprojection error (2 outputs of 13 inputs)."""
    r0, r1, r2 = row[0], row[1], row[2]
    X = row[9:12] - row[3:6]
    theta2 = r0 * r0 + r1 * r1 + r2 * r2
    if theta2 > 1e-12:  # Rodrigues' formula
        theta = math.sqrt(theta2)
        c, s = math.cos(theta), math.sin(theta)
        k0, k1, k2 = r0 / theta, r1 / theta, r2 / theta
        d = (k0 * X[0] + k1 * X[1] + k2 * X[2]) * (1.0 - c)
        p0 = X[0] * c + (k1 * X[2] - k2 * X[1]) * s + k0 * d
        p1 = X[1] * c + (k2 * X[0] - k0 * X[2]) * s + k1 * d
        p2 = X[2] * c + (k0 * X[1] - k1 * X[0]) * s + k2 * d
    else:
        p0 = X[0] + r1 * X[2] - r2 * X[1]
        p1 = X[1] + r2 * X[0] - r0 * X[2]
        p2 = X[2] + r0 * X[1] - r1 * X[0]
    u, v = p0 / p2, p1 / p2
    rsq = u * u + v * v
    distortion = 1.0 + row[7] * rsq + row[8] * rsq * rsq
    w = row[12]
    return np.array([w * (row[6] * distortion * u - 0.5), w * (row[6] * distortion * v + 0.25)])


def mlp_row(x, W1, W2):
    """A small network's outputs for one input row."""
    return np.tanh(W2 @ np.tanh(W1 @ x))


def spread(x):
    """Few inputs, many outputs: 3 -> 24."""
    out = np.empty(24)
    for i in range(24):
        t = 0.1 * i
        out[i] = x[0] * math.sin(t * x[1]) + x[2] * math.cos(t) + x[1] * x[2] * t
    return out


def energy(x):
    """Many inputs, one output: 40 -> 1, as a vector of one."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += (x[i + 1] - x[i] * x[i]) ** 2 + 0.1 * math.sin(x[i])
    return np.array([s])


def wide(x, A):
    """A dense Jacobian, 200 inputs -> 4 outputs."""
    return np.tanh(A @ np.sin(x))


def narrow(x, B):
    """A dense Jacobian, 4 inputs -> 200 outputs."""
    return np.sin(B @ x) * x[0]


def square(x):
    """A dense Jacobian, 50 -> 50, through a loop."""
    y = np.empty_like(x)
    y[0] = x[0]
    for i in range(1, x.shape[0]):
        y[i] = math.tanh(y[i - 1] + x[i]) * x[i]
    return y


def wide_loss(x, W):
    """Many inputs, one output, array code (rows in blocks): 40 -> 1."""
    return np.sum(np.tanh(W @ x))


def two_of_many(x, W):
    """Array code with a reduction per output: 5 -> 2."""
    h = np.tanh(W @ x)
    return np.array([np.sum(h * h), np.sum(np.sin(x) * h[:x.shape[0]])])

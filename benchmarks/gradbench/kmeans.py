"""GradBench ``kmeans``: the k-means cost and the Newton direction ``J H^-1``.

``cost``: ``sum_i min_j |C_j - P_i|^2``, loops compiled by numba.  ``dir``: the gradient ``J`` of
the cost with respect to the centroids and the diagonal of its Hessian ``H`` (the Hessian is
diagonal, so ``H 1`` is that diagonal) in one pass: ``adflow.jvp`` of ``adflow.grad(cost)`` along
a vector of ones (forward mode over the reverse sweep), then ``J / diag(H)`` elementwise.
"""
from __future__ import annotations

import math

import numba
import numpy as np

import adflow

from ._runs import Function, floats, tolist


def kmeans_cost(centroids, points):
    n = points.shape[0]
    d = points.shape[1]
    k = centroids.shape[0]
    cost = 0.0
    for i in range(n):
        closest = math.inf
        for j in range(k):
            dist = 0.0
            for e in range(d):
                diff = points[i, e] - centroids[j, e]
                dist = dist + diff * diff
            if dist < closest:
                closest = dist
        cost = cost + closest
    return cost


cost_compiled = numba.njit(cache=True)(kmeans_cost)
gradient_of_cost = adflow.grad(kmeans_cost, wrt=0, target="cpu")


def newton_direction(centroids, points, ones):
    jac, hess_diag = adflow.jvp(gradient_of_cost, (centroids, points), (ones,), wrt=0)
    return jac / hess_diag


def _prepare(input):
    centroids = floats(input["centroids"])
    points = floats(input["points"])
    return centroids, points


def _prepare_dir(input):
    centroids, points = _prepare(input)
    return centroids, points, np.ones_like(centroids)


FUNCTIONS = {
    "cost": Function(_prepare, cost_compiled, float),
    "dir": Function(_prepare_dir, newton_direction, tolist),
}

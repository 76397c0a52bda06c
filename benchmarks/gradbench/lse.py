"""GradBench ``lse``: LogSumExp of a vector and its gradient.

``primal``: ``max(x) + log(sum(exp(x - max(x))))`` (the stable form the eval asks for, from its
primitive elements); ``gradient``: ``adflow.grad`` of the same function.
"""
from __future__ import annotations

import math

import numba

import adflow

from ._runs import Function, floats, tolist


def logsumexp(x):
    n = x.shape[0]
    a = x[0]
    for i in range(1, n):
        if x[i] > a:
            a = x[i]
    s = 0.0
    for i in range(n):
        s += math.exp(x[i] - a)
    return a + math.log(s)


primal_compiled = numba.njit(cache=True)(logsumexp)
gradient_of_lse = adflow.grad(logsumexp, target="cpu")


def _prepare(input):
    return (floats(input["x"]),)


FUNCTIONS = {
    "primal": Function(_prepare, primal_compiled, float),
    "gradient": Function(_prepare, gradient_of_lse, tolist),
}

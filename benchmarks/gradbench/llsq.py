"""GradBench ``llsq``: the linear least squares objective of cmpad's ``llsq_obj`` and its gradient.

``y(x) = 1/2 sum_i (s_i - x_0 - x_1 t_i - x_2 t_i^2 - ...)^2`` with ``t_i = -1 + 2 i / (n - 1)``
and ``s_i = sign(t_i)``, for ``i < n``.  ``primal`` is the loop compiled by numba; ``gradient``
is ``adflow.grad`` of it with respect to ``x`` (``n`` is an integer, not differentiated).
"""
from __future__ import annotations

import numba

import adflow

from ._runs import Function, floats, tolist


def llsq_objective(x, n):
    m = x.shape[0]
    total = 0.0
    for i in range(n):
        t = -1.0 + i * 2.0 / (n - 1.0)
        if t > 0.0:
            r = 1.0
        elif t < 0.0:
            r = -1.0
        else:
            r = 0.0
        power = 1.0
        for j in range(m):
            r = r - x[j] * power
            power = power * t
        total = total + r * r
    return total / 2.0


primal_compiled = numba.njit(cache=True)(llsq_objective)
gradient_of_llsq = adflow.grad(llsq_objective, wrt=0, target="cpu")


def _prepare(input):
    return floats(input["x"]), int(input["n"])


FUNCTIONS = {
    "primal": Function(_prepare, primal_compiled, float),
    "gradient": Function(_prepare, gradient_of_llsq, tolist),
}

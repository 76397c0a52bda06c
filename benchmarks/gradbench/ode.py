"""GradBench ``ode``: cmpad's ``an_ode``, solved with ``s`` steps of classical Runge-Kutta.

``y_0' = x_0``, ``y_i' = x_i y_{i-1}`` (``i > 0``), ``y(0) = 0``, integrated to ``t = 2``.
``primal`` returns ``y(2)`` (numba-compiled); ``gradient`` is the gradient of its last element
with respect to ``x``: ``adflow.grad`` of ``ode_last`` (reverse mode through the ``s`` steps).
"""
from __future__ import annotations

import numba
import numpy as np

import adflow

from ._runs import Function, floats, tolist


@numba.njit(cache=True)
def ode_fun(x, y, z):
    # z = f(y): the right-hand side, written into z
    n = x.shape[0]
    z[0] = x[0]
    for i in range(1, n):
        z[i] = x[i] * y[i - 1]


def ode_solve(x, s):
    n = x.shape[0]
    h = 2.0 / s
    y = np.zeros(n)
    k1 = np.zeros(n)
    k2 = np.zeros(n)
    k3 = np.zeros(n)
    k4 = np.zeros(n)
    tmp = np.zeros(n)
    for _ in range(s):
        ode_fun(x, y, k1)
        for i in range(n):
            tmp[i] = y[i] + h * k1[i] / 2.0
        ode_fun(x, tmp, k2)
        for i in range(n):
            tmp[i] = y[i] + h * k2[i] / 2.0
        ode_fun(x, tmp, k3)
        for i in range(n):
            tmp[i] = y[i] + h * k3[i]
        ode_fun(x, tmp, k4)
        for i in range(n):
            y[i] = y[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) / 6.0
    return y


def ode_last(x, s):
    y = ode_solve(x, s)
    return y[x.shape[0] - 1]


primal_compiled = numba.njit(cache=True)(ode_solve)
gradient_of_last = adflow.grad(ode_last, wrt=0, target="cpu")


def _prepare(input):
    return floats(input["x"]), int(input["s"])


FUNCTIONS = {
    "primal": Function(_prepare, primal_compiled, tolist),
    "gradient": Function(_prepare, gradient_of_last, tolist),
}

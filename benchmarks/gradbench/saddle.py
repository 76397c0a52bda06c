"""GradBench ``saddle``: a saddle point by gradient descent inside gradient descent (Siskind and Pearlmutter).

``f(p1, p2) = (p1_x^2 + p1_y^2) - (p2_x^2 + p2_y^2)``.  Step 1 finds ``p1`` minimising
``max_p2 f(p1, p2)``, where the max is itself a gradient ascent over ``p2``, so the descent over
``p1`` differentiates through the inner ascent (nested AD); step 2 is the ascent over ``p2`` at
that ``p1``.  Both descents start at the input ``start`` and follow GradBench's rules
(``_descent.py``); the output is ``p1`` and ``p2``.

* ``rr``: ``adflow.value_and_grad`` of ``max_r`` (its inner gradient ``adflow.grad(f, wrt=1)``);
* ``fr``: two ``adflow.jvp`` of ``max_r`` (forward over reverse);
* ``rf``: ``adflow.value_and_grad`` of ``max_f`` (its inner gradient two ``adflow.jvp`` of ``f``);
* ``ff``: forward over forward, which adflow does not compute: ``success: false`` with adflow's error.

The final ascent of step 2 uses the inner mode of the variant (reverse: ``adflow.value_and_grad``
of ``f``; forward: ``adflow.jvp`` of ``f``).
"""
from __future__ import annotations

import math

import numpy as np

import adflow

from . import _descent
from ._runs import Function

E0 = np.array([1.0, 0.0])
E1 = np.array([0.0, 1.0])


def saddle_f(p1, p2):
    return (p1[0] * p1[0] + p1[1] * p1[1]) - (p2[0] * p2[0] + p2[1] * p2[1])


inner_r = adflow.grad(saddle_f, wrt=1, target="cpu")


def max_r(p1, start):
    # gradient ascent over p2 from start (descent on -f), the gradient by reverse mode; the max
    x = np.copy(start)
    fx = -saddle_f(p1, x)
    gx = -inner_r(p1, x)
    i = 0
    eta = 1e-5
    while True:
        if math.sqrt(gx[0] * gx[0] + gx[1] * gx[1]) <= 1e-5:
            break
        if i == 10:
            eta = eta * 2.0
            i = 0
        else:
            x_prime = x - eta * gx
            if math.sqrt((x[0] - x_prime[0]) ** 2 + (x[1] - x_prime[1]) ** 2) <= 1e-5:
                break
            f_prime = -saddle_f(p1, x_prime)
            if f_prime < fx:
                x = x_prime
                fx = f_prime
                gx = -inner_r(p1, x)
                i = i + 1
            else:
                eta = eta / 2.0
                i = 0
    return saddle_f(p1, x)


def max_f(p1, start):
    # the same ascent, the gradient by forward mode (one jvp per direction)
    x = np.copy(start)
    fx = -saddle_f(p1, x)
    gx = np.zeros(2)
    _, d0 = adflow.jvp(saddle_f, (p1, x), (E0,), wrt=1)
    _, d1 = adflow.jvp(saddle_f, (p1, x), (E1,), wrt=1)
    gx[0] = -d0
    gx[1] = -d1
    i = 0
    eta = 1e-5
    while True:
        if math.sqrt(gx[0] * gx[0] + gx[1] * gx[1]) <= 1e-5:
            break
        if i == 10:
            eta = eta * 2.0
            i = 0
        else:
            x_prime = x - eta * gx
            if math.sqrt((x[0] - x_prime[0]) ** 2 + (x[1] - x_prime[1]) ** 2) <= 1e-5:
                break
            f_prime = -saddle_f(p1, x_prime)
            if f_prime < fx:
                x = x_prime
                fx = f_prime
                _, d0 = adflow.jvp(saddle_f, (p1, x), (E0,), wrt=1)
                _, d1 = adflow.jvp(saddle_f, (p1, x), (E1,), wrt=1)
                gx = np.zeros(2)
                gx[0] = -d0
                gx[1] = -d1
                i = i + 1
            else:
                eta = eta / 2.0
                i = 0
    return saddle_f(p1, x)


outer_r_of_r = adflow.value_and_grad(max_r, wrt=0, target="cpu")
outer_r_of_f = adflow.value_and_grad(max_f, wrt=0, target="cpu")
value_and_inner_r = adflow.value_and_grad(saddle_f, wrt=1, target="cpu")


def _forward(func, start):
    def value_and_gradient(p1):
        value, d0 = adflow.jvp(func, (p1, start), (E0,), wrt=0)
        _, d1 = adflow.jvp(func, (p1, start), (E1,), wrt=0)
        return value, np.array([d0, d1])
    return value_and_gradient


def _ascent(p1, start, inner):
    if inner == "r":
        def value_and_gradient(p2):
            return value_and_inner_r(p1, p2)
    else:
        def value_and_gradient(p2):
            value, d0 = adflow.jvp(saddle_f, (p1, p2), (E0,), wrt=1)
            _, d1 = adflow.jvp(saddle_f, (p1, p2), (E1,), wrt=1)
            return value, np.array([d0, d1])
    return _descent.argmax(value_and_gradient, start)


def solve(outer, inner, start):
    if outer == "r":
        vg = outer_r_of_r if inner == "r" else outer_r_of_f

        def value_and_gradient(p1):
            return vg(p1, start)
    else:
        value_and_gradient = _forward(max_r if inner == "r" else max_f, start)
    p1 = _descent.argmin(value_and_gradient, start)
    p2 = _ascent(p1, start, inner)
    return np.concatenate((p1, p2))


def _prepare(input):
    return (np.array(input["start"], dtype=np.float64),)


FUNCTIONS = {
    variant: Function(_prepare, (lambda start, v=variant: solve(v[0], v[1], start)), lambda r: [float(v) for v in r])
    for variant in ("rr", "fr", "rf", "ff")
}

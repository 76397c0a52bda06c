"""GradBench ``particle``: steer a charged particle to the origin, nested AD (Siskind and Pearlmutter).

A particle starts at ``(0, 8)`` with velocity ``(0.75, 0)`` in the field of two unit charges at
``(10, 10 - w)`` and ``(10, 0)``; naive Euler steps (``dt = 0.1``) follow the force, the negative
gradient of the potential ``sum 1 / |x - charge|``, until the particle crosses the x axis, where
linear interpolation gives its landing point ``x_f``.  The output is the ``w`` that minimises
``x_f^2``, by GradBench's gradient descent from the input ``w`` (``_descent.py``).

The force inside the simulation is a derivative (of ``accel``), and the descent differentiates
the whole simulation with respect to ``w``: a derivative of a loop that calls a derivative.

* ``rr``: ``adflow.value_and_grad`` of ``landing_r``, whose force is ``adflow.grad(accel)``
  (reverse over reverse, computed as forward over the inner reverse sweep);
* ``fr``: ``adflow.jvp`` of ``landing_r`` (forward over reverse);
* ``rf``: ``adflow.value_and_grad`` of ``landing_f``, whose force is two ``adflow.jvp`` of
  ``accel`` (reverse over forward);
* ``ff``: forward over forward, which adflow's dual numbers do not carry: answered with
  ``success: false`` and adflow's error.
"""
from __future__ import annotations

import math

import numpy as np

import adflow

from . import _descent
from ._runs import Function

E0 = np.array([1.0, 0.0])
E1 = np.array([0.0, 1.0])


def accel(charges, x):
    # the potential at x of unit charges at the rows of charges
    a = 0.0
    for i in range(charges.shape[0]):
        dx = charges[i, 0] - x[0]
        dy = charges[i, 1] - x[1]
        a += 1.0 / math.sqrt(dx * dx + dy * dy)
    return a


force_r = adflow.grad(accel, wrt=1, target="cpu")


def landing_r(w):
    charges = np.zeros((2, 2))
    charges[0, 0] = 10.0
    charges[0, 1] = 10.0 - w
    charges[1, 0] = 10.0
    x = np.zeros(2)
    x[1] = 8.0
    xdot = np.zeros(2)
    xdot[0] = 0.75
    delta_t = 0.1
    result = 0.0
    while True:
        xddot = -force_r(charges, x)
        x = x + delta_t * xdot
        if x[1] <= 0.0:
            delta_t_f = -x[1] / xdot[1]
            x_f = x[0] + delta_t_f * xdot[0]
            result = x_f * x_f
            break
        xdot = xdot + delta_t * xddot
    return result


def landing_f(w):
    charges = np.zeros((2, 2))
    charges[0, 0] = 10.0
    charges[0, 1] = 10.0 - w
    charges[1, 0] = 10.0
    x = np.zeros(2)
    x[1] = 8.0
    xdot = np.zeros(2)
    xdot[0] = 0.75
    delta_t = 0.1
    result = 0.0
    while True:
        _, ax = adflow.jvp(accel, (charges, x), (E0,), wrt=1)
        _, ay = adflow.jvp(accel, (charges, x), (E1,), wrt=1)
        xddot = np.zeros(2)
        xddot[0] = -ax
        xddot[1] = -ay
        x = x + delta_t * xdot
        if x[1] <= 0.0:
            delta_t_f = -x[1] / xdot[1]
            x_f = x[0] + delta_t_f * xdot[0]
            result = x_f * x_f
            break
        xdot = xdot + delta_t * xddot
    return result


outer_rr = adflow.value_and_grad(landing_r, target="cpu")
outer_rf = adflow.value_and_grad(landing_f, target="cpu")


def _reverse(outer):
    def value_and_gradient(w):
        value, slope = outer(float(w[0]))
        return value, np.array([slope])
    return value_and_gradient


def _forward_r(w):
    value, slope = adflow.jvp(landing_r, (float(w[0]),), (1.0,))
    return value, np.array([slope])


def _forward_f(w):
    value, slope = adflow.jvp(landing_f, (float(w[0]),), (1.0,))  # refused: forward over forward
    return value, np.array([slope])


def solve(value_and_gradient, w0):
    return _descent.argmin(value_and_gradient, np.array([w0]))[0]


def _prepare(input):
    return (float(input["w"]),)


FUNCTIONS = {
    "rr": Function(_prepare, lambda w0: solve(_reverse(outer_rr), w0), float),
    "fr": Function(_prepare, lambda w0: solve(_forward_r, w0), float),
    "rf": Function(_prepare, lambda w0: solve(_reverse(outer_rf), w0), float),
    "ff": Function(_prepare, lambda w0: solve(_forward_f, w0), float),
}

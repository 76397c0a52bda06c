"""The gradient descent of GradBench's ``particle`` and ``saddle`` evals (``cpp/gradbench/gd.hpp`` there).

Start with step ``1e-5``; stop when the gradient's norm or the step's length is at most
``1e-5``; a step that lowers the objective is taken (and after 10 taken in a row the step
doubles), one that does not halves the step.  ``value_and_gradient(x)`` gives both at a point
from one call of an adflow derivative (the descent needs the gradient at every point it
accepts, and adflow's derivatives compute the value on the way).

This is the outer loop of the evals, run in Python around compiled derivatives; the inner
descents, which the outer derivative goes through, are written out in the differentiated
functions themselves (``particle.py``, ``saddle.py``).
"""
from __future__ import annotations

import math

import numpy as np

TOLERANCE = 1e-5


def argmin(value_and_gradient, x0):
    x = np.array(x0, dtype=np.float64)
    fx, gx = value_and_gradient(x)
    i = 0
    eta = 1e-5
    while True:
        if math.sqrt(float(np.sum(gx * gx))) <= TOLERANCE:
            return x
        if i == 10:
            eta *= 2
            i = 0
            continue
        x_prime = x - eta * gx
        if math.sqrt(float(np.sum((x - x_prime) ** 2))) <= TOLERANCE:
            return x
        f_prime, g_prime = value_and_gradient(x_prime)
        if f_prime < fx:
            x, fx, gx = x_prime, f_prime, g_prime
            i += 1
        else:
            eta /= 2
            i = 0


def argmax(value_and_gradient, x0):
    def negated(x):
        f, g = value_and_gradient(x)
        return -f, -g

    return argmin(negated, x0)

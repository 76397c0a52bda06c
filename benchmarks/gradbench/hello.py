"""GradBench ``hello``: the protocol check.  ``square(x) = x * x``; ``double`` is ``adflow.grad(square)``."""
from __future__ import annotations

import numba

import adflow

from ._runs import Function


def square(x):
    return x * x


square_compiled = numba.njit(cache=True)(square)
double = adflow.grad(square, target="cpu")


def _prepare(input):
    return (float(input),)


FUNCTIONS = {
    "square": Function(_prepare, square_compiled, float),
    "double": Function(_prepare, double, float),
}

"""Helpers in another module, with names of their own (tests/test_python_constructs.py)."""
from numpy import sin as sine

SCALE = 3.0


def fill_scaled(out, x):
    """Fills ``out`` (a statement's side effect): SCALE and sine are this module's."""
    for i in range(x.shape[0]):
        out[i] = SCALE * sine(x[i])

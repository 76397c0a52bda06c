"""The helper functions generated programs call, and the header of a program's module that imports them.

adflow reads their source from this file and differentiates them as helpers; each is smooth where
the programs use it, or has a kink only on a set of measure 0.
"""
import math

import numpy as np


def fz_soft(u):
    return math.log(1.0 + u * u) + 0.5 * u


def fz_mix(u, v):
    return u * math.tanh(v) + 0.25 * v


def fz_rat(u):
    return u / (1.0 + u * u)


def fz_branchy(u):
    if u > 0.0:
        return u * u + 0.1 * u
    return 0.1 * u


def fz_loop(u, k):
    s = u
    for j in range(k):
        s = 0.5 * s + math.sin(s + j)
    return s


def fz_norm2(v):
    s = 0.0
    for i in range(v.shape[0]):
        s = s + v[i] * v[i]
    return math.sqrt(1.0 + s)


def fz_smooth(v, c):
    out = np.empty_like(v)
    for i in range(v.shape[0]):
        out[i] = math.sin(v[i]) * c + 0.5 * v[i]
    return out


def fz_nested(u, v):
    return fz_soft(u) * fz_rat(v)


HELPER_NAMES = ["fz_soft", "fz_mix", "fz_rat", "fz_branchy", "fz_loop", "fz_norm2", "fz_smooth", "fz_nested"]

HEADER = "import math\nimport numpy as np\nfrom adflow.fuzz import " + ", ".join(HELPER_NAMES) + "\n"

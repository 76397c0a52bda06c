"""The pieces generated programs are made of: constants, the forms that give arguments new values,
and a program's signature (what it takes and returns)."""
from __future__ import annotations

from dataclasses import dataclass

N = 4  # length of the array argument ``x``

CONSTANTS = ["0.5", "1.5", "-0.75", "0.25", "2.0", "-1.25", "0.3"]
COEFFS = ["0.5", "-0.5", "0.9", "0.25", "-0.7"]
GROWTHS = ["2.0", "3.0", "-1.5", "0.5"]  # factors for straight-line code only: a loop would compound them
BOUNDED = ["math.sin({})", "math.tanh({})", "math.cos({})", "math.atan({})", "fz_rat({})",
           "math.exp(-0.5 * ({}) ** 2)"]
THRESHOLDS = ["0.0", "0.25", "-0.3", "0.5", "0.1"]
SHIFTED = "{} + 5.0 * np.eye(n)"  # M, P have entries in [-1, 1]: plus 5I is well conditioned (Gershgorin)

# New values for the arguments (issue 17: the adjoint of the old value must be reset, not added
# to).  Placeholders: {g} a growth factor, {c} a damping coefficient, {e} an expression, {T} a
# bounded expression, {s} a scalar, {v} an array of length n, {t} a threshold.  Loop bodies get
# the damped forms, so that values stay bounded over the iterations.
REBIND_A = ["a = a * {g}", "a *= {g}", "a = np.sin(a)", "a = float(a)", "a = {e}", "a = a + {e}",
            "a -= {c} * {T}", "a = math.tanh(a) * {g} + {s}"]
REBIND_A_LOOP = ["a = {c} * a + {T}", "a = np.sin(a)", "a = float(a)", "a *= {c}", "a = math.tanh(a + {e})"]
REBIND_X = ["x = x / np.sqrt(np.sum(x * x))", "x = x * {g}", "x *= {g}", "x = np.sin(x)", "x = x * a",
            "x = x.copy()", "x = np.asarray(x)", "x = x[::-1]", "x = x + {c} * {v}", "x += {c} * {v}",
            "x = np.tanh(x) * {g} + {s}", "x = np.where(x > {t}, x, {c} * x)", "x = x / np.linalg.norm(x)"]
REBIND_X_LOOP = ["x = x / np.sqrt(np.sum(x * x))", "x = {c} * x + 0.1 * np.tanh({v})", "x *= {c}", "x = np.sin(x)",
                 "x = x.copy()", "x = np.asarray(x)", "x = x[::-1]", "x = np.where(x > {t}, x, {c} * x)",
                 "x = x / np.linalg.norm(x)"]
# Every form keeps M's entries in [-1, 1] (SHIFTED relies on it), in loops too.
REBIND_M = ["M = M.T", "M = np.tanh(M)", "M = 0.5 * (M + M.T)", "M = 0.25 * (M @ M)", "M = np.clip(M, -0.5, 0.5)",
            "M = M * {c}", "M = M.copy()", "M *= {c}", "M = np.maximum(M, {c} * M)"]
# The argument shortened, last thing before the return (statements index x up to n - 1).
SHORTEN_X = ["x = x[1:]", "x = x[:-1]", "x = x[1:] - x[:-1]", "x = x[1:] * a"]


@dataclass
class Signature:
    """What a program takes and returns."""
    matrix: bool = False  # takes M, an n x n float matrix, between x and a
    output: str = "scalar"  # "scalar", "vector" (an array) or "tuple" (a number and an array)
    # x (and M) are float32.  Such programs are straight-line code without matrices: in numba a
    # float32 array times a float is float64, a variable has one type where paths merge (loops,
    # branches), and `@` needs one dtype, so anything more would not compile (docs/subset.md).
    float32: bool = False

    def params(self):
        return ["x"] + (["M"] if self.matrix else []) + ["a", "n"]


OUTPUTS = ["scalar", "scalar", "vector", "tuple"]  # the scalar programs first: what failures shrink to


def draw_signature(d) -> Signature:
    output = d.choice(OUTPUTS)
    float32 = d.boolean(0.15)
    return Signature(matrix=not float32 and d.boolean(0.35), output=output, float32=float32)

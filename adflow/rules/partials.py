"""Partial derivatives of the elementwise primitives: the one formula both modes share.

Each entry maps a primitive to ``{argument: d ans / d argument}``, written as a NumPy expression
of the arguments and ``ans`` (the primitive's result).  Reverse mode turns a partial ``p`` into
``x_bar += unbroadcast(g * p, x)``; forward mode into ``ans_dot += p * x_dot``.  ``"1"`` and
``"-1"`` are recognised so that linear operations cost no multiplication.

Choices at kinks and singular points (documented in docs/concepts.md):

* ``abs`` uses ``sign(x)``: derivative 0 at 0 (as PyTorch and autograd do).
* ``maximum``/``minimum`` (and ``max``/``min`` of two numbers) split the derivative evenly on a tie,
  as JAX does, so ``max(x, x)`` has derivative 1.
* ``sqrt`` at 0 and ``log`` at 0 give ``inf``, as the formulas say; ``x ** y`` with ``y`` active
  and ``x <= 0`` gives ``nan`` for the ``y`` partial.
"""

elementwise_partials = {
    # arithmetic
    "add": {"x": "1", "y": "1"},
    "sub": {"x": "1", "y": "-1"},
    "mul": {"x": "y", "y": "x"},
    "truediv": {"x": "1.0 / y", "y": "-ans / y"},
    "pow": {"x": "y * x ** (y - 1)", "y": "ans * np.log(x)"},
    "mod": {"x": "1", "y": "-np.floor(x / y)"},
    "neg": {"x": "-1"},
    "pos": {"x": "1"},
    "square": {"x": "2.0 * x"},
    "reciprocal": {"x": "-ans * ans"},
    # exponentials and logarithms
    "exp": {"x": "ans"},
    "exp2": {"x": "ans * 0.6931471805599453"},
    "expm1": {"x": "ans + 1.0"},
    "log": {"x": "1.0 / x"},
    "log2": {"x": "1.4426950408889634 / x"},
    "log10": {"x": "0.4342944819032518 / x"},
    "log1p": {"x": "1.0 / (1.0 + x)"},
    "sqrt": {"x": "0.5 / ans"},
    "cbrt": {"x": "ans / (3.0 * x)"},
    # trigonometric and hyperbolic
    "sin": {"x": "np.cos(x)"},
    "cos": {"x": "-np.sin(x)"},
    "tan": {"x": "1.0 + ans * ans"},
    "arcsin": {"x": "1.0 / np.sqrt(1.0 - x * x)"},
    "arccos": {"x": "-1.0 / np.sqrt(1.0 - x * x)"},
    "arctan": {"x": "1.0 / (1.0 + x * x)"},
    "arctan2": {"x": "y / (x * x + y * y)", "y": "-x / (x * x + y * y)"},
    "hypot": {"x": "x / ans", "y": "y / ans"},
    "sinh": {"x": "np.cosh(x)"},
    "cosh": {"x": "np.sinh(x)"},
    "tanh": {"x": "1.0 - ans * ans"},
    "arcsinh": {"x": "1.0 / np.sqrt(x * x + 1.0)"},
    "arccosh": {"x": "1.0 / np.sqrt(x * x - 1.0)"},
    "arctanh": {"x": "1.0 / (1.0 - x * x)"},
    # piecewise
    "abs": {"x": "np.sign(x)"},
    "maximum": {"x": "(x > y) + 0.5 * (x == y)", "y": "(y > x) + 0.5 * (x == y)"},
    "minimum": {"x": "(x < y) + 0.5 * (x == y)", "y": "(y < x) + 0.5 * (x == y)"},
    "where": {"x": "c", "y": "1 - c"},
    "clip": {"x": "(x >= lo) * (x <= hi)"},
}

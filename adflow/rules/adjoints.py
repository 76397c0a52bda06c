"""The table of adjoint (reverse-mode) rules.

``adjoint_rules[primitive][argument]`` is a NumPy expression for that argument's cotangent
contribution, written in terms of ``g`` (the cotangent of the result), ``ans`` (the result), the
primitive's parameters and its static keywords (``axis``).  Reverse mode emits
``<argument>_bar += <expression>`` for every active argument, wrapped in ``unbroadcast(..., x)``
when the primitive broadcasts.

Elementwise primitives are not written here: their rules come from the shared partial
derivatives in :mod:`adflow.rules.partials` (``g * partial``).  Helpers such as ``sum_adjoint``
live in :mod:`adflow.runtime` and compile in numba as well as run in Python.
"""
from .partials import elementwise_partials


def _from_partial(partial: str) -> str:
    if partial == "1":
        return "g"
    if partial == "-1":
        return "-g"
    return f"g * ({partial})"


adjoint_rules: dict[str, dict[str, str]] = {
    name: {arg: _from_partial(p) for arg, p in partials.items()}
    for name, partials in elementwise_partials.items()
}

adjoint_rules.update(
    {
        # reductions
        "sum": {"x": "sum_adjoint(g, x, axis)"},
        "mean": {"x": "sum_adjoint(g, x, axis) / reduced_count(x, axis)"},
        "prod": {"x": "sum_adjoint(g * ans, x, axis) / x"},
        "amax": {"x": "extremum_adjoint(g, ans, x, axis)"},
        "amin": {"x": "extremum_adjoint(g, ans, x, axis)"},
        "cumsum": {"x": "cumsum_adjoint(g, x)"},
        "roll": {"x": "np.roll(g, -shift)"},
        # linear algebra
        "dot": {"a": "dot_adjoint_a(g, a, b)", "b": "dot_adjoint_b(g, a, b)"},
        "matmul": {"a": "dot_adjoint_a(g, a, b)", "b": "dot_adjoint_b(g, a, b)"},
        "outer": {"a": "reshape_like(np.dot(g, np.ravel(b)), a)",
                  "b": "reshape_like(np.dot(np.ravel(a), g), b)"},
        # <g, a x b> = <a, b x g> = <b, g x a>
        "cross": {"a": "np.cross(b, g)", "b": "np.cross(g, a)"},
        "vdot": {"a": "g * b", "b": "g * a"},
        "trace": {"x": "g * np.eye(x.shape[0], x.shape[1])"},
        "inv": {"x": "-np.dot(ans.T, np.dot(g, ans.T))"},
        "solve": {"a": "solve_adjoint_a(g, ans, a)", "b": "np.linalg.solve(a.T, g)"},
        "det": {"x": "g * ans * np.linalg.inv(x).T"},
        # d|x| = <x, dx> / |x|: NaN at x = 0, as for np.sqrt(np.sum(x * x)) (and JAX)
        "norm": {"x": "g * x / ans"},
        # shape
        "transpose": {"x": "np.transpose(g)"},
        "reshape": {"x": "reshape_like(g, x)"},
        "ravel": {"x": "reshape_like(g, x)"},
        # np.append(x, v) (no axis): x and v flattened, one after the other
        "append": {"x": "reshape_like(g[:size_of(x)], x)", "v": "reshape_like(g[size_of(x):], v)"},
        "atleast_1d": {"x": "reshape_like(g, x)"},
        "atleast_2d": {"x": "reshape_like(g, x)"},
        "atleast_3d": {"x": "reshape_like(g, x)"},
        "copy": {"x": "g"},
        "float": {"x": "g"},
    }
)

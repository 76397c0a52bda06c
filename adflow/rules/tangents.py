"""The table of tangent (forward-mode) rules.

``tangent_rules[primitive][argument]`` is that argument's term of the result's tangent, written in
terms of ``<argument>_dot`` (the argument's tangent, shaped like the argument), ``ans``, the
parameters and the static keywords.  The result's tangent is the sum of the terms of the active
arguments.  Rules are written for one direction; chunked duals apply them to each of their k
directions.

Elementwise primitives come from the shared partial derivatives (``partial * x_dot``).
"""
from .partials import elementwise_partials


def _from_partial(arg: str, partial: str) -> str:
    if partial == "1":
        return f"{arg}_dot"
    if partial == "-1":
        return f"-{arg}_dot"
    return f"({partial}) * {arg}_dot"


tangent_rules: dict[str, dict[str, str]] = {
    name: {arg: _from_partial(arg, p) for arg, p in partials.items()}
    for name, partials in elementwise_partials.items()
}

tangent_rules.update(
    {
        "sum": {"x": "reduce_sum(x_dot, axis)"},
        "mean": {"x": "reduce_sum(x_dot, axis) / reduced_count(x, axis)"},
        "prod": {"x": "prod_tangent(x_dot, ans, x, axis)"},  # sum of x_dot * ans / x
        "amax": {"x": "extremum_tangent(x_dot, ans, x, axis)"},
        "amin": {"x": "extremum_tangent(x_dot, ans, x, axis)"},
        "cumsum": {"x": "np.cumsum(x_dot)"},
        "roll": {"x": "np.roll(x_dot, shift)"},
        "dot": {"a": "np.dot(a_dot, b)", "b": "np.dot(a, b_dot)"},
        "matmul": {"a": "np.dot(a_dot, b)", "b": "np.dot(a, b_dot)"},
        "outer": {"a": "np.outer(a_dot, b)", "b": "np.outer(a, b_dot)"},
        "cross": {"a": "np.cross(a_dot, b)", "b": "np.cross(a, b_dot)"},
        "vdot": {"a": "np.vdot(a_dot, b)", "b": "np.vdot(a, b_dot)"},
        "trace": {"x": "np.trace(x_dot)"},
        "inv": {"x": "-np.dot(ans, np.dot(x_dot, ans))"},
        "solve": {"a": "-np.linalg.solve(a, np.dot(a_dot, ans))", "b": "np.linalg.solve(a, b_dot)"},
        "det": {"x": "ans * np.trace(np.linalg.solve(x, x_dot))"},
        "norm": {"x": "np.sum(x * x_dot) / ans"},
        "transpose": {"x": "np.transpose(x_dot)"},
        "reshape": {"x": "reshape_like(x_dot, ans)"},
        "ravel": {"x": "np.ravel(x_dot)"},
        "append": {"x": "np.append(x_dot, np.zeros(np.shape(v)))", "v": "np.append(np.zeros(np.shape(x)), v_dot)"},
        "atleast_1d": {"x": "reshape_like(x_dot, ans)"},
        "atleast_2d": {"x": "reshape_like(x_dot, ans)"},
        "atleast_3d": {"x": "reshape_like(x_dot, ans)"},
        "copy": {"x": "x_dot"},
        "float": {"x": "x_dot"},
    }
)

# Whole-chunk forms of linear rules: here ``<arg>_dot`` carries a trailing axis of k directions
# (shape ``arg.shape + (k,)``) and the rule returns all k tangent terms at once (shape
# ``ans.shape + (k,)``).  A matrix product then costs one BLAS call instead of k calls on
# strided copies.  Primitives without an entry apply their one-direction rule to each direction.
chunk_tangent_rules: dict[str, dict[str, str]] = {
    "dot": {"a": "chunk_matmul_left(a_dot, b)", "b": "chunk_matmul_right(a, b_dot)"},
    "matmul": {"a": "chunk_matmul_left(a_dot, b)", "b": "chunk_matmul_right(a, b_dot)"},
}

"""The table of batching rules: how a primitive acts on values that carry leading axes.

A row-wise Jacobian (``jacobian(f, batch=True)``) runs the row function on a block of rows at once
(:mod:`adflow.forward.row_blocks`).  There a row value of shape ``s`` is held as ``(B,) + s`` (B rows)
and its tangent as ``(k, B) + s`` (k directions), so one matrix product serves the whole block.

Elementwise primitives need no entry: NumPy broadcasting aligns trailing axes, so leading axes pass
through unchanged, provided every operand that carries them has the result's full row rank (the
transform checks this; ``x * M`` with a row vector ``x`` and a matrix ``M`` is refused, not guessed).

``batching_rules[primitive][operand]`` holds the block form used when only ``operand`` carries
leading axes, and the row ranks it holds for: ``{(rank of a, rank of b): rank of the result}``.
The ranks are those of one row (the other operand is shared by every row).  The helpers live in
:mod:`adflow.runtime` and flatten the leading axes into one long matrix product.

Indexing a row value with numbers and slices keeps the leading axes whole (``x[0]`` becomes
``x[:, 0]``, its tangent ``x_dot[:, :, 0]``); that needs no entry either.

Tangents need no table of their own: the tangent rule of ``a @ b`` is ``np.dot(a, b_dot)``, and
the same entry batches it, with ``b_dot`` carrying its two leading axes.
"""

_PRODUCT = {
    # Both from the row (a per-row matrix or vector times a per-row vector): the product broadcast
    # elementwise (b given an axis to broadcast against a matrix), summed over the last axis.
    "a b": ("lead_sum(a * b)", {(1, 1): 0, (2, 1): 1}),
    # W @ x for every row x: x's last axis is contracted with W's columns.
    "b": ("lead_matmul_left(a, b)", {(2, 1): 1}),
    # x @ W (or M @ w) for every row: the row's last axis is contracted with W's rows.
    "a": ("lead_matmul_right(a, b)", {(1, 1): 0, (1, 2): 1, (2, 1): 1, (2, 2): 2}),
}

batching_rules: dict[str, dict[str, tuple[str, dict]]] = {
    "matmul": _PRODUCT,
    "dot": _PRODUCT,
    # np.sum(x) of a row vector (no axis=): the sum over the last axis, for every row.
    "sum": {"x": ("lead_sum(x)", {(1,): 0})},
}

# Calls in the tangent rules that apply a primitive (operands first, then its static parameters):
# ``reduce_sum(x_dot, axis)`` is the sum of x_dot, batched by the "sum" entry above.
rule_calls = {"reduce_sum": "sum"}

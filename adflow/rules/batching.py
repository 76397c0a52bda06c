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

Tangents need no table of their own: the tangent rule of ``a @ b`` is ``np.dot(a, b_dot)``, and
the same entry batches it, with ``b_dot`` carrying its two leading axes.
"""

_PRODUCT = {
    # W @ x for every row x: x's last axis is contracted with W's columns.
    "b": ("lead_matmul_left(a, b)", {(2, 1): 1}),
    # x @ W (or M @ w) for every row: the row's last axis is contracted with W's rows.
    "a": ("lead_matmul_right(a, b)", {(1, 1): 0, (1, 2): 1, (2, 1): 1, (2, 2): 2}),
}

batching_rules: dict[str, dict[str, tuple[str, dict]]] = {
    "matmul": _PRODUCT,
    "dot": _PRODUCT,
}

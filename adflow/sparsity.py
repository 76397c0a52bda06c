"""Sparse Jacobians: detect the pattern, colour the columns, compress the forward passes.

**Detection** pushes one forward pass of Python duals whose tangent is the *set* of inputs a value
depends on (:mod:`adflow.duals.index_sets`): the rules' tangent formulas, read with ``+`` as union,
give each output's inputs whatever the partial derivatives' values at this point, i.e. the
*structural* pattern (a superset where a formula itself divides by zero).  Its cost follows the
sets' sizes, not inputs x outputs, and it compiles nothing.  Branches are those taken at the given
point; pass ``sparsity=`` explicitly if another point could take branches that add entries.  A
function the Python duals cannot run falls back to compiled passes with NaN tangents (NaN survives
every product and sum, so it marks the same structure), one per 16 inputs.

**Colouring**: two columns may share a forward pass when no row has entries in both (greedy,
largest-degree first).  A tridiagonal pattern needs 3 colours, whatever ``n``.

**Compression**: one forward pass with one direction per colour gives ``J S``; every nonzero of
``J`` is read back from the column of its colour.
"""
from __future__ import annotations

import logging

import numba
import numpy as np
import scipy.sparse as sp

from .duals.index_sets import pattern_rows, propagating, unit_sets
from .errors import ShapeError
from .forward.api import forward_pass

log = logging.getLogger("adflow")

DETECTION_CHUNK = 16
MAX_CHUNK = 32


def detect_pattern(func, args, wrt, target, chunk=DETECTION_CHUNK):
    """Boolean CSR pattern (outputs x inputs, flattened) of ``func``'s Jacobian at ``args``."""
    try:
        return index_set_pattern(func, args, wrt)
    except Exception as error:  # noqa: BLE001 - any failure here has a compiled fallback
        log.info("adflow: sparsity detection by index sets failed (%s: %s); using NaN tangents, "
                 "one compiled pass per %d inputs", type(error).__name__, error, chunk)
        return nan_pattern(func, args, wrt, target, chunk)


def index_set_pattern(func, args, wrt):
    """The pattern from one forward pass of Python duals carrying index sets."""
    n = int(np.size(args[wrt]))
    with propagating():
        _, sets = forward_pass(func, args, wrt, unit_sets(n), 1, "python")
    rows, cols = pattern_rows(sets)
    return sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(sets.shape[0], n))


def nan_pattern(func, args, wrt, target, chunk=DETECTION_CHUNK):
    """The pattern from compiled forward passes seeded with NaN, ``chunk`` inputs per pass."""
    x = args[wrt]
    n = int(np.size(x))
    rows, cols = [], []
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        dirs = np.zeros((n, chunk))
        dirs[np.arange(start, start + count), np.arange(count)] = np.nan
        _, t = forward_pass(func, args, wrt, dirs, chunk, target)
        r, c = np.nonzero(np.isnan(t[:, :count]))
        rows.append(r)
        cols.append(c + start)
    m = t.shape[0]
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(m, n))


def as_pattern(pattern, m, n):
    """A user's pattern (dense boolean array or scipy sparse) as boolean CSR, checked against the shape."""
    pattern = sp.csr_array(pattern, dtype=bool) if sp.issparse(pattern) else sp.csr_array(np.asarray(pattern, bool))
    if pattern.shape != (m, n):
        raise ShapeError(f"the sparsity pattern has shape {pattern.shape}, but the Jacobian is {(m, n)}")
    return pattern


def color_columns(pattern) -> np.ndarray:
    """Greedy colouring of the column intersection graph: columns sharing a row get different colours."""
    pattern = sp.csc_array(pattern, dtype=bool)
    pattern.sort_indices()
    csr = sp.csr_array(pattern)
    degree = np.diff(pattern.indptr)
    order = np.argsort(-degree, kind="stable")
    return _greedy_colors(pattern.indptr.astype(np.int64), pattern.indices.astype(np.int64),
                          csr.indptr.astype(np.int64), csr.indices.astype(np.int64), order.astype(np.int64))


@numba.njit(cache=True)
def _greedy_colors(col_ptr, col_rows, row_ptr, row_cols, order):
    # Compiled: a Python loop over columns and their neighbours took seconds on patterns of 10^5
    # columns (GradBench's hand tracking), once per new size.  ``mark[c] == j`` says colour c is
    # taken by a neighbour of column j.
    n = order.shape[0]
    colors = np.full(n, -1, np.int64)
    mark = np.full(n + 1, -1, np.int64)
    for j in order:
        for p in range(col_ptr[j], col_ptr[j + 1]):
            r = col_rows[p]
            for q in range(row_ptr[r], row_ptr[r + 1]):
                c = colors[row_cols[q]]
                if c >= 0:
                    mark[c] = j
        color = 0
        while mark[color] == j:
            color += 1
        colors[j] = color
    return colors


def compressed_jacobian(func, args, wrt, pattern, colors, target):
    """A callable ``run(args)``: ``J`` as CSR from forward passes carrying one direction per colour.

    The seeds and the place of every nonzero in the compressed result depend only on the pattern
    and the colouring, so they are worked out here once; a call is then the compiled passes, one
    gather and the CSR wrapper (no COO sorting per call).
    """
    n = int(np.size(args[wrt]))
    n_colors = int(colors.max()) + 1 if n else 1
    # Many colours (a dense pattern) go in several passes of at most MAX_CHUNK directions.
    k = min(n_colors, MAX_CHUNK)
    passes = []
    for first in range(0, n_colors, k):
        seeds = np.zeros((n, k))
        in_block = (colors >= first) & (colors < first + k)
        seeds[np.nonzero(in_block)[0], colors[in_block] - first] = 1.0
        passes.append((seeds, min(k, n_colors - first)))
    structure = sp.csr_array(pattern, dtype=bool)
    structure.sum_duplicates()
    structure.sort_indices()
    indptr, indices = structure.indptr, structure.indices
    rows = np.repeat(np.arange(structure.shape[0]), np.diff(indptr))
    # Nonzero (i, j) sits at (i, colour of j) in the compressed J, read as a flat index: one take
    # from a contiguous array is a sixth of the time of indexing with a pair of index arrays.
    width = k if len(passes) == 1 else n_colors
    where = rows * width + colors[indices]

    def run(args):
        blocks = [forward_pass(func, args, wrt, seeds, k, target)[1] for seeds, _ in passes]
        compressed = blocks[0] if len(blocks) == 1 else np.concatenate(
            [block[:, :used] for block, (_, used) in zip(blocks, passes)], axis=1)
        # Fresh index arrays each call: the caller may change its matrix in place (eliminate_zeros).
        return sp.csr_array((np.take(compressed, where), indices.copy(), indptr.copy()), shape=structure.shape)

    return run

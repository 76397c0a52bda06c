"""GradBench ``det``: the determinant by expansion by minors (cmpad's ``det_by_minor``) and its gradient.

The expansion is cmpad's recursive algorithm (rows and columns of a minor kept as linked lists
``r`` and ``c``, the first row of each minor expanded along its columns), written as a loop
with an explicit stack of the pending minors: adflow does not differentiate recursion, and the
loop does the same multiplications and additions as the recursion, in the same order.

``primal``: the loop compiled by numba.  ``gradient``: ``adflow.grad`` with respect to ``A`` (one
reverse sweep over the expansion), in row-major order like ``A``.
"""
from __future__ import annotations

import numba
import numpy as np

import adflow

from ._runs import Function, floats, tolist


def det_by_minors(A, ell):
    # A: the matrix in row-major order, ell * ell numbers
    if ell == 1:
        return A[0]
    # r[i] is the row after row i in the current minor, r[ell] its first row (likewise c for columns)
    r = np.zeros(ell + 1, dtype=np.int64)
    c = np.zeros(ell + 1, dtype=np.int64)
    for i in range(ell):
        r[i] = i + 1
        c[i] = i + 1
    # one entry per minor being expanded (depth 0 is A itself, of size ell)
    first_row = np.zeros(ell, dtype=np.int64)   # its row 0, removed while its sub-minors are expanded
    col = np.zeros(ell, dtype=np.int64)         # the column being expanded along
    prev_col = np.zeros(ell, dtype=np.int64)    # where col hangs in the list c
    done = np.zeros(ell, dtype=np.int64)        # columns expanded so far
    sign = np.zeros(ell)
    det_minor = np.zeros(ell)

    depth = 0
    first_row[0] = r[ell]
    col[0] = c[ell]
    prev_col[0] = ell
    sign[0] = 1.0
    r[ell] = r[first_row[0]]
    det_sub = 0.0
    have_sub = False
    while True:
        size = ell - depth
        if have_sub:
            # add sign * M[0, j] * det(sub-minor j) and move on to the next column
            cj = col[depth]
            c[prev_col[depth]] = cj
            det_minor[depth] = det_minor[depth] + sign[depth] * A[first_row[depth] * ell + cj] * det_sub
            prev_col[depth] = cj
            col[depth] = c[cj]
            sign[depth] = -sign[depth]
            done[depth] = done[depth] + 1
            have_sub = False
        elif done[depth] < size:
            # remove column j: the sub-minor of row 0 and column j
            c[prev_col[depth]] = c[col[depth]]
            if size == 2:
                det_sub = A[r[ell] * ell + c[ell]]
                have_sub = True
            else:
                depth = depth + 1
                first_row[depth] = r[ell]
                col[depth] = c[ell]
                prev_col[depth] = ell
                done[depth] = 0
                sign[depth] = 1.0
                det_minor[depth] = 0.0
                r[ell] = r[first_row[depth]]
        else:
            # this minor is expanded: restore its row 0 and hand its determinant up
            r[ell] = first_row[depth]
            det_sub = det_minor[depth]
            if depth == 0:
                break
            depth = depth - 1
            have_sub = True
    return det_sub


primal_compiled = numba.njit(cache=True)(det_by_minors)
gradient_of_det = adflow.grad(det_by_minors, wrt=0, target="cpu")


def _prepare(input):
    return floats(input["A"]), int(input["ell"])


FUNCTIONS = {
    "primal": Function(_prepare, primal_compiled, float),
    "gradient": Function(_prepare, gradient_of_det, tolist),
}

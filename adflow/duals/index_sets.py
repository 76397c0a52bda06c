"""Index-set tangents: a dual whose tangent records *which* inputs a value depends on, not how much.

Sparsity detection pushes one forward pass of Python duals whose single tangent is an
:class:`IndexSet` (an object array of them for an array).  The tangent formulas of the rules
tables are linear in the tangents (sums of ``partial * tangent``), so reading ``+`` as union and
``partial * set`` as the set itself turns every formula, unchanged, into the propagation of the
*structural* dependencies: a partial that happens to be zero at this point still keeps its
input's entries, as NaN tangents did.  One pass gives every output's set of inputs, at a cost that
follows the sets' sizes rather than inputs x outputs.

While :func:`propagating` is active, the duals' zero tangents (constants, fresh storage) are
object arrays of the empty set instead of float zeros, so a set can be stored into them.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np


class IndexSet:
    """The (flattened) indices of the inputs a number depends on; immutable.

    >>> a, b = IndexSet({0}), IndexSet({3})
    >>> sorted((2.5 * a + b).indices)      # a partial scales nothing: the union of the sets
    [0, 3]
    >>> (a - 0.0) is a                     # a zero tangent adds nothing
    True
    """

    __slots__ = ("indices",)

    def __init__(self, indices=()):
        self.indices = frozenset(indices)

    def _join(self, other):
        if isinstance(other, IndexSet):
            if other.indices <= self.indices:
                return self
            if self.indices <= other.indices:
                return other
            return IndexSet(self.indices | other.indices)
        return self  # a number: a partial derivative, or a float zero tangent

    # Sums of tangents are unions; a partial (any number) times a set is the set.
    __add__ = __radd__ = __sub__ = __rsub__ = _join
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _join

    def __neg__(self):
        return self

    __pos__ = __abs__ = __neg__

    def conjugate(self):
        return self

    def __repr__(self) -> str:
        return f"IndexSet({sorted(self.indices)})"


EMPTY = IndexSet()

_PROPAGATING = contextvars.ContextVar("adflow_index_sets", default=False)


@contextlib.contextmanager
def propagating():
    """Within this block, Python duals allocate index-set tangents instead of float ones."""
    token = _PROPAGATING.set(True)
    try:
        yield
    finally:
        _PROPAGATING.reset(token)


def is_propagating() -> bool:
    return _PROPAGATING.get()


def zero_tangents(shape) -> np.ndarray:
    """Zero tangents of ``shape``: float zeros, or empty index sets while :func:`propagating`."""
    if _PROPAGATING.get():
        return np.full(shape, EMPTY, dtype=object)
    return np.zeros(shape)


def as_tangents(tangents) -> np.ndarray:
    """``tangents`` as an array: float64, or object if they hold index sets."""
    array = np.asarray(tangents)
    return array if array.dtype == object else array.astype(np.float64, copy=False)


def unit_sets(n: int) -> np.ndarray:
    """Seeds of a detection pass, shape (n, 1): input i depends on itself only."""
    seeds = np.empty((n, 1), dtype=object)
    seeds[:, 0] = [IndexSet((i,)) for i in range(n)]
    return seeds


def union_all(tangents: np.ndarray):
    """One set holding every index in ``tangents`` (a rule that cannot run on sets: all to all)."""
    indices = set()
    for t in np.ravel(tangents):
        if isinstance(t, IndexSet):
            indices |= t.indices
    return IndexSet(indices)


def pattern_rows(tangents: np.ndarray):
    """(row, column) index arrays of the nonzeros, from an (outputs, 1) array of sets."""
    rows, cols = [], []
    for i, t in enumerate(np.ravel(tangents)):
        if isinstance(t, IndexSet) and t.indices:
            found = sorted(t.indices)
            rows.append(np.full(len(found), i, dtype=np.int64))
            cols.append(np.asarray(found, dtype=np.int64))
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)

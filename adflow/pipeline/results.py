"""What the entry points hand back: values and derivatives of one type on every target, and results
laid out as nested tuples the way JAX lays them out.

The convention, the same for every transform and target:

* a **derivative** has the type of what it is the derivative with respect to: a Python float for
  a Python float, an ``np.float32`` for an ``np.float32``, a 0-d array for a 0-d array, an array of
  the argument's dtype for an array (:func:`derivative_like`);
* a scalar **value** (what ``f`` returned) is a Python float when the call passed no NumPy arrays
  or NumPy scalars, and otherwise the NumPy scalar of the arguments' float type (``np.float64``,
  ``np.float32``), as NumPy's own reductions return it; arrays come back as arrays
  (:func:`value_like`).  numba boxes every float as a Python float, plain Python keeps NumPy's
  scalars: without this, ``value_and_grad`` answered ``float`` on one target and ``np.float64`` on
  the other;
* a tangent (``jvp``) has the type of the value it is the tangent of (:func:`tangent_like`).

A tuple result is a tree: its leaves are arrays and numbers.  Derivatives of a tuple are trees of
the same layout, each leaf holding that leaf's derivative (:func:`jacobian_tree`,
:func:`hessian_tree`), as ``jax.jacobian`` and ``jax.hessian`` return them.
"""
from __future__ import annotations

import numpy as np

from .arguments import cast_like

derivative_like = cast_like


def _scalar_type(args):
    """``float`` for a call of Python numbers; else ``np.float32`` when every NumPy float argument is
    float32, ``np.float64`` otherwise (what NumPy's type promotion gives for these two)."""
    numpy, single, double = False, False, False
    for a in args:
        if isinstance(a, (np.ndarray, np.generic)):
            numpy = True
            char = a.dtype.char
            if char == "f":  # float32
                single = True
            elif char in "deg":  # float16 and longer floats promote with float64 as float64 does
                double = True
    if not numpy:
        return float
    return np.float32 if single and not double else np.float64


def value_like(value, args):
    """``value`` (a number, an array or a tuple of them) in the convention above, for a call with ``args``.

    >>> import numpy as np
    >>> type(value_like(2.0, (1.0,))).__name__, type(value_like(2.0, (np.ones(2),))).__name__
    ('float', 'float64')
    """
    if isinstance(value, tuple):
        return tuple(value_like(v, args) for v in value)
    if isinstance(value, np.ndarray) or isinstance(value, (bool, np.bool_, int, np.integer)):
        return value
    if isinstance(value, (float, np.floating)):
        return _scalar_type(args)(value)
    return value


def tangent_like(tangent, value):
    """``tangent`` in the type and shape of ``value`` (after :func:`value_like`); trees leaf by leaf."""
    if isinstance(value, tuple):
        return tuple(tangent_like(t, v) for t, v in zip(tangent, value))
    if isinstance(value, np.ndarray):
        dtype = value.dtype if value.dtype.kind == "f" else np.float64
        return np.asarray(tangent, dtype=dtype).reshape(value.shape)
    if isinstance(value, np.floating):
        return type(value)(np.reshape(tangent, ()))
    return float(np.reshape(tangent, ()))


def leaves(tree) -> list:
    """The arrays and numbers of a (nested) tuple, depth first."""
    if isinstance(tree, tuple):
        return [leaf for part in tree for leaf in leaves(part)]
    return [tree]


def rebuild(tree, new_leaves):
    """``tree`` with its leaves replaced, in order, by ``new_leaves`` (an iterator)."""
    if isinstance(tree, tuple):
        return tuple(rebuild(part, new_leaves) for part in tree)
    return next(new_leaves)


def shapes(tree) -> list:
    """The shape of each leaf, depth first."""
    return [np.shape(leaf) for leaf in leaves(tree)]


def total_size(tree) -> int:
    """How many numbers the leaves hold together: the rows of the flattened Jacobian."""
    return sum(int(np.prod(shape, dtype=int)) for shape in shapes(tree))


def _offsets(tree):
    start = 0
    for shape in shapes(tree):
        size = int(np.prod(shape, dtype=int))
        yield start, start + size, tuple(shape)
        start += size


def split_tangents(value, flat):
    """Tangents flattened to rows (``total_size(value)`` rows, ``k`` columns) as one ``shape + (k,)`` array per leaf."""
    flat = np.asarray(flat)
    k = flat.shape[-1]
    return rebuild(value, iter([flat[a:b].reshape(shape + (k,)) for a, b, shape in _offsets(value)]))


def _block(block, out_shape, x):
    # A number's derivative with respect to a number has the type the convention gives it (a Python
    # float for a Python float); any larger block is an array.
    return derivative_like(block, x) if block.ndim == 0 and out_shape == () else block


def jacobian_tree(value, flat_jacobians, xs, single):
    """The Jacobian laid out like the output: each leaf of ``value`` becomes its block ``leaf.shape + x.shape``,
    or, when ``single`` is false, a tuple of blocks, one per differentiated argument.

    ``flat_jacobians[k]`` is the (outputs x inputs) Jacobian with respect to ``xs[k]``, rows in the
    order of :func:`leaves`.
    """
    blocks = []
    for a, b, shape in _offsets(value):
        per_x = tuple(_block(np.asarray(J[a:b]).reshape(shape + np.shape(x)), shape, x)
                      for J, x in zip(flat_jacobians, xs))
        blocks.append(per_x[0] if single else per_x)
    return rebuild(value, iter(blocks))


def hessian_tree(value, flat_hessians, xs, single):
    """Hessian blocks laid out like the output and then like ``wrt`` twice, as ``jax.hessian`` does.

    ``flat_hessians[i][j]`` has shape (outputs, size of ``xs[i]``, size of ``xs[j]``); each leaf of
    ``value`` gets ``leaf.shape + xs[i].shape + xs[j].shape`` (one block when ``single``, else a
    tuple of tuples).
    """
    blocks = []
    for a, b, shape in _offsets(value):
        rows = tuple(tuple(_block(np.asarray(H[a:b]).reshape(shape + np.shape(xi) + np.shape(xj)), shape + np.shape(xi), xj)
                           for H, xj in zip(row, xs))
                     for row, xi in zip(flat_hessians, xs))
        blocks.append(rows[0][0] if single else rows)
    return rebuild(value, iter(blocks))

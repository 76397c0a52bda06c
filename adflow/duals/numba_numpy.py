"""NumPy calls numba's NumPy lacks, implemented for plain arrays and numbers.

adflow differentiates what numba compiles, and numba (0.60 and later) implements ``np.max``,
``np.min``, ``np.mean`` and ``np.prod`` without ``axis=``, and ``np.atleast_1d/2d/3d`` for arrays
only.  These overloads fill the gaps, so that::

    m = np.max(X, axis=0)      s = np.mean(X, axis=1)      v = np.atleast_1d(x[0])

compile in the user's function, in its helpers, and in generated code; the dual arrays'
versions (:mod:`adflow.duals.numba_arrays`) reduce their values with them.  Each overload answers
only the argument types numba's own implementation refuses (an integer axis, a number), so
code numba compiled before compiles as before, with one exception: ``np.sum(a, axis=k)`` of a
float array, which numba implements, is taken over too, because numba's version formats an
axis-bounds message with string code that takes seconds to compile (2.3 s of a first gradient).
An axis is an integer (a reduction of a 1-D array gives a number, as in NumPy).  A reduction
along an axis is a loop nest written out for its number of dimensions (:func:`fold_along`), and
cached on disk with the adjoints' and tangents' loop nests (:func:`spread_along`,
:func:`share_along`, :func:`pick_along`, :func:`prod_tangent_along`).

The array methods (``X.max(axis=0)``) stay as numba has them, without ``axis=``: numba types a
method through its own implementation's signature, which another overload cannot extend.
"""
from __future__ import annotations

import functools

import numpy as np
from numba.core import types
from numba.extending import overload

from ..backends.cache_files import CACHED, helper_function


# How each reduction starts its result and folds an element ``v`` into its entry ``out[at]``;
# ``first`` is true for the first element along the axis.  A mean is a sum, divided at the end.
_FOLDS = {
    "sum": ("np.zeros", "out[at] += v"),
    "mean": ("np.zeros", "out[at] += v"),
    "prod": ("np.ones", "out[at] *= v"),
    "max": ("np.empty", "if first or v > out[at] or v != v:\n    out[at] = v"),  # a NaN wins, as in np.max
    "min": ("np.empty", "if first or v < out[at] or v != v:\n    out[at] = v"),
}


def _per_axis(ndim: int, args: str, array: str, branch, label: str):
    """A function of ``args`` whose body is one branch per axis ``ax`` of the ``ndim``-d ``array``
    (``axis`` in ``args``, negative counting from the end): ``if ax == 0: ...``, each a loop nest
    written by ``branch(ax, kept, at, every)`` (``kept``: the sizes left once ``ax`` is reduced,
    ``at``: the index into them, ``every``: the full index).  numba compiles plain scalar loops
    with no runtime tuple of indices, once per machine: the overloads that return these functions
    cache them on disk (:func:`~adflow.backends.cache_files.helper_function`), since each function
    numba compiles costs it a tenth of a second or more in every new process."""
    lines = [f"def impl({args}):", f"    ax = axis if axis >= 0 else axis + {ndim}",
             f"    {''.join(f'n{d}, ' for d in range(ndim))}= {array}.shape"]
    for ax in range(ndim):
        others = [d for d in range(ndim) if d != ax]
        kept = "(" + "".join(f"n{d}, " for d in others) + ")"
        at = "(" + "".join(f"i{d}, " for d in others) + ")"
        every = ", ".join(f"i{d}" for d in range(ndim))
        lines.append(f"    if ax == {ax}:")
        lines += ["        " + line for line in branch(ax, kept, at, every)]
    lines.append("    raise ValueError('axis out of bounds')")
    return helper_function("\n".join(lines) + "\n", {}, label)


def loop_nest(ndim: int, body: list[str]) -> list[str]:
    """Lines of ``ndim`` nested loops ``for i<d> in range(n<d>)`` around ``body``, unindented."""
    lines, indent = [], ""
    for d in range(ndim):
        lines.append(f"{indent}for i{d} in range(n{d}):")
        indent += "    "
    return lines + [indent + line for line in body]


@functools.cache
def fold_along(ndim: int, fold: str):
    """``f(a, axis=None)``: the reduction ``fold`` of an ``ndim``-d array (``ndim >= 2``) along ``axis``.

    Written out for each axis and walking ``a`` in C order (numba's own ``np.sum(a, axis=k)``
    formats an axis-bounds message with string code that takes seconds to compile).  For
    ``ndim=2`` and ``"sum"``, the branch for ``ax == 1`` is::

        if ax == 1:
            out = np.zeros((n0, ), a.dtype)
            for i0 in range(n0):
                for i1 in range(n1):
                    v = a[i0, i1]
                    out[(i0, )] += v
            return out
    """
    start, step = _FOLDS[fold]

    def branch(ax, kept, at, every):
        empty = [f"if n{ax} == 0:", "    raise ValueError('zero-size array to reduction operation which has no identity')"]
        body = [f"v = a[{every}]"] + step.replace("out[at]", f"out[{at}]").replace("first", f"i{ax} == 0").splitlines()
        return ((empty if fold in ("max", "min") else []) + [f"out = {start}({kept}, a.dtype)"]
                + loop_nest(ndim, body) + [f"return out / n{ax}" if fold == "mean" else "return out"])

    return _per_axis(ndim, "a, axis=None", "a", branch, f"{fold} along an axis of a {ndim}-d array")


@functools.cache
def spread_along(ndim: int):
    """``f(g, x, axis)``: ``g``, reduced from ``x`` along ``axis``, repeated along it to ``x``'s shape."""
    def branch(ax, kept, at, every):
        return ["out = np.empty(x.shape, g.dtype)"] + loop_nest(ndim, [f"out[{every}] = g[{at}]"]) + ["return out"]

    return _per_axis(ndim, "g, x, axis", "x", branch, f"spread along an axis of a {ndim}-d array")


@functools.cache
def share_along(ndim: int):
    """``f(g, ans, x, axis)``: ``g`` (the cotangent of ``ans``, a max or min of ``x`` along ``axis``)
    shared evenly among the elements of ``x`` that attain it, zero elsewhere: the extremum's adjoint."""
    def branch(ax, kept, at, every):
        return (["count = np.zeros(" + kept + ")"]
                + loop_nest(ndim, [f"if x[{every}] == ans[{at}]:", f"    count[{at}] += 1.0"])
                + ["out = np.zeros(x.shape)"]
                + loop_nest(ndim, [f"if x[{every}] == ans[{at}]:", f"    out[{every}] = g[{at}] / count[{at}]"])
                + ["return out"])

    return _per_axis(ndim, "g, ans, x, axis", "x", branch, f"an extremum's adjoint along an axis of a {ndim}-d array")


@functools.cache
def pick_along(ndim: int):
    """``f(x_dot, ans, x, axis)``: the tangent of ``ans``, a max or min of ``x`` along ``axis``: the
    mean of ``x_dot`` over the elements of ``x`` that attain it (the transpose of :func:`share_along`)."""
    def branch(ax, kept, at, every):
        return ([f"total = np.zeros({kept})", f"count = np.zeros({kept})"]
                + loop_nest(ndim, [f"if x[{every}] == ans[{at}]:", f"    total[{at}] += x_dot[{every}]",
                                   f"    count[{at}] += 1.0"])
                + ["return total / count"])

    return _per_axis(ndim, "x_dot, ans, x, axis=None", "x", branch,
                     f"an extremum's tangent along an axis of a {ndim}-d array")


@functools.cache
def prod_tangent_along(ndim: int):
    """``f(x_dot, ans, x, axis)``: the tangent of ``ans``, the product of ``x`` along ``axis``: the sum
    of ``x_dot * ans / x`` along it, in one pass without temporaries."""
    def branch(ax, kept, at, every):
        return ([f"out = np.zeros({kept})"]
                + loop_nest(ndim, [f"out[{at}] += x_dot[{every}] * ans[{at}] / x[{every}]"])
                + ["return out"])

    return _per_axis(ndim, "x_dot, ans, x, axis=None", "x", branch,
                     f"a product's tangent along an axis of a {ndim}-d array")


def along_an_axis(a, axis) -> bool:
    """Whether ``(a, axis)`` are the numba types of a float array and an integer axis."""
    return isinstance(a, types.Array) and isinstance(a.dtype, types.Float) and isinstance(axis, types.Integer)


def _along_axis(fold):
    """A typer for ``f(a, axis)`` of a float array of 2 or more dimensions and an integer axis."""
    def typer(a, axis=None):
        return fold_along(a.ndim, fold) if along_an_axis(a, axis) and a.ndim >= 2 else None
    return typer


def _whole(function):
    """A typer for ``function(a, axis)`` of a 1-D float array: a number, as in NumPy."""
    def typer(a, axis=None):
        return (lambda a, axis=None: function(a)) if along_an_axis(a, axis) and a.ndim == 1 else None
    return typer


_REDUCTIONS = {
    np.sum: "sum",
    np.mean: "mean",
    np.prod: "prod",
    np.max: "max",
    np.amax: "max",
    np.min: "min",
    np.amin: "min",
}


def _at_least(ndim):
    """A typer for ``np.atleast_<ndim>d(x)`` of a number: an array of shape ``(1,) * ndim``."""
    shape = (1,) * ndim

    def typer(x):
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return lambda x: np.full(shape, x)
        return None
    return typer


def register_all() -> None:
    done = []
    for function, fold in _REDUCTIONS.items():
        if all(function is not seen for seen in done):  # np.amax is np.max in NumPy 2
            overload(function)(_whole(function))
            overload(function, jit_options=CACHED)(_along_axis(fold))
            done.append(function)
    for ndim, function in ((1, np.atleast_1d), (2, np.atleast_2d), (3, np.atleast_3d)):
        overload(function)(_at_least(ndim))


register_all()

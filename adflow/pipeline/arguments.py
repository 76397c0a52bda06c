"""What the entry points accept: the user's arguments prepared, and options checked, in one place.

Every target's ``grad``, ``vjp``, ``jvp`` and ``jacobian`` read their arguments through these, so
a check (and its message) is written once.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..value_types import is_float_type

MODES = ("auto", "forward", "reverse")


def prepare_args(args):
    """Lists become arrays; the user's own arrays are passed as they are (never written to)."""
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            a = np.asarray(a, dtype=float)
        out.append(a)
    return out


def cast_like(derivative, arg):
    """A derivative in the float type of its argument (a device array's stays as computed)."""
    if isinstance(arg, np.ndarray):
        return np.asarray(derivative, dtype=arg.dtype)
    if isinstance(arg, np.floating):
        return type(arg)(derivative)
    if isinstance(arg, (float, int, np.number)):
        return float(derivative)
    return derivative


def is_index(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def normalize_wrt(wrt, nargs=None, fname="f"):
    """``(indices, single)`` for ``wrt`` given as an int or a tuple of ints (below ``nargs`` if given)."""
    if is_index(wrt):
        ks, single = (int(wrt),), True
    else:
        try:
            ks = tuple(wrt)
        except TypeError:
            ks = ()
        single = False
        if not ks or not all(is_index(k) for k in ks):
            raise ArgumentError(f"wrt must be an int or a non-empty tuple of ints, not {wrt!r}",
                                hint="wrt=0 differentiates with respect to the first argument, wrt=(0, 1) the first two")
        ks = tuple(int(k) for k in ks)
    if any(k < 0 for k in ks) or len(set(ks)) != len(ks):
        raise ArgumentError(f"wrt={wrt!r}: each argument index must be non-negative and appear once",
                            hint="count arguments from 0, left to right")
    if nargs is not None:
        check_wrt_range(ks, nargs, fname)
    return ks, single


def check_wrt_range(wrt, nargs, fname):
    for k in wrt:
        if k >= nargs:
            raise ArgumentError(
                f"wrt={k} is out of range: {fname} is called with {nargs} argument{'s' if nargs != 1 else ''} "
                f"(indices 0 to {nargs - 1})",
                hint="wrt counts the positional arguments from 0")


def float_positions(argtypes):
    """The positions of the float arguments: what is differentiated when ``wrt`` is not given."""
    return tuple(k for k, t in enumerate(argtypes) if is_float_type(t))


def check_batch(wrt, has_aux, with_value, batch=True):
    """``batch=True`` gradients: one differentiated argument (the rows), no aux value, no value.

    ``batch=(None, 0, 0)`` says which arguments carry rows (0) and which are shared (None), as
    ``jax.vmap``'s ``in_axes``; returns the positions of those carrying rows.
    """
    if batch is True:
        if len(wrt) != 1 or has_aux or with_value:
            raise ArgumentError("batch=True takes one wrt argument, without has_aux or value_and_grad",
                                hint="batch=(None, 0, 0) says which arguments carry rows, for any wrt")
        return wrt
    try:
        axes = tuple(batch)
    except TypeError:
        axes = None
    if not axes or any(a is not None and not (is_index(a) and a == 0) for a in axes) or all(a is None for a in axes):
        raise ArgumentError(f"batch must be True or a tuple of 0 and None, one per argument, not {batch!r}",
                            hint="batch=(None, 0, 0): the rows of the 2nd and 3rd arguments, the 1st shared "
                                 "(axis 0 carries the rows; other axes are not supported)")
    if has_aux or with_value:
        raise ArgumentError("batch= gives per-row gradients only, without has_aux or value_and_grad")
    return tuple(k for k, a in enumerate(axes) if a is not None)


def check_batched_call(batch, batched, args, fname):
    """The arguments carrying rows, checked: arrays of rows, as many rows each, ``batch`` one entry per argument."""
    if batch is not True and len(batch) > len(args):
        raise ArgumentError(f"batch={batch!r} has {len(batch)} entries but {fname} is called with {len(args)} "
                            f"arguments", hint="give batch= one entry (0 or None) per argument")
    rows = None
    for k in batched:
        a = args[k]
        if not isinstance(a, np.ndarray) or a.ndim < 1 or a.shape[0] == 0:
            raise ShapeError(f"batch= needs argument {k} of {fname} to be an array of rows, "
                             f"got {getattr(a, 'shape', type(a).__name__)}",
                             hint="axis 0 of a batched argument runs over the rows")
        if rows is not None and a.shape[0] != rows[1]:
            raise ShapeError(f"the batched arguments of {fname} have different numbers of rows: argument {rows[0]} "
                             f"has {rows[1]}, argument {k} has {a.shape[0]}")
        rows = (k, a.shape[0])


def check_one_wrt(wrt, what, hint):
    """Refuse a ``wrt`` that is not one argument index (Jacobians and Hessians take one)."""
    if not isinstance(wrt, int):
        raise ArgumentError(f"{what} takes one argument to differentiate (wrt an int), not {wrt!r}", hint=hint)


def check_mode(mode):
    if mode not in MODES:
        raise ArgumentError(f"mode must be 'auto', 'forward' or 'reverse', not {mode!r}",
                            hint="'auto' picks the cheaper of the two from the sizes")


def check_tangents(tangents, wrt, primals):
    """One tangent per differentiated argument, shaped like it."""
    if len(tangents) != len(wrt):
        raise ShapeError(f"jvp got {len(tangents)} tangents for {len(wrt)} differentiated arguments")
    for k, t in zip(wrt, tangents):
        if np.shape(t) != np.shape(primals[k]):
            raise ShapeError(f"the tangent for argument {k} has shape {np.shape(t)} but the argument has shape "
                             f"{np.shape(primals[k])}", hint="pass one tangent shaped like each differentiated argument")

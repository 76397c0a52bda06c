"""Finite differences of a program, with an error bound per entry from two step sizes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = float(np.finfo(np.float64).eps)
STEPS = (1e-6, 1e-5)  # central-difference steps, relative to max(1, |coordinate|)
MARGIN = 10.0  # times the gap between the two steps' differences: the error bound of the smaller step's
ROUNDING = 100.0  # f's rounding error, in units of eps * |f|
CONSISTENT = 1e-4  # differences at the two steps further apart than this (relative) are left out
FLOAT32 = 2e-3  # relative error allowed to derivatives computed in float32


def coordinates_of(args, wrt):
    """(argument, index) of every differentiated number; the index is None for a float argument."""
    return [(k, idx) for k in wrt
            for idx in (np.ndindex(args[k].shape) if isinstance(args[k], np.ndarray) else [None])]


def _moved(args, k, idx, value):
    """Fresh copies of ``args`` with one number set to ``value``."""
    out = [np.array(v) if isinstance(v, np.ndarray) else v for v in args]
    if idx is None:
        out[k] = value
    else:
        out[k][idx] = value
    return out


def flatten(y):
    """A number, an array or a tuple of them as one float64 vector (the Jacobian's rows)."""
    if isinstance(y, tuple):
        return np.concatenate([flatten(part) for part in y])
    return np.asarray(y, dtype=np.float64).ravel()


def unflatten(flat, like):
    """``flat`` shaped like ``like``: a number, an array or a tuple of them."""
    if isinstance(like, tuple):
        sizes = np.cumsum([0] + [np.size(part) for part in like])
        return tuple(unflatten(flat[lo:hi], part) for lo, hi, part in zip(sizes, sizes[1:], like))
    if isinstance(like, np.ndarray) and like.ndim:
        return flat.reshape(like.shape)
    return float(flat[0])


def _differences(f, args, coordinates, h):
    """Central differences of every output in every coordinate at relative step ``h``, and the error
    f's rounding may put into each (its last bits divided by the step)."""
    columns, rounding = [], []
    for k, idx in coordinates:
        v = float(args[k] if idx is None else args[k][idx])
        up, down = v + h * max(1.0, abs(v)), v - h * max(1.0, abs(v))
        y_up, y_down = flatten(f(*_moved(args, k, idx, up))), flatten(f(*_moved(args, k, idx, down)))
        columns.append((y_up - y_down) / (up - down))  # the step as represented, not as asked for
        rounding.append(ROUNDING * EPS * np.maximum(np.abs(y_up), np.abs(y_down)) / (up - down))
    return np.stack(columns, axis=1), np.stack(rounding, axis=1)


@dataclass
class Reference:
    """Central differences of every output (rows) in every differentiated number (columns), each
    with the error it may carry.  An entry whose differences at the two steps disagree (a kink or a
    branch that flips within the step) is left out: it is 0 with error 0, and ``ok`` is False."""
    jac: np.ndarray
    err: np.ndarray
    ok: np.ndarray

    def along(self, left=None, right=None):
        """``left @ J @ right`` (None: the identity), its error bound, and which of its entries rest
        on self-consistent differences only (the ones to check)."""
        jac, err, left_out = self.jac, self.err, (~self.ok).astype(float)
        if left is not None:
            jac, err, left_out = left @ jac, np.abs(left) @ err, (left != 0) @ left_out
        if right is not None:
            jac, err, left_out = jac @ right, err @ np.abs(right), left_out @ (right != 0)
        return jac, err, left_out == 0

    def columns(self, wanted):
        return Reference(self.jac[:, wanted], self.err[:, wanted], self.ok[:, wanted])


def reference(f, args, wrt, float32=False) -> Reference:
    """Finite differences with an error estimate per entry, from two step sizes.

    Central differences are second order: at ten times the step the truncation error is about a
    hundred times larger, so the gap between the two bounds the smaller step's error, and MARGIN
    times it leaves room.  The bound is per entry: a small derivative is checked as tightly as a
    large one.  ``float32``: the derivatives to check were computed in float32 (``args`` are the
    float64 copies the differences use), which adds FLOAT32 relative to the entry and to its row."""
    coordinates = coordinates_of(args, wrt)
    with np.errstate(all="ignore"):
        d1, rounding = _differences(f, args, coordinates, STEPS[0])
        d2, _ = _differences(f, args, coordinates, STEPS[1])
        gap = np.abs(d1 - d2)
        ok = gap <= CONSISTENT * np.maximum(np.abs(d1), np.abs(d2)) + rounding  # False where not finite
        err = MARGIN * gap + rounding + 1e-10 * np.abs(d1)
        if float32:
            row_size = np.sqrt(np.mean(np.where(ok, d1, 0.0) ** 2, axis=1, keepdims=True))
            err = err + FLOAT32 * (np.abs(d1) + row_size)
    return Reference(np.where(ok, d1, 0.0), np.where(ok, err, 0.0), ok)

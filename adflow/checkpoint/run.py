"""One call's run of a checkpointed loop: its plan, its snapshot stores, its two driver calls.

:meth:`LoopRun.forward` runs the plan's first sweep from the loop's entry state (one call of the
loop's compiled driver, :mod:`adflow.checkpoint.drivers`) and returns the state after the loop;
:meth:`LoopRun.reverse` runs the reverse sweep from the cotangent of that state.  Between the two,
the snapshots live in the stores allocated here: per carried value, an array of one row per slot.
"""
from __future__ import annotations

import numpy as np
from numba.np.numpy_support import as_dtype

from ..errors import NonDifferentiableError
from .drivers import SHAPE_CHANGED
from .schedule import plan_for


def zero_like(value):
    """A cotangent of zeros for ``value``: a float array of its shape, or 0.0."""
    return np.zeros_like(value, dtype=np.result_type(value.dtype, np.float64)) if isinstance(value, np.ndarray) \
        else 0.0


class LoopRun:
    """``forward(final)`` then ``reverse(cotangent)``, as ``report`` (a LoopReport) sets out."""

    def __init__(self, sweeps, state, invariants, start, step, float_invariants, vartypes, report, where):
        self.sweeps = sweeps  # the loop's compiled driver
        self.state, self.invariants = state, invariants
        self.start, self.step = start, step
        self.float_invariants = float_invariants  # positions in invariants whose cotangents the driver sums
        self.vartypes = vartypes  # numba types of the carried values, in order
        self.report = report
        self.where = where  # a SourceLocation of the loop, for errors

    def forward(self, final=None):
        """The state after the loop.  ``final``: that state when a counting sweep computed it already
        (the first sweep then stops before the last iteration)."""
        report = self.report
        if report.trips == 0:
            return self.state
        self.plan = plan = plan_for(report.trips, report.snapshots)
        self.kept = [_store(v, ty, plan.slots) for v, ty in zip(self.state, self.vartypes)]
        self.deps = [_store(v, ty, plan.dep_slots) for v, ty in zip(self.state, self.vartypes)]
        last = plan.first_sweep - (final is not None and plan.ends_with_advance)
        out = self.run(0, last, tuple(zero_like(v) for v in self.state))[0]
        report.advanced = plan.advanced - (plan.first_sweep - last)
        report.most_kept, report.taped = plan.most_kept, report.trips
        if final is not None:
            return final
        # The state may be a view into a store (a value the last iterations did not assign).
        stores = self.kept + self.deps
        return tuple(v.copy() if isinstance(v, np.ndarray) and any(np.may_share_memory(v, s) for s in stores) else v
                     for v in out)

    def reverse(self, cotangent):
        """(cotangents of the entry state, cotangents of the invariants: None where not float)."""
        invariant_bars = [None] * len(self.invariants)
        if self.report.trips == 0:
            return cotangent, invariant_bars
        _, state_bars, sums = self.run(*self.plan.reverse_rows, cotangent)
        for p, total in zip(self.float_invariants, sums):
            invariant_bars[p] = total
        return state_bars, invariant_bars

    def run(self, first, last, state_bars):
        sums = [zero_like(self.invariants[p]) for p in self.float_invariants]
        try:
            # The entry state goes to both calls (one compiled signature): rows restore a state
            # before they read one.
            return self.sweeps(self.plan.rows, first, last, *self.state, *self.invariants, self.start, self.step,
                               *self.kept, *self.deps, *state_bars, *sums)
        except ValueError as e:
            if str(e) != SHAPE_CHANGED:
                raise
            raise NonDifferentiableError("checkpointing needs the loop's state arrays to keep their shapes, "
                                         "but one changed shape between iterations", self.where,
                                         hint="keep the shape fixed, or drop checkpoint= for this function") from None


def _store(value, ty, slots):
    """``slots`` rows of ``value``'s shape: arrays of its dtype, numbers of their numba type."""
    if isinstance(value, np.ndarray):
        return np.empty((slots,) + value.shape, value.dtype)
    return np.empty(slots, as_dtype(ty))

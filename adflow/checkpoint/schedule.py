"""Run one loop's forward and reverse sweeps under a binomial checkpointing schedule.

The schedule is the Firedrake project's ``checkpoint_schedules`` package (Griewank and Walther's
Revolve, as ``MultistageCheckpointSchedule`` with every snapshot in memory): a stream of actions
this module carries out with compiled pieces of the loop (:mod:`adflow.checkpoint.split`):

* ``Forward(n0, n1, write_ics, write_adj_deps)``: keep the state at ``n0`` as a snapshot if asked,
  then advance to ``n1`` without a tape (one compiled call for the whole range).  With
  ``write_adj_deps`` the states the reverse steps start from are kept instead;
* ``Reverse(n1, n0)``: for each iteration, last first, the compiled vjp of one iteration: it
  recomputes the iteration with its tape from the state it started from, and maps the cotangent
  of the state after it to the cotangent of the state before it (and of the loop's invariants);
* ``Copy(n)`` / ``Move(n)``: resume from snapshot ``n`` (``Move`` frees it);
* ``EndForward`` / ``EndReverse``.

States are tuples of the loop's carried values.  The compiled pieces copy the arrays they write
into, so a snapshot is the tuple itself, never copied again and never changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError

try:  # an optional dependency: adflow[checkpoint]
    import checkpoint_schedules
    from checkpoint_schedules import (Copy, EndForward, EndReverse, Forward, Move, MultistageCheckpointSchedule,
                                      Reverse)
    from checkpoint_schedules.multistage import optimal_steps_binomial
except ImportError:  # pragma: no cover - exercised only without the package
    checkpoint_schedules = None


def require_schedules():
    """Refuse checkpointing, in adflow's words, when ``checkpoint_schedules`` is not installed."""
    if checkpoint_schedules is None:
        raise ArgumentError("checkpoint= needs the checkpoint_schedules package, which is not installed",
                            hint="pip install 'adflow[checkpoint]' (or pip install checkpoint_schedules)")


def binomial_steps(trips: int, snapshots: int) -> int:
    """Iterations a binomial schedule runs forward (taped ones included) for ``trips`` and ``snapshots``:
    Griewank and Walther's optimum, as ``checkpoint_schedules`` computes it."""
    if trips <= 1:
        return trips
    return optimal_steps_binomial(trips, min(snapshots, trips - 1))


@dataclass
class LoopReport:
    """What one checkpointed loop did in the last call."""

    line: int  # the loop's line in the user's file
    trips: int
    snapshots: int  # the schedule's snapshot count (at most trips - 1 are ever used)
    most_kept: int = 0  # the most snapshots held at once
    advanced: int = 0  # iterations run without a tape (the first sweep included)
    taped: int = 0  # iterations run with their tape and reversed (one per trip)
    counted: int = 0  # iterations of the counting sweep of a while loop (or a loop with break)
    state_bytes: int = 0  # one snapshot

    @property
    def recomputed(self) -> int:
        """Iterations run more than once: everything beyond the first sweep's ``trips``."""
        return self.advanced + self.taped + self.counted - self.trips


class LoopSweeps:
    """One loop's schedule: :meth:`forward` from the entry state, then :meth:`reverse`."""

    def __init__(self, advance, step_vjp, start, step, invariants, report):
        self.advance = advance  # (state, invariants, start, step, k0, k1) -> state
        self.step_vjp = step_vjp  # (state, invariants, start, step, k, state cotangent) -> (cotangents, invariants')
        self.start, self.step = start, step
        self.invariants = invariants
        self.report = report
        self.snapshots, self.deps = {}, {}

    def forward(self, state, final=None):
        """Run the schedule's first sweep from ``state``; returns the state after the loop.

        ``final``: the state after the loop when a counting sweep already computed it (the last
        iteration then need not run again here).
        """
        report = self.report
        if report.trips == 0:
            return state
        self.schedule = MultistageCheckpointSchedule(report.trips, report.snapshots, 0)
        self.at, self.work = 0, state
        for action in self.schedule:
            if isinstance(action, EndForward):
                break
            self.act(action, first_sweep=True, final=final)
        return self.work

    def reverse(self, cotangent, invariant_cotangent):
        """Cotangents of the loop's entry state and invariants, from those of its exit state
        (``invariant_cotangent`` holds what is known already; it is added to)."""
        if self.report.trips == 0:
            return cotangent, invariant_cotangent
        self.cotangent, self.invariant_cotangent = cotangent, list(invariant_cotangent)
        for action in self.schedule:
            if isinstance(action, EndReverse):
                break
            self.act(action, first_sweep=False)
        return self.cotangent, tuple(self.invariant_cotangent)

    def act(self, action, first_sweep, final=None):
        report = self.report
        if isinstance(action, Forward):
            n0, n1 = action.n0, action.n1
            if action.write_ics:
                self.snapshots[n0] = self.work
                report.most_kept = max(report.most_kept, len(self.snapshots))
            if action.write_adj_deps:
                # The reverse steps recompute each iteration with its tape from the state it starts at.
                for k in range(n0, n1):
                    self.deps[k] = self.work
                    if k + 1 < n1 or first_sweep:  # the first sweep needs the state after the loop
                        if first_sweep and k + 1 == report.trips and final is not None:
                            self.work = final
                        else:
                            self.work = self.advance(self.work, self.invariants, self.start, self.step, k, k + 1)
                            report.advanced += 1
            else:
                self.work = self.advance(self.work, self.invariants, self.start, self.step, n0, n1)
                report.advanced += n1 - n0
            self.at = n1
        elif isinstance(action, Reverse):
            for k in range(action.n1 - 1, action.n0 - 1, -1):
                self.cotangent, parts = self.step_vjp(self.deps.pop(k), self.invariants, self.start, self.step, k,
                                                      self.cotangent)
                report.taped += 1
                for j, part in enumerate(parts):
                    self.invariant_cotangent[j] = _add(self.invariant_cotangent[j], part)
        elif isinstance(action, (Copy, Move)):
            self.work = self.snapshots.pop(action.n) if isinstance(action, Move) else self.snapshots[action.n]
            self.at = action.n
        else:  # pragma: no cover - MultistageCheckpointSchedule yields nothing else
            raise TypeError(f"unexpected checkpointing action {action!r}")


def _add(total, part):
    if total is None:
        return part
    return total + part


def state_bytes(state) -> int:
    """The memory of one snapshot: its arrays' bytes, 8 per number."""
    return sum(v.nbytes if isinstance(v, np.ndarray) else 8 for v in state)

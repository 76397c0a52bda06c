"""A loop's binomial checkpointing schedule, as a plan of rows a compiled driver carries out.

The schedule is the Firedrake project's ``checkpoint_schedules`` package (Griewank and Walther's
Revolve, as ``MultistageCheckpointSchedule`` with every snapshot in memory).  Its actions are
Python objects, about a microsecond each, four per iteration; carrying them out from Python cost
about 10 microseconds per iteration, which on a loop of cheap iterations was a thousand times the
iteration itself.  So :func:`plan_for` translates the action stream once per (trips, snapshots)
into a :class:`Plan`, an integer table the loop's compiled driver reads
(:mod:`adflow.checkpoint.drivers`), and keeps the last few plans.  A row is ``(op, k0, k1, slot)``:

* ``ADVANCE`` iterations ``k0`` to ``k1`` without a tape (``Forward`` without ``write_adj_deps``);
* ``KEEP`` the state in snapshot ``slot`` (``Forward(write_ics=True)``);
* ``KEEP_DEP`` the state in dependency slot ``slot``: the state one reversed iteration starts
  from, when the state moves on before that iteration is reversed (the first sweep's last one);
* ``RESTORE`` the state from snapshot ``slot`` (``Copy``, ``Move``; a move frees the slot);
* ``REVERSE`` iteration ``k0`` from the current state: recompute it with its tape and map the
  state's cotangent back (``Forward(k, k + 1, write_adj_deps=True)`` then ``Reverse(k + 1, k)``);
* ``REVERSE_DEP`` the same from dependency slot ``slot``.

Snapshots are numbered by slot, not by iteration, so the driver keeps them in arrays of
``slots`` rows allocated once per call.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import ArgumentError

try:  # an optional dependency: adflow[checkpoint]
    import checkpoint_schedules
    from checkpoint_schedules import (Copy, EndForward, EndReverse, Forward, Move, MultistageCheckpointSchedule,
                                      Reverse)
    from checkpoint_schedules import multistage
    from checkpoint_schedules.multistage import optimal_steps_binomial
except ImportError:  # pragma: no cover - exercised only without the package
    checkpoint_schedules = None
else:
    # The library compiles its step-size rule with numba on first use, uncached: 1.7 s in every
    # new process.  The same Python function, compiled with numba's disk cache, costs that once.
    if isinstance(getattr(multistage, "n_advance", None), numba.core.registry.CPUDispatcher):
        multistage.n_advance = numba.njit(cache=True)(multistage.n_advance.py_func)

ADVANCE, KEEP, KEEP_DEP, RESTORE, REVERSE, REVERSE_DEP = range(6)
PLANS_KEPT = 4  # plans of recent (trips, snapshots): 16 bytes a row, about 3 rows an iteration


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


@dataclass(frozen=True)
class Plan:
    """A schedule as rows ``(op, k0, k1, slot)`` (int32): the first sweep, then the reverse sweep."""

    rows: np.ndarray
    first_sweep: int  # rows[:first_sweep] run forward from the loop's entry to its exit
    slots: int  # snapshot slots used
    dep_slots: int  # dependency slots used
    most_kept: int  # the most snapshots held at once
    advanced: int  # iterations advanced without a tape, both sweeps
    ends_with_advance: bool  # the first sweep's last row advances its last iteration

    @property
    def reverse_rows(self) -> tuple:
        return self.first_sweep, len(self.rows)


@functools.lru_cache(maxsize=PLANS_KEPT)
def plan_for(trips: int, snapshots: int) -> Plan:
    """The plan of ``MultistageCheckpointSchedule(trips, snapshots)`` (``trips`` >= 1)."""
    rows, first_sweep = [], None
    kept, free, slots = {}, [], 0  # iteration -> snapshot slot; freed slots; slots ever used
    deps, dep_free, dep_slots = {}, [], 0
    most_kept = advanced = 0
    for action in MultistageCheckpointSchedule(trips, snapshots, 0):
        if isinstance(action, Forward):
            n0, n1 = action.n0, action.n1
            if action.write_ics and n0 not in kept:
                if free:
                    kept[n0] = free.pop()
                else:
                    kept[n0], slots = slots, slots + 1
                most_kept = max(most_kept, len(kept))
                rows.append((KEEP, n0, n0, kept[n0]))
            if not action.write_adj_deps:
                rows.append((ADVANCE, n0, n1, 0))
                advanced += n1 - n0
                continue
            for k in range(n0, n1):
                # Iteration k is reversed later, from the state it starts at: here, unless the
                # state moves on first (the first sweep goes on to the loop's exit).
                if k + 1 < n1 or first_sweep is None:
                    if dep_free:
                        deps[k] = dep_free.pop()
                    else:
                        deps[k], dep_slots = dep_slots, dep_slots + 1
                    rows.append((KEEP_DEP, k, k, deps[k]))
                    rows.append((ADVANCE, k, k + 1, 0))
                    advanced += 1
                else:
                    deps[k] = None  # the current state
        elif isinstance(action, Reverse):
            for k in range(action.n1 - 1, action.n0 - 1, -1):
                slot = deps.pop(k)
                if slot is None:
                    rows.append((REVERSE, k, k + 1, 0))
                else:
                    rows.append((REVERSE_DEP, k, k + 1, slot))
                    dep_free.append(slot)
        elif isinstance(action, (Copy, Move)):
            slot = kept.pop(action.n) if isinstance(action, Move) else kept[action.n]
            rows.append((RESTORE, action.n, action.n, slot))
            if isinstance(action, Move):
                free.append(slot)
        elif isinstance(action, EndForward):
            first_sweep = len(rows)
        elif isinstance(action, EndReverse):
            break
        else:  # pragma: no cover - MultistageCheckpointSchedule yields nothing else
            raise TypeError(f"unexpected checkpointing action {action!r}")
    table = np.array(rows, dtype=np.int32).reshape(-1, 4)
    table.setflags(write=False)  # shared by every call with these trips and snapshots
    last = table[first_sweep - 1]
    return Plan(table, first_sweep, max(slots, 1), max(dep_slots, 1), most_kept, advanced,
                bool(last[0] == ADVANCE and last[1] == trips - 1 and last[2] == trips))


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


def state_bytes(state) -> int:
    """The memory of one snapshot: its arrays' bytes, 8 per number."""
    return sum(v.nbytes if isinstance(v, np.ndarray) else 8 for v in state)

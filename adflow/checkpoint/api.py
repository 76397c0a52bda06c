"""``checkpoint=`` and ``memory=`` of ``grad``, ``value_and_grad`` and ``vjp``: which loops run under a
schedule, with how many snapshots.

* ``checkpoint=s`` (an int >= 1): every top-level loop runs under a binomial schedule with ``s``
  snapshots of its state.
* ``checkpoint="auto"``: at each call the code before each top-level loop runs (values only) to
  learn the loop's trip count and the bytes one iteration keeps on its tape (one iteration's
  forward sweep, measured); the first loop whose whole tape would exceed ``memory`` bytes runs
  under a schedule with as many snapshots as ``memory`` holds beside one iteration's tape.  When
  every loop fits, the ordinary full-tape derivative runs.  ``memory`` defaults to half the
  memory available when the call starts (:func:`available_memory`).
"""
from __future__ import annotations

import os

from .. import targets
from ..errors import ArgumentError
from ..pipeline.arguments import is_index
from ..pipeline.cache import identity_of, once
from ..specializations import Specializations
from ..value_types import argument_types
from .build import build_checkpointed
from .schedule import require_schedules, state_bytes
from .split import Segment


def check_options(checkpoint, memory, target):
    """Refuse a ``checkpoint=``/``memory=`` pair that is not one of the forms above, or a target that runs none."""
    if checkpoint is None:
        if memory is not None:
            raise ArgumentError("memory= is the budget of checkpoint='auto', but checkpoint= was not given",
                                hint="pass checkpoint='auto', memory=...")
        return
    if isinstance(checkpoint, str):
        if checkpoint != "auto":
            raise ArgumentError(f"checkpoint must be None, a number of snapshots or 'auto', not {checkpoint!r}")
        if memory is not None and (not isinstance(memory, (int, float)) or isinstance(memory, bool) or memory <= 0):
            raise ArgumentError(f"memory= must be a positive number of bytes, not {memory!r}")
    else:
        if not is_index(checkpoint) or checkpoint < 1:
            raise ArgumentError(f"checkpoint= must be a positive whole number of snapshots, not {checkpoint!r}",
                                hint="checkpoint=10 keeps at most 10 copies of the loop's state; "
                                     "checkpoint='auto' picks the number from a memory budget")
        if memory is not None:
            raise ArgumentError("memory= goes with checkpoint='auto'; a number of snapshots needs no budget")
    if targets.named(target).per_thread or targets.named(target).name not in ("cpu", "python"):
        raise ArgumentError(f"checkpoint= is not available on target={target!r}: each GPU thread has its own loop",
                            hint="use target='cpu' for checkpointed gradients")
    require_schedules()


def available_memory() -> int:
    """Bytes of memory available now: ``MemAvailable`` of /proc/meminfo, or the free pages where there is none."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class CheckpointSpecializations:
    """What ``GradFunction`` and ``vjp`` ask of :class:`~adflow.specializations.Specializations`, with
    checkpointing: ``get(args, wrt) -> (vjp callable, source, prepared)``, ``last_source``, ``target``;
    and ``last_report``, the :class:`~adflow.checkpoint.schedule.LoopReport` of each checkpointed loop of
    the last call (empty when the full tape ran)."""

    def __init__(self, func, target, output_component, checkpoint, memory):
        self.func = func
        self.target = targets.named(target)
        self.output_component = output_component
        self.checkpoint = checkpoint
        self.memory = memory
        self.full_tape = Specializations(func, target, output_component)
        self.last_source = None
        self.last_vjp = None  # the checkpointed vjp of the last call; None when the full tape ran

    @property
    def last_report(self) -> list:
        return list(self.last_vjp.report) if self.last_vjp is not None else []

    def build(self, args, wrt, positions, probes):
        argtypes = argument_types(args, self.func)
        identity = identity_of(self.func)
        key = ("checkpointed", argtypes, tuple(wrt), identity.key(self.func) if identity else id(self.func),
               self.target.name, self.output_component, positions, probes)
        return once(key, lambda: build_checkpointed(self.func, argtypes, wrt, self.target, self.output_component,
                                                    positions, probes), self.func)

    def get(self, args, wrt, driver=None, argtypes=None):
        if driver is not None:
            raise ArgumentError("checkpoint= does not combine with batch=True")
        if self.checkpoint == "auto":
            return self.auto(args, wrt)
        vjp, source, prepared = self.build(args, wrt, None, False)
        vjp.snapshots = self.checkpoint
        return self.reporting(vjp, source, prepared)

    def reporting(self, vjp, source, prepared):
        self.last_source, self.last_vjp = source, vjp
        return vjp, source, prepared

    def auto(self, args, wrt):
        budget = self.memory if self.memory is not None else available_memory() // 2
        probe, _, _ = self.build(args, wrt, None, True)
        chosen = choose_loop(probe, args, budget)
        if chosen is None:
            self.last_vjp = None
            entry = self.full_tape.get(args, wrt)
            self.last_source = entry[1]
            return entry
        position, snapshots = chosen
        vjp, source, prepared = self.build(args, wrt, (position,), False)
        vjp.snapshots = snapshots
        return self.reporting(vjp, source, prepared)


WORKING = 10  # states' worth of memory one reverse iteration works in (measured: 8 on the heat stencil)


def choose_loop(probe, args, budget):
    """(position, snapshots) of the first top-level loop whose full tape would exceed ``budget`` bytes,
    running the code before it for values only; None when every loop fits."""
    env = dict(zip(probe.fn.params, args))
    for piece, names in zip(probe.pieces[:-1], probe.compiled[:-1]):
        if isinstance(piece, Segment):
            env.update(zip(piece.outputs, probe.fn_of(names, "primal")(*probe.inputs(piece, env))))
            continue
        state, invariants, start, step, trips = probe.loop_entry(piece, names, env)
        final = None
        if piece.online:
            trips, final = probe.count(piece, names, state, invariants)
        if trips:
            step_tape = probe.fn_of(names, "probe")(*state, *invariants, start, step, 0)
            if trips * step_tape > budget:
                snapshot = state_bytes(state)
                # Beside the snapshots: one iteration's tape, and its working set (the state it starts
                # from, the state's cotangents, the temporaries of its vjp), taken as WORKING states.
                reserved = step_tape + WORKING * snapshot
                snapshots = int((budget - reserved) // snapshot) if budget > reserved else 0
                if snapshots < 1:
                    raise ArgumentError(
                        f"memory={budget} bytes is smaller than one snapshot of the loop at "
                        f"{probe.fn.filename}:{piece.lineno} ({snapshot} bytes) plus one iteration's tape "
                        f"({step_tape} bytes) and working set ({WORKING * snapshot} bytes)",
                        hint="give checkpoint='auto' a larger memory= budget")
                return piece.position, min(snapshots, trips)
            if final is None:
                final = probe.fn_of(names, "primal")(*state, *invariants, start, step, 0, trips)
        env.update(zip(piece.carried, final if final is not None else state))
    return None

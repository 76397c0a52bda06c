"""The compiled driver of one checkpointed loop: the loop's plan carried out row by row.

:func:`loop_sweeps` writes, next to the loop's generated ``advance`` and ``step_vjp``, a function
that runs rows ``first`` to ``last`` of a plan (:mod:`adflow.checkpoint.schedule`): the first
sweep is one call, the reverse sweep another.  numba compiles it with the rest of the module, so
the schedule costs a few instructions per row instead of a Python call per action.  It keeps the
loop's state under the user's names, snapshots in arrays ``<name>_kept`` of one row per slot
(numbers and arrays alike), and cotangents in ``<name>_bar``.
"""
from __future__ import annotations

from ..syntax.templates import function
from ..syntax.nodes import fresh_name
from .schedule import ADVANCE, KEEP, KEEP_DEP, RESTORE, REVERSE, REVERSE_DEP

SHAPE_CHANGED = "adflow: checkpointing: a loop-carried array changed shape between iterations"

_SWEEPS = '''
def {name}({params}):
    for _row in range(_first, _last):
        _op = _plan[_row, 0]
        _k0 = int(_plan[_row, 1])
        _slot = _plan[_row, 3]
        if _op == {ADVANCE}:
            {state_tuple} = {advance}({inputs}, _start, _step, _k0, int(_plan[_row, 2]))
        elif _op == {KEEP}:
{keep}
        elif _op == {KEEP_DEP}:
{keep_dep}
        elif _op == {RESTORE}:
{restore}
        else:
            if _op == {REVERSE_DEP}:
{restore_dep}
            _parts = {step_vjp}({inputs}, _start, _step, _k0, {state_bars_tuple})[1]
{take_parts}
    return {state_out}, {state_bars_tuple}, {invariant_bars_tuple}
'''

HEADER = """driver of the checkpointed loop at {where}: rows _first to _last of its plan
(adflow/checkpoint/schedule.py), each (op, k0, k1, slot): op {ADVANCE} advances iterations k0 to k1
without a tape; {KEEP} keeps the state as snapshot slot; {KEEP_DEP} keeps it as the start of an iteration
reversed later; {RESTORE} resumes from snapshot slot; {REVERSE} reverses iteration k0 from the current
state ({REVERSE_DEP}: from the kept start)"""

OPS = dict(ADVANCE=ADVANCE, KEEP=KEEP, KEEP_DEP=KEEP_DEP, RESTORE=RESTORE, REVERSE=REVERSE,
           REVERSE_DEP=REVERSE_DEP)


def loop_sweeps(name, advance, step_vjp, carried, invariants, arrays, floats):
    """The driver ``name`` of a loop whose state is ``carried`` (``arrays``: the names holding
    arrays) and whose ``step_vjp`` returns cotangents for the parameters at positions ``floats`` of
    ``carried + invariants``.  Returns (the function's tree, names of its stores and cotangents):
    ``kept``, ``deps``, ``state_bars``, ``invariant_bars`` (one per float invariant)."""
    taken = set(carried) | set(invariants)
    kept = [fresh_name(f"{n}_kept", taken) for n in carried]
    deps = [fresh_name(f"{n}_dep", taken) for n in carried]
    state_bars = [fresh_name(f"{n}_bar", taken) for n in carried]
    inputs = carried + invariants
    float_invariants = [p for p in floats if p >= len(carried)]
    invariant_bars = [fresh_name(f"{inputs[p]}_bar", taken) for p in float_invariants]

    def stores(into, pad):
        lines = []
        for n, store in zip(carried, into):
            if n in arrays:  # a store of another row shape would broadcast into it silently
                lines.append(f"if {n}.shape != {store}.shape[1:]:")
                lines.append(f"    raise ValueError({SHAPE_CHANGED!r})")
                lines.append(f"assign({store}[_slot], {n})")
            else:
                lines.append(f"{store}[_slot] = {n}")
        return "\n".join(" " * pad + line for line in lines or ["pass"])  # no state: nothing to keep

    def loads(source, pad):
        # A view of the slot, not a copy: advance and step_vjp copy the arrays they write into.
        return "\n".join(" " * pad + line for line in [f"{n} = {store}[_slot]" for n, store in zip(carried, source)]
                         or ["pass"])

    take = []
    for j, p in enumerate(floats):
        if p < len(carried):
            take.append(f"{state_bars[p]} = _parts[{j}]")
        else:
            take.append(f"{invariant_bars[float_invariants.index(p)]} += _parts[{j}]")
    params = ["_plan", "_first", "_last", *inputs, "_start", "_step", *kept, *deps, *state_bars, *invariant_bars]
    text = _SWEEPS.format(
        name=name, params=", ".join(params), advance=advance, step_vjp=step_vjp, inputs=", ".join(inputs),
        # A loop whose values are all overwritten after it carries nothing: its advance is still called.
        state_tuple=", ".join(carried) + ("," if len(carried) == 1 else "") if carried else "_nothing",
        state_out=_tuple(carried),
        state_bars_tuple=_tuple(state_bars), invariant_bars_tuple=_tuple(invariant_bars),
        keep=stores(kept, 12), keep_dep=stores(deps, 12), restore=loads(kept, 12), restore_dep=loads(deps, 16),
        take_parts="\n".join(" " * 12 + line for line in take) or " " * 12 + "pass", **OPS)
    return function(text), dict(kept=kept, deps=deps, state_bars=state_bars, invariant_bars=invariant_bars)


def _tuple(names) -> str:
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def header(where: str) -> str:
    return HEADER.format(where=where, **OPS)

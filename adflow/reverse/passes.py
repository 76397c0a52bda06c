"""The passes run on a generated vjp before it is compiled, in order, each one switchable off.

Each pass is a pure function from the vjp's ``FunctionDef`` to a new one that computes the same
numbers (each module says where the last bit may differ).  They are on by default; tests switch
one off to compare results with and without it (:func:`switched_off`), and so may a measurement:
``ADFLOW_PASSES_OFF=known_zero,dead_reverse`` (or ``all``) in the environment.

>>> from adflow.reverse import passes
>>> [name for name, _ in passes.PASSES][:2]
['reuse_values', 'single_adjoints']
"""
from __future__ import annotations

import contextlib
import os

from .adds_in_place import add_in_place
from .carried_adds import carry_adds
from .copies import propagate_copies
from .dead_reverse import drop_dead_reverse
from .known_zero import assign_known_zeros
from .merge_contributions import merge_equal_contributions
from .merge_element_adds import merge_element_adds
from .reloads import drop_reloads
from .reserved_tapes import reserve_tapes
from .reuse_values import reuse_forward_values
from .saved_locals import save_in_locals
from .shape_tapes import keep_shapes
from .single_adjoints import assign_single_contributions
from .sum_cotangents import add_sum_cotangents
from .view_adds import add_into_views
from .view_stores import store_into_views
from .zero_in_loop import zero_in_loop

PASSES = (
    ("reuse_values", reuse_forward_values),
    ("single_adjoints", assign_single_contributions),
    ("sum_cotangents", add_sum_cotangents),  # after single_adjoints, which makes some of its adds assignments
    ("known_zero", assign_known_zeros),
    ("merge_contributions", merge_equal_contributions),
    ("copies", propagate_copies),  # before dead_reverse, which removes the copies nothing reads then
    ("dead_reverse", drop_dead_reverse),
    ("reloads", drop_reloads),  # after dead_reverse: the restore it leaves repeated (z = _z_tape[...])
    ("element_adds", merge_element_adds),
    ("carried_adds", carry_adds),  # after element_adds: adds into one element merged are one term
    ("zero_in_loop", zero_in_loop),  # after carried_adds, whose loops reach each element once
    ("saved_locals", save_in_locals),  # after the passes that read pushes and pops as tapes
    ("reserved_tapes", reserve_tapes),
    ("shape_tapes", keep_shapes),  # after the passes that drop the reverse sweep's reads of values
    ("view_adds", add_into_views),  # last: the passes before it read the adds as written
    ("view_stores", store_into_views),  # as view_adds, for the forward sweep's slice writes
    ("adds_in_place", add_in_place),  # as view_adds, for the dot products' adjoints added into names
)
# Decisions of the reverse transform itself, switchable the same way: recompute cheap values rather
# than save them (rematerialize.py), and replay only the branches whose reverse does something; and
# of the front end, read by both modes: elementwise chains ending in a sum become loops (fusion.py).
PLANNING = ("rematerialize", "replayed_branches", "fusion")
_NAMES = {name for name, _ in PASSES} | set(PLANNING)
_switched_off: set = set()


def names() -> list:
    """Every switch: the passes, in order, then the transform's own decisions."""
    return [name for name, _ in PASSES] + list(PLANNING)


def off() -> set:
    """The passes switched off now: by :func:`switched_off`, or by ``ADFLOW_PASSES_OFF``."""
    names = {n.strip() for n in os.environ.get("ADFLOW_PASSES_OFF", "").split(",") if n.strip()}
    if "all" in names:
        return set(_NAMES)
    return names | _switched_off


def optimise(vjp):
    """``vjp`` after every pass that is on."""
    skipped = off()
    for name, run in PASSES:
        if name not in skipped:
            vjp = run(vjp)
    return vjp


@contextlib.contextmanager
def switched_off(*names):
    """Build with these passes off inside the block (builds made before are not rebuilt: clear
    :func:`adflow.pipeline.cache.clear` first, or use a new function)."""
    unknown = set(names) - _NAMES
    if unknown:
        raise ValueError(f"no pass named {sorted(unknown)}; the passes are {names()}")
    before = set(_switched_off)
    _switched_off.update(names)
    try:
        yield
    finally:
        _switched_off.clear()
        _switched_off.update(before)

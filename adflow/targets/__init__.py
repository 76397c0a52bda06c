"""Targets: where generated code runs, one :class:`~adflow.targets.base.Target` per module.

A target decides how generated code calls the user's functions, what runs on the reverse
transform's output, how a generated module is compiled, whether compiled calls use vector math,
and which modes it runs.  Adding a target is adding its module here and naming it in ``TARGETS``.
"""
from __future__ import annotations

from ..errors import ArgumentError
from . import cpu, cuda, python
from .base import Target

TARGETS = {t.name: t for t in (python.TARGET, cpu.TARGET, cuda.TARGET)}


def named(target) -> Target:
    """The target called ``target`` (a Target passes through); an :class:`~adflow.ArgumentError` otherwise."""
    if isinstance(target, Target):
        return target
    found = TARGETS.get(target)
    if found is None:
        raise ArgumentError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return found

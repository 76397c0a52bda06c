"""The benchmark problems of /work/shared/bench/problems.md, one module each.

Each module defines ``PROBLEMS``, a list of :class:`benchmarks.core.Problem` (rosenbrock has two:
the scalar-loop and the array-ops variant).
"""
from __future__ import annotations

import importlib

from ..core import Problem

MODULES = ("rosenbrock", "lorenz", "rowwise_mlp", "wide_to_narrow", "narrow_to_wide",
           "sparse_pde", "lorenz_batch", "per_sample", "heat_array", "wave_array")


def _problems(mod: str) -> list[Problem]:
    return importlib.import_module(f"{__name__}.{mod}").PROBLEMS


def select(names: list[str] | None) -> list[Problem]:
    """Problems by module name (all its variants) or by problem name, in the suite's order."""
    chosen: list[Problem] = []
    for mod in MODULES:
        # Problem names start with their module's name: import only modules that can match
        # (importing is cheap, but a smaller run should not depend on unrelated modules).
        if names is not None and not any(n.startswith(mod) for n in names):
            continue
        chosen += [p for p in _problems(mod) if names is None or mod in names or p.name in names]
    unknown = sorted(set(names or ()) - set(MODULES) - {p.name for p in chosen})
    if unknown:
        known = sorted(set(MODULES) | {p.name for mod in MODULES for p in _problems(mod)})
        raise SystemExit(f"unknown problem(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen

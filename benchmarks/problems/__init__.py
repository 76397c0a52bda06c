"""The benchmark problems of /work/shared/bench/problems.md, one module each.

Each module defines ``PROBLEMS``, a list of :class:`benchmarks.core.Problem` (rosenbrock has two:
the scalar-loop and the array-ops variant).
"""
from __future__ import annotations

import importlib

from ..core import Problem

MODULES = ("rosenbrock", "lorenz", "rowwise_mlp", "wide_to_narrow", "narrow_to_wide",
           "sparse_pde", "lorenz_batch")


def select(names: list[str] | None) -> list[Problem]:
    """Problems by module name (all its variants) or by problem name, in the suite's order."""
    chosen: list[Problem] = []
    known: set[str] = set()
    for mod in MODULES:
        # Problem names start with their module's name: import only modules that can match
        # (importing is cheap, but a smaller run should not depend on unrelated modules).
        if names is not None and not any(n.startswith(mod) for n in names):
            continue
        probs = importlib.import_module(f"{__name__}.{mod}").PROBLEMS
        known.add(mod)
        known.update(p.name for p in probs)
        for p in probs:
            if names is None or mod in names or p.name in names:
                chosen.append(p)
    unknown = sorted(set(names or ()) - known)
    if unknown:
        raise SystemExit(f"unknown problem(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return chosen

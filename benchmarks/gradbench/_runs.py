"""Running one GradBench function the way the protocol asks, and timing it.

An eval's ``input`` carries ``min_runs`` and ``min_seconds`` (the ``Runs`` type of GradBench's
protocol): the function runs at least ``min_runs`` times and until the runs add up to
``min_seconds``, and every run is reported as a timing named ``"evaluate"`` (GradBench's scorer
averages exactly those).

adflow builds and numba compiles on the first call for given argument types, so a first call
is not an evaluation: it runs once beforehand and is reported as a timing of its own,
``"compile"`` (the build, or loading it from adflow's and numba's disk caches, plus one
evaluation), which GradBench logs but leaves out of its scores (its scorer averages the
``"evaluate"`` timings only).  The first call with new shapes of types already compiled is
reported as ``"warmup"``: adflow's Jacobians choose their plan per shape, and the first run
touches memory the later ones reuse.  Converting the JSON input to arrays is reported as
``"prepare"`` (as GradBench's C++ tools name their set-up), and converting the result back to
JSON is not timed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Function:
    """One function of an eval's module: ``post(compute(*prepare(input)))`` is its output.

    ``prepare`` turns the JSON input into the arguments (arrays, numbers); ``compute`` is the timed
    part (a numba-compiled objective or an adflow derivative, plus whatever small NumPy assembly
    the output needs); ``post`` turns its result into JSON values.
    """

    prepare: Callable[[dict], tuple]
    compute: Callable[..., Any]
    post: Callable[[Any], Any]


def _type_key(args) -> tuple:
    """What decides whether a call compiles: each argument's type (dtype and dimensions for an
    array), and the value of a string (``ht`` passes its variant, which picks the function)."""
    return tuple(("array", a.dtype.str, a.ndim) if isinstance(a, np.ndarray)
                 else a if isinstance(a, str) else type(a).__name__ for a in args)


def _shape_key(args) -> tuple:
    """The types and the shapes: adflow's Jacobians choose their plan (mode, chunk) per shape."""
    return tuple(a.shape if isinstance(a, np.ndarray) else None for a in args)


class Runner:
    """Runs the functions of the modules, remembering which argument types were compiled already."""

    def __init__(self):
        self._seen: set = set()  # (module, function, types) and (module, function, types, shapes) run once

    def run(self, module: str, name: str, function: Function, input: dict) -> dict:
        timings = []
        start = time.perf_counter_ns()
        args = function.prepare(input)
        timings.append({"name": "prepare", "nanoseconds": time.perf_counter_ns() - start})

        types = (module, name, _type_key(args))
        shapes = types + (_shape_key(args),)
        if shapes not in self._seen:
            first = "compile" if types not in self._seen else "warmup"
            start = time.perf_counter_ns()
            function.compute(*args)
            timings.append({"name": first, "nanoseconds": time.perf_counter_ns() - start})
            self._seen.update((types, shapes))

        runs_asked = input if isinstance(input, dict) else {}  # hello's input is a bare number
        min_runs = int(runs_asked.get("min_runs", 1))
        min_seconds = float(runs_asked.get("min_seconds", 0.0))
        elapsed = 0
        runs = 0
        result = None
        while runs < max(min_runs, 1) or elapsed < min_seconds * 1e9:
            start = time.perf_counter_ns()
            result = function.compute(*args)
            took = time.perf_counter_ns() - start
            timings.append({"name": "evaluate", "nanoseconds": took})
            elapsed += took
            runs += 1
        return {"success": True, "output": function.post(result), "timings": timings}


def floats(values) -> np.ndarray:
    """A JSON list (of lists) of numbers as a C-contiguous float64 array."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def tolist(a) -> list:
    """An array as nested JSON lists of Python floats."""
    return np.asarray(a, dtype=np.float64).tolist()

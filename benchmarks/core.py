"""What a benchmark problem is, and small helpers the problem modules share.

A :class:`Problem` is data: sizes, a data maker, a numba primal, and a list of :class:`Column`
builders (one per tool and style).  The runner (:mod:`benchmarks.runner`) does all checking and
timing, so a problem module only says *what* to compute, never how to time it.

Every builder takes the problem's data dict and returns a zero-argument callable that computes
the derivative and returns it as numpy (or a tuple of numpy arrays, or a scipy.sparse matrix).
Converting inputs to a tool's array type happens in the builder, outside the timed callable,
because that is how a user of that tool keeps their data.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

Builder = Callable[[dict], Callable[[], Any]]

# Tools in the order the tables list them; "hand" is the hand-written numba derivative.
TOOLS = ("hand", "adflow", "jax", "torch", "autograd")
TOOL_NAMES = {"numba": "numba", "hand": "hand-written", "adflow": "adflow", "jax": "JAX",
              "torch": "PyTorch", "autograd": "autograd"}


@dataclass
class Column:
    """One way of computing the derivative: a tool and a style (e.g. JAX ``jit(jacrev)``).

    probe: the column may be far slower than the rest (a Python-level loop); the runner first
        times it at the problem's probe size and, when at full size its first call, warm-up
        and timed repeats together would take longer than the peer budget (60 s), runs it at a
        smaller size and scales the time linearly (and says so).
    cap: ``cap(size) -> int``: never run with the problem's scale parameter above this
        (memory, e.g. a tape of 100,000 rows x 1,000 steps); the time is scaled linearly from
        the capped size.
    note: a short remark printed under the table (why this column is built the way it is).
    full_only: skipped by ``--quick``: a variant of another column of the same tool (adflow's
        explicit ``mode=`` choices, ``value_and_grad``), whose first call compiles again and
        would add most of the smoke run's time while testing little more.
    """

    label: str
    tool: str
    build: Builder
    probe: bool = False
    cap: Callable[[dict], int] | None = None
    note: str | None = None
    full_only: bool = False


@dataclass
class Problem:
    """A benchmark problem.

    sizes: {"full": {...}, "quick": {...}} keyword sizes passed to ``make_data``.
    scale_key: the size parameter the cost is (about) linear in; reduced runs shrink it.
    probe: {"full": n, "quick": n}: the value of ``scale_key`` a ``Column.probe`` column is
        first timed at.
    check_sizes: sizes at which correctness is checked, when the timing size is unsuitable
        (the chaotic Lorenz system: over 10,000 steps rounding differences between tools grow
        to O(1), so tools can only be compared on a short horizon).  None: check at the
        timing size.
    primal: builds the numba primal (the 1.0 of every ratio).
    fd_check: ``fd_check(data, derivative) -> relative error`` of the reference (hand-written)
        derivative against central finite differences of the primal.
    """

    name: str
    title: str
    derivative: str
    sizes: dict[str, dict[str, int]]
    scale_key: str
    probe: dict[str, int]
    make_data: Callable[[dict], dict]
    primal: Builder
    columns: list[Column]
    fd_check: Callable[[dict, Any], float]
    check_sizes: dict[str, dict[str, int]] | None = None
    notes: list[str] = field(default_factory=list)


class NotInstalled(Exception):
    """A peer library is not importable: its columns are skipped, not failed."""


def need(module: str):
    """Import a peer library or raise :class:`NotInstalled`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NotInstalled(f"{module} not installed") from exc


def jax():
    """Import JAX with float64 enabled (the problems are all float64)."""
    jx = need("jax")
    jx.config.update("jax_enable_x64", True)
    return jx


def torch():
    return need("torch")


def adflow():
    """Import adflow.  Any failure here (the package is being written) becomes an n/a cell."""
    return importlib.import_module("adflow")


def rng():
    """The seeded generator every problem draws its data from."""
    return np.random.default_rng(0)


def directional_fd(f: Callable[[np.ndarray], Any], x: np.ndarray, v: np.ndarray,
                   h: float | None = None) -> np.ndarray:
    """Central finite difference of ``f`` at ``x`` along ``v``: an estimate of ``J(x) v``.

    Checking ``J v`` along a random ``v`` tests every column of ``J`` at once at the cost of
    two primal calls, where column-by-column differences would cost ``2 n`` calls.
    """
    if h is None:
        h = 1e-6 * max(1.0, float(np.max(np.abs(x))))
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)


def rel_err(a, b) -> float:
    """Normwise relative error max|a - b| / max|b|."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))

"""Run one problem: build every column, check them against each other, then time them.

The order is deliberate:

1. Build and first-call everything (the first-call time includes transformation and
   compilation; it is reported on its own, never mixed into the warm times).
2. Check every column against the hand-written derivative (itself checked against finite
   differences) before any timing, so a fast wrong answer cannot go unnoticed.
3. Warm everything, then time each column *alternately* against the numba primal (see
   :mod:`benchmarks.timing`), and adflow alternately against the best column of each peer.
"""
from __future__ import annotations

import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import timing
from .core import Column, NotInstalled, Problem

# Normwise relative error above which two tools are said to disagree.  Everything is float64
# and deterministic; honest disagreements between correct implementations are ~1e-12.
MATCH_TOL = 1e-7
# Finite differences are approximate: the reference must match them to this.
FD_TOL = 1e-4


@dataclass
class Settings:
    mode: str = "full"          # "full" or "quick": which sizes
    repeats: int = 7            # timing pairs per ratio
    budget: float = 60.0        # seconds a probed peer column may take in all, else it runs smaller
    min_sample: float = 0.05    # seconds one timing sample lasts at least (fast calls loop)
    threads: int | None = None  # --threads: every tool limited to this many (None: defaults)
    tools: tuple[str, ...] | None = None  # --tools: only these tools' columns (None: all)


@dataclass
class ColumnResult:
    label: str
    tool: str
    status: str = "ok"              # ok | n/a | not installed | error
    message: str = ""
    note: str | None = None
    first_call_s: float | None = None
    run_size: dict | None = None    # the size it ran at (differs from the problem's when scaled)
    factor: float = 1.0             # times and ratios are multiplied by this (linear scaling)
    scaled_why: str | None = None
    probe_at: int | None = None     # the scale parameter's value at the probe run
    growth: float | None = None     # measured exponent of cost in it, probe run to timed run
    check_err: float | None = None
    check_msg: str = ""
    median_s: float | None = None
    ratio: float | None = None      # to the numba primal, median of paired ratios
    spread: float | None = None
    # not reported:
    fn: Callable[[], Any] | None = field(default=None, repr=False)
    result: Any = field(default=None, repr=False)
    t_call: float | None = field(default=None, repr=False)
    t_probe: float | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def wrong(self) -> bool:
        return self.check_err is not None and not self.check_err <= MATCH_TOL


@dataclass
class ProblemResult:
    name: str
    title: str
    derivative: str
    size: dict
    check_size: dict
    scale_key: str
    primal_first_call_s: float | None = None
    primal_median_s: float | None = None
    fd_err: float | None = None
    columns: list[ColumnResult] = field(default_factory=list)
    adflow_vs: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float | None = None

    @property
    def mismatches(self) -> list[str]:
        out = [f"{self.name}: {c.label}: {c.check_msg}" for c in self.columns if c.wrong]
        if self.fd_err is not None and not self.fd_err <= FD_TOL:
            out.append(f"{self.name}: hand-written reference vs finite differences: "
                       f"rel err {self.fd_err:.2e}")
        return out


def say(msg: str) -> None:
    print(msg, flush=True)


def loud(msg: str) -> None:
    say(f"!!!!! {msg}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# --- comparing results --------------------------------------------------------------------------

def _arrays(r) -> list[np.ndarray]:
    """Flatten a derivative (array, tuple of arrays, torch tensor, scipy.sparse) to numpy parts."""
    if hasattr(r, "toarray"):
        return [np.asarray(r.toarray())]
    if isinstance(r, (tuple, list)):
        return [a for e in r for a in _arrays(e)]
    if hasattr(r, "detach"):
        r = r.detach().numpy()
    return [np.asarray(r, dtype=float)]


def compare(result, ref) -> tuple[float, str]:
    a, b = _arrays(result), _arrays(ref)
    shapes_a, shapes_b = [x.shape for x in a], [x.shape for x in b]
    if shapes_a != shapes_b:
        return math.inf, f"shape {shapes_a} where the hand-written derivative has {shapes_b}"
    scale = max(float(np.max(np.abs(x))) if x.size else 0.0 for x in b) or 1e-300
    err = max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b)) / scale
    if not math.isfinite(err):
        return math.inf, "non-finite values"
    return err, f"rel err {err:.2e} against the hand-written derivative"


# --- phases -------------------------------------------------------------------------------------

def _prepare(problem: Problem, col: Column, size: dict, data: dict, s: Settings) -> ColumnResult:
    """Choose the size a column runs at, build it, and make its first call."""
    res = ColumnResult(col.label, col.tool, note=col.note)
    key = problem.scale_key
    n_full = size[key]
    n = n_full
    try:
        if col.cap is not None and n > col.cap(size):
            n = col.cap(size)
            res.scaled_why = "memory"
        n_probe = problem.probe[s.mode]
        probe = None
        if col.probe and n > n_probe:
            probe_data = problem.make_data({**size, key: n_probe})
            probe = timing.first_call(lambda: col.build(probe_data))  # compiles / traces
            res.t_probe = timing.time_once(probe[1])
            res.probe_at = n_probe
            # What the column would cost in all: first call, warm-up and the timed repeats
            # (the adflow comparisons may time it again, which the margin below absorbs).
            calls = s.repeats + 3
            per_call = res.t_probe * n / n_probe
            if per_call * calls > s.budget:
                # Aim the reduced run at a third of the budget; never below the probe size.
                n = max(n_probe, int(n_probe * s.budget / 3 / calls / res.t_probe))
                res.scaled_why = (f"predicted {timing.fmt_seconds(per_call)} a call, "
                                  f"{timing.fmt_seconds(per_call * calls)} in all")
        res.run_size = {**size, key: n}
        res.factor = n_full / n
        if probe is not None and n == n_probe:
            res.first_call_s, res.fn, res.result = probe   # the probe run is the reduced run
            res.t_probe = None
        else:
            run_data = data if n == n_full else problem.make_data(res.run_size)
            res.first_call_s, res.fn, res.result = timing.first_call(lambda: col.build(run_data))
    except NotInstalled as exc:
        res.status, res.message = "not installed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a failing column must not stop the suite
        _failed(problem, res, exc)
    return res


def _failed(problem: Problem, res: ColumnResult, exc: Exception) -> None:
    res.fn = res.result = None
    if res.tool == "adflow":
        # The API is being written: a missing feature is an n/a cell, not a failure.
        res.status, res.message = "n/a", first_line(exc)
    else:
        res.status, res.message = "error", first_line(exc)
        loud(f"{problem.name}: {res.label} raised {first_line(exc)}")
        traceback.print_exc(limit=3, file=sys.stdout)


def _check(problem: Problem, cols: list[ColumnResult], columns: list[Column], size: dict,
           data: dict, check_size: dict | None, out: ProblemResult) -> None:
    """Compare every column with the hand-written derivative at the same size."""
    hand = next((c for c in columns if c.tool == "hand"), None)
    refs: dict[tuple, Any] = {}

    def reference(sz: dict):
        k = tuple(sorted(sz.items()))
        if k not in refs:
            d = data if sz == size else problem.make_data(sz)
            refs[k] = (d, hand.build(d)())
        return refs[k]

    hand_res = next((r for c, r in zip(columns, cols) if c is hand), None)
    if hand_res is None or not hand_res.ok:
        loud(f"{problem.name}: no working hand-written derivative: nothing is checked")
        return
    if check_size is None:  # reuse the hand-written column's own first result
        refs[tuple(sorted(size.items()))] = (data, hand_res.result)
    sz0 = check_size or size
    d0, r0 = reference(sz0)
    out.fd_err = problem.fd_check(d0, r0)
    if not out.fd_err <= FD_TOL:
        loud(f"{problem.name}: the hand-written derivative disagrees with finite differences "
             f"(rel err {out.fd_err:.2e})")
    for col, res in zip(columns, cols):
        if not res.ok:
            continue
        try:
            if check_size is not None and check_size != res.run_size:
                sz = check_size
                result = col.build(problem.make_data(sz))()
            else:
                sz, result = res.run_size, res.result
            res.check_err, res.check_msg = compare(result, reference(sz)[1])
        except Exception as exc:  # noqa: BLE001 - raising is not a wrong number: n/a or error
            _failed(problem, res, exc)
            continue
        res.result = None  # dense Jacobians can be large: drop them before timing
        if res.wrong:
            loud(f"MISMATCH {problem.name}: {res.label}: {res.check_msg}")


def _best(cols: list[ColumnResult], tool: str) -> ColumnResult | None:
    cands = [c for c in cols if c.tool == tool and c.ok and not c.wrong and c.median_s]
    return min(cands, key=lambda c: c.median_s) if cands else None


def run_problem(problem: Problem, s: Settings) -> ProblemResult:
    t_start = time.perf_counter()
    size = problem.sizes[s.mode]
    check_size = problem.check_sizes[s.mode] if problem.check_sizes else None
    out = ProblemResult(problem.name, problem.title, problem.derivative, size,
                        check_size or size, problem.scale_key, notes=list(problem.notes))
    say(f"[{problem.name}] data {size}; building the derivative columns")
    data = problem.make_data(size)
    out.primal_first_call_s, primal_fn, _ = timing.first_call(lambda: problem.primal(data))

    # The hand-written derivative is the reference of every check: it always runs.
    columns = [c for c in problem.columns
               if (s.tools is None or c.tool in s.tools or c.tool == "hand")
               and not (c.full_only and s.mode == "quick")]
    cols = [_prepare(problem, col, size, data, s) for col in columns]
    out.columns = cols
    say(f"[{problem.name}] checking against the hand-written derivative"
        + (f" at {check_size}" if check_size else ""))
    _check(problem, cols, columns, size, data, check_size, out)

    # Warm everything before the first timed sample.
    t_primal = timing.warm(primal_fn, 3)
    for c in cols:
        if c.ok:
            try:
                c.t_call = timing.warm(c.fn, 2)
            except Exception as exc:  # noqa: BLE001 - e.g. a call that only fails when repeated
                _failed(problem, c, exc)
    live = [c for c in cols if c.ok]
    for c in live:
        ratio_n = c.run_size[problem.scale_key] / problem.probe[s.mode]
        if c.t_probe and ratio_n >= 4:  # closer sizes give a meaningless exponent
            c.growth = math.log(c.t_call / c.t_probe) / math.log(ratio_n)
    say(f"[{problem.name}] timing {len(live)} columns against the primal, {s.repeats} pairs each")
    n_primal = timing.inner_loops(t_primal, s.min_sample)
    primal_samples: list[float] = []
    for c in live:
        try:
            p = timing.paired(primal_fn, c.fn, s.repeats, n_primal,
                              timing.inner_loops(c.t_call, s.min_sample))
        except Exception as exc:  # noqa: BLE001
            _failed(problem, c, exc)
            continue
        primal_samples += p.a
        c.median_s, c.ratio, c.spread = p.median_b * c.factor, p.ratio * c.factor, p.spread
    live = [c for c in live if c.ok]
    if primal_samples:
        out.primal_median_s = float(np.median(primal_samples))
    else:
        out.primal_median_s = float(np.median(timing.paired(primal_fn, primal_fn, s.repeats,
                                                            n_primal, n_primal).a))

    # adflow against the practical limit and the best of each peer, again side by side.
    for a in (c for c in live if c.tool == "adflow"):
        for tool in ("hand", "jax", "torch"):
            b = _best(cols, tool)
            if b is None:
                continue
            try:
                p = timing.paired(b.fn, a.fn, s.repeats,
                                  timing.inner_loops(b.t_call, s.min_sample),
                                  timing.inner_loops(a.t_call, s.min_sample))
            except Exception as exc:  # noqa: BLE001
                loud(f"{problem.name}: timing {a.label} against {b.label} raised "
                     f"{first_line(exc)}")
                continue
            out.adflow_vs.append({"adflow": a.label, "tool": tool, "vs": b.label,
                                  "ratio": p.ratio / b.factor, "scaled": b.factor != 1.0})
    for c in cols:
        c.fn = None  # release compiled closures and their data
    out.wall_s = time.perf_counter() - t_start
    return out

"""Timing primitives for the benchmark suite.

Why paired, alternating timing: the shared 2-core machines this suite runs on drift by up to
±40% within seconds (other developers' test runs, frequency scaling, noisy neighbours).  Timing
all of A and then all of B would fold that drift into the ratio.  Instead every ratio is built
from samples taken back to back (A, B, A, B, ...): each pair sees nearly the same machine state,
and the median of the per-pair ratios throws away the pairs a burst of load landed on.

Like ``timeit``, timed calls run with the cyclic garbage collector paused: its pauses grow with
the number of objects *every* loaded library holds (torch and JAX hold many), which would
charge tape-building tools for their neighbours' memory, not their own work.

Everything here is plain ``time.perf_counter``; there is no dependence on the problems or tools.
"""
from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable


def first_call(build: Callable[[], Callable[[], Any]]) -> tuple[float, Callable[[], Any], Any]:
    """Build a benchmark callable and call it once, timing both together.

    The build step is where JAX wraps ``jit``, adflow transforms the source, and so on; the
    first call is where numba and XLA compile.  Reporting their sum as the "first call" time is
    what a user waits for the first time they ask for a derivative.
    """
    t0 = time.perf_counter()
    fn = build()
    result = fn()
    return time.perf_counter() - t0, fn, result


@contextlib.contextmanager
def no_gc():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_once(fn: Callable[[], Any]) -> float:
    with no_gc():
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def warm(fn: Callable[[], Any], calls: int = 2, enough: float = 0.2) -> float:
    """Call ``fn`` a few times (caches, allocator, lazy initialisation) and return the fastest.

    A call slower than ``enough`` seconds is warm by itself: one such call suffices.
    """
    best = time_once(fn)
    for _ in range(calls - 1):
        if best > enough:
            break
        best = min(best, time_once(fn))
    return best


def inner_loops(seconds_per_call: float, min_sample: float) -> int:
    """How many calls one timing sample needs so that it lasts at least ``min_sample`` seconds.

    Microsecond-scale calls are repeated inside a sample so that timer resolution and the
    per-sample Python overhead do not dominate.
    """
    if seconds_per_call <= 0:
        return 1000
    return max(1, math.ceil(min_sample / seconds_per_call))


def _sample(fn: Callable[[], Any], number: int) -> float:
    with no_gc():
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number


@dataclass
class Paired:
    """Per-call times of two callables sampled alternately, and their per-pair ratios b/a."""

    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [tb / ta for ta, tb in zip(self.a, self.b)]

    @property
    def ratio(self) -> float:
        """Median of the paired ratios b/a (not the ratio of medians: see the module docstring)."""
        return statistics.median(self.ratios)

    @property
    def median_a(self) -> float:
        return statistics.median(self.a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.b)

    @property
    def spread(self) -> float:
        """Half the interquartile range of the ratios relative to their median (a noise gauge)."""
        r = sorted(self.ratios)
        if len(r) < 4:
            return (r[-1] - r[0]) / 2 / statistics.median(r)
        q = statistics.quantiles(r, n=4)
        return (q[2] - q[0]) / 2 / statistics.median(r)


def paired(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeats: int,
           number_a: int = 1, number_b: int = 1) -> Paired:
    """Time ``fn_a`` and ``fn_b`` alternately ``repeats`` times each (both already warm).

    The order inside a pair alternates too (AB, BA, AB, ...), so that a side does not always
    run right after the other's cache footprint.
    """
    out = Paired()
    for i in range(repeats):
        if i % 2 == 0:
            out.a.append(_sample(fn_a, number_a))
            out.b.append(_sample(fn_b, number_b))
        else:
            out.b.append(_sample(fn_b, number_b))
            out.a.append(_sample(fn_a, number_a))
    return out


def fmt_seconds(s: float | None) -> str:
    """Human-readable duration with three significant digits."""
    if s is None or not math.isfinite(s):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"

"""How much slower is a numba loop on dual numbers than the same loop on floats?

The loop is the issue's: ``s = s * x + math.sin(x * s + 1.0)`` for 10^7 steps, written once for
floats and called with a float, a k=1 dual and a k=8 dual.  The two sides of each ratio are timed
alternately (float, dual, float, dual, ...) after compilation, and the median of the per-pair
ratios is printed, so machine drift during the run cancels out.

    python benchmarks/dual_overhead.py [--steps N] [--pairs P]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
from numba import njit

from adflow.forward import seed


@njit
def loop(x, steps):
    s = 0.0  # promoted to a dual by numba when x is one
    for _ in range(steps):
        s = s * x + math.sin(x * s + 1.0)
    return s


@njit
def loop_by_hand(x, steps):
    """The value and ds/dx written out in floats: what a k=1 dual must compute at least.

    The dual's extra cost is the derivative of sin, a cos of the same argument, which LLVM fuses
    with the sin into one ``sincos`` call; this loop pays the same, so it is the floor.
    """
    s = 0.0
    ds = 0.0
    for _ in range(steps):
        t = x * s + 1.0
        c = math.cos(t)
        ds, s = ds * x + s + c * (s + x * ds), s * x + math.sin(t)
    return s, ds


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paired_ratio(baseline, candidate, pairs: int) -> tuple[float, float, float]:
    """Median of ``candidate / baseline`` over alternating pairs, and the two median times."""
    baseline()
    candidate()  # warm: compiled already, but first calls touch caches
    base_times, cand_times, ratios = [], [], []
    for _ in range(pairs):
        b = _time(baseline)
        c = _time(candidate)
        base_times.append(b)
        cand_times.append(c)
        ratios.append(c / b)
    return statistics.median(ratios), statistics.median(base_times), statistics.median(cand_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10**7)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()

    x = 0.3
    float_run = lambda: loop(x, args.steps)  # noqa: E731
    print(f"loop of {args.steps:.0e} steps, s = s * x + sin(x * s + 1), median of {args.pairs} pairs")
    by_hand = lambda: loop_by_hand(x, args.steps)  # noqa: E731
    by_hand()
    ratio, base, cand = paired_ratio(float_run, by_hand, args.pairs)
    print(f"floor: hand-written float value+derivative loop / float = {ratio:.2f}x"
          f"  (float {base * 1e3:.1f} ms, by hand {cand * 1e3:.1f} ms; ds/dx = {by_hand()[1]:.6g})")
    for k in (1, 8):
        dual_x = seed(x, np.eye(k)[0])  # k directions; the first is d/dx
        dual_run = lambda: loop(dual_x, args.steps)  # noqa: E731
        t0 = time.perf_counter()
        result = dual_run()  # compiles
        compile_s = time.perf_counter() - t0
        ratio, base, cand = paired_ratio(float_run, dual_run, args.pairs)
        print(
            f"k={k}: dual/float = {ratio:.2f}x  (float {base * 1e3:.1f} ms, dual {cand * 1e3:.1f} ms;"
            f" first dual call incl. compile {compile_s:.2f} s; ds/dx = {result.tangents[0]:.6g})"
        )


if __name__ == "__main__":
    main()

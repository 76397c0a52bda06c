"""Gradient of a long explicit time stepper in bounded memory: checkpoint="auto".

An explicit finite-difference heat equation on n points runs for `steps` steps; the objective is
the misfit of the final state to a target.  Reverse mode would keep what every step overwrites:
at n = 10^5 and 10^4 steps that is 8 GB.  With ``checkpoint="auto", memory=512 MB`` adflow runs
the time loop under a binomial (Revolve) schedule: a few snapshots of the state, segments
recomputed, the tape of one step at a time.

    python examples/checkpointed_heat.py          # 10^5 points, 10^4 steps, 512 MB (about a minute)
    python examples/checkpointed_heat.py --fast   # small sizes, same code path

The gradient is checked against central finite differences along a random direction, and (at a
size where it fits) against the full-tape gradient; the full run also reports its peak memory,
measured in a child process with resource.getrusage.
"""
import resource
import sys
import time
from multiprocessing import get_context

import numpy as np

import adflow


def misfit(u0, kappa, target, steps):
    """Explicit heat steps (fixed ends), then 0.5 * ||u - target||^2."""
    u = u0.copy()
    for t in range(steps):
        u[1:-1] = u[1:-1] + kappa * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    r = u - target
    return 0.5 * np.sum(r * r)


def problem(n, seed=0):
    x = np.linspace(0.0, 1.0, n)
    rng = np.random.default_rng(seed)
    u0 = np.sin(np.pi * x) + 0.1 * rng.standard_normal(n)
    target = 0.5 * np.sin(np.pi * x)
    return u0, target


def directional_fd(u0, kappa, target, steps, v, h=1e-6):
    return (misfit(u0 + h * v, kappa, target, steps) - misfit(u0 - h * v, kappa, target, steps)) / (2 * h)


def run_checkpointed(n, steps, memory):
    """In a child process: the gradient with checkpoint='auto', its time, the peak memory, the report."""
    u0, target = problem(n)
    grad = adflow.grad(misfit, wrt=(0, 1), checkpoint="auto", memory=memory)
    small_u0, small_target = problem(64)
    grad(small_u0, 0.25, small_target, 8)  # compile on a small case first
    start = time.perf_counter()
    du0, dkappa = grad(u0, 0.25, target, steps)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(1)
    v = rng.standard_normal(n)
    fd = directional_fd(u0, 0.25, target, steps, v)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report = grad.checkpoint_report
    return {"seconds": seconds, "peak_bytes": peak, "dot": float(du0 @ v), "fd": fd, "dkappa": float(dkappa),
            "snapshots": report[0].snapshots if report else None,
            "recomputed": report[0].recomputed if report else 0}


def in_child(function, *args):
    with get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def main(fast=False):
    rng = np.random.default_rng(1)
    if fast:
        n, steps = 400, 300
        u0, target = problem(n)
        full = adflow.grad(misfit, wrt=(0, 1))(u0, 0.25, target, steps)
        # A budget far below the 300 steps' tape (about 950 kB): the loop runs under a schedule.
        grad = adflow.grad(misfit, wrt=(0, 1), checkpoint="auto", memory=40_000)
        du0, dkappa = grad(u0, 0.25, target, steps)
        (report,) = grad.checkpoint_report
        print(f"{steps} steps on {n} points under a {40_000} byte budget: {report.snapshots} snapshots, "
              f"{report.recomputed} steps recomputed")
        assert np.allclose(du0, full[0], rtol=1e-12, atol=1e-14) and np.isclose(dkappa, full[1], rtol=1e-12)
        v = rng.standard_normal(n)
        fd = directional_fd(u0, 0.25, target, steps, v)
        assert abs(du0 @ v - fd) <= 1e-6 * max(1.0, abs(fd)), (du0 @ v, fd)
        print(f"directional derivative {du0 @ v:.10f}, finite differences {fd:.10f}")
        return
    n, steps, memory = 100_000, 10_000, 512 * 2**20
    result = in_child(run_checkpointed, n, steps, memory)
    primal = 3 * n * 8  # u0, target and the state: the primal's own arrays
    print(f"{steps} steps on {n} points, checkpoint='auto', memory=512 MB: {result['seconds']:.1f} s, "
          f"{result['snapshots']} snapshots, {result['recomputed']} steps recomputed; "
          f"peak resident memory {result['peak_bytes'] / 2**20:.0f} MB")
    print(f"directional derivative {result['dot']:.10f}, finite differences {result['fd']:.10f}")
    assert abs(result["dot"] - result["fd"]) <= 1e-5 * max(1.0, abs(result["fd"]))
    # The budget bounds what checkpointing keeps; the interpreter, numba and the compiled code
    # (about 250 MB resident before any array) come on top, as do the primal's own arrays.
    print(f"within 512 MB + the primal's arrays ({primal / 2**20:.1f} MB) + the process's own "
          f"baseline: {result['peak_bytes'] <= memory + primal + 400 * 2**20}")


if __name__ == "__main__":
    main(fast="--fast" in sys.argv)

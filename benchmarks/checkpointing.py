"""Checkpointed reverse mode: time and peak memory of a long explicit stencil, each run in its own process.

    python -m benchmarks.checkpointing            # 10^5 points; 500 steps (full tape fits) and 10^4 steps
    python -m benchmarks.checkpointing --quick    # 10^4 points, 200 and 2,000 steps

The function is an explicit heat-equation stepper on ``n`` points (the loop a numba user writes
with array slices), then a misfit.  Every figure comes from a fresh child process (``spawn``):
its peak resident memory is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end, which
includes the interpreter, numba and compiled code (the ``baseline`` row: the same process
running only the primal).  Rows:

* primal: the function itself (compiled by numba);
* full tape: ``adflow.grad`` as usual;
* checkpoint="auto" under a budget too small for the full tape (the ratio to the full tape is
  the price of recomputation);
* checkpoint="auto", memory=512 MB on the long run, whose full tape (8 GB at full size) is not run.

Times are the median of ``--repeats`` calls after a compiling call on a small case.

A second table measures what the driver costs where iterations are cheap: a Lorenz integrator
(three numbers of state, nanoseconds per iteration) over 10^5 steps, ``checkpoint=s`` for a few
``s`` against the full tape, timed alternately (median of paired ratios, benchmarks/timing.py).
The schedule's own recomputation is in the ratio: the forward iterations it runs per trip (the
taped one included) are printed beside it.  The results go to benchmarks/results/checkpointing.json.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

MB = 2**20


def misfit(u0, kappa, target, steps):
    u = u0.copy()
    for t in range(steps):
        u[1:-1] = u[1:-1] + kappa * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    r = u - target
    return 0.5 * np.sum(r * r)


def lorenz(x0, y0, z0, steps):
    x, y, z = x0, y0, z0
    dt = 0.001
    for k in range(steps):
        dx = 10.0 * (y - x)
        dy = x * (28.0 - z) - y
        dz = x * y - 8.0 / 3.0 * z
        x = x + dt * dx
        y = y + dt * dy
        z = z + dt * dz
    return x * y + z


def cheap_iterations(steps, snapshot_counts, repeats):
    """In the child: per snapshot count, (full-tape ms, checkpointed ms, paired ratio, forward iterations per trip)."""
    import adflow
    from benchmarks.timing import paired
    full = adflow.grad(lorenz, wrt=(0, 1, 2))
    reference = full(1.0, 1.0, 1.0, steps)
    out = {}
    for s in snapshot_counts:
        ckpt = adflow.grad(lorenz, wrt=(0, 1, 2), checkpoint=s)
        got = ckpt(1.0, 1.0, 1.0, steps)
        assert all(abs(a - b) <= 1e-12 * abs(b) for a, b in zip(got, reference)), (got, reference)
        (report,) = ckpt.checkpoint_report
        times = paired(lambda: full(1.0, 1.0, 1.0, steps), lambda: ckpt(1.0, 1.0, 1.0, steps), repeats)
        out[s] = {"full_ms": times.median_a * 1e3, "checkpointed_ms": times.median_b * 1e3, "ratio": times.ratio,
                  "forward_per_trip": (report.advanced + report.taped) / steps}
    return out


def data(n):
    x = np.linspace(0.0, 1.0, n)
    return np.sin(np.pi * x) + 0.01 * np.cos(7 * x), 0.5 * np.sin(np.pi * x)


def measure(kind, n, steps, memory, repeats):
    """In the child: (median seconds, peak resident bytes, gradient's checksum, report)."""
    import numba

    import adflow
    u0, target = data(n)
    small_u0, small_target = data(64)
    if kind == "primal":
        run = numba.njit(misfit)
    elif kind == "full":
        run = adflow.grad(misfit, wrt=(0, 1))
    else:
        run = adflow.grad(misfit, wrt=(0, 1), checkpoint="auto", memory=memory)
    run(small_u0, 0.25, small_target, 4)  # compile
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run(u0, 0.25, target, steps)
        times.append(time.perf_counter() - start)
    checksum = float(out) if kind == "primal" else float(np.sum(out[0] * np.cos(np.arange(n))) + out[1])
    report = getattr(run, "checkpoint_report", [])
    snapshots = report[0].snapshots if report else None
    recomputed = report[0].recomputed if report else 0
    return {"seconds": statistics.median(times), "peak_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checksum": checksum, "snapshots": snapshots, "recomputed": recomputed}


def child(*args, task=None):
    with get_context("spawn").Pool(1) as pool:
        return pool.apply(task or measure, args)


def baseline_MB() -> float:
    """Peak memory of a child that imports numpy, numba and adflow and allocates nothing big."""
    return child("primal", 64, 4, None, 1)["peak_MB"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.checkpointing", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10^4 points: seconds, not minutes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "checkpointing.json")
    args = ap.parse_args(argv)
    n, short, long_ = (10_000, 200, 2_000) if args.quick else (100_000, 500, 10_000)
    tight = (8 if args.quick else 64) * MB  # below the short run's full tape
    budget = (16 if args.quick else 512) * MB
    rows = {"baseline": {"peak_MB": baseline_MB()}}
    rows["primal, short"] = child("primal", n, short, None, args.repeats)
    rows["full tape, short"] = child("full", n, short, None, args.repeats)
    rows[f"auto {tight // MB} MB, short"] = child("auto", n, short, tight, args.repeats)
    rows["primal, long"] = child("primal", n, long_, None, 1)
    rows[f"auto {budget // MB} MB, long"] = child("auto", n, long_, budget, 1)
    full, ckpt = rows["full tape, short"], rows[f"auto {tight // MB} MB, short"]
    assert abs(full["checksum"] - ckpt["checksum"]) <= 1e-10 * abs(full["checksum"]), (full, ckpt)
    print(f"explicit heat stencil, {n} points; short run {short} steps, long run {long_} steps "
          f"(full tape {long_ * (n - 2) * 8 / MB:.0f} MB, not run)")
    print(f"{'run':<24}{'seconds':>10}{'peak MB':>10}{'snapshots':>11}{'recomputed':>12}")
    for label, row in rows.items():
        print(f"{label:<24}{row.get('seconds', float('nan')):>10.3f}{row['peak_MB']:>10.0f}"
              f"{row.get('snapshots') or '':>11}{row.get('recomputed', ''):>12}")
    ratio = ckpt["seconds"] / full["seconds"]
    print(f"checkpointed / full tape, short run: {ratio:.2f}x;  long run peak - baseline: "
          f"{rows[f'auto {budget // MB} MB, long']['peak_MB'] - rows['baseline']['peak_MB']:.0f} MB "
          f"(budget {budget // MB} MB + primal arrays {3 * n * 8 / MB:.1f} MB)")
    lorenz_steps = 10_000 if args.quick else 100_000
    cheap = child(lorenz_steps, (10, 100, 1000), 9, task=cheap_iterations)
    print(f"\nLorenz, {lorenz_steps} steps: checkpoint=s against the full tape (median of 9 paired ratios)")
    for s, row in cheap.items():
        print(f"s={s:<6} full tape {row['full_ms']:.2f} ms  checkpointed {row['checkpointed_ms']:.2f} ms  "
              f"{row['ratio']:.2f}x  ({row['forward_per_trip']:.2f} forward iterations per trip)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"n": n, "short": short, "long": long_, "rows": rows, "ratio": ratio,
                                    "lorenz_steps": lorenz_steps, "cheap": cheap}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(n, short, long_, rows, ratio)
                                           + cheap_markdown(lorenz_steps, cheap))


def markdown(n, short, long_, rows, ratio) -> str:
    """The table docs/checkpointing.md includes (copy results/checkpointing.md to docs/benchmarks/)."""
    lines = [f"{n:,} points; short run {short:,} steps, long run {long_:,} steps.", "",
             "| run | seconds | peak MB | snapshots | steps recomputed |", "|---|---|---|---|---|"]
    for label, row in rows.items():
        seconds = f"{row['seconds']:.3f}" if "seconds" in row else ""
        lines.append(f"| {label} | {seconds} | {row['peak_MB']:.0f} | {row.get('snapshots') or ''} | "
                     f"{row.get('recomputed', '')} |")
    lines += ["", f"Checkpointed / full tape on the short run: **{ratio:.2f}x**."]
    return "\n".join(lines) + "\n"


def cheap_markdown(steps, cheap) -> str:
    lines = ["", f"Cheap iterations: a Lorenz integrator, {steps:,} steps, `checkpoint=s` against the full "
             "tape (median of 9 paired ratios).", "",
             "| snapshots | full tape ms | checkpointed ms | ratio | forward iterations per trip |",
             "|---|---|---|---|---|"]
    for s, row in cheap.items():
        lines.append(f"| {s} | {row['full_ms']:.2f} | {row['checkpointed_ms']:.2f} | {row['ratio']:.2f}x | "
                     f"{row['forward_per_trip']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

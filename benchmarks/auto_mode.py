"""Does ``jacobian(mode="auto")`` pick the faster mode?  Both modes timed, next to the plan's estimates.

For each Jacobian (dense ones and row-wise ones, ``batch=True``; the functions are in
``benchmarks/auto_mode_functions.py``), forward and reverse mode are timed alternately (paired
samples, median of the per-pair ratios), after a first call each; the plan ``mode="auto"`` makes
is printed with its two cost estimates (in evaluations of ``f``), and whether it chose the mode
that measured faster.  Every Jacobian is checked against central differences.

    python -m benchmarks.auto_mode [--rows 20000] [--pairs 7] [--threads 1]
"""
from __future__ import annotations

import argparse
import os


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.auto_mode", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows of the row-wise Jacobians")
    parser.add_argument("--pairs", type=int, default=7, help="alternating timing pairs per Jacobian")
    parser.add_argument("--threads", type=int, default=None, help="threads for numba and BLAS")
    args = parser.parse_args(argv)
    if args.threads:  # before numpy and numba read them
        for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)

    import numpy as np

    import adflow

    from . import auto_mode_functions as F
    from .timing import fmt_seconds, paired, warm

    rng = np.random.default_rng(0)
    rows = args.rows
    cameras = np.concatenate([rng.uniform(-0.3, 0.3, (rows, 3)), rng.uniform(-1, 1, (rows, 3)),
                              rng.uniform(0.8, 1.2, (rows, 1)), rng.uniform(-0.1, 0.1, (rows, 2)),
                              rng.uniform(-1, 1, (rows, 2)), rng.uniform(4, 6, (rows, 1)),
                              rng.uniform(0.5, 1.5, (rows, 1))], axis=1)
    W1, W2 = rng.standard_normal((32, 16)) / 4, rng.standard_normal((4, 32)) / 6
    cases = [
        ("bundle adjustment row, 13 -> 2", F.reprojection, (cameras,), True),
        ("MLP row, 16 -> 4", F.mlp_row, (rng.standard_normal((rows, 16)), W1, W2), True),
        ("loop row, 3 -> 24", F.spread, (rng.uniform(-1, 1, (rows, 3)),), True),
        ("loop row, 40 -> 1", F.energy, (rng.uniform(-1, 1, (rows // 10, 40)),), True),
        ("array row, 40 -> 1", F.wide_loss, (rng.standard_normal((rows // 10, 40)), rng.standard_normal((5, 40)) * 0.3),
         True),
        ("array row, 5 -> 2", F.two_of_many, (rng.standard_normal((rows, 5)), rng.standard_normal((7, 5))), True),
        ("dense, 200 -> 4", F.wide, (rng.standard_normal(200), rng.standard_normal((4, 200)) / 14), False),
        ("dense, 4 -> 200", F.narrow, (rng.standard_normal(4), rng.standard_normal((200, 4))), False),
        ("dense loop, 50 -> 50", F.square, (rng.uniform(-1, 1, 50),), False),
    ]
    print("| Jacobian | plan (mode='auto') | forward | reverse | faster | auto chose it |")
    print("|---|---|---|---|---|---|")
    wrong = 0
    for label, f, fargs, batch in cases:
        runs = {}
        for mode in ("forward", "reverse"):
            jac = adflow.jacobian(f, mode=mode, batch=batch)
            runs[mode] = (lambda jac=jac: jac(*fargs))
        J = {mode: run() for mode, run in runs.items()}
        check(f, fargs, batch, J["forward"], np)
        np.testing.assert_allclose(J["reverse"], J["forward"], rtol=1e-9, atol=1e-12)
        for run in runs.values():
            warm(run)
        timing = paired(runs["forward"], runs["reverse"], args.pairs)
        auto = adflow.jacobian(f, batch=batch)
        auto(*fargs)
        chosen = auto.plan.mode
        faster = "forward" if timing.ratio > 1.0 else "reverse"
        wrong += chosen != faster
        print(f"| {label} | {auto.plan} | {fmt_seconds(timing.median_a)} | {fmt_seconds(timing.median_b)} | "
              f"{faster} ({max(timing.ratio, 1 / timing.ratio):.2f}x) | {'yes' if chosen == faster else 'NO'} |")
    print(f"\nauto chose the slower mode for {wrong} of {len(cases)} Jacobians")
    return 0


def check(f, fargs, batch, J, np):
    """The Jacobian (of the first row, when row-wise) against central differences."""
    x = fargs[0][0] if batch else fargs[0]
    rest = fargs[1:]
    got = J[0] if batch else J
    h = 1e-6
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        column = (np.asarray(f(x + e, *rest)) - np.asarray(f(x - e, *rest))) / (2 * h)
        np.testing.assert_allclose(got[..., j], column, rtol=1e-5, atol=1e-7)


if __name__ == "__main__":
    raise SystemExit(main())

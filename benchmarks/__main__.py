"""Run adflow's benchmark suite: per problem, a table of derivative times and their ratios to
the numba primal, measured side by side; results/latest.json and latest.png are written.

Exit status: 0, or 1 when any tool's derivative disagrees with the hand-written one (or the
hand-written one with finite differences): a wrong derivative is never just a slow one.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# Only the standard library at the top: --threads must act before numpy, numba, torch or JAX
# load, so the suite's own modules are imported inside main().


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, 3 pairs, each tool's main columns only (adflow's "
                         "explicit mode= variants and value_and_grad are left to full runs): "
                         "a smoke run for CI")
    ap.add_argument("--problems", default=None,
                    help="comma-separated problems or problem modules (default: all): rosenbrock "
                         "(both variants), rosenbrock_array, lorenz, rowwise_mlp, "
                         "wide_to_narrow, narrow_to_wide, sparse_pde, lorenz_batch, per_sample, heat_array, wave_array")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timing pairs per ratio (default 7, or 3 with --quick)")
    ap.add_argument("--peer-budget", type=float, default=None, metavar="SECONDS",
                    help="a slow peer (a Python loop) whose first call, warm-up and timed "
                         "repeats would take longer than this in all runs at a smaller size and "
                         "is scaled linearly (default 60, or 1 with --quick)")
    ap.add_argument("--tools", default=None,
                    help="comma-separated tools to run (default: all): adflow, jax, torch, "
                         "autograd; the hand-written derivative always runs, as the reference")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit every tool (numba, BLAS, PyTorch, JAX) to this many threads; "
                         "on a loaded shared machine --threads 1 gives steadier ratios, since "
                         "oversubscribed thread pools slow some tools far more than others")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                    help="where latest.json and latest.png go (default benchmarks/results/)")
    return ap.parse_args(argv)


def limit_threads(n: int) -> None:
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if n == 1:  # XLA's CPU client has no thread-count knob short of turning threading off
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()


def main(argv=None) -> int:
    args = parse(argv)
    if args.threads:
        limit_threads(args.threads)
    from . import problems, report
    from .runner import Settings, run_problem

    s = Settings(mode="quick" if args.quick else "full",
                 repeats=args.repeats or (3 if args.quick else 7),
                 budget=args.peer_budget or (1.0 if args.quick else 60.0),
                 min_sample=0.005 if args.quick else 0.05,
                 threads=args.threads,
                 tools=tuple(t.strip() for t in args.tools.split(",")) if args.tools else None)
    unknown = set(s.tools or ()) - {"hand", "adflow", "jax", "torch", "autograd"}
    if unknown:
        raise SystemExit(f"unknown tool(s): {', '.join(sorted(unknown))}")
    names = [n.strip() for n in args.problems.split(",") if n.strip()] if args.problems else None
    chosen = problems.select(names)
    t0 = time.perf_counter()
    info = report.machine_info()
    report.print_header(info, s, [p.name for p in chosen])
    results = []
    for p in chosen:
        r = run_problem(p, s)
        report.print_problem(r)
        results.append(r)
    report.print_summary(results)

    info = report.machine_info()  # again: now with the threads of the peers that were loaded
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "latest.json", report.to_json(info, s, results))
    wrote_png = report.write_png(args.out / "latest.png", info, s, results)
    print(f"wrote {args.out / 'latest.json'}" + (f" and {args.out / 'latest.png'}" if wrote_png
                                                 else " (no matplotlib: no chart)"))
    mismatches = [m for r in results for m in r.mismatches]
    if mismatches:
        print(f"!!!!! {len(mismatches)} derivative(s) disagree:")
        for m in mismatches:
            print(f"!!!!!   {m}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())

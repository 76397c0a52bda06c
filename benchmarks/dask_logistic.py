"""The gradient of a logistic loss over Dask arrays on a LocalCluster, against adflow in one process.

The loss is the mean over 10^7 rows (10 features, labels +1/-1) of ``log(1 + exp(-y x.w))``, the
rows in 100 blocks.  The data are made by ``dask.array``'s random generator, once on the cluster
(persisted in the workers' memory, so the timings are of the gradient, not of making the data) and
once in this process for the reference: the same seed and blocks give the same numbers, and the
two gradients are checked against each other.

For each number of workers (one thread each), the cluster's ``adflow.dask.grad`` and the in-memory
``adflow.grad`` are timed alternately (see ``benchmarks/timing.py``): the figure is the median of
the per-pair ratios, cluster time over in-memory time.  With one worker it is the cost of going
through Dask; with two it also shows what a second core buys, when the machine has one to give.
The first call (workers building the derivative, from the disk cache when it is warm) is
reported on its own.

    python -m benchmarks.dask_logistic [--rows N] [--features D] [--blocks B] [--workers 1,2] [--repeats R]

Needs ``pip install 'adflow[dask]'``.  Memory: the data twice (about 1.7 GB at the default size).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def mean_logistic(w, X, y):
    return np.mean(np.log(1.0 + np.exp(-y * (X @ w))))


def make_data(rows, features, blocks, seed=0):
    """(X, y) as Dask arrays in ``blocks`` blocks of rows; the same numbers wherever they are computed."""
    import dask.array as da
    rng = da.random.default_rng(seed)
    per_block = -(-rows // blocks)
    X = rng.standard_normal((rows, features), chunks=(per_block, features))
    y = da.where(rng.standard_normal(rows, chunks=per_block) > 0, 1.0, -1.0)
    return X, y


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10**7)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--workers", default="1,2", help="comma-separated numbers of worker processes")
    parser.add_argument("--repeats", type=int, default=5, help="timing pairs per number of workers")
    args = parser.parse_args(argv)

    import dask
    import distributed

    import adflow
    import adflow.dask
    from benchmarks.timing import first_call, fmt_seconds, paired

    w = np.linspace(-0.5, 0.5, args.features)
    X_lazy, y_lazy = make_data(args.rows, args.features, args.blocks)
    X, y = dask.compute(X_lazy, y_lazy, scheduler="threads")
    in_memory = adflow.grad(mean_logistic)
    first, _, expected = first_call(lambda: lambda: in_memory(w, X, y))
    print(f"mean logistic loss, {args.rows:.0e} rows x {args.features} features in {args.blocks} blocks")
    print(f"in memory, one process: first call {fmt_seconds(first)}")

    for workers in (int(n) for n in args.workers.split(",")):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster):
            dX, dy = dask.persist(X_lazy, y_lazy)
            distributed.wait([dX, dy])
            on_cluster = adflow.dask.grad(mean_logistic, reduction="mean")
            first, _, got = first_call(lambda: lambda: on_cluster(w, dX, dy))
            error = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
            assert error < 1e-10, f"the cluster's gradient differs from the in-memory one by {error:.1e}"
            timing = paired(lambda: in_memory(w, X, y), lambda: on_cluster(w, dX, dy), args.repeats)
            print(f"{workers} worker{'s' if workers > 1 else ''}: {fmt_seconds(timing.median_b)} per gradient "
                  f"(in memory {fmt_seconds(timing.median_a)}): {timing.ratio:.2f}x the in-memory time "
                  f"(noise +-{timing.spread:.0%}); first call {fmt_seconds(first)}; "
                  f"agrees to {error:.0e}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"(whole run {time.perf_counter() - start:.0f} s)")

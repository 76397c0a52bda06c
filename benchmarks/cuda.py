"""target="cuda" against target="cpu": batched Lorenz sensitivities and per-row Rosenbrock gradients.

    python -m benchmarks.cuda                  # a GPU: full sizes
    python -m benchmarks.cuda --quick          # small sizes
    NUMBA_ENABLE_CUDASIM=1 python -m benchmarks.cuda   # numba's simulator: tiny sizes, checks only

For each problem: the first call (generation and compilation), then the median of ``--repeats``
warm calls of

* ``cpu``: ``adflow.grad(f, batch=True)`` (a prange loop over rows, all cores);
* ``cuda host``: ``adflow.grad(f, target="cuda", batch=True)`` on numpy arrays (transfers included);
* ``cuda device``: the same on numba device arrays already on the GPU (result left there).

The CUDA results are checked against the CPU's (relative difference < 1e-9) before timing; a
mismatch exits with status 1.  Timings on the simulator mean nothing and are printed as such.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

SIZES = {  # problem -> (rows, per-row size) for full / quick / simulator runs
    "lorenz_batch": {"full": (100_000, 1_000), "quick": (10_000, 200), "sim": (16, 10)},
    "rosenbrock_rows": {"full": (100_000, 100), "quick": (10_000, 50), "sim": (16, 6)},
}


def lorenz_loss(u0, p, nsteps):
    s, r, b = p[0], p[1], p[2]
    x, y, z = u0[0], u0[1], u0[2]
    h = 0.01
    for _ in range(nsteps):
        k1x, k1y, k1z = s * (y - x), x * (r - z) - y, x * y - b * z
        x2, y2, z2 = x + 0.5 * h * k1x, y + 0.5 * h * k1y, z + 0.5 * h * k1z
        k2x, k2y, k2z = s * (y2 - x2), x2 * (r - z2) - y2, x2 * y2 - b * z2
        x3, y3, z3 = x + 0.5 * h * k2x, y + 0.5 * h * k2y, z + 0.5 * h * k2z
        k3x, k3y, k3z = s * (y3 - x3), x3 * (r - z3) - y3, x3 * y3 - b * z3
        x4, y4, z4 = x + h * k3x, y + h * k3y, z + h * k3z
        k4x, k4y, k4z = s * (y4 - x4), x4 * (r - z4) - y4, x4 * y4 - b * z4
        x = x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + h / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    return x * x + y * y + z * z


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def problems(size):
    rng = np.random.default_rng(0)
    rows, n = SIZES["lorenz_batch"][size]
    U0 = rng.standard_normal((rows, 3)) + np.array([0.0, 0.0, 20.0])
    yield "lorenz_batch", f"{rows} states x {n} RK4 steps", lorenz_loss, (U0, np.array([10.0, 28.0, 8.0 / 3.0]), n)
    rows, n = SIZES["rosenbrock_rows"][size]
    yield "rosenbrock_rows", f"{rows} rows x n = {n}", rosenbrock, (rng.uniform(-2.0, 2.0, (rows, n)),)


def timed(fn, repeats, sync=None):
    t0 = time.perf_counter()
    out = fn()
    if sync:
        sync()
    first = time.perf_counter() - t0
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        samples.append(time.perf_counter() - t0)
    return first, statistics.median(samples), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cuda", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--repeats", type=int, default=None, help="warm calls per column (default 5, 1 on the simulator)")
    args = ap.parse_args(argv)

    from numba import cuda

    import adflow

    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if not simulator and not cuda.is_available():
        print("no CUDA GPU here: run on one, or NUMBA_ENABLE_CUDASIM=1 for a correctness run on the simulator")
        return 2
    if simulator:  # tiny launches: numba warns that they under-use a GPU
        import warnings

        from numba.core.errors import NumbaPerformanceWarning
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
    size = "sim" if simulator else ("quick" if args.quick else "full")
    repeats = args.repeats or (1 if simulator else 5)
    device = "numba's CUDA simulator (times are meaningless)" if simulator else cuda.get_current_device().name
    print(f"adflow target='cuda' vs target='cpu' on {device}; median of {repeats} warm calls\n")
    print(f"{'problem':<17} {'size':<28} {'column':<12} {'first call':>11} {'warm':>11} {'vs cpu':>8}")
    status = 0
    for pname, label, func, fargs in problems(size):
        cpu = adflow.grad(func, batch=True)
        gpu = adflow.grad(func, target="cuda", batch=True)
        first_cpu, warm_cpu, G_cpu = timed(lambda: cpu(*fargs), repeats)
        first_host, warm_host, G_host = timed(lambda: gpu(*fargs), repeats)
        dargs = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in fargs]
        first_dev, warm_dev, G_dev = timed(lambda: gpu(*dargs), repeats, sync=cuda.synchronize)
        for col, G in (("cuda host", G_host), ("cuda device", G_dev.copy_to_host())):
            err = float(np.max(np.abs(G - G_cpu) / (1.0 + np.abs(G_cpu))))
            if not err < 1e-9:
                print(f"!!!!! MISMATCH {pname} {col}: relative difference {err:.2e}")
                status = 1
        for col, first, warm in (("cpu", first_cpu, warm_cpu), ("cuda host", first_host, warm_host),
                                 ("cuda device", first_dev, warm_dev)):
            print(f"{pname:<17} {label:<28} {col:<12} {first:>10.3f}s {warm * 1e3:>9.2f}ms "
                  f"{warm_cpu / warm:>7.1f}x")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""PyTorch's one-hot ``backward(v)`` loop for a full Jacobian, against the one adflow call that replaces it.

The function is a two-layer network, ``y = tanh(W2 @ tanh(W1 @ x))``, with ``n`` inputs, ``h``
hidden units and ``m`` outputs.  PyTorch users get its Jacobian by seeding one output at a time,
``v = e_i``, and calling ``y.backward(v, retain_graph=True)`` ``m`` times (the loop docs/concepts.md
shows); adflow's ``jacobian`` does the same work in one call, in one compiled loop, pulling up to
16 output directions per sweep (vector mode), or pushing input directions forward when that is
cheaper.  Every result is checked against the closed form
``J = diag(1 - y^2) W2 diag(1 - a^2) W1``.

Warm calls are timed alternately against the loop (paired samples, median of the per-pair ratios,
as the suite does); first calls (adflow's transform and numba compile, PyTorch's first backward)
are timed on their own, in this process, with whatever the disk cache holds.

    python -m benchmarks.onehot_jacobian [--n 100] [--hidden 200] [--m 50] [--pairs 9] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.onehot_jacobian", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="inputs")
    parser.add_argument("--hidden", type=int, default=200, help="hidden units")
    parser.add_argument("--m", type=int, default=50, help="outputs")
    parser.add_argument("--pairs", type=int, default=9, help="alternating timing pairs per column")
    parser.add_argument("--threads", type=int, default=None, help="threads for numba, BLAS and PyTorch")
    args = parser.parse_args(argv)
    if args.threads:  # before numpy, numba and torch read them
        for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)

    import numpy as np

    import adflow

    from .timing import first_call, fmt_seconds, paired, warm

    try:
        import torch
    except ImportError:
        print("PyTorch is not installed (pip install -e '.[bench]'); nothing to compare with")
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)

    rng = np.random.default_rng(0)
    n, h, m = args.n, args.hidden, args.m
    W1 = rng.standard_normal((h, n)) / np.sqrt(n)
    W2 = rng.standard_normal((m, h)) / np.sqrt(h)
    x0 = rng.standard_normal(n)

    # The function as an adflow user writes it (module-level source: adflow reads it).
    namespace = {"np": np, "W1": W1, "W2": W2}
    path = os.path.join(os.path.dirname(__file__), "_onehot_network.py")
    with open(path) as fh:
        exec(compile(fh.read(), path, "exec"), namespace)
    network = namespace["network"]

    a = np.tanh(W1 @ x0)
    y = np.tanh(W2 @ a)
    exact = (1 - y ** 2)[:, None] * W2 @ ((1 - a ** 2)[:, None] * W1)

    W1_t, W2_t = torch.tensor(W1), torch.tensor(W2)

    def torch_loop():
        # PyTorch's one-hot loop: one backward pass per output, the graph kept between them.
        x = torch.tensor(x0, requires_grad=True)
        out = torch.tanh(W2_t @ torch.tanh(W1_t @ x))
        J = torch.zeros(m, n)
        for i in range(m):
            v = torch.zeros(m)
            v[i] = 1.0
            x.grad = None
            out.backward(v, retain_graph=True)
            J[i] = x.grad
        return J

    def torch_jacrev():
        return torch.func.jacrev(lambda x: torch.tanh(W2_t @ torch.tanh(W1_t @ x)))(torch.tensor(x0))

    columns = [("PyTorch one-hot backward(v) loop", lambda: torch_loop),
               ("PyTorch torch.func.jacrev (vmap of the VJP)", lambda: torch_jacrev)]
    for mode in ("forward", "reverse"):  # mode="auto" runs one of these builds (the plan printed says which)
        def build(mode=mode):
            jac = adflow.jacobian(network, mode=mode)
            return lambda: jac(x0)
        columns.append((f"adflow.jacobian(network, mode={mode!r})", build))

    rows = []
    loop = None
    for label, build in columns:
        first, fn, result = first_call(build)
        error = float(np.max(np.abs(np.asarray(result) - exact)))
        assert error < 1e-12, f"{label}: differs from the closed form by {error:.2e}"
        warm(fn)
        if loop is None:
            loop = fn
            rows.append((label, first, warm(fn), 1.0, error))
            continue
        timing = paired(loop, fn, args.pairs)
        rows.append((label, first, timing.median_b, timing.ratio, error))

    print(f"# one-hot backward(v) loop vs one adflow call: n = {n} inputs, {h} hidden, m = {m} outputs")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"numpy {np.__version__}, torch {torch.__version__}, adflow {adflow.__version__}, "
          f"threads {args.threads or 'default'}, {time.strftime('%Y-%m-%d')}")
    auto = adflow.jacobian(network)
    auto(x0)
    print(f"# adflow.jacobian(network), mode='auto', plans: {auto.plan}")
    print()
    print("| way | first call | warm call | time / loop's | max error vs closed form |")
    print("|---|---|---|---|---|")
    for label, first, warm_time, ratio, error in rows:
        print(f"| {label} | {fmt_seconds(first)} | {fmt_seconds(warm_time)} | {ratio:.3g} | {error:.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

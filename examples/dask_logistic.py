"""Fit a logistic regression to data held in Dask arrays, with gradients computed on a Dask cluster.

The loss is written for arrays in memory, a mean over the rows:

    def loss(w, X, y):
        return np.mean(np.log(1.0 + np.exp(-y * (X @ w))))

``adflow.dask.value_and_grad(loss, reduction="mean")`` takes ``X`` and ``y`` as Dask arrays chunked
along rows: each worker runs adflow's compiled gradient on its blocks, and the blocks' gradients
are added up in a tree.  SciPy's L-BFGS-B drives the fit from this process; only the 10 weights and
their gradient travel each iteration.  The cluster here is a LocalCluster of two worker processes;
on a real cluster the only change is the Client's address.

Run:  python examples/dask_logistic.py          (10^6 rows in 20 blocks)
      python examples/dask_logistic.py --fast   (20,000 rows in 4 blocks, what tests/test_examples.py runs)
"""
import sys
import time

import cloudpickle
import dask
import dask.array as da
import numpy as np
import scipy.optimize
from dask.distributed import Client, LocalCluster

import adflow
import adflow.dask


def loss(w, X, y):
    return np.mean(np.log(1.0 + np.exp(-y * (X @ w))))


def main(fast=False):
    if __name__ != "__main__":
        # Run as a script, this file's functions travel to the workers by value.  Imported under
        # another name (tests/test_examples.py does), the workers could not import that name.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rows, blocks, features = (20_000, 4, 10) if fast else (1_000_000, 20, 10)
    rng = da.random.default_rng(0)
    w_true = np.linspace(-2.0, 2.0, features)
    X = rng.standard_normal((rows, features), chunks=(rows // blocks, features))
    y = da.where(X @ w_true + 0.5 * rng.standard_normal(rows, chunks=rows // blocks) > 0, 1.0, -1.0)

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
        X, y = dask.persist(X, y)                    # the data stay in the workers' memory
        value_and_grad = adflow.dask.value_and_grad(loss, reduction="mean")
        w0 = np.zeros(features)

        # Check the cluster's gradient against adflow on the same data in memory, once.
        X_here, y_here = dask.compute(X, y)
        value, g = value_and_grad(w0, X, y)
        expected_value, expected_g = adflow.value_and_grad(loss)(w0, X_here, y_here)
        err = np.max(np.abs(g - expected_g)) / np.max(np.abs(expected_g))
        print(f"{rows} rows in {blocks} blocks on 2 workers: gradient at w0 vs adflow in memory: "
              f"max rel err {err:.1e}")
        assert err < 1e-12 and abs(value - expected_value) < 1e-12, (err, value, expected_value)

        start = time.perf_counter()
        res = scipy.optimize.minimize(value_and_grad, w0, args=(X, y), jac=True, method="L-BFGS-B",
                                      options={"maxiter": 10 if fast else 100})
        elapsed = time.perf_counter() - start
    print(f"L-BFGS-B: {res.nit} iterations, {res.nfev} gradients on the cluster, {elapsed:.1f} s; "
          f"loss {loss(w0, X_here, y_here):.4f} -> {res.fun:.4f}")
    direction = res.x / np.linalg.norm(res.x)
    cosine = float(direction @ w_true / np.linalg.norm(w_true))
    print(f"  cosine between the fitted and the true weights: {cosine:.4f}")
    assert res.fun < 0.5 * loss(w0, X_here, y_here) and cosine > 0.99, (res.fun, cosine)
    return res


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

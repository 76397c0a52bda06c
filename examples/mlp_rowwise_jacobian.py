"""Row-wise Jacobians of a small MLP: ``adflow.jacobian(f, batch=True)`` against a per-row loop.

``mlp_row`` maps one input row (16 features) to one output row (8 values).  For a batch ``X``
of N rows we want ``Z[i] = d mlp_row(X[i]) / d X[i]``, an (N, 8, 16) array, *not* the
(N*8, N*16) block-diagonal Jacobian of the whole batch.  ``batch=True`` computes exactly that,
in one compiled loop over blocks of 32 rows (spread over the cores); the mode comes from the row's
sizes (16 inputs, 8 outputs: see ``.plan``).

Run:  python examples/mlp_rowwise_jacobian.py          (N = 20,000 rows)
      python examples/mlp_rowwise_jacobian.py --fast   (N = 200 rows)
"""
import sys
import time

import numpy as np

import adflow

D_IN, HIDDEN, D_OUT = 16, 64, 8


def mlp_row(x, W1, b1, W2, b2):
    return np.tanh(np.dot(W2, np.tanh(np.dot(W1, x) + b1)) + b2)


def main(fast=False):
    rng = np.random.default_rng(0)
    n = 200 if fast else 20_000
    X = rng.standard_normal((n, D_IN))
    W1, b1 = rng.standard_normal((HIDDEN, D_IN)) / np.sqrt(D_IN), 0.1 * rng.standard_normal(HIDDEN)
    W2, b2 = rng.standard_normal((D_OUT, HIDDEN)) / np.sqrt(HIDDEN), 0.1 * rng.standard_normal(D_OUT)

    batched = adflow.jacobian(mlp_row, batch=True)   # wrt=0: X, one row at a time
    one_row = adflow.jacobian(mlp_row)
    batched(X[:2], W1, b1, W2, b2)                   # compile both before timing
    one_row(X[0], W1, b1, W2, b2)

    start = time.perf_counter()
    Z = batched(X, W1, b1, W2, b2)
    t_batch = time.perf_counter() - start
    print(f"jacobian(mlp_row, batch=True)(X): shape {Z.shape} in {t_batch * 1e3:.1f} ms")
    print(f"  plan per row: {batched.plan}")

    start = time.perf_counter()
    Z_loop = np.stack([one_row(X[i], W1, b1, W2, b2) for i in range(n)])
    t_loop = time.perf_counter() - start
    print(f"per-row loop of jacobian(mlp_row)(X[i]): {t_loop * 1e3:.1f} ms "
          f"({t_loop / t_batch:.0f}x the batched call: Python overhead per row)")
    np.testing.assert_allclose(Z, Z_loop, rtol=1e-12, atol=1e-14)
    print("  batched and per-row Jacobians agree to 1e-12")

    # Check one row against the closed form: diag(1 - y^2) W2 diag(1 - h^2) W1.
    i = n // 2
    h = np.tanh(W1 @ X[i] + b1)
    y = np.tanh(W2 @ h + b2)
    exact = (1 - y ** 2)[:, None] * W2 @ ((1 - h ** 2)[:, None] * W1)
    err = np.max(np.abs(Z[i] - exact))
    print(f"  row {i} against the closed form: max abs err {err:.1e}")
    assert err < 1e-13, err
    return Z


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

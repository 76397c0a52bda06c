"""Lorenz sensitivities for many initial states on a GPU: adflow's ``target="cuda"`` end to end.

Each row of ``U0`` is an initial state (x0, y0, z0).  One CUDA thread per row integrates the
Lorenz system with RK4 and runs the reverse sweep of the generated adjoint, so the batch of
gradients ``d loss(U0[i]) / d U0[i]`` comes from one kernel launch:

1. ``adflow.grad(lorenz_loss, target="cuda", batch=True)(U0, p, T)``: per-row gradients;
2. ``adflow.jacobian(lorenz_state, target="cuda", batch=True)(U0, p, T)``: per-row 3x3 Jacobians
   of the final state (three reverse sweeps per thread);
3. ``adflow.grad(lorenz_loss, target="cuda").device_for(...)``: the device function itself,
   called from a kernel written here, with the scratch buffer that holds its tape.

Every result is compared with ``target="cpu"``.  The tape (three numbers per step: the state each
step starts from) lives in a scratch buffer laid out one column per thread; its size per thread
comes from the loop's trip count, known before the launch from the argument ``T``.

Run:  python examples/cuda_lorenz.py            (a GPU: 20,000 states x 1,000 steps)
      NUMBA_ENABLE_CUDASIM=1 python examples/cuda_lorenz.py   (numba's simulator: 32 states x 20 steps)
      python examples/cuda_lorenz.py --fast     (a GPU: 1,000 x 100; the simulator: 8 x 10, the tests' size)
Without a GPU and without the variable, the script restarts itself on the simulator.
"""
import os
import sys
import time


def _restart_on_simulator_if_no_gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return
    try:
        from numba import cuda
        available = cuda.is_available()
    except Exception:  # noqa: BLE001 - no numba-cuda or no driver: the simulator it is
        available = False
    if not available:
        print("no CUDA GPU found: running on numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)\n")
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        os.execv(sys.executable, [sys.executable] + sys.argv)


_restart_on_simulator_if_no_gpu()

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

import adflow  # noqa: E402

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


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


def lorenz_state(u0, p, nsteps):
    s, r, b = p[0], p[1], p[2]
    x, y, z = u0[0], u0[1], u0[2]
    h = 0.01
    for _ in range(nsteps):
        dx, dy, dz = s * (y - x), x * (r - z) - y, x * y - b * z
        x, y, z = x + h * dx, y + h * dy, z + h * dz
    return np.array([x, y, z])


def sizes(fast):
    """(rows, steps): the simulator runs each GPU thread as a Python thread, hence its small sizes."""
    if SIMULATOR:
        return (8, 10) if fast else (32, 20)
    return (1_000, 100) if fast else (20_000, 1_000)


def main(fast=False):
    rows, steps = sizes(fast)
    rng = np.random.default_rng(0)
    U0 = rng.standard_normal((rows, 3)) + np.array([0.0, 0.0, 20.0])
    p = np.array([10.0, 28.0, 8.0 / 3.0])
    where = "numba's CUDA simulator" if SIMULATOR else cuda.get_current_device().name
    print(f"{rows} initial states, {steps} RK4 steps, on {where}\n")

    # 1. per-row gradients: one thread per row
    g_gpu = adflow.grad(lorenz_loss, target="cuda", batch=True)
    t0 = time.perf_counter()
    G = g_gpu(U0, p, steps)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    G = g_gpu(U0, p, steps)
    t_gpu = time.perf_counter() - t0
    g_cpu = adflow.grad(lorenz_loss, batch=True)
    G_cpu = g_cpu(U0, p, steps)
    t0 = time.perf_counter()
    G_cpu = g_cpu(U0, p, steps)
    t_cpu = time.perf_counter() - t0
    err = np.max(np.abs(G - G_cpu) / (1.0 + np.abs(G_cpu)))
    print("1. grad(lorenz_loss, target='cuda', batch=True)(U0, p, T): shape", G.shape)
    print(f"   row 0: {G[0]}\n   largest difference from target='cpu' (relative): {err:.1e}")
    print(f"   first call {t_first:.2f} s (generation + compilation), then {t_gpu * 1e3:.1f} ms "
          f"(cpu, all cores: {t_cpu * 1e3:.1f} ms)")
    dev = g_gpu.device
    print(f"   tape per thread: {dev.scratch_size(U0[0], p, steps)} float64 values "
          f"({3} per step x {steps} steps)\n")
    assert err < 1e-9

    # 2. per-row Jacobians of the final state, and device arrays in -> device arrays out
    d_U0 = cuda.to_device(U0[:8])
    J = adflow.jacobian(lorenz_state, target="cuda", batch=True)(d_U0, p, steps)
    J = J.copy_to_host()
    J_cpu = np.array([adflow.jacobian(lorenz_state, mode="reverse")(u, p, steps) for u in U0[:8]])
    err = np.max(np.abs(J - J_cpu) / (1.0 + np.abs(J_cpu)))
    print("2. jacobian(lorenz_state, target='cuda', batch=True) on device arrays: shape", J.shape)
    print("   dX_T/dX_0 of row 0:\n" + "\n".join("     " + np.array2string(r, precision=4) for r in J[0]))
    print(f"   largest difference from target='cpu' (relative): {err:.1e}\n")
    assert err < 1e-9

    # 3. the device function inside a kernel of your own (here: gradient norms only)
    vjp = dev.fn
    print("3. a kernel of your own calling", dev.signature)

    @cuda.jit
    def gradient_norms(U0, p, nsteps, G, norms, scratch, layout):
        i = cuda.grid(1)
        if i < U0.shape[0]:
            vjp(U0[i], p, nsteps, 1.0, G[i], scratch[:, i], layout)
            norms[i] = (G[i, 0] ** 2 + G[i, 1] ** 2 + G[i, 2] ** 2) ** 0.5

    layout = dev.layout(U0[0], p, steps)  # the same for every row: the tapes' offsets
    scratch = cuda.device_array((layout[-1], rows))  # one column per thread: coalesced pushes
    G2 = cuda.device_array((rows, 3))
    norms = cuda.device_array(rows)
    gradient_norms[(rows + 127) // 128, 128](cuda.to_device(U0), cuda.to_device(p), steps, G2, norms, scratch,
                                             cuda.to_device(layout))
    norms = norms.copy_to_host()
    err = np.max(np.abs(norms - np.linalg.norm(G_cpu, axis=1)) / (1.0 + np.linalg.norm(G_cpu, axis=1)))
    print(f"   |gradient| of rows 0-2: {norms[:3]}; largest difference from target='cpu': {err:.1e}")
    assert err < 1e-9


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

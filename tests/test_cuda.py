"""target="cuda" against target="cpu": device functions, per-row kernels, Jacobians, errors.

numba reads NUMBA_ENABLE_CUDASIM when ``numba.cuda`` is first imported, and the rest of the suite
imports numba in this process, so the CUDA checks run in child pytest processes of this same
file, chosen by ADFLOW_CUDA_TEST_MODE:

* ``sim``: on numba's CUDA simulator (the device code runs as Python threads, so it checks the
  numbers, not that the code compiles for a GPU);
* ``ptx``: the real CUDA compiler (NVVM) turns the generated kernels into PTX, without a GPU;
* ``gpu``: the ``sim`` checks on a real GPU, when there is one.

In the ordinary run (no mode set) only the three launcher tests below are collected.
"""
import ctypes.util
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian

MODE = os.environ.get("ADFLOW_CUDA_TEST_MODE")
HERE = Path(__file__).resolve()


def numba_cuda_missing():
    return importlib.util.find_spec("numba_cuda") is None


# --------------------------------------------------------------------------- functions differentiated

def rosen(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def lorenz_loss(u0, p, nsteps):
    s, r, b = p[0], p[1], p[2]
    x, y, z = u0[0], u0[1], u0[2]
    h = 0.01
    for _ in range(nsteps):
        k1x, k1y, k1z = s * (y - x), x * (r - z) - y, x * y - b * z
        x2, y2, z2 = x + 0.5 * h * k1x, y + 0.5 * h * k1y, z + 0.5 * h * k1z
        k2x, k2y, k2z = s * (y2 - x2), x2 * (r - z2) - y2, x2 * y2 - b * z2
        x = x + h * k2x
        y = y + h * k2y
        z = z + h * k2z
    return x * x + y * y + z * z


def loop_and_branch(x, n):
    # nested loops, a data-dependent branch, an integer argument in the bounds
    s = 0.0
    for i in range(n):
        for j in range(x.shape[0]):
            if x[j] * s > 0.5:
                s = s * 0.9 + math.sin(x[j])
            else:
                s = s + x[j] * x[j] * (i + 1)
    return s


def triangle(x):
    # an inner loop whose bound is the outer index
    s = 0.0
    for i in range(x.shape[0]):
        for j in range(i):
            s = math.sin(s + x[i] * x[j])
    return s


def fixed_steps(x):
    # a trip count fixed in the code: the tape is a cuda.local.array
    s = x[0]
    for k in range(8):
        s = math.tanh(s * x[1] + k)
    return s


def lorenz_state(u0, p, nsteps):
    # a vector output, with a branch inside the loop
    s, r, b = p[0], p[1], p[2]
    x, y, z = u0[0], u0[1], u0[2]
    h = 0.01
    for _ in range(nsteps):
        dx = s * (y - x)
        dy = x * (r - z) - y
        if z > 25.0:
            dz = x * y - b * z
        else:
            dz = x * y - 0.5 * b * z
        x = x + h * dx
        y = y + h * dy
        z = z + h * dz
    return np.array([x, y, z])


def filled(x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.sin(x[i]) * x[0]
    return out


def weighted_energy(x, weight=2.0):
    e = 0.0
    for i in range(x.shape[0]):
        e += weight * x[i] * x[i]
    return e


def scaled_energy(x, scale):
    e = 0.0
    for i in range(x.shape[0]):
        e += scale * x[i] ** 3
    return e


def newton(a, b):
    y = 1.0
    step = 1.0
    while abs(step) > 1e-13:
        step = (y ** 3 + a * y - b) / (3 * y * y + a)
        y = y - step
    return y


def data_trips(x):
    n = int(abs(x[0]) * 10) + 1
    s = 0.0
    for i in range(n):
        s = s * 0.9 + math.sin(x[i % x.shape[0]] + i)
    return s


def array_math(x):
    y = x * x  # read twice: whole-array code (a chain read only by its sum would be fused into a loop)
    return np.sum(y) + y[0]


def writes_argument(x):
    for i in range(x.shape[0]):
        x[i] = x[i] * x[i]
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i]
    return s


# --------------------------------------------------------------------------- the ordinary run

def _child(mode, timeout=600):
    env = dict(os.environ, ADFLOW_CUDA_TEST_MODE=mode)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if mode == "sim":
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    # -n0: one process; the parent's workers already keep the cores busy, and each extra worker
    # would import numba-cuda and compile the same kernels again.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-n0", "-p", "no:cacheprovider", str(HERE)],
                          cwd=HERE.parent.parent, env=env, capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines() or [""]
    if proc.returncode in (0, 5) and " passed" not in lines[-1]:  # 5: the module skipped itself
        reasons = [ln for ln in lines if ln.startswith("SKIPPED")]
        pytest.skip(f"{mode}: {reasons[0] if reasons else lines[-1]}")
    assert proc.returncode == 0, f"CUDA checks ({mode}) failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


if MODE is None:
    @pytest.mark.skipif(numba_cuda_missing(), reason="numba-cuda is not installed (pip install 'adflow[cuda]')")
    def test_on_the_cuda_simulator():
        out = _child("sim")
        assert " passed" in out

    @pytest.mark.slow  # compiles every kernel of the suite to PTX: 28 s (the simulator runs them by default)
    @pytest.mark.skipif(numba_cuda_missing(), reason="numba-cuda is not installed (pip install 'adflow[cuda]')")
    def test_generated_kernels_compile_to_ptx():
        out = _child("ptx")
        assert " passed" in out

    @pytest.mark.skipif(numba_cuda_missing(), reason="numba-cuda is not installed (pip install 'adflow[cuda]')")
    @pytest.mark.skipif(ctypes.util.find_library("cuda") is None, reason="no CUDA driver (libcuda) here")
    def test_on_a_gpu():
        _child("gpu")


# --------------------------------------------------------------------------- simulator / GPU checks

if MODE in ("sim", "gpu"):
    from numba import cuda

    if MODE == "gpu" and not cuda.is_available():
        pytest.skip("no CUDA GPU here", allow_module_level=True)

    # tiny launches: numba warns that they under-use a GPU
    pytestmark = pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaPerformanceWarning")

    @pytest.fixture
    def rng():
        return np.random.default_rng(0)

    def close(a, b):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-11, atol=1e-12)

    # target="cpu" references row by row: independent of the CPU's batched drivers
    def cpu_rows(f, X, *rest):
        g = adflow.grad(f)
        return np.array([g(x, *rest) for x in X])

    def cpu_jacobian_rows(f, X, *rest):
        out = []
        for x in X:
            y, pull = adflow.vjp(f, x, *rest, wrt=0)
            out.append([pull(e)[0] for e in np.eye(np.size(y))])
        return np.array(out)

    # Central differences of the plain Python function: a reference that shares no code with adflow,
    # so a mistake common to the cpu and cuda targets still shows.
    def fd_rows(f, X, *rest):
        return np.array([numerical_grad(f, (x, *rest), (0,))[0] for x in X])

    def fd_jacobian_rows(f, X, *rest):
        return np.array([numerical_jacobian(lambda v: f(v, *rest), x) for x in X])

    def close_fd(a, b):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-8)

    def test_grad_one_thread_matches_cpu(rng):
        x = rng.uniform(-1, 1, 6)
        close(adflow.grad(rosen, target="cuda")(x), adflow.grad(rosen)(x))
        u0, p = np.array([1.0, 2.0, 20.0]), np.array([10.0, 28.0, 8.0 / 3.0])
        got = adflow.grad(lorenz_loss, wrt=(0, 1), target="cuda")(u0, p, 12)
        for g, e in zip(got, adflow.grad(lorenz_loss, wrt=(0, 1))(u0, p, 12)):
            close(g, e)

    def test_keywords_and_defaults_as_python_binds_them(rng):
        # d/dx of weight * |x|^2 is 2 weight x: the default (2.0), a keyword and a positional weight
        x = rng.uniform(-1, 1, 4)
        g = adflow.grad(weighted_energy, target="cuda")
        close(g(x), 4.0 * x)
        close(g(x, weight=0.5), 1.0 * x)
        close(g(x, 0.5), 1.0 * x)
        X = rng.uniform(-1, 1, (3, 4))
        close(adflow.grad(weighted_energy, target="cuda", batch=True)(X, weight=3.0), 6.0 * X)
        close(adflow.jacobian(weighted_energy, target="cuda", batch=True)(X, weight=3.0), 6.0 * X)
        with pytest.raises(adflow.ArgumentError, match="weighted_energy"):
            g(x, scale=1.0)

    def test_value_and_grad_scalar_argument(rng):
        x = rng.uniform(-1, 1, 5)
        v, (gx, gs) = adflow.value_and_grad(scaled_energy, wrt=(0, 1), target="cuda")(x, 1.5)
        _, (ex, es) = adflow.value_and_grad(scaled_energy, wrt=(0, 1))(x, 1.5)
        assert v == pytest.approx(scaled_energy(x, 1.5), rel=1e-13) and isinstance(gs, float)
        close(gx, ex)
        assert gs == pytest.approx(es, rel=1e-13)

    def test_batched_grad_loop_and_branch(rng):
        X = rng.uniform(-1, 1, (5, 4))
        g = adflow.grad(loop_and_branch, target="cuda", batch=True)
        G = g(X, 3)
        close(G, cpu_rows(loop_and_branch, X, 3))
        close_fd(G, fd_rows(loop_and_branch, X, 3))
        assert "loop_and_branch_grad_rows" in g.source and "scratch[layout[0]:layout[1]]" in g.source

    def test_batched_grad_lorenz_and_triangle(rng):
        U0 = rng.standard_normal((4, 3)) + np.array([0.0, 0.0, 20.0])
        p = np.array([10.0, 28.0, 8.0 / 3.0])
        close(adflow.grad(lorenz_loss, target="cuda", batch=True)(U0, p, 15),
              cpu_rows(lorenz_loss, U0, p, 15))
        X = rng.uniform(-1, 1, (3, 5))
        G = adflow.grad(triangle, target="cuda", batch=True)(X)
        close(G, cpu_rows(triangle, X))
        close_fd(G, fd_rows(triangle, X))

    def test_constant_trip_count_uses_local_arrays(rng):
        X = rng.uniform(-1, 1, (3, 2))
        g = adflow.grad(fixed_steps, target="cuda", batch=True)
        G = g(X)
        close(G, cpu_rows(fixed_steps, X))
        close_fd(G, fd_rows(fixed_steps, X))
        assert "cuda.local.array(8, np.float64)" in g.source
        assert g.device.scratch_size(X[0]) == 0

    def test_device_arrays_in_device_arrays_out(rng):
        X = rng.uniform(-1, 1, (4, 5))
        out = adflow.grad(rosen, target="cuda", batch=True)(cuda.to_device(X))
        assert not isinstance(out, np.ndarray) and hasattr(out, "copy_to_host")
        close(out.copy_to_host(), cpu_rows(rosen, X))

    def test_batched_jacobian_vector_output(rng):
        U0 = rng.standard_normal((3, 3)) + np.array([0.0, 0.0, 25.0])
        p = np.array([10.0, 28.0, 8.0 / 3.0])
        J = adflow.jacobian(lorenz_state, target="cuda", batch=True)(U0, p, 20)
        assert J.shape == (3, 3, 3)
        close(J, cpu_jacobian_rows(lorenz_state, U0, p, 20))
        close_fd(J, fd_jacobian_rows(lorenz_state, U0, p, 20))
        np.testing.assert_allclose(J[0], adflow.jacobian(lorenz_state, mode="forward")(U0[0], p, 20), rtol=1e-10)
        X = rng.uniform(-1, 1, (2, 4))
        close(adflow.jacobian(filled, target="cuda", batch=True)(X), cpu_jacobian_rows(filled, X))

    def test_jacobian_one_row_and_scalar_output(rng):
        x = rng.uniform(-1, 1, 4)
        close(adflow.jacobian(filled, target="cuda")(x), cpu_jacobian_rows(filled, x[None])[0])
        X = rng.uniform(-1, 1, (3, 4))
        close(adflow.jacobian(rosen, target="cuda", batch=True)(X), cpu_rows(rosen, X))

    def test_vjp_and_jvp_match_cpu(rng):
        u0, p = np.array([1.0, 2.0, 24.0]), np.array([10.0, 28.0, 8.0 / 3.0])
        y, pull = adflow.vjp(lorenz_state, u0, p, 10, target="cuda")
        ye, pulle = adflow.vjp(lorenz_state, u0, p, 10)
        close(y, ye)
        v = np.array([0.3, -1.0, 2.0])
        for g, e in zip(pull(v), pulle(v)):
            close(g, e)
        t = (np.array([1.0, 0.5, -0.25]), np.array([0.1, 0.0, 0.2]))
        y, y_dot = adflow.jvp(lorenz_state, (u0, p, 10), t, wrt=(0, 1), target="cuda")
        ye, ye_dot = adflow.jvp(lorenz_state, (u0, p, 10), t, wrt=(0, 1))
        close(y, ye)
        np.testing.assert_allclose(y_dot, ye_dot, rtol=1e-10)
        x = rng.uniform(-1, 1, 5)
        tx = rng.uniform(-1, 1, 5)
        _, d = adflow.jvp(rosen, (x,), (tx,), target="cuda")
        assert d == pytest.approx(adflow.jvp(rosen, (x,), (tx,))[1], rel=1e-12)

    def test_device_function_in_a_users_kernel(rng):
        X = rng.uniform(-1, 1, (6, 4))
        dev = adflow.grad(loop_and_branch, target="cuda").device_for(X[0], 2)
        vjp = dev.fn
        assert "scratch" in dev.signature

        @cuda.jit
        def kernel(X, n, G, values, scratch, layout):
            i = cuda.grid(1)
            if i < X.shape[0]:
                value, _ = vjp(X[i], n, 1.0, G[i], scratch[:, i], layout)
                values[i] = value

        layout = dev.layout(X[0], 2)
        G = np.zeros_like(X)
        values = np.zeros(X.shape[0])
        kernel[1, 32](X, 2, G, values, np.zeros((max(layout[-1], 1), X.shape[0])), layout)
        close(G, cpu_rows(loop_and_branch, X, 2))
        close(values, [loop_and_branch(x, 2) for x in X])

    def test_while_loop_that_pushes_raises():
        with pytest.raises(adflow.UnsupportedSyntaxError, match="while loop") as info:
            adflow.grad(newton, wrt=(0, 1), target="cuda")(2.0, 5.0)
        assert "test_cuda.py" in str(info.value) and "while abs(step)" in str(info.value)

    def test_data_dependent_bound_raises():
        with pytest.raises(adflow.UnsupportedSyntaxError, match="bounds of this for loop") as info:
            adflow.grad(data_trips, target="cuda")(np.array([0.4, 1.0, -0.5]))
        assert "for i in range(n)" in str(info.value)

    def test_allocations_raise():
        with pytest.raises(adflow.UnsupportedSyntaxError, match="target='cuda'") as info:
            adflow.grad(array_math, target="cuda")(np.ones(3))
        assert "array" in str(info.value)
        with pytest.raises(adflow.UnsupportedSyntaxError, match="writes into its argument 'x'"):
            adflow.grad(writes_argument, target="cuda")(np.ones(3))


# --------------------------------------------------------------------------- real compiler, no GPU

if MODE == "ptx":
    import types as pytypes

    from numba import cuda
    from numba.core import types

    from adflow.cuda import build, launch, sizing

    from cuda.pathfinder import DynamicLibNotFoundError
    from numba.cuda.cudadrv.error import NvvmSupportError

    try:
        cuda.compile_ptx(lambda a: a + 1.0, (types.float64,), device=True, cc=(8, 0))
    except (DynamicLibNotFoundError, NvvmSupportError) as exc:
        # Only a compiler library that is not installed skips; any other failure of the probe is a
        # broken toolchain, and fails the checks below like any error.
        pytest.skip(f"no CUDA compiler libraries here (pip install 'numba-cuda[cu13]'): {exc}".splitlines()[0],
                    allow_module_level=True)

    @pytest.fixture(autouse=True)
    def no_gpu_needed(monkeypatch):
        # numba-cuda asks the current device for its compute capability when it compiles a call
        # to another device function; without a GPU, answer for it.
        import numba.cuda.dispatcher as dispatcher
        monkeypatch.setattr(dispatcher, "get_current_device",
                            lambda: pytypes.SimpleNamespace(compute_capability=(8, 0)))

    f8, i8 = types.float64, types.int64
    A1, A2, A3 = (types.Array(f8, d, "C") for d in (1, 2, 3))
    LAYOUT = types.Array(i8, 1, "C")

    def kernel_of(func, args, kind):
        argtypes = launch.argument_types(args)
        argtypes[0] = launch.row_type(argtypes[0])
        example = [sizing.ArgumentShape(args[0].shape[1:])] + list(args[1:])
        built = build.get_build(func, argtypes, (0,), example, 0)
        return getattr(built.module, built.kernels[kind]).py_func

    @pytest.mark.parametrize("func, args, sig", [
        (lorenz_loss, (np.ones((2, 3)), np.ones(3), 5), (A2, A1, i8, A2, A2, LAYOUT)),
        (loop_and_branch, (np.ones((2, 3)), 2), (A2, i8, A2, A2, LAYOUT)),
        (triangle, (np.ones((2, 3)),), (A2, A2, A2, LAYOUT)),
        (fixed_steps, (np.ones((2, 2)),), (A2, A2, A2, LAYOUT)),
    ], ids=["lorenz", "loop_and_branch", "triangle", "local_array"])
    def test_grad_rows_kernel_compiles(func, args, sig):
        ptx, _ = cuda.compile_ptx(kernel_of(func, args, "grad_rows"), sig, cc=(8, 0))
        assert ".entry" in ptx

    def test_jacobian_rows_kernel_compiles():
        sig = (A2, A1, i8, A2, A2, A3, A2, LAYOUT)
        ptx, _ = cuda.compile_ptx(kernel_of(lorenz_state, (np.ones((2, 3)), np.ones(3), 5), "jacobian_rows"),
                                  sig, cc=(8, 0))
        assert ".entry" in ptx

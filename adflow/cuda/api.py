"""The entry points of ``target="cuda"``: ``grad``, ``value_and_grad``, ``vjp``, ``jacobian``, ``jvp``.

What each one runs on the device is described in :mod:`adflow.cuda`.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, NonDifferentiableError, ShapeError
from ..pipeline.arguments import (cast_like, check_batch, check_mode, check_tangents, float_positions, normalize_wrt,
                                  prepare_args)
from ..pipeline.binding import bind
from ..pickling import reduce_derivative
from ..planning import plan
from ..targets.cuda import TARGET_TEXT, device
from .build import get_build
from .launch import (argument_types, chunks, is_device_array, launch, result_size, row_type, run_single, to_device,
                     to_host)
from .sizing import ArgumentShape


class CudaGradFunction:
    """``adflow.grad(f, target="cuda")``: gradients computed by CUDA threads.

    * ``g(*args)``: one thread computes the gradient (checks, small problems);
    * with ``batch=True``, ``g(X, *rest)``: one thread per row of ``X``, row ``i`` of the result
      the gradient of ``f(X[i], *rest)`` with respect to ``X[i]``;
    * ``g.device_for(*args)``: the :class:`~adflow.cuda.build.DeviceFunction` to call from your own kernels
      (``g.device`` after a call); ``g.source`` the generated code (kernels included).
    """

    def __init__(self, func, wrt=0, has_aux=False, batch=False, with_value=False):
        if has_aux:
            raise ArgumentError(f"has_aux is not supported with {TARGET_TEXT}",
                                hint="drop has_aux=True (return the value alone), or use target='cpu'")
        self.func = func
        self.wrt, self._single = normalize_wrt(wrt)
        self.batch = batch
        self.with_value = with_value
        if batch:
            check_batch(self.wrt, has_aux, with_value)
        self.target = "cuda"
        self._last = None
        self.__name__ = getattr(func, "__name__", "f")
        self.__doc__ = getattr(func, "__doc__", None)

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        wrt = self.wrt[0] if self._single else self.wrt
        if self.with_value:
            return reduce_derivative(self, "value_and_grad", self.func, wrt=wrt, target="cuda")
        return reduce_derivative(self, "grad", self.func, wrt=wrt, target="cuda", batch=self.batch)

    # -- builds
    def _build(self, args, batch):
        argtypes = argument_types(args, self.func)
        example = list(args)
        if batch:
            k = self.wrt[0]
            argtypes[k] = row_type(argtypes[k])
            example[k] = ArgumentShape(args[k].shape[1:])
        build = get_build(self.func, argtypes, self.wrt, example, self.wrt[0] if batch else None)
        self._last = build
        return build

    def device_for(self, *args):
        """The device function for arguments like ``args`` (one thread's arguments: a row, not a batch)."""
        return self._build(prepare_args(args), batch=False).device

    @property
    def device(self):
        if self._last is None:
            raise AttributeError("adflow: call the function once, or use .device_for(*example_args)")
        return self._last.device

    @property
    def source(self):
        if self._last is None:
            raise AttributeError("adflow: call the function once, or use .source_for(*example_args)")
        return self._last.source

    def source_for(self, *args):
        return self._build(prepare_args(args), batch=self.batch).source

    # -- calls
    def __call__(self, *args, **kwargs):
        device()  # no GPU: said before building
        args = prepare_args(bind(self.func, args, kwargs))  # keywords and defaults, as Python binds them
        if self.batch:
            return self._rows(args)
        return self._one(args)

    def _one(self, args):
        for k in self.wrt:
            if not isinstance(args[k], (float, np.floating, np.ndarray)) and not is_device_array(args[k]):
                raise NonDifferentiableError(f"argument {k} is {type(args[k]).__name__}, not a float or float array",
                                             hint="pass 1.0, not 1")
        build = self._build(args, batch=False)
        a = build.adapter
        if a.result:
            raise ShapeError(f"grad needs {self.__name__} to return a scalar, but it returns an array",
                             hint="use adflow.jacobian(f, target='cuda') or adflow.vjp")
        value, grads = run_single(build, args, 1.0)
        out = tuple(cast_like(g, args[k]) for g, k in zip(grads, a.wrt))
        out = out[0] if self._single else out
        return (value, out) if self.with_value else out

    def _rows(self, args):
        cuda = device()
        k = self.wrt[0]
        rows = args[k]
        if not hasattr(rows, "shape") or len(rows.shape) < 2 or rows.shape[0] == 0:
            raise ShapeError(f"batch=True needs argument {k} to be an array of rows, got {getattr(rows, 'shape', rows)}")
        on_device = is_device_array(rows)
        build = self._build(args, batch=True)
        if build.adapter.result:
            raise ShapeError(f"grad(batch=True) needs {self.__name__} to return a scalar per row",
                             hint="use adflow.jacobian(f, batch=True, target='cuda') for vector outputs")
        row_args = list(args)
        row_args[k] = ArgumentShape(rows.shape[1:])
        layout = build.device.layout(*row_args)
        size = max(int(layout[-1]), 1)
        dargs = [to_device(cuda, a) for a in args]
        dlayout = cuda.to_device(layout)
        n = rows.shape[0]
        out = cuda.device_array(rows.shape, np.float64)
        kernel = getattr(build.module, build.kernels["grad_rows"])
        for lo, hi in chunks(n, size):
            part = list(dargs)
            part[k] = dargs[k][lo:hi]
            scratch = cuda.device_array((size, hi - lo), np.float64)
            launch(kernel, hi - lo, *part, out[lo:hi], scratch, dlayout)
        result = to_host(out, on_device)
        return result if on_device else cast_like(result, rows)


def grad(func=None, wrt=0, has_aux=False, batch=False):
    """``adflow.grad(f, target="cuda", ...)``; see :class:`CudaGradFunction`."""
    if func is None:
        return lambda f: CudaGradFunction(f, wrt, has_aux, batch)
    return CudaGradFunction(func, wrt, has_aux, batch)


def value_and_grad(func=None, wrt=0, has_aux=False):
    if func is None:
        return lambda f: CudaGradFunction(f, wrt, has_aux, with_value=True)
    return CudaGradFunction(func, wrt, has_aux, with_value=True)


def vjp(func, *args, wrt=None):
    """``adflow.vjp(f, *args, target="cuda")``: ``(y, pullback)``, each pullback one thread's reverse sweep."""
    args = prepare_args(args)
    argtypes = argument_types(args, func)
    if wrt is None:
        wrt = float_positions(argtypes)
    wrt, _ = normalize_wrt(wrt, len(args), getattr(func, "__name__", "f"))
    build = get_build(func, argtypes, wrt, args)
    probe = np.zeros(result_size(build.adapter, args)) if build.adapter.result else 0.0
    y, _ = run_single(build, args, probe)

    def pullback(v):
        if np.shape(v) != np.shape(y):
            raise ShapeError(f"the cotangent has shape {np.shape(v)} but the output has shape {np.shape(y)}")
        _, grads = run_single(build, args, v)
        return tuple(cast_like(g, args[k]) for g, k in zip(grads, wrt))

    pullback.source = build.source
    return y, pullback


class CudaJacobianFunction:
    """``adflow.jacobian(f, target="cuda", batch=...)``: Jacobians by reverse sweeps inside CUDA threads.

    Forward mode (dual numbers) does not run on the device, so every plan is reverse mode: one
    sweep per output, all of a row's sweeps in that row's thread.
    """

    def __init__(self, func, mode="auto", wrt=0, batch=False):
        check_mode(mode)
        if mode == "forward":
            raise NotImplementedError(f"adflow: forward-mode Jacobians do not run with {TARGET_TEXT} (dual arrays need "
                                      f"numba's runtime on the device); use mode='reverse' or 'auto'")
        self.func = func
        self.mode, self.wrt, self.batch = mode, wrt, batch
        self.target = "cuda"
        self.plan = None
        self._grad = CudaGradFunction(func, wrt)
        self.__name__ = getattr(func, "__name__", "f")
        self.__doc__ = getattr(func, "__doc__", None)

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        return reduce_derivative(self, "jacobian", self.func, mode=self.mode, wrt=self.wrt, batch=self.batch,
                                 target="cuda")

    @property
    def source(self):
        return self._grad.source

    @property
    def device(self):
        return self._grad.device

    def __call__(self, *args, **kwargs):
        args = prepare_args(bind(self.func, args, kwargs))
        cuda = device()
        x = args[self.wrt]
        if not self.batch:
            if not hasattr(x, "shape") or len(x.shape) == 0:
                raise ShapeError("jacobian with target='cuda' differentiates an array argument")
            call = list(args)
            call[self.wrt] = x[None] if isinstance(x, np.ndarray) else x.reshape((1,) + x.shape)
            out = self._rows(call, cuda)
            return out[0]
        if not hasattr(x, "shape") or len(x.shape) != 2:
            raise ShapeError(f"jacobian(batch=True) needs argument {self.wrt} as a 2-D array of rows")
        return self._rows(args, cuda)

    def _rows(self, args, cuda):
        k = self.wrt
        rows = args[k]
        on_device = is_device_array(rows)
        build = self._grad._build(args, batch=True)
        a = build.adapter
        row_args = list(args)
        row_args[k] = ArgumentShape(rows.shape[1:])
        n_in = int(np.prod(rows.shape[1:], dtype=np.int64))
        if not a.result:  # a scalar per row: its Jacobian is the gradient
            self.plan = plan(n_in, 1, "reverse")
            return self._grad._rows(args)
        m = result_size(a, row_args)
        self.plan = plan(n_in, m, "reverse")
        layout = build.device.layout(*row_args)
        size = max(int(layout[-1]), 1)
        dargs = [to_device(cuda, x) for x in args]
        n = rows.shape[0]
        seeds = cuda.to_device(np.eye(m))
        y = cuda.device_array((n, m), np.float64)
        jac = cuda.device_array((n, m) + tuple(rows.shape[1:]), np.float64)
        kernel = getattr(build.module, build.kernels["jacobian_rows"])
        dlayout = cuda.to_device(layout)
        for lo, hi in chunks(n, size):
            part = list(dargs)
            part[k] = dargs[k][lo:hi]
            scratch = cuda.device_array((size, hi - lo), np.float64)
            launch(kernel, hi - lo, *part, seeds, y[lo:hi], jac[lo:hi], scratch, dlayout)
        return to_host(jac, on_device)


def jacobian(func, mode="auto", wrt=0, batch=False):
    """``adflow.jacobian(f, target="cuda", ...)``; see :class:`CudaJacobianFunction`."""
    return CudaJacobianFunction(func, mode, wrt, batch)


def jvp(func, primals, tangents, wrt=None):
    """``adflow.jvp(f, primals, tangents, target="cuda")``: ``J @ t`` from reverse sweeps on the device.

    Dual numbers do not run on the device (see the module doc), so the product is assembled from
    vector-Jacobian products: one sweep for a scalar output (``y_dot = sum_k <grad_k, t_k>``),
    one per output ``j`` for an array output (``y_dot[j] = sum_k <e_j^T J_k, t_k>``).  Same
    numbers as forward mode up to rounding; cost grows with the number of outputs.
    """
    args = prepare_args(tuple(primals))
    if wrt is None:
        wrt = float_positions(argument_types(args, func))
    wrt, _ = normalize_wrt(wrt, len(args), getattr(func, "__name__", "f"))
    tangents = tuple(np.asarray(t, dtype=np.float64) for t in tangents)
    check_tangents(tangents, wrt, args)
    y, pullback = vjp(func, *args, wrt=wrt)

    def dot(cotangents):
        return float(sum(np.sum(np.asarray(g) * t) for g, t in zip(cotangents, tangents)))

    if np.ndim(y) == 0:
        return y, dot(pullback(1.0))
    y_dot = np.empty(np.shape(y))
    for j in range(y_dot.size):
        seed = np.zeros(y_dot.size)
        seed[j] = 1.0
        y_dot.flat[j] = dot(pullback(seed.reshape(np.shape(y))))
    return y, y_dot

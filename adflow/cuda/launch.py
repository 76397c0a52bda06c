"""The host side of a device derivative: argument types, copies to and from the device, launches."""
from __future__ import annotations

import math

import numba
import numpy as np
from numba.core import types

from .. import value_types
from ..pipeline.build_report import AWAITING, first_call
from .sizing import sizing_env

THREADS_PER_BLOCK = 128
SCRATCH_BUDGET = 1 << 30  # bytes of scratch per launch; more rows are launched in chunks


def is_device_array(a) -> bool:
    """A numba (or any ``__cuda_array_interface__``) device array."""
    return not isinstance(a, np.ndarray) and (hasattr(a, "__cuda_array_interface__") or hasattr(a, "copy_to_host"))


def argument_types(args, func=None):
    """numba types of the arguments: a device array as the array type it holds, the rest as on the host."""
    # A device array's place is typed as a number on the host side, then replaced.
    on_host = value_types.argument_types(tuple(0.0 if is_device_array(a) else a for a in args), func)
    return [_device_array_type(a) if is_device_array(a) else t for a, t in zip(args, on_host)]


def _device_array_type(a):
    return types.Array(numba.from_dtype(a.dtype), a.ndim, "C" if a.flags["C_CONTIGUOUS"] else "A")


def row_type(ty):
    """The type of one row of an array of type ``ty``."""
    return types.Array(ty.dtype, ty.ndim - 1, "C" if ty.layout == "C" else "A")


def to_device(cuda, a):
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    return a


def to_host(a, keep_on_device):
    return a if keep_on_device else a.copy_to_host()


def launch(kernel, rows, *args):
    blocks = max(1, math.ceil(rows / THREADS_PER_BLOCK))
    if id(kernel) in AWAITING:  # the kernel's build waits for its first launch, where numba-cuda compiles
        with first_call(kernel):
            kernel[blocks, THREADS_PER_BLOCK](*args)
    else:
        kernel[blocks, THREADS_PER_BLOCK](*args)


def chunks(rows, per_row_values):
    """``(start, stop)`` of launches whose scratch fits :data:`SCRATCH_BUDGET`."""
    step = max(1, min(rows, SCRATCH_BUDGET // max(8 * per_row_values, 1)))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def result_size(adapter, args):
    """The length of the array the function returns for these arguments (sized on the host)."""
    return adapter.sizer.run(sizing_env(adapter.params, args))[1][0]


def run_single(build, args, cotangent):
    """One thread: ``(value, gradients)`` of the vjp at ``args`` with ``cotangent`` (host arrays)."""
    cuda = build.cuda
    a = build.adapter
    layout = build.device.layout(*args)
    size = max(int(layout[-1]), 1)
    dargs = [to_device(cuda, x) for x in args]
    outs = []
    result_out = None
    if a.result:
        result_out = cuda.device_array(result_size(a, args), np.float64)
        outs.append(result_out)
    grad_arrays = {}
    for k, _, _ in a.grad_outs:
        grad_arrays[k] = cuda.device_array(np.shape(args[k]), np.float64)
        outs.append(grad_arrays[k])
    values = cuda.device_array(1 + len(a.wrt), np.float64)
    cot = to_device(cuda, np.asarray(cotangent, dtype=np.float64)) if np.ndim(cotangent) else float(cotangent)
    kernel = getattr(build.module, build.kernels["single"])
    scratch = cuda.device_array((size, 1), np.float64)
    launch(kernel, 1, *dargs, cot, *outs, scratch, cuda.to_device(layout), values)
    host_values = values.copy_to_host()
    value = result_out.copy_to_host() if a.result else float(host_values[0])
    grads = []
    for pos, k in enumerate(a.wrt):
        grads.append(grad_arrays[k].copy_to_host() if k in grad_arrays else float(host_values[1 + pos]))
    return value, tuple(grads)

"""``target="cuda"``: reverse-mode derivatives compiled with numba-cuda, one GPU thread per call.

Dual numbers do not run on the device (dual arrays need numba's runtime inside kernels), so the
target runs reverse mode only.  What a user gets (device functions, per-row kernels, Jacobians
from reverse sweeps) is :mod:`adflow.cuda`; this module is what the pipeline asks of the target.
"""
from __future__ import annotations

from numba.core.registry import CPUDispatcher

from ..errors import AdflowError
from ..frontend.typeinfer import jitted
from .base import Target

# The module attribute naming the kernels of a module built for the device (adflow.cuda.build sets it);
# every other generated function is compiled as a device function they call.
KERNELS = "_ADFLOW_CUDA_KERNELS"
TARGET_TEXT = "target='cuda'"


def device(gpu=True):
    """``numba.cuda`` (from the numba-cuda package), or a clear error when it is missing.

    ``gpu=False`` for what needs no GPU: building kernels, their source and PTX (``cuda.jit``
    compiles at the first launch); a launch asks for the GPU.
    """
    try:
        # Imported on first use: numba-cuda is optional, and importing it is slow.
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise AdflowError(f"{TARGET_TEXT} needs numba-cuda ({exc})",
                          hint="pip install 'adflow[cuda]'  (or pip install numba-cuda); without a GPU, "
                               "set NUMBA_ENABLE_CUDASIM=1 to run on numba's CUDA simulator") from None
    if gpu and not cuda.is_available():  # True on the simulator
        raise AdflowError(f"{TARGET_TEXT} needs a CUDA GPU, and numba finds none: {no_gpu_reason(cuda)}",
                          hint="run on a machine with an NVIDIA GPU and its driver, use target='cpu', or set "
                               "NUMBA_ENABLE_CUDASIM=1 (before numba.cuda is first imported) to run the same code "
                               "on numba's CUDA simulator, slowly, on the CPU")
    return cuda


def no_gpu_reason(cuda) -> str:
    """numba-cuda's reason for finding no GPU, on one line (its driver's initialisation error)."""
    error = getattr(getattr(getattr(cuda, "cudadrv", None), "driver", None), "driver", None)
    error = getattr(error, "initialization_error", None)
    return " ".join(str(error).split()) if error else "no device"


class CudaTarget(Target):
    name = "cuda"
    modes = frozenset({"reverse"})
    per_thread = True
    gradient_only = False  # one vjp per function: the device adapter rewrites it

    def wrap(self, function):
        return jitted(function)  # compiled again as a device function in compile()

    def after_reverse(self, vjp):
        return vjp  # device code places zero adjoints in its own memory regions

    def compile(self, module, names, threaded):
        """Kernels with ``cuda.jit``, the other generated functions and the jitted helpers and rules
        they call as device functions; the module must have been adapted for the device first."""
        cuda = device(gpu=False)
        kernels = getattr(module, KERNELS, None)
        if kernels is None:
            raise AdflowError(f"{TARGET_TEXT}: this module was not adapted for the device",
                              hint="build CUDA derivatives through adflow.grad/jacobian(..., target='cuda')")
        for key, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher):  # jitted helpers and rules, called from the generated code
                setattr(module, key, cuda.jit(device=True)(value.py_func))
        for fname in names:
            fn = getattr(module, fname)
            setattr(module, fname, cuda.jit(fn) if fname in kernels else cuda.jit(device=True)(fn))


TARGET = CudaTarget()

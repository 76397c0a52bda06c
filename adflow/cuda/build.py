"""One function built for the device: its vjp (and its helpers') adapted, its kernels, compiled.

:class:`CudaBuild` runs the pipeline's :class:`~adflow.pipeline.build.ModuleBuilder` for the CUDA
target, adapts every generated vjp (:mod:`adflow.cuda.adapter`), adds the kernels
(:mod:`adflow.cuda.kernels`) and loads the module, which the target compiles with numba-cuda.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedSyntaxError
from ..pipeline import ModuleBuilder, build_report
from ..pipeline.build import describe
from ..pipeline.cache import code_identity, once
from ..targets import cuda as target
from . import kernels
from .adapter import DeviceAdapter, device_note
from .sizing import sizing_env


class DeviceFunction:
    """A vjp compiled for the device, with what a caller needs to call it from a kernel.

    ``fn(*args, cotangent, [result_out], *gradient_outs, scratch, layout)`` returns
    ``(value, gradients)`` like the CPU vjp; the adjoints of array arguments are written into
    ``gradient_outs`` (zeroed first), an array result into ``result_out``.  ``scratch`` is this
    thread's 1-D float64 buffer of ``scratch_size(*args)`` values (any stride: ``S[:, i]`` of a
    ``(size, threads)`` array keeps neighbouring threads' accesses together), ``layout`` the int64
    array ``layout(*args)`` (shared by all threads).  See :attr:`signature`.
    """

    def __init__(self, module, name, adapter, source):
        self.module = module
        self.name = name
        self.adapter = adapter
        self.source = source

    @property
    def fn(self):
        return getattr(self.module, self.name)

    @property
    def signature(self):
        a = self.adapter
        parts = list(a.params) + [a.cotangent] + ([a.result_out] if a.result else []) + \
            [g for _, g, _ in a.grad_outs] + [a.scratch, a.layout]
        grads = ", ".join(a.params[k] + "_bar" for k in a.wrt) + ("," if len(a.wrt) == 1 else "")
        return f"{self.name}({', '.join(parts)}) -> (value, ({grads}))"

    def layout(self, *args):
        """Offsets of this call's tapes in the scratch buffer (int64; the last one is its size)."""
        counts, result_size = self.adapter.sizer.run(sizing_env(self.adapter.params, args))
        sizes = [0] * self.adapter.slots
        for region in self.adapter.regions.values():
            if region.slot is not None:
                n = counts[region.var][0] if region.kind == "tape" else result_size[0]
                sizes[region.slot] = max(int(n), 1)
            elif region.kind == "tape" and counts[region.var][0] > region.local_size:  # pragma: no cover
                raise AssertionError(f"adflow: tape {region.var} outgrew its local array")
        return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)

    def scratch_size(self, *args):
        return int(self.layout(*args)[-1])


class CudaBuild:
    """One function, argument types and wrt, built for the device: the vjp plus its kernels."""

    def __init__(self, func, argtypes, wrt, example_args, batch_arg=None):
        self.cuda = target.device(gpu=False)
        _watch_device_compiles()
        with build_report.build(describe("reverse mode for the device", func, argtypes, target.TARGET)):
            self._build(func, argtypes, wrt, example_args, batch_arg)

    def _build(self, func, argtypes, wrt, example_args, batch_arg):
        builder = ModuleBuilder(target.TARGET)
        vjp_name, prepared = builder.reverse(func, argtypes, wrt)
        if prepared is None:
            raise UnsupportedSyntaxError(f"{target.TARGET_TEXT}: {getattr(func, '__name__', func)} has user-defined "
                                         f"rules (custom_vjp), which the device target does not run yet",
                                         hint="use target='cpu' for it")
        generated = [f.name for f, _ in builder.functions]
        adapters = {}
        for k, (fdef, header) in enumerate(builder.functions):
            prep = builder.prepared.get(fdef.name)
            if prep is None:
                raise UnsupportedSyntaxError(f"{target.TARGET_TEXT}: {fdef.name} comes from user-defined rules "
                                             f"(custom_vjp), which the device target does not run yet",
                                             hint="use target='cpu'")
            # A helper's tapes are sized for constants of the code only: it has no arguments of its own here.
            env = {} if fdef.sweeps.is_helper else sizing_env(prep.fn.params, example_args)
            adapter = DeviceAdapter(fdef, prep, generated)
            with build_report.stage("transform"):
                adapted = adapter.run(env)
            builder.functions[k] = (adapted, header + f"\nadapted for CUDA devices ({device_note(adapter)})")
            adapters[fdef.name] = adapter
        self.adapter = adapters[vjp_name]
        stem = prepared.fn.name
        self.kernels = {}
        for kind in kernels.kinds(self.adapter, batch_arg):
            kname = builder.unique(f"{stem}_{kind}")
            kdef = kernels.kernel(kind, kname, vjp_name, self.adapter, batch_arg)
            builder.functions.insert(0, (kdef, f"CUDA kernel: {kind.replace('_', ' ')}"))
            self.kernels[kind] = kname
        builder.namespace["cuda"] = self.cuda
        builder.namespace[target.KERNELS] = frozenset(self.kernels.values())
        self.module, self.source, _ = builder.load(f"{stem}_cuda", stem)
        self.device = DeviceFunction(self.module, vjp_name, self.adapter, self.source)
        self.prepared = prepared


def _watch_device_compiles():
    """Time kernel compiles in build reports: numba-cuda has its own compile events (``numba.cuda.core.event``)."""
    try:
        from numba.cuda.core import event
    except ImportError:  # pragma: no cover - a numba-cuda without them
        return
    build_report.watch_numba(event, "numba-cuda")


def get_build(func, argtypes, wrt, example_args, batch_arg=None):
    """The :class:`CudaBuild` of ``func`` for these argument types (one row's when ``batch_arg`` is given)."""
    key = ("cuda", code_identity(func), tuple(argtypes), tuple(wrt), batch_arg)
    return once(key, lambda: CudaBuild(func, argtypes, wrt, example_args, batch_arg), func)

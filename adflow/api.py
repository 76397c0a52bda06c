"""The user API: ``grad``, ``value_and_grad``, ``vjp`` (reverse mode)."""
from __future__ import annotations

import functools

import numba
import numpy as np
from numba.core import types

from . import targets
from .backends.drivers import batch_grad
from .cuda import api as cuda_api
from .errors import ShapeError
from .frontend.bound import as_function
from .pipeline import call_compiled
from .pipeline.arguments import cast_like, check_batch, float_positions, normalize_wrt, prepare_args
from .pickling import reduce_derivative
from .specializations import Specializations
from .syntax.source import python_function
from .value_types import argument_types, is_number_type


def _check_scalar(value, fname, has_aux):
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray) and value.shape == ()):
        return
    shape = getattr(value, "shape", type(value).__name__)
    raise ShapeError(
        f"grad needs {fname} to return a scalar, but it returned {shape}",
        hint="use adflow.vjp(f, *args) for a vector-Jacobian product, or adflow.jacobian(f) for the full Jacobian"
        + ("" if not has_aux else "; with has_aux=True return (scalar, aux)"))


def _check_aux_pair(result, fname):
    """has_aux=True needs a 2-tuple result; ``result`` is its numba type or, at run time, the value."""
    if isinstance(result, (tuple, types.BaseTuple)) and len(result) == 2:
        return
    if isinstance(result, types.Array):
        what = f"an array ({result})"
    elif isinstance(result, np.ndarray):
        what = f"an array of shape {result.shape}"
    else:
        what = str(result) if isinstance(result, types.Type) else type(result).__name__
    raise ShapeError(f"has_aux=True needs {fname} to return a pair (value, aux), but it returns {what}",
                     hint="return (value, aux) with a scalar value, or drop has_aux=True")


class GradFunction:
    """``adflow.grad(f)``: call it like ``f`` to get the gradient.

    ``.source`` is the generated reverse-mode code of the last call (readable Python), and
    ``.source_for(*args)`` the code for given example arguments.
    """

    adflow_transform = "grad"

    def __init__(self, func, wrt=0, target="cpu", has_aux=False, with_value=False, batch=False):
        func = as_function(func)  # a bound method or callable object: a function of its arguments
        python_function(func)  # a builtin or a derivative object is refused here, where it is written
        self.func = func
        self.wrt, self._single = normalize_wrt(wrt)
        self.has_aux = has_aux
        self.with_value = with_value
        self.batch = batch
        if batch:
            check_batch(self.wrt, has_aux, with_value)
        self._specs = Specializations(func, target, 0 if has_aux else None)
        # updated=(): the wrapped function's __dict__ must not overwrite this object's own state
        functools.update_wrapper(self, getattr(func, "py_func", func), updated=())

    @property
    def target(self):
        return self._specs.target.name

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        wrt = self.wrt[0] if self._single else self.wrt
        if self.with_value:
            return reduce_derivative(self, "value_and_grad", self.func, wrt=wrt, target=self.target,
                                     has_aux=self.has_aux)
        return reduce_derivative(self, "grad", self.func, wrt=wrt, target=self.target, has_aux=self.has_aux,
                                 batch=self.batch)

    def __call__(self, *args):
        args = prepare_args(args)
        if self.batch:
            return self._batch(args)
        vjp_fn, _, prepared = self._derivative(args)
        if self.has_aux and prepared is not None:
            _check_aux_pair(prepared.return_type, self.__name__)
        value, grads = self._run(vjp_fn, args)
        grads = tuple(cast_like(g, args[k]) for g, k in zip(grads, self.wrt))
        out = grads[0] if self._single else grads
        if self.with_value:
            return value, out
        if self.has_aux:
            return out, value[1]
        return out

    def _derivative(self, args):
        """(compiled vjp, module source, prepared function) for these arguments.

        grad discards the value, so its code skips what only the value needs once the function is
        known to return a number (otherwise the full vjp runs, and its value says what it returned).
        """
        vjp_fn, source, prepared = self._specs.get(args, self.wrt)
        if not (self.with_value or self.has_aux) and prepared is not None and is_number_type(prepared.return_type):
            vjp_fn = getattr(vjp_fn, "gradient_only", vjp_fn)
        return vjp_fn, source, prepared

    def _batch(self, args):
        """Per-row gradients: row i is the gradient of f(X[i], ...), computed in one compiled prange loop."""
        k = self.wrt[0]
        rows = args[k]
        if not isinstance(rows, np.ndarray) or rows.ndim < 1 or rows.shape[0] == 0:
            raise ShapeError(f"batch=True needs argument {k} to be an array of rows, got {getattr(rows, 'shape', rows)}")
        rows = np.ascontiguousarray(rows)
        args[k] = rows
        one = list(args)
        one[k] = rows[0]
        argtypes = argument_types(one)
        driver, _, prepared = self._specs.get(one, self.wrt, driver=batch_grad, argtypes=argtypes)
        if not isinstance(prepared.return_type, types.Float):
            raise ShapeError(f"grad(batch=True) needs {self.__name__} to return a scalar per row, "
                             f"but it returns {prepared.return_type}",
                             hint="use adflow.jacobian(f, batch=True) for vector outputs")
        return cast_like(call_compiled(driver, *args), rows)

    def _run(self, vjp_fn, args):
        # The seed's type must match the result's; a float64 seed works for float32 results too.
        value, grads = call_compiled(vjp_fn, *args, 1.0)
        if self.has_aux:
            _check_aux_pair(value, self.__name__)
        primary = value[0] if self.has_aux else value
        _check_scalar(primary, self.__name__, self.has_aux)
        return value, grads

    @property
    def source(self) -> str:
        """The generated module (readable Python) behind the last call; call once before reading it.

        >>> import adflow
        >>> def f(x):
        ...     return x * x
        >>> g = adflow.grad(f, target="python")
        >>> g(3.0)
        6.0
        >>> "def f_vjp(" in g.source
        True
        """
        if self._specs.last_source is None:
            raise AttributeError(
                "adflow: the generated code depends on the argument types; call the function once "
                "(or use .source_for(*example_args)) before reading .source")
        return self._specs.last_source

    def source_for(self, *args) -> str:
        """The generated module for example arguments ``args`` (their types and shapes decide it).

        Builds the derivative like a call would, without running it.

        >>> import numpy as np, adflow
        >>> def f(x):
        ...     return np.sum(x * x)
        >>> source = adflow.grad(f).source_for(np.zeros(3))
        >>> "def f_vjp(x, " in source  # f's reverse mode: takes x and the result's cotangent
        True
        """
        return self._derivative(prepare_args(args))[1]


def grad(func=None, wrt=0, target="cpu", has_aux=False, batch=False):
    """Gradient of a scalar-valued function, by reverse mode.

    Usable as ``adflow.grad(f)`` or as a bare decorator ``@adflow.grad``.  ``wrt`` picks the
    argument(s): an int gives one gradient, a tuple a tuple of gradients.  ``target`` is
    ``"cpu"`` (numba-compiled, the default), ``"python"`` (the generated code run as plain Python,
    for debugging) or ``"cuda"``.  With ``has_aux=True``, ``f`` returns ``(value, aux)`` and the
    call returns ``(gradient, aux)``.  With ``batch=True``, ``f`` takes one row and the call takes
    an array of rows: the result's row ``i`` is the gradient at row ``i`` (per-sample gradients,
    computed in one compiled loop spread over the cores).

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     s = 0.0
    ...     for i in range(x.shape[0]):
    ...         s = s + x[i] ** 2
    ...     return s
    >>> adflow.grad(f)(np.array([1.0, 2.0]))
    array([2., 4.])
    """
    if func is not None:
        func = as_function(func)
        python_function(func)
    if targets.named(target).per_thread:  # device functions and batched kernels: adflow/cuda/
        return cuda_api.grad(func, wrt, has_aux, batch)
    if func is None:
        return lambda f: GradFunction(f, wrt, target, has_aux, batch=batch)
    return GradFunction(func, wrt, target, has_aux, batch=batch)


def value_and_grad(func=None, wrt=0, target="cpu", has_aux=False):
    """Like :func:`grad`, but returns ``(value, gradient)`` from one forward and reverse sweep.

    >>> import adflow, math
    >>> def f(x):
    ...     return math.sin(x) * x
    >>> value, slope = adflow.value_and_grad(f)(1.0)
    >>> round(value, 6), round(slope, 6)  # sin(1) and sin(1) + cos(1)
    (0.841471, 1.381773)
    """
    if func is not None:
        func = as_function(func)
        python_function(func)
    if targets.named(target).per_thread:
        return cuda_api.value_and_grad(func, wrt, has_aux)
    if func is None:
        return lambda f: GradFunction(f, wrt, target, has_aux, with_value=True)
    return GradFunction(func, wrt, target, has_aux, with_value=True)


def _same_structure(v, y, fname):
    if isinstance(y, tuple):
        if not isinstance(v, tuple) or len(v) != len(y):
            raise ShapeError(f"the cotangent must be a tuple of {len(y)} parts, like {fname}'s output")
        return tuple(_same_structure(a, b, fname) for a, b in zip(v, y))
    v_arr = np.asarray(v, dtype=np.result_type(np.asarray(y).dtype, np.float64))
    if np.shape(v) != np.shape(y):
        raise ShapeError(
            f"the cotangent has shape {np.shape(v)} but {fname}'s output has shape {np.shape(y)}",
            hint="pass a cotangent shaped like the output: it weights each output in the product v^T J")
    return v_arr if isinstance(y, np.ndarray) else float(v_arr)


def vjp(func, *args, wrt=None, target="cpu"):
    """Vector-Jacobian product: returns ``(y, pullback)`` where ``pullback(v)`` is ``v^T J``.

    ``v`` is shaped like ``y`` (this is PyTorch's ``y.backward(v)`` / ``grad_outputs``, made
    explicit); ``pullback`` returns one cotangent per differentiated argument (all float
    arguments unless ``wrt`` is given).  Each pullback call reruns the compiled forward sweep
    (recomputation instead of keeping the tape alive between calls).

    >>> import numpy as np, adflow
    >>> def f(a, b):
    ...     return 3 * a + 2 * b * b
    >>> y, pullback = adflow.vjp(f, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> pullback(np.array([1.0, 0.1]))
    (array([3. , 0.3]), array([12. ,  1.6]))
    """
    func = as_function(func)
    python_function(func)
    if targets.named(target).per_thread:
        return cuda_api.vjp(func, *args, wrt=wrt)
    args = prepare_args(args)
    specs = Specializations(func, target)
    if wrt is None:
        wrt = float_positions(argument_types(args))
    fname = getattr(func, "__name__", "f")
    wrt, _ = normalize_wrt(wrt, len(args), fname)
    vjp_fn, _, prepared = specs.get(args, wrt)
    # A function with custom rules has no inferred types: its primal, run once, gives the output's.
    out_type = prepared.return_type if prepared is not None else numba.typeof(func(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]))
    y, _ = call_compiled(vjp_fn, *args, _probe_cotangent(out_type))

    def pullback(v):
        v = _same_structure(v, y, fname)
        _, grads = call_compiled(vjp_fn, *args, v)
        return tuple(cast_like(g, args[k]) for g, k in zip(grads, wrt))

    pullback.source = specs.last_source
    pullback.adflow_transform = "vjp"
    return y, pullback


def _probe_cotangent(ty):
    """A cotangent of the output's type but no elements: the sweep runs for ``y`` and adds nothing."""
    if isinstance(ty, types.BaseTuple):
        return tuple(_probe_cotangent(t) for t in ty.types)
    if isinstance(ty, types.Array):
        return np.zeros((0,) * ty.ndim, dtype=np.float64)
    return 0.0

"""The user API: ``grad``, ``value_and_grad``, ``vjp`` (reverse mode)."""
from __future__ import annotations

import functools

import gast
import numba
import numpy as np
from numba.core import types

from . import compose, targets
from .backends.drivers import batch_gradients
from .checkpoint.api import CheckpointSpecializations, check_options
from .cuda import api as cuda_api
from .errors import ArgumentError, NonDifferentiableError, ShapeError
from .frontend.bound import as_function
from .pipeline import call_compiled, compiled_derivative
from .pipeline.arguments import (cast_like, check_batch, check_batched_call, float_positions, normalize_wrt,
                                 prepare_args)
from .pipeline.binding import bind, given_indices
from .pipeline.results import value_like
from .pipeline.rows import over_rows
from .pickling import reduce_derivative
from .specializations import Specializations
from .syntax.source import entry_point, load as load_source, python_function
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


def _check_no_pair(prepared, func, fname, with_value):
    """A function returning a tuple, without has_aux=True: the has_aux hint, at its return statement
    (before numba meets a cotangent of 1.0 where the tuple's parts are)."""
    if not isinstance(prepared.return_type, types.BaseTuple):
        return
    # A build loaded from disk carries its result type only: the function's tree comes from its source.
    fn = getattr(prepared, "fn", None) or load_source(func)
    returns = [node for node in gast.walk(fn.tree) if isinstance(node, gast.Return)]
    call = "value_and_grad" if with_value else "grad"
    raise ShapeError(f"{call} needs {fname} to return a scalar, but it returns a tuple {prepared.return_type}",
                     fn.location(returns[0]) if returns else None,
                     hint=f"to return (value, aux), pass has_aux=True: adflow.{call}({fname}, has_aux=True) "
                          f"differentiates the value and returns aux as computed")


class GradFunction:
    """``adflow.grad(f)``: call it like ``f`` to get the gradient.

    ``.source`` is the generated reverse-mode code of the last call (readable Python), and
    ``.source_for(*args)`` the code for given example arguments.  With ``checkpoint=``,
    ``.checkpoint_report`` says what each checkpointed loop did in the last call.
    """

    adflow_transform = "grad"

    def __init__(self, func, wrt=0, target="cpu", has_aux=False, with_value=False, batch=False,
                 checkpoint=None, memory=None):
        func = as_function(func)  # a bound method or callable object: a function of its arguments
        python_function(func)  # a builtin or a derivative object is refused here, where it is written
        self.func = func
        self.wrt, self.single = normalize_wrt(wrt)
        self.has_aux = has_aux
        self.with_value = with_value
        self.batch = batch
        self._batched = None if batch is False or batch is None else check_batch(self.wrt, has_aux, with_value, batch)
        check_options(checkpoint, memory, target)
        if checkpoint is None:
            self._specs = Specializations(func, target, 0 if has_aux else None)
        else:
            self._specs = CheckpointSpecializations(func, target, 0 if has_aux else None, checkpoint, memory)
        self.checkpoint, self.memory = checkpoint, memory
        # updated=(): the wrapped function's __dict__ must not overwrite this object's own state
        functools.update_wrapper(self, getattr(func, "py_func", func), updated=())

    @property
    def target(self):
        return self._specs.target.name

    @property
    def _numba_type_(self):
        # Compiled code that calls this gradient (adflow.grad(f)(y) inside a differentiated function)
        # asks numba for its type: a dispatcher building f's reverse sweep (pipeline/compiled_derivative.py).
        if self.has_aux or self._batched is not None or (self.with_value and not self.single):
            raise NonDifferentiableError(f"{self.__name__}'s gradient made with has_aux, batch or value_and_grad of "
                                         f"a tuple wrt cannot be called inside a differentiated function")
        return compiled_derivative.numba_type(self)

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        wrt = self.wrt[0] if self.single else self.wrt
        memory = {"checkpoint": self.checkpoint, "memory": self.memory} if self.checkpoint is not None else {}
        if self.with_value:
            return reduce_derivative(self, "value_and_grad", self.func, wrt=wrt, target=self.target,
                                     has_aux=self.has_aux, **memory)
        return reduce_derivative(self, "grad", self.func, wrt=wrt, target=self.target, has_aux=self.has_aux,
                                 batch=self.batch, **memory)

    def __call__(self, *args, **kwargs):
        args = prepare_args(bind(self.func, args, kwargs))
        if self._batched is not None:
            return self._batch(args)
        vjp_fn, _, prepared = self._derivative(args)
        if self.has_aux and prepared is not None:
            _check_aux_pair(prepared.return_type, self.__name__)
        elif prepared is not None:
            _check_no_pair(prepared, self.func, self.__name__, self.with_value)
        value, grads = self._run(vjp_fn, args)
        grads = tuple(cast_like(g, args[k]) for g, k in zip(grads, self.wrt))
        out = grads[0] if self.single else grads
        if self.with_value:
            return value_like(value, args), out
        if self.has_aux:
            return out, value_like(value[1], args)
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
        """Per-row gradients: row i is the gradient of f at row i of the batched arguments (the others
        shared), computed in one compiled loop over rows (on several threads: pipeline/rows.py)."""
        check_batched_call(self.batch, self._batched, args, self.__name__)
        one = list(args)
        for k in self._batched:
            args[k] = np.ascontiguousarray(args[k])  # row i is then a C-contiguous view
            one[k] = args[k][0]
        driver, _, prepared = self._specs.get(one, self.wrt, driver=batch_gradients(self._batched, self.wrt),
                                              argtypes=argument_types(one))
        if not isinstance(prepared.return_type, types.Float):
            raise ShapeError(f"grad(batch=...) needs {self.__name__} to return a scalar per row, "
                             f"but it returns {prepared.return_type}",
                             hint="use adflow.jacobian(f, batch=True) for vector outputs")
        n = args[self._batched[0]].shape[0]
        outs = tuple(np.empty((n,) + np.shape(one[k])) for k in self.wrt)  # a row's gradient, per row
        over_rows(driver, (*args, *outs), n)
        out = tuple(_rows_like(g, args[k]) for g, k in zip(outs, self.wrt))
        return out[0] if self.single else out

    def _run(self, vjp_fn, args):
        # The seed's type must match the result's; a float64 seed works for float32 results too.
        value, grads = call_compiled(vjp_fn, *args, 1.0)
        if self.has_aux:
            _check_aux_pair(value, self.__name__)
        primary = value[0] if self.has_aux else value
        _check_scalar(primary, self.__name__, self.has_aux)
        return value, grads

    @property
    def checkpoint_report(self) -> list:
        """Per checkpointed loop of the last call: its trip count, snapshots, and the iterations run
        (:class:`adflow.checkpoint.schedule.LoopReport`); empty without ``checkpoint=`` or when
        ``checkpoint="auto"`` found that every loop's tape fits."""
        return getattr(self._specs, "last_report", [])

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
        return self._derivative(prepare_args(bind(self.func, args)))[1]


@entry_point(makes_derivative=True)
def grad(func=None, wrt=0, target="cpu", has_aux=False, batch=False, checkpoint=None, memory=None):
    """Gradient of a scalar-valued function, by reverse mode.

    Usable as ``adflow.grad(f)`` or as a bare decorator ``@adflow.grad``.  ``wrt`` picks the
    argument(s): an int gives one gradient, a tuple a tuple of gradients.  ``target`` is
    ``"cpu"`` (numba-compiled, the default), ``"python"`` (the generated code run as plain Python,
    for debugging) or ``"cuda"``.  With ``has_aux=True``, ``f`` returns ``(value, aux)`` and the
    call returns ``(gradient, aux)``.  With ``batch=True``, ``f`` takes one row and the call takes
    an array of rows: the result's row ``i`` is the gradient at row ``i`` (computed in one compiled
    loop spread over the cores).  ``batch=(None, 0, 0)`` says which arguments carry rows (0) and
    which are shared (None), as ``jax.vmap``'s ``in_axes``: ``grad(loss, wrt=0, batch=(None, 0,
    0))(w, X, y)`` is the per-sample gradients of ``loss(w, X[i], y[i])`` with respect to the
    shared ``w``, shape ``(n,) + w.shape``.  Parameters with defaults may be left out of the call
    or given by keyword.  ``func`` may itself be a derivative adflow made
    (``adflow.grad(adflow.grad(f))``), and ``func`` may call ``adflow.grad(h)(y)`` inside: see
    :mod:`adflow.compose`.

    ``checkpoint=`` bounds the memory of long loops (docs/checkpointing.md): ``None`` keeps every
    iteration's tape; an int ``s`` runs each top-level loop under a binomial schedule keeping at
    most ``s`` snapshots of its state and recomputing the rest; ``"auto"`` does so for the first
    top-level loop whose tape would exceed ``memory`` bytes (default: half the available memory).

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     s = 0.0
    ...     for i in range(x.shape[0]):
    ...         s = s + x[i] ** 2
    ...     return s
    >>> adflow.grad(f)(np.array([1.0, 2.0]))
    array([2., 4.])
    >>> def loss(w, x, y):
    ...     return (np.dot(x, w) - y) ** 2
    >>> X, y = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 0.0])
    >>> adflow.grad(loss, batch=(None, 0, 0))(np.ones(2), X, y)  # one gradient per sample
    array([[0., 0.],
           [0., 8.]])
    """
    check_options(checkpoint, memory, target)
    if func is None:
        return lambda f: grad(f, wrt, target, has_aux, batch, checkpoint, memory)
    if compose.is_derivative(func):  # grad of a derivative: adflow/compose.py
        _no_checkpoint_of_a_derivative(checkpoint, memory, "grad")
        return compose.grad(func, wrt, target, has_aux, batch)
    func = as_function(func)  # a bound method or callable object: a function of its arguments
    python_function(func)
    if targets.named(target).per_thread:  # device functions and batched kernels: adflow/cuda/
        if not isinstance(batch, bool):
            raise ArgumentError(f"target={target!r} batches one argument (batch=True), not batch={batch!r}",
                                hint="use target='cpu' for batch= over several arguments")
        return cuda_api.grad(func, wrt, has_aux, batch)
    return GradFunction(func, wrt, target, has_aux, batch=batch, checkpoint=checkpoint, memory=memory)


@entry_point(makes_derivative=True)
def value_and_grad(func=None, wrt=0, target="cpu", has_aux=False, checkpoint=None, memory=None):
    """Like :func:`grad`, but returns ``(value, gradient)`` from one forward and reverse sweep
    (``checkpoint=`` and ``memory=`` as for :func:`grad`).

    >>> import adflow, math
    >>> def f(x):
    ...     return math.sin(x) * x
    >>> value, slope = adflow.value_and_grad(f)(1.0)
    >>> round(value, 6), round(slope, 6)  # sin(1) and sin(1) + cos(1)
    (0.841471, 1.381773)
    """
    check_options(checkpoint, memory, target)
    if func is None:
        return lambda f: value_and_grad(f, wrt, target, has_aux, checkpoint, memory)
    if compose.is_derivative(func):
        _no_checkpoint_of_a_derivative(checkpoint, memory, "value_and_grad")
        return compose.grad(func, wrt, target, has_aux, with_value=True)
    func = as_function(func)  # a bound method or callable object: a function of its arguments
    python_function(func)
    if targets.named(target).per_thread:
        return cuda_api.value_and_grad(func, wrt, has_aux)
    return GradFunction(func, wrt, target, has_aux, with_value=True, checkpoint=checkpoint, memory=memory)


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


@entry_point(makes_derivative=False)
def vjp(func, *args, wrt=None, target="cpu", checkpoint=None, memory=None, **kwargs):
    """Vector-Jacobian product: returns ``(y, pullback)`` where ``pullback(v)`` is ``v^T J``.

    ``v`` is shaped like ``y`` (this is PyTorch's ``y.backward(v)`` / ``grad_outputs``, made
    explicit); ``pullback`` returns one cotangent per differentiated argument (all float
    arguments unless ``wrt`` is given).  Each pullback call reruns the compiled forward sweep
    (recomputation instead of keeping the tape alive between calls).  ``checkpoint=`` and
    ``memory=`` bound the memory of long loops, as for :func:`grad`.  ``func`` may be a derivative
    adflow made (:mod:`adflow.compose`); the pullback itself can be differentiated again.

    >>> import numpy as np, adflow
    >>> def f(a, b):
    ...     return 3 * a + 2 * b * b
    >>> y, pullback = adflow.vjp(f, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> pullback(np.array([1.0, 0.1]))
    (array([3. , 0.3]), array([12. ,  1.6]))
    """
    if compose.is_derivative(func):
        _no_checkpoint_of_a_derivative(checkpoint, memory, "vjp")
        return compose.vjp(func, args, wrt, target, kwargs)
    func = as_function(func)  # a bound method or callable object: a function of its arguments
    python_function(func)
    check_options(checkpoint, memory, target)
    given = given_indices(func, args, kwargs)
    args = prepare_args(bind(func, args, kwargs))
    if wrt is None:  # the float arguments the caller gave: a default filled in is a constant of the call
        wrt = tuple(k for k in float_positions(argument_types(args)) if k in given)
    if targets.named(target).per_thread:
        return cuda_api.vjp(func, *args, wrt=wrt)
    specs = (Specializations(func, target) if checkpoint is None
             else CheckpointSpecializations(func, target, None, checkpoint, memory))
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
    # What a transform of the pullback reads (adflow/compose.py): it is a derivative of func at args.
    pullback.adflow_transform = "vjp"
    pullback.func, pullback.primals, pullback.wrt, pullback.target = func, args, wrt, target
    pullback.output_is_tuple = isinstance(y, tuple)
    return value_like(y, args), pullback


def _no_checkpoint_of_a_derivative(checkpoint, memory, outer):
    """Refuse ``checkpoint=``/``memory=`` on a transform of a derivative (it runs no tape of its own)."""
    if checkpoint is not None or memory is not None:
        raise ArgumentError(f"adflow.{outer}(..., checkpoint=) of a derivative adflow made: a composed derivative "
                            f"runs the inner derivative's reverse sweep on dual numbers, without a schedule",
                            hint="drop checkpoint= and memory=")


def _rows_like(rows, arg):
    """Per-row gradients in the float type of their argument."""
    return rows.astype(arg.dtype, copy=False) if isinstance(arg, np.ndarray) and arg.dtype.kind == "f" else rows


def _probe_cotangent(ty):
    """A cotangent of the output's type but no elements: the sweep runs for ``y`` and adds nothing."""
    if isinstance(ty, types.BaseTuple):
        return tuple(_probe_cotangent(t) for t in ty.types)
    if isinstance(ty, types.Array):
        return np.zeros((0,) * ty.ndim, dtype=np.float64)
    return 0.0

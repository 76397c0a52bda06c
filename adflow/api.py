"""The user API: ``grad``, ``value_and_grad``, ``vjp`` (reverse mode)."""
from __future__ import annotations

import functools
import inspect
import threading
import weakref

import numba
import numpy as np
from numba.core import types

from .errors import ArgumentError, NonDifferentiableError, ShapeError
from .frontend.namespace import cell_value, reachable_user_functions
from .frontend.source import python_function
from .pipeline import TARGETS, build_reverse, call_compiled, check_wrt_range
from .rules.custom import CustomRule


def _is_index(k):
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _normalize_wrt(wrt, nargs=None, fname="f"):
    """``(indices, single)`` for ``wrt`` given as an int or a tuple of ints (below ``nargs`` if given)."""
    if _is_index(wrt):
        ks, single = (int(wrt),), True
    else:
        try:
            ks = tuple(wrt)
        except TypeError:
            ks = ()
        single = False
        if not ks or not all(_is_index(k) for k in ks):
            raise ArgumentError(f"wrt must be an int or a non-empty tuple of ints, not {wrt!r}",
                                hint="wrt=0 differentiates with respect to the first argument, wrt=(0, 1) the first two")
        ks = tuple(int(k) for k in ks)
    if any(k < 0 for k in ks) or len(set(ks)) != len(ks):
        raise ArgumentError(f"wrt={wrt!r}: each argument index must be non-negative and appear once",
                            hint="count arguments from 0, left to right")
    if nargs is not None:
        check_wrt_range(ks, nargs, fname)
    return ks, single


def _prepare_args(args):
    """Lists become arrays; the user's own arrays are passed as they are (never written to)."""
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            a = np.asarray(a, dtype=float)
        out.append(a)
    return out


def _cheap_key(a):
    """What decides an argument's numba type, read without building numba type objects."""
    if isinstance(a, np.ndarray):
        flags = a.flags
        return (np.ndarray, a.dtype.num, a.ndim, flags.c_contiguous, flags.f_contiguous, flags.writeable,
                flags.aligned)
    if isinstance(a, (float, int, bool)):
        return type(a)
    return None  # anything else is typed by numba on every call


_TYPES_BY_KEY: dict = {}


def _argtypes(args, func=None):
    """numba types of the arguments; cached by a cheap key (numba.typeof costs ~20 us per array).

    ``func`` names the parameter of an argument numba cannot type.
    """
    keys = tuple(_cheap_key(a) for a in args)
    if None not in keys:
        cached = _TYPES_BY_KEY.get(keys)
        if cached is not None:
            return cached
    result = tuple(_typeof(a, k, func) for k, a in enumerate(args))
    if None not in keys:
        _TYPES_BY_KEY[keys] = result
    return result


def _typeof(arg, k, func):
    try:
        return numba.typeof(arg)
    except ValueError:
        pass
    name = getattr(func, "__name__", "the function")
    try:
        params = list(inspect.signature(func).parameters)
        which = f"'{params[k]}' (argument {k})"
    except (TypeError, ValueError, IndexError):
        which = f"argument {k}"
    raise NonDifferentiableError(f"cannot pass {which} of {name}, of type '{type(arg).__name__}': adflow "
                                 "takes numbers and NumPy arrays",
                                 hint="pass arrays (or tuples of numbers) and numbers; "
                                      "unpack containers into separate arguments") from None


class _Specializations:
    """Generated code per argument types; built once per process (and cached on disk by numba)."""

    def __init__(self, func, target, output_component=None):
        if target not in TARGETS:
            raise ArgumentError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
        self.func = func
        self.target = target
        self.output_component = output_component
        self.last_source = None
        self._fast = {}  # per-object cache by cheap argument keys: the hot path of repeated calls
        self._identity = _identity_of(func)

    def get(self, args, wrt, driver=None, argtypes=None):
        # Checked on every call, fast path included: a helper rebound since the last call is a new build.
        identity = self._identity.key(self.func) if self._identity is not None else id(self.func)
        fast_key = None
        if argtypes is None:
            fast_key = (tuple(_cheap_key(a) for a in args), wrt, driver, identity)
            entry = self._fast.get(fast_key)
            if entry is not None:
                self.last_source = entry[1]
                return entry[:3]
        argtypes = _argtypes(args, self.func) if argtypes is None else argtypes
        key = (argtypes, tuple(wrt), identity, self.target, self.output_component, driver)
        entry = _BUILDS.get(key)
        if entry is None:
            with _BUILD_LOCK:
                entry = _BUILDS.get(key)
                if entry is None:
                    entry = build_reverse(self.func, argtypes, wrt, self.target, self.output_component, driver)
                    # Keep the function alive with its entry: the key holds the id of its code object.
                    _BUILDS[key] = entry + (self.func,)
        if fast_key is not None and None not in fast_key[0]:
            self._fast[fast_key] = entry
        self.last_source = entry[1]
        return entry[:3]


# One build per (function code, argument types, wrt, target) in the whole process, shared by every
# grad/vjp object made for it; numba's disk cache and adflow's type cache carry it across processes.
_BUILDS: dict = {}
_BUILD_LOCK = threading.RLock()


def _code_identity(func):
    """A build key for ``func``'s code and the code of the user helpers it reaches (see :class:`_CodeIdentity`)."""
    identity = _identity_of(func)
    return identity.key(func) if identity is not None else id(func)


class _CodeIdentity:
    """What a derivative of one function object is built from: its code and the user helpers it reaches.

    Rebinding a helper (``module.helper = other``) changes what the function computes without
    touching the function, so build keys name the helpers too.  Finding them walks code objects
    and globals, once per function object (:func:`~adflow.frontend.namespace.reachable_user_functions`);
    each call then only checks that every name still holds the same object with the same code
    (one dictionary look-up per helper), and walks again when one does not.

    The key is a small int standing for the ids of the code and helpers (cheap to hash on the hot
    path); every object it stands for is kept alive here, so no id is reused while it is in use.
    """

    def __init__(self, func):
        self._kept = []
        self._state = None
        self._refresh(func)

    def key(self, func):
        root, bindings, token = self._state
        if getattr(func, "__code__", None) is not root and not _same_version(_version(func), root):
            return self._refresh(func)
        for scope, name, value, version, plain in bindings:
            if scope.get(name) is not value or (value.__code__ is not version if plain
                                                 else not _same_version(_version(value), version)):
                return self._refresh(func)
        return token

    def _refresh(self, func):
        found = {}
        for scope, name, value in reachable_user_functions(func):
            if (id(scope), name) not in found:  # the same name read by two functions is checked once
                found[id(scope), name] = (scope if isinstance(scope, dict) else _Cell(scope), name, value,
                                          _version(value), inspect.isfunction(value))
        bindings = tuple(found.values())
        root = _version(func)
        ids = (_version_key(root, func), tuple((name, id(value), _version_key(version, value))
                                              for _, name, value, version, _ in bindings))
        with _BUILD_LOCK:
            self._kept.append((root, bindings))  # not func: this object is the value of a weak entry for it
            token = _TOKENS.setdefault(ids, len(_TOKENS))
            self._state = (root, bindings, token)
        return token


class _Cell:
    """A closure cell read like a globals dict, so that :meth:`_CodeIdentity.key` checks both alike."""

    __slots__ = ("cell",)

    def __init__(self, cell):
        self.cell = cell

    def get(self, name):
        return cell_value(self.cell)


_TOKENS: dict = {}  # ids of a function's code and helpers -> the small int that build keys hold
_IDENTITIES = weakref.WeakKeyDictionary()  # function object -> its _CodeIdentity


def _identity_of(func):
    """``func``'s :class:`_CodeIdentity`, made at its first use; None for what cannot be weakly referenced."""
    try:
        identity = _IDENTITIES.get(func)
    except TypeError:
        return None
    if identity is None:
        with _BUILD_LOCK:
            identity = _IDENTITIES.get(func)
            if identity is None:
                identity = _IDENTITIES[func] = _CodeIdentity(func)
    return identity


def _version(obj):
    """What decides ``obj``'s derivative besides which object it is: its code, and a custom rule's rules."""
    if isinstance(obj, CustomRule):
        return (_version(obj.primal), obj.vjp_rules, obj.jvp_rules)
    return getattr(getattr(obj, "py_func", obj), "__code__", None)


def _same_version(a, b):
    # Code objects by identity (cheap); a custom rule's tuple by its parts (its code and rule functions).
    return a is b or (type(a) is tuple and a == b)


def _version_key(version, obj):
    if isinstance(version, tuple):  # a custom rule: its code, and its rules themselves (kept alive by the key)
        return (_version_key(version[0], obj.primal), version[1], version[2])
    return id(version) if version is not None else id(obj)


def _seed_like(value):
    if isinstance(value, np.ndarray):
        return np.ones_like(value)
    return type(value)(1.0) if isinstance(value, (float, np.floating)) else 1.0


def _is_scalar_type(ty) -> bool:
    return isinstance(ty, (types.Float, types.Integer)) or (isinstance(ty, types.Array) and ty.ndim == 0)


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


def _cast_like(grad, arg):
    """Derivatives keep the input's float type."""
    if isinstance(arg, np.ndarray):
        return np.asarray(grad, dtype=arg.dtype) if grad.dtype != arg.dtype else grad
    if isinstance(arg, np.floating):
        return type(arg)(grad)
    return float(grad)


class GradFunction:
    """``adflow.grad(f)``: call it like ``f`` to get the gradient.

    ``.source`` is the generated reverse-mode code of the last call (readable Python), and
    ``.source_for(*args)`` the code for given example arguments.
    """

    adflow_transform = "grad"

    def __init__(self, func, wrt=0, target="cpu", has_aux=False, with_value=False, batch=False):
        python_function(func)  # a builtin or a derivative object is refused here, where it is written
        self.func = func
        self.wrt, self._single = _normalize_wrt(wrt)
        self.has_aux = has_aux
        self.with_value = with_value
        self.batch = batch
        if batch and (len(self.wrt) != 1 or has_aux or with_value):
            raise ArgumentError("batch=True takes one wrt argument, without has_aux or value_and_grad")
        self._specs = _Specializations(func, target, 0 if has_aux else None)
        # updated=(): the wrapped function's __dict__ must not overwrite this object's own state
        functools.update_wrapper(self, getattr(func, "py_func", func), updated=())

    @property
    def target(self):
        return self._specs.target

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        from .pickling import reduce_derivative
        wrt = self.wrt[0] if self._single else self.wrt
        if self.with_value:
            return reduce_derivative(self, "value_and_grad", self.func, wrt=wrt, target=self.target,
                                     has_aux=self.has_aux)
        return reduce_derivative(self, "grad", self.func, wrt=wrt, target=self.target, has_aux=self.has_aux,
                                 batch=self.batch)

    def __call__(self, *args):
        args = _prepare_args(args)
        if self.batch:
            return self._batch(args)
        vjp_fn, _, prepared = self._derivative(args)
        if self.has_aux and prepared is not None:
            _check_aux_pair(prepared.return_type, self.__name__)
        value, grads = self._run(vjp_fn, args)
        grads = tuple(_cast_like(g, args[k]) for g, k in zip(grads, self.wrt))
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
        if not (self.with_value or self.has_aux) and prepared is not None and _is_scalar_type(prepared.return_type):
            vjp_fn = getattr(vjp_fn, "gradient_only", vjp_fn)
        return vjp_fn, source, prepared

    def _batch(self, args):
        """Per-row gradients: row i is the gradient of f(X[i], ...), computed in one compiled prange loop."""
        from .backends.drivers import batch_grad
        k = self.wrt[0]
        rows = args[k]
        if not isinstance(rows, np.ndarray) or rows.ndim < 1 or rows.shape[0] == 0:
            raise ShapeError(f"batch=True needs argument {k} to be an array of rows, got {getattr(rows, 'shape', rows)}")
        rows = np.ascontiguousarray(rows)
        args[k] = rows
        one = list(args)
        one[k] = rows[0]
        argtypes = _argtypes(one)
        driver, _, prepared = self._specs.get(one, self.wrt, driver=batch_grad, argtypes=argtypes)
        if not isinstance(prepared.return_type, types.Float):
            raise ShapeError(f"grad(batch=True) needs {self.__name__} to return a scalar per row, "
                             f"but it returns {prepared.return_type}",
                             hint="use adflow.jacobian(f, batch=True) for vector outputs")
        return _cast_like(call_compiled(driver, *args), rows)

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
        return self._derivative(_prepare_args(args))[1]


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
        python_function(func)
    if target == "cuda":  # device functions and batched kernels: adflow/backends/cuda.py
        from .backends import cuda
        return cuda.grad(func, wrt, has_aux, batch)
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
        python_function(func)
    if target == "cuda":
        from .backends import cuda
        return cuda.value_and_grad(func, wrt, has_aux)
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
    python_function(func)
    if target == "cuda":
        from .backends import cuda
        return cuda.vjp(func, *args, wrt=wrt)
    args = _prepare_args(args)
    specs = _Specializations(func, target)
    if wrt is None:
        types_ = _argtypes(args)
        wrt = tuple(k for k, t in enumerate(types_) if _is_float_type(t))
    fname = getattr(func, "__name__", "f")
    wrt, _ = _normalize_wrt(wrt, len(args), fname)
    vjp_fn, _, prepared = specs.get(args, wrt)
    # A function with custom rules has no inferred types: its primal, run once, gives the output's.
    out_type = prepared.return_type if prepared is not None else numba.typeof(func(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]))
    y, _ = call_compiled(vjp_fn, *args, _probe_cotangent(out_type))

    def pullback(v):
        v = _same_structure(v, y, fname)
        _, grads = call_compiled(vjp_fn, *args, v)
        return tuple(_cast_like(g, args[k]) for g, k in zip(grads, wrt))

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


def _is_float_type(t):
    from .reverse.activity import is_float_type
    return is_float_type(t)

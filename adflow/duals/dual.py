"""Dual numbers in plain Python: :class:`Dual` (a scalar) and :class:`DualArray` (an array).

A dual number carries a value and a *chunk* of ``k`` tangents, one per direction pushed forward
in the same pass (``k = 1`` is classic forward mode).  ``tangents`` always has the value's shape
plus a trailing axis of length ``k``: ``(k,)`` for a :class:`Dual`, ``value.shape + (k,)`` for a
:class:`DualArray`.

Every operation goes through :func:`apply_primitive`, which reads its derivative from the rules
tables (see :mod:`adflow.duals.formulas`):

* elementwise primitives use their partials, ``ans_dot = sum(partial * arg_dot)``, vectorised over
  the ``k`` directions and broadcast like the values;
* other primitives (``sum``, ``dot``, ``linalg.solve``...) use their tangent rule, applied to each
  direction in turn;
* primitives with no derivative (comparisons, ``floor``, ``sign``...) act on the values only.

``math.sin(d)`` cannot work on a Python dual (``math`` converts its argument to ``float``); use
``np.sin(d)``.  ``float(d)`` raises rather than silently dropping the tangents; that also makes
storing a dual into a float array (``out[i] = d``) an error instead of a wrong derivative.
"""
from __future__ import annotations

import numpy as np

from adflow.errors import NonDifferentiableError, ShapeError
from adflow.rules.primitives import allocations, method_primitives, primitive_of_object

from . import formulas
from .index_sets import EMPTY, as_tangents, is_propagating, union_all, zero_tangents

# Ufuncs that only look at values (comparisons and logic); they are not in the primitives table
# because the front end sees them as operators.
_VALUE_ONLY_UFUNCS = {
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.floor_divide,
}


class _DualBase:
    """What :class:`Dual` and :class:`DualArray` share: operators and NumPy dispatch."""

    __slots__ = ()
    # Make ``ndarray <op> dual`` defer to the dual's reflected operator / __array_ufunc__.
    __array_priority__ = 1000

    value: object
    tangents: np.ndarray

    @property
    def k(self) -> int:
        """Number of tangent directions carried."""
        return self.tangents.shape[-1]

    @property
    def shape(self) -> tuple:
        return np.shape(self.value)

    @property
    def ndim(self) -> int:
        return np.ndim(self.value)

    @property
    def size(self) -> int:
        return int(np.size(self.value))

    # -- arithmetic ------------------------------------------------------------------------------
    def __add__(self, other):
        return apply_primitive("add", self, other)

    def __radd__(self, other):
        return apply_primitive("add", other, self)

    def __sub__(self, other):
        return apply_primitive("sub", self, other)

    def __rsub__(self, other):
        return apply_primitive("sub", other, self)

    def __mul__(self, other):
        return apply_primitive("mul", self, other)

    def __rmul__(self, other):
        return apply_primitive("mul", other, self)

    def __truediv__(self, other):
        return apply_primitive("truediv", self, other)

    def __rtruediv__(self, other):
        return apply_primitive("truediv", other, self)

    def __pow__(self, other):
        return apply_primitive("pow", self, other)

    def __rpow__(self, other):
        return apply_primitive("pow", other, self)

    def __mod__(self, other):
        return apply_primitive("mod", self, other)

    def __rmod__(self, other):
        return apply_primitive("mod", other, self)

    def __floordiv__(self, other):
        return apply_primitive("floordiv", self, other)

    def __rfloordiv__(self, other):
        return apply_primitive("floordiv", other, self)

    def __matmul__(self, other):
        return apply_primitive("matmul", self, other)

    def __rmatmul__(self, other):
        return apply_primitive("matmul", other, self)

    def __neg__(self):
        return apply_primitive("neg", self)

    def __pos__(self):
        return apply_primitive("pos", self)

    def __abs__(self):
        return apply_primitive("abs", self)

    # -- comparisons look at values only ---------------------------------------------------------
    def __lt__(self, other):
        return apply_primitive("lt", self, other)

    def __le__(self, other):
        return apply_primitive("le", self, other)

    def __gt__(self, other):
        return apply_primitive("gt", self, other)

    def __ge__(self, other):
        return apply_primitive("ge", self, other)

    def __eq__(self, other):
        return apply_primitive("eq", self, other)

    def __ne__(self, other):
        return apply_primitive("ne", self, other)

    __hash__ = None  # mutable (DualArray) and compared by value: not hashable

    def __bool__(self):
        return bool(self.value)

    def __int__(self):
        return int(self.value)

    def __float__(self):
        raise TypeError(
            "adflow: float() of a dual number would drop its tangents; use "
            "adflow.forward.value_of(d) for the value (or allocate dual storage, e.g. "
            "dual_zeros_like, instead of a float array)"
        )

    # -- NumPy dispatch --------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise NonDifferentiableError(
                f"np.{ufunc.__name__}"
                + (f".{method}" if method != "__call__" else f" with {sorted(kwargs)}")
                + " is not supported on duals",
                hint="call the function plainly (np.sum(x) rather than np.add.reduce(x), no out=)",
            )
        if ufunc in _VALUE_ONLY_UFUNCS:
            return ufunc(*(value_of(a) for a in inputs))
        name = primitive_of_object.get(id(ufunc))
        if name is None:
            raise NonDifferentiableError(f"no derivative rule for np.{ufunc.__name__}")
        return apply_primitive(name, *inputs)

    def __array_function__(self, func, types, args, kwargs):
        name = primitive_of_object.get(id(func))
        if name in allocations:
            return _allocate_like(name, *args, **kwargs)
        if name in ("shape", "size", "ndim"):
            return func(value_of(args[0]))
        if name is None:
            raise NonDifferentiableError(f"no derivative rule for np.{func.__name__}")
        return apply_primitive(name, *args, **kwargs)


class Dual(_DualBase):
    """A scalar dual number: a float ``value`` and ``tangents``, a float array of shape ``(k,)``.

    >>> import numpy as np
    >>> x = Dual(2.0, [1.0, 0.0])          # two directions
    >>> y = x * x + np.sin(x)
    >>> round(y.value, 6), np.round(y.tangents, 6).tolist()
    (4.909297, [3.583853, 0.0])
    """

    __slots__ = ("value", "tangents")

    def __init__(self, value, tangents):
        self.value = float(value)
        tangents = as_tangents(np.array(tangents))
        self.tangents = tangents.reshape(1) if tangents.ndim == 0 else tangents
        if self.tangents.ndim != 1:
            raise ShapeError(f"a Dual's tangents must have shape (k,), not {self.tangents.shape}")

    @property
    def _tangent_tuple(self) -> tuple:
        # What numba unboxes the tangents from (a Dual in numba keeps them in a tuple).
        return tuple(self.tangents.tolist())

    def __repr__(self) -> str:
        return f"Dual({self.value!r}, tangents={self.tangents.tolist()!r})"


class DualArray(_DualBase):
    """An array of dual numbers: ``value`` (float array) and ``tangents`` (``value.shape + (k,)``).

    Indexing with an integer tuple gives a :class:`Dual`, slicing gives a :class:`DualArray` view;
    assignment accepts duals, dual arrays, floats and float arrays (whose tangents are zero).

    >>> import numpy as np
    >>> x = DualArray(np.array([1.0, 2.0]), np.eye(2))   # seeded with the identity: k = 2
    >>> y = (x * x).sum()
    >>> y.value, y.tangents.tolist()
    (5.0, [2.0, 4.0])
    >>> x[1]
    Dual(2.0, tangents=[0.0, 1.0])
    """

    __slots__ = ("value", "tangents")

    def __init__(self, value, tangents):
        self.value = np.asarray(value, dtype=np.float64)
        self.tangents = as_tangents(tangents)
        if self.tangents.shape[:-1] != self.value.shape or self.tangents.ndim != self.value.ndim + 1:
            raise ShapeError(
                f"a DualArray's tangents must have shape value.shape + (k,); got value "
                f"{self.value.shape} and tangents {self.tangents.shape}"
            )

    def __repr__(self) -> str:
        return f"DualArray({self.value!r}, k={self.k})"

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def dtype(self):
        return self.value.dtype

    # -- indexing --------------------------------------------------------------------------------
    def __getitem__(self, index):
        return _wrap(self.value[index], self.tangents[_tangent_index(index)])

    def __setitem__(self, index, item):
        self.value[index] = value_of(item)
        target = _tangent_index(index)
        if is_dual(item):
            if item.k != self.k:
                raise ShapeError(f"cannot store a dual with {item.k} directions into one with {self.k}")
            self.tangents[target] = item.tangents
        else:
            self.tangents[target] = zero_tangents(())

    # -- in-place arithmetic keeps aliasing semantics (views see the update) ---------------------
    def _assign(self, result):
        self.value[...] = value_of(result)
        self.tangents[...] = np.broadcast_to(tangents_of(result, self.k), self.tangents.shape)
        return self

    def __iadd__(self, other):
        return self._assign(self + other)

    def __isub__(self, other):
        return self._assign(self - other)

    def __imul__(self, other):
        return self._assign(self * other)

    def __itruediv__(self, other):
        return self._assign(self / other)

    # -- array methods and attributes ------------------------------------------------------------
    @property
    def T(self):
        return apply_primitive("transpose", self)

    def transpose(self):
        return apply_primitive("transpose", self)

    def reshape(self, *shape):
        return apply_primitive("reshape", self, shape[0] if len(shape) == 1 else shape)

    def sum(self, axis=None):
        return apply_primitive("sum", self, axis=axis)

    def mean(self, axis=None):
        return apply_primitive("mean", self, axis=axis)

    def prod(self, axis=None):
        return apply_primitive("prod", self, axis=axis)

    def max(self, axis=None):
        return apply_primitive("amax", self, axis=axis)

    def min(self, axis=None):
        return apply_primitive("amin", self, axis=axis)

    def ravel(self):
        return apply_primitive("ravel", self)

    flatten = ravel

    def copy(self):
        return apply_primitive("copy", self)

    def trace(self):
        return apply_primitive("trace", self)

    def cumsum(self):
        return apply_primitive("cumsum", self)

    def dot(self, other):
        return apply_primitive("dot", self, other)


assert set(method_primitives) >= {"sum", "mean", "prod", "max", "min", "dot", "transpose"}


def _tangent_index(index):
    """The index into ``tangents`` that selects what ``index`` selects in ``value``.

    A trailing full slice is a no-op wherever it lands, except that it stops an ``Ellipsis`` in
    ``index`` from swallowing the directions axis.
    """
    index = index if isinstance(index, tuple) else (index,)
    return index + (slice(None),)


def is_dual(x) -> bool:
    """Whether ``x`` is a Python dual number (a :class:`Dual` or a :class:`DualArray`)."""
    return isinstance(x, _DualBase)


def value_of(x):
    """The value of a dual (a float or a float array); anything else is returned unchanged."""
    return x.value if isinstance(x, _DualBase) else x


def tangents_of(x, k: int | None = None) -> np.ndarray:
    """The tangents of a dual, shaped ``value.shape + (k,)``; zeros for a non-dual if ``k`` given."""
    if isinstance(x, _DualBase):
        if k is not None and k != x.k:
            raise ShapeError(f"dual carries {x.k} directions, not {k}")
        return x.tangents
    if k is None:
        raise TypeError("adflow: tangents_of(x) of a non-dual needs k, the number of directions")
    return zero_tangents(np.shape(x) + (k,))


def _wrap(value, tangents):
    """A :class:`Dual` for a scalar value, a :class:`DualArray` otherwise."""
    if np.ndim(value) == 0:
        return Dual(value, tangents)
    return DualArray(value, tangents)


def _common_k(args) -> int:
    ks = {a.k for a in args if isinstance(a, _DualBase)}
    if len(ks) != 1:
        raise ShapeError(f"duals with different numbers of directions meet: {sorted(ks)}")
    return ks.pop()


def _bind_static(name, args, kwargs):
    """Split a call into positional parameters and static keywords, by the primitive's signature."""
    sig = formulas.signature(name)
    n = len(sig.params)
    params, extra = list(args[:n]), args[n:]
    static = dict(sig.static)
    for key, val in zip(sig.static, extra):
        static[key] = val
    for key, val in kwargs.items():
        if key in sig.params and len(params) <= sig.params.index(key):
            params.append(val)
        elif key in static:
            static[key] = val
        else:
            raise NonDifferentiableError(f"{name}: keyword {key!r} is not supported on duals")
    return params, static


def apply_primitive(name: str, *args, **kwargs):
    """Evaluate primitive ``name`` (a key of the rules tables) on duals and plain values.

    >>> x = Dual(0.5, [1.0])
    >>> y = apply_primitive("arctan2", x, 2.0)
    >>> round(float(y.tangents[0]), 6)     # d/dx arctan2(x, 2) = 2 / (x*x + 4)
    0.470588
    """
    name = formulas.canonical(name)
    values = [value_of(a) for a in args]
    if formulas.has_zero_derivative(name):
        return formulas.primal_function(name)(*values, **kwargs)
    if not any(isinstance(a, _DualBase) for a in args):
        return formulas.primal_function(name)(*args, **kwargs)
    params, static = _bind_static(name, args, kwargs)
    values = [value_of(a) for a in params]
    k = _common_k(params)
    ans = formulas.primal_function(name)(*values, **static)
    if k == 1 and np.ndim(ans) == 0 and formulas.is_elementwise(name) and is_propagating():
        return _scalar_on_sets(name, params, ans)
    total = zero_tangents(np.shape(ans) + (k,))
    sig = formulas.signature(name)
    for param, arg in zip(sig.params, params):
        if not isinstance(arg, _DualBase):
            continue
        if is_propagating():
            total += _sets_through(name, param, values, arg, ans, static, k)
            continue
        if formulas.is_elementwise(name):
            partial = formulas.partial_function(name, param)
            if partial is None:
                raise NonDifferentiableError(f"{name} has no derivative with respect to {param}")
            # Vectorised over the k directions: the partial gets a trailing axis of length 1.
            try:
                p = np.asarray(partial(*values, ans), dtype=np.float64)
            except ZeroDivisionError:
                # A Python float 0.0 where NumPy's division gives inf, as the primal's x / y did
                # (fuzz seed 3684865439: x / sqrt(sum(x * x)) of zeros).
                numbers = [np.float64(v) if type(v) is float else v for v in values]
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    p = np.asarray(partial(*numbers, ans), dtype=np.float64)
            total += p[..., None] * arg.tangents
        elif formulas.chunk_tangent_function(name, param) is not None and all(
                np.ndim(v) for v in values):
            total += formulas.chunk_tangent_function(name, param)(*values, arg.tangents, ans, *static.values())
        elif formulas.has_tangent_rule(name):
            rule = formulas.tangent_function(name, param)
            if rule is None:
                raise NonDifferentiableError(f"{name} has no tangent rule for {param}")
            for j in range(k):
                total[..., j] += rule(*values, arg.tangents[..., j], ans, *static.values())
        else:
            raise NonDifferentiableError(f"no derivative rule for {name}")
    return _wrap(ans, total)


def _allocate_like(name, prototype, *args, **kwargs):
    """``np.zeros_like(d)`` and friends on a dual: dual storage with zero tangents."""
    value = getattr(np, name)(value_of(prototype), *args, **kwargs)
    k = prototype.k if isinstance(prototype, _DualBase) else 1
    return _wrap(value, zero_tangents(np.shape(value) + (k,)))


def _scalar_on_sets(name, params, ans):
    # The common case of a detection pass (user loops over numbers), kept short: it runs per number.
    union = EMPTY
    for param, arg in zip(formulas.signature(name).params, params):
        if isinstance(arg, Dual):
            if formulas.partial_function(name, param) is None:
                raise NonDifferentiableError(f"{name} has no derivative with respect to {param}")
            union = union + arg.tangents[0]
    dual = object.__new__(Dual)
    dual.value, dual.tangents = float(ans), np.array([union], dtype=object)
    return dual


def _sets_through(name, param, values, arg, ans, static, k):
    """The index sets ``arg`` gives the result (see :mod:`adflow.duals.index_sets`).

    An elementwise primitive passes each element's set on, whatever the partial's value (the
    structural pattern).  Others run their tangent rule on the sets or, where the rule's arithmetic
    cannot hold sets (compiled helpers, LAPACK), give every input set to every output.
    """
    if formulas.is_elementwise(name):
        if formulas.partial_function(name, param) is None:
            raise NonDifferentiableError(f"{name} has no derivative with respect to {param}")
        return arg.tangents
    rule = formulas.tangent_function(name, param) if formulas.has_tangent_rule(name) else None
    if rule is not None:
        try:
            out = zero_tangents(np.shape(ans) + (k,))
            for j in range(k):
                out[..., j] += rule(*values, arg.tangents[..., j], ans, *static.values())
            return out
        except (TypeError, ValueError):
            pass
    return union_all(arg.tangents)

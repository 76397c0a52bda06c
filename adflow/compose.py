"""Derivatives of derivatives: adflow's transforms applied to a derivative another transform made.

``adflow.jacobian(adflow.grad(f))`` is the Hessian of ``f``, ``adflow.jvp(adflow.grad(f), (x,), (v,))``
a Hessian-vector product, ``adflow.grad(adflow.grad(f))`` the second derivative of a scalar
function.  A derivative adflow made is reverse-mode code; the outer transform pushes tangents
through that code as dual numbers (forward over reverse, what :func:`adflow.hessian` runs).  One
pass of the inner reverse sweep on duals seeded with directions ``u`` and weighted by an output
cotangent ``w`` gives ``f``'s value and ``J u``, and the cotangent ``w^T J`` with its derivative
``w^T (d^2 f) u``; every pair below is a number of such passes:

==================  ====================================  ======================================
inner derivative D  jvp, jacobian: d/ds D(x + s u)        vjp, grad: w^T dD/dx
==================  ====================================  ======================================
grad(f, wrt=W)      one pass seeded with u                one pass seeded with w on W (the
                                                          second derivatives are symmetric)
value_and_grad(f)   the same; the value's tangent is J u  the same, plus w_value times the gradient
jacobian(f, wrt=o)  one pass per output of f              one pass per output of f
vjp pullback of f   D(u): the pullback is linear          one forward-mode jvp of f
==================  ====================================  ======================================

``jacobian`` takes ``ceil(n / chunk)`` of these columns at once (``chunk`` directions per pass).
Third derivatives are refused: a derivative of a Hessian, of an ``hvp``, or of a composed
derivative would need duals of duals, which adflow's dual numbers are not.  The entry points
(``adflow.grad``, ``jvp``, ``vjp``, ``jacobian``, ``hessian``, ``hvp``) hand a derivative to this
module; calls of a derivative inside a differentiated function are
:mod:`adflow.pipeline.derivative_calls`'s.

>>> import numpy as np, adflow
>>> def f(x):
...     return np.sum(x ** 3)
>>> adflow.jacobian(adflow.grad(f, target="python"))(np.array([1.0, 2.0]))  # the Hessian, diag(6 x)
array([[ 6.,  0.],
       [ 0., 12.]])
>>> adflow.jvp(adflow.grad(f, target="python"), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
(array([ 3., 12.]), array([6., 0.]))
"""
from __future__ import annotations

import functools

import numpy as np
from numba.core.errors import TypingError

from . import targets
from .duals.helpers import make_dual, seed, tangents_of, value_of
from .errors import ArgumentError, NonDifferentiableError, ShapeError
from .pipeline import cached_forward, call_compiled
from .pipeline.arguments import cast_like, check_mode, check_one_wrt, float_positions, normalize_wrt, prepare_args
from .pipeline.binding import bind
from .planning import default_chunk
from .rules.custom import primal_of
from .specializations import Specializations
from .syntax.source import derivative_kind
from .value_types import argument_types

COMPOSES = ("adflow.grad, adflow.value_and_grad, adflow.jacobian and vjp pullbacks compose with one more "
            "transform (second derivatives)")


def is_derivative(obj) -> bool:
    """Whether ``obj`` is a derivative adflow made (a transform of it composes, see this module)."""
    return derivative_kind(obj) is not None


def describe(derivative) -> str:
    """``adflow.grad(f)``: what a derivative is, for messages."""
    kind = derivative_kind(derivative)
    if isinstance(derivative, ComposedFunction) or getattr(derivative, "composed_from", None):
        return getattr(derivative, "composed_from", None) or derivative.description
    inner = getattr(getattr(derivative, "__self__", derivative), "func", None)
    name = getattr(inner, "__name__", None) or getattr(derivative, "__name__", "f")
    if kind == "vjp":
        return f"the pullback of adflow.vjp({name}, ...)"
    if kind == "grad" and getattr(derivative, "with_value", False):
        kind = "value_and_grad"
    if kind == "hessian" and getattr(derivative, "__name__", "") == "hvp":
        kind = "hvp"
    return f"adflow.{kind}({name})"


# --------------------------------------------------------------------------- one forward-over-reverse pass


def _dual_cotangent(w, k):
    """``w`` as a dual with zero tangents: every adjoint of the sweep is then a dual from its start."""
    if np.ndim(w) == 0:
        return make_dual(float(w), np.zeros(k), k)
    w = np.asarray(w, dtype=np.float64)
    return seed(w, np.zeros(w.shape + (k,)))


def _tangents(d, shape, k):
    """The tangents of ``d`` (``shape + (k,)``), zero when it does not depend on the seeded inputs."""
    try:
        return np.asarray(tangents_of(d)).reshape(tuple(shape) + (k,))
    except TypeError:
        return np.zeros(tuple(shape) + (k,))


def forward_over_reverse(specs, args, seeds, k, reverse_wrt, cotangent):
    """One reverse sweep of ``specs.func`` run on duals carrying ``k`` directions.

    ``seeds`` maps argument positions to directions (the argument's shape plus ``(k,)``);
    ``cotangent`` weights ``f``'s output (shaped like it).  Returns ``(value, value_tangents,
    cotangents, cotangent_tangents)``: ``f(x)``, ``J u``, ``w^T J`` with respect to each argument of
    ``reverse_wrt``, and the derivatives of those along the directions, ``w^T (d^2 f) u``.
    """
    call = list(args)
    for p, directions in seeds.items():
        x = args[p]
        call[p] = seed(x, directions) if np.ndim(x) else seed(float(x), np.asarray(directions).reshape(k))
    vjp_fn, _, _ = specs.get(call, tuple(reverse_wrt))
    value, grads = call_compiled(vjp_fn, *call, _dual_cotangent(cotangent, k))
    value_plain = value_of(value)
    shapes = [np.shape(args[p]) for p in reverse_wrt]
    return (value_plain, _tangents(value, np.shape(value_plain), k),
            [np.asarray(value_of(g)).reshape(s) for g, s in zip(grads, shapes)],
            [_tangents(g, s, k) for g, s in zip(grads, shapes)])


# --------------------------------------------------------------------------- the inner derivatives


class _Inner:
    """A first derivative ``D``, seen by an outer transform.

    ``directional(args, seeds, k)`` -> ``(D(args), tangents)``: the derivative of ``D`` along ``k``
    directions (``seeds``: argument position -> directions with a trailing axis of ``k``); the
    tangents have ``D``'s structure, each part with a trailing axis of ``k``.
    ``pullback(args, w, wrt)`` -> ``(D(args), cotangents)``: ``w^T dD/dx`` for each argument of ``wrt``.
    ``shape(args)``: ``D``'s output shape (a tuple of shapes for a tuple output).
    """

    def __init__(self, derivative, func, target):
        self.derivative = derivative
        self.description = describe(derivative)
        self.func = func
        self.target = target
        self.specs = Specializations(func, target)

    def value(self, args):
        return self.derivative(*args)

    def bind(self, args, kwargs):
        """A call of ``D`` as the positional arguments of ``f`` (``D`` takes ``f``'s: defaults filled in)."""
        return prepare_args(bind(self.func, args, kwargs))


class _Gradient(_Inner):
    """``grad(f, wrt=W)`` or ``value_and_grad(f, wrt=W)``: f's gradient, pushed forward on duals."""

    def __init__(self, derivative):
        super().__init__(derivative, derivative.func, derivative.target)
        self.wrt = tuple(derivative.wrt)
        self.single = derivative.single  # wrt an int: one gradient, not a tuple of them
        self.with_value = derivative.with_value

    def shape(self, args):
        grads = tuple(np.shape(args[p]) for p in self.wrt)
        out = grads[0] if self.single else grads
        return ((), out) if self.with_value else out

    def _pass(self, args, seeds, k, reverse_wrt):
        value, value_t, grads, grads_t = forward_over_reverse(self.specs, args, seeds, k, reverse_wrt, 1.0)
        if np.ndim(value) != 0:
            raise ShapeError(f"{self.description} needs {self.func.__name__} to return a scalar, "
                             f"but it returned shape {np.shape(value)}",
                             hint="use adflow.jacobian(f) for a vector function")
        return float(value), value_t.reshape(k), grads, grads_t

    def _shaped(self, value, grads):
        out = grads[0] if self.single else tuple(grads)
        return (value, out) if self.with_value else out

    def directional(self, args, seeds, k):
        value, value_t, grads, grads_t = self._pass(args, seeds, k, self.wrt)
        grads = [cast_like(g, args[p]) for g, p in zip(grads, self.wrt)]
        return self._shaped(value, grads), self._shaped(value_t, grads_t)

    def pullback(self, args, w, wrt):
        w_value, w_grads = (_pair(w, self.description) if self.with_value else (0.0, w))
        w_grads = (w_grads,) if self.single else _parts(w_grads, len(self.wrt), self.description)
        seeds = {}
        for p, part in zip(self.wrt, w_grads):
            part = _cotangent_part(part, args[p], self.description)
            seeds[p] = part[..., None] if np.ndim(part) else np.array([part])
        reverse_wrt = _union(wrt, self.wrt)  # the outer's cotangents, and the gradient D returns
        value, _, grads, grads_t = self._pass(args, seeds, 1, reverse_wrt)
        cotangents = [t[..., 0] + float(w_value) * g for g, t in zip(grads, grads_t)][:len(wrt)]
        own = dict(zip(reverse_wrt, grads))
        return self._shaped(value, [cast_like(own[p], args[p]) for p in self.wrt]), cotangents


class _Jacobian(_Inner):
    """``jacobian(f, wrt=o)``: one forward-over-reverse pass per output of ``f`` (row ``i`` is e_i^T J)."""

    def __init__(self, derivative):
        super().__init__(derivative, derivative.func, derivative.target)
        self.o = derivative.wrt
        self._shapes = {}  # argument types and shapes -> f's output shape

    def output_shape(self, args):
        """The shape of ``f``'s output, from one run of ``f`` on copies of the arguments (once per shapes)."""
        key = tuple((type(a), np.shape(a), getattr(a, "dtype", None)) for a in args)
        shape = self._shapes.get(key)
        if shape is None:
            copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            primal = getattr(primal_of(self.func), "py_func", primal_of(self.func))
            try:
                y = targets.named(self.target).wrap(primal)(*copies)
            except TypingError:  # numba cannot compile it as written (it makes adflow.grad(f)(y)): as Python
                y = primal(*copies)
            if isinstance(y, tuple):
                raise ShapeError(f"{self.description}: jacobian needs a function returning one array or "
                                 f"number, not a tuple")
            shape = self._shapes[key] = np.shape(y)
        return shape

    def shape(self, args):
        return tuple(self.output_shape(args)) + np.shape(args[self.o])

    def _rows(self, out_shape):
        m = int(np.prod(out_shape, dtype=int))
        for i in range(m):
            if out_shape == ():
                yield i, 1.0
            else:
                e = np.zeros(m)
                e[i] = 1.0
                yield i, e.reshape(out_shape)

    def directional(self, args, seeds, k):
        out_shape = self.output_shape(args)
        x_shape = np.shape(args[self.o])
        rows, rows_t = [], []
        for _, e in self._rows(out_shape):
            _, _, grads, grads_t = forward_over_reverse(self.specs, args, seeds, k, (self.o,), e)
            rows.append(grads[0])
            rows_t.append(grads_t[0])
        jac = np.stack(rows).reshape(tuple(out_shape) + x_shape)
        return _like(jac, args[self.o]), np.stack(rows_t).reshape(tuple(out_shape) + x_shape + (k,))

    def pullback(self, args, w, wrt):
        out_shape = self.output_shape(args)
        x_shape = np.shape(args[self.o])
        w = _cotangent_part(w, np.zeros(tuple(out_shape) + x_shape), self.description)
        w_rows = np.reshape(w, (-1,) + x_shape)
        reverse_wrt = _union(wrt, (self.o,))  # the outer's cotangents, and the row of J that D returns
        rows, totals = [], [np.zeros(np.shape(args[p])) for p in wrt]
        for i, e in self._rows(out_shape):
            direction = w_rows[i]
            seeds = {self.o: direction[..., None] if direction.ndim else np.array([float(direction)])}
            _, _, grads, grads_t = forward_over_reverse(self.specs, args, seeds, 1, reverse_wrt, e)
            rows.append(grads[reverse_wrt.index(self.o)])
            totals = [total + t[..., 0] for total, t in zip(totals, grads_t)]
        jac = np.stack(rows).reshape(tuple(out_shape) + x_shape)
        return _like(jac, args[self.o]), totals


class _Pullback(_Inner):
    """The pullback ``v -> v^T J`` of ``vjp(f, *primals)``: linear in ``v``; its transpose is ``f``'s jvp."""

    def __init__(self, derivative):
        super().__init__(derivative, derivative.func, derivative.target)
        self.primals = derivative.primals
        self.wrt = tuple(derivative.wrt)
        if derivative.output_is_tuple:  # its cotangent would be a tuple, which the entry points read as an array
            raise NonDifferentiableError(f"{self.description}: {self.func.__name__} returns a tuple; a pullback "
                                         f"composes for a function returning one array or number")

    def shape(self, args):
        return tuple(np.shape(self.primals[p]) for p in self.wrt)

    def bind(self, args, kwargs):
        """The pullback takes one cotangent, positionally."""
        if kwargs:
            raise ArgumentError(f"{self.description} takes its cotangent positionally, not by keyword")
        return prepare_args(args)

    def directional(self, args, seeds, k):
        value = self.value(args)
        if not seeds:
            return value, tuple(np.zeros(np.shape(v) + (k,)) for v in value)
        directions = seeds[0]
        columns = [self.value([directions[..., j]]) for j in range(k)]  # linear: D(v + s u) = D(v) + s D(u)
        return value, tuple(np.stack([c[p] for c in columns], axis=-1) for p in range(len(value)))

    def pullback(self, args, w, wrt):
        parts = _parts(w, len(self.wrt), self.description)
        primals = list(self.primals)
        seeded = list(primals)
        for p, part in zip(self.wrt, parts):
            part = _cotangent_part(part, primals[p], self.description)
            seeded[p] = seed(primals[p], part[..., None]) if np.ndim(part) else seed(float(primals[p]), float(part))
        fwd, _, _ = cached_forward(self.func, argument_types(primals), self.wrt, 1, self.target)
        y = fwd(*seeded)
        jvp = _tangents(y, np.shape(value_of(y)), 1)[..., 0]
        return self.value(args), [np.asarray(jvp) if np.ndim(jvp) else float(jvp) for _ in wrt]


def _like(jac, x):
    """A Jacobian in ``x``'s float type: a number for a number, an array otherwise."""
    return cast_like(jac, x) if isinstance(x, np.ndarray) or np.ndim(jac) == 0 else np.asarray(jac)


def _union(first, then) -> tuple:
    """``first``, then the positions of ``then`` not in it: one sweep gives the cotangents of both."""
    return tuple(first) + tuple(p for p in then if p not in first)


def _pair(w, what):
    if not (isinstance(w, tuple) and len(w) == 2):
        raise ShapeError(f"the cotangent of {what} must be a pair (for the value, for the gradient)")
    return w


def _parts(w, n, what):
    if not (isinstance(w, tuple) and len(w) == n):
        raise ShapeError(f"the cotangent of {what} must be a tuple of {n} parts, like its output")
    return w


def _cotangent_part(part, like, what):
    if np.shape(part) != np.shape(like):
        raise ShapeError(f"a cotangent of {what} has shape {np.shape(part)} but that output has shape "
                         f"{np.shape(like)}", hint="pass a cotangent shaped like the derivative's output")
    return np.asarray(part, dtype=np.float64) if np.ndim(part) else float(part)


# --------------------------------------------------------------------------- what composes


def inner_of(derivative, outer, target) -> _Inner:
    """The first derivative ``derivative`` as the outer transform ``outer`` sees it, or the refusal."""
    what = describe(derivative)
    kind = derivative_kind(derivative)
    if isinstance(derivative, ComposedFunction) or getattr(derivative, "composed_from", None) \
            or kind == "hessian" or outer in ("hessian", "hvp"):
        raise NonDifferentiableError(
            f"adflow.{outer} of {what} would be a third derivative, which adflow does not compute",
            hint=f"{COMPOSES}; adflow.hessian and adflow.hvp are already second derivatives")
    if kind == "grad":
        if derivative.has_aux or derivative.batch:
            option = "has_aux=True" if derivative.has_aux else "batch=True"
            raise NonDifferentiableError(f"adflow.{outer} of {what} made with {option}: a derivative with "
                                         f"{option} does not compose", hint=f"drop {option} from the inner grad")
        inner = _Gradient(derivative)
    elif kind == "jacobian":
        if derivative.batch or derivative.sparsity is not None:
            option = "batch=True" if derivative.batch else "sparsity="
            raise NonDifferentiableError(f"adflow.{outer} of {what} made with {option}: a derivative with "
                                         f"{option} does not compose", hint=f"drop {option} from the inner jacobian")
        if not isinstance(derivative.wrt, int):
            raise NonDifferentiableError(f"adflow.{outer} of {what} made with wrt={derivative.wrt!r}: a Jacobian "
                                         f"with respect to several arguments does not compose",
                                         hint="one inner jacobian per argument (wrt=0, wrt=1, ...)")
        inner = _Jacobian(derivative)
    elif kind == "vjp":
        inner = _Pullback(derivative)
    else:  # pragma: no cover - every kind adflow makes is listed above
        raise NonDifferentiableError(f"adflow.{outer} of {what} does not compose", hint=COMPOSES)
    where = targets.named(inner.target)
    if not where.supports("forward"):
        raise ArgumentError(f"adflow.{outer} of {what}: derivatives compose by running the inner derivative on "
                            f"dual numbers, which {where!r} does not run", hint="make the inner derivative with "
                                                                               "target='cpu' or 'python'")
    if target not in ("cpu", inner.target):
        raise ArgumentError(f"adflow.{outer}(..., target={target!r}) of {what}, made with target="
                            f"{inner.target!r}: a composed derivative runs where the inner one does",
                            hint="give target= to the inner transform only")
    return inner


class ComposedFunction:
    """An outer transform of a first derivative (``adflow.jacobian(adflow.grad(f))``...): call it like ``D``."""

    adflow_transform = "composed"

    def __init__(self, outer, inner, call, options):
        self.inner = inner
        self.outer, self.options = outer, options  # what pickling sends: the inner derivative and these
        self.description = f"adflow.{outer}({inner.description})"
        self._call = call
        self.__name__ = f"{outer}_of_{getattr(inner.func, '__name__', 'f')}"
        self.__doc__ = f"{self.description}: computed forward over reverse (adflow.compose)."

    def __call__(self, *args, **kwargs):
        return self._call(self.inner.bind(args, kwargs))

    def __repr__(self):
        return f"<{self.description}>"

    def __reduce__(self):
        # The inner derivative pickles as its function and options (adflow/pickling.py); this is remade from it.
        return remake, (self.outer, self.inner.derivative, self.options)


def remake(outer, derivative, options):
    """``adflow.<outer>(derivative, **options)``, as a pickled :class:`ComposedFunction` is rebuilt."""
    make = {"grad": grad, "value_and_grad": functools.partial(grad, with_value=True), "jacobian": jacobian}[outer]
    return make(derivative, **options)


def _outer_wrt(wrt, args, inner):
    """The outer transform's ``wrt`` as indices into the arguments of ``D``; float arguments by default."""
    floats = float_positions(argument_types(args))
    ks, single = normalize_wrt(floats if wrt is None else wrt, len(args), inner.description)
    for k in ks:
        if k not in floats:
            raise ArgumentError(f"{inner.description} is differentiated with respect to argument {k}, which is "
                                f"{type(args[k]).__name__}, not a float or float array",
                                hint="wrt names float arguments")
    return ks, single


def grad(derivative, wrt=0, target="cpu", has_aux=False, batch=False, with_value=False):
    """``adflow.grad(D)`` / ``adflow.value_and_grad(D)``: ``D`` must return a number; its gradient is
    the vjp of ``D`` with the cotangent 1."""
    outer = "value_and_grad" if with_value else "grad"
    inner = inner_of(derivative, outer, target)
    if has_aux or batch:
        option = "has_aux=True" if has_aux else "batch=True"
        raise ArgumentError(f"adflow.{outer}({option}) of {inner.description}: {option} does not apply to a "
                            f"derivative", hint=f"drop {option}")
    normalize_wrt(wrt)  # a malformed wrt fails where it is written

    def call(args):
        ks, single = _outer_wrt(wrt, args, inner)
        shape = inner.shape(args)
        if shape != ():
            raise ShapeError(f"adflow.{outer} needs {inner.description} to return a scalar, but it returns "
                             f"{'a tuple' if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple) else f'shape {shape}'}",
                             hint="use adflow.jacobian or adflow.vjp of it for a vector output")
        value, cotangents = inner.pullback(args, 1.0, ks)
        out = tuple(cast_like(c, args[k]) for c, k in zip(cotangents, ks))
        out = out[0] if single else out
        return (float(value), out) if with_value else out

    return ComposedFunction(outer, inner, call, {"wrt": wrt, "target": target})


def vjp(derivative, args, wrt=None, target="cpu", kwargs=None):
    """``adflow.vjp(D, *args, **kwargs)``: ``(D(*args), pullback)`` with ``pullback(w) = w^T dD/dx``."""
    inner = inner_of(derivative, "vjp", target)
    args = inner.bind(args, kwargs)
    ks, _ = _outer_wrt(wrt, args, inner)
    y = inner.value(args)

    def pullback(w):
        _, cotangents = inner.pullback(args, w, ks)
        return tuple(cast_like(c, args[k]) for c, k in zip(cotangents, ks))

    pullback.adflow_transform = "vjp"
    pullback.composed_from = f"the pullback of adflow.vjp({inner.description}, ...)"
    return y, pullback


def jvp(derivative, primals, tangents, wrt=None, target="cpu"):
    """``adflow.jvp(D, primals, tangents)``: ``(D(*primals), dD/dx . tangents)``, one pass (per output
    of ``f`` for a Jacobian)."""
    inner = inner_of(derivative, "jvp", target)
    args = inner.bind(tuple(primals), None)
    ks, _ = _outer_wrt(wrt, args, inner)
    tangents = tuple(tangents)
    if len(tangents) != len(ks):
        raise ShapeError(f"jvp got {len(tangents)} tangents for {len(ks)} differentiated arguments")
    seeds = {}
    for k, t in zip(ks, tangents):
        if np.shape(t) != np.shape(args[k]):
            raise ShapeError(f"the tangent for argument {k} has shape {np.shape(t)} but the argument has shape "
                             f"{np.shape(args[k])}", hint="pass one tangent shaped like each differentiated argument")
        t = np.asarray(t, dtype=np.float64)
        seeds[k] = t[..., None]
    value, tangent = inner.directional(args, seeds, 1)
    return value, _first_direction(tangent, value)


def _first_direction(tangent, like):
    if isinstance(tangent, tuple):
        return tuple(_first_direction(t, v) for t, v in zip(tangent, like))
    t = np.asarray(tangent)[..., 0]
    return float(t) if np.ndim(like) == 0 else t


def jacobian(derivative, mode="auto", wrt=0, chunk=None, batch=False, target="cpu", sparsity=None):
    """``adflow.jacobian(D)``: ``dD/dx``, shaped ``D's output + x.shape``, ``chunk`` columns per pass."""
    inner = inner_of(derivative, "jacobian", target)
    check_one_wrt(wrt, "jacobian", "differentiate one argument at a time: one Jacobian per wrt")
    check_mode(mode)
    if mode == "reverse":
        raise ArgumentError(f"adflow.jacobian(mode='reverse') of {inner.description}: a Jacobian of a derivative "
                            f"pushes directions forward through its reverse sweep (forward over reverse)",
                            hint="drop mode= (or pass mode='forward')")
    if batch or sparsity is not None:
        option = "batch=True" if batch else "sparsity="
        raise ArgumentError(f"adflow.jacobian({option}) of {inner.description} is not computed",
                            hint=f"drop {option}")

    def call(args):
        _outer_wrt(wrt, args, inner)
        x = args[wrt]
        shape = inner.shape(args)
        if shape and isinstance(shape[0], tuple):
            raise ShapeError(f"jacobian needs {inner.description} to return one array or number, not a tuple",
                             hint="use adflow.jvp or adflow.vjp of it, which take tuple outputs")
        n = int(np.size(x))
        k = chunk or default_chunk(n)
        columns = []
        for start in range(0, n, k):
            directions = np.zeros((n, k))
            width = min(k, n - start)
            directions[np.arange(start, start + width), np.arange(width)] = 1.0
            _, tangents = inner.directional(args, {wrt: directions.reshape(np.shape(x) + (k,))}, k)
            columns.append(np.asarray(tangents).reshape(-1, k)[:, :width])
        jac = np.concatenate(columns, axis=1).reshape(tuple(shape) + np.shape(x))
        return float(jac) if jac.ndim == 0 else jac

    return ComposedFunction("jacobian", inner, call, {"mode": mode, "wrt": wrt, "chunk": chunk, "target": target})


def hessian(derivative, outer="hessian", target="cpu"):
    """``adflow.hessian(D)`` and ``adflow.hvp(D)``: third derivatives, refused."""
    inner_of(derivative, outer, target)

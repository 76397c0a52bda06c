"""Hessians and Hessian-vector products: forward over reverse, dual numbers pushed through the
compiled reverse sweep (``ceil(n / chunk)`` passes of the gradient, or one for ``H v``)."""
from __future__ import annotations

import numpy as np

from . import compose, targets
from .backends.drivers import hessian_passes
from .derivative_runs import call_key, output_of, unit_cotangents
from .duals.helpers import make_dual, seed, tangents_of, value_of
from .duals.numba_dual import DualType
from .errors import ArgumentError, ShapeError
from .frontend.bound import as_function
from .forward.api import pass_seeds
from .pipeline import call_compiled
from .pipeline.arguments import check_wrt_range, is_index, normalize_wrt, prepare_args
from .pipeline.binding import bind, describe
from .pipeline.results import derivative_like, hessian_tree, leaves, rebuild, total_size
from .pickling import reduce_derivative
from .planning import default_chunk
from .specializations import Specializations
from .syntax.source import entry_point, python_function
from .value_types import argument_types, is_number_type


class HessianFunction:
    """``adflow.hessian(f)``: forward-over-reverse; each pass pushes ``chunk`` directions through the gradient."""

    adflow_transform = "hessian"

    def __init__(self, func, wrt=0, chunk=None, target="cpu"):
        func = as_function(func)
        python_function(func)
        self._wrts, self._single = normalize_wrt(wrt)
        if not targets.named(target).supports("forward"):
            raise ArgumentError(f"hessian runs dual numbers through the reverse sweep, which target={target!r} "
                                f"does not run", hint="use target='cpu'")
        self.func, self.chunk, self.target = func, chunk, target
        self.wrt = self._wrts[0] if self._single else self._wrts
        self._specs = Specializations(func, target)
        self._drivers = {}  # (argument key, chunk) -> the compiled loop over passes
        self.__name__ = getattr(func, "__name__", "f")

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        return reduce_derivative(self, "hessian", self.func, wrt=self.wrt, chunk=self.chunk, target=self.target)

    def _gradient_tangents(self, args, directions, k):
        """The gradient at ``args`` and its derivative along ``directions`` (shape x.shape + (k,));
        ``None`` when ``f`` does not return a number."""
        x = args[self.wrt]
        call = list(args)
        call[self.wrt] = seed(x, directions) if np.ndim(x) else seed(float(x), directions.reshape(k))
        vjp_fn, _, prepared = self._specs.get(call, (self.wrt,))
        if prepared is not None and not (isinstance(prepared.return_type, DualType)
                                         or is_number_type(prepared.return_type)):
            return None
        # A dual cotangent (zero tangents) makes every adjoint a dual from the start: the adjoint of
        # a value computed without x (``c = np.ones(n) * a``) still receives second-order terms.
        value, grads = call_compiled(vjp_fn, *call, make_dual(1.0, np.zeros(k), k))
        if isinstance(value, tuple) or np.ndim(value_of(value)) != 0:
            return None
        return value_of(grads[0]), _tangents_or_zeros(grads[0], x, k)

    def __call__(self, *args, **kwargs):
        args = prepare_args(bind(self.func, args, kwargs))
        check_wrt_range(self._wrts, len(args), self.__name__)
        if not self._single:
            return self._blocks(args)
        x = args[self.wrt]
        shape, n = np.shape(x), int(np.size(x))
        k = self.chunk or default_chunk(n)
        if isinstance(x, np.ndarray) and x.ndim > 0:
            hessian = self._compiled_passes(args, pass_seeds(n, k), k, n)
            if hessian is not None:
                return hessian.reshape(shape + shape)
        columns = []
        for p, dirs in enumerate(pass_seeds(n, k)):
            found = self._gradient_tangents(args, dirs.reshape(shape + (k,)), k)
            if found is None:  # not a number: the blocks of each output number (tuples, arrays)
                return self._blocks(args)
            columns.append(found[1].reshape(n, k)[:, :min(k, n - p * k)])
        return derivative_like(np.concatenate(columns, axis=1).reshape(shape + shape), x)

    def _blocks(self, args):
        """The Hessian of every output number with respect to every pair of ``wrt`` arguments, laid out
        as ``jax.hessian`` lays it out (:func:`~adflow.pipeline.results.hessian_tree`).

        Pass p of argument j seeds ``x_j`` with ``chunk`` directions, and every other differentiated
        argument with zero directions (so all their adjoints are duals of one type); one reverse
        sweep per output number, its cotangent a dual selecting that number, gives the tangents of
        every gradient: columns of the blocks (i, j) for all i.
        """
        value = output_of(self.func, self._specs.target, args)
        xs = [args[k] for k in self._wrts]
        m, sizes = total_size(value), [int(np.size(x)) for x in xs]
        blocks = [[np.empty((m, ni, nj)) for nj in sizes] for ni in sizes]
        for j, (kj, nj) in enumerate(zip(self._wrts, sizes)):
            k = self.chunk or default_chunk(nj)
            for p, dirs in enumerate(pass_seeds(nj, k)):
                call = list(args)
                for i, ki in enumerate(self._wrts):
                    directions = dirs if i == j else np.zeros((sizes[i], k))
                    call[ki] = _seeded(args[ki], directions, k)
                vjp_fn = self._specs.get(call, self._wrts)[0]
                start, stop = p * k, min(nj, p * k + k)
                for e, cotangent in enumerate(unit_cotangents(value)):
                    dual = rebuild(cotangent, iter(make_dual(leaf, np.zeros(np.shape(leaf) + (k,)), k)
                                                   for leaf in leaves(cotangent)))
                    grads = call_compiled(vjp_fn, *call, dual)[1]
                    for i, g in enumerate(grads):
                        t = _tangents_or_zeros(g, xs[i], k).reshape(sizes[i], k)
                        blocks[i][j][e, :, start:stop] = t[:, :stop - start]
        return hessian_tree(value, blocks, xs, self._single)

    def _compiled_passes(self, args, directions, k, columns):
        """The first ``columns`` columns of ``H @ directions`` (shape (n, columns)) from all passes in one
        compiled loop (drivers.hessian_passes), or ``None`` when ``f`` does not return a number (the
        pass-by-pass path then says what it returned)."""
        key = (call_key(args), k)
        driver = self._drivers.get(key)
        if driver is None:
            x = args[self.wrt]
            call = list(args)
            call[self.wrt] = seed(x, directions[0].reshape(np.shape(x) + (k,)))  # its types build the vjp
            driver, _, prepared = self._specs.get(call, (self.wrt,), driver=hessian_passes(k),
                                                  argtypes=argument_types(call))
            if not (isinstance(prepared.return_type, DualType) or is_number_type(prepared.return_type)):
                return None
            if key[0] is not None:
                self._drivers[key] = driver
        return call_compiled(driver, *args, directions, np.empty((args[self.wrt].size, columns)))

    def hvp(self, *args_and_vector, **kwargs):
        """``H v``: the vector ``v`` comes right after the argument it is a direction for, so that with
        ``wrt=0`` the call is SciPy's ``hessp(x, p, *args)``."""
        if not self._single:
            raise ArgumentError(f"hvp takes one argument to differentiate (wrt an int), not {self.wrt!r}",
                                hint="use adflow.hessian(f, wrt=...) for the blocks of several arguments")
        k = self.wrt
        if len(args_and_vector) < k + 2:
            raise ArgumentError(f"hvp({self.__name__}, wrt={k}) is called with the arguments of {self.__name__} and "
                                f"the vector right after argument {k}, but got {describe(args_and_vector, kwargs)}",
                                hint="hvp(f)(x, v, *other_args), as SciPy calls hessp(x, p, *args)")
        v = args_and_vector[k + 1]
        # The vector first: a misplaced one would otherwise be reported as a wrong argument of f.
        if not isinstance(v, (np.ndarray, list, tuple, float, int, np.number)):
            raise ArgumentError(f"the vector of hvp must be an array shaped like argument {k}, not a "
                                f"{type(v).__name__}")
        v = np.asarray(v, dtype=np.float64)
        if v.shape != np.shape(prepare_args(args_and_vector[k:k + 1])[0]):
            raise ShapeError(f"the vector has shape {v.shape} but argument {k} has shape "
                             f"{np.shape(args_and_vector[k])}",
                             hint="hvp(f)(x, v, *other_args): the vector comes right after the argument")
        args = prepare_args(bind(self.func, args_and_vector[:k + 1] + args_and_vector[k + 2:], kwargs))
        x = args[k]
        if isinstance(x, np.ndarray) and x.ndim > 0:  # one pass of the Hessian's compiled loop
            hv = self._compiled_passes(args, v.reshape(1, v.size, 1), 1, 1)
            if hv is not None:
                return hv.reshape(v.shape)
        found = self._gradient_tangents(args, v.reshape(np.shape(x) + (1,)), 1)
        if found is None:
            raise ShapeError(f"hvp needs {self.__name__} to return a number",
                             hint="use adflow.hessian(f) for the Hessians of each output")
        return derivative_like(found[1][..., 0], x)


def _seeded(x, directions, k):
    """``x`` as a dual carrying ``k`` directions (the columns of ``directions``, one row per number of ``x``)."""
    return seed(x, directions.reshape(np.shape(x) + (k,))) if np.ndim(x) else seed(float(x), directions.reshape(k))


def _tangents_or_zeros(g, x, k):
    try:
        return np.asarray(tangents_of(g))
    except TypeError:  # the gradient does not depend on x: zero second derivatives
        return np.zeros(np.shape(x) + (k,))


@entry_point(makes_derivative=True)
def hessian(func, wrt=0, chunk=None, target="cpu"):
    """The Hessian of a scalar ``func`` by forward-over-reverse: dual numbers through the reverse sweep.

    Shaped ``x.shape + x.shape``; ``ceil(n / chunk)`` passes of the compiled gradient.  With
    ``wrt=(0, 1)`` the blocks ``((H00, H01), (H10, H11))``, ``Hij`` shaped ``xi.shape + xj.shape``,
    as ``jax.hessian(f, argnums=(0, 1))``; a function returning an array or a tuple gets one
    Hessian per output number, laid out like the output.

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     return np.sum(x ** 3)
    >>> adflow.hessian(f)(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> def g(x, y):
    ...     return x * y * y
    >>> adflow.hessian(g, wrt=(0, 1))(2.0, 3.0)
    ((0.0, 6.0), (6.0, 4.0))
    """
    if compose.is_derivative(func):
        return compose.hessian(func, "hessian", target)
    return HessianFunction(func, wrt, chunk, target)


@entry_point(makes_derivative=True)
def hvp(func, wrt=0, target="cpu"):
    """Hessian-vector product without forming the Hessian: ``hvp(f)(x, v, *args)`` is ``H v``, one pass.

    The vector comes right after the argument it is a direction for (``wrt``, default 0), which is
    how SciPy calls ``hessp(x, p, *args)``: ``minimize(f, x0, args=..., hessp=adflow.hvp(f))``.

    >>> import numpy as np, adflow
    >>> def f(x, c):
    ...     return c * np.sum(x ** 3)
    >>> adflow.hvp(f)(np.array([1.0, 2.0]), np.array([1.0, 1.0]), 2.0)
    array([12., 24.])
    """
    if compose.is_derivative(func):
        return compose.hessian(func, "hvp", target)
    if not is_index(wrt):
        normalize_wrt(wrt)  # says what is wrong with a wrt that is not an index at all
        raise ArgumentError(f"hvp takes one argument to differentiate (wrt an int), not {wrt!r}",
                            hint="use adflow.hessian(f, wrt=...) for the blocks of several arguments")
    return HessianFunction(func, wrt, None, target).hvp

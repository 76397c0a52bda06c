"""Full Jacobians that choose their mode, row-wise (batched) Jacobians, sparse Jacobians, Hessians.

``jacobian(f)(x)`` has shape ``out.shape + x.shape``.  Forward mode pushes ``k`` input
directions per pass (``ceil(n / k)`` passes); reverse mode pulls ``k`` output directions per
compiled sweep (``ceil(m / k)`` sweeps; the cotangent is a dual carrying them: vector mode).
``mode="auto"`` compares the two costs (:func:`~adflow.planning.plan`).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from numba.core import types
from numba.core.errors import TypingError

from . import sparsity as S
from . import compose, targets
from .backends.drivers import (batch_grad, hessian_passes, jacobian_reverse, jacobian_reverse_chunked,
                               row_jacobian_reverse)
from .cuda import api as cuda_api
from .duals.helpers import make_dual, seed, tangents_of, value_of
from .duals.numba_dual import DualType
from .errors import ArgumentError, ShapeError
from .frontend.bound import as_function
from .forward.api import forward_jacobian, forward_jacobian_rows, pass_seeds, row_blocks_available
from .pipeline import build_report, call_compiled
from .pipeline import build as builds
from .pipeline.arguments import (cast_like, check_mode, check_one_wrt, check_wrt_range, is_index, normalize_wrt,
                                 prepare_args)
from .pipeline.binding import bind, describe
from .pipeline.results import (check_flat_for_reverse, derivative_like, hessian_tree, is_nested, jacobian_tree, leaves,
                               rebuild, total_size)
from .pickling import reduce_derivative
from .planning import BLOCK_SPEEDUP, Plan, default_chunk, plan
from .rules.custom import primal_of
from .specializations import Specializations
from .syntax.source import entry_point, python_function
from .value_types import argument_types, is_number_type

__all__ = ["jacobian", "JacobianFunction", "plan", "Plan", "default_chunk", "hessian", "hvp", "HessianFunction"]

JACOBIAN_WRT_HINT = "differentiate one argument at a time: one Jacobian per wrt"
STRUCTURED_HINT = "batch= and sparsity= take one differentiated argument and a function returning one array"


def _fresh_copies(args) -> list:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


class JacobianFunction:
    """``adflow.jacobian(f, ...)``: call it like ``f`` to get the Jacobian; ``.plan`` tells the mode chosen.

    ``.plan`` is ``None`` before the first call, then the :class:`Plan` of the last call.

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     return np.sin(x) * x[0]
    >>> jac = adflow.jacobian(f)
    >>> J = jac(np.array([1.0, 2.0, 3.0]))
    >>> jac.plan.mode, jac.plan.passes, jac.plan.chunk  # 3 inputs: one forward pass of 3 directions
    ('forward', 1, 3)
    """

    adflow_transform = "jacobian"

    def __init__(self, func, mode="auto", wrt=0, chunk=None, batch=False, target="cpu", sparsity=None):
        func = as_function(func)  # a bound method or callable object: a function of its arguments
        python_function(func)
        _check_batch_flag(batch)
        self._wrts, self._single = normalize_wrt(wrt)
        if not self._single and (batch is not False or sparsity is not None):
            raise ArgumentError(f"jacobian(wrt={wrt!r}) takes one argument with batch= or sparsity=",
                                hint=STRUCTURED_HINT)
        if sparsity is not None and batch:
            raise ArgumentError("batch=True and sparsity= do not combine",
                                hint="a batched Jacobian is already computed row by row; drop sparsity=")
        # Options are checked here, not at the first call: a typo fails where it is written.
        check_mode(mode)
        if isinstance(sparsity, str) and sparsity != "auto":
            raise ArgumentError(f"sparsity must be 'auto' or a pattern, not {sparsity!r}",
                                hint="pass 'auto', a boolean array or a scipy.sparse matrix of shape "
                                     "(outputs, inputs)")
        self.sparsity = sparsity
        self._runs = {}  # (argument keys, shapes) -> _Run: plan, pattern and driver chosen once
        self.func = func
        self.mode = mode
        self.wrt = self._wrts[0] if self._single else self._wrts
        self.chunk = chunk
        self.batch = batch
        self.target = target
        self._reverse = Specializations(func, target)
        self.plan = None
        self.__name__ = getattr(func, "__name__", "f")
        self.__doc__ = getattr(func, "__doc__", None)

    def __reduce__(self):
        # Sent as the function and the options: the receiving process builds its own code (pickling.py).
        return reduce_derivative(self, "jacobian", self.func, mode=self.mode, wrt=self.wrt, chunk=self.chunk,
                                 batch=self.batch, target=self.target, sparsity=self.sparsity)

    def __call__(self, *args, **kwargs):
        # Repeated calls with the same argument types and shapes reuse the plan, the compiled
        # driver and the seed directions: only the key and the compiled call are left.
        args = bind(self.func, args, kwargs)
        key = _call_key(args)
        run = self._runs.get(key) if key is not None else None
        if run is None:
            args = prepare_args(args)
            check_wrt_range(self._wrts, len(args), self.__name__)
            for k in self._wrts:
                if not isinstance(args[k], (np.ndarray, float, np.floating)):
                    raise ShapeError(f"jacobian differentiates float arguments; argument {k} is "
                                     f"{type(args[k]).__name__}")
            run = self._prepare(args)
            self.plan = run.plan
            result = run(args)  # the result computed while preparing: handed out before another
            if key is not None:  # thread (Dask's threaded scheduler) can reach the run with its own rows
                self._runs[key] = run
            return result
        self.plan = run.plan
        return run(args)

    @property
    def colors(self):
        """Colours of the last sparse Jacobian (the number of compressed directions)."""
        return int(self.plan.forward_cost) if self.plan is not None and self.plan.mode == "forward (sparse)" else None

    def _prepare(self, args):
        """A callable computing the Jacobian for arguments of these types and shapes."""
        if self.batch:
            return self._batched(args)
        if self.sparsity is not None:
            return self._sparse(args)
        value = self._output_value(args)
        if isinstance(value, tuple) or not self._single:
            return self._structured(args, value)
        x = args[self.wrt]
        out_shape = np.shape(value)
        the_plan = plan(int(np.size(x)), int(np.prod(out_shape, dtype=int)), self.mode, self.chunk)
        if the_plan.mode == "forward":
            run = forward_jacobian(self.func, args, self.wrt, the_plan.chunk, self.target, out_shape)
            if out_shape == () and np.ndim(x) == 0:  # a number by a number: typed like the argument
                return _Run(the_plan, lambda args: derivative_like(run(args), args[self.wrt]))
            return _Run(the_plan, run)
        return self._reverse_jacobian(args, out_shape, the_plan)

    def _structured(self, args, value):
        """A ``_Run`` for a tuple output or several ``wrt``: blocks laid out as ``jax.jacobian`` lays them out
        (the output's layout, each leaf a block per differentiated argument)."""
        xs = [args[k] for k in self._wrts]
        m = total_size(value)
        the_plan = plan(sum(int(np.size(x)) for x in xs), m, self.mode, self.chunk)
        if self.mode == "auto" and is_nested(value) and self._reverse.target.supports("forward"):
            the_plan = plan(sum(int(np.size(x)) for x in xs), m, "forward", self.chunk)  # reverse keeps one level
        if the_plan.mode != "forward":
            check_flat_for_reverse(value, self.__name__)
        if the_plan.mode == "forward":
            runs = [forward_jacobian(self.func, args, k, plan(int(np.size(args[k])), m, "forward", self.chunk).chunk,
                                     self.target, (m,)) for k in self._wrts]

            def by_passes(args):
                return jacobian_tree(value, [run(args).reshape(m, -1) for run in runs],
                                     [args[k] for k in self._wrts], self._single)

            return _Run(the_plan, by_passes)
        # Reverse mode: one sweep per output number, each giving that row for every argument at once.
        the_plan = dataclasses.replace(the_plan, passes=m, chunk=1)
        vjp_fn = self._reverse.get(args, self._wrts)[0]

        def by_sweeps(args):
            rows = [np.empty((m, int(np.size(args[k])))) for k in self._wrts]
            for j, cotangent in enumerate(_unit_cotangents(value)):
                grads = call_compiled(vjp_fn, *args, cotangent)[1]
                for row, g in zip(rows, grads):
                    row[j] = np.ravel(g)
            return jacobian_tree(value, rows, [args[k] for k in self._wrts], self._single)

        return _Run(the_plan, by_sweeps)

    def _sparse(self, args):
        """A ``scipy.sparse.csr_array`` (outputs x inputs, flattened): one compressed pass per 32 colours."""
        x = args[self.wrt]
        if isinstance(self.sparsity, str):  # 'auto', checked when the Jacobian was made
            pattern = S.detect_pattern(self.func, args, self.wrt, self.target)
        else:
            m = int(np.prod(self._output_shape(args), dtype=int))
            pattern = S.as_pattern(self.sparsity, m, int(np.size(x)))
        colors = S.color_columns(pattern)
        n_colors = int(colors.max()) + 1 if colors.size else 0
        the_plan = Plan("forward (sparse)", -(-n_colors // S.MAX_CHUNK), min(n_colors, S.MAX_CHUNK),
                        pattern.shape[1], pattern.shape[0], float(n_colors), float("nan"))
        return _Run(the_plan, S.compressed_jacobian(self.func, args, self.wrt, pattern, colors, self.target))

    def _output_value(self, args):
        return output_of(self.func, self._reverse.target, args)

    def _output_shape(self, args):
        """The output's shape, for the batched and sparse Jacobians (one array or number)."""
        y = self._output_value(args)
        if isinstance(y, tuple):
            raise ShapeError("jacobian(batch=...) and jacobian(sparsity=...) need a function returning one array "
                             "or number, not a tuple", hint="drop batch=/sparsity= for a Jacobian of each part")
        return np.shape(y)

    def _reverse_jacobian(self, args, out_shape, the_plan):
        """A ``_Run``: the Jacobian from reverse sweeps, each pulling ``chunk`` output directions at once
        (the cotangent is a dual carrying them: vector mode); a gradient when the output is scalar."""
        wrt = self.wrt
        x_shape = np.shape(args[wrt])
        if out_shape == ():  # a scalar output: the Jacobian is the gradient
            vjp_fn, _, _ = self._reverse.get(args, (wrt,))
            return _Run(the_plan, lambda args: cast_like(call_compiled(vjp_fn, *args, 1.0)[1][0], args[wrt]))
        out_shape = tuple(out_shape)
        m, n = int(np.prod(out_shape, dtype=int)), int(np.prod(x_shape, dtype=int))
        k = the_plan.chunk
        if k > 1 and isinstance(args[wrt], np.ndarray):
            driver, _, _ = self._reverse.get(args, (wrt,), driver=jacobian_reverse_chunked(k),
                                             argtypes=argument_types(args))
            seeds = pass_seeds(m, k)

            def vector_mode(args):
                return driver(*args, out_shape, seeds, np.empty((m, n))).reshape(out_shape + x_shape)

            try:  # the first call compiles (and its result is returned by the caller)
                return _Run(the_plan, vector_mode, first=vector_mode(args))
            except TypingError:
                # An operation without a dual-cotangent form (reductions with axis=): fall back
                # to one sweep per output, which needs nothing beyond plain reverse mode.
                the_plan = dataclasses.replace(the_plan, passes=m, chunk=1)
        driver, _, _ = self._reverse.get(args, (wrt,), driver=jacobian_reverse, argtypes=argument_types(args))
        return _Run(the_plan, lambda args: call_compiled(driver, *args, out_shape).reshape(out_shape + x_shape))

    def _batched(self, args):
        rows = args[self.wrt]
        if not isinstance(rows, np.ndarray) or rows.ndim != 2:
            raise ShapeError(f"jacobian(batch=True) needs argument {self.wrt} as a 2-D array of rows")
        one = list(args)
        one[self.wrt] = np.ascontiguousarray(rows[0])
        out_shape = self._output_shape(one)
        the_plan = plan(rows.shape[1], int(np.prod(out_shape, dtype=int)), self.mode, self.chunk)
        if self.mode == "auto" and the_plan.mode == "reverse":
            # Forward passes in blocks of rows cost a fraction of their per-row estimate (BLOCK_SPEEDUP);
            # reverse sweeps still go one row at a time.
            forward = plan(rows.shape[1], the_plan.outputs, "forward", self.chunk)
            if forward.forward_cost / BLOCK_SPEEDUP <= forward.reverse_cost:
                if row_blocks_available(self.func, one, self.wrt, forward.chunk, self.target):
                    the_plan = forward
        if the_plan.mode == "forward":
            run, block, why = forward_jacobian_rows(self.func, args, self.wrt, the_plan.chunk, self.target,
                                                    out_shape)
            return _Run(dataclasses.replace(the_plan, block=block, unblocked=why), run)
        if out_shape == ():
            gradients = self._rows_by_gradients(args, one, the_plan)
            if gradients is not None:
                return gradients
        if out_shape != () and the_plan.chunk > 1:
            compiled = self._rows_by_reverse(args, one, tuple(out_shape), the_plan)
            if compiled is not None:
                return compiled
        row_run = self._reverse_jacobian(one, out_shape, the_plan)
        row_jacobian = row_run._call

        def rows_by_reverse(args):
            rows = args[self.wrt]
            out = np.empty((rows.shape[0],) + tuple(out_shape) + rows.shape[1:])
            row_args = list(args)
            for i in range(rows.shape[0]):
                row_args[self.wrt] = np.ascontiguousarray(rows[i])
                out[i] = row_jacobian(row_args)
            return out

        return _Run(row_run.plan, rows_by_reverse)

    def _rows_by_gradients(self, args, one, the_plan):
        """A ``_Run`` of per-row gradients (a number per row) in one compiled prange loop, as
        ``grad(batch=True)`` computes them; ``None`` when the row's result is not a float."""
        wrt = self.wrt
        driver, _, prepared = self._reverse.get(one, (wrt,), driver=batch_grad, argtypes=argument_types(one))
        if not isinstance(prepared.return_type, types.Float):
            return None

        def gradients(args):
            args = list(args)
            args[wrt] = np.ascontiguousarray(args[wrt])
            return call_compiled(driver, *args)

        return _Run(the_plan, gradients)

    def _rows_by_reverse(self, args, one, out_shape, the_plan):
        """A ``_Run`` of per-row reverse Jacobians in one compiled prange loop (vector mode, ``chunk``
        output directions per sweep); ``None`` when the sweep has no dual-cotangent form."""
        wrt, k = self.wrt, the_plan.chunk
        m, n = int(np.prod(out_shape, dtype=int)), one[wrt].size
        driver, _, _ = self._reverse.get(one, (wrt,), driver=row_jacobian_reverse(k), argtypes=argument_types(one))
        seeds = pass_seeds(m, k)

        def compiled_rows(args):
            args = list(args)
            rows = args[wrt] = np.ascontiguousarray(args[wrt])  # row i is then a C-contiguous view
            out = driver(*args, out_shape, seeds, np.empty((rows.shape[0], m, n)))
            return out.reshape((rows.shape[0],) + out_shape + rows.shape[1:])

        try:  # the first call compiles (and its result is returned by the caller)
            return _Run(the_plan, compiled_rows, first=compiled_rows(args))
        except TypingError:
            return None  # an operation without a dual-cotangent form: one row at a time below


_OWNDATA = 4  # numpy's flag bit that says nothing about an array's numba type


def _call_key(args):
    """Argument types and shapes in one flat tuple (``None`` for arguments that need converting or
    numba's own typing): the run cache's key, read in about a microsecond per call."""
    key = []
    for a in args:
        kind = type(a)
        if kind is np.ndarray:
            key += (a.shape, a.dtype.num, a.flags.num & ~_OWNDATA)
        elif kind is float or kind is int or kind is bool:
            key.append(kind)
        else:
            return None
    return tuple(key)


def _check_batch_flag(batch):
    if not isinstance(batch, bool):
        raise ArgumentError(f"jacobian takes batch=True (the rows of the differentiated argument) or False, "
                            f"not batch={batch!r}",
                            hint="batch=(None, 0, 0) over chosen arguments is adflow.grad's; for a Jacobian, "
                                 "pass the shared arguments as they are and the rows as the wrt argument")


def _unit_cotangents(value):
    """The cotangents selecting each number of the output in turn (1 there, 0 elsewhere), laid out like it."""
    zeros = [np.zeros(np.shape(leaf)) for leaf in leaves(value)]
    for i, leaf in enumerate(zeros):
        for j in range(leaf.size):
            leaf.flat[j] = 1.0
            yield rebuild(value, iter(z if z.ndim else float(z) for z in zeros))
            leaf.flat[j] = 0.0


class _Run:
    """A prepared Jacobian computation: its plan and the call that carries it out.

    ``first`` is the result of a call already made while preparing (the one that compiled the
    driver); it is handed out once instead of computing it again.
    """

    __slots__ = ("plan", "_call", "_first")

    def __init__(self, the_plan, call, first=None):
        self.plan = the_plan
        self._call = call
        self._first = first

    def __call__(self, args):
        first, self._first = self._first, None
        return first if first is not None else self._call(args)


@entry_point(makes_derivative=True)
def jacobian(func, mode="auto", wrt=0, chunk=None, batch=False, target="cpu", sparsity=None):
    """The Jacobian of ``func`` with respect to argument ``wrt``, shaped ``out.shape + in.shape``.

    ``mode="forward"`` seeds ``chunk`` input directions per pass (default: all of them up to 16,
    else the most even split, as ForwardDiff.jl does up to 12); ``mode="reverse"`` pulls ``chunk`` outputs through each compiled reverse sweep;
    ``mode="auto"`` picks the cheaper from the sizes (see ``.plan`` after a call).  With
    ``batch=True``, ``func`` maps one row to one output row and the call takes a 2-D array ``X``:
    the result ``Z[i, j, k] = dY[i, j] / dX[i, k]`` is computed row by row, never as the
    block-diagonal matrix.  With ``sparsity="auto"`` the structural pattern is detected (at the
    first call's point, per argument types and shape), the columns are coloured greedily and the
    Jacobian comes from one forward pass per colour group, as a ``scipy.sparse.csr_array`` of
    shape (outputs, inputs); ``sparsity=`` may also be a known pattern (boolean array or sparse).
    ``func`` may be a derivative adflow made: ``jacobian(adflow.grad(f))`` is the Hessian, computed
    forward over the gradient's reverse sweep (:mod:`adflow.compose`).

    A function returning a (nested) tuple gets its Jacobian laid out like the output, and
    ``wrt=(0, 1)`` gives one block per argument, as ``jax.jacobian`` does: for ``f -> (a, b)``,
    ``((da/dx0, da/dx1), (db/dx0, db/dx1))``.  A number's derivative with respect to a number has
    the argument's type (a Python float for a float).

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     return np.sin(x) * x[0]
    >>> J = adflow.jacobian(f)(np.array([1.0, 2.0]))
    >>> J.shape
    (2, 2)
    >>> def g(x, y):
    ...     return x * y, np.sum(x)
    >>> (da_dx, da_dy), (db_dx, db_dy) = adflow.jacobian(g, wrt=(0, 1))(np.array([1.0, 2.0]), 3.0)
    >>> da_dy, db_dx
    (array([1., 2.]), array([1., 1.]))
    """
    if compose.is_derivative(func):  # the Jacobian of a derivative: adflow/compose.py
        return compose.jacobian(func, mode, wrt, chunk, batch, target, sparsity)
    func = as_function(func)  # a bound method or callable object: a function of its arguments
    python_function(func)
    where = targets.named(target)
    if sparsity is not None and not where.supports("forward"):
        raise ArgumentError(f"sparsity= needs forward mode, which {where!r} does not run",
                            hint="drop sparsity= (this target computes the Jacobian by reverse sweeps), or use "
                                 "target='cpu'")
    if where.per_thread:  # reverse sweeps inside CUDA threads: adflow/cuda/
        _check_batch_flag(batch)
        check_one_wrt(wrt, "jacobian", JACOBIAN_WRT_HINT)
        return cuda_api.jacobian(func, mode, wrt, batch)
    return JacobianFunction(func, mode, wrt, chunk, batch, target, sparsity)


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
        check_flat_for_reverse(value, self.__name__)
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
                for e, cotangent in enumerate(_unit_cotangents(value)):
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
        key = (_call_key(args), k)
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


def output_of(func, target, args):
    """``func``'s output at ``args`` (its shapes and layout): one run of the primal on ``target``, on copies.

    A function that writes into its arguments must not change the caller's arrays (nor the point the
    derivative is then taken at).
    """
    primal = primal_of(func)
    primal = getattr(primal, "py_func", primal)
    # numba compiles the primal for this run: a report says how long that takes.
    with build_report.build(builds.describe("output shape (a run of the primal)", func, argument_types(args),
                                            target.name)):
        try:
            return target.wrap(primal)(*_fresh_copies(args))
        except TypingError:  # numba cannot compile it as written (it makes adflow.grad(f)(y)): run it as Python
            return primal(*_fresh_copies(args))


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

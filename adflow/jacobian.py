"""Full Jacobians that choose their mode, row-wise (batched) Jacobians, sparse Jacobians.

``jacobian(f)(x)`` has shape ``out.shape + x.shape``.  Forward mode pushes ``k`` input
directions per pass (``ceil(n / k)`` passes); reverse mode pulls ``k`` output directions per
compiled sweep (``ceil(m / k)`` sweeps; the cotangent is a dual carrying them: vector mode).
``mode="auto"`` compares the two costs (:func:`~adflow.planning.plan`).

Hessians and Hessian-vector products are in :mod:`adflow.second_order` (and importable from here).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from numba.core import types
from numba.core.errors import TypingError

from . import sparsity as S
from . import compose, targets
from .backends.drivers import (batch_grad, jacobian_reverse, jacobian_reverse_chunked,
                               row_jacobian_reverse)
from .cuda import api as cuda_api
from .derivative_runs import call_key, output_of, unit_cotangents
from .errors import ArgumentError, ShapeError
from .frontend.bound import as_function
from .forward.api import forward_jacobian, forward_jacobian_rows, pass_seeds, row_blocks_available
from .pipeline import call_compiled
from .pipeline.compile_errors import rows_refused
from .pipeline.arguments import (cast_like, check_mode, check_one_wrt, check_wrt_range, normalize_wrt,
                                 prepare_args)
from .pipeline.binding import bind
from .pipeline.results import derivative_like, jacobian_tree, total_size
from .pipeline.rows import over_rows
from .pickling import reduce_derivative
from .planning import BLOCK_SPEEDUP, Plan, default_chunk, plan
from .second_order import HessianFunction, hessian, hvp
from .specializations import Specializations
from .syntax.source import entry_point, python_function
from .value_types import argument_types

__all__ = ["jacobian", "JacobianFunction", "plan", "Plan", "default_chunk", "hessian", "hvp", "HessianFunction"]

JACOBIAN_WRT_HINT = "differentiate one argument at a time: one Jacobian per wrt"
STRUCTURED_HINT = "batch= and sparsity= take one differentiated argument and a function returning one array"


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
        key = call_key(args)
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
            for j, cotangent in enumerate(unit_cotangents(value)):
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
                # Called directly: numba's TypingError (no dual-cotangent form) is the fallback's cue below.
                try:
                    return driver(*args, out_shape, seeds, np.empty((m, n))).reshape(out_shape + x_shape)
                except ValueError as exc:
                    raise rows_refused(exc) from None

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
        the_plan = plan(rows.shape[1], int(np.prod(out_shape, dtype=int)), self.mode, self.chunk, rows=True)
        if self.mode == "auto" and the_plan.mode == "reverse":
            # Forward passes in blocks of rows cost a fraction of their per-row estimate (BLOCK_SPEEDUP);
            # reverse sweeps still go one row at a time.
            forward = plan(rows.shape[1], the_plan.outputs, "forward", self.chunk, rows=True)
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
        """A ``_Run`` of per-row gradients (a number per row) in one compiled loop over rows, as
        ``grad(batch=True)`` computes them; ``None`` when the row's result is not a float."""
        wrt = self.wrt
        driver, _, prepared = self._reverse.get(one, (wrt,), driver=batch_grad, argtypes=argument_types(one))
        if not isinstance(prepared.return_type, types.Float):
            return None

        def gradients(args):
            args = list(args)
            rows = args[wrt] = np.ascontiguousarray(args[wrt])
            out = np.empty(rows.shape)  # row i: the gradient at row i
            over_rows(driver, (*args, out), rows.shape[0])
            return out

        return _Run(the_plan, gradients)

    def _rows_by_reverse(self, args, one, out_shape, the_plan):
        """A ``_Run`` of per-row reverse Jacobians in one compiled loop over rows (vector mode, ``chunk``
        output directions per sweep); ``None`` when the sweep has no dual-cotangent form."""
        wrt, k = self.wrt, the_plan.chunk
        m, n = int(np.prod(out_shape, dtype=int)), one[wrt].size
        driver, _, _ = self._reverse.get(one, (wrt,), driver=row_jacobian_reverse(k), argtypes=argument_types(one))
        seeds = pass_seeds(m, k)

        def compiled_rows(args):
            args = list(args)
            rows = args[wrt] = np.ascontiguousarray(args[wrt])  # row i is then a C-contiguous view
            out = np.empty((rows.shape[0], m, n))
            try:  # called directly: numba's TypingError is the fallback's cue below
                over_rows(driver, (*args, out_shape, seeds, out), rows.shape[0], call=_direct)
            except ValueError as exc:
                raise rows_refused(exc) from None
            return out.reshape((rows.shape[0],) + out_shape + rows.shape[1:])

        try:  # the first call compiles (and its result is returned by the caller)
            return _Run(the_plan, compiled_rows, first=compiled_rows(args))
        except TypingError:
            return None  # an operation without a dual-cotangent form: one row at a time below


def _direct(driver, *args):
    return driver(*args)


def _check_batch_flag(batch):
    if not isinstance(batch, bool):
        raise ArgumentError(f"jacobian takes batch=True (the rows of the differentiated argument) or False, "
                            f"not batch={batch!r}",
                            hint="batch=(None, 0, 0) over chosen arguments is adflow.grad's; for a Jacobian, "
                                 "pass the shared arguments as they are and the rows as the wrt argument")


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

"""Compiled loops around generated derivatives: per-row gradients and reverse-mode Jacobians.

Each driver is a few lines of Python source added to the generated module next to the function
it calls, so numba compiles the loop instead of Python calling the derivative once per row or
output.  Drivers over rows (``splits_rows``) take the rows ``_lo`` to ``_hi`` and write into
arrays the caller allocates: :func:`adflow.pipeline.rows.over_rows` spreads row ranges over
threads (compiled ``nogil``).  numba's ``prange`` did that too, but its parallel compilation of
the loop took seconds more per build (8 s of 15 for a row-wise MLP Jacobian's first call).
"""
from __future__ import annotations

import functools
import textwrap

from ..errors import OTHER_SHAPE
from ..syntax.templates import function

_BATCH_GRAD = '''
def {name}({params}, {outs}, _lo, _hi):
    # Row i of every batched argument (the others shared), one reverse sweep per row.
    for _i in range(_lo, _hi):
        _grads = {vjp}({row_args}, 1.0)[1]
{store}
'''

# The vjp computes each gradient in its row (reverse/gradient_rows.py).
_BATCH_GRAD_INTO_ROWS = '''
def {name}({params}, {outs}, _lo, _hi):
    # Row i of every batched argument (the others shared), one reverse sweep per row, into row i.
    for _i in range(_lo, _hi):
        {vjp}({row_args}, 1.0, {outs}, _i)
'''

_JACOBIAN_REVERSE = '''
def {name}({params}, _out_shape):
    # One reverse sweep per output: row j of the Jacobian is e_j^T J.
    _m = 1
    for _d in _out_shape:
        _m *= _d
    _jac = np.empty((_m, np.size({x})), np.float64)  # np.size: the argument may be a number
    for _j in range(_m):
        _seed = np.zeros(_m, np.float64)
        _seed[_j] = 1.0
        _swept = {vjp}({params}, _seed.reshape(_out_shape))
        if np.shape(_swept[0]) != _out_shape:
            raise ValueError({other_shape})
        _grad = _swept[1][0]
        assign(_jac[_j], np.ascontiguousarray(np.asarray(_grad)).reshape(np.size({x})))
    return _jac
'''


def _seeded_args(params, wrt, seeds, chunk):
    """The call's arguments with the differentiated one seeded with ``chunk`` directions from ``seeds``."""
    return ", ".join(f"seed_directions({p}, {seeds}, {chunk})" if k == wrt else p for k, p in enumerate(params))


def _batch_gradients(name, vjp, params, batched, wrts, into_rows):
    row_args = ", ".join(f"{p}[_i]" if k in batched else p for k, p in enumerate(params))
    store = "\n".join(f"        put_row(_out{j}, _i, _grads[{j}])" for j in range(len(wrts)))
    outs = ", ".join(f"_out{j}" for j in range(len(wrts)))
    template = _BATCH_GRAD_INTO_ROWS if into_rows else _BATCH_GRAD
    return function(template.format(name=name, params=", ".join(params), outs=outs, vjp=vjp,
                                    row_args=row_args, store=store))


def batch_grad(name, vjp, params, wrt, into_rows=False):
    """``name(X, ..., out, lo, hi)``: row i of ``out`` is the gradient of ``f(X[i], ...)`` w.r.t. ``X[i]``
    (``into_rows``: ``vjp`` is the form that computes it in the row, reverse/gradient_rows.py)."""
    return _batch_gradients(name, vjp, params, (wrt,), (wrt,), into_rows)


batch_grad.splits_rows = True
batch_grad.gradients_into_rows = True  # it can call the vjp's form that does (build.py)


@functools.cache
def batch_gradients(batched, wrts):
    """The driver maker for ``name(args...)`` whose arguments at the positions ``batched`` carry rows:
    row i of each result is the gradient of ``f`` at row i of those (the others shared, as
    ``jax.vmap``'s ``in_axes``) with respect to each argument of ``wrts``, written into one array
    per argument after the arguments (then ``lo, hi``).  One maker per (batched, wrts) (build caches
    key on it)."""
    def driver(name, vjp, params, wrt, into_rows=False):
        return _batch_gradients(name, vjp, params, batched, wrts, into_rows)
    driver.gradients_into_rows = True
    driver.__name__ = "batch_gradients_" + "_".join(map(str, batched)) + "_wrt_" + "_".join(map(str, wrts))
    driver.__doc__ = (f"``name(args..., outs..., lo, hi)``: per-row gradients with respect to arguments {wrts}, "
                      f"rows of arguments {batched}.")
    driver.splits_rows = True
    return driver


def jacobian_reverse(name, vjp, params, wrt):
    """``name(args..., out_shape)``: the (outputs x inputs) Jacobian, one compiled sweep per output row.

    One thread: a few sweeps of a small function lose more to waking threads (badly so on a
    loaded 2-core machine) than they gain.
    """
    return function(_JACOBIAN_REVERSE.format(name=name, params=", ".join(params), x=params[wrt], vjp=vjp,
                                             other_shape=repr(OTHER_SHAPE)))


# One reverse pass of vector mode: a dual cotangent carrying {chunk} output directions, so every
# adjoint is a dual and the differentiated argument's carries {chunk} rows of the Jacobian {out}.
# An output of another shape than _out_shape (a row's, in batch=True) is flagged in _other[{flag}].
_CHUNKED_PASS = '''_cotangent = make_dual(np.zeros(_out_shape), _seeds[_p].reshape(_out_shape + ({chunk},)), {chunk})
_swept = {vjp}({args}, _cotangent)
if np.shape(_swept[0]) != _out_shape:
    _other[{flag}] = True
else:
    _rows = tangents_of(_swept[1][0], {chunk})
    _start = _p * {chunk}
    _stop = min(_start + {chunk}, {out}.shape[0])
    assign({out}[_start:_stop], np.ascontiguousarray(_rows).reshape({out}.shape[1], {chunk}).T[:_stop - _start])'''


def _chunked_pass(vjp, args, chunk, out, indent, flag):
    return textwrap.indent(_CHUNKED_PASS.format(vjp=vjp, args=args, chunk=chunk, out=out, flag=flag), " " * indent)


_JACOBIAN_REVERSE_CHUNKED = '''
def {name}({params}, _out_shape, _seeds, _out):
    # Pass p pulls {chunk} output directions through one reverse sweep.
    _other = np.zeros(1, np.bool_)
    for _p in range(_seeds.shape[0]):
{body}
    if _other[0]:
        raise ValueError({other_shape})
    return _out
'''


@functools.cache
def jacobian_reverse_chunked(chunk):
    """The driver maker for ``name(args..., out_shape, seeds, out)``: the (outputs x inputs) Jacobian,
    ``chunk`` rows per compiled sweep.  One maker per chunk size (build caches key on it)."""
    def driver(name, vjp, params, wrt):
        body = _chunked_pass(vjp, ", ".join(params), chunk, "_out", 8, "0")
        return function(_JACOBIAN_REVERSE_CHUNKED.format(name=name, params=", ".join(params), chunk=chunk, body=body,
                                                         other_shape=repr(OTHER_SHAPE)))
    driver.__name__ = f"jacobian_reverse_chunked_{chunk}"
    driver.__doc__ = (f"``name(args..., out_shape, seeds, out)``: the (outputs x inputs) Jacobian, {chunk} rows "
                      f"per reverse sweep (a dual cotangent carries {chunk} output directions).")
    return driver


_ROW_JACOBIAN_REVERSE = '''
def {name}({params}, _out_shape, _seeds, _out, _lo, _hi):
    # Row i, pass p: {chunk} output directions through one reverse sweep of row i.
    _other = np.zeros(1, np.bool_)
    for _i in range(_lo, _hi):
        _out_i = _out[_i]
        for _p in range(_seeds.shape[0]):
{body}
    if _other[0]:
        raise ValueError({other_shape})
'''


@functools.cache
def row_jacobian_reverse(chunk):
    """The driver maker for ``name(X, ..., out_shape, seeds, out)``: per-row reverse Jacobians
    ``out[i] = dY[i]/dX[i]`` (outputs x inputs), ``chunk`` rows per sweep, rows over cores."""
    def driver(name, vjp, params, wrt):
        row_args = ", ".join(f"{p}[_i]" if k == wrt else p for k, p in enumerate(params))
        body = _chunked_pass(vjp, row_args, chunk, "_out_i", 12, "0")
        return function(_ROW_JACOBIAN_REVERSE.format(name=name, params=", ".join(params), x=params[wrt],
                                                   chunk=chunk, body=body, other_shape=repr(OTHER_SHAPE)))
    driver.__name__ = f"row_jacobian_reverse_{chunk}"
    driver.__doc__ = (f"``name(X, ..., out_shape, seeds, out, lo, hi)``: per-row reverse Jacobians, {chunk} "
                      f"output directions per sweep.")
    driver.splits_rows = True
    return driver


_ROW_JACOBIAN = '''
def {name}({params}, _directions, _out, _lo, _hi):
    # Row i, pass p: seed the row with {chunk} input directions, read {chunk} columns of its Jacobian.
    # A row whose output has another shape is flagged, and refused after the loop.
    _other = np.zeros(1, np.bool_)
    for _i in range(_lo, _hi):
        for _p in range(_directions.shape[0]):
            _{x}_row = seed({x}[_i], _directions[_p], {chunk})
            _y = {fwd}({row_args})
            _t = tangents_of(_y, {chunk})
            if _t.size != _out.shape[1] * {chunk}:
                _other[0] = True
            else:
                _start = _p * {chunk}
                _stop = min(_start + {chunk}, _out.shape[2])
                # contiguous first: the result may be a view (x[::-1], fuzz seed 29100212)
                assign(_out[_i, :, _start:_stop], np.ascontiguousarray(_t).reshape(_out.shape[1], {chunk})[:, :_stop - _start])
    if _other[0]:
        raise ValueError({other_shape})
'''


def row_jacobian(name, fwd, params, wrt, chunk):
    """``name(X, ..., directions, out, lo, hi)``: per-row forward Jacobians ``out[i] = dY[i]/dX[i]``."""
    x = params[wrt]
    row_args = ", ".join(f"_{x}_row" if k == wrt else p for k, p in enumerate(params))
    return function(_ROW_JACOBIAN.format(name=name, params=", ".join(params), x=x, fwd=fwd, row_args=row_args,
                                       chunk=chunk, other_shape=repr(OTHER_SHAPE)))


row_jacobian.reads_value = False  # only tangents: the forward sweep may skip values nothing else reads
row_jacobian.splits_rows = True


_ROW_BLOCKS = '''
def {name}({params}, _seeds, _out, _lo, _hi):
    # Blocks of {block} rows from row _lo (a multiple of {block}); pass p pushes {chunk} input
    # directions through a whole block.
    for _first in range(_lo, _hi, {block}):
        _last = min(_first + {block}, _hi)
        for _p in range(_seeds.shape[0]):
            _t = {rows}({block_args}, _seeds[_p])
            _t = np.ascontiguousarray(_t).reshape((_t.shape[0], _t.shape[1], _out.shape[1]))
            _start = _p * {chunk}
            _stop = min(_start + {chunk}, _out.shape[2])
            _one = _t.shape[1] == 1  # a tangent the same for every row (f linear in the row)
            for _r in range(_last - _first):
                _row = 0 if _one else _r
                for _j in range(_out.shape[1]):
                    for _d in range(_stop - _start):
                        _out[_first + _r, _j, _start + _d] = _t[_d, _row, _j]
'''


def row_blocks(name, rows, params, wrt, chunk, block):
    """``name(X, ..., seeds, out, lo, hi)``: per-row forward Jacobians ``out[i] = dY[i]/dX[i]``, a block of
    rows at a time."""
    x = params[wrt]
    block_args = ", ".join(f"{x}[_first:_last]" if k == wrt else p for k, p in enumerate(params))
    return function(_ROW_BLOCKS.format(name=name, params=", ".join(params), x=x, rows=rows, block_args=block_args,
                                     chunk=chunk, block=block))


row_blocks.splits_rows = True


_FORWARD_TANGENTS = '''
def {name}({params}, _seeds):
    # One forward pass: {x} carries the {chunk} directions in the columns of _seeds.
    _y = {fwd}({seeded_args})
    return output_tangents(_y, {chunk})
'''


_FORWARD_JACOBIAN = '''
def {name}({params}, _directions, _out):
    # Pass p seeds {x} with {chunk} input directions and fills {chunk} columns of the Jacobian.
    for _p in range(_directions.shape[0]):
        _y = {fwd}({seeded_args})
        _t = output_tangents(_y, {chunk})[1]
        if _directions.shape[0] == 1 and _t.shape[1] == _out.shape[1]:
            return _t  # one pass seeded every input: its tangents are the Jacobian (no copy)
        _start = _p * {chunk}
        _stop = min(_start + {chunk}, _out.shape[1])
        assign(_out[:, _start:_stop], _t[:, :_stop - _start])
    return _out
'''


def forward_jacobian(name, fwd, params, wrt, chunk):
    """``name(args..., directions, out)``: the (outputs x inputs) Jacobian, all passes in one compiled loop."""
    x = params[wrt]
    seeded = _seeded_args(params, wrt, "_directions[_p]", chunk)
    return function(_FORWARD_JACOBIAN.format(name=name, params=", ".join(params), x=x, fwd=fwd,
                                           seeded_args=seeded, chunk=chunk))


forward_jacobian.reads_value = False


def forward_tangents(name, fwd, params, wrt, chunk):
    """``name(args..., seeds)``: (value, J @ seeds) from one forward pass; duals never reach Python."""
    x = params[wrt]
    seeded = _seeded_args(params, wrt, "_seeds", chunk)
    return function(_FORWARD_TANGENTS.format(name=name, params=", ".join(params), x=x, fwd=fwd,
                                           seeded_args=seeded, chunk=chunk))


_HESSIAN_PASSES = '''
def {name}({params}, _directions, _out):
    # Pass p seeds {x} with {chunk} directions and pushes them through the gradient: its tangents are
    # {chunk} columns of the Hessian.  The dual cotangent makes every adjoint a dual from the start.
    for _p in range(_directions.shape[0]):
        _grad = {vjp}({seeded_args}, make_dual(1.0, np.zeros({chunk}), {chunk}))[1][0]
        _t = output_tangents(_grad, {chunk})[1]
        _start = _p * {chunk}
        _stop = min(_start + {chunk}, _out.shape[1])
        assign(_out[:, _start:_stop], _t[:, :_stop - _start])
    return _out
'''


@functools.cache
def hessian_passes(chunk):
    """The driver maker for ``name(args..., directions, out)``: the Hessian (forward over reverse),
    all passes of ``chunk`` directions in one compiled loop; ``vjp`` is built for a dual argument."""
    def driver(name, vjp, params, wrt):
        x = params[wrt]
        seeded = _seeded_args(params, wrt, "_directions[_p]", chunk)
        return function(_HESSIAN_PASSES.format(name=name, params=", ".join(params), x=x, vjp=vjp,
                                             seeded_args=seeded, chunk=chunk))
    driver.__name__ = f"hessian_passes_{chunk}"
    driver.__doc__ = f"``name(args..., directions, out)``: the Hessian, {chunk} columns per forward-over-reverse pass."
    return driver

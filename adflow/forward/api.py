"""Forward-mode API: ``jvp`` and the forward Jacobians ``jacobian`` uses."""
from __future__ import annotations

import threading

import numpy as np

from ..api import _argtypes, _code_identity, _is_float_type, _normalize_wrt, _prepare_args
from ..errors import ShapeError
from ..pipeline import build_forward
from .helpers import seed, tangents_of, value_of

_BUILDS: dict = {}
_LOCK = threading.RLock()


def _build(func, argtypes, wrt, chunk, target, driver=None):
    key = (_code_identity(func), argtypes, tuple(wrt), chunk, target, driver)
    entry = _BUILDS.get(key)
    if entry is None:
        with _LOCK:
            entry = _BUILDS.get(key)
            if entry is None:
                entry = build_forward(func, argtypes, wrt, chunk, target, driver) + (func,)
                _BUILDS[key] = entry
    return entry[:3]


def _float_positions(args):
    return tuple(k for k, t in enumerate(_argtypes(args)) if _is_float_type(t))


def _outputs(y, k):
    """(value, tangents shaped value.shape + (k,)) of a result that may not depend on the inputs."""
    if isinstance(y, tuple):
        raise ShapeError("forward mode needs a function returning one array or number, not a tuple")
    value = value_of(y)
    try:
        tangents = tangents_of(y)
    except TypeError:
        tangents = np.zeros(np.shape(value) + (k,))
    if np.ndim(value) == 0 and not hasattr(y, "tangents"):
        tangents = np.zeros(k)
    return value, np.asarray(tangents)


def jvp(func, primals, tangents, wrt=None, target="cpu"):
    """Jacobian-vector product by forward mode: returns ``(f(*primals), J @ tangents)``.

    ``primals`` is the tuple of arguments; ``tangents`` holds one direction per differentiated
    argument (all float arguments unless ``wrt`` is given), each shaped like its argument.

    >>> import numpy as np, adflow
    >>> def f(x):
    ...     return np.sin(x) * x[0]
    >>> y, y_dot = adflow.jvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    """
    if target == "cuda":  # no duals on the device: from reverse sweeps, adflow/backends/cuda.py
        from ..backends import cuda
        return cuda.jvp(func, primals, tangents, wrt)
    primals = _prepare_args(tuple(primals))
    if wrt is None:
        wrt = _float_positions(primals)
    wrt, _ = _normalize_wrt(wrt)
    tangents = tuple(tangents)
    if len(tangents) != len(wrt):
        raise ShapeError(f"jvp got {len(tangents)} tangents for {len(wrt)} differentiated arguments")
    for k, t in zip(wrt, tangents):
        if np.shape(t) != np.shape(primals[k]):
            raise ShapeError(f"the tangent for argument {k} has shape {np.shape(t)} but the argument has shape "
                             f"{np.shape(primals[k])}", hint="pass one tangent shaped like each differentiated argument")
    if len(wrt) == 1:
        # The common case runs through a compiled driver: no Python dual objects cross into numba.
        value, t = forward_pass(func, primals, wrt[0], np.asarray(tangents[0], np.float64).reshape(-1, 1), 1, target)
        return value, (t[:, 0].reshape(np.shape(value)) if np.ndim(value) else float(t[0, 0]))
    fwd, _, _ = _build(func, _argtypes(primals), wrt, 1, target)
    args = list(primals)
    for k, t in zip(wrt, tangents):
        t = np.asarray(t, dtype=np.float64)
        args[k] = seed(primals[k], t[..., None]) if np.ndim(primals[k]) else seed(float(primals[k]), float(t))
    value, y_tangents = _outputs(fwd(*args), 1)
    return value, (y_tangents[..., 0] if np.ndim(value) else float(y_tangents[0]))


def forward_pass(func, args, wrt, seeds, chunk, target):
    """(value, tangents (outputs, chunk)) of one compiled forward pass seeded with ``seeds`` (n, chunk)."""
    from ..backends.drivers import forward_tangents
    driver, _, _ = _build(func, _argtypes(args), (wrt,), chunk, target, driver=forward_tangents)
    return driver(*args, seeds)


def _directions(n, chunk, start):
    dirs = np.zeros((n, chunk))
    count = min(chunk, n - start)
    dirs[np.arange(start, start + count), np.arange(count)] = 1.0
    return dirs, count


def forward_jacobian(func, args, wrt, chunk, target):
    """Jacobian by ``ceil(n / chunk)`` forward passes, each seeding ``chunk`` input directions."""
    x = args[wrt]
    shape = np.shape(x)
    n = int(np.size(x))
    columns, out_shape = [], None
    for start in range(0, n, chunk):
        dirs, count = _directions(n, chunk, start)
        value, t = forward_pass(func, args, wrt, dirs, chunk, target)
        out_shape = np.shape(value)
        columns.append(t[:, :count])
    jac = columns[0] if len(columns) == 1 else np.concatenate(columns, axis=1)
    return jac.reshape(out_shape + shape)


def forward_jacobian_rows(func, args, wrt, chunk, target, out_shape):
    """Row-wise Jacobians ``Z[i] = dY[i]/dX[i]`` in one compiled loop over rows (spread over cores)."""
    from ..backends.drivers import row_jacobian
    rows = np.ascontiguousarray(args[wrt])
    one = list(args)
    one[wrt] = rows[0]
    driver, _, _ = _build(func, _argtypes(one), (wrt,), chunk, target, driver=row_jacobian)
    d_in = rows.shape[1]
    passes = -(-d_in // chunk)
    directions = np.stack([_directions(d_in, chunk, p * chunk)[0] for p in range(passes)])
    m = int(np.prod(out_shape, dtype=int))
    out = np.empty((rows.shape[0], m, d_in))
    call = list(args)
    call[wrt] = rows
    driver(*call, directions, out)
    return out.reshape((rows.shape[0],) + tuple(out_shape) + (d_in,))

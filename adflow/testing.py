"""Independent references for checking derivatives: central differences and the dot-product test.

>>> import numpy as np, adflow
>>> from adflow.testing import numerical_grad
>>> def f(x):
...     return np.sum(np.sin(x) * x)
>>> x = np.array([0.3, 1.2])
>>> bool(np.allclose(adflow.grad(f)(x), numerical_grad(f, (x,))[0], rtol=1e-6))
True
"""
from __future__ import annotations

import numpy as np


def _as_float_array(value):
    return np.array(value, dtype=np.float64, copy=True)


def numerical_grad(f, args, wrt=None, eps=1e-6):
    """Central-difference gradient of a scalar ``f`` with respect to each argument in ``wrt``."""
    args = [np.array(a, dtype=float) if isinstance(a, (list, tuple)) else a for a in args]
    wrt = range(len(args)) if wrt is None else wrt
    grads = []
    for k in wrt:
        base = _as_float_array(args[k])
        grad = np.zeros_like(base)
        flat = grad.reshape(-1)
        for j in range(base.size):
            step = eps * max(1.0, abs(base.reshape(-1)[j]))
            plus, minus = base.copy(), base.copy()
            plus.reshape(-1)[j] += step
            minus.reshape(-1)[j] -= step
            hi = f(*_replace(args, k, plus if base.ndim else float(plus)))
            lo = f(*_replace(args, k, minus if base.ndim else float(minus)))
            flat[j] = (np.sum(hi) - np.sum(lo)) / (2 * step)
        grads.append(grad if base.ndim else float(grad))
    return grads


def numerical_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of ``f`` at array ``x``: shape ``out.shape + x.shape``."""
    x = _as_float_array(x)
    y0 = np.asarray(f(x))
    jac = np.zeros(y0.shape + x.shape)
    for j in np.ndindex(x.shape):
        step = eps * max(1.0, abs(x[j]))
        plus, minus = x.copy(), x.copy()
        plus[j] += step
        minus[j] -= step
        jac[(Ellipsis,) + j] = (np.asarray(f(plus)) - np.asarray(f(minus))) / (2 * step)
    return jac


def _replace(args, k, value):
    out = list(args)
    out[k] = value
    return out


def dot_product_test(jvp_value, vjp_value, tangent, cotangent, rtol=1e-10):
    """``<J t, c> == <t, J^T c>``: forward and reverse mode must agree on every direction."""
    lhs = float(np.sum(np.asarray(jvp_value) * np.asarray(cotangent)))
    rhs = float(np.sum(np.asarray(tangent) * np.asarray(vjp_value)))
    return abs(lhs - rhs) <= rtol * max(1.0, abs(lhs), abs(rhs))

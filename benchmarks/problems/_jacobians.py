"""Peer columns for a full Jacobian of ``f(x, *consts)`` with respect to ``x`` (dense).

wide_to_narrow, narrow_to_wide and sparse_pde ask the same question of the peers, so their
columns are built here once from a *port*: ``port(xp)`` returns the function written against
the array namespace ``xp`` (``jax.numpy``, ``torch`` or ``autograd.numpy``, which share the
names used: sin, cos, tanh, exp, sum, concatenate).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..core import Column, jax, need, torch

Port = Callable[[object], Callable]
Args = Callable[[dict], tuple]   # data -> (x, *consts) as numpy arrays


def _jax(port: Port, args: Args, transform: str):
    def build(d):
        jx = jax()
        J = jx.jit(getattr(jx, transform)(port(jx.numpy)))
        a = [jx.numpy.asarray(v) for v in args(d)]
        return lambda: np.asarray(J(*a))
    return build


def _torch_func(port: Port, args: Args, transform: str):
    def build(d):
        th = torch()
        J = getattr(th.func, transform)(port(th))
        a = [th.from_numpy(v) for v in args(d)]
        return lambda: J(*a).numpy()
    return build


def _torch_jacobian(port: Port, args: Args):
    def build(d):
        th = torch()
        f = port(th)
        x, *c = [th.from_numpy(v) for v in args(d)]
        jac = th.autograd.functional.jacobian
        return lambda: jac(lambda xx: f(xx, *c), x, vectorize=True).numpy()
    return build


def _torch_onehot(port: Port, args: Args):
    """The naive way: one forward pass, then one ``backward`` per output with a one-hot seed."""
    def build(d):
        th = torch()
        f = port(th)
        x0, *c = [th.from_numpy(v) for v in args(d)]

        def run():
            x = x0.clone().requires_grad_(True)
            y = f(x, *c)
            J = np.empty((y.shape[0], x.shape[0]))
            seed = th.zeros_like(y)
            for i in range(y.shape[0]):
                seed[i] = 1.0
                (g,) = th.autograd.grad(y, x, seed, retain_graph=True)
                J[i] = g.numpy()
                seed[i] = 0.0
            return J
        return run
    return build


def _autograd(port: Port, args: Args):
    def build(d):
        J = need("autograd").jacobian(port(need("autograd.numpy")))
        a = args(d)
        return lambda: J(*a)
    return build


def peer_columns(port: Port, args: Args, onehot_probe: bool = False) -> list[Column]:
    """The dense-Jacobian columns of every peer, in table order."""
    return [
        Column("jax jit(jacrev)", "jax", _jax(port, args, "jacrev")),
        Column("jax jit(jacfwd)", "jax", _jax(port, args, "jacfwd")),
        Column("torch.func.jacrev", "torch", _torch_func(port, args, "jacrev")),
        Column("torch.func.jacfwd", "torch", _torch_func(port, args, "jacfwd")),
        Column("torch jacobian(vectorize=True)", "torch", _torch_jacobian(port, args)),
        Column("torch one-hot backward loop", "torch", _torch_onehot(port, args),
               probe=onehot_probe),
        Column("autograd jacobian", "autograd", _autograd(port, args)),
    ]

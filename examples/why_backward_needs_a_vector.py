"""Why does backward need a vector?  VJP, JVP and the full Jacobian on the three classic examples.

Reverse mode computes a *vector-Jacobian product* ``v^T J``: for a scalar output ``v = 1`` and
you get the gradient, but for a vector output ``y`` you must say how to weight its components,
which is what PyTorch's ``y.backward(v)`` / ``grad_outputs=v`` asks for.  adflow makes it
explicit: ``y, pullback = adflow.vjp(f, *args)`` and then ``pullback(v)``.  ``v^T J`` is the
gradient of the scalar ``sum(v * f(x))``, and the generated code (printed at the end:
``pullback.source``, ``adflow.grad(f).source`` after a call, or ``.source_for(*args)``) shows
exactly that.

Forward mode computes a *Jacobian-vector product* ``J t`` instead (``adflow.jvp``); the full
Jacobian (``adflow.jacobian``) holds all of them: ``v^T J`` and ``J t`` are its contractions.

Run:  python examples/why_backward_needs_a_vector.py   (no --fast needed: the inputs are tiny)
"""
import sys

import numpy as np

import adflow


# 1. y = 3a + 2b*b + log(c), elementwise: the Jacobian of each argument is diagonal.
def classic_a(a, b, c):
    return 3 * a + 2 * b * b + np.log(c)


# 2. y = outer(x, x): a matrix output, so v is a matrix too.
def classic_b(x):
    return np.outer(x, x)


# 3. a small nonlinear system, R^3 -> R^3.
def classic_c(x):
    x1, x2, x3 = x[0], x[1], x[2]
    return np.array([x1 ** 3 + 2 * x2 ** 2 + 3 * x3,
                     3 * x1 + 2 * x2 ** 2 + x3 ** 3,
                     2 * x1 + x2 ** 3 + 3 * x3 ** 2])


# The VJP of classic_a is the gradient of the weighted sum: what backward(v) differentiates.
def weighted_a(a, b, c, v):
    return np.sum(v * classic_a(a, b, c))


def show(label, got, expected):
    print(f"  {label:<28} {np.array2string(np.asarray(got), precision=6)}")
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def main(fast=False, print_code=True):
    a, b, c = np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0])
    v = np.array([0.1, 1.0, 0.0001])

    print("1. y = 3a + 2b*b + log(c),  v = [0.1, 1, 1e-4]")
    y, pullback = adflow.vjp(classic_a, a, b, c)           # y is a vector: a gradient needs v
    ga, gb, gc = pullback(v)                               # one reverse sweep gives all three
    show("v^T dy/da  (= 3 v)", ga, [0.3, 3.0, 3e-4])
    show("v^T dy/db  (= 4 b v)", gb, [1.2, 16.0, 2e-3])
    show("v^T dy/dc  (= v / c)", gc, [1 / 60, 1 / 7, 1.25e-5])
    # The same numbers as the gradient of the scalar sum(v * y):
    weighted_grad = adflow.grad(weighted_a, wrt=(0, 1, 2))
    same = weighted_grad(a, b, c, v)
    for g, h in zip((ga, gb, gc), same):
        np.testing.assert_allclose(g, h, rtol=1e-14)
    # ... and as a contraction of the full Jacobian (3 x 3, diagonal here): v^T J.
    J_a = adflow.jacobian(classic_a, wrt=0)(a, b, c)
    print(f"  full Jacobian dy/da = diag({np.diag(J_a)}); v @ J = {v @ J_a}")
    np.testing.assert_allclose(v @ J_a, ga, rtol=1e-12)

    print("\n2. y = outer(x, x),  x = [1, 2, 3, 4],  v = ones((4, 4))")
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y, pullback = adflow.vjp(classic_b, x)
    (gx,) = pullback(np.ones((4, 4)))                     # v has y's shape: (4, 4)
    show("v^T J  (= 2 sum(x))", gx, [20.0, 20.0, 20.0, 20.0])
    J = adflow.jacobian(classic_b)(x)                      # shape out.shape + in.shape = (4, 4, 4)
    print(f"  full Jacobian shape {J.shape}; summed over the output axes: {J.sum(axis=(0, 1))}")
    np.testing.assert_allclose(J.sum(axis=(0, 1)), gx, rtol=1e-12)

    print("\n3. the cubic system at x = (1, 2, 3),  v = [3, 2, 1]")
    x = np.array([1.0, 2.0, 3.0])
    y, pullback = adflow.vjp(classic_c, x)
    (gx,) = pullback(np.array([3.0, 2.0, 1.0]))
    show("y", y, [18.0, 38.0, 37.0])
    show("v^T J", gx, [17.0, 52.0, 81.0])
    jac = adflow.jacobian(classic_c)
    J = jac(x)
    print(f"  J = {np.array2string(J, prefix='  J = ')}")
    print(f"  ({jac.plan})")
    np.testing.assert_allclose(J, [[3.0, 8.0, 3.0], [3.0, 8.0, 27.0], [2.0, 12.0, 18.0]], rtol=1e-12)
    # Forward mode goes the other way: J t, how y moves when x moves along t (one pass).
    _, Jt = adflow.jvp(classic_c, (x,), (np.array([1.0, 0.0, 0.0]),))
    show("J t,  t = [1, 0, 0]  (jvp)", Jt, J[:, 0])

    if print_code:
        print("\nThe generated reverse-mode code of example 1 (pullback.source):")
        _, pullback = adflow.vjp(classic_a, a, b, c)
        print(pullback.source)
        print("and of the weighted sum sum(v * y) (weighted_grad.source, after the call above):")
        text = weighted_grad.source
        # .source_for(*args) gives the code for example arguments without a call first
        assert text == adflow.grad(weighted_a, wrt=(0, 1, 2)).source_for(a, b, c, v)
        print(text[text.index("def weighted_a_vjp"):])
    return gx


if __name__ == "__main__":
    main(fast="--fast" in sys.argv[1:])

"""A function that assigns a new value to a name that already holds one: its own argument, a
local, a tuple swap, in straight-line code, in branches and before loops.

Reversing ``a = e`` hands ``a_bar`` to ``e`` and must then restart ``a_bar`` at zero for the value
``a`` held before.  An argument holds a value before the first statement, so ``a = a * 3.0`` is a
second assignment of ``a``: once missed, its gradient came out as 4.0 (3.0 plus the 1.0 of the
identity).  Every expected value here is a closed form or a central difference, never another of
adflow's modes.
"""
import math

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian


def scale_arg(a):
    a = a * 3.0
    return a


def scale_arg_inplace(a):
    a *= 2.0
    return a


def sin_arg(a):
    a = np.sin(a)
    return a


def swap(a, b):
    a, b = b, a * b
    return a + 2.0 * b


def scale_in_branch(a):
    if a > 0:
        a = a * 2.0
    return a


def square_twice(a):
    a = a * a
    y = a * a
    return y


def normalize_first(x):
    x = x / np.sqrt(np.sum(x * x))
    return x[0]


def drop_first(x):
    x = x[1:]
    return np.sum(x * x)


def transposed(X):
    X = X.T
    return np.sum(X[0] * np.arange(1.0, 3.0))


def float_and_copy(a, x):
    a = float(a)
    x = x.copy()
    x = np.asarray(x)
    return a * np.sum(x * x)


def before_loop(x, n):
    x = x * 2.0
    s = 0.0
    for i in range(n):
        s = s + x[i] ** 2
    return s


def local_rebound(x):
    s = x * x
    s = np.sin(s)
    t = s * 2.0
    s = t + s
    return s


def array_scaled_in_place(x):
    x = x.copy()
    x *= 2.0
    return np.sum(x ** 3)


def rebound_in_both_branches(a, b):
    if b > 1.0:
        a = a * b
    else:
        a = a + b
    a = np.exp(a)
    return a


def triple(a):
    a = a * 3.0
    return a


def tail_squared(x):
    x = x[1:]
    return x * x


def through_helpers(a, x):
    # helpers are reversed by the same transform: their own arguments are rebound too
    return triple(a) + np.sum(tail_squared(x))


def argument_scaled_in_place(x):
    x *= 2.0  # the caller's array, as Python runs it; adflow works on a copy
    return np.sum(x ** 3)


def argument_element_rebound(x):
    x[0] = x[0] * 2.0
    return np.sum(x ** 3)


# (function, arguments, closed-form gradient with respect to every argument)
CASES = [
    (scale_arg, (0.7,), lambda a: (3.0,)),
    (scale_arg_inplace, (0.7,), lambda a: (2.0,)),
    (sin_arg, (0.7,), lambda a: (math.cos(a),)),
    (swap, (0.7, 2.0), lambda a, b: (2.0 * b, 1.0 + 2.0 * a)),
    (scale_in_branch, (0.7,), lambda a: (2.0,)),
    (scale_in_branch, (-0.7,), lambda a: (1.0,)),
    (square_twice, (0.7,), lambda a: (4.0 * a ** 3,)),
    (normalize_first, (np.array([0.3, 0.4, 1.2]),),
     lambda x: ((np.eye(3)[0] - x[0] * x / np.sum(x * x)) / np.sqrt(np.sum(x * x)),)),
    (drop_first, (np.array([0.3, 0.4, 1.2]),), lambda x: (np.concatenate([[0.0], 2.0 * x[1:]]),)),
    (transposed, (np.array([[0.3, 0.4, 1.2], [0.5, 0.6, 0.7]]),),
     lambda X: (np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]),)),
    (float_and_copy, (1.5, np.array([0.3, 0.4])), lambda a, x: (np.sum(x * x), 2.0 * a * x)),
    (array_scaled_in_place, (np.array([0.3, -0.4]),), lambda x: (24.0 * x ** 2,)),
    (local_rebound, (0.7,), lambda x: (3.0 * math.cos(x * x) * 2.0 * x,)),
    (rebound_in_both_branches, (0.3, 2.0), lambda a, b: (b * math.exp(a * b), a * math.exp(a * b))),
    (rebound_in_both_branches, (0.3, 0.5), lambda a, b: (math.exp(a + b),) * 2),
    (through_helpers, (0.7, np.array([0.3, 0.4, 1.2])), lambda a, x: (3.0, np.array([0.0, 0.8, 2.4]))),
    (argument_scaled_in_place, (np.array([0.3, -0.4]),), lambda x: (24.0 * x ** 2,)),
    (argument_element_rebound, (np.array([0.3, -0.4]),), lambda x: (np.array([24.0, 3.0]) * x ** 2,)),
]
IDS = [f"{f.__name__}{i}" for i, (f, _, _) in enumerate(CASES)]


def fresh(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


@pytest.mark.parametrize("f, args, expected", CASES, ids=IDS)
def test_gradient_of_rebinding(f, args, expected, target):
    wrt = tuple(range(len(args)))
    before = fresh(args)
    value, grads = adflow.value_and_grad(f, wrt=wrt, target=target)(*args)
    for arg, kept in zip(args, before):
        np.testing.assert_array_equal(arg, kept)  # never the caller's arrays
    assert np.allclose(value, f(*fresh(args)), rtol=1e-13)
    for g, e, d in zip(grads, expected(*args), numerical_grad(f, fresh(args))):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g, d, rtol=1e-6, atol=1e-8)
    for g, e in zip(adflow.grad(f, wrt=wrt, target=target)(*args), expected(*args)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)


def test_rebinding_before_a_loop(target):
    x = np.array([0.3, -0.5, 0.8])
    g = adflow.grad(before_loop, target=target)(x, 2)
    np.testing.assert_allclose(g, [8.0 * x[0], 8.0 * x[1], 0.0], rtol=1e-13)


def normalized(x):
    x = x / np.sqrt(np.sum(x * x))
    return x


def tail_squares(x):
    x = x[1:]
    x = x * x
    return x


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [normalized, tail_squares])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_of_rebinding(f, mode, target):
    x = np.array([0.3, 0.4, 1.2, -0.6])
    J = adflow.jacobian(f, mode=mode, target=target)(x)
    np.testing.assert_allclose(J, numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [normalized, tail_squares])
def test_vjp_of_rebinding(f, target):
    x = np.array([0.3, 0.4, 1.2, -0.6])
    y, pullback = adflow.vjp(f, x, target=target)
    v = np.linspace(0.5, 1.5, y.size)
    (xbar,) = pullback(v)
    np.testing.assert_allclose(xbar, v @ numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.cpu_slow
def test_row_jacobian_of_rebinding(target):
    X = np.array([[0.3, 0.4, 1.2], [0.5, -0.2, 0.1]])
    Z = adflow.jacobian(normalized, batch=True, target=target)(X)
    for i in range(X.shape[0]):
        np.testing.assert_allclose(Z[i], numerical_jacobian(normalized, X[i]), rtol=1e-6, atol=1e-8)


@pytest.mark.cpu_slow
def test_second_derivatives_of_rebinding(target):
    assert adflow.hessian(square_twice, target=target)(0.7) == pytest.approx(12.0 * 0.49, rel=1e-13)
    x = np.array([0.3, 0.4, 1.2])
    H = adflow.hessian(drop_first, target=target)(x)
    np.testing.assert_allclose(H, np.diag([0.0, 2.0, 2.0]), atol=1e-13)
    v = np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(adflow.hvp(drop_first, target=target)(x, v), [0.0, -2.0, 1.0], atol=1e-13)


def test_forward_mode_of_rebinding(target):
    _, t = adflow.jvp(swap, (0.7, 2.0), (1.0, 0.0), target=target)
    assert t == pytest.approx(4.0, rel=1e-13)
    _, t = adflow.jvp(square_twice, (0.7,), (1.0,), target=target)
    assert t == pytest.approx(4.0 * 0.7 ** 3, rel=1e-13)


def quartic(a):
    return a ** 4


def test_derivative_objects_are_differentiated_not_their_source():
    # grad(grad(f)) once returned f' (the inner object's state was copied over the outer one); now the
    # derivatives compose (adflow/compose.py), or a third derivative is refused.
    a = 0.7
    assert adflow.grad(adflow.grad(quartic))(a) == pytest.approx(12.0 * a ** 2, rel=1e-13)
    assert adflow.jacobian(adflow.grad(quartic))(a) == pytest.approx(12.0 * a ** 2, rel=1e-13)
    value, slope = adflow.value_and_grad(adflow.jacobian(quartic))(a)
    assert (value, slope) == pytest.approx((4.0 * a ** 3, 12.0 * a ** 2), rel=1e-13)
    with pytest.raises(adflow.NonDifferentiableError, match="would be a third derivative"):
        adflow.hessian(adflow.hvp(quartic))
    _, pullback = adflow.vjp(quartic, a, target="python")
    (y,), (y_dot,) = adflow.jvp(pullback, (1.0,), (2.0,))
    assert (y, y_dot) == pytest.approx((4.0 * a ** 3, 8.0 * a ** 3), rel=1e-13)
    g = adflow.grad(quartic, target="python")
    assert g(a) == pytest.approx(4.0 * a ** 3)  # the wrapped object still works


def pair(x, y):
    return x * y


def test_jvp_refuses_bare_arrays():
    x, t = np.array([0.5, 1.0]), np.ones(2)
    with pytest.raises(adflow.ArgumentError, match="jvp takes its primals as a tuple"):
        adflow.jvp(pair, x, t)
    with pytest.raises(adflow.ArgumentError, match="jvp takes its tangents as a tuple"):
        adflow.jvp(pair, (0.5, 1.0), 1.0)
    y, ydot = adflow.jvp(pair, [0.5, 1.0], [1.0, 0.0], target="python")
    assert (y, ydot) == (0.5, 1.0)


def test_source_edited_after_import_is_refused(tmp_path, monkeypatch):
    # The code object's line now holds another function: differentiating that text would give the
    # derivative of the wrong function (seen when a test file was edited during a run).
    import importlib
    import linecache
    path = tmp_path / "edited_module.py"
    path.write_text("def a(x):\n    return x * 2.0\n\n\ndef b(x):\n    return x * 3.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited_module")
    path.write_text("g = lambda x: x * 7.0\n\n\n\ndef a(x):\n    return x * 2.0\n")
    linecache.clearcache()
    with pytest.raises(adflow.SourceUnavailableError, match="has changed since it was imported"):
        adflow.grad(module.b, target="python")(1.0)


def rebound_but_unused(x, a):
    x = x[1:] * a
    return np.ones(2) * a


def test_zero_gradient_of_a_rebound_argument_has_its_shape(target):
    # fuzz seed 888116: the zeros of an argument the result does not depend on were shaped like its
    # last value (x[1:]), not like the argument
    y, pullback = adflow.vjp(rebound_but_unused, np.array([0.3, 0.5, 0.7]), 0.7, target=target)
    x_bar, a_bar = pullback(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(x_bar, np.zeros(3))
    assert a_bar == pytest.approx(3.0)

"""Python and NumPy the way people write it: reductions along an axis, helpers called for their
side effects, lists, np.atleast_*d, nested functions, bound methods and callable objects.

Every derivative is checked against an independent reference: a closed form or central
differences (adflow.testing), on both the Python and the CPU targets.
"""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian


def hessian_by_differences(f, x, eps=1e-5):
    """Central differences of the gradient, itself checked against differences of f."""
    gradient = adflow.grad(f, target="python")
    n = x.size
    H = np.zeros((n, n))
    for j in range(n):
        step = np.zeros(n)
        step[j] = eps
        step = step.reshape(x.shape)
        H[:, j] = ((gradient(x + step) - gradient(x - step)) / (2 * eps)).ravel()
    return H.reshape(x.shape + x.shape)


def check_every_mode(f, x, target, hessian=True):
    """grad against differences of f, forward Jacobian against differences, Hessian against
    differences of the gradient."""
    g = adflow.grad(f, target=target)(x)
    np.testing.assert_allclose(g, numerical_grad(f, (x,))[0], rtol=1e-6, atol=1e-8)
    J = adflow.jacobian(f, mode="forward", target=target)(x)
    np.testing.assert_allclose(J, numerical_grad(f, (x,))[0], rtol=1e-6, atol=1e-8)
    if hessian:
        H = adflow.hessian(f, target=target)(x)
        np.testing.assert_allclose(H, hessian_by_differences(f, x), rtol=1e-5, atol=1e-6)


# ============================================================================ reductions along an axis

X0 = np.array([[0.3, -1.2, 0.8, 0.5], [1.1, 0.4, -0.6, 0.9], [-0.8, 1.5, 0.2, -0.3]])


def reductions_along_axes(X):
    return (np.sum(np.max(X, axis=0) ** 2) + np.sum(np.sin(np.min(X, axis=1)))
            + np.sum(np.mean(X, axis=-1) ** 3) + np.sum(np.prod(X, axis=0) * np.amax(X, 1)[0])
            + np.sum(np.sum(X * X, axis=1) ** 2))


@pytest.mark.cpu_slow
def test_reductions_along_an_axis_in_every_mode(target):
    check_every_mode(reductions_along_axes, X0, target)


def column_maxima(X):
    return np.max(X, axis=0)


@pytest.mark.cpu_slow
def test_vjp_of_max_along_an_axis(target):
    # The maximum of each column takes the whole cotangent of that column.
    y, back = adflow.vjp(column_maxima, X0, target=target)
    np.testing.assert_array_equal(y, X0.max(axis=0))
    ct = np.array([1.0, -2.0, 0.5, 3.0])
    (X_bar,) = back(ct)
    expected = np.zeros_like(X0)
    expected[X0.argmax(axis=0), np.arange(4)] = ct
    np.testing.assert_array_equal(X_bar, expected)
    np.testing.assert_allclose(adflow.jacobian(column_maxima, mode="forward", target=target)(X0),
                               numerical_jacobian(column_maxima, X0), rtol=1e-6, atol=1e-8)


def squared_column_means(X):
    return np.sum(np.mean(X, axis=0) ** 2)


@pytest.mark.cpu_slow
def test_hessian_through_mean_along_an_axis_closed_form(target):
    # f = sum_j (sum_i X_ij / m)^2: d2f/dX_ij dX_kl = 2 / m^2 when j == l.
    m, n = X0.shape
    H = adflow.hessian(squared_column_means, target=target)(X0)
    expected = np.einsum("ik,jl->ijkl", np.ones((m, m)), np.eye(n)) * 2.0 / m ** 2
    np.testing.assert_allclose(H, expected, rtol=1e-12, atol=1e-14)


def max_along_rows_3d(T):
    return np.sum(np.max(T, axis=1) * np.mean(T, axis=2)[:, :1])


@pytest.mark.cpu_slow
def test_reductions_of_three_dimensional_arrays(target):
    T = np.random.default_rng(3).standard_normal((2, 3, 4))
    g = adflow.grad(max_along_rows_3d, target=target)(T)
    np.testing.assert_allclose(g, numerical_grad(max_along_rows_3d, (T,))[0], rtol=1e-6, atol=1e-8)


# ============================================================================ np.atleast_1d/2d/3d

W2 = np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.6]])


def at_least(x):
    a = np.atleast_1d(x[0] * x[1])
    b = np.atleast_2d(x) * W2[0]
    c = np.atleast_3d(np.sin(x))
    d = np.atleast_2d(x[2])
    return np.sum(a * x) + np.sum(b * b) + np.sum(c[0, :, 0] * W2[1]) + d[0, 0] ** 3


@pytest.mark.slow  # a Hessian's dual rules for five atleast forms: 7.5 s on python
def test_at_least_in_every_mode(target):
    check_every_mode(at_least, np.array([0.4, -0.9, 1.3]), target)


# ============================================================================ helpers called for their side effects

from inline_helpers import fill_scaled  # noqa: E402

SCALE = -100.0  # not the helper module's SCALE: the helper reads its own


def fill_squares(out, x):
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i]


def fills_an_array(x):
    out = np.zeros(x.shape[0])
    fill_squares(out, x)
    return np.sum(out * x)


def add_sines(out, x, a=2.0):
    """Writes into out and returns a value; returns early from inside its loop."""
    if a < 0.0:
        return 0.0
    for i in range(x.shape[0]):
        if x[i] > 10.0:
            return -1.0
        out[i] = out[i] + a * np.sin(x[i])
    return np.sum(out)


def uses_value_and_effect(x):
    out = np.ones(x.shape[0])
    s = add_sines(out, x, 3.0)   # its value, and what it did to out
    add_sines(out, x * 2.0)      # only what it did to out (default a)
    fill_scaled(out, out * x)    # from another module, with its own SCALE and sine
    return s * np.sum(out * out)


def closed_form_fills(x):
    return np.sum(x ** 3)


X1 = np.array([0.7, 0.3, 0.9])


@pytest.mark.cpu_slow
def test_helper_filling_an_array_closed_form(target):
    # sum(x^2 * x): gradient 3 x^2, Hessian diag(6 x).
    np.testing.assert_allclose(adflow.grad(fills_an_array, target=target)(X1), 3 * X1 ** 2, rtol=1e-13)
    np.testing.assert_allclose(adflow.jacobian(fills_an_array, mode="forward", target=target)(X1), 3 * X1 ** 2,
                               rtol=1e-13)
    np.testing.assert_allclose(adflow.hessian(fills_an_array, target=target)(X1), np.diag(6 * X1), rtol=1e-13)


@pytest.mark.cpu_slow
def test_helpers_writing_into_arguments_in_every_mode(target):
    check_every_mode(uses_value_and_effect, X1, target)


def test_inputs_filled_by_a_helper_are_not_changed(target):
    def fills_its_argument(x, out):
        fill_squares(out, x)
        return np.sum(out)
    out = np.full(3, 7.0)
    g = adflow.grad(fills_its_argument, wrt=(0, 1), target=target)(X1, out)
    np.testing.assert_array_equal(out, np.full(3, 7.0))
    np.testing.assert_allclose(g[0], 2 * X1, rtol=1e-13)
    np.testing.assert_array_equal(g[1], np.zeros(3))  # overwritten before it is read


def doubles_first_returns_second(v):
    v[0] = v[0] * 2.0
    return v[1] * v[0]


def calls_writing_helper(x):
    return doubles_first_returns_second(x) * 2.0 + x[0]   # reads x[0] after the helper doubled it


def test_helper_writing_into_the_callers_argument(target):
    # f = 2 x1 (2 x0) + 2 x0: gradient (4 x1 + 2, 4 x0); the caller's array is not changed.
    x = np.array([1.5, 2.0])
    g = adflow.grad(calls_writing_helper, target=target)(x)
    np.testing.assert_array_equal(x, [1.5, 2.0])
    np.testing.assert_allclose(g, [4 * 2.0 + 2.0, 4 * 1.5], rtol=1e-14)
    assert adflow.value_and_grad(calls_writing_helper, target=target)(x)[0] == calls_writing_helper(x.copy())


# ============================================================================ nested functions

def with_nested_functions(x):
    c = 2.0 * x[0]

    def h(u, k=3.0):
        if u > 0.5:
            return c * u * k     # reads c as it is when h is called
        return u * u
    sq = lambda u: u * np.cos(u)  # noqa: E731
    out = np.zeros(3)

    def put(i, v):
        out[i] = v               # writes into the caller's array
    put(1, h(x[1]))
    c = c + x[2]
    return h(x[0]) + h(x[1], 1.0) + sq(x[2]) + out[1]


def with_nested_functions_by_hand(x):
    c0 = 2.0 * x[0]
    first = c0 * x[1] * 3.0 if x[1] > 0.5 else x[1] * x[1]
    c1 = c0 + x[2]
    hx0 = c1 * x[0] * 3.0 if x[0] > 0.5 else x[0] * x[0]
    hx1 = c1 * x[1] if x[1] > 0.5 else x[1] * x[1]
    return hx0 + hx1 + x[2] * np.cos(x[2]) + first


@pytest.mark.cpu_slow
@pytest.mark.parametrize("x", [X1, np.array([0.2, 0.8, -0.4])], ids=["branch", "other_branch"])
def test_nested_functions_in_every_mode(x, target):
    assert with_nested_functions(x) == pytest.approx(with_nested_functions_by_hand(x), rel=1e-14)
    check_every_mode(with_nested_functions, x, target)


# ============================================================================ lists of numbers

def list_literal(x):
    v = [x[0] * 2.0, x[1] + x[0]]
    return v[0] * v[1]


def appended(x):
    w = []
    for i in range(x.shape[0]):
        w.append(x[i] ** 2)
    return w[0] * w[2] + sum(w)


@pytest.mark.cpu_slow
def test_lists_closed_form(target):
    x = X1
    np.testing.assert_allclose(adflow.grad(list_literal, target=target)(x),
                               [4 * x[0] + 2 * x[1], 2 * x[0], 0.0], rtol=1e-14)
    # x0^2 x2^2 + sum x^2
    np.testing.assert_allclose(adflow.grad(appended, target=target)(x),
                               [2 * x[0] * x[2] ** 2 + 2 * x[0], 2 * x[1], 2 * x[2] * x[0] ** 2 + 2 * x[2]],
                               rtol=1e-14)


def list_uses(x):
    v = [x[0] * 2.0, x[1] + x[0]]
    w = []
    for i in range(x.shape[0]):
        w.append(x[i] ** 2)
    w.append(np.sin(x[0]))
    u = w[1:]                 # a copy: writing into it leaves w alone
    u[0] = 3.0 * u[0]
    t = 0.0
    for e in v:
        t = t + e * e
    m = max([x[1], x[2], 0.1])
    return v[0] * v[1] + w[2] * len(w) + sum(w) + np.sum(np.array(w) * 2.0) + u[0] + w[1] + t + m + min(v)


@pytest.mark.cpu_slow
def test_lists_in_every_mode(target):
    assert adflow.value_and_grad(list_uses, target=target)(X1)[0] == pytest.approx(list_uses(X1), rel=1e-14)
    check_every_mode(list_uses, X1, target)


def integer_list_as_index(x):
    idx = [0, 2]
    return x[idx[1]]


def test_an_integer_list_is_a_float_array(target):
    # Loud, not a wrong number: numba refuses a float index.
    with pytest.raises(adflow.TypingError) as info:
        adflow.grad(integer_list_as_index, target=target)(X1)
    assert info.value.location.lineno == line_of(integer_list_as_index, "return x[idx[1]]")


# ============================================================================ bound methods and callable objects

class Offsets:
    def __init__(self, c):
        self.c = c


class Model:
    """Attributes read by the methods: arrays, a number, an object holding an array, a method."""

    def __init__(self, w, scale):
        self.w = w
        self.scale = scale
        self.offsets = Offsets(np.array([0.5, -1.0, 2.0]))

    def predict(self, x):
        return np.tanh(self.w * x) * self.scale

    def loss(self, x):
        p = self.predict(x)
        return np.sum(p * p) + self.offsets.c[0] * x[0] + x.shape[0] * self.scale

    def __call__(self, x):
        return np.sum(np.sin(x) * self.w)


def loss_gradient(m, x):
    p = np.tanh(m.w * x) * m.scale
    return 2 * p * m.scale * m.w / np.cosh(m.w * x) ** 2 + np.array([m.offsets.c[0], 0.0, 0.0])


@pytest.mark.cpu_slow
def test_bound_methods_and_callable_objects_closed_form(target):
    m = Model(np.array([1.0, 2.0, 3.0]), 0.5)
    x = np.array([0.3, -0.2, 0.1])
    g = adflow.grad(m.loss, target=target)
    np.testing.assert_allclose(g(x), loss_gradient(m, x), rtol=1e-13)
    np.testing.assert_allclose(adflow.grad(m, target=target)(x), np.cos(x) * m.w, rtol=1e-14)
    J = adflow.jacobian(m.predict, mode="forward", target=target)(x)
    np.testing.assert_allclose(J, np.diag(m.scale * m.w / np.cosh(m.w * x) ** 2), rtol=1e-13)
    _, y_dot = adflow.jvp(m.predict, (x,), (np.ones(3),), target=target)
    np.testing.assert_allclose(y_dot, J.sum(axis=1), rtol=1e-13)
    H = adflow.hessian(m.loss, target=target)(x)
    np.testing.assert_allclose(H, hessian_by_differences(m.loss, x), rtol=1e-5, atol=1e-6)
    # Each call reads the attributes as they are then: a rebound number, an array written into.
    m.scale = 2.0
    np.testing.assert_allclose(g(x), loss_gradient(m, x), rtol=1e-13)
    m.w[0] = -3.0
    m.offsets.c[0] = 4.0
    np.testing.assert_allclose(g(x), loss_gradient(m, x), rtol=1e-13)


class Misuses:
    def __init__(self):
        self.table = {"a": 1.0}
        self.w = np.ones(3)

    def passes_self(self, x):
        return helper_of(self, x)

    def reads_a_dict(self, x):
        return x * self.table["a"]

    def stores(self, x):
        self.w = x
        return np.sum(x)


def helper_of(obj, x):
    return x


@pytest.mark.parametrize("method, message, marker", [
    ("passes_self", "'self' used other than to read its attributes", "return helper_of(self, x)"),
    ("reads_a_dict", "'self.table' is a dict, not a number, an array or a function", 'return x * self.table["a"]'),
    ("stores", "assigning to an attribute (object mutation) is not supported", "self.w = x"),
])
def test_bound_method_refusals(method, message, marker):
    bound = getattr(Misuses(), method)
    refused(lambda: adflow.grad(bound, target="python")(np.ones(3)), adflow.UnsupportedSyntaxError, message,
            getattr(Misuses, method), marker)


# ============================================================================ what stays refused, and how

def line_of(func, marker):
    import inspect
    lines, start = inspect.getsourcelines(func)
    return start + next(k for k, line in enumerate(lines) if marker in line)


def refused(call, cls, message, func, marker):
    """``call`` raises ``cls`` with exactly ``message``, at ``func``'s line holding ``marker``, with a hint."""
    with pytest.raises(cls) as info:
        call()
    err = info.value
    assert err.message == message
    assert err.location.lineno == line_of(func, marker) and err.location.filename == __file__
    assert err.hint


def nested_recursion(x):
    def h(n, v):
        if n == 0:
            return v
        return h(n - 1, v * 2.0)
    return h(3, x)


def nested_as_value(x):
    def h(v):
        return v * 2.0
    g = h
    return g(x)


def nested_without_return(x):
    def h(v):
        if v > 0.0:
            return v
    return h(x)


def nested_wrong_arity(x):
    def h(u, v):
        return u * v
    return h(x, x, x)


def side_effect_of_a_builtin(x):
    print(x)
    return x * 2.0


def fill_with_default_array(out, x, w=X1):
    out[0] = x * w[0]


def helper_with_array_default(x):
    out = np.zeros(1)
    fill_with_default_array(out, x)
    return out[0]


def adds_lists(x):
    v = [x, 1.0]
    w = v + [2.0]
    return w[0]


def extends_a_list(x):
    v = [x]
    v += [1.0]
    return v[0]


def list_truth(x):
    v = [x]
    if v:
        return x
    return 0.0


def pops(x):
    v = [x, 2.0]
    v.pop()
    return v[0]


def square_first(v):
    return v[0] * v[0]


def list_to_helper(x):
    v = [x, 2.0]
    return square_first(v)


def aliases_an_appended_list(x):
    v = [x]
    w = v
    v.append(2.0)
    return w[0]


def appends_while_looping(x):
    v = [x]
    for e in v:
        v.append(e)
    return v[0]


def list_of_lists(x):
    m = [[x, 1.0], [2.0, x]]
    return m[0][0]


@pytest.mark.parametrize("func, cls, message, marker", [
    (adds_lists, adflow.UnsupportedSyntaxError,
     "arithmetic or a comparison with the list 'v' (on lists, + joins, * repeats, == compares whole lists)",
     "w = v + [2.0]"),
    (extends_a_list, adflow.UnsupportedSyntaxError, "'v += ...' on a list (it extends or repeats the list)",
     "v += [1.0]"),
    (list_truth, adflow.UnsupportedSyntaxError, "the truth value of the list 'v'", "if v:"),
    (pops, adflow.UnsupportedSyntaxError, "the list method v.pop()", "v.pop()"),
    (list_to_helper, adflow.UnsupportedSyntaxError,
     "the list 'v' passed to square_first, which has a derivative function of its own", "return square_first(v)"),
    (aliases_an_appended_list, adflow.UnsupportedSyntaxError,
     "'w = v': a second name for a list that is appended to", "w = v"),
    (appends_while_looping, adflow.UnsupportedSyntaxError, "a loop over the list 'v' that appends to it",
     "for e in v:"),
    (list_of_lists, adflow.UnsupportedSyntaxError, "a list of lists or tuples", "m = [[x, 1.0]"),
    (nested_recursion, adflow.UnsupportedSyntaxError,
     "h calls itself (recursion), which adflow cannot differentiate", "return h(n - 1"),
    (nested_as_value, adflow.UnsupportedSyntaxError, "the nested function 'h' used as a value", "g = h"),
    (nested_without_return, adflow.UnsupportedSyntaxError, "h can reach its end without returning a value",
     "return h(x)"),
    (nested_wrong_arity, adflow.UnsupportedSyntaxError, "h() takes 2 positional arguments but 3 were given",
     "return h(x, x, x)"),
    (side_effect_of_a_builtin, adflow.UnsupportedSyntaxError,
     "a statement whose value is unused (a call for its side effect)", "print(x)"),
    (helper_with_array_default, adflow.UnsupportedSyntaxError,
     "fill_with_default_array has a default argument that is not a number", "fill_with_default_array(out, x)"),
], ids=lambda v: v.__name__ if callable(v) else None)
def test_refusals_name_the_construct_and_the_line(func, cls, message, marker):
    refused(lambda: adflow.grad(func, target="python")(0.5), cls, message, func, marker)

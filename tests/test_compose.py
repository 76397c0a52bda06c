"""Composed transforms (adflow/compose.py, adflow/pipeline/derivative_calls.py) against closed forms and
central differences: a transform of a derivative adflow made, and adflow's transforms called inside a
differentiated function; each refusal by its message."""
import math

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad, numerical_jacobian

X = np.array([0.3, -1.2, 0.8])
A = np.array([[2.0, 0.5, 0.0], [0.5, 3.0, -1.0], [0.0, -1.0, 4.0]])


def quadratic_form(x):
    return 0.5 * np.dot(x, np.dot(A, x)) + np.sum(np.sin(x) * x)


def quadratic_form_grad(x):
    return A @ x + np.sin(x) + x * np.cos(x)


def quadratic_form_hessian(x):
    return A + np.diag(2.0 * np.cos(x) - x * np.sin(x))


def cubic(x, a):
    # grad_x = 3 a x^2 + (0, a0, 0);  d/dx grad_x = diag(6 a x);  d/da grad_x = diag(3 x^2) + e_1 e_0^T
    return np.sum(a * x ** 3) + a[0] * x[1]


def cubic_cross(x):
    C = np.diag(3.0 * x ** 2)
    C[1, 0] += 1.0
    return C


def wave(t):
    return math.sin(t) * t ** 3


def wave_second(t):
    return -math.sin(t) * t ** 3 + 6.0 * math.cos(t) * t ** 2 + 6.0 * math.sin(t) * t


def mixed(t, u):
    return t * t * u ** 3


def field(x):
    # F: R^2 -> R^3
    return np.array([x[0] ** 2 * x[1], math.sin(x[0]), x[1] ** 3])


def field_jacobian(x):
    return np.array([[2.0 * x[0] * x[1], x[0] ** 2], [math.cos(x[0]), 0.0], [0.0, 3.0 * x[1] ** 2]])


def field_second(x):
    """T[i, j, k] = d^2 F_i / dx_j dx_k."""
    T = np.zeros((3, 2, 2))
    T[0] = [[2.0 * x[1], 2.0 * x[0]], [2.0 * x[0], 0.0]]
    T[1, 0, 0] = -math.sin(x[0])
    T[2, 1, 1] = 6.0 * x[1]
    return T


# --------------------------------------------------------------------------- transforms of a derivative


@pytest.mark.cpu_slow
def test_jacobian_of_grad_is_the_hessian(target):
    hessian = adflow.jacobian(adflow.grad(quadratic_form, target=target))
    H = hessian(X)
    np.testing.assert_allclose(H, quadratic_form_hessian(X), rtol=1e-12)
    np.testing.assert_allclose(H, numerical_jacobian(quadratic_form_grad, X), rtol=1e-7, atol=1e-7)
    # two passes of two directions, the second half full
    np.testing.assert_allclose(adflow.jacobian(adflow.grad(quadratic_form, target=target), chunk=2)(X),
                               quadratic_form_hessian(X), rtol=1e-12)


@pytest.mark.cpu_slow
def test_cross_blocks_of_second_derivatives(target):
    a = np.array([1.5, -0.4, 2.0])
    grad_x = adflow.grad(cubic, target=target)
    np.testing.assert_allclose(adflow.jacobian(grad_x, wrt=1)(X, a), cubic_cross(X), rtol=1e-12)
    np.testing.assert_allclose(adflow.jacobian(grad_x, wrt=0)(X, a), np.diag(6.0 * a * X), rtol=1e-12)
    np.testing.assert_allclose(adflow.jacobian(grad_x, wrt=1)(X, a),
                               numerical_jacobian(lambda b: adflow.grad(cubic)(X, b), a), rtol=1e-7, atol=1e-7)


@pytest.mark.slow  # Hessian-vector products are checked by default in test_hessian; 9 s on python here
def test_jvp_of_grad_is_a_hessian_vector_product(target):
    v = np.array([1.0, -2.0, 0.5])
    g, hv = adflow.jvp(adflow.grad(quadratic_form, target=target), (X,), (v,))
    np.testing.assert_allclose(g, quadratic_form_grad(X), rtol=1e-12)
    np.testing.assert_allclose(hv, quadratic_form_hessian(X) @ v, rtol=1e-12)


@pytest.mark.cpu_slow
def test_vjp_of_grad_gives_every_arguments_cotangent(target):
    a = np.array([1.5, -0.4, 2.0])
    w = np.array([0.7, 1.1, -0.3])
    g, pullback = adflow.vjp(adflow.grad(cubic, target=target), X, a)
    np.testing.assert_allclose(g, 3.0 * a * X ** 2 + np.array([0.0, a[0], 0.0]), rtol=1e-12)
    x_bar, a_bar = pullback(w)
    np.testing.assert_allclose(x_bar, np.diag(6.0 * a * X) @ w, rtol=1e-12)
    np.testing.assert_allclose(a_bar, cubic_cross(X).T @ w, rtol=1e-12)


def test_grad_of_grad_is_the_second_derivative(target):
    d2 = adflow.grad(adflow.grad(wave, target=target))
    assert isinstance(d2(0.7), float)
    assert d2(0.7) == pytest.approx(wave_second(0.7), rel=1e-12)
    value, slope = adflow.value_and_grad(adflow.grad(wave, target=target))(0.7)
    assert value == pytest.approx(adflow.grad(wave)(0.7), rel=1e-12)
    assert slope == pytest.approx(wave_second(0.7), rel=1e-12)
    # d/dt of df/du = 6 t u^2, and the reference of both by differences
    cross = adflow.grad(adflow.grad(mixed, wrt=1, target=target), wrt=0)(0.5, -1.5)
    assert cross == pytest.approx(6.0 * 0.5 * 1.5 ** 2, rel=1e-12)
    assert cross == pytest.approx(numerical_grad(adflow.grad(mixed, wrt=1), (0.5, -1.5), wrt=(0,))[0], rel=1e-7)


@pytest.mark.cpu_slow
def test_derivatives_of_value_and_grad(target):
    v = np.array([1.0, -2.0, 0.5])
    (value, g), (value_t, g_t) = adflow.jvp(adflow.value_and_grad(quadratic_form, target=target), (X,), (v,))
    assert value == pytest.approx(quadratic_form(X), rel=1e-12)
    assert value_t == pytest.approx(quadratic_form_grad(X) @ v, rel=1e-12)
    np.testing.assert_allclose(g_t, quadratic_form_hessian(X) @ v, rtol=1e-12)
    _, pullback = adflow.vjp(adflow.value_and_grad(quadratic_form, target=target), X)
    (x_bar,) = pullback((2.0, v))
    np.testing.assert_allclose(x_bar, 2.0 * quadratic_form_grad(X) + quadratic_form_hessian(X) @ v, rtol=1e-12)


@pytest.mark.cpu_slow
def test_derivatives_of_a_jacobian(target):
    x = np.array([0.4, -1.3])
    jac = adflow.jacobian(field, target=target)
    np.testing.assert_allclose(adflow.jacobian(jac)(x), field_second(x), rtol=1e-12)
    np.testing.assert_allclose(adflow.jacobian(jac)(x), numerical_jacobian(field_jacobian, x), rtol=1e-7, atol=1e-7)
    u = np.array([0.3, 2.0])
    J, J_dot = adflow.jvp(jac, (x,), (u,))
    np.testing.assert_allclose(J, field_jacobian(x), rtol=1e-12)
    np.testing.assert_allclose(J_dot, field_second(x) @ u, rtol=1e-12)
    W = np.arange(6.0).reshape(3, 2) - 2.0
    _, pullback = adflow.vjp(jac, x)
    np.testing.assert_allclose(pullback(W)[0], np.einsum("ij,ijk->k", W, field_second(x)), rtol=1e-12)


def test_derivatives_of_a_pullback(target):
    x = np.array([0.4, -1.3])
    y, pullback = adflow.vjp(field, x, target=target)
    v, dv = np.array([1.0, 0.5, -2.0]), np.array([0.0, 1.0, 3.0])
    value, tangent = adflow.jvp(pullback, (v,), (dv,))        # linear in v: the pullback of dv
    np.testing.assert_allclose(value[0], field_jacobian(x).T @ v, rtol=1e-12)
    np.testing.assert_allclose(tangent[0], field_jacobian(x).T @ dv, rtol=1e-12)
    u = np.array([0.3, 2.0])
    _, transpose = adflow.vjp(pullback, v)                    # the transpose of v -> J^T v: u -> J u
    np.testing.assert_allclose(transpose((u,))[0], field_jacobian(x) @ u, rtol=1e-12)


def tuple_grads(x, a):
    return np.sum(a * x ** 3)


@pytest.mark.cpu_slow
def test_composed_outputs_that_are_not_one_array_are_named(target):
    both = adflow.grad(tuple_grads, wrt=(0, 1), target=target)
    with pytest.raises(adflow.ShapeError, match=r"jacobian needs adflow.grad\(tuple_grads\) to return one array or "
                                                r"number, not a tuple"):
        adflow.jacobian(both)(X, X)
    with pytest.raises(adflow.ShapeError, match=r"adflow.grad needs adflow.grad\(quadratic_form\) to return a "
                                                r"scalar, but it returns shape \(3,\)"):
        adflow.grad(adflow.grad(quadratic_form, target=target))(X)
    # jvp and vjp take the tuple: (d/dx, d/da) of the two gradients
    (gx, ga), (gx_t, ga_t) = adflow.jvp(both, (X, X), (np.ones(3), np.zeros(3)))
    np.testing.assert_allclose(gx_t, 6.0 * X * X, rtol=1e-12)
    np.testing.assert_allclose(ga_t, 3.0 * X ** 2, rtol=1e-12)


def test_third_derivatives_and_options_that_do_not_compose_are_refused():
    g = adflow.grad(quadratic_form)
    third = "adflow.hessian of adflow.grad(quadratic_form) would be a third derivative, which adflow does not compute"
    with pytest.raises(adflow.NonDifferentiableError, match=third.replace("(", r"\(").replace(")", r"\)")):
        adflow.hessian(g)
    with pytest.raises(adflow.NonDifferentiableError, match=r"adflow.jvp of adflow.jacobian\(adflow.grad\("
                                                            r"quadratic_form\)\) would be a third derivative"):
        adflow.jvp(adflow.jacobian(g), (X,), (X,))
    with pytest.raises(adflow.NonDifferentiableError, match=r"adflow.grad of adflow.hessian\(quadratic_form\) "
                                                            r"would be a third derivative"):
        adflow.grad(adflow.hessian(quadratic_form))
    with pytest.raises(adflow.NonDifferentiableError, match=r"adflow.hvp of adflow.grad\(quadratic_form\)"):
        adflow.hvp(g)
    with pytest.raises(adflow.NonDifferentiableError, match=r"made with has_aux=True: a derivative with "
                                                            r"has_aux=True does not compose"):
        adflow.jacobian(adflow.grad(quadratic_form, has_aux=True))
    with pytest.raises(adflow.ArgumentError, match=r"adflow.jacobian\(mode='reverse'\) of adflow.grad\("
                                                   r"quadratic_form\): a Jacobian of a derivative pushes directions "
                                                   r"forward through its reverse sweep"):
        adflow.jacobian(g, mode="reverse")
    with pytest.raises(adflow.ArgumentError, match=r"a composed derivative runs where the inner one does"):
        adflow.jacobian(adflow.grad(quadratic_form, target="cpu"), target="python")


# --------------------------------------------------------------------------- transforms inside a function


def f_inner(y):
    return np.sum(np.sin(y) * y)


def f_inner_grad(y):
    return np.sin(y) + y * np.cos(y)


def f_inner_hessian(y):
    return np.diag(2.0 * np.cos(y) - y * np.sin(y))


def norm_of_gradient(x):
    return np.sum(adflow.grad(f_inner)(x) ** 2)


df_inner = adflow.grad(f_inner)


def norm_through_helper(x):
    return helper_calling_a_derivative(x) * 3.0


def helper_calling_a_derivative(x):
    return np.sum(df_inner(x) ** 2)


@pytest.mark.cpu_slow
def test_grad_of_a_function_calling_grad(target):
    expected = 2.0 * f_inner_hessian(X) @ f_inner_grad(X)
    np.testing.assert_allclose(adflow.grad(norm_of_gradient, target=target)(X), expected, rtol=1e-12)
    np.testing.assert_allclose(adflow.grad(norm_through_helper, target=target)(X), 3.0 * expected, rtol=1e-12)
    v = np.array([1.0, 0.5, -1.0])
    value, tangent = adflow.jvp(norm_of_gradient, (X,), (v,), target=target)  # forward: f's sweep on duals
    assert value == pytest.approx(np.sum(f_inner_grad(X) ** 2), rel=1e-12)
    assert tangent == pytest.approx(expected @ v, rel=1e-12)
    np.testing.assert_allclose(adflow.jacobian(norm_through_helper, target=target)(X), 3.0 * expected, rtol=1e-12)


def test_the_generated_code_says_what_it_calls():
    g = adflow.grad(norm_of_gradient, target="python")
    g(X)
    # the call, f's reverse sweep, in g's module like a helper's (the module's name changes with f's code) ...
    assert "# adflow.grad(f_inner), as norm_of_gradient calls it: f's reverse sweep with the cotangent 1\n" \
           "def grad_f_inner(a0):" in g.source
    assert "def f_inner_vjp(" in g.source
    assert "def grad_f_inner_vjp(a0, g):" in g.source       # ... its reverse mode:
    assert "def f_inner_vjp_on_duals(" in g.source           # f's reverse sweep run on duals


def scaled_gradient(x):
    return adflow.grad(f_inner)(x) * x[0]


def scaled_gradient_jacobian(x):
    J = f_inner_hessian(x) * x[0]
    J[:, 0] += f_inner_grad(x)
    return J


@pytest.mark.cpu_slow
def test_jacobians_of_a_function_calling_grad(target):
    rows = np.array([[0.3, 0.7, -0.2], [0.1, -0.4, 1.5]])
    expected = np.stack([scaled_gradient_jacobian(r) for r in rows])
    # reverse mode: its vector mode meets the call (a dual cotangent) and takes one sweep per output instead
    np.testing.assert_allclose(adflow.jacobian(scaled_gradient, mode="reverse", target=target)(rows[0]), expected[0],
                               rtol=1e-12)
    np.testing.assert_allclose(adflow.jacobian(scaled_gradient, mode="forward", target=target)(rows[0]), expected[0],
                               rtol=1e-12)
    np.testing.assert_allclose(adflow.jacobian(scaled_gradient, batch=True, target=target)(rows), expected, rtol=1e-12)
    sparse = adflow.jacobian(scaled_gradient, sparsity="auto", target=target)(rows[1])
    np.testing.assert_allclose(sparse.toarray(), expected[1], rtol=1e-12)
    np.testing.assert_allclose(expected[1], numerical_jacobian(scaled_gradient, rows[1]), rtol=1e-6, atol=1e-7)


def two_arguments(x, a):
    return np.sum(np.sin(x) * a) * a[0] + x[0] * x[1] ** 2


def calls_value_and_grad(x, a):
    value, g = adflow.value_and_grad(two_arguments)(x, a)
    return value * np.sum(g ** 3)


def calls_grad_of_both(x, a):
    gx, ga = adflow.grad(two_arguments, wrt=(0, 1))(x, a)
    return np.sum(gx * ga) + a[1] * gx[0]


def calls_second_derivative(t):
    d = adflow.grad(wave)(t * 2.0)
    return d * d


@pytest.mark.cpu_slow
@pytest.mark.parametrize("fun", [calls_value_and_grad, calls_grad_of_both], ids=lambda f: f.__name__)
def test_grad_of_functions_calling_gradients_against_differences(fun, target):
    a = np.array([1.5, -0.4, 2.0])
    gx, ga = adflow.grad(fun, wrt=(0, 1), target=target)(X, a)
    ref_x, ref_a = numerical_grad(fun, (X, a))
    np.testing.assert_allclose(gx, ref_x, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ga, ref_a, rtol=1e-6, atol=1e-7)


def test_a_called_second_derivative_of_a_scalar(target):
    t = 0.4
    d = (math.sin(2 * t) * (2 * t) ** 2 * 3.0 + math.cos(2 * t) * (2 * t) ** 3)  # wave'(2t)
    expected = 2.0 * d * wave_second(2 * t) * 2.0
    assert adflow.grad(calls_second_derivative, target=target)(t) == pytest.approx(expected, rel=1e-12)


def field_of(x, a):
    return np.sin(x) * a[0] + x[0] * x[1] * a


def calls_jvp(x, t, a):
    y, y_dot = adflow.jvp(field_of, (x, a), (t,), wrt=0)
    return np.sum(y_dot * y_dot) + np.sum(y)


def directional(x, t):
    return adflow.jvp(f_inner, (x,), (t,))[1]


@pytest.mark.slow  # a Hessian's dual types compile on both targets: 7 s on python
def test_vjp_of_jvp(target):
    t, a = np.array([1.0, -2.0, 0.5]), np.array([1.5, -0.4, 2.0])
    grads = adflow.grad(calls_jvp, wrt=(0, 1, 2), target=target)(X, t, a)
    for got, ref in zip(grads, numerical_grad(calls_jvp, (X, t, a))):
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    # w^T d/dx (J t) = H t for a scalar f (w = 1): closed form; d/dt = grad f
    y, pullback = adflow.vjp(directional, X, t, target=target)
    assert y == pytest.approx(f_inner_grad(X) @ t, rel=1e-12)
    x_bar, t_bar = pullback(1.0)
    np.testing.assert_allclose(x_bar, f_inner_hessian(X) @ t, rtol=1e-12)
    np.testing.assert_allclose(t_bar, f_inner_grad(X), rtol=1e-12)


rebound_inner = f_inner


def calls_rebound(x):
    return np.sum(adflow.grad(rebound_inner)(x) ** 2)


def cube_sum(y):
    return np.sum(y ** 3)


@pytest.mark.cpu_slow
def test_rebinding_the_inner_function_rebuilds(target):
    before = adflow.grad(calls_rebound, target=target)(X)
    np.testing.assert_allclose(before, 2.0 * f_inner_hessian(X) @ f_inner_grad(X), rtol=1e-12)
    global rebound_inner
    rebound_inner = cube_sum
    try:
        np.testing.assert_allclose(adflow.grad(calls_rebound, target=target)(X), 2.0 * 6.0 * X * 3.0 * X ** 2,
                                   rtol=1e-12)
    finally:
        rebound_inner = f_inner


# --------------------------------------------------------------------------- what is refused inside


def hessian_target(x):
    return np.sum(adflow.grad(f_inner)(x) ** 2)


def calls_jacobian(x):
    return np.sum(adflow.jacobian(field)(x))


def calls_vjp(x):
    y, pullback = adflow.vjp(f_inner, x)
    return y


def keeps_the_derivative(x):
    d = adflow.grad(f_inner)
    return np.sum(d(x))


def vector_inside(x):
    return np.sum(adflow.grad(field)(x))


def calls_local(x):
    k = 0
    return np.sum(adflow.grad(f_inner, wrt=k)(x))


def helper_making_a_derivative(x):
    return np.sum(adflow.grad(f_inner)(x))


def calls_helper_making_a_derivative(x):
    return helper_making_a_derivative(x) * 2.0


def jvp_forward(x):
    return np.sum(adflow.jvp(field_of, (x, X), (x,), wrt=0)[1])


def line_of(fun, text):
    return f"at {__file__}:\\d+ \\(in {fun.__name__}\\):    {text}"


REFUSED = [
    (lambda: adflow.hessian(hessian_target)(X), adflow.NonDifferentiableError,
     r"a second derivative of hessian_target, which calls adflow.grad\(f_inner\), would be a third derivative of "
     r"f_inner, which adflow does not compute", hessian_target, r"return np.sum\(adflow.grad\(f_inner\)\(x\) \*\* 2\)"),
    (lambda: adflow.grad(calls_jacobian)(np.ones(2)), adflow.NonDifferentiableError,
     r"adflow.jacobian\(field\) cannot be called inside a differentiated function", calls_jacobian,
     r"return np.sum\(adflow.jacobian\(field\)\(x\)\)"),
    (lambda: adflow.grad(calls_vjp)(X), adflow.UnsupportedSyntaxError,
     r"adflow.vjp inside a differentiated function", calls_vjp, r"y, pullback = adflow.vjp\(f_inner, x\)"),
    (lambda: adflow.grad(keeps_the_derivative)(X), adflow.UnsupportedSyntaxError,
     r"adflow.grad\(...\) makes a derivative; inside a differentiated function, call the derivative where it is "
     r"made", keeps_the_derivative, r"d = adflow.grad\(f_inner\)"),
    (lambda: adflow.grad(calls_local)(X), adflow.UnsupportedSyntaxError,
     r"an adflow transform called inside a differentiated function with an argument that is not fixed when the "
     r"function is compiled", calls_local, r"return np.sum\(adflow.grad\(f_inner, wrt=k\)\(x\)\)"),
    (lambda: adflow.grad(calls_helper_making_a_derivative)(X), adflow.UnsupportedSyntaxError,
     r"adflow.grad\(...\)\(...\) in helper_making_a_derivative, a helper: numba compiles helpers as written, and "
     r"cannot make a derivative", helper_making_a_derivative, r"return np.sum\(adflow.grad\(f_inner\)\(x\)\)"),
    (lambda: adflow.jvp(jvp_forward, (X,), (X,)), adflow.NonDifferentiableError,
     r"forward mode through adflow.jvp\(field_of, ...\) would push tangents through tangents \(forward over "
     r"forward\), which adflow's dual numbers do not carry", jvp_forward,
     r"return np.sum\(adflow.jvp\(field_of, \(x, X\), \(x,\), wrt=0\)\[1\]\)"),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c[3].__name__)
def test_refused_inside_a_function_at_its_line(case):
    run, error, message, fun, text = case
    with pytest.raises(error, match=message) as info:
        run()
    assert info.match(line_of(fun, text))


def test_a_vector_function_under_grad_inside_is_named():
    with pytest.raises(adflow.ShapeError, match=r"adflow.grad\(field\) is called inside a differentiated function, "
                                                r"but field returns array\(float64, 1d, C\), not a number"):
        adflow.grad(vector_inside)(np.ones(2))


def squared_field(x):
    v = np.array([x[0] ** 2 * x[1], math.sin(x[0]), x[1] ** 3])
    return np.sum(v * v)


@pytest.mark.cpu_slow
def test_hessian_through_an_array_built_from_values(target):
    # forward over reverse writes np.array([...]) of duals element by element (as forward mode does)
    x = np.array([0.4, -1.3])
    expected = 2.0 * (field_jacobian(x).T @ field_jacobian(x) + np.einsum("i,ijk->jk", field(x), field_second(x)))
    np.testing.assert_allclose(adflow.hessian(squared_field, target=target)(x), expected, rtol=1e-12)


WEIGHTS = np.array([1.0, 2.0, -0.5])


def weighted(x, c):
    return x * c


def calls_weighted(x):
    return np.sum(weighted(x, WEIGHTS) ** 2)


@pytest.mark.cpu_slow
def test_a_global_array_passed_to_a_helper(target):
    # Found with the tests above: a helper called with a global array raised KeyError in both modes.
    np.testing.assert_allclose(adflow.grad(calls_weighted, target=target)(X), 2.0 * X * WEIGHTS ** 2, rtol=1e-12)
    _, tangent = adflow.jvp(calls_weighted, (X,), (np.ones(3),), target=target)
    assert tangent == pytest.approx(np.sum(2.0 * X * WEIGHTS ** 2), rel=1e-12)


def test_a_composed_derivative_pickles_as_the_inner_one_and_its_options():
    import pickle
    hessian = pickle.loads(pickle.dumps(adflow.jacobian(adflow.grad(quadratic_form, target="python"), chunk=2)))
    np.testing.assert_allclose(hessian(X), quadratic_form_hessian(X), rtol=1e-12)
    second = pickle.loads(pickle.dumps(adflow.value_and_grad(adflow.grad(wave, target="python"))))
    assert second(0.7)[1] == pytest.approx(wave_second(0.7), rel=1e-12)


def curve(t):
    return np.array([math.sin(t), t ** 3])


def test_derivatives_of_the_jacobian_of_a_curve(target):
    # a number in, an array out: the Jacobian of the Jacobian is the second derivative of each output
    second = adflow.jacobian(adflow.jacobian(curve, target=target))(0.6)
    np.testing.assert_allclose(second, [-math.sin(0.6), 6.0 * 0.6], rtol=1e-12)
    velocity, acceleration = adflow.jvp(adflow.jacobian(curve, target=target), (0.6,), (2.0,))
    np.testing.assert_allclose(velocity, [math.cos(0.6), 3.0 * 0.36], rtol=1e-12)
    np.testing.assert_allclose(acceleration, 2.0 * second, rtol=1e-12)
    # power takes the int it is given (wave, called with two arguments, is now refused by the call's binding)
    with pytest.raises(adflow.ArgumentError, match=r"adflow.jacobian\(power\) is differentiated with respect to "
                                                   r"argument 1, which is int, not a float or float array"):
        adflow.jvp(adflow.jacobian(power, target=target), (0.6, 3), (1.0, 1.0), wrt=(0, 1))


def power(t, n):
    return t ** n


CACHED_COMPOSITION = '''
import numpy as np
import adflow

def f(y):
    return np.sum(np.sin(y) * y)

def g(x):
    return np.sum(adflow.grad(f)(x) ** 2)

df = adflow.grad(f)
C = np.array([0.1, 0.2])

def h(c):
    return np.sum(df(c))

def uses_h(x):
    return np.sum(x ** 2) * h(C)   # h, called as numba compiles it, calls f's derivative in another module

x = np.array([0.3, -1.2, 0.8])
print(" ".join(repr(float(v)) for v in adflow.grad(g)(x)))
print(" ".join(repr(float(v)) for v in adflow.grad(uses_h)(x)))
'''


@pytest.mark.slow  # two processes compiling dual-number code from an empty cache: minutes on a loaded machine
def test_a_cached_composition_loads_in_a_new_process(tmp_path):
    # Compiled code reaching f's derivative in another generated module made numba's cache import that
    # module by name in the next process: ModuleNotFoundError (g's module now holds its own copy; a
    # helper compiled as written still reaches the other module, which adflow.backends.modules imports).
    import os
    import subprocess
    import sys
    script = tmp_path / "composed.py"
    script.write_text(CACHED_COMPOSITION)
    env = dict(os.environ, ADFLOW_CACHE_DIR=str(tmp_path / "cache"), NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PYTHONPATH=str(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    runs = [subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
            for _ in range(2)]
    for out in runs:
        assert out.returncode == 0, out.stderr[-3000:]
    first, second = runs[1].stdout.strip().splitlines()
    np.testing.assert_allclose([float(v) for v in first.split()], 2.0 * f_inner_hessian(X) @ f_inner_grad(X),
                               rtol=1e-12)
    C = np.array([0.1, 0.2])
    np.testing.assert_allclose([float(v) for v in second.split()], 2.0 * X * np.sum(f_inner_grad(C)), rtol=1e-12)

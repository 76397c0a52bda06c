"""Calling conventions: keywords and defaults at call time, strict calls, and one type convention for
values and derivatives on every target.

* ``def ridge(w, X, y, alpha=0.1)``: every transform takes ``(w, X, y)`` (alpha filled in) and
  ``(w, X, y, alpha=0.5)``, checked against ridge's closed-form derivatives;
* every wrong call is an adflow error naming what was expected and what came;
* values and derivatives have the same types on ``target="python"`` and ``"cpu"``: a derivative
  the type of its argument, a scalar value a Python float for a call of Python numbers and the
  NumPy scalar of the arguments' float type otherwise (adflow/pipeline/results.py).
"""
import numpy as np
import pytest

import adflow

TARGETS = ["python", "cpu"]
RNG = np.random.default_rng(3)
W = RNG.standard_normal(3)
XS = RNG.standard_normal((5, 3))
YS = RNG.standard_normal(5)


def ridge(w, X, y, alpha=0.1):
    r = X @ w - y
    return np.sum(r * r) + alpha * np.sum(w * w)


def ridge_grad(w, alpha):
    return 2 * XS.T @ (XS @ w - YS) + 2 * alpha * w


def ridge_hessian(alpha):
    return 2 * XS.T @ XS + 2 * alpha * np.eye(3)


def square(x):
    return x * x


def total(x):
    return np.sum(x * x)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", TARGETS)
def test_defaults_and_keywords_in_every_transform(target):
    for alpha, kwargs in [(0.1, {}), (0.5, {"alpha": 0.5})]:
        g = ridge_grad(W, alpha)
        np.testing.assert_allclose(adflow.grad(ridge, target=target)(W, XS, YS, **kwargs), g, rtol=1e-12)
        value, g2 = adflow.value_and_grad(ridge, target=target)(W, XS, YS, **kwargs)
        np.testing.assert_allclose(value, ridge(W, XS, YS, alpha), rtol=1e-13)
        np.testing.assert_allclose(g2, g, rtol=1e-12)
        np.testing.assert_allclose(adflow.jacobian(ridge, target=target)(W, XS, YS, **kwargs), g, rtol=1e-12)
        np.testing.assert_allclose(adflow.hessian(ridge, target=target)(W, XS, YS, **kwargs), ridge_hessian(alpha),
                                   rtol=1e-12)
        v = np.array([1.0, -2.0, 0.5])
        np.testing.assert_allclose(adflow.hvp(ridge, target=target)(W, v, XS, YS, **kwargs), ridge_hessian(alpha) @ v,
                                   rtol=1e-12)
        y, pullback = adflow.vjp(ridge, W, XS, YS, wrt=0, target=target, **kwargs)
        np.testing.assert_allclose(pullback(1.0)[0], g, rtol=1e-12)
    # A default left out is a constant of the call: vjp and jvp differentiate what was given.
    _, pullback = adflow.vjp(ridge, W, XS, YS, target=target)
    assert len(pullback(1.0)) == 3
    y, y_dot = adflow.jvp(ridge, (W, XS, YS), (v, np.zeros_like(XS), np.zeros_like(YS)), target=target)
    np.testing.assert_allclose(y_dot, ridge_grad(W, 0.1) @ v, rtol=1e-12)


def test_keywords_in_any_order_and_per_argument():
    g = adflow.grad(ridge, wrt=3)
    assert g(W, XS, y=YS, alpha=0.5) == pytest.approx(2 * 0.5 * 0 + np.sum(W * W))
    np.testing.assert_allclose(adflow.grad(ridge)(w=W, X=XS, y=YS), ridge_grad(W, 0.1), rtol=1e-12)


def expect(error, call, *named):
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    for name in named:
        assert name in text, f"{name!r} not in:\n{text}"
    return info.value


@pytest.mark.parametrize("make", [
    lambda: adflow.grad(ridge), lambda: adflow.value_and_grad(ridge), lambda: adflow.jacobian(ridge),
    lambda: adflow.hessian(ridge),
], ids=["grad", "value_and_grad", "jacobian", "hessian"])
def test_wrong_calls_name_the_signature(make):
    d = make()
    expect(adflow.ArgumentError, lambda: d(W, XS), "ridge(w, X, y, alpha=0.1)", "2 positional arguments",
           "missing a required argument: 'y'")
    expect(adflow.ArgumentError, lambda: d(W, XS, YS, 0.1, 7), "5 positional arguments (ndarray, ndarray, ndarray, "
           "float, int)", "too many")
    expect(adflow.ArgumentError, lambda: d(W, XS, YS, beta=1.0), "keyword beta")
    expect(adflow.ArgumentError, lambda: d(W, XS, YS, w=W), "multiple values for argument 'w'")


def test_wrong_calls_of_vjp_jvp_hvp():
    expect(adflow.ArgumentError, lambda: adflow.vjp(ridge, W), "ridge(w, X, y, alpha=0.1)", "1 positional argument")
    expect(adflow.ArgumentError, lambda: adflow.jvp(ridge, (W,), (W,)), "missing a required argument: 'X'")
    expect(adflow.ArgumentError, lambda: adflow.jvp(ridge, W, (W,)), "tuple (or list)", "ndarray")
    expect(adflow.ShapeError, lambda: adflow.jvp(ridge, (W, XS, YS), (W,)), "1 tangents for 3")
    expect(adflow.ArgumentError, lambda: adflow.hvp(ridge)(W), "hvp(ridge, wrt=0)", "right after argument 0",
           "1 positional argument")
    expect(adflow.ShapeError, lambda: adflow.hvp(ridge)(W, XS, YS), "vector has shape (5, 3)", "shape (3,)")
    expect(adflow.ArgumentError, lambda: adflow.hvp(ridge)(W, "p", XS, YS), "vector of hvp", "str")


@pytest.mark.parametrize("make", [
    lambda: adflow.grad(ridge, wrt=4), lambda: adflow.jacobian(ridge, wrt=4), lambda: adflow.hessian(ridge, wrt=(0, 4)),
], ids=["grad", "jacobian", "hessian"])
def test_wrt_out_of_range(make):
    expect(adflow.ArgumentError, lambda: make()(W, XS, YS), "wrt=4 is out of range", "4 arguments")
    expect(adflow.ArgumentError, lambda: adflow.vjp(ridge, W, XS, YS, wrt=(0, 5)), "wrt=5 is out of range")


def test_non_arrays_where_arrays_are_needed():
    expect(adflow.AdflowError, lambda: adflow.grad(ridge)(W, {"X": XS}, YS), "'X' (argument 1)", "dict")
    expect(adflow.ShapeError, lambda: adflow.jacobian(ridge, wrt=1)(W, "X", YS), "argument 1 is str")
    expect(adflow.ShapeError, lambda: adflow.grad(ridge, batch=(None, 0, 0))(W, XS, 1.0), "argument 2", "array of rows")


def kind(value):
    if isinstance(value, tuple):
        return tuple(kind(v) for v in value)
    return (type(value).__name__, getattr(value, "dtype", None), np.shape(value))


CASES = {
    "value_and_grad float": lambda t: adflow.value_and_grad(square, target=t)(2.0),
    "value_and_grad np.float64": lambda t: adflow.value_and_grad(square, target=t)(np.float64(2.0)),
    "value_and_grad 0-d": lambda t: adflow.value_and_grad(square, target=t)(np.array(2.0)),
    "value_and_grad array": lambda t: adflow.value_and_grad(total, target=t)(np.ones(2)),
    "value_and_grad float32": lambda t: adflow.value_and_grad(total, target=t)(np.ones(2, np.float32)),
    "has_aux": lambda t: adflow.grad(lambda_free_aux, has_aux=True, target=t)(np.ones(2)),
    "vjp 0-d": lambda t: (lambda y, pb: (y, pb(1.0)))(*adflow.vjp(square, np.array(2.0), target=t)),
    "vjp array": lambda t: (lambda y, pb: (y, pb(1.0)))(*adflow.vjp(total, np.ones(2), target=t)),
    "jvp float": lambda t: adflow.jvp(square, (2.0,), (1.0,), target=t),
    "jvp array": lambda t: adflow.jvp(total, (np.ones(2),), (np.ones(2),), target=t),
    "jacobian float": lambda t: adflow.jacobian(square, target=t)(2.0),
    "jacobian array": lambda t: adflow.jacobian(total, target=t)(np.ones(2)),
    "hessian float": lambda t: adflow.hessian(square, target=t)(2.0),
    "hvp float": lambda t: adflow.hvp(square, target=t)(2.0, 1.0),
    "batch": lambda t: adflow.grad(ridge, batch=(None, 0, 0), target=t)(W, XS, YS),
}


def lambda_free_aux(x):
    return np.sum(x), x[0] * 2.0


@pytest.mark.parametrize("case", list(CASES))
def test_same_types_on_every_target(case):
    python, cpu = CASES[case]("python"), CASES[case]("cpu")
    assert kind(python) == kind(cpu), (kind(python), kind(cpu))


def test_the_type_convention():
    assert kind(CASES["value_and_grad float"]("python")) == (("float", None, ()), ("float", None, ()))
    assert kind(CASES["value_and_grad 0-d"]("python"))[1] == ("ndarray", np.float64, ())
    assert kind(CASES["value_and_grad array"]("python"))[0] == ("float64", np.float64, ())
    assert kind(CASES["value_and_grad float32"]("python")) == (("float32", np.float32, ()), ("ndarray", np.float32, (2,)))
    assert kind(CASES["jvp float"]("python")) == (("float", None, ()), ("float", None, ()))
    assert kind(CASES["jacobian float"]("python")) == ("float", None, ())
    assert kind(CASES["hessian float"]("python")) == ("float", None, ())

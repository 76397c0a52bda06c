"""frontend/fusion.py: elementwise chains ending in np.sum become loops, and only where the loop
computes the same numbers.  References: closed forms and finite differences (the unfused build is
compared in test_passes.py)."""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_jacobian


def rosen_array(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def smoothness(x, a):
    d = x[2:] - 2.0 * x[1:-1] + x[:-2]
    return a * np.sum(d * d) + np.sum(np.arctan(x))


def read_again(x):
    t = x * x
    return np.sum(t) + t[0]  # t is read outside the chain: kept as an array


def written_between(x, a):
    t = np.arctan(x) * a
    x[0] = a * a  # the chain read x before this write: the sum must see the old values
    return np.sum(t * x) + x[0]


def rebound_between(x, a):
    t = x * a
    a = 3.0  # the chain read the old a
    return np.sum(t * t) * a


def sum_reads_its_target(x, s):
    s = np.sum(x * s)  # the chain reads the s the sum then assigns
    return s * s


def two_arrays(x, y):
    return np.sum(x * y)  # lengths not known to be equal: NumPy would refuse (or broadcast a length 1)


def over_a_variable(x):
    return np.sum(x / (1.0 + x * x))  # a division by an array element could be by zero: not fused


def sines(x):
    return np.sum(np.sin(x) * x)  # vector math computes sin (and cos) faster over the whole array


def rosen_closed(x):
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * t - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * t
    return g


def source_of(f, *args):
    return adflow.grad(f, target="python").source_for(*args)


X = np.array([0.3, -0.8, 1.1, 0.45, -0.2, 0.9])


def fresh(args):
    """Copies of the arrays (f may write into them); numbers as they are."""
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@pytest.mark.parametrize("f, args, fused", [
    (rosen_array, (X,), True),
    (smoothness, (X, 0.7), True),
    (read_again, (X,), False),
    (written_between, (X, 0.7), False),
    (rebound_between, (X, 0.7), False),
    (sum_reads_its_target, (X, 0.7), False),
    (two_arrays, (X, X[::-1].copy()), False),
    (over_a_variable, (X,), False),
    (sines, (X,), False),
], ids=lambda v: getattr(v, "__name__", ""))
def test_fused_where_the_loop_computes_the_same_numbers(f, args, fused):
    text = source_of(f, *args).split("# gradient only")[0]
    assert ("= np.sum(" not in text and "for _i" in text) == fused, text


@pytest.mark.parametrize("f, args", [
    (rosen_array, (X,)), (smoothness, (X, 0.7)), (read_again, (X,)), (written_between, (X, 0.7)),
    (rebound_between, (X, 0.7)), (sum_reads_its_target, (X, 0.7)), (over_a_variable, (X,)),
], ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.cpu_slow
def test_values_and_gradients_against_finite_differences(f, args, target):
    wrt = tuple(range(len(args)))
    value, grads = adflow.value_and_grad(f, wrt=wrt, target=target)(*fresh(args))
    assert value == pytest.approx(f(*fresh(args)), rel=1e-13)
    for k, g in enumerate(grads):
        def along(v, k=k):
            call = fresh(args)
            call[k] = np.copy(v) if np.ndim(args[k]) else float(v)  # f may write into it
            return f(*call)
        np.testing.assert_allclose(g, np.reshape(numerical_jacobian(along, np.copy(args[k])), np.shape(g)),
                                   rtol=1e-6, atol=1e-8)


def test_rosenbrock_gradient_in_closed_form(target):
    np.testing.assert_allclose(adflow.grad(rosen_array, target=target)(X), rosen_closed(X), rtol=1e-13)


@pytest.mark.cpu_slow
def test_forward_mode_and_hessians_of_a_fused_chain(target):
    v = np.linspace(-1.0, 1.0, X.size)
    _, tangent = adflow.jvp(rosen_array, (X,), (v,), target=target)
    assert tangent == pytest.approx(rosen_closed(X) @ v, rel=1e-13)
    eps = 1e-6
    fd = (rosen_closed(X + eps * v) - rosen_closed(X - eps * v)) / (2 * eps)
    np.testing.assert_allclose(adflow.hvp(rosen_array, target=target)(X, v), fd, rtol=1e-7, atol=1e-6)

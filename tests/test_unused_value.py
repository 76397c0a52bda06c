"""grad runs a copy of the vjp without the statements only the value needed (adflow.reverse.unused_value)."""
import math

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad

import test_control_flow as CF
from test_single_adjoints import function_text


def rosen_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def test_the_forward_loop_only_the_value_needed_is_gone(rng):
    x = rng.uniform(-1.0, 1.0, 20)
    g = adflow.grad(rosen_loop)
    text = function_text(g.source_for(x), "rosen_loop_grad")
    assert text.count("for ") == 1 and "return (0.0, (x_bar,))" in text, text  # the reverse loop only
    assert function_text(g.source, "rosen_loop_vjp").count("for ") == 2
    np.testing.assert_allclose(g(x), adflow.value_and_grad(rosen_loop)(x)[1], rtol=1e-15)


def filled_in_a_loop(x):
    b = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        b[i] = x[i] * x[i]  # writes into arrays always stay
    return np.sum(b * x)


def logs_in_a_loop(x):
    s = 0.0
    t = 0.0
    for i in range(x.shape[0]):
        t = t + math.log(x[i] * x[i] + 1.0) / 3.0  # math and division: kept (they can raise)
        s = s + x[i] * t
    return s


def mean_of_an_overwritten_array(x, a):
    # Found by the fuzzer (seed 5894): the adjoint of np.mean is an augmented assignment with a
    # division, kept, so the zeros it adds into must stay too.
    b = np.zeros(x.shape[0])
    b[0] = np.mean(np.sin(b))
    s = a * (a * x[0]) * b[1]
    b = -0.7 * b + np.sin(x * x[3])
    return -0.3 * a * x[0] + s + np.dot(b, x)


@pytest.mark.parametrize("f", [filled_in_a_loop, logs_in_a_loop, mean_of_an_overwritten_array, CF.nested_break,
                               CF.continue_and_elif], ids=lambda f: f.__name__)
def test_grad_equals_the_full_vjp_and_finite_differences(f, target, rng):
    x = rng.uniform(0.2, 1.0, 6)
    args = {CF.nested_break: (x.reshape(2, 3), 1.5), mean_of_an_overwritten_array: (x, 1.37)}.get(f, (x,))
    g = adflow.grad(f, target=target)(*args)
    _, full = adflow.value_and_grad(f, target=target)(*args)
    np.testing.assert_allclose(g, full, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(g, numerical_grad(f, args, wrt=(0,))[0], rtol=1e-6, atol=1e-8)


def mixture(mu, X):
    # The vjp pushes the loop indices k and j to give them back after their loops; nothing the
    # gradient computes reads them then, so grad's copy has neither the restores nor the pushes.
    total = 0.0
    for i in range(X.shape[0]):
        best = -1e300
        vals = np.empty(mu.shape[0])
        for k in range(mu.shape[0]):
            s = 0.0
            for j in range(X.shape[1]):
                r = X[i, j] - mu[k, j]
                s += r * r
            vals[k] = -0.5 * s
            if vals[k] > best:
                best = vals[k]
        acc = 0.0
        for k in range(mu.shape[0]):
            acc += math.exp(vals[k] - best)
        total += best + math.log(acc)
    return total


def test_tapes_nothing_reads_are_not_pushed(target, rng):
    args = (rng.uniform(-1.0, 1.0, (3, 2)), rng.uniform(-1.0, 1.0, (4, 2)))
    g = adflow.grad(mixture, target=target)
    text = function_text(g.source_for(*args), "mixture_grad")
    vjp = function_text(g.source, "mixture_vjp")
    assert "_k_tape" in vjp and "_j_tape" in vjp
    assert "_k_tape" not in text and "_j_tape" not in text and "_best_tape" in text, text
    np.testing.assert_allclose(g(*args), adflow.value_and_grad(mixture, target=target)(*args)[1], rtol=1e-14)
    np.testing.assert_allclose(g(*args), numerical_grad(mixture, args, wrt=(0,))[0], rtol=1e-6, atol=1e-8)

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


def heat(u0, nu, steps):
    u = u0.copy()
    for t in range(steps):
        u[1:-1] = u[1:-1] + nu * (u[2:] - 2.0 * u[1:-1] + u[:-2])  # the chain's array, then one write
    return np.sum(u ** 2)


def rebinds_what_it_reads(x, a):
    y = x
    for t in range(3):
        y = np.exp(y * a) - y + 1.0  # the loop reads the old y while it fills the new one
    return y[0] * np.sum(y)


def differences(x):
    d = x[1:] - x[:-1]
    return np.sum(np.arctan(d * d)) + d[0]  # d is read outside the sum's chain: its own loop


def read_twice(x, a):
    d = x[1:] - x[:-1]
    e = d * a
    return np.sum(e * d)  # d is read twice by the chain: fused


def row_energies(M, a):
    s = 0.0
    for j in range(M.shape[0]):
        r = M[j]
        s += np.sum(r) * a + np.sum(M[j, 1:] * M[j, :-1])  # rows of a matrix: loops over their elements
    return s + np.sum(np.exp(M[-1]))


def index_moves(M, a):
    j = 0
    r = M[j]
    j = 1  # the sum reads row 0, which the loop must read too
    return np.sum(r * a) + M[j, 0]


def heat_matrix(n, nu):
    A = np.eye(n)
    for i in range(1, n - 1):
        A[i, i - 1:i + 2] += nu * np.array([1.0, -2.0, 1.0])
    return A


def rosen_closed(x):
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * t - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * t
    return g


def source_of(f, *args):
    return adflow.grad(f, target="python").source_for(*args)


X = np.array([0.3, -0.8, 1.1, 0.45, -0.2, 0.9])
MAT = np.array([[0.3, -0.8, 1.1, 0.45], [-0.2, 0.9, 0.1, -0.6], [0.5, 0.25, -0.35, 0.8]])


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


@pytest.mark.parametrize("f, args, arrays", [
    (heat, (X, 0.3, 4), 1),
    (rebinds_what_it_reads, (X, 0.3), 1),
    (differences, (X,), 1),
    (read_twice, (X, 0.7), 0),  # d and e become numbers in the sum's loop: no array at all
    (read_again, (X,), 0),  # t = x * x: one operation, nothing to fuse
    (row_energies, (MAT, 0.7), 0),
    (index_moves, (MAT, 0.7), 0),
    (sines, (X,), 0),
], ids=lambda v: getattr(v, "__name__", ""))
def test_arrays_made_by_chains_are_filled_by_one_loop(f, args, arrays):
    text = source_of(f, *args).split("# reverse sweep")[0]
    assert text.count("= np.empty(_n") == arrays, text
    loops = {heat: 2, differences: 2, read_again: 0, sines: 0, row_energies: 3, index_moves: 0}
    assert text.count("for _i") == loops.get(f, 1), text  # heat's sum and the sum reading d are loops too


def test_a_chain_over_slices_longer_than_the_array(target):
    # u[2:] and u[:-2] of a 1-element array are empty: so is the loop's array (not a negative length)
    value, g = adflow.value_and_grad(heat, wrt=(0, 1), target=target)(np.array([0.4]), 0.7, 2)
    assert value == pytest.approx(0.16) and g[0] == pytest.approx([0.8]) and g[1] == 0.0


def test_a_module_without_numpy(target):
    from fusion_without_numpy import end_slopes
    x = np.array([0.3, -0.8, 1.1, 0.45])
    assert "= np.empty(_n" in source_of(end_slopes, x)
    d = np.diff(x)
    want = np.zeros(4)
    want[[1, 0]] += np.array([1.0, -1.0]) * (2 * d[0] + 1)
    want[[3, 2]] += 2.0 * np.array([1.0, -1.0]) * (2 * d[-1] + 1)
    np.testing.assert_allclose(adflow.grad(end_slopes, target=target)(x), want, rtol=1e-14)


def test_heat_gradient_in_closed_form(target):
    A = np.linalg.matrix_power(heat_matrix(X.size, 0.3), 4)
    np.testing.assert_allclose(adflow.grad(heat, target=target)(X, 0.3, 4), 2.0 * A.T @ (A @ X), rtol=1e-13)


@pytest.mark.parametrize("f, args", [
    (heat, (X, 0.3, 4)), (rebinds_what_it_reads, (X, 0.3)), (differences, (X,)), (read_twice, (X, 0.7)),
    (rosen_array, (X,)), (smoothness, (X, 0.7)), (row_energies, (MAT, 0.7)), (index_moves, (MAT, 0.7)), (read_again, (X,)), (written_between, (X, 0.7)),
    (rebound_between, (X, 0.7)), (sum_reads_its_target, (X, 0.7)), (over_a_variable, (X,)),
], ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.cpu_slow
def test_values_and_gradients_against_finite_differences(f, args, target):
    wrt = tuple(k for k, a in enumerate(args) if not isinstance(a, int))
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


@pytest.mark.cpu_slow
def test_forward_mode_and_hessians_of_an_array_made_by_a_chain(target):
    v = np.linspace(-1.0, 1.0, X.size)

    def closed(x):  # the gradient of rebinds_what_it_reads, by differences of its value at a finer scale
        return numerical_jacobian(lambda z: rebinds_what_it_reads(z, 0.3), x).ravel()
    _, tangent = adflow.jvp(rebinds_what_it_reads, (X, 0.3), (v, 0.0), target=target)
    assert tangent == pytest.approx(closed(X) @ v, rel=1e-7)
    A = np.linalg.matrix_power(heat_matrix(X.size, 0.3), 4)
    np.testing.assert_allclose(adflow.hvp(heat, target=target)(X, v, 0.3, 4), 2.0 * A.T @ (A @ v), rtol=1e-12)


# --- chains over several arrays: fused where every one has one argument's length -------------------

def wave(u0, c):
    u = u0.copy()
    v = np.zeros_like(u0)
    for step in range(5):
        lap = np.zeros_like(u)
        lap[1:-1] = u[2:] - 2.0 * u[1:-1] + u[:-2]
        v = v + c * lap - 0.01 * v  # v, lap: u0's length
        u = u + 0.1 * v
    return np.sum(u * v) + np.sum(u * u)


def two_lengths(x, y):
    a = x * 2.0
    b = y * 3.0  # y's length, which may be x's, or 1 (NumPy broadcasts)
    return np.sum(np.arctan(a * b + a))


def rebound_argument(x, y):
    y = np.zeros_like(x)  # y's first value may be of any length
    return np.sum(np.arctan(x * 2.0 + y * 3.0)) + y[0]


def shortened_argument(x):
    w = np.zeros_like(x)
    x = x[1:]  # x's length changes: w keeps the old one (here 2 against 1: NumPy broadcasts)
    return np.sum(np.arctan(w + x * x))


def grows_in_a_loop(x):
    t = np.zeros(1)
    s = 0.0
    for i in range(3):
        w = np.zeros_like(t)  # t's length changes each iteration: w takes it, not x's
        t = np.ones(i + 2) * x[0]
        s = s + np.sum(np.arctan(w * 2.0 + w * w))
    return s


@pytest.mark.parametrize("f, args, fused", [
    (wave, (X, 0.3), True),
    (two_lengths, (X, X[::-1].copy()), False),
    (rebound_argument, (X, X[:3].copy()), False),
], ids=lambda v: getattr(v, "__name__", ""))
def test_chains_over_arrays_of_one_arguments_length(f, args, fused):
    text = source_of(f, *args).split("# reverse sweep")[0]
    assert ("for _i" in text) == fused, text
    if f is wave:  # the stencil, v's chain, u's and the two sums: no whole-array arithmetic left
        assert text.count("for _i") == 5 and "c * lap" not in text and "0.1 * v\n" not in text, text


@pytest.mark.parametrize("f, args", [
    (wave, (X, 0.3)),
    (two_lengths, (X, np.array([0.7]))),  # broadcast: the loop would read y past its one element
    (rebound_argument, (X, np.array([0.4]))),
    (grows_in_a_loop, (X,)),
    (shortened_argument, (np.array([0.3, 0.5]),)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_several_arrays_values_and_gradients_against_finite_differences(f, args, target):
    value, grads = adflow.value_and_grad(f, wrt=0, target=target)(*fresh(args))
    assert value == pytest.approx(f(*fresh(args)), rel=1e-13)
    numeric = numerical_jacobian(lambda x: f(x, *args[1:]), args[0].copy())
    np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-8)

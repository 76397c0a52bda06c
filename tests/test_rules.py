"""Every adjoint rule against central finite differences, on both targets."""
import numpy as np
import pytest

import adflow
from adflow.testing import numerical_grad

import rule_cases as C


def check(f, args, target, wrt=None, rtol=1e-6, atol=1e-7):
    wrt = tuple(range(len(args))) if wrt is None else wrt
    got = adflow.grad(f, wrt=wrt, target=target)(*args)
    expected = numerical_grad(f, args, wrt)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def uniform(rng, lo, hi, shape=(3, 4)):
    return rng.uniform(lo, hi, size=shape)


@pytest.mark.parametrize("name", sorted(C.UNARY_NP))
def test_numpy_elementwise(name, target, rng):
    f, (lo, hi) = C.UNARY_NP[name]
    check(f, (uniform(rng, lo, hi),), target)


@pytest.mark.parametrize("name", sorted(C.UNARY_MATH))
def test_math_scalar(name, target, rng):
    f, (lo, hi) = C.UNARY_MATH[name]
    check(f, (float(rng.uniform(lo, hi)),), target)


SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((3, 4), ()), ((), (3, 4))]


@pytest.mark.parametrize("f", C.BINARY, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_broadcasting(f, shapes, target, rng):
    x = rng.uniform(0.5, 2.0, size=shapes[0])
    y = rng.uniform(0.5, 2.0, size=shapes[1])
    x = float(x) if x.ndim == 0 else x
    y = float(y) if np.ndim(y) == 0 else y
    check(f, (x, y), target)


def test_scalar_builtins(target):
    check(C.scalar_ops, (1.3, 0.7), target)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [C.red_sum, C.red_mean, C.red_prod, C.red_max, C.transpose_reshape, C.at_least,
                               C.appends, C.indexing],
                         ids=lambda f: f.__name__)
def test_array_functions(f, target, rng):
    check(f, (uniform(rng, 0.5, 1.5),), target)


def test_clip_passes_the_gradient_inside_the_bounds_only(target):
    g = adflow.grad(C.clip_fn, target=target)(C.CLIP_X)
    np.testing.assert_array_equal(g, np.where(np.abs(C.CLIP_X) < 0.5, C.W, 0.0))
    check(C.clip_fn, (C.CLIP_X,), target)


def test_max_tie_splits_evenly(target):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])

    def top(x):
        return np.max(x)
    g = adflow.grad(top, target=target)(x)
    assert g[0, 1] == 0.5 and g[0, 2] == 0.5 and g.sum() == 1.0


@pytest.mark.cpu_slow
def test_linear_algebra(target, rng):
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal(3)
    B = rng.standard_normal((3, 4))
    check(C.matvec, (a, b), target)
    check(C.vecmat, (b, a), target)
    check(C.matmat, (a, B), target)
    check(C.vecvec, (b, b * 2.0), target)
    check(C.outer_prod, (b, rng.standard_normal(4)), target)
    check(C.trace_fn, (a,), target)
    check(C.inv_fn, (a,), target)
    check(C.solve_fn, (a, b), target)
    check(C.solve_matrix, (a, B), target)
    check(C.det_fn, (a,), target)
    check(C.norm_fn, (a, b), target)


def test_array_literal_and_cumsum(target, rng):
    check(C.array_literal, (0.7, 1.9), target)
    check(C.cumsum_fn, (rng.standard_normal(4),), target)


def test_roll(target, rng):
    x = rng.standard_normal((3, 4))
    check(C.roll_fn, (x,), target)
    J = adflow.jacobian(lambda x: np.roll(x, -3) * x, mode="forward", target=target)(x[0])
    np.testing.assert_allclose(J, np.diag(np.roll(x[0], -3)) + np.diag(x[0]) @ np.roll(np.eye(4), -3, axis=0),
                               rtol=1e-14)

"""Forward mode (dual numbers through the normalised function) against finite differences and reverse mode."""
import math

import numpy as np
import pytest

import adflow
from adflow.testing import dot_product_test, numerical_jacobian

import rule_cases as C
import test_control_flow as CF


def jacobian_fd(f, args, wrt):
    def one(x):
        call = list(args)
        call[wrt] = x
        return f(*call)
    return numerical_jacobian(one, args[wrt])


@pytest.mark.parametrize("name", sorted(C.UNARY_NP))
def test_tangent_rules_numpy(name, rng):
    f, (lo, hi) = C.UNARY_NP[name]
    x = rng.uniform(lo, hi, (3, 4))
    J = adflow.jacobian(f, mode="forward", target="python")(x)
    np.testing.assert_allclose(J, jacobian_fd(f, (x,), 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(C.UNARY_MATH))
def test_tangent_rules_math(name, rng):
    f, (lo, hi) = C.UNARY_MATH[name]
    x = float(rng.uniform(lo, hi))
    _, t = adflow.jvp(f, (x,), (1.0,), target="python")
    assert t == pytest.approx(jacobian_fd(f, (x,), 0), rel=1e-6)


@pytest.mark.parametrize("f", C.BINARY, ids=lambda f: f.__name__)
def test_tangent_rules_binary(f, rng):
    x = rng.uniform(0.5, 2.0, (3, 4))
    y = rng.uniform(0.5, 2.0, (4,))
    for wrt in (0, 1):
        J = adflow.jacobian(f, mode="forward", wrt=wrt, target="python")(x, y)
        np.testing.assert_allclose(J, jacobian_fd(f, (x, y), wrt), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [C.red_sum, C.red_mean, C.red_prod, C.red_max, C.transpose_reshape, C.indexing],
                         ids=lambda f: f.__name__)
def test_tangent_rules_arrays(f, rng):
    x = rng.uniform(0.5, 1.5, (3, 4))
    J = adflow.jacobian(f, mode="forward", target="python")(x)
    np.testing.assert_allclose(J, jacobian_fd(f, (x,), 0), rtol=1e-6, atol=1e-8)


def reshaped(x):
    return np.sum(x.reshape(2, 2) ** 2 * np.ravel(x).reshape((2, 2)).T)


@pytest.mark.slow  # a compile per form: 12 s
def test_reshape_and_ravel_forms_compile(rng):
    # d.reshape(2, 2) and np.ravel(d) on dual arrays inside numba (both once failed: only
    # d.reshape((2, 2)) and d.ravel() compiled).
    x = rng.uniform(0.5, 1.5, 4)
    J = adflow.jacobian(reshaped, mode="forward")(x)
    np.testing.assert_allclose(J, jacobian_fd(reshaped, (x,), 0), rtol=1e-6, atol=1e-8)


@pytest.mark.slow  # eight compiled chunk-of-three rules: 40 s
@pytest.mark.parametrize("name", ["dot", "matmul"])
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4))],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_chunk_tangent_rules_equal_the_one_direction_rules(name, shapes, rng):
    # The whole-chunk forms (one matrix product for k directions, or a gather when each direction
    # is nonzero in one element, as seeds are) against the one-direction rule applied to each
    # direction, in Python and inside numba.
    import numba
    from adflow.duals import formulas
    for param in ("a", "b"):
        chunk = formulas.chunk_tangent_function(name, param)
        compiled = numba.njit(lambda a, b, x_dot, ans: chunk(a, b, x_dot, ans))
        one = formulas.tangent_function(name, param)
        for structure in ("dense", "unit", "unit_with_zero_direction", "seeds", "last_seeds", "non_contiguous"):
            a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
            if structure == "non_contiguous":
                a = np.asfortranarray(a) if a.ndim == 2 else a
                b = np.asfortranarray(b) if b.ndim == 2 else b
            ans = np.dot(a, b)
            arg = a if param == "a" else b
            x_dot = rng.standard_normal(arg.shape + (3,))
            if structure.startswith("unit"):
                # Direction j is nonzero in one element only (a scaled seed); in the second
                # variant the last direction is all zero, as in the last pass of a forward Jacobian.
                x_dot = np.zeros(arg.shape + (3,))
                flat = x_dot.reshape(-1, 3)
                for j, position in enumerate(rng.permutation(arg.size)[:3]):
                    flat[position, j] = rng.uniform(0.5, 2.0)
                if structure == "unit_with_zero_direction":
                    flat[:, 2] = 0.0
            if structure.endswith("seeds"):
                # Forward-Jacobian seeds: consecutive elements, and the last pass runs out of them.
                x_dot = np.zeros(arg.shape + (3,))
                flat = x_dot.reshape(-1, 3)
                first = arg.size - 2 if structure == "last_seeds" else 0
                for j in range(min(3, arg.size - first)):
                    flat[first + j, j] = rng.uniform(0.5, 2.0)
            want = np.stack([np.asarray(one(a, b, x_dot[..., j], ans)) for j in range(3)], axis=-1)
            np.testing.assert_allclose(chunk(a, b, x_dot, ans), want, rtol=1e-13, atol=1e-14, err_msg=structure)
            np.testing.assert_allclose(compiled(a, b, x_dot, ans), want, rtol=1e-13, atol=1e-14, err_msg=structure)


def test_tangent_rules_linear_algebra(rng):
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal(3)
    for f, args in [(C.matvec, (a, b)), (C.matmat, (a, rng.standard_normal((3, 4)))), (C.outer_prod, (b, rng.standard_normal(4))),
                    (C.inv_fn, (a,)), (C.solve_fn, (a, b)), (C.det_fn, (a,)), (C.trace_fn, (a,)),
                    (C.norm_fn, (a, b))]:
        for wrt in range(len(args)):
            J = adflow.jacobian(f, mode="forward", wrt=wrt, target="python")(*args)
            np.testing.assert_allclose(J, jacobian_fd(f, args, wrt), rtol=1e-6, atol=1e-7, err_msg=f.__name__)


CONTROL_FLOW_CASES = [
    (CF.data_dependent_trips, (np.array([0.43, 1.2, -0.7]), 0.9)),
    (CF.cube_root_newton, (2.0, 5.0)),
    (CF.nested_break, (np.random.default_rng(1).uniform(0.2, 1.0, (4, 5)), 3.0)),
    (CF.continue_and_elif, (np.array([0.1, -0.9, 0.7, 0.3, 1.1, -0.2]),)),
    (CF.early_return, (np.array([2.0, 3.0, 4.0, 5.0]),)),
    (CF.heat, (np.random.default_rng(2).standard_normal(8), 0.2, 5)),
    (CF.loop_with_helper, (np.array([0.3, -1.0, 2.0]), 0.7)),
    (CF.fills_allocated, (np.array([0.3, -1.0, 2.0, 0.5]),)),
    (CF.strided_loops, (np.linspace(-1, 1, 9),)),
    (CF.lorenz, (np.array([10.0, 28.0, 8.0 / 3.0]), np.array([1.0, 1.0, 1.0]), 50)),
    (CF.whole_array_time_loop, (np.random.default_rng(3).standard_normal(7), 0.3)),
]


@pytest.mark.parametrize("case", CONTROL_FLOW_CASES, ids=lambda c: c[0].__name__)
def test_forward_equals_reverse_on_control_flow(case):
    f, args = case
    wrt = 0
    fwd = adflow.jacobian(f, mode="forward", wrt=wrt, target="python")(*args)
    rev = adflow.grad(f, wrt=wrt, target="python")(*args)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [CONTROL_FLOW_CASES[0], CONTROL_FLOW_CASES[5], CONTROL_FLOW_CASES[9]],
                         ids=lambda c: c[0].__name__)
def test_forward_compiled_matches_python(case):
    f, args = case
    cpu = adflow.jacobian(f, mode="forward", target="cpu")(*args)
    py = adflow.jacobian(f, mode="forward", target="python")(*args)
    np.testing.assert_allclose(cpu, py, rtol=1e-13, atol=1e-13)


def vector_field(x, w):
    y = np.zeros(4)
    for i in range(4):
        y[i] = math.tanh(w * x[i % x.shape[0]]) * np.sum(x * x) + x[0] ** (i + 1)
    return y


@pytest.mark.cpu_slow
def test_jvp_and_vjp_pass_the_dot_product_test(rng, target):
    x = rng.standard_normal(3)
    t = rng.standard_normal(3)
    c = rng.standard_normal(4)
    _, y_dot = adflow.jvp(vector_field, (x, 0.7), (t,), wrt=0, target=target)
    _, pullback = adflow.vjp(vector_field, x, 0.7, wrt=0, target=target)
    (x_bar,) = pullback(c)
    assert dot_product_test(y_dot, x_bar, t, c)


def test_chunk_sizes_agree(rng):
    x = rng.standard_normal(5)
    ref = adflow.jacobian(vector_field, mode="reverse", target="python")(x, 0.3)
    for chunk in (1, 2, 5):
        J = adflow.jacobian(vector_field, mode="forward", chunk=chunk, target="python")(x, 0.3)
        np.testing.assert_allclose(J, ref, rtol=1e-12)


@adflow.custom_jvp
def softsign(x):
    return x / (1.0 + abs(x))


softsign.defjvp(lambda x_dot, ans, x: 3.0 * x_dot)  # deliberately not the true derivative


def uses_softsign(x):
    return softsign(x) * 2.0


def test_custom_jvp_rule_is_used(target):
    _, t = adflow.jvp(uses_softsign, (0.5,), (1.0,), target=target)
    assert t == pytest.approx(6.0)


@adflow.custom_vjp
def softclip(x, c):
    return c * np.tanh(x / c)


softclip.defvjp(lambda g, ans, x, c: 0.0 * g, None)  # deliberately wrong: forward mode must not use it


def uses_softclip(x, c):
    return softclip(x, c) * 2.0


@pytest.mark.cpu_slow
def test_an_adjoint_rule_alone_leaves_forward_mode_to_the_body(target):
    # docs/custom-rules.md: a function with rules for one mode is differentiated through its body in the other
    x, c = np.array([0.5, -1.0, 3.0]), 2.0
    t = np.array([1.0, -0.5, 2.0])
    _, y_dot = adflow.jvp(uses_softclip, (x, c), (t,), wrt=0, target=target)
    np.testing.assert_allclose(y_dot, 2.0 * t / np.cosh(x / c) ** 2, rtol=1e-14)
    J = adflow.jacobian(uses_softclip, mode="forward", target=target)(x, c)
    np.testing.assert_allclose(J, jacobian_fd(uses_softclip, (x, c), 0), rtol=1e-7, atol=1e-10)


@adflow.custom_vjp
def both_rules(x):
    return x * x


# Two different wrong rules, one per mode: each mode must use its own.
both_rules.defvjp(lambda g, ans, x: g * 5.0)
adflow.custom_jvp(both_rules).defjvp(lambda x_dot, ans, x: 7.0 * x_dot)


def test_a_function_with_both_rules_uses_each_in_its_mode():
    assert adflow.custom_jvp(both_rules) is both_rules
    assert adflow.grad(both_rules, target="python")(3.0) == 5.0
    assert adflow.jvp(both_rules, (3.0,), (1.0,), target="python")[1] == 7.0


def test_jvp_tangent_shape_is_checked():
    with pytest.raises(adflow.ShapeError, match=r"\(2,\).*\(3,\)"):
        adflow.jvp(vector_field, (np.ones(3), 0.5), (np.ones(2),), wrt=0)

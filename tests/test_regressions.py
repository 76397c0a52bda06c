"""Minimal programs for the defects the fuzzer (adflow/fuzz/) found, one test each.

Each was shrunk by hand from a generated program (the seed of ``python -m adflow.fuzz --check SEED
--all`` is in the docstring).  A test marked xfail(strict=True) pins a defect that is still there:
it starts passing - and so fails as XPASS - the day the defect is fixed; then remove the mark and
the matching entry of ``adflow.fuzz.KNOWN_DEFECTS`` so the fuzzer generates the construct again.

The defects live in the transform, not in code generation, so one target ("python", no compile)
reproduces them; the comments say what target="cpu" does.
"""
import math
import re

import numpy as np
import pytest

import adflow
from adflow.testing import numerical_jacobian


def central(f, args, k, eps=1e-6):
    """Central differences of scalar ``f`` in argument ``k``; every call gets fresh copies of arrays."""
    def call(value):
        a = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in args]
        a[k] = value
        return f(*a)
    base = np.array(args[k], dtype=float)
    if base.ndim == 0:
        h = eps * max(1.0, abs(float(base)))
        return (call(float(base) + h) - call(float(base) - h)) / (2 * h)
    out = np.zeros_like(base)
    for j in np.ndindex(base.shape):
        h = eps * max(1.0, abs(base[j]))
        plus, minus = base.copy(), base.copy()
        plus[j] += h
        minus[j] -= h
        out[j] = (call(plus) - call(minus)) / (2 * h)
    return out


def check(f, *args, wrt=None, target="python", rtol=1e-6):
    """value_and_grad of f equals f's own value and central differences, and leaves its inputs alone."""
    wrt = tuple(k for k, a in enumerate(args) if not isinstance(a, int)) if wrt is None else wrt
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    value, grads = adflow.value_and_grad(f, wrt=wrt, target=target)(*args)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c, err_msg="an input was modified")
    expected_value = f(*[np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args])
    assert value == pytest.approx(expected_value, rel=1e-12), "value_and_grad returned a wrong value"
    for g, k in zip(grads, wrt):
        np.testing.assert_allclose(g, central(f, args, k), rtol=rtol, atol=1e-8,
                                   err_msg=f"wrong derivative with respect to argument {k}")


X = np.array([0.3, -0.4, 0.5, 0.7])


# ====================================================================== silently wrong numbers
def self_assignment(x):
    s = x * 2.0
    s = s
    return s


# fixed; kept as a regression test
def test_self_assignment_keeps_derivative():
    check(self_assignment, 1.0)


def power_of_negative_constant(x):
    return x * (-0.75) ** 2.0


def power_of_negative_constant_int(x):
    y = (-0.5) ** 2
    return x * y


# fixed; kept as a regression test
@pytest.mark.parametrize("f", [power_of_negative_constant, power_of_negative_constant_int])
def test_power_of_negative_constant(f):
    check(f, 0.7)


def overwritten_straight_line(x):
    s = x * 1.0
    s = s * x
    return s


def overwritten_in_branch(x):
    s = x * 1.0
    if x > 0.5:
        s = s * x
    return s


def overwritten_in_loop(x):
    s = x * 1.0
    for i in range(2):
        s = s * x
    return s


# fixed; kept as a regression test
@pytest.mark.parametrize("f", [overwritten_straight_line, overwritten_in_branch, overwritten_in_loop])
def test_value_when_returned_variable_is_overwritten(f):
    check(f, 0.7)


def vjp_value_of_overwritten(x):
    s = x * 1.0
    s = s * x
    return s


# fixed; kept as a regression test
def test_vjp_value_when_returned_variable_is_overwritten():
    x = np.array([0.7, 2.0])
    y, _ = adflow.vjp(vjp_value_of_overwritten, x, target="python")
    np.testing.assert_allclose(y, x * x)


def overlapping_slice_write(x, a):
    b = x * 2.0
    b[1:] = b[:-1] * a
    return np.sum(b * b)


def overlapping_slice_write_then_element(x, a):
    b = x * 2.0
    b[1:] = b[:-1] * a
    b[3] = a
    return np.sum(b * b)


# fixed; kept as a regression test
@pytest.mark.parametrize("f", [overlapping_slice_write, overlapping_slice_write_then_element])
def test_overlapping_slice_write(f):
    check(f, X, 0.8)


def for_over_array_that_is_rebound(x):
    b = x * 1.0
    s = 0.0
    for v in b:
        b = b * 2.0
        s = s + v
    return s


def enumerate_over_array_that_is_rebound(x):
    b = x * 1.0
    s = 0.0
    for i, v in enumerate(b):
        b = np.sin(b) + v
        s = s + v * b[i]
    return s + np.sum(b)


# fixed (value 7.1 instead of 1.1, gradient [1, 2, 4, 8] instead of [1, 1, 1, 1]); kept as a regression test
@pytest.mark.parametrize("f", [for_over_array_that_is_rebound, enumerate_over_array_that_is_rebound])
def test_for_over_array_that_is_rebound(f):
    check(f, X)


def for_over_array_rebound_and_written(x):
    b = x * 1.0
    s = 0.0
    for v in b:
        b[0] = 2.0 * v
        b = b * 2.0
        s = s + v
    return s


def test_for_over_array_rebound_and_written_is_refused():
    # The loop sees the writes into the first b only: refused rather than guessed.
    with pytest.raises(adflow.UnsupportedSyntaxError, match=r"(?s)a for loop over 'b' that both rebinds 'b' and "
                                                            r"writes into it.*test_regressions.py:\d+.*for v in b:"):
        adflow.grad(for_over_array_rebound_and_written, target="python")(X)


def returns_vector(x):
    return x * 2.0


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_has_aux_with_array_output_is_refused(target):
    # It used to read the array as (value, aux): gradient [2., 2.] and aux 4.0, silently.
    with pytest.raises(adflow.ShapeError, match=r"has_aux=True needs returns_vector to return a pair \(value, aux\)"):
        adflow.grad(returns_vector, has_aux=True, target=target)(np.array([1.0, 2.0]))


def rebound_to_tanh_then_written(x):
    b = x * 2.0
    b = np.tanh(b)  # the adjoint of tanh reads its result, which the write below changes
    b[0] = 3.0 * x[1]
    return np.sum(b * b)


def view_in_loop_then_base_written(x):
    b = x * 2.0
    s = 0.0
    for i in range(3):
        v = b[1:]
        s = s + np.sum(v * v)
        b[i] = 3.0 * s * x[i]
    return s + np.sum(b)


# found while fixing the overlapping slice write: adjoints that read a view of an array written later
@pytest.mark.parametrize("f", [rebound_to_tanh_then_written, view_in_loop_then_base_written])
def test_view_read_by_an_adjoint_then_base_written(f):
    check(f, X)


def returns_array_written_in_place(x):
    b = x * 2.0
    c = b * b
    b[0] = c[1]
    return b


def test_vjp_value_of_an_array_the_reverse_sweep_restores():
    # It used to return b with b[0] written back to its old value by the reverse sweep, silently.
    y, _ = adflow.vjp(returns_array_written_in_place, X, target="python")
    np.testing.assert_array_equal(y, returns_array_written_in_place(X.copy()))


def alias_read_after_write(x):
    b = x * 2.0
    c = b
    b[0] = 3.0 * x[1]
    return np.sum(c * c)


def view_read_after_base_written(x):
    b = x * 2.0
    v = b[1:]
    b[1] = 3.0 * x[0]
    return np.sum(v * v)


@pytest.mark.parametrize("f, line", [(alias_read_after_write, "b[0] = 3.0 * x[1]"),
                                     (view_read_after_base_written, "b[1] = 3.0 * x[0]")])
def test_write_seen_through_another_name_is_refused(f, line):
    # The derivative of c (or v) missed the write into b: [-4.8, -3.2, 4, 5.6] instead of [0, -10.4, 4, 5.6].
    with pytest.raises(adflow.NonDifferentiableError, match=r"(?s)in-place write into 'b', which shares memory "
                                                            r"with '[cv]'.*test_regressions.py:\d+.*" + re.escape(line)):
        adflow.grad(f, target="python")(X)


# ====================================================================== crashes (raw exceptions from generated code)
def slice_write_then_element_write(x):
    b = x * 2.0
    s = np.sum(np.sin(b))
    b[1:] = x[:-1] * 0.5
    b[0] += x[1]
    return s + np.sum(b * b)


# fixed; kept as a regression test
def test_slice_write_then_element_write():
    check(slice_write_then_element_write, X)


def element_write_then_slice_write(x, a):
    b = x * 2.0
    b[0] = np.sum(b * b)
    b[:2] = b[2:] * a
    return np.sum(b * b)


# fixed; kept as a regression test
def test_element_write_then_slice_write():
    check(element_write_then_slice_write, X, 0.8)


def constant_condition_in_loop(x):
    s = 0.0
    for i in range(3):
        if 0.25 >= 0.0:
            s = s + x[i] * x[i]
        elif x[i] > 5.0:
            break
    return s




def condition_on_constant_variable(x):
    s0 = 0.5
    s1 = np.sum(x) * 0.5
    for i in range(3):
        if s0 >= 0.1:
            continue
        if s1 <= 0.25:
            continue
    return s0 + s1


def return_in_branch_always_taken(x):
    s0 = 0.5
    s1 = np.sum(x)
    for i in range(3):
        if s0 >= 0.1:
            return s1 * s0
        s1 = s1 * x[i]
    return s1


def return_in_branch_never_taken(x):
    s0 = 0.5
    s1 = np.sum(x)
    for i in range(3):
        if s0 < 0.1:
            return s1 * s0
        s1 = s1 * x[i]
    return s1


def constant_tests_in_while(x):
    s = 0.0
    k = 0
    while k < 2 and 0.5 > 0.25:
        k = k + 1
        s = s + x[k] * x[k]
        if 1.0 < 0.5:
            break
    return s


# fixed (raw KeyError '_cond3' from the transform, or numba's typing errors on target='cpu' and in forward
# mode): numba no longer drops the branches it can decide, neither when typing nor when compiling
@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [constant_condition_in_loop, condition_on_constant_variable,
                               return_in_branch_always_taken, return_in_branch_never_taken, constant_tests_in_while],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_condition_numba_can_decide(f, target):
    check(f, X, target=target)
    if hasattr(adflow, "jvp"):
        t = np.array([0.1, 0.2, -0.3, 0.4])
        _, y_dot = adflow.jvp(f, (X,), (t,), target=target)
        assert y_dot == pytest.approx(float(central(f, (X,), 0) @ t), rel=1e-6)


def pair_output(x):
    return x * 2.0, x[0] * 3.0


# fixed (the probe run's empty cotangent was added to a (2,) adjoint: raw ValueError); kept as a regression test
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_vjp_of_tuple_output_with_an_array(target):
    y, pullback = adflow.vjp(pair_output, np.array([1.0, 2.0]), target=target)
    np.testing.assert_allclose(y[0], [2.0, 4.0])
    assert y[1] == 3.0
    (g,) = pullback((np.ones(2), 1.0))
    np.testing.assert_allclose(g, [5.0, 2.0])


# ====================================================================== valid programs refused
def reassigned_after_element_write(x):
    b = x * 2.0
    b[1] = b[1] * 3.0
    b = np.sin(b)
    return np.sum(b)


def helper_double(v):
    return v * 2.0


def reassigned_from_helper_after_write(x):
    b = x * 2.0
    b[1] = b[1] * 3.0
    b = helper_double(b)
    return np.sum(b)


# fixed; kept as a regression test
@pytest.mark.parametrize("f", [reassigned_after_element_write, reassigned_from_helper_after_write])
def test_reassigned_array_is_not_a_view(f):
    check(f, X)


def inner_helper(u):
    return u * u


def outer_helper(u):
    return inner_helper(u) + 1.0


def calls_nested_helpers(x):
    return outer_helper(x) * 2.0


# fixed: numba was given the helper without its own helpers compiled; kept as a regression test
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_helper_calling_helper(target):
    check(calls_nested_helpers, 0.7, target=target)


# ====================================================================== what already holds (kept as regressions)
def slice_write_from_other_array(x, a):
    b = x * 2.0
    b[1:] = x[:-1] * a
    b[3] = a
    return np.sum(b * b)


def element_then_slice_without_reading(x, a):
    b = x * 2.0
    b[0] = a
    b[:2] = b[2:] * a
    return np.sum(b * b)


def while_with_and(x):
    s = 0.0
    k = 0
    while k < 2 and x[1] < 1.0:
        k = k + 1
        s = s + x[k] * x[k]
    return s


def odd_power_of_negative_constant(x):
    return x * (-2.0) ** 3


def input_written_then_used(x, a):
    b = x * a
    x[1] = 0.5 * a
    return np.sum(b * b) + x[1] * x[2]


@pytest.mark.parametrize("f, args", [
    (slice_write_from_other_array, (X, 0.8)),
    (element_then_slice_without_reading, (X, 0.8)),
    (while_with_and, (X,)),
    (odd_power_of_negative_constant, (0.7,)),
    (input_written_then_used, (X, 0.8)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_neighbours_of_the_defects_are_right(f, args):
    check(f, *args)


def test_forward_mode_with_input_writes():
    # The fuzzer first reported forward and reverse disagreeing here; the culprit was a finite-difference
    # reference that reused the (written-into) input array between calls.  Both modes are right.
    if not hasattr(adflow, "jvp"):
        pytest.skip("no forward mode")
    x, a = X.copy(), 0.8
    tx, ta = np.array([0.1, 0.2, -0.3, 0.4]), 0.5
    _, y_dot = adflow.jvp(input_written_then_used, (x, a), (tx, ta), target="python")
    np.testing.assert_array_equal(x, X)
    h = 1e-6
    fd = (input_written_then_used(X + h * tx, a + h * ta) - input_written_then_used(X - h * tx, a - h * ta)) / (2 * h)
    assert y_dot == pytest.approx(fd, rel=1e-6)
    gx, ga = adflow.grad(input_written_then_used, wrt=(0, 1), target="python")(x, a)
    assert float(gx @ tx + ga * ta) == pytest.approx(y_dot, rel=1e-10)


def test_math_log_of_constant_is_fine():
    # A neighbour of the power defect: folding math.log1p of a positive constant is right.
    def_value = adflow.value_and_grad(lambda_free, target="python")(0.3)
    assert def_value[0] == pytest.approx(lambda_free(0.3))
    assert def_value[1] == pytest.approx(math.log1p(0.25))


def lambda_free(x):
    return x * math.log1p(0.25)


# ====================================================================== found by the extended fuzzer
# (adflow/fuzz/ with vector and tuple outputs, rebound arguments and forward mode; each was a
# raw error from the generated code or from numba, never a wrong number; the wrong number of that
# campaign, the Jacobian of a function writing into its argument, is in test_inputs_untouched.py)

def pair_from_two_returns(x, a):
    if a > 0.0:
        return a * x[0], x * a
    return a, x * 2.0


@pytest.mark.parametrize("a", [0.7, -0.7])
def test_vjp_of_a_tuple_from_two_returns(a, target):
    # a tuple copied into another (the merged return value) passes its adjoint component by component
    x = np.array([0.3, 0.5])
    y, pullback = adflow.vjp(pair_from_two_returns, x, a, target=target)
    x_bar, a_bar = pullback((1.0, np.array([1.0, -2.0])))
    if a > 0:
        np.testing.assert_allclose(x_bar, [a + a, -2.0 * a], rtol=1e-14)
        assert a_bar == pytest.approx(x[0] + x[0] - 2.0 * x[1], rel=1e-14)
    else:
        np.testing.assert_allclose(x_bar, [2.0, -4.0], rtol=1e-14)
        assert a_bar == pytest.approx(1.0, rel=1e-14)


def scaled_by_float_of(x, a):
    b = float(a)
    return x * b


def test_float_of_a_differentiated_float_in_forward_mode(target):
    x = np.array([0.3, 0.5])
    _, y_dot = adflow.jvp(scaled_by_float_of, (x, 0.7), (np.ones(2), 1.0), target=target)
    np.testing.assert_allclose(y_dot, 0.7 + x, rtol=1e-14)


def scaled_twice(x, a):
    return x * a * a


@pytest.mark.cpu_slow
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_with_respect_to_a_float(mode, target):
    x = np.array([0.3, 0.5])
    J = adflow.jacobian(scaled_twice, mode=mode, wrt=1, target=target)(x, 0.7)
    np.testing.assert_allclose(np.ravel(J), 2.0 * 0.7 * x, rtol=1e-14)


def writes_into_x(x, a):
    x[1] = a * x[0]
    return x * a


@pytest.mark.cpu_slow
def test_forward_mode_writes_a_dual_into_an_argument(target):
    # differentiated with respect to a alone: x receives a dual, so x becomes a dual copy
    x = np.array([0.3, 0.5])
    y, y_dot = adflow.jvp(writes_into_x, (x, 0.7), (1.0,), wrt=(1,), target=target)
    np.testing.assert_array_equal(x, [0.3, 0.5])
    np.testing.assert_allclose(y, [0.21, 0.147], rtol=1e-14)
    np.testing.assert_allclose(y_dot, [x[0], 2.0 * 0.7 * x[0]], rtol=1e-14)


def copy_written_with_a(x, a):
    b = x.copy()
    b[0] = a * 2.0
    return np.sum(b * b)


def test_forward_mode_writes_tangents_into_a_copy(target):
    _, y_dot = adflow.jvp(copy_written_with_a, (X, 0.7), (1.0,), wrt=(1,), target=target)
    assert y_dot == pytest.approx(8.0 * 0.7, rel=1e-14)  # d/da (2a)^2


def row_written_with_x(x, m):
    m[0] = np.tanh(x)
    return np.sum(m * m)


@pytest.mark.cpu_slow
def test_hessian_vector_product_writes_into_an_argument_not_differentiated(target):
    v = np.array([1.0, -1.0, 0.5, 0.0])
    m = np.eye(4)
    hv = adflow.hvp(row_written_with_x, target=target)(X, v, m)
    np.testing.assert_array_equal(m, np.eye(4))
    t = np.tanh(X)
    # d2/dx2 of tanh(x)^2 = 2 (1 - t^2) (1 - 3 t^2)
    np.testing.assert_allclose(hv, 2.0 * (1 - t ** 2) * (1 - 3 * t ** 2) * v, rtol=1e-12)


def asarray_of_argument(x, a):
    y = np.asarray(x)
    return np.sum(y * y) * a


@pytest.mark.cpu_slow
def test_np_asarray_in_forward_mode_and_hessians(target):
    v = np.array([1.0, -1.0, 0.5, 0.0])
    _, y_dot = adflow.jvp(asarray_of_argument, (X, 0.7), (v, 0.0), target=target)
    assert y_dot == pytest.approx(1.4 * float(X @ v), rel=1e-14)
    np.testing.assert_allclose(adflow.hvp(asarray_of_argument, target=target)(X, v, 0.7), 1.4 * v, rtol=1e-14)


def tuple_with_array_written_in_place(x, a):
    b = x * 1.0
    c = np.sin(b)
    b[1] = np.sum(c)
    return np.sum(b) * a, b


def test_vjp_value_of_a_tuple_with_an_array_written_in_place(target):
    # a wrong value once: the reverse sweep restored b[1] inside the tuple the vjp returned
    y, pullback = adflow.vjp(tuple_with_array_written_in_place, X, 0.7, target=target)
    np.testing.assert_array_equal(y[1], tuple_with_array_written_in_place(X.copy(), 0.7)[1])
    x_bar, a_bar = pullback((1.0, np.zeros(4)))
    np.testing.assert_allclose(x_bar, 0.7 * (np.array([1.0, 0.0, 1.0, 1.0]) + np.cos(X)), rtol=1e-14)


def writes_its_argument(x, a):
    x[1] = 0.5 * x[1]
    return x * a


# Was a wrong number: the output's shape was probed on the caller's array (every mode), which
# changed it and moved the point the Jacobian was taken at.
@pytest.mark.parametrize("options", [dict(mode="forward"), dict(mode="reverse"), dict(batch=True)],
                         ids=["forward", "reverse", "batch"])
def test_jacobian_leaves_the_arguments_alone(options):
    x = np.stack([X, X]) if options.get("batch") else X.copy()
    J = adflow.jacobian(writes_its_argument, target="python", **options)(x, 0.8)
    np.testing.assert_array_equal(x, np.stack([X, X]) if options.get("batch") else X)
    np.testing.assert_allclose(np.reshape(J, (-1, 4, 4))[0], np.diag([0.8, 0.4, 0.8, 0.8]))


def swap_arrays_then_write(x, a):
    b = x * a
    c = x * 2.0
    b, c = c, b * 3.0
    c[0] = 1.0
    return np.sum(b * c)


def swap_then_write_what_an_adjoint_read(x, a):
    b = x * a
    d = np.cos(x)
    c = np.sin(b)
    b, d = d, b
    d[0] = a
    return np.sum(c) + np.sum(d * d) + np.sum(b)


def swap_with_a_new_array_in_a_loop(x, a):
    b = x * a
    d = np.cos(x)
    s = 0.0
    for i in range(3):
        s = s + np.sum(np.sin(b))
        b, d = d, b * 0.5
        d[i] = a * d[i]
    return s + np.sum(d)


# fixed (was KNOWN_DEFECTS["array_swap_alias"]): after the swap b and c are two fresh arrays, yet the
# write was refused as a write into memory shared with b (aliases were flow-insensitive; the check
# now follows which memory each name holds at the write, a loop's new arrays apart from its older)
@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [swap_arrays_then_write, swap_then_write_what_an_adjoint_read,
                               swap_with_a_new_array_in_a_loop])
def test_a_tuple_swap_of_arrays_makes_no_alias(f, target):
    check(f, X, 0.8, target=target)


def swap_then_alias(x, a):
    b = x * a
    d = np.cos(x)
    b, d = d, b
    e = d
    d[0] = a
    return np.sum(e) + np.sum(d)


def swap_twice_in_a_loop(x, a):
    b = x * a
    d = np.cos(x)
    s = 0.0
    for i in range(3):
        d[i] = a * d[i]
        s = s + np.sum(np.sin(b))
        b, d = d, b
    return s + np.sum(d)


def view_of_a_rebound_argument(x, a):
    v = x[1:]
    x = x * 2.0
    v[0] = a
    return np.sum(v) + np.sum(x)


# What still shares memory at the write is refused: e holds d's memory; v is a view of the caller's
# x though the name x holds other memory by then
@pytest.mark.parametrize("f, other", [(swap_then_alias, "e"), (view_of_a_rebound_argument, "x")])
def test_memory_still_shared_after_rebinding_is_refused(f, other):
    with pytest.raises(adflow.NonDifferentiableError, match=f"shares memory with '{other}'"):
        adflow.grad(f, target="python")(X, 0.8)


def swap_with_a_new_array_in_a_loop(x, a):
    b = x.copy()
    for i in range(3):
        b[3] += 0.5 * np.exp(-0.5 * x[i] ** 2)
        x, b = b, np.tanh(x)
    return np.sum(b * b) + a * np.sum(x)


# Arrays that hold each other's memory by turns in a loop never share it at once: the analysis
# follows pairs of names, not where each name's memory may come from (fuzz seed 1353199966 was
# refused, "shares memory with 'x'", when a join of iterations put both names on one allocation)
@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [swap_twice_in_a_loop, swap_with_a_new_array_in_a_loop])
def test_arrays_swapped_in_a_loop_do_not_share_memory(f, target):
    check(f, X, 0.8, target=target)


def tanh_of_an_element(x, a):
    s = math.tanh(x[3])
    return x * s


# Forward passes over blocks of rows once handed math.tanh a column of the block (TypeError on
# python, numba's raw TypingError on cpu); mode="reverse" was right
@pytest.mark.cpu_slow
def test_batched_forward_jacobian_of_math_on_an_element(target):
    rows = np.stack([X, 0.5 * X])
    Z = adflow.jacobian(tanh_of_an_element, batch=True, mode="forward", target=target)(rows, 0.7)
    for row, J in zip(rows, Z):
        t = math.tanh(row[3])
        expected = np.diag(np.full(4, t))
        expected[:, 3] += row * (1 - t * t)
        np.testing.assert_allclose(J, expected, rtol=1e-12)


def asarray_rebound(x, a):
    x = np.asarray(x)
    return np.tanh(x) * a


def writes_x_differentiated_in_a(x, a):
    x[1] = 0.5 * x[1]
    return x * a


@pytest.mark.cpu_slow
def test_forward_mode_of_rebinding_to_asarray_and_of_a_write_into_an_argument_not_differentiated(target):
    # fuzz seeds 777034 (float() of a dual on python) and 777077 (the caller's x changed)
    v = np.array([1.0, -1.0, 0.5, 0.0])
    _, y_dot = adflow.jvp(asarray_rebound, (X, 0.7), (v, 0.0), target=target)
    np.testing.assert_allclose(y_dot, 0.7 * (1 - np.tanh(X) ** 2) * v, rtol=1e-14)
    x = X.copy()
    J = adflow.jacobian(writes_x_differentiated_in_a, mode="forward", wrt=1, target=target)(x, 0.7)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_allclose(np.ravel(J), X * np.array([1.0, 0.5, 1.0, 1.0]), rtol=1e-14)


def float_of_a_rebound_dual(x, a):
    s0 = math.sin(a) + x[1]
    s0, a = a, s0 * a
    a = float(a)
    return s0 + np.sum(x * x) * a


@pytest.mark.cpu_slow
def test_hessian_through_float_of_a_value_carrying_tangents(target):
    # fuzz seed 888090: float(a) of a dual in the Hessian's reverse sweep (target="python")
    x, a = X[:2].copy(), 0.7
    H = adflow.hessian(float_of_a_rebound_dual, target=target)(x, a)
    # f = a + (sin a + x1) a sum(x^2): d2f/dx_i dx_j
    expected = 2.0 * a * (np.sin(a) + x[1]) * np.eye(2)
    expected[1, :] += 2.0 * a * x
    expected[:, 1] += 2.0 * a * x
    np.testing.assert_allclose(H, expected, rtol=1e-12)


def parameter_scaled(x):
    x = x * 2.0
    return x


def parameter_shifted(x, y):
    y = y + x * x
    z = y * 3.0
    return z


def test_a_parameter_reassigned_once_starts_a_new_adjoint():
    # Found while splitting functions for checkpoint= (adflow/checkpoint/split.py), whose pieces
    # reassign their parameters: the adjoint of the parameter's old value kept the new one's
    # (grad of x = x * 2.0; return x was 3.0; d/dy of 3 (y + x^2) was 6.0).
    assert adflow.grad(parameter_scaled, target="python")(1.0) == 2.0
    assert adflow.grad(parameter_shifted, wrt=(0, 1), target="python")(1.0, 1.0) == (6.0, 3.0)


def write_through_a_view_rebound_to_its_base(x, a):
    b = x * a
    c = np.sin(b)
    b = b[::-1]
    b[1] = 3.0 * a
    return np.sum(c) + np.sum(b * b)


def write_through_asarray_of_an_argument(x, a):
    a, x = x[1] * a, x * a
    c = x * x
    x = np.asarray(x)
    x[1] = 0.9 * x[1] + 0.1 * math.exp(-0.5 * (c[3] * a) ** 2)
    return np.sum(c * c) + 0.9 * a + x[2]


def write_through_a_plain_alias(x, a):
    y = x * a
    c = np.sin(y)
    z = y
    z[1] = a
    return np.sum(c * c) + z[0]


def write_through_a_view_in_a_loop(x, a):
    b = x * a
    s = 0.0
    for i in range(4):
        s = s + np.sum(np.sin(b))
        b = b[::-1]
        b[i] = 0.5 * b[i]
    return s


def write_through_a_reshape(x, a):
    b = np.outer(x, x) * a
    c = np.sin(b)
    b = b.reshape(2, 8)
    b[0, 1] = a
    return np.sum(c) + np.sum(b)


# fuzz seed 888177 (a float32 program: forward and reverse disagreed by 6e-4, within the float32
# tolerance of the differences; float64 shows the same error): an adjoint read b (np.sin(b)), then
# b was rebound to a view of itself (b[::-1], np.asarray(b), z = b) and written into; the reverse
# sweep saved nothing, so the adjoint read the written value.  All targets, reverse mode and hvp.
# On target="cpu" the loop also needed tapes typed for b[::-1] (numba's 'A' layout: an internal
# AssertionError of numba), and hvp needed the adjoint of reshape to take duals (a TypingError).
@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [write_through_a_view_rebound_to_its_base, write_through_asarray_of_an_argument,
                               write_through_a_plain_alias, write_through_a_view_in_a_loop,
                               write_through_a_reshape])
def test_a_write_through_a_rebound_view_restores_what_adjoints_read(f, target):
    check(f, X, 0.8, target=target)
    v = np.array([0.3, -1.0, 0.5, 2.0])
    hv = adflow.hvp(f, wrt=0, target=target)(X.copy(), v, 0.8)
    grad = adflow.grad(f, wrt=0, target="python")
    h = 1e-5
    np.testing.assert_allclose(hv, (grad(X + h * v, 0.8) - grad(X - h * v, 0.8)) / (2 * h), rtol=1e-6, atol=1e-8)


def reversed_in_a_loop(x, a):
    s = 0.0
    for i in range(4):
        s = s + np.sum(np.sin(x)) * a
        x = x[::-1]
    return s


def transposed_in_a_loop(x, a):
    M = np.outer(x, x) * a
    s = 0.0
    for i in range(3):
        s = s + np.sum(np.sin(M) @ x)
        M = M.T
        M[i, 0] = 0.5 * M[i, 1]
    return s


# Found with the test above: on target="cpu", a variable rebound in a loop to a view numba lays out
# differently (x[::-1] is 'A', M.T is 'F') had its tape and placeholder typed by a C array (numba
# failed inside its compiler), and the Hessian of np.outer took np.shape of a dual (TypingError)
@pytest.mark.cpu_slow
@pytest.mark.parametrize("f", [reversed_in_a_loop, transposed_in_a_loop])
def test_reverse_mode_of_arrays_rebound_to_views_laid_out_otherwise(f, target):
    check(f, X, 0.8, target=target)
    v = np.array([0.3, -1.0, 0.5, 2.0])
    hv = adflow.hvp(f, wrt=0, target=target)(X.copy(), v, 0.8)
    grad = adflow.grad(f, wrt=0, target="python")
    h = 1e-5
    np.testing.assert_allclose(hv, (grad(X + h * v, 0.8) - grad(X - h * v, 0.8)) / (2 * h), rtol=1e-6, atol=1e-8)


def write_into_a_name_reshaped_to_more_dimensions(x, a):
    b = np.cos(x * a)
    c = b * b
    b = b.reshape(2, 2)
    b[0, 1] = a
    return np.sum(c) + np.sum(b)


# Found with the tests above: once the write saved what it overwrites, its tape was typed by the
# name's first value (1-D) and named "_b_slices-1d" (a SyntaxError in generated code); before that,
# a wrong gradient.  A name given arrays of several ranks has no one type: refused, with the line.
def test_a_write_into_a_name_given_arrays_of_several_ranks_is_refused():
    with pytest.raises(adflow.NonDifferentiableError, match=r"other dimensions(.|\n)*test_regressions.py:\d+"):
        adflow.grad(write_into_a_name_reshaped_to_more_dimensions, target="python")(X, 0.8)


def last_of_a_pair(x):
    t = (x[0] * 2.0, x[1] * 3.0)
    return t[-1] + t[0]


def parts_counted_from_the_end(x):
    t = (np.sin(x), x[0] * x[1])
    return np.sum(t[-2]) + t[-1]


# Stop 27: a tuple of active values read with a negative index (t[-1]) gave its adjoint to a
# variable nothing read, so its part of the gradient was lost: [2, 0] for [2, 3].  No error, a
# wrong number.  The fuzzer's grammar now packs and reads tuples with negative indices.
@pytest.mark.parametrize("f, closed", [
    (last_of_a_pair, lambda x: np.array([2.0, 3.0])),
    (parts_counted_from_the_end, lambda x: np.cos(x) + np.array([x[1], x[0]])),
], ids=["last_of_a_pair", "parts_counted_from_the_end"])
def test_a_tuple_read_with_a_negative_index(f, closed, target):
    x = np.array([0.3, 0.7])
    np.testing.assert_allclose(adflow.grad(f, target=target)(x), closed(x), rtol=1e-14)
    np.testing.assert_allclose(adflow.jacobian(f, mode="forward", target=target)(x), closed(x), rtol=1e-14)
    np.testing.assert_allclose(adflow.grad(f, target=target)(x), numerical_jacobian(f, x), rtol=1e-7)


def widened_after_a_rebinding(x, a):
    x *= 3.0
    x = x * a
    return 0.25 * x[0] + np.sum(x * x)


# Fuzz seed 3011643068 (stop 27, an over-refusal on cpu): in numba a float32 array times a float is
# float64, so `x` held float32 then float64 arrays, and the tape of its old values, typed by one of
# them, could not take the other (a numba TypingError from generated code).  Such a variable is
# now typed by the wider dtype, and what its tape saves is converted to it.
def test_a_float32_argument_rebound_to_float64_twice(target):
    x = np.array([-0.4777, -0.5354, 0.8669, 0.5492], dtype=np.float32)
    a = 0.8171
    gx, ga = adflow.grad(widened_after_a_rebinding, wrt=(0, 1), target=target)(x.copy(), a)
    x64 = x.astype(np.float64)
    # f = 0.75 a x0 + 9 a^2 |x|^2: df/dx = 0.75 a e0 + 18 a^2 x, df/da = 0.75 x0 + 18 a |x|^2
    np.testing.assert_allclose(gx, 0.75 * a * np.eye(4)[0] + 18.0 * a * a * x64, rtol=1e-6)
    np.testing.assert_allclose(ga, 0.75 * x64[0] + 18.0 * a * (x64 @ x64), rtol=1e-6)
    assert gx.dtype == np.float32


def float32_array_in_a_tuple(x, a):
    b = x.copy()
    b[1] = a * x[0]
    return np.sum(b * b), x


# Fuzz seed 28000150 (stop 28, a refusal on cpu): the adjoint of a float32 array returned in a tuple,
# given the caller's float64 cotangent, was float32 where the cotangent was empty and float64 where
# it was added (add_cotangent), which numba could not unify.
def test_a_float32_array_returned_in_a_tuple(target):
    x = np.array([-0.5, 0.25, 0.75], dtype=np.float32)
    (value, same), pullback = adflow.vjp(float32_array_in_a_tuple, x.copy(), 1.5, target=target)
    x_bar, a_bar = pullback((1.0, np.array([1.0, 2.0, 3.0])))
    # f = x0^2 (1 + a^2) + x2^2: its gradient plus the cotangent of the returned x
    np.testing.assert_allclose(x_bar, [2 * -0.5 * (1 + 2.25) + 1.0, 2.0, 2 * 0.75 + 3.0], rtol=1e-6)
    assert a_bar == pytest.approx(2 * 1.5 * 0.25, rel=1e-6)


def filled_then_carrying_tangents(x, a):
    c = np.ones(3) * a
    a, s = 0.5, a * 0.5
    c[1] += x[0] * x[1]
    s = s + np.sum(x * x)
    a = s  # from here a carries tangents; where c was made it did not
    return a + np.sum(c * c)


# Fuzz seed 27000104 (stop 27): a Hessian refused (loudly) when `c = np.ones(3) * a` is made from
# an `a` that carries tangents only later.  What carries tangents was decided without the order of
# statements, so c was taken to be dual already and stayed a float array; the write
# `c[1] += x[0] * x[1]` then stored a dual in it.  Now frontend.dependencies.varied_before says
# what carries tangents where, and c becomes dual storage.
@pytest.mark.cpu_slow
def test_hessian_of_an_array_made_before_its_operand_carries_tangents(target):
    x, a = np.array([0.3, -0.8]), 0.7
    # f = |x|^2 + 2 a^2 + (a + x0 x1)^2 + a / 2 in x: H = [[2 + 2 x1^2, 2 a + 4 x0 x1], [., 2 + 2 x0^2]]
    expected = np.array([[2 + 2 * x[1] ** 2, 2 * a + 4 * x[0] * x[1]], [2 * a + 4 * x[0] * x[1], 2 + 2 * x[0] ** 2]])
    np.testing.assert_allclose(adflow.hessian(filled_then_carrying_tangents, target=target)(x, a), expected,
                               rtol=1e-13)


def asarray_then_written(x):
    x = np.asarray(x)
    x[0] = 0.5 * x[0]
    return x[0] ** 3 + x[1] ** 2


# Fuzz seed 2363189735 (CI, stop 27), a WRONG NUMBER: an argument rebound by np.asarray and then
# written in place got a doubled Hessian (diag(0.45, 4) for diag(0.225, 2)).  In the gradient run on
# dual numbers the adjoint's reset x_bar = zeros_like_float(x, ...) repeated the one at the top of
# the reverse sweep, and reverse/reloads.py dropped it as a reload, though x_bar had been written
# into in between.
@pytest.mark.cpu_slow
def test_hessian_after_an_argument_rebound_by_asarray_is_written(target):
    x = np.array([0.3, 0.7])
    np.testing.assert_allclose(adflow.grad(asarray_then_written, target=target)(x.copy()),
                               [3 * 0.15 ** 2 * 0.5, 1.4], rtol=1e-12)
    # f = (x0 / 2)^3 + x1^2: H = diag(6 x0 / 8, 2)
    np.testing.assert_allclose(adflow.hessian(asarray_then_written, target=target)(x.copy()),
                               [[6 * 0.3 / 8, 0.0], [0.0, 2.0]], rtol=1e-12)


def recomputed_after_a_write(x):
    y = x * 2.0
    y[0] = 0.0
    s = np.sum(y * y)
    y = x * 2.0
    return s + np.sum(y)


# A WRONG VALUE and gradient found with the one above: reloads.py took the second y = x * 2.0 for a
# repeat of the first, which still held, though y[0] = 0.0 had changed y in between.  The fuzzer's
# grammar draws the form (stmt_recompute).
def test_an_array_computed_again_after_a_write_into_it(target):
    x = np.array([0.3, 0.7, -0.4])
    value, gradient = adflow.value_and_grad(recomputed_after_a_write, target=target)(x.copy())
    # f = 4 (x1^2 + x2^2) + 2 (x0 + x1 + x2)
    assert value == pytest.approx(4 * (0.49 + 0.16) + 2 * 0.6, rel=1e-14)
    np.testing.assert_allclose(gradient, [2.0, 8 * 0.7 + 2, 8 * -0.4 + 2], rtol=1e-14)


def zero_dim_rebound(x, a):
    t = x * a
    a = 3.0
    return np.sum(t * t) * a


# Found writing tests for fusion (stop 28), a raw UnboundLocalError: a 0-d array argument rebound to
# a number got a stack of arrays for its tape where its pushes and pops were those of a stack of numbers.
def test_a_0d_array_argument_rebound_to_a_number(target):
    x = np.array([0.3, -0.8, 1.1])
    value, (x_bar, a_bar) = adflow.value_and_grad(zero_dim_rebound, wrt=(0, 1), target=target)(x, np.array(0.7))
    # f = 3 a^2 |x|^2
    assert value == pytest.approx(3 * 0.49 * (x @ x), rel=1e-14)
    np.testing.assert_allclose(x_bar, 6 * 0.49 * x, rtol=1e-14)
    assert float(a_bar) == pytest.approx(6 * 0.7 * (x @ x), rel=1e-14)


def tape_of_a_dual_slice(x, a):
    b = x.copy()
    s = b[1]
    for i in range(x.shape[0]):
        t = np.tanh(b[:-1] + a)  # read by nothing, yet taped: a slice of a dual array in a Hessian
        pair = (s, (b * -0.7, a))
        s = math.tanh(pair[-2] * pair[1][1] + 0.9 * np.sum(pair[1][-2]))
    return s


# Fuzz seed 28100008 (stop 28, a refusal on cpu: numba failed inside its compiler): in a Hessian the
# tape of b[:-1], a dual array whose tangents numba lays out as 'A', was made from a placeholder with
# C tangents.
@pytest.mark.cpu_slow
def test_hessian_with_a_tape_of_a_slice_of_a_dual_array(target):
    x, v, a = np.array([0.4423, 0.9446, 0.5969, -0.5508]), np.array([1.0, -0.5, 0.25, 2.0]), -1.4829
    grad = adflow.grad(tape_of_a_dual_slice, target="python")
    np.testing.assert_allclose(grad(x, a), numerical_jacobian(lambda y: tape_of_a_dual_slice(y, a), x),
                               rtol=1e-7, atol=1e-9)
    eps = 1e-6
    expected = (grad(x + eps * v, a) - grad(x - eps * v, a)) / (2 * eps)
    np.testing.assert_allclose(adflow.hvp(tape_of_a_dual_slice, target=target)(x, v, a), expected,
                               rtol=1e-6, atol=1e-8)


def float_before_dual(x, a):
    s0 = 0.5
    b = np.zeros(4)
    s1 = s0 * s0  # s0 is a float here and a dual below: by name, s1 "carries tangents"
    t = np.log1p((x[:-1] + a) ** 2)
    s0 = 0.5 * s0 + 0.2 * math.tanh(np.sum(t * b[1:]))
    return np.sin(b) * s1 + a + x * s0


def test_a_value_only_tangents_feed_whose_operands_carry_none(target):
    # Fuzz seed 29100128: np.sin(b) * s1 feeds only the result's tangents, so the forward transform
    # computed it with tangents_only.mul, which had no implementation for plain operands (numba
    # refused the Jacobian on cpu).
    x = np.array([0.09, -0.66, -0.81, -0.54])
    J = adflow.jacobian(float_before_dual, mode="forward", target=target)(x, -0.68)
    np.testing.assert_allclose(J, numerical_jacobian(lambda v: float_before_dual(v, -0.68), x), rtol=1e-6, atol=1e-9)


def reversed_row(x, a):
    x = x[::-1]  # the result is a view: its tangents are not contiguous
    if a > 0.0:  # a branch: no blocks of rows, the per-row driver
        a = a * 2.0
    return x


def test_row_jacobians_of_a_row_function_returning_a_view(target):
    # Fuzz seed 29100212: the per-row forward driver reshaped the result's tangents, which numba
    # refuses for a non-contiguous array.
    X = np.array([[-0.64, -0.53, 0.48, 0.92], [0.1, 0.2, 0.3, 0.4]])
    Z = adflow.jacobian(reversed_row, batch=True, mode="forward", target=target)(X, 0.3)
    for i in range(2):
        np.testing.assert_allclose(Z[i], numerical_jacobian(lambda v: reversed_row(v, 0.3), X[i]), rtol=1e-6, atol=1e-9)


def tape_names_meet(x, M, a, n):
    s0 = a * x[0]
    s1 = x[0] * a
    b = np.sin(x) + 0.5
    k1 = 0
    while k1 < 4 and a < 2.0:
        k1 = k1 + 1
        t2 = b[2:] - 2.0 * b[1:-1] + b[:-2]  # the user's t2 and the normaliser's _t2 both get a tape
        b[0] = math.cos(math.cos(s0))
        b[1:-1] = -0.7 * b[1:-1] + 0.1 * t2
        for i3 in range(1, n):
            b = -0.7 * b + 0.1 * np.arctan(b * b - M[i3, n - 1 - i3])
            t4 = np.log1p((b[:-1] + a) ** 2)
            x[i3] = 0.5 * x[i3] + 0.1 * math.cos(math.cos(s0))
            s0 = -0.5 * s0 + 0.2 * math.tanh(np.sum(t4 * x[1:]))
        s1, a = a, math.tanh(s1 * a)
    return np.sum(M) * s1


@pytest.mark.cpu_slow
def test_a_variable_and_a_temporary_whose_tapes_had_one_name(target):
    # CI fuzz seed 2028398981: t2 (an array) and _t2 (a number) were both taped on _t2_tape.
    x, M = np.array([0.1, 0.2, 0.3, 0.4]), np.eye(4) * 0.3
    g = adflow.grad(tape_names_meet, wrt=(0, 2), target=target)(x.copy(), M, 0.3, 4)
    h = 1e-6
    fd_a = (tape_names_meet(x.copy(), M, 0.3 + h, 4) - tape_names_meet(x.copy(), M, 0.3 - h, 4)) / (2 * h)
    fd_x = numerical_jacobian(lambda v: tape_names_meet(v.copy(), M, 0.3, 4), x).ravel()
    np.testing.assert_allclose(g[0], fd_x, rtol=1e-6, atol=1e-9)
    assert g[1] == pytest.approx(fd_a, rel=1e-6)


def builtin_max_row(x, a):
    s0 = math.sin(a) + x[1]
    s1 = max(math.sin(x[0]), np.sum(x) * 0.25)  # two numbers of one row: columns of a block of rows
    s2 = min(x[2] * a, 0.1)
    return x * s0 + s1 * s2


@pytest.mark.cpu_slow
def test_row_blocks_of_builtin_max_and_min(target):
    # CI fuzz seed 238642634: the block-of-rows form kept max(a, b), which raises on two columns.
    X = np.array([[-0.3377, 0.1146, 0.5569, -0.8108], [0.1, 0.2, 0.3, 0.4], [0.9, -0.2, -0.3, 0.4]])
    Z = adflow.jacobian(builtin_max_row, batch=True, mode="forward", target=target)(X, -1.14)
    for i in range(3):
        np.testing.assert_allclose(Z[i], numerical_jacobian(lambda v: builtin_max_row(v, -1.14), X[i]),
                                   rtol=1e-6, atol=1e-9)


def _cumsum_along_axis(x):
    return np.sum(np.cumsum(x.reshape(2, 2), 0) * np.arange(4.0).reshape(2, 2))


def _transpose_with_axes(x):
    return np.sum(np.transpose(x.reshape(2, 1, 2), (2, 0, 1)) * np.arange(4.0).reshape(2, 2, 1))


@pytest.mark.parametrize("f", [_cumsum_along_axis, _transpose_with_axes])
def test_a_positional_argument_no_rule_reads_is_refused(f):
    # The rules took the first argument and dropped the axis: on target="python" the gradient of
    # np.cumsum(m, 0) was the flattened cumsum's ([6, 6, 5, 3] for [2, 4, 2, 3]).
    with pytest.raises(adflow.NonDifferentiableError, match="positional arguments; adflow differentiates it with 1"):
        adflow.grad(f, target="python")(np.array([1.0, -2.0, 3.0, 4.0]))


def _tanh_layer(W, x):
    return np.sum(np.tanh(W @ x))


def test_a_float32_matrix_vector_product_has_a_compiled_gradient():
    # The adjoint of W @ x called numba's np.dot on float32 operands and a float64 cotangent, which
    # numba refuses (one dtype per np.dot): a loud failure for every float32 layer.  Closed form.
    rng = np.random.default_rng(4)
    W, x = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    gW, gx = adflow.grad(_tanh_layer, wrt=(0, 1))(W, x)
    d = 1.0 - np.tanh(W.astype(np.float64) @ x) ** 2
    assert gW.dtype == np.float32 and gx.dtype == np.float32
    np.testing.assert_allclose(gW, np.outer(d, x), rtol=1e-5)
    np.testing.assert_allclose(gx, W.T.astype(np.float64) @ d, rtol=1e-5)


def float32_written_then_widened(x, a):
    # Found by the fuzzer (seed 32200192): x / norm(x) is float32, x[1:] * a float64 in numba, so x
    # holds two dtypes and its tape keeps float64 copies; the reverse sweep restored the written
    # element into the copy, not into the array the division's adjoint reads: a wrong gradient.
    x = x / np.linalg.norm(x)
    b = x.copy()
    x[3] = 0.9 * x[3] + 0.1 * np.exp(-0.5 * (x[3] - 0.5) ** 2)
    b = np.minimum(b, np.sin(b))
    x = x[1:] * a
    return b


def test_a_write_into_an_array_of_two_dtypes_that_another_name_holds_is_refused(target):
    x = np.array([0.4223, 0.2846, 0.7169, 0.3992])
    with pytest.raises(adflow.NonDifferentiableError, match=r"(?s)in-place write into 'x', which shares memory.*two float dtypes"):
        adflow.vjp(float32_written_then_widened, x.astype(np.float32), -0.0629, target=target)
    # In float64, one dtype throughout: the element restored through the alias, right.
    value, pull = adflow.vjp(float32_written_then_widened, x.copy(), -0.0629, target=target)
    g = np.array([0.25, -1.37, -0.30, -0.48])
    expected = numerical_jacobian(lambda v: float32_written_then_widened(v, -0.0629), x).T @ g
    np.testing.assert_allclose(pull(g)[0], expected, rtol=1e-6, atol=1e-8)


def shift_right_in_place(x):
    b = x.copy()
    b[1:] = b[:-1]
    b[0] += 0.5 * math.tanh(x[1])
    return np.dot(b, x)


def shift_left_in_place(x):
    b = x * 1.5
    b[:-2] = b[2:]
    return np.sum(b * np.sin(x))


def shift_rows_in_place(x):
    M = np.outer(x, x)
    M[1:, :] = M[:-1, :]
    M[:, :-1] = M[:, 1:] * 0.5
    return np.sum(M * M)


# Fuzz seed 2419115480 (CI's slow tier): forward mode on cpu gave a wrong value and tangent for
# b[1:] = b[:-1].  A slice store of dual arrays in numba runs a forward element loop, which read
# b[1] after writing it; a source whose memory may meet the view's is now copied first.
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_slice_store_from_an_overlapping_view_in_forward_mode(target):
    x = np.array([-0.4577, 0.7746, -0.1431, 0.2992])
    t = np.array([0.3, -1.1, 0.6, 0.25])
    value, tangent = adflow.jvp(shift_right_in_place, (x,), (t,), target=target)
    assert value == pytest.approx(shift_right_in_place(x.copy()), rel=1e-12)
    assert tangent == pytest.approx(numerical_jacobian(shift_right_in_place, x) @ t, rel=1e-6, abs=1e-9)


@pytest.mark.cpu_slow  # the 2-D one's forward Jacobian compiles for 20 s on cpu
@pytest.mark.parametrize("f", [shift_right_in_place, shift_left_in_place, shift_rows_in_place])
def test_slice_stores_from_overlapping_views_in_forward_jacobians(f, target):
    x = np.array([-0.4577, 0.7746, -0.1431, 0.2992])
    J = adflow.jacobian(f, mode="forward", target=target)(x)
    np.testing.assert_allclose(J, numerical_jacobian(f, x), rtol=1e-6, atol=1e-9)


def normalised_zeros_unused(x, a, n):
    b = np.zeros(n)
    x, b = b, x * 0.5
    x = x / np.sqrt(np.sum(x * x))
    return b


# CI's fuzz seed 3684865439: x / sqrt(sum(x * x)) of an array of zeros (0 / 0, NaN in NumPy, with a
# warning) raised ZeroDivisionError in forward mode on target="python", where a Python float 0.0
# met the partial 1.0 / y.  The output does not read it: its derivative is right.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_division_by_a_zero_norm_the_output_does_not_read():
    x = np.array([0.0123, 0.0246, 0.0369, 0.0492])
    value, tangent = adflow.jvp(normalised_zeros_unused, (x, 0.0071, 4), (np.ones(4), 1.0), target="python")
    np.testing.assert_array_equal(value, 0.5 * x)
    np.testing.assert_array_equal(tangent, 0.5 * np.ones(4))


def nan_that_nothing_returned_reads(x, a):
    # CI's fuzz seed 4225158660: z / norm(z) of zeros is NaN, and so is everything computed from it,
    # s0 included; no path the function takes returns s0 after that.  The reverse sweep multiplied
    # the NaN by s0's zero adjoint: a NaN gradient where the derivative is finite.
    s0 = 0.5
    z = np.zeros(x.shape[0])
    b = x * 0.5
    if a > 0.0:
        z = z / np.linalg.norm(z)
        t1 = np.log1p((z[:-1] + a) ** 2)
        s0 = s0 + 0.9 * np.sum(t1 * b[1:])
    elif a < -1.0:
        return b * s0
    return np.sin(b) * a


def test_a_nan_that_nothing_returned_reads_stays_out_of_the_gradient(target):
    x, a = np.array([0.0123, 0.1146, 0.0369, 0.0692]), 0.0171
    with np.errstate(invalid="ignore", divide="ignore"):
        _, back = adflow.vjp(nan_that_nothing_returned_reads, x, a, target=target)
        x_bar, a_bar = back(np.ones(4))
        expected = numerical_jacobian(lambda v: nan_that_nothing_returned_reads(v[:4], v[4]), np.append(x, a))
    np.testing.assert_allclose(np.append(x_bar, a_bar), np.ones(4) @ expected, rtol=1e-6, atol=1e-10)

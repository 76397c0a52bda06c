"""Every error a user can trigger is loud and useful: it names the construct, the user's file:line, and a hint.

Each test builds the derivative of a small function defined in this file and checks the exception's
class, that its message names what was wrong, that it points at *this* file and the right line
(computed with inspect, so moving code around cannot make the test lie), and that it carries a hint.
Errors adflow gets wrong or leaves unclear are strict xfails whose reason says what is missing.
"""
import functools
import inspect
import math
import os

import numba
import numpy as np
import pytest

import adflow

HERE = os.path.basename(__file__)


def line_of(func, marker):
    """The file line number of the first line of ``func``'s source containing ``marker``."""
    lines, start = inspect.getsourcelines(func)
    for k, line in enumerate(lines):
        if marker in line:
            return start + k
    raise AssertionError(f"{marker!r} not in the source of {func.__name__}")


def expect(call, cls, construct, func=None, marker=None, hint=None):
    """Run ``call``; check it raises ``cls`` naming ``construct``, at ``func``'s ``marker`` line, with a hint."""
    with pytest.raises(cls) as info:
        call()
    err = info.value
    text = str(err)
    assert isinstance(err, adflow.AdflowError) or cls in (ValueError, TypeError), text
    constructs = (construct,) if isinstance(construct, str) else construct
    for c in constructs:
        assert c in text, f"{c!r} not named in:\n{text}"
    if func is not None:
        lineno = line_of(func, marker)
        assert f"{HERE}:{lineno}" in text, f"expected {HERE}:{lineno} in:\n{text}"
        assert err.location is not None and err.location.lineno == lineno
        assert os.path.samefile(err.location.filename, __file__)
        assert marker.strip() in text, "the message quotes the offending line"
    if hint is not None:
        assert err.hint and "hint:" in text, f"no hint in:\n{text}"
        assert hint in err.hint, f"{hint!r} not in the hint {err.hint!r}"
    assert "Traceback" not in text and "\x1b[" not in text, text
    return err


def grad_py(f, *args, **kw):
    return lambda: adflow.grad(f, target="python", **kw)(*args)


# ====================================================================== syntax outside the subset
def uses_with(x):
    with open(os.devnull) as fh:  # noqa: F841
        x = x * 2.0
    return x


def uses_try(x):
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return y


def uses_yield(x):
    yield x * 2.0


def uses_lambda(x):
    return (lambda t: 2.0 * t)(x)  # a lambda assigned to a name is a nested function


def uses_closure(x):
    if x > 0.0:
        def inner(t):  # nested functions are defined at the top level of the body
            return t * x
    return inner(x)


COUNTER = 0.0


def uses_global(x):
    global COUNTER
    COUNTER = x
    return x * 2.0


def make_nonlocal():
    total = 0.0

    def uses_nonlocal(x):
        nonlocal total
        total = x
        return x * 2.0
    return uses_nonlocal


uses_nonlocal = make_nonlocal()


def uses_class(x):
    class Box:
        pass
    return x * 2.0


class State:
    pass


STATE = State()


def uses_attribute_store(x):
    STATE.last = x
    return x * 2.0


def uses_star_args(*args):
    return args[0] * 2.0


def uses_star_kwargs(x, **options):
    return x * 2.0


def uses_kwonly(x, *, scale=2.0):
    return x * scale


def uses_nonconstant_default(x, scale=math.pi * 2):
    return x * scale


def uses_del(x):
    y = x * 2.0
    del y
    return x


def uses_import(x):
    import cmath  # noqa: F401
    return x * 2.0


def uses_listcomp(x):
    return np.sum(np.array([v * v for v in x]))


def uses_genexp(x):
    return sum(v * v for v in x)


def uses_fstring(x):
    label = f"x={x}"  # noqa: F841
    return x * 2.0


def uses_side_effect_call(x):
    print(x)
    return x * 2.0


def uses_loop_else(x):
    for i in range(3):
        x = x * 2.0
    else:
        x = x + 1.0
    return x


def uses_walrus(x):
    if (y := x * 2.0) > 0.0:
        return y
    return x


def uses_dict(x):
    d = {"a": x}
    return d["a"]


GLOBAL_BUFFER = np.zeros(3)


def writes_global_array(x):
    GLOBAL_BUFFER[0] = x[0]
    return np.sum(x * x)


def uses_match(x):
    match 1:
        case 1:
            x = x * 2.0
    return x


SYNTAX_CASES = [
    # (function, args, what the message names, the marker of the offending line, a word of the hint)
    (uses_with, (1.0,), "'with' block", "with open", "context manager"),
    (uses_try, (1.0,), "'try' block", "try:", "exception"),
    (uses_yield, (1.0,), "'yield'", "yield x", "return an array"),
    (uses_lambda, (1.0,), "lambda", "(lambda t: 2.0 * t)(x)", "assign it to a name"),
    (uses_closure, (1.0,), "a function defined other than at the top level", "def inner", "top level"),
    (uses_global, (1.0,), "'global'", "global COUNTER", "argument"),
    (uses_nonlocal, (1.0,), "'nonlocal'", "nonlocal total", "argument"),
    (uses_class, (1.0,), "class definition", "class Box", "outside"),
    (uses_attribute_store, (1.0,), "attribute", "STATE.last = x", "local variables"),
    (uses_star_args, (1.0,), "*args", "def uses_star_args", "name"),
    (uses_star_kwargs, (1.0,), "**kwargs", "def uses_star_kwargs", "name"),
    (uses_kwonly, (1.0,), "keyword-only", "def uses_kwonly", "positional"),
    (uses_nonconstant_default, (1.0,), "default argument", "def uses_nonconstant_default", "a number"),
    (uses_del, (1.0,), "'del'", "del y", "out of use"),
    (uses_import, (1.0,), "import", "import cmath", "module level"),
    (uses_listcomp, (np.ones(2),), "list comprehension", "for v in x]", "for loop"),
    (uses_genexp, (np.ones(2),), "generator expression", "sum(v * v", "for loop"),
    (uses_fstring, (1.0,), "f-string", 'f"x={x}"', "string"),
    (uses_side_effect_call, (1.0,), "unused", "print(x)", "assign"),
    (uses_loop_else, (1.0,), "'else' clause", "for i in range(3)", "flag"),
    (uses_walrus, (1.0,), ":=", "(y := x * 2.0)", "own line"),
    (uses_dict, (1.0,), "dict", 'd = {"a": x}', "arrays"),
    (writes_global_array, (np.ones(3),), "in-place write", "GLOBAL_BUFFER[0] = x[0]", "local array"),
    (uses_match, (1.0,), "'match'", "match 1:", "if/elif"),
]


@pytest.mark.parametrize("func, args, construct, marker, hint", SYNTAX_CASES,
                         ids=[case[0].__name__ for case in SYNTAX_CASES])
def test_unsupported_syntax(func, args, construct, marker, hint):
    expect(grad_py(func, *args), adflow.UnsupportedSyntaxError, construct, func, marker, hint)


def test_syntax_errors_are_target_independent():
    # The fence runs before any code generation: the numba target reports the same error.
    expect(lambda: adflow.grad(uses_with, target="cpu")(1.0), adflow.UnsupportedSyntaxError,
           "'with' block", uses_with, "with open", "context manager")


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_unsupported_syntax_inside_a_helper_points_at_the_helper(target):
    # Helpers are fenced before numba types their caller (which types the helpers too).
    expect(lambda: adflow.grad(calls_helper_with_try, target=target)(1.0), adflow.UnsupportedSyntaxError,
           "'try' block", uses_try, "try:", "exception")


def count_positive(n):
    return len([i for i in range(n) if i > 0])


def scales_by_a_count(x, n):
    return x * float(count_positive(n))


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_helper_outside_the_subset_without_derivatives_is_fine(target):
    # count_positive only sees an integer: numba runs it as written, adflow never transforms it.
    assert adflow.grad(scales_by_a_count, target=target)(1.5, 3) == 2.0


def calls_calls_helper_with_try(x):
    return calls_helper_with_try(x) + 1.0


def test_unsupported_syntax_two_helpers_down():
    expect(grad_py(calls_calls_helper_with_try, 1.0), adflow.UnsupportedSyntaxError, "'try' block",
           uses_try, "try:", "exception")


def calls_helper_with_try(x):
    return uses_try(x) * 3.0


# ====================================================================== recursion
def recursive(x, n):
    if n <= 0:
        return x
    return recursive(x * 2.0, n - 1)


def ping(x, n):
    if n <= 0:
        return x
    return pong(x, n - 1)


def pong(x, n):
    return ping(x * 2.0, n) * 1.0


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_direct_recursion_is_named(target):
    expect(lambda: adflow.grad(recursive, target=target)(1.0, 3), adflow.UnsupportedSyntaxError,
           ("recursive calls itself", "recursion"), recursive, "return recursive(", "loop")


def test_mutual_recursion_is_named():
    expect(grad_py(ping, 1.0, 3), adflow.UnsupportedSyntaxError,
           ("ping calls itself through pong", "ping -> pong -> ping"), ping, "return pong(", "loop")


def calls_ping(x):
    return ping(x, 3) + 1.0


def test_recursion_below_the_differentiated_function():
    # The cycle is reported where it starts, not at the caller that leads into it.
    expect(grad_py(calls_ping, 1.0), adflow.UnsupportedSyntaxError, "ping -> pong -> ping", ping,
           "return pong(", "loop")


def test_recursion_in_forward_mode():
    expect(lambda: adflow.jvp(recursive, (1.0, 3), (1.0,), wrt=0, target="python"), adflow.UnsupportedSyntaxError,
           "recursion", recursive, "return recursive(", "loop")


def test_recursion_is_at_least_an_adflow_error_at_the_right_line():
    # What holds today: the error is adflow's and points at the recursive call.
    with pytest.raises(adflow.AdflowError) as info:
        adflow.grad(recursive, target="python")(1.0, 3)
    assert f"{HERE}:{line_of(recursive, 'return recursive(')}" in str(info.value)


# ====================================================================== calls without a derivative rule
def calls_sort(x):
    y = np.sort(x)
    return y[0] * 2.0


def calls_norm_with_order(x):
    return np.linalg.norm(x, np.inf)


def calls_slogdet(x):
    return np.linalg.slogdet(x)[1]


def calls_eigvalsh(x):
    w = np.linalg.eigvalsh(x)
    return w[0]


def calls_cumprod(x):
    return np.sum(np.cumprod(x))


def calls_std(x):
    return np.std(x)


def calls_median(x):
    return np.median(x)


def calls_gamma(x):
    return math.gamma(x)


def calls_erf(x):
    return math.erf(x)


def calls_fft(x):
    y = np.fft.fft(x)
    return np.sum(y.real)


NO_RULE_CASES = [
    # None of these is in adflow/rules (primitive_of_object): each must say "no derivative rule for <name>".
    (calls_sort, np.array([3.0, 1.0, 2.0]), "np.sort", "y = np.sort(x)"),
    (calls_slogdet, np.eye(2) * 2.0, "np.linalg.slogdet", "np.linalg.slogdet(x)"),
    (calls_eigvalsh, np.eye(2), "np.linalg.eigvalsh", "np.linalg.eigvalsh(x)"),
    (calls_cumprod, np.array([3.0, 1.0, 2.0]), "np.cumprod", "np.cumprod(x)"),
    (calls_std, np.array([3.0, 1.0, 2.0]), "np.std", "np.std(x)"),
    (calls_median, np.array([3.0, 1.0, 2.0]), "np.median", "np.median(x)"),
    (calls_gamma, 1.5, "math.gamma", "math.gamma(x)"),
    (calls_erf, 0.5, "math.erf", "math.erf(x)"),
]


@pytest.mark.parametrize("func, arg, name, marker", NO_RULE_CASES, ids=[c[2] for c in NO_RULE_CASES])
def test_call_without_derivative_rule(func, arg, name, marker):
    expect(grad_py(func, arg), adflow.NonDifferentiableError, ("no derivative rule", name), func, marker,
           "custom_vjp")


def test_an_argument_no_rule_reads_is_refused_at_its_line():
    expect(grad_py(calls_norm_with_order, np.array([3.0, 1.0, 2.0])), adflow.NonDifferentiableError,
           ("np.linalg.norm is called with 2 positional arguments", "(x)"), calls_norm_with_order,
           "np.linalg.norm(x, np.inf)", "custom_vjp")


def test_call_numba_cannot_compile_names_it():
    # np.fft is not in numba: adflow reports numba's refusal, at the user's line.
    err = expect(grad_py(calls_fft, np.array([3.0, 1.0, 2.0])), adflow.TypingError, "fft", calls_fft,
                 "np.fft.fft(x)", "numba")
    assert "numba cannot compile calls_fft" in str(err)


def helper_sorts(v):
    w = np.sort(v)
    return w[0] * 1.0


def calls_helper_that_sorts(x):
    return helper_sorts(x) * 2.0


def test_missing_rule_inside_helper_points_at_the_helper():
    expect(grad_py(calls_helper_that_sorts, np.array([3.0, 1.0])), adflow.NonDifferentiableError,
           "np.sort", helper_sorts, "w = np.sort(v)", "custom_vjp")


def uses_undefined_name(x):
    return x * not_defined_anywhere  # noqa: F821


def test_undefined_name():
    expect(grad_py(uses_undefined_name, 1.0), adflow.UnsupportedSyntaxError, "'not_defined_anywhere'",
           uses_undefined_name, "not_defined_anywhere", "define it")


# ====================================================================== derivatives numba cannot compile
# The primal types, so the front end accepts it; the generated derivative does not compile (the
# adjoint of sum(axis=) spreads along one axis, not a tuple of them).  numba finds that at the first call.
def sums_axis_of_4d(x):
    s = np.sum(x, axis=(0, 1))
    return np.sum(s)


def helper_sums_axis_of_4d(v):
    s = np.sum(v, axis=(1, 2))
    return np.sum(s)


def calls_helper_summing_4d(x):
    return helper_sums_axis_of_4d(x) * 2.0


X4 = np.ones((2, 2, 2, 2))
DERIVATIVE_CALLS = {
    "grad": lambda f: adflow.grad(f)(X4),
    "value_and_grad": lambda f: adflow.value_and_grad(f)(X4),
    "vjp": lambda f: adflow.vjp(f, X4),
}


@pytest.mark.parametrize("call", DERIVATIVE_CALLS)
def test_derivative_numba_cannot_compile_names_the_users_line(call):
    err = expect(lambda: DERIVATIVE_CALLS[call](sums_axis_of_4d), adflow.TypingError,
                 ("numba cannot compile the derivative of sums_axis_of_4d", "takes an integer axis"),
                 sums_axis_of_4d, "s = np.sum(x, axis=(0, 1))", "custom_vjp")
    assert isinstance(err.__cause__, numba.core.errors.TypingError), "numba's full message is the cause"


def test_derivative_numba_cannot_compile_in_a_helper_points_at_the_helper():
    err = expect(lambda: adflow.grad(calls_helper_summing_4d)(X4), adflow.TypingError,
                 "numba cannot compile the derivative of calls_helper_summing_4d",
                 helper_sums_axis_of_4d, "s = np.sum(v, axis=(1, 2))", "custom_vjp")
    assert err.location.function == "helper_sums_axis_of_4d"


# ====================================================================== integer and boolean wrt (JAX's allow_int)
def scaled(x, n):
    return x * n


def branchy(x, flag):
    if flag:
        return x * 2.0
    return x


@pytest.mark.parametrize("args, wrt, name, kind", [
    ((2.0, 3), 1, "'n'", "int64"),
    ((2, 3.0), 0, "'x'", "int64"),
    ((np.array([1.0]), np.array([1, 2])), 1, "'n'", "int64"),
    ((2.0, np.int32(3)), 1, "'n'", "int32"),
], ids=["int", "int-first", "int-array", "int32"])
def test_integer_wrt_is_refused(args, wrt, name, kind):
    expect(lambda: adflow.grad(scaled, wrt=wrt, target="python")(*args), adflow.NonDifferentiableError,
           (name, kind, "not a float"), scaled, "def scaled", "1.0, not 1")


def test_boolean_wrt_is_refused():
    expect(lambda: adflow.grad(branchy, wrt=1, target="python")(2.0, True), adflow.NonDifferentiableError,
           ("'flag'", "bool"), branchy, "def branchy", "float arguments")


def test_complex_wrt_is_refused():
    expect(lambda: adflow.grad(scaled, wrt=0, target="python")(1j, 2.0), adflow.NonDifferentiableError,
           ("'x'", "complex128"), scaled, "def scaled", "float arguments")


def test_integer_arguments_not_differentiated_are_fine():
    assert adflow.grad(scaled, wrt=0, target="python")(2.0, 3) == 3.0


# ====================================================================== shapes
def vector_out(x):
    return x * 2.0


def pair_out(x):
    return x[0] * 2.0, x[1] * 3.0


def test_grad_of_non_scalar_suggests_vjp_and_jacobian():
    err = expect(grad_py(vector_out, np.array([1.0, 2.0])), adflow.ShapeError, ("scalar", "(2,)", "vector_out"),
                 hint="vjp")
    assert "jacobian" in err.hint


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_has_aux_without_a_pair_is_explained(target):
    expect(lambda: adflow.grad(scaled, has_aux=True, target=target)(2.0, 3.0), adflow.ShapeError,
           ("has_aux=True needs scaled to return a pair (value, aux)", "float64"), hint="drop has_aux")


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_has_aux_with_an_array_output_is_refused(target):
    # Not read as (value, aux): that gave gradient [2., 2.] and aux 4.0 for this function.
    expect(lambda: adflow.grad(vector_out, has_aux=True, target=target)(np.array([1.0, 2.0])),
           adflow.ShapeError, ("has_aux=True needs vector_out to return a pair", "an array"), hint="(value, aux)")


def triple_out(x):
    return x * 2.0, x, x


def test_has_aux_with_a_triple_is_refused():
    expect(lambda: adflow.value_and_grad(triple_out, has_aux=True, target="python")(1.0), adflow.ShapeError,
           ("has_aux=True needs triple_out to return a pair", "Tuple"))


def test_vjp_cotangent_shape_names_both_shapes():
    _, pullback = adflow.vjp(vector_out, np.array([1.0, 2.0]), target="python")
    expect(lambda: pullback(np.ones(3)), adflow.ShapeError, ("(3,)", "(2,)", "vector_out"), hint="shaped like")
    expect(lambda: pullback(np.ones((2, 1))), adflow.ShapeError, ("(2, 1)", "(2,)"), hint="shaped like")
    expect(lambda: pullback(1.0), adflow.ShapeError, ("()", "(2,)"), hint="shaped like")


def test_vjp_cotangent_structure_for_tuple_outputs():
    _, pullback = adflow.vjp(pair_out, np.array([1.0, 2.0]), target="python")
    expect(lambda: pullback(1.0), adflow.ShapeError, ("tuple of 2", "pair_out"))
    expect(lambda: pullback((1.0,)), adflow.ShapeError, ("tuple of 2", "pair_out"))
    expect(lambda: pullback((np.ones(2), 1.0)), adflow.ShapeError, ("(2,)", "()"))


def test_jvp_tangent_count_and_shape():
    if not hasattr(adflow, "jvp"):
        pytest.skip("no forward mode yet")
    expect(lambda: adflow.jvp(scaled, (1.0, 2.0), (1.0,), target="python"), adflow.ShapeError,
           ("1 tangents", "2 differentiated"))
    expect(lambda: adflow.jvp(vector_out, (np.ones(3),), (np.ones(2),), target="python"), adflow.ShapeError,
           ("(2,)", "(3,)"), hint="shaped like")


# ====================================================================== arguments and options
def two_args(x, y):
    return x * y


def test_wrt_out_of_range():
    err = expect(lambda: adflow.grad(two_args, wrt=5, target="python")(1.0, 2.0), ValueError,
                 ("wrt=5 is out of range", "two_args is called with 2 arguments"), hint="from 0")
    assert isinstance(err, adflow.AdflowError)
    expect(lambda: adflow.grad(two_args, wrt=(0, 2), target="python")(1.0, 2.0), ValueError, "wrt=2 is out of range")
    expect(lambda: adflow.vjp(two_args, 1.0, 2.0, wrt=2, target="python"), ValueError, "wrt=2 is out of range")
    expect(lambda: adflow.jvp(two_args, (1.0, 2.0), (1.0,), wrt=3, target="python"), ValueError,
           "wrt=3 is out of range")


@pytest.mark.parametrize("wrt", [1.5, "0", None, (0, 1.0), True])
def test_wrt_not_an_int(wrt):
    err = expect(lambda: adflow.grad(two_args, wrt=wrt, target="python"), ValueError,
                 ("wrt must be", repr(wrt)), hint="wrt=0")
    assert isinstance(err, adflow.AdflowError)


@pytest.mark.parametrize("wrt", [-1, (0, 0)])
def test_wrt_negative_or_repeated(wrt):
    expect(lambda: adflow.grad(two_args, wrt=wrt, target="python"), ValueError,
           (f"wrt={wrt!r}", "non-negative and appear once"), hint="from 0")


@pytest.mark.parametrize("args, says", [((1.0,), "1 positional argument (float): missing a required argument: 'y'"),
                                        ((1.0, 2.0, 3.0), "3 positional arguments (float, float, float)")])
def test_wrong_number_of_arguments(args, says):
    expect(lambda: adflow.grad(two_args, target="python")(*args), ValueError,
           ("two_args(x, y) cannot be called with", says), two_args, "def two_args", "call it as two_args(x, y)")


def test_default_arguments_may_be_left_out_or_given_by_keyword():
    assert adflow.grad(uses_default, target="python")(3.0) == 2.0
    assert adflow.grad(uses_default, target="python")(3.0, 5.0) == 5.0
    assert adflow.grad(uses_default, target="python")(3.0, scale=4.0) == 4.0
    expect(lambda: adflow.grad(uses_default, target="python")(3.0, factor=4.0), ValueError,
           "unexpected keyword argument 'factor'", uses_default, "def uses_default", "left out or given by keyword")


def test_wrt_empty_tuple():
    expect(lambda: adflow.grad(two_args, wrt=(), target="python"), ValueError, "wrt must be")


def test_unknown_target_lists_the_choices():
    expect(lambda: adflow.grad(two_args, target="gpu")(1.0, 2.0), ValueError, ("'gpu'", "python", "cpu"))


def test_argument_of_unsupported_type_is_named():
    expect(lambda: adflow.grad(two_args, wrt=0, target="python")(1.0, {"a": 1}), adflow.NonDifferentiableError,
           ("'y' (argument 1) of two_args", "of type 'dict'"), hint="unpack")
    expect(lambda: adflow.vjp(two_args, object(), 1.0, wrt=1, target="python"), adflow.NonDifferentiableError,
           ("'x' (argument 0) of two_args", "of type 'object'"))


def test_argument_of_unsupported_type_is_an_adflow_error():
    with pytest.raises(adflow.NonDifferentiableError, match="dict"):
        adflow.grad(two_args, wrt=0, target="python")(1.0, {"a": 1})


def uses_default(x, scale=2.0):
    return x * scale


def no_return(x):
    y = x * 2.0  # noqa: F841


def test_function_without_return():
    expect(grad_py(no_return, 1.0), adflow.UnsupportedSyntaxError, "return value", no_return, "def no_return",
           "return")


def returns_on_one_branch(x):
    if x > 0.0:
        return x * 2.0


def returns_in_a_loop(x):
    for i in range(3):
        if x > float(i):
            return x * 2.0


def returns_on_every_path(x):
    if x > 0.0:
        return x * 2.0
    elif x < -1.0:
        return x * 3.0
    else:
        for i in range(2):
            x = x * 0.5
    while True:
        if x > 1.0:
            return x
        x = x + 1.0


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("func, marker", [(returns_on_one_branch, "if x > 0.0"),
                                          (returns_in_a_loop, "for i in range(3)")])
def test_function_that_can_fall_off_its_end(func, marker, target):
    # Python returns None there; the cpu target gave a gradient of 0.0 at x = -1.0, silently.
    expect(lambda: adflow.grad(func, target=target)(-1.0), adflow.UnsupportedSyntaxError,
           f"{func.__name__} can reach its end without returning a value", func, marker, "else")


def test_every_path_returning_is_accepted():
    assert adflow.grad(returns_on_every_path, target="python")(-0.5) == 0.25  # x * 0.25 + 2.0


def calls_no_return(x):
    return no_return(x) * 2.0


def test_helper_without_return():
    expect(grad_py(calls_no_return, 1.0), adflow.UnsupportedSyntaxError, "no_return has no 'return'", no_return,
           "def no_return", "return")


# ====================================================================== source that cannot be read
def test_builtin_passed_directly():
    expect(grad_py(math.sin, 1.0), adflow.SourceUnavailableError, ("sin", "builtin"), hint="custom_vjp")


def test_ufunc_passed_directly():
    expect(grad_py(np.sin, 1.0), adflow.SourceUnavailableError, ("sin", "ufunc"), hint="Python function")


def test_function_created_with_exec():
    namespace = {}
    exec("def made_by_exec(x):\n    return x * 2.0\n", namespace)
    expect(grad_py(namespace["made_by_exec"], 1.0), adflow.SourceUnavailableError,
           ("made_by_exec", "<string>"), hint="exec")


def test_functools_partial():
    expect(grad_py(functools.partial(two_args, y=2.0), 1.0), adflow.SourceUnavailableError, "partial",
           hint="Python function")


class Model:
    def loss(self, x):
        return x * 2.0


def test_bound_method_is_differentiated_like_its_function():
    assert adflow.grad(Model().loss, target="python")(1.0) == 2.0


two_lambdas = (lambda x: x * 2.0, lambda x: x * 3.0)


def test_two_lambdas_on_one_line():
    err = expect(grad_py(two_lambdas[0], 1.0), adflow.UnsupportedSyntaxError, "lambda", hint="def")
    assert f"{HERE}:{inspect.getsourcelines(two_lambdas[0])[1]}" in str(err)


# ====================================================================== writes adflow cannot differentiate
# A helper writing into its argument is written out where it is called: test_python_constructs.py.


def writes_into_slice_view(x):
    y = x * 1.0
    v = y[1:]
    v[0] = v[0] * 3.0
    return np.sum(y)


def writes_into_transpose_view(x):
    y = x.copy()
    v = y.T
    v[0, 0] = 5.0 * x[0, 1]
    return np.sum(y * y)


def writes_into_alias(x):
    y = x * 1.0
    z = y
    z[0] = z[0] * 3.0
    return np.sum(y)


@pytest.mark.parametrize("func, arg, marker", [
    (writes_into_slice_view, np.array([1.0, 2.0, 3.0]), "v[0] = v[0] * 3.0"),
    (writes_into_transpose_view, np.ones((2, 2)), "v[0, 0] = 5.0 * x[0, 1]"),
    (writes_into_alias, np.array([1.0, 2.0, 3.0]), "z[0] = z[0] * 3.0"),
], ids=["slice", "transpose", "alias"])
def test_write_into_a_view(func, arg, marker):
    expect(grad_py(func, arg), adflow.NonDifferentiableError, ("in-place write", "view"), func, marker, ".copy()")


def test_every_error_class_is_an_adflow_error():
    for cls in (adflow.UnsupportedSyntaxError, adflow.NonDifferentiableError, adflow.ShapeError,
                adflow.SourceUnavailableError, adflow.TypingError):
        assert issubclass(cls, adflow.AdflowError)
    assert issubclass(adflow.ShapeError, ValueError)


# ====================================================================== custom rules: only an explicit None means zero
def scaled_primal(x, c):
    return c * x


def rule_without_return(g, ans, x, c):
    y = g * c  # noqa: F841


def rule_returning_none(g, ans, x, c):
    if g > 0.0:
        return None
    return None


@pytest.mark.parametrize("rule", [rule_without_return, rule_returning_none])
def test_custom_rule_returning_nothing(rule):
    def define():
        adflow.custom_vjp(scaled_primal).defvjp(rule, None)
    expect(define, adflow.NonDifferentiableError, ("defvjp rule for argument 0 of scaled_primal", "returns no value"),
           rule, f"def {rule.__name__}", "pass None instead")


def test_custom_rule_count_must_match_the_arguments():
    rule = lambda g, ans, x, c: g * c  # noqa: E731
    err = expect(lambda: adflow.custom_vjp(scaled_primal).defvjp(rule), ValueError,
                 "scaled_primal takes 2 arguments but defvjp was given 1 rule", hint="None for an argument")
    assert err.location.lineno == line_of(test_custom_rule_count_must_match_the_arguments, ".defvjp(rule)")
    expect(lambda: adflow.custom_jvp(scaled_primal).defjvp(None, None, None), ValueError,
           "scaled_primal takes 2 arguments but defjvp was given 3 rules")


def test_custom_rule_that_is_not_a_function():
    expect(lambda: adflow.custom_vjp(scaled_primal).defvjp(2.0, None), ValueError,
           ("defvjp rule for argument 0", "float, not a function"), hint="None for no derivative")


@adflow.custom_vjp
def rule_none_for_c(x, c):
    return c * x


rule_none_for_c.defvjp(lambda g, ans, x, c: g * c, None)


def uses_rule_none_for_c(x, c):
    return rule_none_for_c(x, c) * 2.0


def test_vjp_of_a_function_with_custom_rules():
    y, pullback = adflow.vjp(rule_none_for_c, np.array([1.0, 2.0]), 3.0, target="python")
    assert np.array_equal(y, [3.0, 6.0])
    grads = pullback(np.array([1.0, 1.0]))
    assert np.array_equal(grads[0], [3.0, 3.0]) and grads[1] == 0.0


def test_custom_rule_none_is_a_documented_zero():
    # docs/custom-rules.md: None marks an argument without a derivative, its cotangent is zero.
    assert adflow.grad(uses_rule_none_for_c, wrt=(0, 1), target="python")(1.5, 2.0) == (4.0, 0.0)

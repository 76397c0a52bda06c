"""The pass that starts a once-written adjoint as its contribution instead of zeros plus it.

It runs on every generated reverse sweep, so the whole suite checks its numbers; these tests pin
down when it must leave the zeros alone (the cases where the rewrite would change a number).
"""
import re
import textwrap

import gast
import numpy as np
import pytest

import adflow
from adflow.reverse.single_adjoints import assign_single_contributions


def rewritten(source):
    fdef = gast.parse(textwrap.dedent(source)).body[0]
    return gast.unparse(assign_single_contributions(fdef))


def zero_started(text):
    return {line.split("=")[0].strip() for line in text.splitlines() if "zeros_like_float" in line}


def test_a_temporary_read_once_starts_as_its_contribution():
    text = rewritten("""
        def f_vjp(v, w, s):
            v_bar = zeros_like_float(v, s)
            w_bar = zeros_like_float(w, s)
            w_bar += unbroadcast(s, w)
            v_bar += unbroadcast(w_bar * 2.0, v)
            return (0.0, (v_bar,))
    """)
    assert zero_started(text) == {"v_bar"}  # the returned adjoint keeps its own zeros
    assert "w_bar = unbroadcast(s, w)" in text


@pytest.mark.parametrize("case, kept", [
    # a_bar would share b_bar's memory, and b_bar is added into afterwards
    ("""
        a_bar = zeros_like_float(a, s)
        b_bar = zeros_like_float(b, s)
        b_bar += unbroadcast(s, b)
        a_bar += unbroadcast(b_bar, a)
        b_bar += unbroadcast(s, b)
        x_bar += a_bar
    """, {"a_bar", "b_bar"}),
    # ... or written element by element afterwards
    ("""
        a_bar = zeros_like_float(a, s)
        a_bar += unbroadcast(b_bar, a)
        b_bar[0] = 0.0
        x_bar += a_bar
    """, {"a_bar"}),
    # read (as zeros) before its contribution
    ("""
        a_bar = zeros_like_float(a, s)
        x_bar += a_bar
        a_bar += unbroadcast(s, a)
    """, {"a_bar"}),
    # the contribution runs once per iteration
    ("""
        a_bar = zeros_like_float(a, s)
        for i in range(3):
            a_bar += unbroadcast(s, a)
        x_bar += a_bar
    """, {"a_bar"}),
    # a value not known to be shaped like a
    ("""
        a_bar = zeros_like_float(a, s)
        a_bar += s
        x_bar += a_bar
    """, {"a_bar"}),
])
def test_the_zeros_stay_where_the_rewrite_could_change_a_number(case, kept):
    body = textwrap.indent(textwrap.dedent(case), "    ")
    text = rewritten(f"def f_vjp(a, b, x, s):\n    x_bar = zeros_like_float(x, s)\n{body}\n    return (0.0, (x_bar,))\n")
    assert zero_started(text) == kept | {"x_bar"}


def rosen_array(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def function_text(source, name):
    """The text of one generated function (the module also holds <f>_grad, a copy of the vjp)."""
    start = source.index(f"def {name}(")
    end = source.find("\ndef ", start + 1)
    return source[start:end if end >= 0 else None]


def test_numpy_style_gradient_allocates_only_the_returned_zeros(rng):
    x = rng.uniform(-1.0, 1.0, 50)
    grad = adflow.grad(rosen_array)
    source = function_text(grad.source_for(x), "rosen_array_vjp")
    # the one array returned, allocated empty and zeroed in the loop that fills it (zero_in_loop)
    assert source.count("zeros_like_float(") + source.count("empty_like_float(") == 1, source
    want = np.zeros_like(x)
    want[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    want[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    np.testing.assert_allclose(grad(x), want, rtol=1e-12)


# --- the pass that reads forward values instead of computing them again -------------------------

def reused(source):
    from adflow.reverse.reuse_values import reuse_forward_values
    return gast.unparse(reuse_forward_values(gast.parse(textwrap.dedent(source)).body[0]))


def test_partials_read_the_forward_values():
    text = reused("""
        def f_vjp(x, s):
            _result1 = np.empty((0,), np.float64)
            _result1 = np.sin(x)
            _result3 = np.cos(x)
            x_bar = zeros_like_float(x, s)
            x_bar += unbroadcast(s * -np.sin(x), x)
            x_bar += unbroadcast(s * np.cos(x), x)
            t = np.sin(x)
            return (0.0, (x_bar,))
    """)
    assert "s * -_result1" in text and "s * _result3" in text
    assert "t = np.sin(x)" in text  # a whole value stays a call: t may be changed in place later


@pytest.mark.parametrize("change", ["x[0] = 2.0", "x = x * 2.0", "_result1 = np.cos(x)", "_result1 += 1.0"])
def test_no_reuse_when_a_value_may_have_changed(change):
    text = reused(f"""
        def f_vjp(x, s):
            _result1 = np.sin(x)
            {change}
            x_bar = zeros_like_float(x, s)
            x_bar += unbroadcast(s * np.sin(x), x)
            return (0.0, (x_bar,))
    """)
    assert "s * np.sin(x)" in text


def sin_times_cos_sum(x):
    return np.sum(np.sin(x) * np.sum(np.cos(x)))


def test_a_gradient_computes_sin_and_cos_once(rng):
    x = rng.uniform(-1.0, 1.0, 30)
    grad = adflow.grad(sin_times_cos_sum)
    code = [line for line in function_text(grad.source_for(x), "sin_times_cos_sum_vjp").splitlines()
            if not line.lstrip().startswith("#")]
    # Compiled code may call vector_math.sin where the transform wrote np.sin (backends/vector_math.py).
    calls = [re.findall(r"\b(?:np|vector_math)\.(sin|cos)\(", line) for line in code]
    assert sum(c.count("sin") for c in calls) == 1 and sum(c.count("cos") for c in calls) == 1
    s, c = np.sum(np.sin(x)), np.sum(np.cos(x))
    np.testing.assert_allclose(grad(x), np.cos(x) * c - s * np.sin(x), rtol=1e-12)

"""The passes over generated vjps (adflow/reverse/passes.py): what each rewrites, what it must leave
alone, and that every one of them gives the numbers the vjp gives without it.

The whole suite runs with every pass on, against finite differences and closed forms; here each
pass is switched off in turn and the gradients compared with the passes-on ones: bit for bit
(``-0.0`` and ``0.0`` are equal), or to the last unit where a pass says it rounds once instead of
twice.
"""
import math
import re
import textwrap
import types

import gast
import numpy as np
import pytest

import adflow
from adflow.pipeline import cache
from adflow.reverse import passes
from adflow.reverse.carried_adds import carry_adds
from adflow.reverse.dead_reverse import drop_dead_reverse
from adflow.reverse.copies import propagate_copies
from adflow.reverse.known_zero import assign_known_zeros
from adflow.reverse.merge_contributions import merge_equal_contributions
from adflow.reverse.merge_element_adds import merge_element_adds
from adflow.reverse.reloads import drop_reloads
from adflow.reverse.zero_in_loop import zero_in_loop
from adflow.testing import numerical_grad

import test_control_flow as CF
import test_fusion as TF
from test_single_adjoints import function_text

pytestmark = pytest.mark.xdist_group("passes")  # one worker: the gradients with every pass on are made once


def parsed(source):
    return gast.parse(textwrap.dedent(source)).body[0]


def text_of(fdef):
    return textwrap.dedent(gast.unparse(fdef))


# --- known_zero: v_bar = e where v_bar certainly holds zero ------------------------------------

def known_zeros(source, adjoints=("a_bar", "b_bar", "c_bar")):
    return text_of(assign_known_zeros(parsed(source), adjoints))


def test_a_contribution_into_a_fresh_adjoint_is_an_assignment():
    text = known_zeros("""
        def f(x, n, s):
            a_bar = 0.0
            b_bar = np.float32(0.0)
            a_bar += s * x
            a_bar += s
            b_bar += a_bar
            for i in range(n):
                c_bar += a_bar
                c_bar = 0.0
            return b_bar
    """)
    assert "a_bar = s * x" in text and "a_bar += s" in text  # the second adds to what the first left
    assert "b_bar = a_bar" in text
    assert "c_bar += a_bar" in text  # zero in later iterations, not on entry


def test_a_reset_at_the_end_of_an_iteration_is_zero_at_the_start_of_the_next():
    text = known_zeros("""
        def f(x, n, s):
            a_bar = 0.0
            for i in range(n):
                a_bar += s * x
                b_bar += a_bar
                a_bar = 0.0
            return b_bar
    """)
    assert "a_bar = s * x" in text and "b_bar += a_bar" in text  # b_bar was never zero


@pytest.mark.parametrize("between", [
    "if c:\n    a_bar = 1.0",                 # one branch may leave something
    "if c:\n    a_bar += s\nelse:\n    a_bar = 0.0",
    "for i in range(n):\n    a_bar += s",  # a loop that may run
    "for i in range(n):\n    a_bar = 0.0\n    if c:\n        break\n    a_bar += s",  # break: assigned, unknown
    "a_bar, b_bar = s, s",                 # any store
])
def test_no_rewrite_where_the_adjoint_may_hold_something(between):
    body = textwrap.indent(between, "    ")
    text = known_zeros(f"def f(x, n, s, c):\n    a_bar = 0.0\n{body}\n    a_bar += x\n    return a_bar\n")
    assert text.rstrip().splitlines()[-2].strip() == "a_bar += x", text


def test_only_the_adjoints_named_are_rewritten():
    text = known_zeros("""
        def f(x):
            t = 0.0
            t += x
            return t
    """)
    assert "t += x" in text


# --- dead_reverse: what the reverse sweep computes and nothing reads ---------------------------

def reverse_part(source):
    """``source`` (a function whose body holds the comment ``# reverse sweep``) with its record."""
    fdef = parsed(source)
    marker = next(s for s in fdef.body if isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant)
                  and s.value.value == "reverse sweep")
    fdef.sweeps = types.SimpleNamespace(reverse_sweep=marker, adjoints={})
    return fdef


def test_resets_overwritten_unread_go_and_those_read_stay():
    text = text_of(drop_dead_reverse(reverse_part("""
        def f(x, n, s):
            t = 0.0
            "reverse sweep"
            a_bar = 0.0
            b_bar = 0.0
            c_bar = 0.0
            for i in range(n):
                a_bar = s * x
                c_bar += a_bar
                a_bar = 0.0
                b_bar = 0.0
                u = x * 2.0
                x = _x_tape[i]
            return (c_bar, b_bar, t)
    """)))
    assert text.count("a_bar = 0.0") == 0
    assert text.count("b_bar = 0.0") == 2  # returned: the loop may not run, and the last one is read
    assert text.count("c_bar = 0.0") == 1  # read by +=
    assert "u = " not in text and "x = _x_tape[i]" in text  # u: read by nothing; x: by the next iteration
    assert "t = 0.0" in text  # the forward sweep is left as written


# --- copies and reloads ------------------------------------------------------------------------

def test_copies_of_adjoints_are_read_through_and_go():
    text = text_of(propagate_copies(parsed("""
        def f(x, s):
            _x8_bar = x_bar
            x_bar = _x8_bar
            _x7_bar = _x8_bar
            _x6_bar = _x7_bar * s
            k_bar = _x6_bar
            if s > 0.0:
                q_bar = _x6_bar * 2.0
            _x6_bar = 1.0
            w_bar = _x7_bar + _x6_bar
            _t_bar = y_bar
            y_bar = y_bar * 2.0
            z_bar = _t_bar
            return (x_bar, k_bar, q_bar, w_bar, y_bar, z_bar)
    """), {"x_bar", "_x8_bar", "_x7_bar", "_x6_bar", "k_bar", "q_bar", "w_bar", "_t_bar", "y_bar", "z_bar"}))
    assert "_x6_bar = x_bar * s" in text and "k_bar = _x6_bar" in text  # k_bar: the user's name stays
    assert "q_bar = _x6_bar * 2.0" in text and "w_bar = x_bar + _x6_bar" in text
    assert "_x8_bar" not in text and "_x7_bar" not in text and "x_bar = x_bar" not in text
    assert "z_bar = _t_bar" in text  # y_bar changed after the copy: _t_bar holds its old value


def test_a_value_restored_twice_is_read_once():
    text = text_of(drop_reloads(parsed("""
        def f(n):
            for i in range(n):
                z = _z_tape[_z_top - 1]
                a = z * 2.0
                z = _z_tape[_z_top - 1]
                _z_tape[0] = a
                z = _z_tape[_z_top - 1]
                _z_top -= 1
                z = _z_tape[_z_top - 1]
            return z
    """)))
    assert text.count("z = _z_tape[_z_top - 1]") == 3  # the second only: then a write, and a new top


def test_a_value_made_again_after_a_write_into_it_is_kept():
    text = text_of(drop_reloads(parsed("""
        def f(x, g):
            x_bar = zeros_like_float(x, g)
            y = x * 2.0
            t = y
            x_bar[0] += g
            y[1] = 0.0
            t = y
            x_bar = zeros_like_float(x, g)
            y = x * 2.0
            return x_bar, y, t
    """)))
    # Each array was written into between its two assignments: the second makes a new one.  A
    # name still names the same array, whatever was written into it.
    assert text.count("x_bar = zeros_like_float(x, g)") == 2 and text.count("y = x * 2.0") == 2
    assert text.count("t = y") == 1


# --- merge_contributions: z_bar += g * z twice is z_bar += 2.0 * (g * z) -------------------------

def test_contributions_into_one_element_are_added_once():
    fdef = parsed("""
        def f(x_bar, y_bar, a, b, i):
            x_bar[i] += a * 2.0
            b = a + 1.0
            y_bar[i] += b
            x_bar[i] += b
            x_bar[i + 1] += a
        """)
    text = text_of(merge_element_adds(fdef))
    assert "x_bar[i] += a * 2.0 + b" in text and text.count("x_bar[i] +=") == 1 and "x_bar[i + 1] += a" in text
    for between in ["t = x_bar[0]", "i = i + 1", "a = 3.0", "x_bar = y_bar", "if b:\n        t = 1.0"]:
        fdef = parsed(f"def f(x_bar, y_bar, a, b, i):\n    x_bar[i] += a\n    {between}\n    x_bar[i] += b\n")
        assert text_of(merge_element_adds(fdef)).count("x_bar[i] +=") == 2, between


def test_equal_contributions_of_one_line_are_doubled():
    source = """
        def f(z, g, w):
            z_bar = g * z
            z_bar += g * z
            w_bar += g
            w_bar += g
            w_bar += g * z
            return z_bar
    """
    fdef = parsed(source)
    for stmt in fdef.body:
        stmt.lineno = 7
    text = text_of(merge_equal_contributions(fdef, {"z_bar", "w_bar"}))
    assert "z_bar = 2.0 * (g * z)" in text and "w_bar += 2.0 * g" in text and "w_bar += g * z" in text


def test_contributions_of_different_lines_stay_apart():
    fdef = parsed("""
        def f(z, g):
            z_bar += g * z
            z_bar += g * z
            return z_bar
    """)
    fdef.body[0].lineno, fdef.body[1].lineno = 3, 4
    assert text_of(merge_equal_contributions(fdef, {"z_bar"})).count("z_bar +=") == 2


# --- every pass on real programs: the same numbers with and without it ---------------------------

def lorenz_loss(u0, p, nsteps):
    s = p[0]
    r = p[1]
    b = p[2]
    x = u0[0]
    y = u0[1]
    z = u0[2]
    h = 0.01
    for _ in range(nsteps):
        k1x = s * (y - x)
        k1y = x * (r - z) - y
        k1z = x * y - b * z
        x2 = x + 0.5 * h * k1x
        y2 = y + 0.5 * h * k1y
        z2 = z + 0.5 * h * k1z
        k2x = s * (y2 - x2)
        k2y = x2 * (r - z2) - y2
        k2z = x2 * y2 - b * z2
        x = x + h * k2x
        y = y + h * k2y
        z = z + h * k2z
    return x * x + y * y + z * z


def stepper(p, tmax):
    # A while loop with a break and 4 numbers of state, as a new user writes a time stepper.
    x = p[0]
    v = p[1]
    e = 0.0
    t = 0.0
    dt = 0.01
    while t < tmax:
        a = -p[2] * x - p[3] * v * abs(v) + math.sin(t)
        v = v + dt * a
        x = x + dt * v
        e = e + dt * (x * x + v * v)
        t = t + dt
        if e > 4.0:
            break
    return e + x * x


def branchy(x, c):
    s = 0.0
    m = 1.0
    for i in range(x.shape[0]):
        if x[i] > c:
            m = m * x[i]
            s = s + m * m
        else:
            s = s - x[i] * x[i] * m
    return s * c


def read_in_one_branch(x, c):
    # In the reverse sweep u_bar holds zero after one side of the branch only: what follows adds to it.
    s = 0.0
    for i in range(x.shape[0]):
        u = x[i] * 2.0
        s = s + u * c
        if x[i] > c:
            s = s + u * u
    return s


def nested_pushes(x, n):
    # s is saved by the outer loop and by the inner one: one tape, two loops pushing to it.
    s = 1.0
    for i in range(n):
        s = s * x[i % 3]
        for j in range(i % 4):
            s = s + math.sin(s) * x[j % 3]
    return s


def operand_changes_before_the_read(x, n):
    # t = v * 2.0 is cheap, but v changes before the adjoint that reads t: t must be saved, not
    # recomputed from the v the reverse sweep holds there.
    s = 0.0
    v = x[0]
    for i in range(n):
        t = v * 2.0
        v = v + 0.1 * s
        s = s + t * v
        v = v * 0.9  # v assigned twice: the loop saves values, rather than recomputing its body
    return s


def rosen_array(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def stencil_steps(x, c):
    # Fused in the loop's body: the chain ending in the sum becomes an inner loop.
    for k in range(3):
        t = np.arctan(x[2:] - 2.0 * x[1:-1] + x[:-2] * c)
        c = 0.5 * c + 0.1 * np.sum(t * t)
    return c


def heat_steps(u, c):
    # Fused: each step's chain fills one array, written into a slice of the array it read.
    u = u.copy()
    for k in range(4):
        u[1:-1] = u[1:-1] + c * (u[2:] - 2.0 * u[1:-1] + u[:-2]) * u[1:-1]
        u = 0.5 * u + np.log1p(u * u)
    return np.sum(u * u)


def mixed_steps(u, c):
    # shape_tapes: v enters each update linearly, so its tape keeps shapes; sin(u) reads the old u,
    # whose tape keeps the arrays; the sum reads both as the forward sweep left them.
    v = np.zeros_like(u)
    for k in range(3):
        v = v + c * np.sin(u)
        u = u - 0.1 * v
    return np.sum(u * v)


def rows_dot(w, X):
    # adds_in_place: w's adjoint gets each row's product added in place; X's rows are views (view_adds).
    s = 0.0
    for i in range(X.shape[0]):
        z = np.dot(X[i], w)
        s = s + np.log(1.0 + np.exp(-z)) * z
    return s


def shifted_stores(u, c):
    # Slices written from arrays that share the memory they are written into (u[1:] = u[:-1]: NumPy
    # copies first), from a fresh array, and a matrix's rows from a reversed view of its others.
    u = u * 1.0
    M = np.outer(u, u)
    for k in range(3):
        u[1:] = u[:-1]
        u[0] = c * u[1]
        u[:-1] = np.sin(u[1:]) + u[:-1]
        M[1:, :] = M[:-1, ::-1]
        M[0, :] = M[0, :] * u[0]
    return np.sum(u * u) + np.sum(M * M)


def row_sums(M, a):
    # M[j] and M[1:, j] are views: their adjoints are added into in place (view_adds).
    s = 0.0
    for j in range(M.shape[0]):
        r = M[j]
        s += np.sum(np.tanh(r) * a) * M[j, 0]  # tanh: whole-array code, not fused
    return s + np.sum(np.cos(M[1:, 2]) * M[1:, 0])


def written_between(x, a):
    # Not fused: x changes between the chain's first statement and the sum.
    t = np.sin(x) * a
    x[0] = a * a
    return np.sum(t * x) + x[0]


def rebinding(x, a):
    # Straight-line rebinding of a number and an array, a branch between (saved_locals), and a loop
    # whose pushes stay on a tape.
    s = a * 2.0
    s = np.sin(s) * a
    r = np.cos(a) + x[0]
    r = np.sin(r) * r
    r = r * np.exp(r)
    x = x / np.sqrt(np.sum(x * x)) + r
    if s > 0.0:
        s = s * s
    x = np.tanh(x) * s
    t = 0.0
    for k in range(3):
        t = t * s + np.sum(x) * a
    s = s + t
    return np.sum(x * x) * s


def stencil_offsets(x, c):
    # Fused: x_bar gets adds at offsets 0, 1 and 2 in one reverse loop (carried_adds).
    return np.sum(x[2:] * x[1:-1] - c * x[:-2] ** 2 * x[1:-1])


def strided_offsets(x):
    # Offsets 0 and 2 only: the element between them passes through the loop's registers.
    return np.sum((x[2:] - x[:-2]) ** 2 * x[:-2])


def pairs_loop(x, c):
    # A loop as written, not fused: s is added into across iterations, so its adjoint is carried.
    s = 0.0
    for i in range(x.shape[0] - 2):
        s = s + x[i + 2] * x[i] - c * x[i + 1] ** 2
    return s


def rows_but_last(M, c):
    # zero_in_loop: the reverse loop adds into whole rows of M's adjoint, all but the last one.
    s = 0.0
    for i in range(M.shape[0] - 1):
        s = s + np.sum(np.tanh(M[i]) * c)
    return s


def partial_sweep(x, c):
    # zero_in_loop: the reverse loop adds into x_bar[i] for all but the last two elements.
    s = 0.0
    for i in range(x.shape[0] - 2):
        s = s + math.sin(x[i]) * c * x[i]
    return s


def skipping(x, c):
    # zero_in_loop must refuse: the reverse loop adds into x_bar[i - 1] too, inside a branch.
    s = 0.0
    for i in range(1, x.shape[0]):
        if x[i] > c:
            continue
        s = s + x[i] * x[i - 1] * c
    return s


def early_stop(x, c):
    # zero_in_loop must refuse: after a break the reverse loop runs over the trips made, by a counter.
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * c
        if s > 1.0:
            break
    return s * s


def row_sums_in_a_loop(X, c):
    # sum_cotangents: the adjoint of np.sum(X[i, :d]) is added into the row's adjoint as a number,
    # and the tape of the views X[i, :d] goes (dead_tapes): the reverse sweep no longer reads them.
    d = X.shape[1] - 1
    s = 0.0
    for i in range(X.shape[0]):
        t = c + np.sum(X[i, :d])
        s = s + t * t + np.sum(np.sin(X[i]))
    return s


def row_sums_until(X, c):
    # As above, with a break after the sum: the reset of the sum's adjoint follows its add first.
    s = 0.0
    for i in range(X.shape[0]):
        s = s + np.sum(X[i, :2]) * c
        if s > 1.0:
            break
    return s * s


PROGRAMS = {
    "rebinding": (rebinding, lambda rng: (rng.uniform(-1.0, 1.0, 5), 0.7)),
    "lorenz": (lorenz_loss, lambda rng: (np.array([1.0, 2.0, 3.0]), np.array([10.0, 28.0, 8.0 / 3.0]), 60)),
    "stepper": (stepper, lambda rng: (np.array([1.0, 0.5, 2.0, 0.1]), 3.005)),
    "stepper_breaks": (stepper, lambda rng: (np.array([1.5, 2.5, 2.0, 0.1]), 30.005)),
    "branchy": (branchy, lambda rng: (rng.uniform(-1.0, 1.5, 12), 0.3)),
    "read_in_one_branch": (read_in_one_branch, lambda rng: (rng.uniform(-1.0, 1.5, 12), 0.3)),
    "nested_pushes": (nested_pushes, lambda rng: (rng.uniform(0.5, 1.0, 3), 9)),
    "operand_changes_before_the_read": (operand_changes_before_the_read,
                                        lambda rng: (np.array([0.7, 0.2]), 6)),
    "rosen_array": (rosen_array, lambda rng: (rng.uniform(-1.0, 1.0, 9),)),
    "stencil_steps": (stencil_steps, lambda rng: (rng.uniform(-1.0, 1.0, 9), 0.7)),
    "written_between": (written_between, lambda rng: (rng.uniform(-1.0, 1.0, 5), 0.7)),
    "heat_steps": (heat_steps, lambda rng: (rng.uniform(-1.0, 1.0, 9), 0.3)),
    "row_sums": (row_sums, lambda rng: (rng.uniform(-1.0, 1.0, (4, 3)), 0.7)),
    "row_sums_in_a_loop": (row_sums_in_a_loop, lambda rng: (rng.uniform(-1.0, 1.0, (4, 3)), 0.7)),
    "row_sums_until": (row_sums_until, lambda rng: (rng.uniform(0.0, 1.0, (6, 3)), 0.3)),
    "wave_steps": (TF.wave, lambda rng: (rng.uniform(-1.0, 1.0, 7), 0.3)),
    "mixed_steps": (mixed_steps, lambda rng: (rng.uniform(-1.0, 1.0, 6), 0.7)),
    "rows_dot": (rows_dot, lambda rng: (rng.uniform(-1.0, 1.0, 4), rng.uniform(-1.0, 1.0, (5, 4)))),
    "shifted_stores": (shifted_stores, lambda rng: (rng.uniform(-1.0, 1.0, 6), 0.8)),
    "stencil_offsets": (stencil_offsets, lambda rng: (rng.uniform(-1.0, 1.0, 9), 0.7)),
    "strided_offsets": (strided_offsets, lambda rng: (rng.uniform(-1.0, 1.0, 8),)),
    "pairs_loop": (pairs_loop, lambda rng: (rng.uniform(-1.0, 1.0, 7), 0.7)),
    "rows_but_last": (rows_but_last, lambda rng: (rng.uniform(-1.0, 1.0, (5, 3)), 0.7)),
    "partial_sweep": (partial_sweep, lambda rng: (rng.uniform(-1.0, 1.0, 9), 0.3)),
    "skipping": (skipping, lambda rng: (rng.uniform(-1.0, 1.0, 9), 0.3)),
    "early_stop": (early_stop, lambda rng: (rng.uniform(0.0, 0.4, 9), 0.7)),
    "nested_break": (CF.nested_break, lambda rng: (rng.uniform(0.2, 1.0, (4, 5)), 3.0)),
    "continue_and_elif": (CF.continue_and_elif, lambda rng: (rng.uniform(-1.0, 1.0, 9),)),
    "cube_root_newton": (CF.cube_root_newton, lambda rng: (2.0, 5.0)),
    "float32_lorenz": (lorenz_loss, lambda rng: (np.array([1.0, 2.0, 3.0], np.float32),
                                                 np.array([10.0, 28.0, 2.5], np.float32), 20)),
}


def test_saved_locals_replaces_the_tapes_of_straight_code_only(rng):
    g = adflow.grad(rebinding, wrt=(0, 1), target="python")
    g(rng.uniform(-1.0, 1.0, 5), 0.7)
    vjp = g.source[g.source.index("def rebinding_vjp"):]
    vjp = vjp[:vjp.index("return (")]
    # x is saved twice, both times outside any loop or branch: two locals, restored last first.
    assert "_x_tape" not in vjp and "_x_saved = x" in vjp and "_x_saved2 = x" in vjp
    assert vjp.index("x = _x_saved2") < vjp.index("x = _x_saved\n")
    # s is also saved inside the branch, t inside the loop: their depths are not known, tapes stay.
    assert "_s_tape" in vjp and "_t_tape" in vjp
    assert "_r_tape" not in vjp and vjp.index("r = _r_saved2") < vjp.index("r = _r_saved\n")


def gradients(program, target, off=()):
    """grad's and value_and_grad's numbers for ``program``, built with the passes ``off`` switched off."""
    key = (program, target, tuple(sorted(off)))
    if key not in _RESULTS:
        f, make = PROGRAMS[program]
        args = make(np.random.default_rng(0))
        wrt = tuple(k for k, a in enumerate(args) if not isinstance(a, int))
        cache.clear()  # builds are kept per function: rebuild with these passes...
        try:
            with passes.switched_off(*off):
                value, grads = adflow.value_and_grad(f, wrt=wrt, target=target)(*args)
                only = adflow.grad(f, wrt=wrt, target=target)(*args)
        finally:
            cache.clear()  # ... and leave none made without them to later tests
        _RESULTS[key] = (value, np.concatenate([np.ravel(g) for g in grads + only]))
    return _RESULTS[key]


_RESULTS: dict = {}


def assert_same_numbers(on, without, exact):
    if exact:
        assert on[0] == without[0]
        np.testing.assert_array_equal(on[1], without[1])
    else:  # rounded once instead of twice, or summed in another order: the last bits
        assert on[0] == pytest.approx(without[0], rel=1e-13)
        np.testing.assert_allclose(on[1], without[1], rtol=1e-13, atol=0.0)


# Each pass on its own on the Python target (cheap to build); all of them at once on the CPU.
@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("switched", passes.names())
def test_each_pass_gives_the_numbers_the_vjp_gives_without_it(program, switched):
    assert_same_numbers(gradients(program, "python"), gradients(program, "python", off=(switched,)),
                        exact=switched not in ("merge_contributions", "fusion", "element_adds"))


# Two numba builds per program: one program per pass family by default, every program in the slow tier.
COMPILED_BY_DEFAULT = {"lorenz", "rosen_array", "rebinding", "stencil_offsets", "rows_but_last",
                       "nested_pushes", "stepper_breaks", "row_sums_in_a_loop"}


@pytest.mark.parametrize("program", [p if p in COMPILED_BY_DEFAULT else pytest.param(p, marks=pytest.mark.slow)
                                     for p in sorted(PROGRAMS)])
def test_compiled_passes_give_the_numbers_of_the_unoptimised_vjp(program):
    assert_same_numbers(gradients(program, "cpu"), gradients(program, "cpu", off=passes.names()), exact=False)


@pytest.mark.parametrize("program", ["rebinding", "lorenz", "stepper", "stepper_breaks", "branchy",
                                     "read_in_one_branch", "nested_pushes", "operand_changes_before_the_read",
                                     "rosen_array", "stencil_steps", "written_between", "heat_steps", "row_sums",
                                     "stencil_offsets", "strided_offsets", "pairs_loop", "rows_but_last",
                                     "partial_sweep", "skipping", "early_stop", "row_sums_in_a_loop",
                                     "row_sums_until", "wave_steps", "mixed_steps", "rows_dot"])
def test_the_optimised_gradients_match_finite_differences(program, rng):
    f, make = PROGRAMS[program]
    args = make(rng)
    wrt = (0,)  # the stepper's end time moves a discontinuity (its trip count): not differentiated here
    got = adflow.grad(f, wrt=wrt)(*args)
    for g, e in zip(got, numerical_grad(f, args, wrt)):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8)


def zero_started_adjoints(text):
    return [line for line in text.splitlines() if "_bar" in line and line.rstrip().endswith("= 0.0")]


def test_lorenz_adjoints_start_as_their_first_contribution():
    args = PROGRAMS["lorenz"][1](None)
    grad = adflow.grad(lorenz_loss, wrt=(0, 1))
    text = function_text(grad.source_for(*args), "lorenz_loss_vjp")
    # Only the parameters' adjoints, added into across iterations, start at zero (b_bar, r_bar, s_bar)
    # and the result's, which receives the cotangent; no reset inside the loop.
    assert len(zero_started_adjoints(text)) <= 4, zero_started_adjoints(text)
    assert "x_bar = 2.0 * (_result5_bar * x)" in text  # through the copies _result1_bar = _result3_bar = ...
    assert "_x8_bar" not in text


def test_hessians_through_the_passes_give_the_numbers_without_them():
    # A Hessian's reverse sweep holds dual numbers: its tapes are dual arrays (reserve() grows those too).
    x = np.array([0.9, 0.7, 0.8])
    results = []
    for off in ((), passes.names()):
        cache.clear()
        with passes.switched_off(*off):
            results.append(adflow.hessian(nested_pushes)(x, 9))
    cache.clear()
    np.testing.assert_allclose(results[0], results[1], rtol=1e-13)
    eps = 1e-6
    grad = adflow.grad(nested_pushes)
    fd = np.array([(grad(x + eps * e, 9) - grad(x - eps * e, 9)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(results[0], fd, rtol=1e-6)


def test_a_counted_loop_reserves_its_tapes_once_and_pushes_without_checks():
    x = np.array([1.0, 2.0, 3.0])
    text = function_text(adflow.grad(lorenz_loss, wrt=(0, 1)).source_for(x, np.array([10.0, 28.0, 2.5]), 5),
                         "lorenz_loss_vjp")
    assert "_x_tape = reserve(_x_tape, _x_top + nsteps)" in text
    assert "grow(" not in text
    # the inner loop pushes s itself: the outer loop keeps its growth check for s
    text = function_text(adflow.grad(nested_pushes).source_for(x, 9), "nested_pushes_vjp")
    assert text.count("grow(_s_tape)") == 1 and text.count("reserve(_s_tape") == 1, text


def stepper_text():
    args = PROGRAMS["stepper"][1](None)
    return function_text(adflow.grad(stepper).source_for(*args), "stepper_vjp")


def test_the_branch_that_ends_the_loop_is_not_replayed():
    # ``if e > 4.0: break`` only steers the forward loop: no tape of its decisions (_cond2, _brk1).
    text = stepper_text()
    assert "_cond2_tape" not in text and "_brk1_tape" not in text, text


def test_the_stepper_saves_only_its_state():
    # Its temporaries (_a5 = p[3] * v, _a6 = abs(v)) are recomputed from the restored state: two
    # tapes, x and v, where there were six.
    text = stepper_text()
    tapes = sorted(line.split("=")[0].strip() for line in text.splitlines() if "np.empty(16" in line)
    assert tapes == ["_v_tape", "_x_tape"], text
    assert "_a5 = _a4 * v" in text.split("# reverse sweep")[1]


def test_a_while_loop_runs_in_chunks_that_reserve_their_room():
    text = stepper_text()
    assert "grow(" not in text and "reserve(_x_tape, _x_top + 256)" in text


def test_adjoints_of_views_are_added_in_place():
    args = PROGRAMS["row_sums"][1](np.random.default_rng(0))
    text = function_text(adflow.grad(row_sums, wrt=(0, 1)).source_for(*args), "row_sums_vjp")
    assert "add_into(M_bar[j], " in text and "add_into(M_bar[1:, 2], " in text, text
    assert "M_bar[j, 0] += " in text  # a number: no view


def test_slices_written_from_arrays_are_loop_nests_that_copy_what_overlaps(rng):
    args = PROGRAMS["shifted_stores"][1](rng)
    grad = adflow.value_and_grad(shifted_stores, wrt=0, target="cpu")
    text = function_text(grad.source_for(*args), "shifted_stores_vjp")
    assert "store_view(u[1:], " in text and "store_view(M[1:, :], " in text, text
    value, g = grad(*args)
    assert value == pytest.approx(shifted_stores(*args), rel=1e-14)  # the overlapping writes copied first
    np.testing.assert_allclose(g, numerical_grad(shifted_stores, args, (0,))[0], rtol=1e-6, atol=1e-8)


# --- carried_adds: x_bar[i] += a; x_bar[i + 1] += b become one store per element ------------------

def run_both(source, *args):
    """What the function ``source`` returns, and what it returns after carry_adds (and that text)."""
    fdef = parsed(source)
    new = carry_adds(fdef)
    results = []
    for tree in (fdef, new):
        space = {"np": np, "math": math, "zeros_like_float": np.zeros_like}
        exec(gast.unparse(tree), space)
        results.append(space[tree.name](*[a.copy() if isinstance(a, np.ndarray) else a for a in args]))
    return results[0], results[1], text_of(new)


CARRIED = """
    def f(x, lo, hi):
        x_bar = np.zeros(x.shape[0] + 4)
        s_bar = 1.5
        for i in {header}:
            j = i + 3
            a = x[i] * s_bar
            t = s_bar
            s_bar = t
            x_bar[i + 1] += a
            x_bar[j] += a * a
            x_bar[i + 1] += -0.0 * a
            x_bar[i] += 1.0 - a
        return x_bar
"""


@pytest.mark.parametrize("header", ["range(lo, hi)", "range(hi - 1, lo - 1, -1)", "range(lo, hi, 1)"])
@pytest.mark.parametrize("trips", [0, 1, 2, 3, 7])
def test_adds_at_offsets_are_stored_once_per_element_with_the_same_bits(header, trips):
    x = np.random.default_rng(trips).uniform(-1e3, 1e3, 12)
    x[2] = -0.0  # an element left -0.0 by every add: -0.0 + -0.0 stays -0.0
    before, after, text = run_both(CARRIED.replace("{header}", header), x, 1, 1 + trips)
    assert "for i in range(lo, hi):" in text and "x_bar[i] = x_bar[i] + " in text and "+=" not in text, text
    np.testing.assert_array_equal(before, after)
    assert np.array_equal(np.signbit(before), np.signbit(after))


def test_an_element_only_some_iterations_reach_keeps_its_sign_of_zero():
    # The held contributions start as -0.0: -0.0 + -0.0 is -0.0, where -0.0 + 0.0 would be 0.0.
    source = """
        def f(x, n):
            g = np.zeros(n + 1)
            g[0] = -0.0
            for i in range(n - 1, -1, -1):
                g[i + 1] += x[i]
                g[i] += -0.0 * x[i]
            return g
    """
    before, after, text = run_both(source, np.array([2.0, 3.0, 4.0]), 3)
    assert "g[i] = g[i] + " in text and np.signbit(before[0]), text
    np.testing.assert_array_equal(np.signbit(before), np.signbit(after))


def test_negative_offsets_and_a_loop_starting_late():
    source = """
        def f(x, n):
            g = np.zeros(n + 2)
            for k in range(n, 2, -1):
                g[k - 2] += x[k] * x[k - 1]
                g[k + 1] += x[k]
                g[k] += 1.0 - x[k - 2]
            return g
    """
    x = np.random.default_rng(1).standard_normal(12)
    for n in (2, 3, 4, 9):
        before, after, text = run_both(source, x, n)
        assert "for k in range(3, n + 1):" in text and "g[k - 2] = g[k - 2] + " in text, text
        np.testing.assert_array_equal(before, after)


def test_a_backward_loop_with_one_offset_runs_forwards_with_the_same_bits():
    # Nothing to carry, and each element is touched by one iteration only: any order gives the same sums.
    source = """
        def f(x, c, n):
            x_bar = np.zeros(n + 1)
            s_bar = c
            for i in range(n - 1, -1, -1):
                _s1_bar = s_bar
                s_bar = _s1_bar
                x_bar[i] += _s1_bar * math.sin(x[i])
                x_bar[i] += x[i] * x[i]
            return x_bar
    """
    x = np.random.default_rng(2).standard_normal(9)
    for n in (0, 1, 5, 8):
        before, after, text = run_both(source, x, 0.3, n)
        assert "for i in range(0, n):" in text, text
        np.testing.assert_array_equal(before, after)
    # an element two iterations reach (x_bar[i] and x_bar[0]): the order of its adds would change
    text = run_both(source.replace("x_bar[i] += x[i] * x[i]", "x_bar[0] += x[i] * x[i]"), x, 0.3, 5)[2]
    assert "range(n - 1, -1, -1)" in text


@pytest.mark.parametrize("why, loop", [
    ("an offset that is not a number written out", "x_bar[i * 2] += a; x_bar[i] += b"),
    ("an index from an array", "x_bar[idx[i]] += a; x_bar[i] += b"),
    ("an index variable assigned twice", "j = i + 1; x_bar[j] += a; j = i; x_bar[j] += b"),
    ("an index variable used before it is assigned", "x_bar[j] += a; j = i + 1; x_bar[i] += b"),
    ("the adjoint read in the loop", "x_bar[i + 1] += a; b = x_bar[i] * b; x_bar[i] += b"),
    ("the adjoint added into whole", "x_bar[i + 1] += a; x_bar += b; x_bar[i] += b"),
    ("an alias of the adjoint read in the loop", "x_bar[i + 1] += a; b = v[i]; x_bar[i] += b"),
    ("a contribution reading the adjoint", "x_bar[i + 1] += x_bar[0]; x_bar[i] += b"),
    ("a branch in the body", "x_bar[i + 1] += a; if b: x_bar[i] += b"),
    ("the bound changed in the body", "x_bar[i + 1] += a; n = n - 1; x_bar[i] += b"),
])
def test_adds_the_pass_must_leave_alone(why, loop):
    body = "\n".join("        " + part for part in loop.split("; "))
    source = (f"def f(x, idx, a, b, n):\n    x_bar = np.zeros(n + 1)\n    v = x_bar[1:]\n"
              f"    for i in range(n - 1, -1, -1):\n{body}\n    return x_bar\n")
    fdef = gast.parse(source).body[0]
    assert gast.dump(carry_adds(fdef)) == gast.dump(fdef), why


@pytest.mark.parametrize("why, source", [
    ("the adjoint is an argument: it may share memory with x", """
        def f(x, x_bar, n):
            for i in range(n - 1, -1, -1):
                x_bar[i + 1] += x[i]
                x_bar[i] += x[i + 1]
            return x_bar
    """),
    ("a view of the adjoint is read in the loop", """
        def f(x, n):
            x_bar = np.zeros(n + 1)
            w = x_bar[1:]
            for i in range(0, n):
                x_bar[i + 1] += x[i]
                x_bar[i] += w[i]
            return x_bar
    """),
    ("an index variable read before the iteration assigns it: the last iteration's", """
        def f(x, n):
            x_bar = np.zeros(n + 2)
            j = 0
            for i in range(0, n):
                x_bar[j] += x[i]
                j = i + 1
                x_bar[i] += x[i]
            return x_bar
    """),
    ("backwards, a name carried from one iteration to the next", """
        def f(x, n):
            x_bar = np.zeros(n + 1)
            s = 1.0
            for i in range(n - 1, -1, -1):
                s = s * x[i]
                x_bar[i + 1] += s
                x_bar[i] += x[i]
            return x_bar
    """),
    ("backwards, the loop's index read after it", """
        def f(x, n):
            x_bar = np.zeros(n + 1)
            i = 0
            for i in range(n - 1, -1, -1):
                x_bar[i + 1] += x[i]
                x_bar[i] += x[i]
            return x_bar, i
    """),
    ("backwards, a name of the body read after it", """
        def f(x, n):
            x_bar = np.zeros(n + 1)
            a = 0.0
            for i in range(n - 1, -1, -1):
                a = x[i] * 2.0
                x_bar[i + 1] += a
                x_bar[i] += a
            return x_bar[0] + a
    """),
    ("backwards, another array written at two offsets", """
        def f(x, n):
            x_bar = np.zeros(n + 1)
            y_bar = np.zeros(n + 1)
            for i in range(n - 1, -1, -1):
                y_bar[i] = x[i] + y_bar[i + 1]
                x_bar[i + 1] += y_bar[i]
                x_bar[i] += x[i]
            return x_bar
    """),
    ("backwards, a call that may have an effect", """
        def f(x, n, tape):
            x_bar = np.zeros(n + 1)
            for i in range(n - 1, -1, -1):
                a = tape.pop()
                x_bar[i + 1] += a
                x_bar[i] += a
            return x_bar
    """),
])
def test_loops_the_pass_must_leave_alone(why, source):
    fdef = parsed(source)
    assert gast.dump(carry_adds(fdef)) == gast.dump(fdef), why


def test_two_adjoints_in_one_loop_are_both_carried():
    source = """
        def f(x, y, n):
            x_bar = np.zeros(n + 1)
            y_bar = np.zeros(n + 2)
            for i in range(n - 1, -1, -1):
                a = x[i] * y[i + 2]
                x_bar[i + 1] += a
                y_bar[i + 2] += x[i]
                x_bar[i] += y[i]
                y_bar[i] += a * a
            return x_bar, y_bar
    """
    x, y = np.random.default_rng(2).standard_normal((2, 9))
    before, after, text = run_both(source, x, y, 7)
    assert "+=" not in text and "x_bar[i] = x_bar[i] + " in text and "y_bar[i] = y_bar[i] + " in text, text
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)


def test_the_fused_gradients_store_each_element_once():
    # Rosenbrock's and the heat stepper's reverse loops run forwards, with no add into the adjoint.
    for f, args, name in [(rosen_array, (np.zeros(9),), "rosen_array_vjp"),
                          (heat_steps, (np.zeros(9), 0.3), "heat_steps_vjp")]:
        text = function_text(adflow.grad(f).source_for(*args), name)
        assert "for _i1 in range(0, _n3):" in text, text
        assert not [line for line in text.splitlines() if any(f"_bar[{i}] +=" in line for i in ("_i1", "_i2", "_i3"))]


# --- zero_in_loop: a new adjoint's zero fill moves into the loop that first reaches its elements --

def run_zeroed(source, *args):
    """What ``source`` returns before and after zero_in_loop (and the new text); the new function's
    "empty" arrays are full of NaN, so an element it forgets to zero shows."""
    fdef = parsed(source)
    new = zero_in_loop(fdef)
    results = []
    for tree in (fdef, new):
        space = {"np": np, "zeros_like_float": lambda x: np.zeros(np.shape(x)),
                 "empty_like_float": lambda x: np.full(np.shape(x), np.nan)}
        exec(gast.unparse(tree), space)
        results.append(space[tree.name](*args))
    return results[0], results[1], text_of(new)


ZEROED = """
    def f(x, n):
        x_bar = zeros_like_float(x)
        a = 2.0
        for i in {header}:
            b = x[i] * a
            x_bar[i] += b
            if n > 2:
                x_bar[i] += -0.0 * b
            x_bar[i] = x_bar[i] * 2.0 + -0.0
        return x_bar
"""


@pytest.mark.parametrize("header", ["range(n)", "range(0, n)", "range(0, n, 1)", "range(n - 1, -1, -1)"])
@pytest.mark.parametrize("trips", [-2, 0, 1, 3, 6])
@pytest.mark.parametrize("shape", [(6,), (6, 2)])
def test_each_iteration_zeroes_its_element_and_the_rest_after_the_loop(header, trips, shape):
    x = np.random.default_rng(abs(trips)).uniform(-1.0, 1.0, shape)
    x[0] = -0.0  # its contributions are -0.0: the element stays +0.0 only if it was zero first
    before, after, text = run_zeroed(ZEROED.replace("{header}", header), x, trips)
    assert "x_bar = empty_like_float(x)" in text and "x_bar[max(n, 0):] = 0.0" in text, text
    assert text.index("x_bar[i] = 0.0") < text.index("x_bar[i] += b"), text
    np.testing.assert_array_equal(before, after)
    assert np.array_equal(np.signbit(before), np.signbit(after))


@pytest.mark.parametrize("why, header, body", [
    ("a break leaves elements unset", "range(n)", "x_bar[i] += x[i]; if x[i] > 0.5: break"),
    ("a continue may skip the zeroing", "range(n)", "if x[i] > 0.5: continue; x_bar[i] += x[i]"),
    ("an element of another iteration", "range(n)", "x_bar[i] += x[i]; x_bar[j] += x[i]"),
    ("the index changed in the body", "range(n)", "i = i + 1; x_bar[i] += x[i]"),
    ("the bound changed in the body", "range(n)", "x_bar[i] += x[i]; n = n - 1"),
    ("the array read whole in the loop", "range(n)", "x_bar[i] += np.sum(x_bar)"),
    ("the array bound again in the loop", "range(n)", "x_bar[i] += x[i]; x_bar = zeros_like_float(x)"),
    ("a loop that starts late: the first elements are never reached", "range(1, n)", "x_bar[i] += x[i]"),
    ("a step of 2", "range(0, n, 2)", "x_bar[i] += x[i]"),
    ("negative indices: NumPy counts them from the end", "range(-2, n)", "x_bar[i] += x[i]"),
    ("backwards to a bound that is not -1", "range(n - 1, 0, -1)", "x_bar[i] += x[i]"),
    ("a bound with a call: evaluated twice", "range(len(x))", "x_bar[i] += x[i]"),
])
def test_loops_zero_in_loop_must_leave_alone(why, header, body):
    lines = []
    for part in body.split("; "):
        lines += ["        " + part] if ": " not in part else ["        " + part.split(": ")[0] + ":",
                                                             "            " + part.split(": ")[1]]
    source = f"def f(x, n, j):\n    x_bar = zeros_like_float(x)\n    for i in {header}:\n" + "\n".join(lines) \
        + "\n    return x_bar\n"
    fdef = gast.parse(source).body[0]
    assert gast.dump(zero_in_loop(fdef)) == gast.dump(fdef), why


@pytest.mark.parametrize("why, between", [
    ("the array read before the loop", "y = x_bar[0]"),
    ("the array passed on before the loop", "v = x_bar"),
    ("a jump out of the loop around: the loop may not run", "if n > 3: break"),
])
def test_statements_between_that_keep_the_zeros(why, between):
    source = (f"def f(x, n, m):\n    for k in range(m):\n        x_bar = zeros_like_float(x)\n        {between}\n"
              f"        for i in range(n):\n            x_bar[i] += x[i]\n    return x_bar\n")
    fdef = gast.parse(source).body[0]
    assert gast.dump(zero_in_loop(fdef)) == gast.dump(fdef), why


def test_zero_in_loop_rewrites_the_programs_it_may_and_leaves_the_others():
    for program, rewritten in [("rows_but_last", True), ("partial_sweep", True), ("rosen_array", True),
                               ("skipping", False), ("early_stop", False)]:
        f, make = PROGRAMS[program]
        text = function_text(adflow.grad(f, target="python").source_for(*make(np.random.default_rng(0))),
                             f"{f.__name__}_vjp")
        assert ("empty_like_float" in text) == rewritten, text


def test_a_sums_cotangent_is_added_into_its_view_as_a_number():
    X = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    grad = adflow.grad(row_sums_in_a_loop, wrt=(0,), target="python")
    text = function_text(grad.source_for(X, 0.7), "row_sums_in_a_loop_vjp")
    assert re.search(r"add_into\(X_bar\[i, :d\], _t\d*_bar\)", text), text
    cache.clear()
    with passes.switched_off("sum_cotangents"):
        grad = adflow.grad(row_sums_in_a_loop, wrt=(0,), target="python")
        before = function_text(grad.source_for(X, 0.7), "row_sums_in_a_loop_vjp")
    cache.clear()
    assert text.count("sum_adjoint(") == before.count("sum_adjoint(") - 1


def test_a_tape_whose_restores_nothing_reads_goes():
    X = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    source = adflow.grad(row_sums_in_a_loop, wrt=(0,), target="python").source_for(X, 0.7)
    view = re.search(r"(_t\d*) = X\[i, :d\]", function_text(source, "row_sums_in_a_loop_vjp")).group(1)
    assert f"{view}_tape" in function_text(source, "row_sums_in_a_loop_vjp")
    assert f"{view}_tape" not in function_text(source, "row_sums_in_a_loop_grad")


def test_tapes_read_only_for_shapes_keep_shapes():
    u = np.linspace(-1.0, 1.0, 6)
    text = function_text(adflow.grad(mixed_steps, wrt=(0, 1), target="python").source_for(u, 0.7),
                         "mixed_steps_vjp")
    assert "_v_tape = shape_stack(" in text and "_v_tape.append(v.shape)" in text, text
    assert "_v_shape = _v_tape.pop()" in text and "v = _v_tape.pop()" not in text
    assert "shape=_v_shape)" in text
    # sin(u)'s derivative reads each step's u: its tape keeps the arrays
    assert "_u_tape = array_stack(" in text and "u = _u_tape.pop()" in text


def test_a_dot_products_adjoint_is_added_in_place():
    w, X = np.linspace(-1.0, 1.0, 4), np.ones((3, 4))
    text = function_text(adflow.grad(rows_dot, wrt=(0, 1), target="python").source_for(w, X), "rows_dot_vjp")
    assert re.search(r"w_bar = add_dot_adjoint_b\(w_bar, z_bar, _\w+, w\)", text), text


@pytest.mark.slow  # a forward-over-reverse build (seconds); the default tier checks the gradients
def test_a_hessian_through_tapes_of_shapes():
    # The reverse sweep of a Hessian holds dual arrays: the zeros shaped from a tape are duals too.
    u = np.array([0.3, -0.5, 0.8, 0.1])
    h = adflow.hessian(mixed_steps, wrt=0)(u, 0.7)
    grad, eps = adflow.grad(mixed_steps, wrt=0), 1e-6
    fd = np.array([(grad(u + eps * e, 0.7) - grad(u - eps * e, 0.7)) / (2 * eps) for e in np.eye(4)])
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-8)

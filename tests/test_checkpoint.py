"""Checkpointed reverse mode (checkpoint=): the same gradients as the full tape, in bounded memory.

References are independent of adflow's reverse mode: closed forms, and central finite differences
of the plain Python function.  The full-tape gradient is compared too (to 1e-12), as the issue
asks, but it is never the only reference.  The iterations run are checked against the binomial
optimum that checkpoint_schedules computes (Griewank and Walther), plus the one iteration the
first sweep runs again to hand the state after the loop to the code after it.
"""
import math

import numpy as np
import pytest

import adflow
from adflow.checkpoint.schedule import binomial_steps

pytest.importorskip("checkpoint_schedules")

# The schedule, the split and the driver do not depend on the target: most tests run the generated
# code as Python (no numba compiles, so the suite stays quick); the tests marked CPU compile it.
PY = "python"


def heat(u0, nu, steps):
    """Explicit heat-equation steps on an array (fixed ends), then a weighted sum of squares."""
    u = u0.copy()
    for t in range(steps):
        u[1:-1] = u[1:-1] + nu * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    return np.sum(u * u)


def growth(x, a, steps):
    """A scalar recurrence with a branch: closed form below."""
    s = x
    for t in range(steps):
        if s > 100.0:
            s = s * 0.5
        else:
            s = s * a + 1.0
    return s * s


def halving(x):
    """A while loop: shrink until below 1 (the trip count depends on x; x < 50 for it to end)."""
    s = x
    k = 0
    while s > 1.0:
        s = s * 0.5 + 0.01 * s * s
        k = k + 1
    return s * 3.0


def until_big(u0, a):
    """A for loop with break; the array state grows until its sum passes 50."""
    u = u0.copy()
    total = 0.0
    for t in range(1000):
        u = u * a + 0.1
        total = total + np.sum(u)
        if total > 50.0:
            break
    return total + np.sum(u * u)


def two_loops(x, b):
    """Code before, between and after two top-level loops."""
    y = x * 2.0
    for t in range(7):
        y = np.sin(y) + b
    c = np.sum(y)
    z = y * c
    for t in range(5):
        z = z * 0.9 + y
    return np.sum(z) + c * b


def fd_grad(f, args, k, h=1e-6):
    """Central differences of ``f`` in argument ``k`` (every element of an array)."""
    x = np.array(args[k], dtype=float)
    out = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[j] += h
        minus[j] -= h
        a, b = list(args), list(args)
        a[k], b[k] = (plus if x.ndim else float(plus)), (minus if x.ndim else float(minus))
        out[j] = (f(*a) - f(*b)) / (2 * h)
    return out if x.ndim else float(out)


def close(a, b, rtol):
    return np.allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(b)))))


SNAPSHOTS = [1, 2, 5, 40]


@pytest.mark.parametrize("snapshots", SNAPSHOTS)
def test_array_for_loop_matches_full_tape_and_differences(snapshots):
    u0 = np.sin(np.linspace(0.0, 3.0, 12))
    full = adflow.grad(heat, wrt=(0, 1), target=PY)(u0, 0.2, 30)
    g = adflow.grad(heat, wrt=(0, 1), checkpoint=snapshots, target=PY)
    du, dnu = g(u0, 0.2, 30)
    assert close(du, full[0], 1e-12) and close(dnu, full[1], 1e-12)
    assert close(du, fd_grad(heat, (u0, 0.2, 30), 0), 1e-6)
    assert close(dnu, fd_grad(heat, (u0, 0.2, 30), 1), 1e-6)
    (report,) = g.checkpoint_report
    assert report.trips == 30 and report.taped == 30
    assert report.most_kept <= snapshots
    # The binomial optimum, plus the last iteration run once more for the state after the loop.
    assert report.advanced + report.taped == binomial_steps(30, snapshots) + 1


@pytest.mark.parametrize("snapshots", SNAPSHOTS)
def test_scalar_for_loop_with_branch_matches_the_closed_form(snapshots):
    x, a, steps = 1.5, 1.3, 20
    g = adflow.value_and_grad(growth, wrt=(0, 1), checkpoint=snapshots, target=PY)
    value, (dx, da) = g(x, a, steps)
    # Follow the branches once, then differentiate the affine maps they apply.
    s, ds_dx, ds_da = x, 1.0, 0.0
    for _ in range(steps):
        if s > 100.0:
            s, ds_dx, ds_da = s * 0.5, ds_dx * 0.5, ds_da * 0.5
        else:
            s, ds_dx, ds_da = s * a + 1.0, ds_dx * a, ds_da * a + s
    assert math.isclose(value, s * s, rel_tol=1e-14)
    assert math.isclose(dx, 2 * s * ds_dx, rel_tol=1e-12) and math.isclose(da, 2 * s * ds_da, rel_tol=1e-12)
    full = adflow.grad(growth, wrt=(0, 1), target=PY)(x, a, steps)
    assert math.isclose(dx, full[0], rel_tol=1e-12) and math.isclose(da, full[1], rel_tol=1e-12)


@pytest.mark.parametrize("snapshots", SNAPSHOTS)
def test_while_loop_counts_then_follows_the_schedule(snapshots):
    g = adflow.grad(halving, checkpoint=snapshots, target=PY)
    x = 40.0  # below 50, where the recurrence decreases
    d = g(x)
    assert math.isclose(d, adflow.grad(halving, target=PY)(x), rel_tol=1e-12)
    assert math.isclose(d, fd_grad(halving, (x,), 0, h=1e-5), rel_tol=1e-6)
    (report,) = g.checkpoint_report
    assert report.counted == report.trips > 5
    # The counting sweep gives the state after the loop: no extra iteration here.
    assert report.advanced + report.taped == binomial_steps(report.trips, snapshots)


@pytest.mark.parametrize("snapshots", SNAPSHOTS)
def test_for_loop_with_break(snapshots):
    u0 = np.linspace(0.1, 0.4, 5)
    g = adflow.grad(until_big, wrt=(0, 1), checkpoint=snapshots, target=PY)
    du, da = g(u0, 1.2)
    full = adflow.grad(until_big, wrt=(0, 1), target=PY)(u0, 1.2)
    assert close(du, full[0], 1e-12) and close(da, full[1], 1e-12)
    assert close(du, fd_grad(until_big, (u0, 1.2), 0), 1e-6)
    assert close(da, fd_grad(until_big, (u0, 1.2), 1), 1e-6)
    (report,) = g.checkpoint_report
    assert 1 < report.trips < 1000 and report.counted == report.trips


def test_code_between_two_loops_and_vjp():
    x = np.linspace(-0.5, 0.5, 4)
    g = adflow.grad(two_loops, wrt=(0, 1), checkpoint=2, target=PY)
    dx, db = g(x, 0.3)
    assert close(dx, fd_grad(two_loops, (x, 0.3), 0), 1e-6) and close(db, fd_grad(two_loops, (x, 0.3), 1), 1e-6)
    assert [r.trips for r in g.checkpoint_report] == [7, 5]
    y, pullback = adflow.vjp(two_loops, x, 0.3, checkpoint=3, target=PY)
    assert math.isclose(y, two_loops(x, 0.3), rel_tol=1e-13)
    vx, vb = pullback(2.0)
    assert close(vx, 2 * dx, 1e-12) and math.isclose(vb, 2 * db, rel_tol=1e-12)


def test_compiled_for_and_while_loops():
    """CPU: the pieces compiled by numba; the caller's array is left as it was."""
    u0 = np.sin(np.linspace(0.0, 3.0, 8))
    kept = u0.copy()
    g = adflow.grad(heat, checkpoint=3)
    du = g(u0, 0.2, 10)
    assert np.array_equal(u0, kept)
    assert close(du, fd_grad(heat, (u0, 0.2, 10), 0), 1e-6)
    assert math.isclose(adflow.grad(halving, checkpoint=2)(40.0), fd_grad(halving, (40.0,), 0, h=1e-5),
                        rel_tol=1e-6)
    assert "binomial schedule" in g.source and "heat_loop" in g.source and "_step_vjp" in g.source


def test_auto_keeps_the_full_tape_when_it_fits_and_checkpoints_when_not():
    u0 = np.sin(np.linspace(0.0, 3.0, 50))
    full = adflow.grad(heat, target=PY)(u0, 0.2, 40)
    roomy = adflow.grad(heat, checkpoint="auto", memory=10**9, target=PY)
    assert close(roomy(u0, 0.2, 40), full, 1e-12)
    assert roomy.checkpoint_report == []  # the ordinary full-tape derivative ran
    # Each iteration keeps about one 48-element slice (384 bytes) on the tape: 40 of them do not fit
    # in 8000 bytes; a snapshot is 400 bytes, and 10 snapshots' worth is kept for the working set.
    tight = adflow.grad(heat, checkpoint="auto", memory=8000, target=PY)
    assert close(tight(u0, 0.2, 40), full, 1e-12)
    (report,) = tight.checkpoint_report
    assert 1 <= report.snapshots and report.snapshots * report.state_bytes <= 8000 - 10 * 400
    with pytest.raises(adflow.ArgumentError, match="smaller than one snapshot"):
        adflow.grad(heat, checkpoint="auto", memory=500, target=PY)(u0, 0.2, 40)


def no_loop(x):
    return x * x


@pytest.mark.parametrize("bad, message", [(-1, "positive whole number"), (0, "positive whole number"),
                                          (2.5, "positive whole number"), (True, "positive whole number"),
                                          ("often", "snapshots or 'auto'")])
def test_bad_snapshot_counts_are_refused(bad, message):
    with pytest.raises(adflow.ArgumentError, match=message):
        adflow.grad(heat, checkpoint=bad)


def test_bad_options_are_refused():
    with pytest.raises(adflow.ArgumentError, match="memory= must be a positive"):
        adflow.grad(heat, checkpoint="auto", memory=-5)
    with pytest.raises(adflow.ArgumentError, match="memory= is the budget"):
        adflow.grad(heat, memory=10**6)
    with pytest.raises(adflow.ArgumentError, match="not available on target='cuda'"):
        adflow.grad(heat, checkpoint=2, target="cuda")
    with pytest.raises(adflow.UnsupportedSyntaxError, match="no_loop has no loop") as info:
        adflow.grad(no_loop, checkpoint=2, target=PY)(1.0)
    assert "test_checkpoint.py" in str(info.value)


def weighted_by_step(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(np.sin(x) * i)
        x = x * 0.9
    return s


@pytest.mark.parametrize("snapshots", [1, 3])
def test_the_loop_variable_read_in_the_body(snapshots):
    # The loop variable is bound by each iteration, not an invariant read from before the loop
    # (it was: KeyError 'i' when the driver gathered the invariants).
    x = np.array([1.0, 2.0, 3.0])
    g = adflow.grad(weighted_by_step, checkpoint=snapshots, target=PY)(x, 10)
    closed = sum(i * 0.9 ** i * np.cos(x * 0.9 ** i) for i in range(10))
    assert close(g, closed, 1e-12)


def appending(x):
    """The state array grows: the driver's snapshot stores have one shape."""
    u = x.copy()
    for t in range(4):
        u = np.concatenate((u, u[-1:] * 0.5))
    return np.sum(u * u)


@pytest.mark.cpu_slow
@pytest.mark.parametrize("target", [PY, "cpu"])
def test_the_compiled_driver_against_differences(target):
    # The driver (adflow/checkpoint/drivers.py) is compiled with the loop's pieces on cpu: an int in
    # the state (halving's k), an array invariant whose cotangent it sums (two_loops' second loop),
    # break, a branch, one snapshot and more than the trips.
    assert math.isclose(adflow.grad(halving, checkpoint=2, target=target)(40.0),
                        fd_grad(halving, (40.0,), 0, h=1e-5), rel_tol=1e-6)
    x = np.array([0.3, -0.2, 0.5])
    dx, db = adflow.grad(two_loops, wrt=(0, 1), checkpoint=1, target=target)(x, 0.3)
    assert close(dx, fd_grad(two_loops, (x, 0.3), 0), 1e-6) and close(db, fd_grad(two_loops, (x, 0.3), 1), 1e-6)
    u0 = np.array([0.5, 0.25, 1.0])
    du, da = adflow.grad(until_big, wrt=(0, 1), checkpoint=3, target=target)(u0, 1.2)
    assert close(du, fd_grad(until_big, (u0, 1.2), 0), 1e-6) and close(da, fd_grad(until_big, (u0, 1.2), 1), 1e-6)
    g = adflow.grad(growth, wrt=(0, 1), checkpoint=50, target=target)
    assert close(np.array(g(1.5, 1.7, 20)), np.array([fd_grad(growth, (1.5, 1.7, 20), k) for k in (0, 1)]), 1e-6)


def test_a_state_array_that_changes_shape_is_refused():
    with pytest.raises(adflow.NonDifferentiableError, match="changed shape") as info:
        adflow.grad(appending, checkpoint=2, target=PY)(np.array([1.0, 2.0]))
    assert "test_checkpoint.py" in str(info.value)


def test_the_plan_carries_out_the_library_schedule():
    # Every iteration is reversed once, last first; snapshots fit their slots; the first sweep ends
    # at the loop's exit.
    from adflow.checkpoint import schedule
    for trips, snapshots in [(1, 1), (2, 1), (7, 2), (30, 3), (100, 99)]:
        plan = schedule.plan_for(trips, snapshots)
        rows = plan.rows
        reversed_ = [int(r[1]) for r in rows if r[0] in (schedule.REVERSE, schedule.REVERSE_DEP)]
        assert reversed_ == list(range(trips - 1, -1, -1))
        assert plan.slots <= max(1, min(snapshots, trips)) and plan.ends_with_advance
        assert plan.advanced + trips == binomial_steps(trips, snapshots) + 1


def nothing_carried(x, a):
    s = 0.0
    for i in range(5):
        s = np.sum(np.sin(x)) * a  # overwritten below: the loop carries no value
    s = a * np.sum(x * x)
    return s


def test_a_loop_that_carries_nothing():
    # Fuzz seed 30100054: the driver of a loop with no carried state was not valid Python.
    x = np.array([0.3, -0.2, 0.5])
    dx, da = adflow.grad(nothing_carried, wrt=(0, 1), checkpoint=2, target=PY)(x, 0.7)
    assert close(dx, 2 * 0.7 * x, 1e-12) and math.isclose(da, float(np.sum(x * x)), rel_tol=1e-12)

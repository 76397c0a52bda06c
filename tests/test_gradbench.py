"""The GradBench tool of benchmarks/gradbench, driven over its protocol as GradBench's evals drive it.

One tool process (``python -m benchmarks.gradbench``) per test module answers every message;
a small driver sends ``start``, ``define``, ``evaluate`` and ``analysis`` messages for tiny
instances of each eval and checks that the responses follow the protocol, that the objectives
agree with NumPy references written here (from each eval's definition, not from the tool's
code), and that every derivative agrees with central finite differences of those references.

The evals with the costliest first builds (ba, ht, particle, saddle: 10 to 20 s of adflow build
and numba compile each with an empty cache, on a 2-core machine) are marked slow; the rest take
about 20 s with an empty cache (``ADFLOW_CACHE_DIR``), a few seconds with a warm one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.special
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"min_runs": 2, "min_seconds": 0}

# One worker runs them all under xdist (--dist loadgroup), sharing the module's tool process.
pytestmark = pytest.mark.xdist_group("gradbench")


class Tool:
    """The tool as a subprocess; ``send`` writes one message and reads its response."""

    def __init__(self):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.gradbench"], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, bufsize=1)
        self.next_id = 0

    def send(self, message: dict) -> dict:
        message = {"id": self.next_id} | message
        self.next_id += 1
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise AssertionError(f"the tool closed its output; its stderr:\n{self.stderr.read()[-5000:]}")
        response = json.loads(line)
        assert response["id"] == message["id"], (response, message)
        return response

    def define(self, module: str) -> dict:
        response = self.send({"kind": "define", "module": module})
        assert set(response) <= {"id", "success", "timings", "error"}, response
        assert isinstance(response["success"], bool)
        check_timings(response.get("timings", []))
        return response

    def evaluate(self, module: str, function: str, input, runs: dict | None = RUNS):
        """The output, after checking the response as GradBench's eval does; sends the analysis after."""
        full = input | runs if runs is not None else input
        response = self.send({"kind": "evaluate", "module": module, "function": function, "input": full,
                              "description": "test"})
        assert set(response) <= {"id", "success", "output", "timings", "error"}, response
        assert response["success"] is True, response.get("error")
        assert "output" in response
        timings = response["timings"]
        check_timings(timings)
        names = [t["name"] for t in timings]
        expected_runs = runs["min_runs"] if runs is not None else 1
        assert names.count("evaluate") == expected_runs, names
        assert set(names) <= {"prepare", "compile", "warmup", "evaluate"}, names
        analysis = self.send({"kind": "analysis", "of": response["id"], "valid": True})
        assert set(analysis) == {"id"}  # acknowledged with its own id (send checks it)
        return response["output"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.stderr.close()
        return self.proc.returncode


def check_timings(timings):
    assert isinstance(timings, list)
    for t in timings:
        assert set(t) == {"name", "nanoseconds"}, t
        assert isinstance(t["name"], str)
        assert isinstance(t["nanoseconds"], int) and t["nanoseconds"] >= 0


@pytest.fixture(scope="module")
def tool():
    t = Tool()
    start = t.send({"kind": "start", "eval": "test"})
    assert start["tool"] == "adflow" and start["config"]["target"] == "cpu", start
    assert start["config"]["threads"] == 1  # single-threaded unless --multithreaded
    yield t
    assert t.close() == 0


def central_differences(f, x, h=1e-6):
    """``J[..., idx] = (f(x + h e_idx) - f(x - h e_idx)) / 2h`` for every index of ``x``, step relative to ``x``."""
    x = np.asarray(x, dtype=np.float64)
    f0 = np.asarray(f(x))
    J = np.zeros(f0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[idx]))
        xp = x.copy()
        xm = x.copy()
        xp[idx] += step
        xm[idx] -= step
        J[(Ellipsis,) + idx] = (np.asarray(f(xp)) - np.asarray(f(xm))) / (2 * step)
    return J


def assert_close(actual, expected, rtol=1e-6):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# --- the protocol -------------------------------------------------------------------------------


def test_protocol_hello_and_refusals(tool):
    assert tool.define("hello")["success"] is True
    x = 1.5
    for _ in range(2):
        y = tool.evaluate("hello", "square", x, runs=None)
        assert y == x * x
        x = tool.evaluate("hello", "double", y, runs=None)
        assert x == 2 * y
    # an eval adflow has no module for: success false with an error, as the protocol allows
    refused = tool.define("no_such_eval")
    assert refused["success"] is False and "no_such_eval" in refused["error"]
    # an unknown function: success false, and the session goes on
    response = tool.send({"kind": "evaluate", "module": "hello", "function": "cube", "input": 2.0})
    assert response["success"] is False and "cube" in response["error"]
    # other kinds of message are acknowledged with their id only
    assert set(tool.send({"kind": "analysis", "of": 0, "valid": False, "error": "x"})) == {"id"}


def test_runs_and_first_call_timings(tool):
    assert tool.define("lse")["success"] is True
    x = [0.5, -1.0, 2.0]
    first = tool.send({"kind": "evaluate", "module": "lse", "function": "primal",
                       "input": {"x": x, "min_runs": 3, "min_seconds": 0}})
    names = [t["name"] for t in first["timings"]]
    assert names.count("evaluate") == 3 and names.count("compile") == 1, names
    again = tool.send({"kind": "evaluate", "module": "lse", "function": "primal",
                       "input": {"x": x, "min_runs": 1, "min_seconds": 0.01}})
    names = [t["name"] for t in again["timings"]]
    assert "compile" not in names and "warmup" not in names
    total = sum(t["nanoseconds"] for t in again["timings"] if t["name"] == "evaluate")
    assert total >= 0.01 * 1e9  # ran until min_seconds were spent
    longer = tool.send({"kind": "evaluate", "module": "lse", "function": "primal",
                        "input": {"x": x + [3.0], "min_runs": 1, "min_seconds": 0}})
    assert [t["name"] for t in longer["timings"]].count("warmup") == 1  # new shape, same types


# --- lse, llsq, ode, det, kmeans ----------------------------------------------------------------


def test_lse(tool):
    x = np.array([0.3, -1.2, 2.5, 0.0, 1.1])
    value = tool.evaluate("lse", "primal", {"x": x.tolist()})
    gradient = tool.evaluate("lse", "gradient", {"x": x.tolist()})

    def reference(x):
        return np.log(np.sum(np.exp(x)))

    assert isinstance(value, float) and isinstance(gradient, list)
    assert_close(value, reference(x), rtol=1e-12)
    assert_close(gradient, np.exp(x) / np.sum(np.exp(x)), rtol=1e-12)
    assert_close(gradient, central_differences(reference, x))


def test_llsq(tool):
    x = np.array([0.4, -0.3, 0.8, 0.1])
    n = 7
    value = tool.evaluate("llsq", "primal", {"x": x.tolist(), "n": n})
    gradient = tool.evaluate("llsq", "gradient", {"x": x.tolist(), "n": n})

    t = -1.0 + 2.0 * np.arange(n) / (n - 1)
    V = t[:, None] ** np.arange(x.size)

    def reference(x):
        r = np.sign(t) - V @ x
        return 0.5 * r @ r

    assert_close(value, reference(x), rtol=1e-12)
    assert_close(gradient, -V.T @ (np.sign(t) - V @ x), rtol=1e-10)
    assert_close(gradient, central_differences(reference, x))


def test_ode(tool):
    x = np.array([0.9, 0.4, 0.7, 0.2, 0.5])
    s = 3
    value = tool.evaluate("ode", "primal", {"x": x.tolist(), "s": s})
    gradient = tool.evaluate("ode", "gradient", {"x": x.tolist(), "s": s})

    def rhs(x, y):
        return np.concatenate(([x[0]], x[1:] * y[:-1]))

    def reference(x):
        y = np.zeros_like(x)
        h = 2.0 / s
        for _ in range(s):
            k1 = rhs(x, y)
            k2 = rhs(x, y + h * k1 / 2)
            k3 = rhs(x, y + h * k2 / 2)
            k4 = rhs(x, y + h * k3)
            y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
        return y

    assert len(value) == x.size and len(gradient) == x.size
    assert_close(value, reference(x), rtol=1e-12)
    assert_close(value[0], 2.0 * x[0], rtol=1e-12)  # y_0 = x_0 t exactly
    assert_close(gradient, central_differences(lambda x: reference(x)[-1], x))


def test_det(tool):
    rng = np.random.default_rng(1)
    for ell in (4, 1):
        A = rng.random(ell * ell)
        value = tool.evaluate("det", "primal", {"A": A.tolist(), "ell": ell})
        gradient = tool.evaluate("det", "gradient", {"A": A.tolist(), "ell": ell})
        M = A.reshape(ell, ell)
        assert_close(value, np.linalg.det(M), rtol=1e-12)
        assert_close(gradient, (np.linalg.det(M) * np.linalg.inv(M).T).ravel(), rtol=1e-10)  # row-major
        assert_close(gradient, central_differences(lambda a: np.linalg.det(a.reshape(ell, ell)), A))


def test_kmeans(tool):
    rng = np.random.default_rng(2)
    points = rng.random((9, 2))
    centroids = points[-3:].copy()  # each centroid is closest to at least one point, as the eval ensures
    input = {"points": points.tolist(), "centroids": centroids.tolist()}
    cost = tool.evaluate("kmeans", "cost", input)
    direction = np.array(tool.evaluate("kmeans", "dir", input))

    def reference(c):
        return np.sum(np.min(np.sum((points[:, None, :] - c[None, :, :]) ** 2, axis=2), axis=1))

    assert_close(cost, reference(centroids), rtol=1e-12)
    assigned = np.argmin(np.sum((points[:, None, :] - centroids[None]) ** 2, axis=2), axis=1)
    counts = np.bincount(assigned, minlength=3)
    closed_form = np.array([centroids[j] - points[assigned == j].mean(axis=0) for j in range(3)])
    assert direction.shape == (3, 2)
    assert_close(direction, closed_form, rtol=1e-12)
    # J H^-1 with J by finite differences and the Hessian's diagonal 2 * (points in the cluster)
    assert_close(direction, central_differences(reference, centroids) / (2.0 * counts[:, None]))


# --- gmm, lstm, and the slow ba, ht ------------------------------------------------------------


def gmm_reference(alpha, mu, q, l, x, m, gamma):
    """log(likelihood * prior) straight from the definition: Gaussian densities and a Wishart density."""
    K, D = mu.shape
    phi = np.exp(alpha) / np.sum(np.exp(alpha))
    precisions = []
    for k in range(K):
        Q = np.diag(np.exp(q[k]))
        idx = 0
        for j in range(D):
            for i in range(j + 1, D):
                Q[i, j] = l[k][idx]
                idx += 1
        precisions.append(Q.T @ Q)
    likelihood = 1.0
    for xi in x:
        total = 0.0
        for k in range(K):
            diff = xi - mu[k]
            total += phi[k] * np.exp(-0.5 * diff @ precisions[k] @ diff) / np.sqrt(
                (2 * np.pi) ** D / np.linalg.det(precisions[k]))
        likelihood *= total
    n = D + m + 1
    V = np.eye(D) / gamma ** 2
    prior = 1.0
    for P in precisions:
        prior *= (np.linalg.det(P) ** ((n - D - 1) / 2) * np.exp(-np.trace(np.linalg.inv(V) @ P) / 2)) / (
            2 ** (n * D / 2) * np.linalg.det(V) ** (n / 2) * np.exp(scipy.special.multigammaln(n / 2, D)))
    return float(np.log(likelihood * prior))


def test_gmm(tool):
    rng = np.random.default_rng(3)
    d, k, n, m, gamma = 3, 2, 4, 1, 1.3
    fields = {"alpha": rng.normal(size=k), "mu": rng.uniform(size=(k, d)), "q": 0.3 * rng.normal(size=(k, d)),
              "l": 0.3 * rng.normal(size=(k, d * (d - 1) // 2))}
    x = rng.normal(size=(n, d))
    input = {"d": d, "k": k, "n": n, "x": x.tolist(), "m": m, "gamma": gamma} | {
        name: value.tolist() for name, value in fields.items()}
    assert tool.define("gmm")["success"] is True
    value = tool.evaluate("gmm", "objective", input)
    gradient = tool.evaluate("gmm", "jacobian", input)

    assert_close(value, gmm_reference(**fields, x=x, m=m, gamma=gamma), rtol=1e-10)
    assert set(gradient) == {"alpha", "mu", "q", "l"}
    for name, array in fields.items():
        def along(v, name=name):
            return gmm_reference(**(fields | {name: v}), x=x, m=m, gamma=gamma)
        assert np.shape(gradient[name]) == array.shape, name  # lists of lists like the input
        assert_close(gradient[name], central_differences(along, array))


def lstm_reference(main_params, extra_params, state, sequence):
    layers = main_params.shape[0] // 2
    b = main_params.shape[1] // 4
    hidden = [state[2 * i].copy() for i in range(layers)]
    cell = [state[2 * i + 1].copy() for i in range(layers)]

    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    total = 0.0
    for t in range(len(sequence) - 1):
        x = sequence[t] * extra_params[0]
        for i in range(layers):
            w, bias = main_params[2 * i], main_params[2 * i + 1]
            forget = sigmoid(x * w[:b] + bias[:b])
            ingate = sigmoid(hidden[i] * w[b:2 * b] + bias[b:2 * b])
            outgate = sigmoid(x * w[2 * b:3 * b] + bias[2 * b:3 * b])
            change = np.tanh(hidden[i] * w[3 * b:] + bias[3 * b:])
            cell[i] = cell[i] * forget + ingate * change
            hidden[i] = outgate * np.tanh(cell[i])
            x = hidden[i]
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - np.log(np.sum(np.exp(ypred)) + 2.0)
        total += sequence[t + 1] @ ynorm
    return -total / ((len(sequence) - 1) * b)


def test_lstm(tool):
    rng = np.random.default_rng(4)
    layers, b, c = 2, 3, 4
    main_params = rng.random((2 * layers, 4 * b))
    extra_params = rng.random((3, b))
    state = rng.random((2 * layers, b))
    sequence = rng.integers(0, 2, (c, b)).astype(float)
    input = {"main_params": main_params.tolist(), "extra_params": extra_params.tolist(),
             "state": state.tolist(), "sequence": sequence.tolist()}
    value = tool.evaluate("lstm", "objective", input)
    gradient = tool.evaluate("lstm", "jacobian", input)

    assert_close(value, lstm_reference(main_params, extra_params, state, sequence), rtol=1e-12)
    d_main = central_differences(lambda p: lstm_reference(p, extra_params, state, sequence), main_params)
    d_extra = central_differences(lambda p: lstm_reference(main_params, p, state, sequence), extra_params)
    assert_close(gradient, np.concatenate((d_main.ravel(), d_extra.ravel())))  # rows adjacent, then extra


def ba_reference(cam, X, w, feat):
    """Reprojection error of one observation: rotate X - C by Rodrigues' formula, project, distort."""
    p = X - cam[3:6]
    theta = np.linalg.norm(cam[0:3])
    axis = cam[0:3] / theta
    rotated = (p * np.cos(theta) + np.cross(axis, p) * np.sin(theta)
               + axis * (axis @ p) * (1 - np.cos(theta)))
    proj = rotated[:2] / rotated[2]
    rsq = proj @ proj
    proj = proj * (1 + cam[9] * rsq + cam[10] * rsq * rsq)
    return w * (proj * cam[6] + cam[7:9] - feat)


@pytest.mark.slow
def test_ba(tool):
    n, m, p = 2, 3, 10  # p >= 10: the eval reads the first 30 entries of each array
    cam = np.array([0.2, -0.3, 0.1, 0.5, -0.4, -8.0, 400.0, 2.0, -1.0, 1e-3, 2e-6])
    X = np.array([0.3, -0.2, 2.0])
    w = 0.9
    feat = np.array([-30.0, 20.0])
    input = {"n": n, "m": m, "p": p, "cam": cam.tolist(), "x": X.tolist(), "w": w, "feat": feat.tolist()}
    objective = tool.evaluate("ba", "objective", input)
    jacobian = tool.evaluate("ba", "jacobian", input)

    err = ba_reference(cam, X, w, feat)
    assert objective["reproj_error"]["repeated"] == p and objective["w_err"]["repeated"] == p
    assert_close(objective["reproj_error"]["elements"], err, rtol=1e-12)
    assert_close(objective["w_err"]["element"], 1 - w * w, rtol=1e-12)

    # compressed rows, in GradBench's layout: two reprojection rows of 15 entries per observation
    # (11 camera columns, 3 point columns, the weight's column), then one entry per weight row
    rows, cols, vals = jacobian["rows"], jacobian["cols"], jacobian["vals"]
    assert len(rows) == len(cols) == len(vals) == 31
    assert rows[:21] == [15 * i for i in range(21)]
    assert rows[21:30] == [300 + i for i in range(1, 10)] and rows[30] == 31 * p
    block = list(range(11)) + [11 * n, 11 * n + 1, 11 * n + 2, 11 * n + 3 * m]
    assert cols[:30] == block + block and cols[30] == 11 * n + 3 * m + p - 1
    z = np.concatenate((cam, X, [w]))
    J = central_differences(lambda z: ba_reference(z[:11], z[11:14], z[14], feat), z)  # 2 x 15
    assert_close(vals[:30], np.concatenate((J[0], J[1])))
    assert_close(vals[30], -2 * w, rtol=1e-12)


def synthetic_hand(rng, n_points, complicated):
    """A hand model of GradBench's shape (22 bones, 26 theta) with random bones, mesh and data."""
    n_bones, n_verts, n_triangles = 22, 6, 4

    def rigid():
        M = np.eye(4)
        M[:3, :3] = Rotation.from_rotvec(0.5 * rng.normal(size=3)).as_matrix()
        M[:3, 3] = 0.3 * rng.normal(size=3)
        return M

    model = {"bone_count": n_bones, "bone_names": [f"bone{i}" for i in range(n_bones)],
             "parents": [-1] + [int(rng.integers(0, i)) for i in range(1, n_bones)],
             "base_relatives": [rigid().tolist() for _ in range(n_bones)],
             "inverse_base_absolutes": [rigid().tolist() for _ in range(n_bones)],
             "base_positions": np.hstack([rng.normal(size=(n_verts, 3)), np.ones((n_verts, 1))]).tolist(),
             "weights": rng.dirichlet(np.ones(n_bones), size=n_verts).tolist(),
             "triangles": [rng.choice(n_verts, 3, replace=False).tolist() for _ in range(n_triangles)],
             "is_mirrored": False}
    correspondences = rng.integers(0, n_triangles if complicated else n_verts, n_points)
    data = {"model": model, "correspondences": correspondences.tolist(),
            "points": rng.normal(size=(n_points, 3)).tolist()}
    theta = 0.4 * rng.normal(size=26)
    us = rng.random((n_points, 2)) if complicated else np.zeros((0, 2))
    return {"theta": theta.tolist(), "data": data, "us": us.tolist()}


def ht_reference(theta, us, input):
    model = input["data"]["model"]
    parents = model["parents"]
    n_bones = len(parents)
    pose = np.zeros((3, n_bones + 3))
    pose[:, 0] = theta[0:3]
    pose[:, 1] = 1.0
    pose[:, 2] = theta[3:6]
    i_theta, col = 6, 5
    for _ in range(5):
        for joint in range(2, 5):
            pose[0, col] = theta[i_theta]
            i_theta += 1
            if joint == 2:
                pose[1, col] = theta[i_theta]
                i_theta += 1
            col += 1
        col += 1
    base_relatives = np.array(model["base_relatives"])
    inverse_base_absolutes = np.array(model["inverse_base_absolutes"])
    absolutes = []
    for b in range(n_bones):
        tx, tz, ty = pose[:, b + 3]  # "xzy" order
        Rx = np.array([[1, 0, 0], [0, np.cos(tx), -np.sin(tx)], [0, np.sin(tx), np.cos(tx)]])
        Ry = np.array([[np.cos(ty), 0, np.sin(ty)], [0, 1, 0], [-np.sin(ty), 0, np.cos(ty)]])
        Rz = np.array([[np.cos(tz), -np.sin(tz), 0], [np.sin(tz), np.cos(tz), 0], [0, 0, 1]])
        T = np.eye(4)
        T[:3, :3] = Rz @ Ry @ Rx
        relative = base_relatives[b] @ T
        absolutes.append(relative if parents[b] == -1 else absolutes[parents[b]] @ relative)
    base_positions = np.array(model["base_positions"]).T  # 4 x vertices
    weights = np.array(model["weights"])                  # vertices x bones
    positions = sum((absolutes[b] @ inverse_base_absolutes[b] @ base_positions)[:3] * weights[:, b]
                    for b in range(n_bones))
    positions = Rotation.from_rotvec(pose[:, 0]).as_matrix() @ positions + pose[:, 2:3]
    points = np.array(input["data"]["points"])
    correspondences = input["data"]["correspondences"]
    if us.size == 0:
        model_points = positions[:, correspondences].T
    else:
        triangles = np.array(model["triangles"])[correspondences]
        model_points = (us[:, 0:1] * positions[:, triangles[:, 0]].T + us[:, 1:2] * positions[:, triangles[:, 1]].T
                        + (1 - us[:, 0:1] - us[:, 1:2]) * positions[:, triangles[:, 2]].T)
    return (points - model_points).ravel()


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["simple", "complicated"])
def test_ht(tool, variant):
    rng = np.random.default_rng(5)
    n_points = 3
    input = synthetic_hand(rng, n_points, variant == "complicated")
    theta = np.array(input["theta"])
    us = np.array(input["us"]).reshape(-1, 2)
    objective = tool.evaluate("ht", "objective", input)
    jacobian = np.array(tool.evaluate("ht", "jacobian", input))

    assert_close(objective, ht_reference(theta, us, input), rtol=1e-10)
    d_theta = central_differences(lambda t: ht_reference(t, us, input), theta)
    if variant == "simple":
        assert jacobian.shape == (3 * n_points, 26)
        assert_close(jacobian, d_theta)
    else:
        # per residual: the derivatives by its own two us, then the 26 theta columns
        assert jacobian.shape == (3 * n_points, 28)
        d_us = central_differences(lambda u: ht_reference(theta, u, input), us)  # 3n x n x 2
        own = np.array([d_us[r, r // 3, :] for r in range(3 * n_points)])
        assert_close(jacobian[:, :2], own)
        assert_close(jacobian[:, 2:], d_theta)


# --- nested derivatives: particle and saddle (slow) ----------------------------------------------


def particle_landing(w):
    """x_f(w)^2 by the eval's Euler steps, with the force written out: -grad sum 1/|x - c|."""
    charges = np.array([[10.0, 10.0 - w], [10.0, 0.0]])
    x = np.array([0.0, 8.0])
    xdot = np.array([0.75, 0.0])
    dt = 0.1
    while True:
        diff = x - charges
        xddot = np.sum(diff / np.linalg.norm(diff, axis=1)[:, None] ** 3, axis=0)
        x = x + dt * xdot
        if x[1] <= 0:
            x_f = x[0] - x[1] / xdot[1] * xdot[0]
            return x_f * x_f
        xdot = xdot + dt * xddot


def descend(f, x0):
    """argmin by the descent of GradBench's gd.hpp (steps from 1e-5, doubled after 10 accepted, halved
    on a rejected one; stop at a gradient or a step of norm 1e-5), gradients by central differences."""
    def gradient(x):
        return central_differences(f, x, h=1e-7)

    x = np.array(x0, dtype=np.float64)
    fx, gx = f(x), gradient(x)
    taken, eta = 0, 1e-5
    while np.linalg.norm(gx) > 1e-5:
        if taken == 10:
            eta, taken = 2 * eta, 0
            continue
        x_new = x - eta * gx
        if np.linalg.norm(x - x_new) <= 1e-5:
            break
        f_new = f(x_new)
        if f_new < fx:
            x, fx, gx, taken = x_new, f_new, gradient(x_new), taken + 1
        else:
            eta, taken = eta / 2, 0
    return x


@pytest.mark.slow
def test_particle(tool):
    assert tool.define("particle")["success"] is True
    # GradBench's descent on the reference, with finite-difference derivatives: where the tool's
    # descent, with adflow's derivatives, must end too
    expected = descend(lambda w: particle_landing(float(w[0])), [0.0])[0]
    assert abs(expected - 0.2071918746486116) < 1e-6  # the value GradBench's eval expects
    for variant in ("rr", "fr", "rf"):
        w = tool.evaluate("particle", variant, {"w": 0.0})
        assert abs(w - expected) < 1e-9, (variant, w, expected)
    refused = tool.send({"kind": "evaluate", "module": "particle", "function": "ff",
                         "input": {"w": 0.0} | RUNS})
    assert refused["success"] is False and "forward over forward" in refused["error"]


@pytest.mark.slow
def test_saddle(tool):
    assert tool.define("saddle")["success"] is True
    for variant in ("rr", "fr", "rf"):
        point = tool.evaluate("saddle", variant, {"start": [1.0, 1.0]})
        assert len(point) == 4
        # the saddle point of (x1^2 + y1^2) - (x2^2 + y2^2) is the origin; the descents stop near it,
        # where GradBench's eval expects them to stop
        assert_close(point, [8.246324826140356e-06] * 4, rtol=1e-9)
        assert np.max(np.abs(point)) < 1e-4
    refused = tool.send({"kind": "evaluate", "module": "saddle", "function": "ff",
                         "input": {"start": [1.0, 1.0]} | RUNS})
    assert refused["success"] is False and "forward over forward" in refused["error"]

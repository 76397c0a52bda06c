"""GradBench ``ba``: bundle adjustment (ADBench), the reprojection and weight errors and their sparse Jacobian.

The eval sends one camera, one point, one weight and one feature with the counts ``n``, ``m``,
``p``; the input is replicated as GradBench's reference tool does (observation ``i`` sees camera
``i % n`` and point ``i % m``) and every observation is computed, none reused.

``objective``: the loop over observations compiled by numba (Rodrigues rotation, projection,
radial distortion), reported in the eval's compressed form (the first observation's two errors
and the first weight error, with their counts).

``jacobian``: each observation's errors depend on its camera (11), its point (3) and its weight,
so the Jacobian is block sparse.  One row per observation holds those 15 numbers and its
feature; ``adflow.jacobian(ba_row, batch=True)`` gives every row's ``3 x 17`` Jacobian (forward
mode, rows in blocks through one compiled loop), and a numba loop assembles the
``(2p + p) x (11n + 3m + p)`` matrix in compressed-row form, in the order of GradBench's
reference (``rows``, ``cols``, ``vals``).  The eval checks its first 30 entries and its last.
"""
from __future__ import annotations

import math

import numba
import numpy as np

import adflow

from ._runs import Function, floats

N_CAM = 11


@numba.njit(cache=True)
def reprojection(cam, X, w, feat0, feat1, err):
    # err[0:2] = w * (projection of X by cam - feature)
    # Rodrigues rotation of X - C by the angle-axis cam[0:3]
    p0 = X[0] - cam[3]
    p1 = X[1] - cam[4]
    p2 = X[2] - cam[5]
    sqtheta = cam[0] * cam[0] + cam[1] * cam[1] + cam[2] * cam[2]
    if sqtheta != 0.0:
        theta = math.sqrt(sqtheta)
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        w0 = cam[0] / theta
        w1 = cam[1] / theta
        w2 = cam[2] / theta
        cross0 = w1 * p2 - w2 * p1
        cross1 = w2 * p0 - w0 * p2
        cross2 = w0 * p1 - w1 * p0
        tmp = (w0 * p0 + w1 * p1 + w2 * p2) * (1.0 - costheta)
        x0 = p0 * costheta + cross0 * sintheta + w0 * tmp
        x1 = p1 * costheta + cross1 * sintheta + w1 * tmp
        x2 = p2 * costheta + cross2 * sintheta + w2 * tmp
    else:
        x0 = p0 + cam[1] * p2 - cam[2] * p1
        x1 = p1 + cam[2] * p0 - cam[0] * p2
        x2 = p2 + cam[0] * p1 - cam[1] * p0
    # perspective division and radial distortion
    u = x0 / x2
    v = x1 / x2
    rsq = u * u + v * v
    distortion = 1.0 + cam[9] * rsq + cam[10] * rsq * rsq
    u = u * distortion
    v = v * distortion
    err[0] = w * (u * cam[6] + cam[7] - feat0)
    err[1] = w * (v * cam[6] + cam[8] - feat1)


def ba_objective(cams, X, w, obs, feats):
    p = w.shape[0]
    reproj_err = np.zeros(2 * p)
    w_err = np.zeros(p)
    err = np.zeros(2)
    for i in range(p):
        reprojection(cams[obs[i, 0]], X[obs[i, 1]], w[i], feats[i, 0], feats[i, 1], err)
        reproj_err[2 * i] = err[0]
        reproj_err[2 * i + 1] = err[1]
    for i in range(p):
        w_err[i] = 1.0 - w[i] * w[i]
    return reproj_err, w_err


def ba_row(z):
    # one observation: z = (camera 11, point 3, weight, feature 2) -> (2 reprojection errors, weight error)
    out = np.zeros(3)
    err = np.zeros(2)
    reprojection(z[0:11], z[11:14], z[14], z[15], z[16], err)
    out[0] = err[0]
    out[1] = err[1]
    out[2] = 1.0 - z[14] * z[14]
    return out


objective_compiled = numba.njit(cache=True)(ba_objective)
rows_jacobian = adflow.jacobian(ba_row, batch=True, target="cpu")


@numba.njit(cache=True)
def gather_rows(cams, X, w, obs, feats):
    p = w.shape[0]
    z = np.empty((p, 17))
    for i in range(p):
        z[i, 0:11] = cams[obs[i, 0]]
        z[i, 11:14] = X[obs[i, 1]]
        z[i, 14] = w[i]
        z[i, 15] = feats[i, 0]
        z[i, 16] = feats[i, 1]
    return z


@numba.njit(cache=True)
def assemble(J, obs, n, m):
    # compressed rows: two reprojection rows per observation (camera, point and weight columns),
    # then one weight-error row per observation
    p = J.shape[0]
    block = N_CAM + 3 + 1
    rows = np.empty(3 * p + 1, dtype=np.int64)
    cols = np.empty(2 * block * p + p, dtype=np.int64)
    vals = np.empty(2 * block * p + p)
    rows[0] = 0
    k = 0
    for i in range(p):
        cam = obs[i, 0]
        pt = obs[i, 1]
        for e in range(2):
            for j in range(N_CAM):
                cols[k] = N_CAM * cam + j
                vals[k] = J[i, e, j]
                k += 1
            for j in range(3):
                cols[k] = N_CAM * n + 3 * pt + j
                vals[k] = J[i, e, N_CAM + j]
                k += 1
            cols[k] = N_CAM * n + 3 * m + i
            vals[k] = J[i, e, N_CAM + 3]
            k += 1
            rows[2 * i + e + 1] = k
    for i in range(p):
        cols[k] = N_CAM * n + 3 * m + i
        vals[k] = J[i, 2, N_CAM + 3]
        k += 1
        rows[2 * p + i + 1] = k
    return rows, cols, vals


def ba_jacobian(cams, X, w, obs, feats):
    n = cams.shape[0]
    m = X.shape[0]
    J = rows_jacobian(gather_rows(cams, X, w, obs, feats))
    return assemble(J, obs, n, m)


def _prepare(input):
    n, m, p = int(input["n"]), int(input["m"]), int(input["p"])
    cams = np.tile(floats(input["cam"]), (n, 1))
    X = np.tile(floats(input["x"]), (m, 1))
    w = np.full(p, float(input["w"]))
    feats = np.tile(floats(input["feat"]), (p, 1))
    obs = np.empty((p, 2), dtype=np.int64)
    obs[:, 0] = np.arange(p) % n
    obs[:, 1] = np.arange(p) % m
    return cams, X, w, obs, feats


def _objective_output(result):
    reproj_err, w_err = result
    return {"reproj_error": {"elements": [float(reproj_err[0]), float(reproj_err[1])],
                             "repeated": len(reproj_err) // 2},
            "w_err": {"element": float(w_err[0]), "repeated": len(w_err)}}


def _first_30_and_last(a, kind):
    values = list(a[:30]) + [a[-1]]
    return [kind(v) for v in values]


def _jacobian_output(result):
    rows, cols, vals = result
    return {"rows": _first_30_and_last(rows, int), "cols": _first_30_and_last(cols, int),
            "vals": _first_30_and_last(vals, float)}


FUNCTIONS = {
    "objective": Function(_prepare, objective_compiled, _objective_output),
    "jacobian": Function(_prepare, ba_jacobian, _jacobian_output),
}

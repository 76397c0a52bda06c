"""GradBench ``ht``: ADBench's hand tracking objective and its Jacobian, both variants.

The hand model is a skeleton of bones (Euler angles per bone from ``theta``, composed down the
parent chain) skinning a mesh (each vertex a weighted sum of its bones' transforms), then a
global rotation and translation.  The residuals are ``point - model point`` for each
correspondence: a vertex in the "simple" variant (``us`` empty), a point of a triangle at
barycentric coordinates ``us[i]`` in the "complicated" one.  Written as loops over bones,
vertices and 4 x 4 matrix entries, as for ``numba.njit``.

``objective``: the loops compiled by numba, ``3 * len(correspondences)`` residuals.

``jacobian``: simple variant, ``adflow.jacobian`` with respect to the 26 ``theta`` (dense,
forward mode: the plan picks it for 26 inputs and many outputs).  Complicated variant: the
residuals depend on all of ``theta`` and on their own two ``us`` only, so the Jacobian with
respect to ``(theta, us)`` is sparse with a known pattern; ``adflow.jacobian(..., sparsity=pattern)``
computes it from 28 compressed directions, and the result is laid out as GradBench's reference
lays it out: for each residual, the derivatives with respect to its own two ``us``, then the 26
``theta`` columns.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse

import adflow

from ._runs import Function, floats, tolist


@numba.njit(cache=True)
def euler_to_rotation(tx, ty, tz, R):
    # R = Rz(tz) Ry(ty) Rx(tx)
    cx = math.cos(tx)
    sx = math.sin(tx)
    cy = math.cos(ty)
    sy = math.sin(ty)
    cz = math.cos(tz)
    sz = math.sin(tz)
    m00 = cz * cy
    m01 = -sz
    m02 = cz * sy
    m10 = sz * cy
    m11 = cz
    m12 = sz * sy
    m20 = -sy
    m21 = 0.0
    m22 = cy
    R[0, 0] = m00
    R[1, 0] = m10
    R[2, 0] = m20
    R[0, 1] = m01 * cx + m02 * sx
    R[1, 1] = m11 * cx + m12 * sx
    R[2, 1] = m21 * cx + m22 * sx
    R[0, 2] = m02 * cx - m01 * sx
    R[1, 2] = m12 * cx - m11 * sx
    R[2, 2] = m22 * cx - m21 * sx


@numba.njit(cache=True)
def angle_axis_to_rotation(a0, a1, a2, R):
    norm = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
    if norm < 0.0001:
        for i in range(3):
            for j in range(3):
                R[i, j] = 0.0
            R[i, i] = 1.0
    else:
        x = a0 / norm
        y = a1 / norm
        z = a2 / norm
        s = math.sin(norm)
        c = math.cos(norm)
        R[0, 0] = x * x + (1.0 - x * x) * c
        R[0, 1] = x * y * (1.0 - c) - z * s
        R[0, 2] = x * z * (1.0 - c) + y * s
        R[1, 0] = x * y * (1.0 - c) + z * s
        R[1, 1] = y * y + (1.0 - y * y) * c
        R[1, 2] = y * z * (1.0 - c) - x * s
        R[2, 0] = x * z * (1.0 - c) - y * s
        R[2, 1] = z * y * (1.0 - c) + x * s
        R[2, 2] = z * z + (1.0 - z * z) * c


@numba.njit(cache=True)
def hand_vertices(theta, parents, base_relatives, inverse_base_absolutes, base_positions, weights,
                  is_mirrored):
    # the posed mesh: positions[v, 0:3] for every vertex v
    n_bones = parents.shape[0]
    n_verts = base_positions.shape[0]

    # pose parameters: pose[col, 0:3]; col 0 global rotation, 1 scale, 2 translation, 3 + bone
    pose = np.zeros((n_bones + 3, 3))
    for j in range(3):
        pose[0, j] = theta[j]
        pose[1, j] = 1.0
        pose[2, j] = theta[3 + j]
    i_theta = 6
    col = 5
    for finger in range(5):
        for joint in range(2, 5):
            pose[col, 0] = theta[i_theta]
            i_theta += 1
            if joint == 2:
                pose[col, 1] = theta[i_theta]
                i_theta += 1
            col += 1
        col += 1

    # bone transforms: relative = base_relative * [R 0; 0 1], absolute down the parent chain,
    # transform = absolute * inverse_base_absolute
    R = np.zeros((3, 3))
    relative = np.zeros((4, 4))
    absolutes = np.zeros((n_bones, 4, 4))
    transforms = np.zeros((n_bones, 4, 4))
    for b in range(n_bones):
        euler_to_rotation(pose[b + 3, 0], pose[b + 3, 2], pose[b + 3, 1], R)
        for r in range(4):
            for c in range(3):
                relative[r, c] = (base_relatives[b, r, 0] * R[0, c] + base_relatives[b, r, 1] * R[1, c]
                                  + base_relatives[b, r, 2] * R[2, c])
            relative[r, 3] = base_relatives[b, r, 3]
        parent = parents[b]
        if parent == -1:
            for r in range(4):
                for c in range(4):
                    absolutes[b, r, c] = relative[r, c]
        else:
            for r in range(4):
                for c in range(4):
                    acc = 0.0
                    for k in range(4):
                        acc += absolutes[parent, r, k] * relative[k, c]
                    absolutes[b, r, c] = acc
        for r in range(4):
            for c in range(4):
                acc = 0.0
                for k in range(4):
                    acc += absolutes[b, r, k] * inverse_base_absolutes[b, k, c]
                transforms[b, r, c] = acc

    # skinning: each vertex is the weighted sum of its bones' transforms of its base position
    skinned = np.zeros((n_verts, 3))
    for b in range(n_bones):
        for v in range(n_verts):
            wgt = weights[v, b]
            for i in range(3):
                moved = 0.0
                for k in range(4):
                    moved += transforms[b, i, k] * base_positions[v, k]
                skinned[v, i] += moved * wgt
    if is_mirrored:
        for v in range(n_verts):
            skinned[v, 0] = -skinned[v, 0]

    # global transform: rotation (columns scaled by pose[1]) and translation
    angle_axis_to_rotation(pose[0, 0], pose[0, 1], pose[0, 2], R)
    positions = np.zeros((n_verts, 3))
    for v in range(n_verts):
        for i in range(3):
            acc = pose[2, i]
            for k in range(3):
                acc += R[i, k] * pose[1, k] * skinned[v, k]
            positions[v, i] = acc
    return positions


def ht_simple(theta, parents, base_relatives, inverse_base_absolutes, base_positions, weights,
              is_mirrored, points, correspondences):
    positions = hand_vertices(theta, parents, base_relatives, inverse_base_absolutes, base_positions,
                              weights, is_mirrored)
    n = correspondences.shape[0]
    err = np.zeros(3 * n)
    for i in range(n):
        v = correspondences[i]
        for j in range(3):
            err[3 * i + j] = points[i, j] - positions[v, j]
    return err


def ht_complicated(params, parents, base_relatives, inverse_base_absolutes, base_positions, weights,
                   is_mirrored, points, correspondences, triangles):
    # params: the 26 theta, then us (two barycentric coordinates per correspondence)
    theta = params[0:26]
    positions = hand_vertices(theta, parents, base_relatives, inverse_base_absolutes, base_positions,
                              weights, is_mirrored)
    n = correspondences.shape[0]
    err = np.zeros(3 * n)
    for i in range(n):
        t = correspondences[i]
        u0 = params[26 + 2 * i]
        u1 = params[26 + 2 * i + 1]
        a = triangles[t, 0]
        b = triangles[t, 1]
        c = triangles[t, 2]
        for j in range(3):
            hand_point = u0 * positions[a, j] + u1 * positions[b, j] + (1.0 - u0 - u1) * positions[c, j]
            err[3 * i + j] = points[i, j] - hand_point
    return err


simple_compiled = numba.njit(cache=True)(ht_simple)
complicated_compiled = numba.njit(cache=True)(ht_complicated)
simple_jacobian = adflow.jacobian(ht_simple, wrt=0, target="cpu")


def complicated_pattern(n_theta, n):
    """Which residuals depend on which parameters: every residual on theta, residual triple i on us[i]."""
    rows = np.repeat(np.arange(3 * n), n_theta + 2)
    own = n_theta + 2 * (np.arange(3 * n) // 3)
    cols = np.concatenate((np.tile(np.arange(n_theta), (3 * n, 1)), own[:, None], own[:, None] + 1), axis=1)
    return scipy.sparse.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols.ravel())),
                                   shape=(3 * n, n_theta + 2 * n))


_complicated_jacobians = {}  # the number of correspondences -> (adflow.jacobian with that pattern, its indices)


def complicated_jacobian(n):
    if n not in _complicated_jacobians:
        pattern = complicated_pattern(26, n)
        _complicated_jacobians[n] = (adflow.jacobian(ht_complicated, wrt=0, target="cpu", sparsity=pattern),
                                     pattern.indices)
    return _complicated_jacobians[n]


def _model_args(input):
    data = input["data"]
    model = data["model"]
    n_bones = len(model["parents"])
    return (np.asarray(model["parents"], dtype=np.int64),
            floats(model["base_relatives"]).reshape(n_bones, 4, 4),
            floats(model["inverse_base_absolutes"]).reshape(n_bones, 4, 4),
            floats(model["base_positions"]).reshape(-1, 4),
            floats(model["weights"]).reshape(-1, n_bones),
            bool(model["is_mirrored"]),
            floats(data["points"]).reshape(-1, 3),
            np.asarray(data["correspondences"], dtype=np.int64))


def _prepare(input):
    theta = floats(input["theta"])
    us = floats(input["us"])
    if us.size == 0:
        return ("simple", theta) + _model_args(input)
    triangles = np.asarray(input["data"]["model"]["triangles"], dtype=np.int64).reshape(-1, 3)
    return ("complicated", np.concatenate((theta, us.ravel()))) + _model_args(input) + (triangles,)


def ht_objective(variant, *args):
    if variant == "simple":
        return simple_compiled(*args)
    return complicated_compiled(*args)


def ht_jacobian(variant, *args):
    if variant == "simple":
        return simple_jacobian(*args)
    params = args[0]
    n_theta = 26
    n = (params.shape[0] - n_theta) // 2
    jac, indices = complicated_jacobian(n)
    J = jac(*args).tocsr()
    J.sort_indices()
    if J.nnz == indices.size and np.array_equal(J.indices, indices):
        # every row holds its 26 theta entries, then its own two us: reorder to (us, theta)
        values = J.data.reshape(3 * n, n_theta + 2)
        return np.concatenate((values[:, n_theta:], values[:, :n_theta]), axis=1)
    out = np.empty((3 * n, n_theta + 2))  # entries left out of the result (exact zeros): index them
    out[:, 2:] = J[:, :n_theta].toarray()
    rows = np.arange(3 * n)
    own = n_theta + 2 * (rows // 3)
    out[:, 0] = np.asarray(J[rows, own]).ravel()
    out[:, 1] = np.asarray(J[rows, own + 1]).ravel()
    return out


FUNCTIONS = {
    "objective": Function(_prepare, ht_objective, tolist),
    "jacobian": Function(_prepare, ht_jacobian, tolist),
}

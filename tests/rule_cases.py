"""Small functions exercising one derivative rule each (generated list; edit freely).

Each array case weights its result by W so that a wrong entry anywhere changes the answer."""
import math

import numpy as np

W = np.array([[0.3, -1.2, 0.7, 2.0], [1.1, 0.4, -0.6, 0.9], [-0.8, 1.5, 0.2, -0.3]])

UNARY_NP = {}
UNARY_MATH = {}

def np_sin(x):
    return np.sum(np.sin(x) * W)

UNARY_NP["sin"] = (np_sin, (-2, 2))

def np_cos(x):
    return np.sum(np.cos(x) * W)

UNARY_NP["cos"] = (np_cos, (-2, 2))

def np_tan(x):
    return np.sum(np.tan(x) * W)

UNARY_NP["tan"] = (np_tan, (-1, 1))

def np_exp(x):
    return np.sum(np.exp(x) * W)

UNARY_NP["exp"] = (np_exp, (-2, 2))

def np_log(x):
    return np.sum(np.log(x) * W)

UNARY_NP["log"] = (np_log, (0.2, 3))

def np_log1p(x):
    return np.sum(np.log1p(x) * W)

UNARY_NP["log1p"] = (np_log1p, (-0.5, 2))

def np_expm1(x):
    return np.sum(np.expm1(x) * W)

UNARY_NP["expm1"] = (np_expm1, (-2, 2))

def np_sqrt(x):
    return np.sum(np.sqrt(x) * W)

UNARY_NP["sqrt"] = (np_sqrt, (0.2, 3))

def np_tanh(x):
    return np.sum(np.tanh(x) * W)

UNARY_NP["tanh"] = (np_tanh, (-2, 2))

def np_sinh(x):
    return np.sum(np.sinh(x) * W)

UNARY_NP["sinh"] = (np_sinh, (-2, 2))

def np_cosh(x):
    return np.sum(np.cosh(x) * W)

UNARY_NP["cosh"] = (np_cosh, (-2, 2))

def np_arcsin(x):
    return np.sum(np.arcsin(x) * W)

UNARY_NP["arcsin"] = (np_arcsin, (-0.9, 0.9))

def np_arccos(x):
    return np.sum(np.arccos(x) * W)

UNARY_NP["arccos"] = (np_arccos, (-0.9, 0.9))

def np_arctan(x):
    return np.sum(np.arctan(x) * W)

UNARY_NP["arctan"] = (np_arctan, (-2, 2))

def np_abs(x):
    return np.sum(np.abs(x) * W)

UNARY_NP["abs"] = (np_abs, (0.1, 2))

def np_square(x):
    return np.sum(np.square(x) * W)

UNARY_NP["square"] = (np_square, (-2, 2))

def np_reciprocal(x):
    return np.sum(np.reciprocal(x) * W)

UNARY_NP["reciprocal"] = (np_reciprocal, (0.3, 2))

def np_log2(x):
    return np.sum(np.log2(x) * W)

UNARY_NP["log2"] = (np_log2, (0.2, 3))

def np_log10(x):
    return np.sum(np.log10(x) * W)

UNARY_NP["log10"] = (np_log10, (0.2, 3))

def np_cbrt(x):
    return np.sum(np.cbrt(x) * W)

UNARY_NP["cbrt"] = (np_cbrt, (0.2, 3))

def np_exp2(x):
    return np.sum(np.exp2(x) * W)

UNARY_NP["exp2"] = (np_exp2, (-2, 2))

def np_arcsinh(x):
    return np.sum(np.arcsinh(x) * W)

UNARY_NP["arcsinh"] = (np_arcsinh, (-2, 2))

def np_arccosh(x):
    return np.sum(np.arccosh(x) * W)

UNARY_NP["arccosh"] = (np_arccosh, (1.2, 3))

def np_arctanh(x):
    return np.sum(np.arctanh(x) * W)

UNARY_NP["arctanh"] = (np_arctanh, (-0.8, 0.8))

def np_negative(x):
    return np.sum(np.negative(x) * W)

UNARY_NP["negative"] = (np_negative, (-2, 2))

def math_sin(x):
    return math.sin(x) * 1.7

UNARY_MATH["sin"] = (math_sin, (-2, 2))

def math_cos(x):
    return math.cos(x) * 1.7

UNARY_MATH["cos"] = (math_cos, (-2, 2))

def math_tan(x):
    return math.tan(x) * 1.7

UNARY_MATH["tan"] = (math_tan, (-1, 1))

def math_exp(x):
    return math.exp(x) * 1.7

UNARY_MATH["exp"] = (math_exp, (-2, 2))

def math_log(x):
    return math.log(x) * 1.7

UNARY_MATH["log"] = (math_log, (0.2, 3))

def math_log1p(x):
    return math.log1p(x) * 1.7

UNARY_MATH["log1p"] = (math_log1p, (-0.5, 2))

def math_expm1(x):
    return math.expm1(x) * 1.7

UNARY_MATH["expm1"] = (math_expm1, (-2, 2))

def math_sqrt(x):
    return math.sqrt(x) * 1.7

UNARY_MATH["sqrt"] = (math_sqrt, (0.2, 3))

def math_tanh(x):
    return math.tanh(x) * 1.7

UNARY_MATH["tanh"] = (math_tanh, (-2, 2))

def math_sinh(x):
    return math.sinh(x) * 1.7

UNARY_MATH["sinh"] = (math_sinh, (-2, 2))

def math_cosh(x):
    return math.cosh(x) * 1.7

UNARY_MATH["cosh"] = (math_cosh, (-2, 2))

def math_asin(x):
    return math.asin(x) * 1.7

UNARY_MATH["asin"] = (math_asin, (-0.9, 0.9))

def math_acos(x):
    return math.acos(x) * 1.7

UNARY_MATH["acos"] = (math_acos, (-0.9, 0.9))

def math_atan(x):
    return math.atan(x) * 1.7

UNARY_MATH["atan"] = (math_atan, (-2, 2))

def math_fabs(x):
    return math.fabs(x) * 1.7

UNARY_MATH["fabs"] = (math_fabs, (0.1, 2))

def math_log2(x):
    return math.log2(x) * 1.7

UNARY_MATH["log2"] = (math_log2, (0.2, 3))

def math_log10(x):
    return math.log10(x) * 1.7

UNARY_MATH["log10"] = (math_log10, (0.2, 3))

def math_asinh(x):
    return math.asinh(x) * 1.7

UNARY_MATH["asinh"] = (math_asinh, (-2, 2))

def math_acosh(x):
    return math.acosh(x) * 1.7

UNARY_MATH["acosh"] = (math_acosh, (1.2, 3))

def math_atanh(x):
    return math.atanh(x) * 1.7

UNARY_MATH["atanh"] = (math_atanh, (-0.8, 0.8))


# Binary operations with broadcasting: (x, y) shapes are chosen by the tests.
def add(x, y):
    return np.sum((x + y) * W)


def sub(x, y):
    return np.sum((x - y) * W)


def mul(x, y):
    return np.sum(x * y * W)


def div(x, y):
    return np.sum(x / y * W)


def power(x, y):
    return np.sum(x ** y * W)


def np_power(x, y):
    return np.sum(np.power(x, y) * W)


def maximum(x, y):
    return np.sum(np.maximum(x, y) * W)


def minimum(x, y):
    return np.sum(np.minimum(x, y) * W)


def arctan2(x, y):
    return np.sum(np.arctan2(x, y) * W)


def hypot(x, y):
    return np.sum(np.hypot(x, y) * W)


def where(x, y):
    return np.sum(np.where(x > y, x * y, x - y) * W)


BINARY = [add, sub, mul, div, power, np_power, maximum, minimum, arctan2, hypot, where]


# Scalar builtins and math functions of two arguments.
def scalar_ops(a, b):
    c = a * b - a / b + a ** 2.5 - -b
    d = max(a, c) + min(b, c) + abs(a - 3.0 * b)
    return math.atan2(c, d) + math.hypot(a, d) + math.pow(a, b)


# Reductions.
def red_sum(x):
    return np.sum(np.sum(x, axis=0) * W[0]) + np.sum(np.sum(x, axis=1) ** 2) + x.sum()


def red_mean(x):
    return np.mean(x ** 2) + x.mean() * 3.0 + np.sum(np.mean(x, axis=0) * W[0, :4])


def red_prod(x):
    return np.prod(x) + x.prod() * 2.0 + np.sum(np.prod(x, axis=1) ** 2)


def red_max(x):
    return np.max(x) + np.min(x * W) + x.max() + x.min() + np.sum(np.max(x, axis=0) * W[1]) + np.sum(np.amin(x, -1) ** 2)


# Linear algebra and shapes.
def matvec(a, b):
    return np.sum(np.dot(a, b) ** 2)


def vecmat(v, a):
    return np.sum((v @ a) ** 2)


def matmat(a, b):
    return np.sum((a @ b) * W)


def vecvec(u, v):
    return np.dot(u, v) ** 2


def outer_prod(u, v):
    return np.sum(np.outer(u, v) * W)


def appends(x):
    return np.sum(np.append(x, x[0, 1] * 2.0) * np.arange(13.0)) + np.sum(np.append(np.zeros(0), x[2]) ** 2)


def at_least(x):
    return np.sum(np.atleast_3d(x)[:, :, 0] * W) + np.sum(np.atleast_1d(x[0, 1]) * 2.0) + np.sum(np.atleast_2d(x[1]) ** 2)


def transpose_reshape(x):
    return np.sum(x.T @ W) + np.sum(np.transpose(x) ** 2) + np.sum(x.reshape(4, 3) ** 3) + np.sum(np.ravel(x) * x.ravel())


def trace_fn(a):
    return np.trace(a @ a)


def inv_fn(a):
    return np.sum(np.linalg.inv(a) * W[:, :3])


def solve_fn(a, b):
    return np.sum(np.linalg.solve(a, b) ** 2)


def solve_matrix(a, b):
    return np.sum(np.linalg.solve(a, b) * W)


def det_fn(a):
    return np.linalg.det(a) ** 2


def norm_fn(a, b):
    # the 2-norm of a vector and the Frobenius norm of a matrix
    return np.linalg.norm(a @ b) * np.linalg.norm(a)


def indexing(x):
    return x[0, 1] * x[2, 3] + np.sum(x[1] ** 2) + np.sum(x[:, 2]) + np.sum(x[1:3, ::2] * 2.0)


def array_literal(a, b):
    y = np.array([a * b, a + b, math.sin(a)])
    return np.sum(y * W[0, :3])


def cumsum_fn(x):
    return np.sum(np.cumsum(x) * W[0])


def roll_fn(x):
    # np.roll of a 2-D array rolls it flattened; of a row, along it
    return np.sum(np.roll(x, 2) * W) + np.sum(np.roll(x[0], -1) * x[1])


def clip_fn(x):
    return np.sum(np.clip(x, -0.5, 0.5) * W)


# Below, inside and above [-0.5, 0.5] in every row, away from the kinks where finite differences
# would straddle the jump of the derivative: inputs all on one side would give a zero gradient.
CLIP_X = np.array([[-0.9, -0.3, 0.1, 0.7], [0.45, -0.6, 1.2, -0.05], [0.2, -1.5, 0.35, 0.6]])

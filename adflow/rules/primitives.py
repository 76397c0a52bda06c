"""The primitives adflow differentiates, their signatures, and the Python objects that name them.

Rules are keyed by these names (``"sin"``), never by Python objects, so a rule survives numpy or
math being imported under another name or a library version moving a function.
"""
from __future__ import annotations

import builtins
import math
import operator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Signature:
    """How a primitive is called: positional parameters, then static keyword parameters.

    ``static`` parameters (``axis``, ``shape``...) must be compile-time constants or integers:
    they are never differentiated.  ``variadic`` primitives take a list of atoms (``np.array([a, b])``).
    """

    params: tuple[str, ...]
    static: dict = field(default_factory=dict)
    elementwise: bool = False
    variadic: bool = False


def _sig(params: str, elementwise: bool = False, **static) -> Signature:
    return Signature(tuple(params.split()), dict(static), elementwise)


_UNARY_ELEMENTWISE = (
    "neg pos square reciprocal exp exp2 expm1 log log2 log10 log1p sqrt cbrt sin cos tan arcsin "
    "arccos arctan sinh cosh tanh arcsinh arccosh arctanh abs"
).split()
_BINARY_ELEMENTWISE = "add sub mul truediv pow mod maximum minimum arctan2 hypot".split()

signatures: dict[str, Signature] = {name: _sig("x", True) for name in _UNARY_ELEMENTWISE}
signatures.update({name: _sig("x y", True) for name in _BINARY_ELEMENTWISE})
signatures.update(
    {
        "where": _sig("c x y", True),
        "clip": _sig("x lo hi", True),
        # reductions
        "sum": _sig("x", axis=None),
        "mean": _sig("x", axis=None),
        "prod": _sig("x", axis=None),
        "amax": _sig("x", axis=None),
        "amin": _sig("x", axis=None),
        # linear algebra and shape
        "dot": _sig("a b"),
        "matmul": _sig("a b"),
        "outer": _sig("a b"),
        "cross": _sig("a b"),
        "vdot": _sig("a b"),
        "transpose": _sig("x"),
        "reshape": _sig("x shape"),
        "ravel": _sig("x"),
        "trace": _sig("x"),
        "inv": _sig("x"),
        "solve": _sig("a b"),
        "det": _sig("x"),
        "norm": _sig("x"),  # the 2-norm of a vector, the Frobenius norm of a matrix (no ord=, axis=)
        "copy": _sig("x"),
        "cumsum": _sig("x"),
        "roll": _sig("x shift"),  # numba's np.roll takes no axis (an axis= is refused)
        "append": _sig("x v"),
        "atleast_1d": _sig("x"),
        "atleast_2d": _sig("x"),
        "atleast_3d": _sig("x"),
        "array": Signature(("items",), {}, False, True),
        "float": _sig("x"),
    }
)

# Operations whose result carries no derivative: integer-valued, boolean, or shape queries.
# They are allowed anywhere; their results are never active.
zero_derivative = {
    "floor", "ceil", "trunc", "rint", "sign", "round", "isnan", "isinf", "isfinite", "int", "bool",
    "len", "range", "argmax", "argmin", "floordiv", "eq", "ne", "lt", "le", "gt", "ge", "not",
    "and", "or", "invert", "isclose", "allclose", "shape", "size", "ndim", "min_int", "any", "all",
}

# Primitives whose result may be a view of their argument (share its memory, see its writes).
views = {"transpose", "reshape", "ravel", "atleast_1d", "atleast_2d", "atleast_3d"}

# Allocations: their result holds no derivative until the function writes active values into it.
allocations = {
    "zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "full", "full_like",
    "arange", "linspace", "eye", "identity",
}

# Python objects -> primitive names.  Looked up by identity.
_np_names = {
    "negative": "neg", "positive": "pos", "square": "square", "reciprocal": "reciprocal", "exp": "exp",
    "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2", "log10": "log10",
    "log1p": "log1p", "sqrt": "sqrt", "cbrt": "cbrt", "sin": "sin", "cos": "cos", "tan": "tan",
    "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "arcsinh": "arcsinh", "arccosh": "arccosh", "arctanh": "arctanh",
    "abs": "abs", "absolute": "abs", "fabs": "abs", "add": "add", "subtract": "sub", "multiply": "mul",
    "divide": "truediv", "true_divide": "truediv", "power": "pow", "mod": "mod", "maximum": "maximum",
    "minimum": "minimum", "arctan2": "arctan2", "hypot": "hypot", "where": "where", "clip": "clip",
    "sum": "sum", "mean": "mean", "prod": "prod", "max": "amax", "amax": "amax", "min": "amin",
    "amin": "amin", "dot": "dot", "matmul": "matmul", "outer": "outer", "cross": "cross", "vdot": "vdot",
    "transpose": "transpose",
    "reshape": "reshape", "ravel": "ravel", "trace": "trace", "copy": "copy", "cumsum": "cumsum",
    "roll": "roll", "array": "array", "asarray": "copy", "append": "append", "atleast_1d": "atleast_1d", "atleast_2d": "atleast_2d",
    "atleast_3d": "atleast_3d",
    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "rint": "rint", "sign": "sign",
    "round": "round", "isnan": "isnan", "isinf": "isinf", "isfinite": "isfinite", "argmax": "argmax",
    "argmin": "argmin", "isclose": "isclose", "allclose": "allclose", "shape": "shape",
    "size": "size", "ndim": "ndim", "any": "any", "all": "all",
    "zeros": "zeros", "ones": "ones", "empty": "empty", "zeros_like": "zeros_like",
    "ones_like": "ones_like", "empty_like": "empty_like", "full": "full", "full_like": "full_like",
    "arange": "arange", "linspace": "linspace", "eye": "eye", "identity": "identity",
}
_math_names = {
    "sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log", "log1p": "log1p",
    "expm1": "expm1", "sqrt": "sqrt", "pow": "pow", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "hypot": "hypot",
    "fabs": "abs", "log2": "log2", "log10": "log10", "asinh": "arcsinh", "acosh": "arccosh",
    "atanh": "arctanh", "exp2": "exp2", "cbrt": "cbrt",
    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite", "copysign": None, "fmod": None,
}

primitive_of_object: dict[int, str] = {}
for _name, _prim in _np_names.items():
    if hasattr(np, _name):
        primitive_of_object[id(getattr(np, _name))] = _prim
for _name, _prim in _math_names.items():
    if _prim is not None and hasattr(math, _name):
        primitive_of_object[id(getattr(math, _name))] = _prim
primitive_of_object[id(np.linalg.inv)] = "inv"
primitive_of_object[id(np.linalg.solve)] = "solve"
primitive_of_object[id(np.linalg.det)] = "det"
primitive_of_object[id(np.linalg.norm)] = "norm"
primitive_of_object[id(builtins.abs)] = "abs"
primitive_of_object[id(builtins.max)] = "max_builtin"
primitive_of_object[id(builtins.min)] = "min_builtin"
primitive_of_object[id(builtins.len)] = "len"
primitive_of_object[id(builtins.range)] = "range"
primitive_of_object[id(builtins.int)] = "int"
primitive_of_object[id(builtins.float)] = "float"
primitive_of_object[id(builtins.bool)] = "bool"
primitive_of_object[id(builtins.round)] = "round"
primitive_of_object[id(operator.mul)] = "mul"

# Array methods (x.sum(axis=0)) -> primitive names.
method_primitives = {
    "sum": "sum", "mean": "mean", "prod": "prod", "max": "amax", "min": "amin", "dot": "dot",
    "transpose": "transpose", "reshape": "reshape", "ravel": "ravel", "flatten": "ravel",
    "copy": "copy", "trace": "trace", "cumsum": "cumsum", "argmax": "argmax", "argmin": "argmin",
    "any": "any", "all": "all",
}
# Array attributes (x.T, x.shape).
attribute_primitives = {"T": "transpose", "shape": "shape", "size": "size", "ndim": "ndim"}

# gast operator class names -> primitive names.
binop_primitives = {
    "Add": "add", "Sub": "sub", "Mult": "mul", "Div": "truediv", "Pow": "pow", "Mod": "mod",
    "MatMult": "matmul", "FloorDiv": "floordiv",
}
unaryop_primitives = {"USub": "neg", "UAdd": "pos", "Not": "not", "Invert": "invert"}
compare_primitives = {"Eq": "eq", "NotEq": "ne", "Lt": "lt", "LtE": "le", "Gt": "gt", "GtE": "ge"}

# Primitive names -> the NumPy function that computes them (forward mode calls these on duals,
# since math.sin(dual) in plain Python would need a float).
numpy_function_of: dict[str, str] = {}
for _name, _prim in _np_names.items():
    if hasattr(np, _name):
        numpy_function_of.setdefault(_prim, _name)
numpy_function_of["pow"] = "power"

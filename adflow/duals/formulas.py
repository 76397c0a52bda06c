"""The rules tables turned into callables: the only place forward mode reads derivative formulas.

:mod:`adflow.rules.partials` and :mod:`adflow.rules.tangents` hold formulas as strings.  Here each
string becomes a tiny function, compiled once with ``exec``::

    partial_function("sin", "x")          # def partial(x, ans): return np.cos(x)
    tangent_function("dot", "a")          # def tangent(a, b, a_dot, ans): return np.dot(a_dot, b)

The same function object serves plain Python (called directly) and numba (it is registered with
``register_jitable``, so jitted code compiles it on first use).  Adding a primitive to the tables therefore
adds it to both the Python and the numba duals with no new code path.

This module also answers "which Python functions name primitive P?" (``functions_of``), by
inverting :data:`adflow.rules.primitives.primitive_of_object`, and gives each primitive a primal
implementation (``primal_function``), normally the NumPy function of that name.
"""
from __future__ import annotations

import builtins
import functools
import math
import operator

import numpy as np
from numba.extending import register_jitable

from adflow.rules.partials import elementwise_partials
from adflow.rules.primitives import Signature, primitive_of_object, signatures, zero_derivative
from adflow.rules.tangents import chunk_tangent_rules, tangent_rules

from ..backends.emit import expr_source
from ..backends.symbols import distinct
from ..syntax import nodes, templates
from . import rule_helpers

# Primitives that share another primitive's rule: ``max(a, b)`` is ``np.maximum(a, b)``.
ALIASES = {"max_builtin": "maximum", "min_builtin": "minimum"}

# Python operators by primitive name.  ``primitive_of_object`` names numpy/math/builtins objects;
# the ``operator`` module (what ``a + b`` calls, and what numba overloads) is named here.
OPERATORS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "pow": operator.pow, "mod": operator.mod, "neg": operator.neg, "pos": operator.pos,
    "matmul": operator.matmul, "floordiv": operator.floordiv,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
}

# Names visible to the formulas.  ``np`` is the only library name the tables use.
RULE_NAMESPACE = {
    "np": np,
    "reduce_sum": rule_helpers.reduce_sum,
    "reduced_count": rule_helpers.reduced_count,
    "ans_full": rule_helpers.ans_full,
    "extremum_tangent": rule_helpers.extremum_tangent,
    "prod_tangent": rule_helpers.prod_tangent,
    "reshape_like": rule_helpers.reshape_like,
    "chunk_matmul_left": rule_helpers.chunk_matmul_left,
    "chunk_matmul_right": rule_helpers.chunk_matmul_right,
}


def canonical(name: str) -> str:
    """The primitive whose rules ``name`` uses (``"max_builtin"`` -> ``"maximum"``)."""
    return ALIASES.get(name, name)


def signature(name: str) -> Signature:
    return signatures[canonical(name)]


def is_elementwise(name: str) -> bool:
    return canonical(name) in elementwise_partials


def has_tangent_rule(name: str) -> bool:
    return canonical(name) in tangent_rules


def has_zero_derivative(name: str) -> bool:
    return name in zero_derivative


def _inverse_object_table() -> dict[str, list]:
    found: dict[str, list] = {}
    for module in (np, np.linalg, math, builtins, operator):
        for attr, obj in sorted(vars(module).items()):  # not getattr: NumPy would import its lazy
            # submodules (numpy.f2py, numpy.testing: a second of start-up) to answer it
            name = primitive_of_object.get(id(obj))
            if name is not None and all(obj is not seen for seen in found.get(name, ())):
                found.setdefault(name, []).append(obj)
    for name, op in OPERATORS.items():
        if all(op is not seen for seen in found.get(name, ())):
            found.setdefault(name, []).append(op)
    return found


_FUNCTIONS_OF = _inverse_object_table()


def functions_of(name: str) -> list:
    """Every Python callable that means primitive ``name`` (``"sin"`` -> ``[math.sin, np.sin]``)."""
    return list(_FUNCTIONS_OF.get(name, ()))


def all_primitive_names() -> list[str]:
    return sorted(_FUNCTIONS_OF)


@functools.cache
def primal_function(name: str):
    """The NumPy implementation of primitive ``name``, used on values (floats or arrays).

    NumPy's own function of the same name wins (``np.abs`` over ``np.fabs``); otherwise the first
    NumPy object the rules map to ``name``; operators fall back to the ``operator`` module.
    """
    name = canonical(name)
    candidates = functions_of(name)
    own = getattr(np, name, None)
    if own is not None and any(own is c for c in candidates):
        return own
    for module in (np, np.linalg):
        for obj in candidates:
            if getattr(module, getattr(obj, "__name__", ""), None) is obj:
                return obj
    if name in OPERATORS:
        return OPERATORS[name]
    if candidates:
        return candidates[0]
    raise KeyError(f"adflow: no primal implementation for primitive {name!r}")


def _compile(kind: str, name: str, params: tuple[str, ...], expression: str):
    """``def <kind>(<params>): return <expression>`` with the rule namespace as its globals."""
    source = f"def {kind}({', '.join(params)}):\n    return {expression}\n"
    namespace = dict(RULE_NAMESPACE)
    exec(compile(source, f"<adflow {kind} rule for {name}: {expression}>", "exec"), namespace)
    function = distinct(namespace[kind], f"{kind}_{name}", expression)
    function.__doc__ = f"{kind} of {name}: {expression}"
    # Also callable from jitted code (numba compiles it on first use, per argument types).
    return register_jitable(function)


@functools.cache
def partial_function(name: str, arg: str):
    """``d ans / d arg`` of an elementwise primitive, as ``f(*params, ans)``; ``None`` if none."""
    name = canonical(name)
    expression = elementwise_partials[name].get(arg)
    if expression is None:
        return None
    return _compile("partial", name, signatures[name].params + ("ans",), expression)


def partial_expression(name: str, arg: str, rename: dict[str, str]) -> str | None:
    """The partial ``d ans / d arg`` as source text, its variables renamed (``{"x": "x_v"}``).

    Generated numba code splices this text in rather than calling :func:`partial_function`,
    which saves numba compiling one more function per primitive.
    """
    name = canonical(name)
    expression = elementwise_partials[name].get(arg)
    if expression is None:
        return None
    return expr_source(templates.instantiate(expression, {old: nodes.name(new) for old, new in rename.items()}))


@functools.cache
def tangent_function(name: str, arg: str):
    """One direction's tangent term of ``arg``, as ``f(*params, arg_dot, ans, *static)``."""
    name = canonical(name)
    expression = tangent_rules[name].get(arg)
    if expression is None:
        return None
    sig = signatures[name]
    params = sig.params + (f"{arg}_dot", "ans") + tuple(sig.static)
    return _compile("tangent", name, params, expression)


@functools.cache
def chunk_tangent_function(name: str, arg: str):
    """All k directions' tangent terms of ``arg`` in one call, as ``f(*params, arg_dot, ans, *static)``
    where ``arg_dot`` has a trailing axis of k directions; ``None`` where the table has no chunk form."""
    name = canonical(name)
    expression = chunk_tangent_rules.get(name, {}).get(arg)
    if expression is None:
        return None
    sig = signatures[name]
    params = sig.params + (f"{arg}_dot", "ans") + tuple(sig.static)
    return _compile("chunk_tangent", name, params, expression)


@functools.cache
def values_read_by_partials(name: str) -> frozenset[str]:
    """The operands (and ``"ans"``) whose values an elementwise primitive's partials read.

    ``sin``'s partial ``np.cos(x)`` reads ``x``; ``add``'s partials are constants and read
    nothing; ``exp``'s partial ``ans`` reads its own value.  A tangent that needs none of them
    can be computed without the primitive's value (:mod:`adflow.forward.unread_values`).
    """
    name = canonical(name)
    params = set(signatures[name].params) | {"ans"}
    read = set()
    for expression in elementwise_partials[name].values():
        read |= nodes.names_in(templates.expression(expression)) & params
    return frozenset(read)

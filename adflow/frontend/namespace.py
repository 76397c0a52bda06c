"""Resolve the global names a user function refers to: modules, primitives, helpers, constants."""
from __future__ import annotations

import builtins
import inspect
import types as pytypes
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedSyntaxError
from ..rules.custom import CustomRule
from ..syntax.nodes import dotted_name
from ..syntax.source import derivative_function, derivative_kind

MODULE, CALLABLE, USER_FUNCTION, CONSTANT, ARRAY = "module", "callable", "user_function", "constant", "array"


@dataclass
class Resolved:
    kind: str
    value: object


def is_user_function(obj) -> bool:
    """A function adflow should transform itself: Python source, or a numba dispatcher of it (or a
    derivative adflow made, which a differentiated function calls like a helper)."""
    if isinstance(obj, CustomRule) or derivative_kind(obj) is not None:
        return True
    if getattr(obj, "adflow_entry", None) is not None:  # adflow.grad itself: the front end reads its calls
        return False
    if hasattr(obj, "py_func") and inspect.isfunction(getattr(obj, "py_func")):
        return True
    if inspect.isfunction(obj):
        module = getattr(obj, "__module__", "") or ""
        return not (module.startswith("numpy") or module.startswith("numba") or module.startswith("scipy"))
    return False


def resolve(fn, node, local_names) -> Resolved | None:
    """What a Name or Attribute chain refers to, or None if it is rooted at a local variable."""
    name = dotted_name(node)
    if name is None:
        return None
    root, *attrs = name.split(".")
    if root in local_names:
        return None
    if root in fn.globals:
        value = fn.globals[root]
    elif hasattr(builtins, root):
        value = getattr(builtins, root)
    else:
        raise UnsupportedSyntaxError(f"name '{root}' is not defined", fn.location(node),
                                     hint="define it at module level before calling the function")
    for attr in attrs:
        try:
            value = getattr(value, attr)
        except AttributeError:
            raise UnsupportedSyntaxError(f"'{name}' does not exist", fn.location(node)) from None
    return classify(value)


def classify(value) -> Resolved:
    if isinstance(value, pytypes.ModuleType):
        return Resolved(MODULE, value)
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)) or value is None:
        return Resolved(CONSTANT, value)
    if isinstance(value, np.ndarray):
        return Resolved(ARRAY, value)
    if is_user_function(value):
        return Resolved(USER_FUNCTION, value)
    if callable(value):
        return Resolved(CALLABLE, value)
    return Resolved("other", value)


def reachable_user_functions(func) -> list[tuple]:
    """``(scope, name, value)`` for each user function that ``func`` reaches by name, transitively.

    Read from code objects, without parsing: the names the code (and the code nested in it) reads,
    looked up in its closure, its globals and the modules among its globals.  That is a superset
    of the helper calls the front end resolves from the source.  ``scope`` is the dict or closure
    cell that holds the name; a custom rule's primal and rule functions are followed too.

    >>> def helper(u):
    ...     return u * u
    >>> def f(x):
    ...     return helper(x) + 1.0
    >>> [(name, value.__name__) for _, name, value in reachable_user_functions(f)]
    [('helper', 'helper')]
    """
    found, seen = [], set()

    def visit(obj):
        for py in python_functions(obj):
            if id(py) in seen:
                continue
            seen.add(id(py))
            for scope, name, value in _names_read(py):
                if is_user_function(value):
                    found.append((scope, name, value))
                    visit(value)

    visit(func)
    return found


def python_functions(obj) -> list:
    """The plain functions whose code decides what ``obj`` computes (a custom rule's primal and rules)."""
    if isinstance(obj, CustomRule):
        rules = (obj.vjp_rules or ()) + (obj.jvp_rules or ())
        return [f for f in (obj.py_func,) + tuple(getattr(r, "py_func", r) for r in rules)
                if inspect.isfunction(f)]
    if derivative_kind(obj) is not None:  # adflow.grad(f): f's code decides it
        return python_functions(derivative_function(obj))
    py = getattr(obj, "py_func", obj)
    return [py] if inspect.isfunction(py) else []


def names_read_by(py) -> list[tuple]:
    """``(scope, name, value)`` for every name plain function ``py``'s code reads from its closure, its
    globals and the modules among them (what its compiled code may depend on)."""
    return list(_names_read(py))


def _names_read(py):
    """``(scope, name, value)`` for the names ``py``'s code reads from its closure, globals and their modules."""
    names = set(_code_names(py.__code__))
    for name, cell in zip(py.__code__.co_freevars, py.__closure__ or ()):
        value = cell_value(cell)
        if value is not None:
            yield cell, name, value
    for name in sorted(names):
        if name in py.__globals__:
            value = py.__globals__[name]
            yield py.__globals__, name, value
            if isinstance(value, pytypes.ModuleType):  # module.helper(...): attributes it may read
                attrs = vars(value)
                for attr in sorted(names):
                    if attr in attrs:
                        yield attrs, attr, attrs[attr]


def _code_names(code):
    yield from code.co_names
    for const in code.co_consts:  # comprehensions, nested functions
        if isinstance(const, pytypes.CodeType):
            yield from _code_names(const)


def cell_value(cell):
    """What a closure cell holds, or None while it is empty (assigned after the function was made)."""
    try:
        return cell.cell_contents
    except ValueError:
        return None

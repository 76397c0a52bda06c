"""Resolve the global names a user function refers to: modules, primitives, helpers, constants."""
from __future__ import annotations

import builtins
import inspect
import types as pytypes
from dataclasses import dataclass

import gast
import numpy as np

from ..errors import UnsupportedSyntaxError

MODULE, CALLABLE, USER_FUNCTION, CONSTANT, ARRAY = "module", "callable", "user_function", "constant", "array"


@dataclass
class Resolved:
    kind: str
    value: object


def is_user_function(obj) -> bool:
    """A function adflow should transform itself: Python source, or a numba dispatcher of it."""
    from ..rules.custom import CustomRule
    if isinstance(obj, CustomRule):
        return True
    if hasattr(obj, "py_func") and inspect.isfunction(getattr(obj, "py_func")):
        return True
    if inspect.isfunction(obj):
        module = getattr(obj, "__module__", "") or ""
        return not (module.startswith("numpy") or module.startswith("numba") or module.startswith("scipy"))
    return False


def dotted_name(node) -> str | None:
    """``np.linalg.solve`` for an Attribute chain rooted at a Name, else None."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, gast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


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

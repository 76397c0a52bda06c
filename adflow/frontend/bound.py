"""Bound methods and callable objects, differentiated as functions of their arguments.

``adflow.grad(model.loss)`` and ``adflow.grad(model)`` (an object whose class defines
``__call__``) differentiate the method's body with ``self``'s attributes as constants, read at
each call of the derivative::

    class Model:                                 def loss(x):             # made by adflow
        def loss(self, x):                  ->       return np.sum(self_w * x) * self_scale
            return np.sum(self.w * x) * self.scale

The rules (:func:`as_function`):

* ``self.a.b`` reads attributes down to a number, an array, a function, a module or another
  bound method (which becomes a helper made the same way); an array is copied;
* each call of the derivative compares the attributes it read with their current values: when
  one changed (a number rebound, an array written into), the method is read again and the
  derivative built again, compiled anew: pass what changes between calls as an argument;
* ``self`` itself may only be read through its attributes, never assigned to them.
"""
from __future__ import annotations

import inspect
import types as pytypes

import gast
import numpy as np

from ..errors import UnsupportedSyntaxError
from ..syntax import source
from ..syntax.nodes import dotted_name, name


def bound_parts(func):
    """``(instance, plain function)`` for a bound method or an object with a Python ``__call__``, else None."""
    if isinstance(func, pytypes.MethodType) and inspect.isfunction(func.__func__):
        return func.__self__, func.__func__
    if isinstance(func, pytypes.FunctionType) or hasattr(func, "py_func") or hasattr(func, "adflow_transform"):
        return None
    call = getattr(type(func), "__call__", None)
    if inspect.isfunction(call):
        return func, call
    return None


def as_function(func):
    """``func`` itself, or for a bound method or callable object a :class:`BoundFunction` standing for it."""
    return BoundFunction(func) if bound_parts(func) is not None else func


class BoundFunction:
    """A bound method as a plain function of its other arguments (``py_func``), remade when ``self``'s
    attributes change; calling it calls the method."""

    def __init__(self, method):
        self.method = method
        self.instance, self.function = bound_parts(method)
        self.__name__ = self.function.__name__
        self.__qualname__ = self.function.__qualname__
        self.__doc__ = self.function.__doc__
        self.__module__ = self.function.__module__
        self._made = None  # (py_func, [(attribute path, captured value)])

    def __call__(self, *args, **kwargs):
        return self.method(*args, **kwargs)

    def __reduce__(self):
        return as_function, (self.method,)

    @property
    def py_func(self):
        """The method's body as a function of its other arguments, ``self``'s attributes as they are now."""
        if self._made is None or _changed(self.instance, self._made[1]):
            self._made = _make(self.instance, self.function)
        return self._made[0]

    @property
    def __code__(self):
        return self.py_func.__code__


def _make(instance, function):
    fn = source.load(function)
    tree = fn.tree
    if not tree.args.args:
        raise UnsupportedSyntaxError(f"{fn.name} takes no 'self'", fn.location(tree),
                                     hint="differentiate a method of an object, or a plain function")
    self_name = tree.args.args[0].id
    tree.args.args = tree.args.args[1:]
    if len(tree.args.defaults) > len(tree.args.args):
        tree.args.defaults = tree.args.defaults[1:]
    namespace = dict(fn.globals)
    taken = {n.id for n in gast.walk(tree) if isinstance(n, gast.Name)} | set(namespace)
    captured = []
    reader = _AttributeReader(fn, instance, self_name, namespace, taken, captured)
    tree.body = [reader.visit(stmt) for stmt in tree.body]
    module = gast.gast_to_ast(gast.Module(body=[tree], type_ignores=[]))
    exec(compile(module, fn.filename, "exec"), namespace)
    made = namespace[tree.name]
    made.__qualname__ = function.__qualname__
    source.use_tree(made.__code__, tree, fn.filename)
    return made, captured


class _AttributeReader(gast.NodeTransformer):
    """``self.a.b`` (read) as a name bound to its value in the made function's namespace."""

    def __init__(self, fn, instance, self_name, namespace, taken, captured):
        self.fn, self.instance, self.self_name = fn, instance, self_name
        self.namespace, self.taken, self.captured = namespace, taken, captured
        self.bound = {}  # attribute path -> name

    def visit_Attribute(self, node):
        path = dotted_name(node)
        if path is not None and path.split(".")[0] == self.self_name and not isinstance(node.ctx, gast.Load):
            return node  # self.w = ...: the fence refuses assigning to attributes
        if path is None or path.split(".")[0] != self.self_name:
            return self.generic_visit(node)
        attrs = path.split(".")[1:]
        value, depth = self.instance, 0
        while depth < len(attrs) and not _is_data(value):
            try:
                value = getattr(value, attrs[depth])
            except AttributeError:
                raise UnsupportedSyntaxError(f"'{path}' does not exist", self.fn.location(node)) from None
            depth += 1
        if not _is_value(value):
            raise UnsupportedSyntaxError(
                f"'{self.self_name}.{'.'.join(attrs[:depth])}' is a {type(value).__name__}, not a number, an array "
                "or a function", self.fn.location(node),
                hint="read the numbers and arrays it holds (self.layer.w), or pass them as arguments")
        prefix = tuple(attrs[:depth])
        bound_name = self.bound.get(prefix)
        if bound_name is None:
            bound_name = self._name("_".join((self.self_name,) + prefix))
            self.bound[prefix] = bound_name
            if bound_parts(value) is not None:  # self.predict(x): a helper made the same way
                kept = BoundFunction(value)
                self.namespace[bound_name] = kept.py_func
            else:
                kept = self.namespace[bound_name] = _captured(value)
            self.captured.append((prefix, kept))
        replacement = name(bound_name)
        for attr in attrs[depth:]:  # the rest is read from the value: X.shape, w.dot
            replacement = gast.Attribute(value=replacement, attr=attr, ctx=gast.Load())
        return gast.copy_location(replacement, node)

    def visit_Name(self, node):
        if node.id == self.self_name:
            raise UnsupportedSyntaxError(
                f"'{self.self_name}' used other than to read its attributes", self.fn.location(node),
                hint=f"read what you need ({self.self_name}.w) and pass that on")
        return node

    def _name(self, base):
        candidate, k = base, 2
        while candidate in self.taken:
            candidate, k = f"{base}_{k}", k + 1
        self.taken.add(candidate)
        return candidate


def _is_data(value) -> bool:
    """Whether a value's attributes are its own (``x.shape``, ``w.dot``), not more of the object's state."""
    return value is None or isinstance(value, (bool, int, float, complex, np.number, np.bool_, np.ndarray, tuple))


def _is_value(value) -> bool:
    """Whether an attribute's value is read as it is: data, a module or a function."""
    return _is_data(value) or isinstance(value, pytypes.ModuleType) or callable(value)


def _captured(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _changed(instance, captured) -> bool:
    """Whether an attribute read when the function was made holds something else now."""
    for path, kept in captured:
        value = instance
        try:
            for attr in path:
                value = getattr(value, attr)
        except AttributeError:
            return True
        if isinstance(kept, BoundFunction):
            parts = bound_parts(value)
            if parts is None or parts[0] is not kept.instance or parts[1] is not kept.function \
                    or _changed(kept.instance, kept._made[1]):
                return True
        elif isinstance(kept, np.ndarray):
            if not (isinstance(value, np.ndarray) and value.shape == kept.shape and value.dtype == kept.dtype
                    and np.array_equal(value, kept, equal_nan=True)):
                return True
        elif value is not kept and not (type(value) is type(kept) and _same_number(value, kept)):
            return True
    return False


def _same_number(a, b) -> bool:
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:  # noqa: BLE001 - anything that does not compare is not the same
        return False


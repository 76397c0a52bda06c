"""Derivative objects between processes: sent as the user's function and the transform's options.

``pickle`` and ``cloudpickle`` call a derivative's ``__reduce__``, which hands over a
:class:`Shipment`: the user's function pickled on its own (by cloudpickle where it is installed,
which sends a function by reference when its module can be imported and by value otherwise), the
name and options of the transform that made the derivative, and the source text of the function
and of the user functions it calls.  Machine code is never sent: the receiving process builds the
derivative itself, through its own disk cache or a shared one (``ADFLOW_CACHE_DIR``).

The source travels because adflow transforms source, and a function sent by value (defined in a
script run as ``__main__``, in a notebook cell, or in a module registered with
``cloudpickle.register_pickle_by_value``) may have no file on the receiving machine, or a different
version of it.  A function sent by reference is read from its module's file there, like the code
that runs.

A process rebuilds each shipment once and hands out that derivative for every later copy of it
(same function, options and source), so a Dask worker running a hundred tasks of one derivative
builds its code (or loads it from the disk cache) once.

>>> import pickle, numpy as np, adflow
>>> from adflow.demo import rosenbrock
>>> g = pickle.loads(pickle.dumps(adflow.grad(rosenbrock)))
>>> g(np.array([1.0, 1.0]))
array([0., 0.])
>>> pickle.loads(pickle.dumps(adflow.grad(rosenbrock))) is g  # one derivative per shipment and process
True
"""
from __future__ import annotations

import hashlib
import inspect
import pickle
import sys
import threading
import types
from dataclasses import dataclass

from .frontend.namespace import python_functions, reachable_user_functions
from .syntax.source import python_function, source_lines, use_shipped_source

try:  # dask ships functions with cloudpickle; plain pickle sends them by reference only
    import cloudpickle as _function_pickler
except ImportError:  # pragma: no cover - cloudpickle comes with dask
    _function_pickler = pickle


@dataclass(frozen=True)
class Shipment:
    """What a derivative object is sent as: enough to make it again with ``adflow.<transform>``."""

    transform: str      # "grad", "value_and_grad", "jacobian" or "hessian"
    options: dict       # keyword arguments of that transform, besides the function
    function: bytes     # the user's function, pickled
    sources: tuple      # per user function: qualified name, first line, bytecode digest, file, source lines, start
    key: str            # digest of all the above: equal keys make equal derivatives


def reduce_derivative(derivative, transform, func, **options):
    """The ``__reduce__`` value of ``derivative``, made by ``adflow.<transform>(func, **options)``."""
    # A rebuilt derivative travels on as it came: the next process finds it under the same key.
    shipment = getattr(derivative, "_adflow_shipment", None) or ship(transform, func, options)
    return rebuild, (shipment,)


def ship(transform, func, options) -> Shipment:
    function = _function_pickler.dumps(func)
    sources = tuple(_sources(func))
    described = pickle.dumps((transform, options, sources))
    return Shipment(transform, options, function, sources, hashlib.sha256(function + described).hexdigest())


# The transforms by name ("grad", "jacobian", ...), registered by the package (adflow/__init__.py):
# they sit in layers above this one, which a shipment names rather than imports.
TRANSFORMS: dict = {}


def register_transforms(**transforms):
    TRANSFORMS.update(transforms)


_REBUILT: dict = {}  # shipment key -> the derivative rebuilt from it in this process
_LOCK = threading.Lock()


def rebuild(shipment: Shipment):
    """The derivative ``shipment`` stands for: made at its first arrival in this process, then reused."""
    derivative = _REBUILT.get(shipment.key)
    if derivative is None:
        with _LOCK:  # a threaded Dask worker unpickles tasks in several threads at once
            derivative = _REBUILT.get(shipment.key)
            if derivative is None:
                func = pickle.loads(shipment.function)
                _use_sources(func, shipment.sources)
                derivative = TRANSFORMS[shipment.transform](func, **shipment.options)
                derivative._adflow_shipment = shipment
                _REBUILT[shipment.key] = derivative
    return derivative


def _user_functions(func):
    """The plain functions adflow reads the source of when it transforms ``func``: it and its helpers."""
    found = [python_function(func)]
    for _, _, value in reachable_user_functions(func):
        found += python_functions(value)
    return found


def _place(py):
    """What finds a function's source among those shipped: where it starts, and its bytecode."""
    code = py.__code__
    return code.co_qualname, code.co_firstlineno, hashlib.sha256(code.co_code).hexdigest()


def _sources(func):
    for py in _user_functions(func):
        try:
            lines, start = source_lines(py)
        except (OSError, TypeError):
            continue  # unreadable here too: the receiving side reports it as this side would
        yield (*_place(py), py.__code__.co_filename, tuple(lines), start)


def _use_sources(func, sources):
    """Make the shipped source the one read for each function sent by value, or unreadable here."""
    shipped = {(qualname, first, digest): (filename, lines, start)
               for qualname, first, digest, filename, lines, start in sources}
    for py in _user_functions(func):
        found = shipped.get(_place(py))
        if found is None or not (_sent_by_value(py) or not _readable(py)):
            continue
        filename, lines, start = found
        # cloudpickle names the file of code it sends by value "<dynamic-code>": this copy of the
        # function gets its file back, so that errors and generated code name the user's file:line.
        py.__code__ = _in_file(py.__code__, filename)
        use_shipped_source(py.__code__, lines, start)


def _in_file(code, filename):
    """``code``, and the code nested in it (comprehensions, lambdas), as compiled from ``filename``."""
    consts = tuple(_in_file(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _sent_by_value(py) -> bool:
    """Whether ``py`` is not the function its module holds under its name (a copy sent by value)."""
    held = sys.modules.get(py.__module__)
    for part in py.__qualname__.split("."):
        held = getattr(held, part, None)
    return getattr(held, "py_func", held) is not py


def _readable(py) -> bool:
    try:
        inspect.getsourcelines(py)
    except (OSError, TypeError):
        return False
    return True

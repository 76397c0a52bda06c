"""A call as the user writes it (keywords, defaults left out) turned into the positional arguments
generated code takes.

Generated functions mirror the user's parameters in order and are typed by numba for the arguments
they get, so the entry points bind each call first: ``grad(ridge)(w, X, y)`` fills ``alpha=0.1``
from ``def ridge(w, X, y, alpha=0.1)``, and ``grad(ridge)(w, X, y, alpha=0.5)`` passes 0.5 in its
place.  A call that does not fit the signature is an :class:`~adflow.errors.ArgumentError` naming
the parameters expected and what came.
"""
from __future__ import annotations

import inspect
import weakref

from ..errors import ArgumentError, SourceLocation
from ..syntax.source import python_function

# function (as given: a plain function, a numba dispatcher, a custom rule) -> (the Python function,
# its signature, its number of parameters or None when it has *args, **kwargs or keyword-only ones).
# Read on every call of a derivative: the common call then costs a dictionary look-up.
_SIGNATURES = weakref.WeakKeyDictionary()


def _signature(func):
    try:
        entry = _SIGNATURES.get(func)
    except TypeError:  # not weakly referenceable: worked out on each call
        entry = None
    if entry is None:
        py = python_function(func)
        signature = inspect.signature(py)
        code = py.__code__
        plain = not (code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)) and not code.co_kwonlyargcount
        entry = (py, signature, code.co_argcount if plain else None)
        try:
            _SIGNATURES[func] = entry
        except TypeError:
            pass
    return entry


def bind(func, args, kwargs=None) -> tuple:
    """``args`` and ``kwargs`` as the positional arguments of ``func``, defaults filled in.

    >>> def ridge(w, X, y, alpha=0.1):
    ...     return w
    >>> bind(ridge, (1.0, 2.0, 3.0))
    (1.0, 2.0, 3.0, 0.1)
    >>> bind(ridge, (1.0, 2.0, 3.0), {"alpha": 0.5})
    (1.0, 2.0, 3.0, 0.5)
    """
    py, signature, count = _signature(func)
    if not kwargs and count is not None and len(args) == count:
        return tuple(args)  # the common call: every parameter given in order
    if count is None:
        # *args, **kwargs or keyword-only parameters: the fence refuses them when the function is
        # built, naming the line; binding here would only hide that message.
        if kwargs:
            raise ArgumentError(f"{py.__name__}{signature} cannot take keyword arguments through adflow",
                                hint="pass the arguments positionally")
        return tuple(args)
    try:
        bound = signature.bind(*args, **(kwargs or {}))
    except TypeError as exc:
        code = py.__code__
        raise ArgumentError(f"{py.__name__}{signature} cannot be called with {describe(args, kwargs)}: {exc}",
                            SourceLocation(code.co_filename, code.co_firstlineno, py.__name__),
                            hint=f"call it as {py.__name__}({', '.join(signature.parameters)}); parameters with "
                                 f"defaults may be left out or given by keyword") from None
    bound.apply_defaults()
    return tuple(bound.args)


def describe(args, kwargs=None) -> str:
    """What a call passed, in words: ``2 positional arguments (ndarray, float) and keyword alpha``."""
    n = len(args)
    said = f"{n} positional argument{'s' if n != 1 else ''}"
    if args:
        said += " (" + ", ".join(type(a).__name__ for a in args) + ")"
    if kwargs:
        said += " and keyword" + ("s " if len(kwargs) > 1 else " ") + ", ".join(kwargs)
    return said


def given_indices(func, args, kwargs=None) -> tuple:
    """The positions of the arguments the caller gave (positionally or by keyword), not the defaults.

    ``vjp`` and ``jvp`` differentiate every float argument the caller gave unless ``wrt`` says otherwise;
    a default filled in is a constant of the call, like a number in the code.
    """
    names = list(_signature(func)[1].parameters)
    return tuple(range(len(args))) + tuple(sorted(names.index(name) for name in kwargs or {} if name in names))

"""Builds made once per process: the one cache every derivative goes through, and what its keys name.

A build key names the code it was built from: the function's code object and those of the user
helpers it reaches (:class:`CodeIdentity`), so rebinding ``module.helper = other`` makes a new
build.  numba's disk cache and the front end's type cache carry builds across processes.
"""
from __future__ import annotations

import inspect
import threading
import weakref

from ..frontend.namespace import cell_value, reachable_user_functions
from ..rules.custom import CustomRule

_ENTRIES: dict = {}
# Reentrant: building one derivative builds its helpers' (and a Python target's forward versions)
# through once() on the same thread.
_BUILD_LOCK = threading.RLock()


def once(key, make, owner=None):
    """``make()`` the first time ``key`` is asked for (one build per key, across threads), then its result.

    ``owner`` (the function built for) is kept alive with the entry: keys hold ids of its code.
    """
    entry = _ENTRIES.get(key)
    if entry is None:
        with _BUILD_LOCK:
            entry = _ENTRIES.get(key)
            if entry is None:
                entry = _ENTRIES[key] = (make(), owner)
    return entry[0]


def size() -> int:
    """How many builds the process holds."""
    return len(_ENTRIES)


def clear():
    """Forget every build, letting the functions they kept alive go (a long fuzz campaign does, now and then)."""
    with _BUILD_LOCK:
        _ENTRIES.clear()


def code_identity(func):
    """A build key for ``func``'s code and the code of the user helpers it reaches (see :class:`CodeIdentity`)."""
    identity = identity_of(func)
    return identity.key(func) if identity is not None else id(func)


class CodeIdentity:
    """What a derivative of one function object is built from: its code and the user helpers it reaches.

    Rebinding a helper (``module.helper = other``) changes what the function computes without
    touching the function, so build keys name the helpers too.  Finding them walks code objects
    and globals, once per function object (:func:`~adflow.frontend.namespace.reachable_user_functions`);
    each call then only checks that every name still holds the same object with the same code
    (one dictionary look-up per helper), and walks again when one does not.

    The key is a small int standing for the ids of the code and helpers (cheap to hash on the hot
    path); every object it stands for is kept alive here, so no id is reused while it is in use.
    """

    def __init__(self, func):
        self._kept = []
        self._state = None
        self._refresh(func)

    def key(self, func):
        root, bindings, token = self._state
        if getattr(func, "__code__", None) is not root and not _same_version(_version(func), root):
            return self._refresh(func)
        for scope, name, value, version, plain in bindings:
            if scope.get(name) is not value or (value.__code__ is not version if plain
                                                 else not _same_version(_version(value), version)):
                return self._refresh(func)
        return token

    def _refresh(self, func):
        found = {}
        for scope, name, value in reachable_user_functions(func):
            if (id(scope), name) not in found:  # the same name read by two functions is checked once
                found[id(scope), name] = (scope if isinstance(scope, dict) else _Cell(scope), name, value,
                                          _version(value), inspect.isfunction(value))
        bindings = tuple(found.values())
        root = _version(func)
        ids = (_version_key(root, func), tuple((name, id(value), _version_key(version, value))
                                              for _, name, value, version, _ in bindings))
        with _BUILD_LOCK:
            self._kept.append((root, bindings))  # not func: this object is the value of a weak entry for it
            token = _TOKENS.setdefault(ids, len(_TOKENS))
            self._state = (root, bindings, token)
        return token


class _Cell:
    """A closure cell read like a globals dict, so that :meth:`CodeIdentity.key` checks both alike."""

    __slots__ = ("cell",)

    def __init__(self, cell):
        self.cell = cell

    def get(self, name):
        return cell_value(self.cell)


_TOKENS: dict = {}  # ids of a function's code and helpers -> the small int that build keys hold
_IDENTITIES = weakref.WeakKeyDictionary()  # function object -> its CodeIdentity


def identity_of(func):
    """``func``'s :class:`CodeIdentity`, made at its first use; None for what cannot be weakly referenced."""
    try:
        identity = _IDENTITIES.get(func)
    except TypeError:
        return None
    if identity is None:
        with _BUILD_LOCK:
            identity = _IDENTITIES.get(func)
            if identity is None:
                identity = _IDENTITIES[func] = CodeIdentity(func)
    return identity


def _version(obj):
    """What decides ``obj``'s derivative besides which object it is: its code, and a custom rule's rules."""
    if isinstance(obj, CustomRule):
        return (_version(obj.primal), obj.vjp_rules, obj.jvp_rules)
    return getattr(getattr(obj, "py_func", obj), "__code__", None)


def _same_version(a, b):
    # Code objects by identity (cheap); a custom rule's tuple by its parts (its code and rule functions).
    return a is b or (type(a) is tuple and a == b)


def _version_key(version, obj):
    if isinstance(version, tuple):  # a custom rule: its code, and its rules themselves (kept alive by the key)
        return (_version_key(version[0], obj.primal), version[1], version[2])
    return id(version) if version is not None else id(obj)

"""Reverse-mode builds of one function, one per argument types: what ``grad``, ``vjp``, ``jacobian``
and ``hessian`` objects hold."""
from __future__ import annotations

from . import targets
from .pipeline import build_reverse
from .pipeline.cache import identity_of, once
from .value_types import argument_types, cheap_key


class Specializations:
    """Generated code per argument types; built once per process (and cached on disk by numba)."""

    def __init__(self, func, target, output_component=None):
        self.func = func
        self.target = targets.named(target)
        self.output_component = output_component
        self.last_source = None
        self._fast = {}  # per-object cache by cheap argument keys: the hot path of repeated calls
        self._identity = identity_of(func)

    def get(self, args, wrt, driver=None, argtypes=None):
        """(compiled vjp or driver, module source, prepared function) for these arguments."""
        # Checked on every call, fast path included: a helper rebound since the last call is a new build.
        identity = self._identity.key(self.func) if self._identity is not None else id(self.func)
        fast_key = None
        if argtypes is None:
            fast_key = (tuple(cheap_key(a) for a in args), wrt, driver, identity)
            entry = self._fast.get(fast_key)
            if entry is not None:
                self.last_source = entry[1]
                return entry
        argtypes = argument_types(args, self.func) if argtypes is None else argtypes
        # One build per (function code, argument types, wrt, target...) in the process, shared by
        # every grad/vjp object made for it.
        key = ("reverse", argtypes, tuple(wrt), identity, self.target.name, self.output_component, driver)
        entry = once(key, lambda: build_reverse(self.func, argtypes, wrt, self.target, self.output_component,
                                                driver), self.func)
        if fast_key is not None and None not in fast_key[0]:
            self._fast[fast_key] = entry
        self.last_source = entry[1]
        return entry

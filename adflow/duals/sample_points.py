"""Points at which each elementwise primitive is smooth: where derivative checks evaluate it.

>>> sample_point("arccosh")
(1.7,)
>>> sample_point("clip")
(0.37, 0.0, 1.0)
"""
from __future__ import annotations

from . import formulas

# Arguments chosen away from kinks, poles and domain edges; (0.37, 1.3) suits every other entry.
_SPECIAL = {
    "arccosh": (1.7,),
    "where": (True, 0.37, 1.3),
    "clip": (0.37, 0.0, 1.0),
}
_DEFAULT = (0.37, 1.3)


def sample_point(name: str) -> tuple:
    """Arguments (one per parameter of ``name``'s signature) at which ``name`` is smooth."""
    name = formulas.canonical(name)
    if name in _SPECIAL:
        return _SPECIAL[name]
    return _DEFAULT[: len(formulas.signature(name).params)]


def differentiable_params(name: str) -> list[str]:
    """The parameters of elementwise primitive ``name`` that have a partial derivative."""
    sig = formulas.signature(name)
    return [p for p in sig.params if formulas.partial_function(name, p) is not None]

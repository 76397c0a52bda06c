"""Elementwise primitives whose value nobody reads: ``tangents_only.sin(u)``.

The forward transform writes ``_result4 = tangents_only.sin(_result3)`` where
:mod:`adflow.forward.unread_values` proved that only the tangents of the result are used (a
Jacobian never reads ``f``'s value).  One function per elementwise primitive of the partials
table, named after it, takes the primitive's operands:

* in numba, on contiguous dual arrays of one shape, the flat loop of
  :mod:`adflow.duals.numba_elementwise` without the value: ``sin``'s tangents need ``cos(u)``
  only, so the 2000 sines are skipped.  The result's values are NaN: a value read by mistake
  shows as NaN, never as a plausible number.  Other operands (scalars, broadcasting, no dual
  at all) take the primitive's ordinary overload, value included;
* in plain Python, the primitive itself (the value is computed; only compiled code saves it).
"""
from __future__ import annotations

import builtins

from numba.extending import overload

from . import formulas
from ..value_types import ndim_of
from .numba_elementwise import choose_elementwise, common_k, flat_impl, flat_loop_applies, kind_of

# The functions below are named after the primitives (``abs``, ``pow``...), so this module's own
# code reaches Python's builtins through ``builtins.``.


def _caller(name: str):
    """The function that computes primitive ``name`` on duals (``operator.add`` for ``add``)."""
    return formulas.OPERATORS.get(name) or formulas.primal_function(name)


def _define(name: str):
    params = formulas.signature(name).params
    args = ", ".join(params)
    namespace = {"primitive": _caller(name)}
    exec(f"def {name}({args}):\n    return primitive({args})\n", namespace)
    stub = namespace[name]
    stub.__doc__ = f"``{name}`` of dual operands, computing the tangents only where compiled."
    stub.__module__ = __name__

    def choose(*argtypes):
        kinds = builtins.tuple(kind_of(t) for t in argtypes)
        if "dual_array" in kinds and flat_loop_applies(argtypes, kinds):
            ndims = builtins.tuple(ndim_of(t) for t in argtypes)
            return flat_impl(namespace["primitive"], name, kinds, ndims, common_k(argtypes), value=False)
        # Anything else takes the ordinary overload (value included), as the user's call would:
        # numba's own where no operand carries tangents (the analysis is by name, and a name can
        # hold a float before it holds a dual: fuzz seed 29100128).
        if None not in kinds and not builtins.any(k in ("dual", "dual_array") for k in kinds):
            return stub
        if choose_elementwise(namespace["primitive"], name, argtypes) is None:
            return None
        return stub

    # numba wants the typer's parameters to be the implementation's.
    typer_namespace = {"choose": choose}
    exec(f"def typer({args}):\n    return choose({args})\n", typer_namespace)
    overload(stub)(typer_namespace["typer"])
    return stub


for _name in formulas.all_primitive_names():
    if formulas.is_elementwise(_name) and formulas.canonical(_name) == _name:
        globals()[_name] = _define(_name)

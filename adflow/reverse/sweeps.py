"""What a reverse-mode function holds, written down: the record the transform attaches to its output.

:class:`~adflow.reverse.transform.ReverseTransform` writes ``<f>_vjp(params..., cotangent)`` as

1. copies of the array parameters the function writes into (``x = x.copy()``): :attr:`Sweeps.copied`;
2. placeholders for what is pushed before its first assignment, and for arrays whose adjoint
   starts as zeros shaped like them (``b = np.empty((0,), np.float64)``): :attr:`Sweeps.declared`;
3. one tape per saved variable (:attr:`Sweeps.tapes`): a stack of scalars that grows
   (``_s_tape = np.empty(16, np.float64)`` and its top ``_s_top = 0``), or a list of arrays
   (``_b_tape = array_stack(b)``);
4. the forward sweep, opened by the statement :attr:`Sweeps.forward_sweep`: the normalised
   function with pushes.  A scalar push is a growth check, the write and the bump::

       if _s_top == _s_tape.shape[0]:
           _s_tape = grow(_s_tape)
       _s_tape[_s_top] = s
       _s_top += 1

   and an array push ``_b_tape.append(b)``;
5. the reverse sweep, opened by :attr:`Sweeps.reverse_sweep`: first the adjoints start (at
   ``0.0``, or ``zeros_like_float(x, cotangent)`` for arrays; :attr:`Sweeps.adjoints`), the
   result's adjoint receives the cotangent (``add_cotangent``), then the adjoint statements, with
   pops ``_s_top -= 1; s = _s_tape[_s_top]`` (``b = _b_tape.pop()`` for arrays);
6. ``return (value, (gradients...))``, the gradients :attr:`Sweeps.gradients`, one per ``wrt``.

A target that rewrites the function (the CUDA device adapter, :mod:`adflow.cuda.adapter`) reads
this record and the recognisers below, not the shape of the code.  A change to the forms above
in ``transform.py`` changes this module with it.

The record refers to the two opening statements by identity; ``copy.deepcopy`` of the function
copies the record with it, so a copy's record points into the copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import gast
from numba.core import types

from ..duals.numba_dual import DualType
from ..value_types import ndim_of


@dataclass(frozen=True)
class Tape:
    """One tape of the forward sweep."""

    name: str  # the stack (or list) variable
    top: str | None  # its top index; None for a list of arrays (append, pop)
    dtype: str  # NumPy name of a saved value ('float64', 'int64', 'bool_'); 'array' for a list, 'dual' for duals
    saves: str  # the variable whose values it saves

    @property
    def holds_scalars(self) -> bool:
        return self.top is not None and self.dtype != "dual"


@dataclass(frozen=True)
class Sweeps:
    """The record of one reverse-mode function (see the module doc for the layout it describes)."""

    params: tuple  # the parameters of the function differentiated (the cotangent follows them)
    cotangent: str
    wrt: tuple  # the differentiated parameters' positions
    is_helper: bool  # the vjp of a helper, called by another generated function
    copied: tuple  # array parameters copied first (the function writes into them)
    declared: tuple  # variables declared with placeholders before the tapes
    tapes: tuple  # Tape, in creation order
    adjoints: dict  # variable -> its adjoint, for every adjoint started at the top of the reverse sweep
    returned: str | None  # the variable whose value is returned (None for an expression)
    gradients: tuple  # the adjoints returned, one per wrt
    forward_sweep: object  # the statement that opens the forward sweep
    reverse_sweep: object  # the statement that opens the reverse sweep

    def tape(self, name: str) -> Tape | None:
        return next((t for t in self.tapes if t.name == name), None)

    def pushed_tape(self, stmt) -> Tape | None:
        """The tape ``stmt`` writes a value into (``tape[top] = value``: a push), or None."""
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):
            base = stmt.targets[0].value
            if isinstance(base, gast.Name):
                return self.tape(base.id)
        return None

    def popped_tape(self, stmt) -> Tape | None:
        """The tape ``stmt`` reads a value back from (``x = tape[top]``: a pop), or None."""
        if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Subscript) \
                and isinstance(stmt.value.value, gast.Name):
            return self.tape(stmt.value.value.id)
        return None

    def is_growth_check(self, stmt) -> bool:
        """Is ``stmt`` a push's growth check (an ``if`` whose one statement rebinds a tape)?"""
        return (isinstance(stmt, gast.If) and len(stmt.body) == 1 and not stmt.orelse
                and isinstance(stmt.body[0], gast.Assign) and isinstance(stmt.body[0].targets[0], gast.Name)
                and self.tape(stmt.body[0].targets[0].id) is not None)

    def creates_tape(self, stmt) -> Tape | None:
        """The tape ``stmt`` creates (the stack or list, not its top), or None."""
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                and isinstance(stmt.value, gast.Call):
            return self.tape(stmt.targets[0].id)
        return None

    def gradient_of(self, param: str) -> str | None:
        """The adjoint returned for parameter ``param``, or None when it is not differentiated."""
        for k, bar in zip(self.wrt, self.gradients):
            if self.params[k] == param:
                return bar
        return None


def scalar_dtype(ty):
    """The type a scalar tape of values of type ``ty`` holds (float64 for what is not a number)."""
    return ty if isinstance(ty, (types.Float, types.Integer, types.Boolean)) else types.float64


def tape_dtype(ty) -> str:
    """:attr:`Tape.dtype` for a tape of values of numba type ``ty``."""
    if isinstance(ty, DualType):
        return "dual"
    if ndim_of(ty) > 0:
        return "array"
    text = str(scalar_dtype(ty))
    return "bool_" if text == "bool" else text

"""adflow's errors: each one names the construct, the user's ``file:line`` and a hint.

Every error a user can trigger by what they wrote derives from :class:`AdflowError`, so
``except adflow.AdflowError`` catches them all.  Messages read::

    adflow: <what went wrong>
      at model.py:12:    with open(p) as fh:
      hint: <what to do about it>
"""
from __future__ import annotations

import linecache


class SourceLocation:
    """Where a construct stands in the user's source file."""

    def __init__(self, filename: str, lineno: int, function: str | None = None):
        self.filename = filename
        self.lineno = lineno
        self.function = function

    @property
    def line_text(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SourceLocation({self.filename!r}, {self.lineno})"


class AdflowError(Exception):
    """Base class of every error adflow raises about the user's code or arguments."""

    def __init__(self, message: str, location: SourceLocation | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self._format())

    def __reduce__(self):
        # Rebuilt from its parts, not from the formatted text (args): an error raised in another
        # process (a Dask worker) reads the same on this side, not "adflow: adflow: ...".
        return type(self), (self.message, self.location, self.hint)

    def _format(self) -> str:
        lines = [f"adflow: {self.message}"]
        if self.location is not None:
            text = self.location.line_text
            where = str(self.location)
            if self.location.function:
                where += f" (in {self.location.function})"
            lines.append(f"  at {where}:    {text}" if text else f"  at {where}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class UnsupportedSyntaxError(AdflowError):
    """The function uses Python syntax outside the subset adflow differentiates."""


class NonDifferentiableError(AdflowError):
    """A call or operation has no derivative rule (or is not differentiable for these inputs)."""


class ArgumentError(AdflowError, ValueError):
    """An option or argument of an adflow call is invalid: ``wrt`` out of range, an unknown target..."""


class ShapeError(AdflowError, ValueError):
    """A cotangent, tangent or argument has a shape that does not fit."""


class SourceUnavailableError(AdflowError):
    """The function's source code cannot be read (builtins, REPL lambdas, C extensions)."""


class TypingError(AdflowError):
    """The function, as written, does not compile in numba's nopython mode for these arguments."""


class MissingDependencyError(AdflowError, ImportError):
    """An optional part of adflow needs a package that is not installed (``pip install 'adflow[extra]'``)."""


# Raised (as a ValueError with this constant message, which numba can raise) by generated code when a
# row of a batch=True Jacobian gives an output of another shape than the first row's, or a cotangent
# does not have the output's shape; pipeline.compile_errors.call_compiled says it as a ShapeError.
OTHER_SHAPE = "adflow: an output of another shape than the first row's"

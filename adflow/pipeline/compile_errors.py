"""numba's refusals to compile generated code, said in adflow's words at the user's line.

A generated module records, for each of its lines, the user's line it stands for
(:meth:`adflow.pipeline.build.ModuleBuilder.load` stores them in the module); a numba error names
generated lines, and :func:`compile_error` turns the first one it can map into the user's
``file:line``.
"""
from __future__ import annotations

import os
import re

from numba.core.errors import NumbaError

from ..errors import OTHER_SHAPE, ShapeError, SourceLocation, TypingError
from ..frontend.typeinfer import numba_summary
from .build_report import AWAITING, first_call


def location_of(func):
    """Where ``func`` is defined, for errors that name it (None for what has no code)."""
    py = getattr(func, "py_func", func)
    code = getattr(py, "__code__", None)
    return SourceLocation(code.co_filename, code.co_firstlineno, py.__name__) if code is not None else None


def compile_error(compiled, exc):
    """The adflow error for numba's refusal (``exc``) to compile ``compiled``, a function of a generated module.

    It names the user's function and the user's line that the failing generated line stands for,
    with numba's message; ``raise ... from exc`` keeps numba's full report as the cause.
    """
    namespace = getattr(getattr(compiled, "py_func", compiled), "__globals__", None) or {}
    top = namespace.get("_ADFLOW_FUNCTION")
    text = str(exc) or f"numba failed inside its compiler ({type(exc).__name__})"
    location = _generated_line_location(text, namespace) or top
    name = top.function if top is not None else getattr(compiled, "__name__", "the function")
    path = namespace.get("__file__")
    return TypingError(
        f"numba cannot compile the derivative of {name} for these argument types: {_numba_summary(text)}",
        location,
        hint="this operation has no compiled derivative for these types: rewrite the line, or give the "
             "function a rule with adflow.custom_vjp; numba's full message is the cause above"
             + (f"; the generated code is {path}" if path else ""))


def _generated_line_location(text, namespace):
    """The user's line behind the first line of the generated module that numba's message points at."""
    path, locations = namespace.get("__file__"), namespace.get("_ADFLOW_LOCATIONS")
    if not path or not locations:
        return None
    stem = os.path.basename(path)
    # numba names the innermost failing line first: in a helper's derivative, the helper's line.
    for match in re.finditer(r'File "([^"]+)", line (\d+)', text):
        k = int(match.group(2)) - 1
        if os.path.basename(match.group(1)) == stem and 0 <= k < len(locations) and locations[k] is not None:
            return locations[k]
    return None


def _numba_summary(text):
    ours = re.search(r"adflow: ([^\n\x1b]+)", text)  # adflow's runtime refuses in its own words
    return ours.group(1).strip() if ours else numba_summary(text)


def call_compiled(compiled, *args):
    """``compiled(*args)``, with numba's refusal to compile it turned into :func:`compile_error`'s error."""
    try:
        if AWAITING and id(compiled) in AWAITING:  # its build waits for this first call (numba compiles now)
            with first_call(compiled):
                return compiled(*args)
        return compiled(*args)
    except NumbaError as exc:
        raise compile_error(compiled, exc) from exc
    except ValueError as exc:
        raise rows_refused(exc) from None
    except (AssertionError, AttributeError, KeyError) as exc:
        # numba itself failing while compiling (an internal assertion in its lowering) is still a
        # refusal to compile, said in adflow's words; the same exceptions from running code pass.
        if not _raised_by_numba_compiler(exc):
            raise
        raise compile_error(compiled, exc) from exc


def rows_refused(exc: ValueError) -> Exception:
    """The ShapeError for generated code's OTHER_SHAPE (rows whose outputs differ in shape); ``exc`` itself
    for any other ValueError."""
    if str(exc) != OTHER_SHAPE:
        return exc
    return ShapeError("a row of the batch gives an output of another shape than the first row's: batch=True "
                      "Jacobians need one output shape for every row",
                      hint="the output's shape depends on the row's values (a return in a branch?): take the "
                           "Jacobians row by row with adflow.jacobian(f)")


def _raised_by_numba_compiler(exc) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        module = frame.tb_frame.f_globals.get("__name__", "")
        if module in ("numba.core.compiler", "numba.core.typed_passes", "numba.core.lowering",
                      "numba.core.typeinfer"):
            return True
        frame = frame.tb_next
    return False

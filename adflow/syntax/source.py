"""Read a user function's source and parse it with gast, keeping the file's line numbers."""
from __future__ import annotations

import copy
import inspect
import textwrap
import weakref
from dataclasses import dataclass, field

import gast

from ..errors import NonDifferentiableError, SourceLocation, SourceUnavailableError, UnsupportedSyntaxError


@dataclass
class UserFunction:
    """A parsed user function: its tree (with real file line numbers) and the names it can see."""

    py_func: object
    name: str
    filename: str
    tree: gast.FunctionDef
    globals: dict = field(repr=False)

    def location(self, node) -> SourceLocation:
        return SourceLocation(self.filename, getattr(node, "lineno", self.tree.lineno), self.name)

    @property
    def params(self) -> list[str]:
        return [a.id for a in self.tree.args.args]


def derivative_kind(fn) -> str | None:
    """``"grad"``, ``"jacobian"``, ... when ``fn`` is a derivative adflow made (or a method of one)."""
    return getattr(fn, "adflow_transform", None) or getattr(getattr(fn, "__self__", None), "adflow_transform", None)


def derivative_function(fn):
    """The function a derivative adflow made differentiates (``f`` for ``adflow.grad(f)``), or None."""
    return getattr(getattr(fn, "__self__", fn), "func", None) if derivative_kind(fn) is not None else None


def entry_point(makes_derivative: bool):
    """Mark one of adflow's public transforms, so that the front end knows it in a function's body.

    ``makes_derivative``: it returns a derivative object (``adflow.grad(f)``), which a differentiated
    function may call (``adflow.grad(f)(y)``); the others (``adflow.jvp``) compute values.
    """
    def mark(transform):
        transform.adflow_entry = "derivative" if makes_derivative else "values"
        return transform
    return mark


def python_function(fn):
    """The plain Python function behind ``fn`` (a numba dispatcher's ``py_func``, or ``fn``)."""
    kind = derivative_kind(fn)
    if kind is not None:
        # A derivative's own source is adflow's, not the user's: reading it would differentiate the
        # wrong function (grad(grad(f)) once returned f' silently).  The entry points compose
        # derivatives (adflow/compose.py); what reaches this point takes Python source only.
        raise NonDifferentiableError(
            f"{getattr(fn, '__name__', kind)} is a derivative made by adflow.{kind}, not a Python function "
            f"with source code",
            hint="pass it to adflow.grad, value_and_grad, jvp, vjp or jacobian (they compose), or call it "
                 "inside a function you differentiate; see the Composition page of the docs",
        )
    py = getattr(fn, "py_func", fn)
    if not inspect.isfunction(py):
        kind = type(fn).__name__
        raise SourceUnavailableError(
            f"cannot differentiate {fn!r}: it is a {kind}, not a Python function with source code",
            hint="adflow transforms Python source; wrap builtins or C functions in a Python function, "
                 "or give them a rule with adflow.custom_vjp / adflow.custom_jvp",
        )
    return py


# Source text that came with a function from another process (adflow.pickling), by code object:
# a function sent by value may have no file in this process, or a different version of it.
_SHIPPED = weakref.WeakKeyDictionary()


def use_shipped_source(code, lines, start):
    """Read ``code``'s source as ``lines`` (numbered from ``start``) instead of from its file."""
    _SHIPPED[code] = (list(lines), start)


# Trees of functions adflow made itself from a user's source (a bound method without ``self``,
# adflow/frontend/bound.py), by code object: their lines are the user's file's.
_TREES = weakref.WeakKeyDictionary()


def use_tree(code, tree, filename):
    """Read the function of ``code`` as ``tree`` (a gast FunctionDef numbered as ``filename``'s lines)."""
    _TREES[code] = (tree, filename)


def source_lines(py):
    """``(lines, first line number)`` of a plain function: the source shipped with it, else its file's
    (``inspect.getsourcelines``, whose ``OSError`` or ``TypeError`` says it cannot be read)."""
    shipped = _SHIPPED.get(py.__code__)
    return shipped if shipped is not None else inspect.getsourcelines(py)


def load(fn) -> UserFunction:
    """Parse ``fn``'s source into a gast FunctionDef whose line numbers are the file's."""
    py = python_function(fn)
    made = _TREES.get(py.__code__)
    if made is not None:
        return UserFunction(py, py.__name__, made[1], copy.deepcopy(made[0]), dict(py.__globals__))
    filename = inspect.getsourcefile(py) or py.__code__.co_filename
    try:
        lines, start = source_lines(py)
    except (OSError, TypeError) as exc:
        raise SourceUnavailableError(
            f"cannot read the source of {py.__qualname__} (defined in {py.__code__.co_filename})",
            hint="define the function in a file (not at an interactive prompt or through exec) so "
                 "adflow can read its source",
        ) from exc
    text = textwrap.dedent("".join(lines))
    try:
        module = gast.parse(text)
    except SyntaxError as exc:
        # A lambda in the middle of an expression gives a fragment that does not parse alone.
        raise SourceUnavailableError(
            f"cannot parse the source of {py.__qualname__}",
            SourceLocation(filename, start),
            hint="define it with def in a file",
        ) from exc
    gast.increment_lineno(module, start - 1)
    tree = _find_function(module, py, filename)
    namespace = dict(py.__globals__)
    if py.__closure__:
        for name, cell in zip(py.__code__.co_freevars, py.__closure__):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:  # an empty cell: the closure refers to itself before assignment
                pass
    return UserFunction(py, py.__name__, filename, tree, namespace)


def _find_function(module, py, filename):
    defs = [n for n in gast.walk(module) if isinstance(n, gast.FunctionDef) and n.name == py.__name__]
    if defs:
        tree = defs[0]
        tree.decorator_list = []
        return tree
    if py.__name__ != "<lambda>":
        # The file no longer holds this def where the code object says (edited since it was
        # imported): its text there belongs to something else, which must not be differentiated.
        raise SourceUnavailableError(
            f"the source of {py.__qualname__} in {filename} has changed since it was imported",
            SourceLocation(filename, py.__code__.co_firstlineno),
            hint="re-import the module (or restart the interpreter) after editing it")
    lambdas = [n for n in gast.walk(module) if isinstance(n, gast.Lambda)]
    if len(lambdas) == 1:
        lam = lambdas[0]
        ret = gast.Return(value=lam.body)
        gast.copy_location(ret, lam.body)
        tree = gast.FunctionDef(name=py.__name__ if py.__name__ != "<lambda>" else "lambda_",
                                args=lam.args, body=[ret], decorator_list=[], returns=None,
                                type_comment=None, type_params=[])
        gast.copy_location(tree, lam)
        return tree
    raise UnsupportedSyntaxError(
        "cannot tell which lambda on this line to differentiate",
        SourceLocation(filename, py.__code__.co_firstlineno),
        hint="give the function a name with def",
    )

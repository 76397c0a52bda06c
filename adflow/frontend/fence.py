"""The language fence: reject syntax outside adflow's subset before any transform runs.

Each rejection names the construct, the user's ``file:line`` and what to write instead.
"""
from __future__ import annotations

import gast

from ..errors import AdflowError, UnsupportedSyntaxError
from ..rules.custom import CustomRule
from ..syntax import source
from ..syntax.nodes import assigned_names
from . import namespace as ns
from .inline import always_exits, assigned_outside_functions, nested_function

_REJECTED = {
    gast.With: ("a 'with' block", "move the context manager outside the differentiated function"),
    gast.AsyncWith: ("an 'async with' block", "differentiate synchronous numerical code"),
    gast.Try: ("a 'try' block", "check inputs before calling the function; exceptions cannot be differentiated"),
    gast.Yield: ("'yield' (a generator)", "return an array instead of yielding values"),
    gast.YieldFrom: ("'yield from' (a generator)", "return an array instead of yielding values"),
    gast.Await: ("'await'", "differentiate synchronous numerical code"),
    gast.AsyncFunctionDef: ("an async function", "differentiate synchronous numerical code"),
    gast.AsyncFor: ("an 'async for' loop", "use a plain for loop"),
    gast.Lambda: ("a lambda other than assigned to a name (h = lambda u: ...)",
                  "assign it to a name at the top level of the function, or define it with def"),
    gast.FunctionDef: ("a function defined other than at the top level of the function",
                       "define it at the top level of the function's body, or at module level"),
    gast.ClassDef: ("a class definition", "define classes outside; pass arrays and numbers in"),
    gast.Global: ("a 'global' statement", "pass the value in as an argument and return the result"),
    gast.Nonlocal: ("a 'nonlocal' statement", "pass the value in as an argument and return the result"),
    gast.Delete: ("a 'del' statement", "let the variable go out of use instead"),
    gast.Import: ("an import inside the function", "import at module level"),
    gast.ImportFrom: ("an import inside the function", "import at module level"),
    gast.ListComp: ("a list comprehension", "write a for loop filling a preallocated array"),
    gast.SetComp: ("a set comprehension", "write a for loop"),
    gast.DictComp: ("a dict comprehension", "write a for loop"),
    gast.GeneratorExp: ("a generator expression", "write a for loop (e.g. accumulate a sum)"),
    gast.Starred: ("*args unpacking", "pass the arguments one by one"),
    gast.Dict: ("a dict", "use arrays or tuples"),
    gast.Set: ("a set", "use arrays or tuples"),
    gast.Match: ("a 'match' statement", "use if/elif/else"),
    gast.NamedExpr: ("an assignment expression (:=)", "assign on its own line"),
}


def check(fn) -> None:
    """Raise :class:`UnsupportedSyntaxError` at the first construct adflow cannot differentiate."""
    tree = fn.tree
    _check_parameters(fn, tree)
    defined = set()
    for stmt in tree.body:
        nested = nested_function(stmt)
        if nested is None:
            check_body(fn, [stmt])
            continue
        # A function defined in the body is written out where it is called (frontend/inline.py).
        if nested.name in defined or nested.name in fn.params or nested.name in assigned_names(
                [s for s in tree.body if nested_function(s) is None]):
            raise UnsupportedSyntaxError(
                f"'{nested.name}' names a nested function and something else", fn.location(stmt),
                hint="give each nested function a name of its own, defined once")
        defined.add(nested.name)
        if nested.decorator_list:
            raise UnsupportedSyntaxError("a decorated nested function", fn.location(stmt),
                                         hint="decorate a module-level function instead")
        _check_parameters(fn, nested, f"the nested function {nested.name}")
        check_body(fn, nested.body)
    if not any(isinstance(node, gast.Return) for stmt in tree.body if nested_function(stmt) is None
               for node in gast.walk(stmt)):
        raise UnsupportedSyntaxError(f"a function without a return value: {fn.name} has no 'return'",
                                     fn.location(tree), hint="return the value to differentiate")
    if not always_exits(tree.body):
        # Python would return None there; numba's Optional result made that a silent zero derivative.
        last = tree.body[-1]
        raise UnsupportedSyntaxError(
            f"{fn.name} can reach its end without returning a value", fn.location(last),
            hint="end every path with a return (make the last branch an 'else', or add a final return)")


def _check_parameters(fn, tree, what=None) -> None:
    what = what or fn.name
    args = tree.args
    if args.vararg is not None or args.kwarg is not None:
        raise UnsupportedSyntaxError(f"{what} takes *args or **kwargs", fn.location(tree),
                                     hint="give every argument a name")
    if args.kwonlyargs or args.posonlyargs:
        raise UnsupportedSyntaxError(f"{what} has keyword-only or positional-only parameters", fn.location(tree),
                                     hint="use plain positional parameters")
    for default in args.defaults:
        if not isinstance(default, gast.Constant):
            raise UnsupportedSyntaxError("a default argument that is not a constant", fn.location(default),
                                         hint="use a number, True/False or None as the default")


def check_body(fn, stmts) -> None:
    """Raise :class:`UnsupportedSyntaxError` at the first construct of ``stmts`` outside the subset."""
    for stmt in stmts:
        for node in gast.walk(stmt):
            _check_node(fn, node)


def check_helpers(fn, strict=False) -> None:
    """Refuse recursion among ``fn`` and the user helpers it reaches through calls, and a derivative
    made inside a helper (``adflow.grad(f)(y)``: numba types helpers as written, and cannot make it).

    This runs before numba types ``fn``, which types the helpers with it: recursion would otherwise
    surface as numba's "Untyped global name".  Helpers are only walked, not fenced: one called
    without derivatives runs as numba compiles it and need not fit adflow's subset.  With
    ``strict`` (the pipeline asks for it when numba cannot type ``fn``) each helper is fenced and
    must be readable, so that a helper outside the subset (a 'try', no 'return') explains numba's
    error at the helper's own line.
    """
    done: set[int] = set()

    def visit(fn, path):  # path: (function, its call to the next function) from the top down to fn
        for call, callee in _helper_calls(fn, strict):
            py = source.python_function(callee)
            chain = path + [(fn, call)]
            for k, (caller, _) in enumerate(chain):
                if caller.py_func is py:
                    raise _recursion(chain[k:])
            if id(py) in done:
                continue
            try:
                helper = source.load(callee)
                if strict:
                    check(helper)
            except AdflowError:
                if strict:
                    raise
                continue  # numba compiles it as it is; adflow reports it if it must transform it
            _refuse_derivative_made_in_helper(helper, strict)
            visit(helper, chain)
        done.add(id(fn.py_func))

    visit(fn, [])


def _helper_calls(fn, strict):
    """``(call node, user function)`` for each call in ``fn`` that adflow transforms as a helper.

    Functions with custom rules are left out: their bodies are not differentiated in every mode; so
    are derivatives adflow made (``adflow.grad(f)``), which are not differentiated through their source.
    Names that do not resolve are left to the normaliser's message unless ``strict``.
    """
    local_names = set(fn.params) | assigned_outside_functions(fn.tree.body)
    for stmt in fn.tree.body:
        for node in gast.walk(stmt):
            if not isinstance(node, gast.Call):
                continue
            try:
                resolved = ns.resolve(fn, node.func, local_names)
            except AdflowError:
                if strict:
                    raise
                continue
            if (resolved is not None and resolved.kind == ns.USER_FUNCTION
                    and not isinstance(resolved.value, CustomRule) and source.derivative_kind(resolved.value) is None):
                yield node, resolved.value


def _refuse_derivative_made_in_helper(helper, strict):
    """``adflow.grad(f)(y)`` in a helper: the differentiated function itself may make it, a helper may not."""
    local_names = set(helper.params) | assigned_names(helper.tree.body)
    for node in gast.walk(helper.tree):
        if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Call)):
            continue
        try:
            resolved = ns.resolve(helper, node.func.func, local_names)
        except AdflowError:
            if strict:
                raise
            continue
        if resolved is not None and getattr(resolved.value, "adflow_entry", None) == "derivative":
            what = ns.dotted_name(node.func.func)
            raise UnsupportedSyntaxError(
                f"{what}(...)(...) in {helper.name}, a helper: numba compiles helpers as written, and cannot make "
                f"a derivative", helper.location(node),
                hint=f"make it at module level (df = {what}(f)) and call df(...) in {helper.name}, or call "
                     f"{what}(f)(...) in the differentiated function itself")


def _recursion(cycle):
    """The error for ``cycle``: (function, its call to the next one), ending with a call to the first."""
    first, call = cycle[0]
    names = [f.name for f, _ in cycle] + [first.name]
    how = "calls itself" if len(cycle) == 1 else f"calls itself through {' -> '.join(names[1:-1])}"
    return UnsupportedSyntaxError(
        f"{first.name} {how} (recursion: {' -> '.join(names)}), which adflow cannot differentiate",
        first.location(call), hint="write the recursion as a loop")


def _check_node(fn, node) -> None:
    for kind, (what, hint) in _REJECTED.items():
        if isinstance(node, kind):
            raise UnsupportedSyntaxError(f"{what} is not supported", fn.location(node), hint=hint)
    if isinstance(node, (gast.For, gast.While)) and node.orelse:
        raise UnsupportedSyntaxError(
            "a loop with an 'else' clause is not supported", fn.location(node),
            hint="set a flag before 'break' and test it after the loop")
    if isinstance(node, (gast.Assign, gast.AugAssign)):
        targets = node.targets if isinstance(node, gast.Assign) else [node.target]
        for target in targets:
            for sub in gast.walk(target):
                if isinstance(sub, gast.Attribute) and isinstance(sub.ctx, gast.Store):
                    raise UnsupportedSyntaxError(
                        "assigning to an attribute (object mutation) is not supported",
                        fn.location(node), hint="keep state in local variables and arrays")
    if isinstance(node, gast.Call):
        for kw in node.keywords:
            if kw.arg is None:
                raise UnsupportedSyntaxError(
                    "**kwargs unpacking in a call is not supported", fn.location(node),
                    hint="pass keyword arguments by name")
    if isinstance(node, gast.JoinedStr):
        raise UnsupportedSyntaxError(
            "an f-string is not supported", fn.location(node),
            hint="numba compiles no string formatting; remove it or use a plain string")

"""Calls the normaliser writes out in place: nested functions, and helpers that write into their arguments.

A helper that fills an array passed to it (``fill(out, x)`` as a statement) changes the caller's
array, which a derivative of the helper on its own cannot carry back; a function defined inside
the differentiated one reads the caller's variables as they are when it is called.  Both are
differentiated as if their body were written where they are called::

    def fill(out, x):                       def f(x):
        for i in range(x.shape[0]):             out = np.zeros(x.shape[0])
            out[i] = x[i] * x[i]                for _i1 in range(x.shape[0]):      # fill(out, x)
                                                    out[_i1] = x[_i1] * x[_i1]
                                                return np.sum(out * x)

The rules (:func:`expand`):

* a parameter the body never rebinds, given a local variable, *is* that variable (writes into it
  reach the caller's array); any other argument is assigned to a new variable first, in order;
* the body's own variables get new names; the names it reads from its module mean what they mean
  there (bound under a new name in the caller's namespace where the caller means something else);
  a nested function reads the caller's variables themselves, as Python's closures do, when called;
* each ``return`` assigns the call's value; a flag skips what follows it, and ``break`` leaves the
  loops it was in.

What is inlined (:func:`writes_into_parameters`, decided by the normaliser): every call of a
nested function, every helper called as a statement, and helpers called for their value that
write into a parameter.  Other helpers keep their own derivative functions.
"""
from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass

import gast

from ..errors import UnsupportedSyntaxError
from ..syntax.nodes import assign, assigned_names, const, name


@dataclass
class Callee:
    """What a call runs: ``label`` (as the caller wrote it), the ``def``, and the module-level
    helper it is (a :class:`~adflow.syntax.source.UserFunction`), or ``None`` for a nested function."""

    label: str
    tree: gast.FunctionDef
    helper: object = None


def nested_function(stmt) -> gast.FunctionDef | None:
    """The function a statement of the body defines: ``def h(...)`` or ``h = lambda ...``."""
    if isinstance(stmt, gast.FunctionDef):
        return stmt
    if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)
            and isinstance(stmt.value, gast.Lambda)):
        lam = stmt.value
        ret = gast.Return(value=lam.body)
        gast.copy_location(ret, lam.body)
        tree = gast.FunctionDef(name=stmt.targets[0].id, args=lam.args, body=[ret], decorator_list=[],
                                returns=None, type_comment=None, type_params=[])
        gast.copy_location(tree, stmt)
        return tree
    return None


def assigned_outside_functions(stmts) -> set[str]:
    """Names the statements assign, leaving out what nested functions assign; their names included."""
    out = set()
    for stmt in stmts:
        tree = nested_function(stmt)
        if tree is not None:
            out.add(tree.name)
        else:
            out |= assigned_names([stmt])
    return out


def writes_into_parameters(tree) -> bool:
    """Whether the function may change an array it was given: ``p[i] = ...`` (or ``+=``) into a
    parameter it never rebinds, or a parameter passed to a call made for its side effect."""
    rebound = assigned_names(tree.body)
    params = {a.id for a in tree.args.args} - rebound
    for node in gast.walk(gast.Module(body=tree.body, type_ignores=[])):
        targets = node.targets if isinstance(node, gast.Assign) else \
            [node.target] if isinstance(node, gast.AugAssign) else []
        if any(isinstance(t, gast.Subscript) and _root(t) in params for t in targets):
            return True
        if isinstance(node, gast.Expr) and isinstance(node.value, gast.Call) and \
                params & {n.id for n in gast.walk(node.value) if isinstance(n, gast.Name)}:
            return True
    return False


def _root(node):
    while isinstance(node, (gast.Subscript, gast.Attribute)):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


@dataclass
class Expansion:
    """The statements that stand for a call (in the caller's names), and the variable holding its value."""

    statements: list
    result: str | None


def expand(callee, call, caller, caller_locals, fresh, discard) -> Expansion:
    """The body of ``callee`` written for ``call``, a call in ``caller`` (see the module's rules).

    ``fresh(hint)`` makes a new caller variable; ``discard`` says the value is unused (a call made
    as a statement).  Names the body reads from the helper's module are bound in ``caller.globals``.
    """
    tree = copy.deepcopy(callee.tree)
    where = caller.location(call)
    params = [a.id for a in tree.args.args]
    arguments = _bind(callee, call, params, where)
    rebound = assigned_names(tree.body)
    rename, bindings = {}, []
    for p in params:
        given = arguments[p]
        if isinstance(given, gast.Name) and given.id in caller_locals and p not in rebound:
            rename[p] = given.id
        else:
            rename[p] = fresh(p)
            bindings.append(assign(rename[p], given, call.lineno))
    for local in sorted(rebound - set(params)):
        rename[local] = fresh(local)
    if callee.helper is not None:
        for read in sorted(_names_loaded(tree.body) - set(rename)):
            rename[read] = _module_name(read, callee, caller, caller_locals)
    body = [_Renamer(rename).visit(stmt) for stmt in tree.body]
    if callee.helper is not None and callee.helper.filename != caller.filename:
        # Lines of another file would be read in the caller's: errors point at the call instead.
        for stmt in body:
            for node in gast.walk(stmt):
                if hasattr(node, "lineno"):
                    node.lineno = call.lineno
    if not discard and not always_exits(body):
        raise UnsupportedSyntaxError(f"{callee.label} can reach its end without returning a value", where,
                                     hint="end every path of the function with a return")
    returns = [n for stmt in body for n in gast.walk(stmt) if isinstance(n, gast.Return)]
    # A value computed by the return of a call made as a statement is kept (it may call a helper
    # that fills an array); a variable or a constant is dropped.
    kept = [r for r in returns if r.value is not None and not (discard and isinstance(r.value, (gast.Name, gast.Constant)))]
    result = fresh(callee.label.split(".")[-1]) if kept else None
    return Expansion(bindings + _without_returns(body, returns, kept, result, fresh), None if discard else result)


def _bind(callee, call, params, where) -> dict:
    """``{parameter: the caller's expression}``, as Python binds a call's arguments."""
    hint = f"{callee.label} takes ({', '.join(params)})"
    if len(call.args) > len(params):
        raise UnsupportedSyntaxError(
            f"{callee.label}() takes {len(params)} positional arguments but {len(call.args)} were given", where,
            hint=hint)
    bound = dict(zip(params, call.args))
    for kw in call.keywords:
        if kw.arg not in params:
            raise UnsupportedSyntaxError(f"{callee.label}() got an unexpected keyword argument '{kw.arg}'", where,
                                         hint=hint)
        if kw.arg in bound:
            raise UnsupportedSyntaxError(f"{callee.label}() got multiple values for argument '{kw.arg}'", where,
                                         hint=hint)
        bound[kw.arg] = kw.value
    for p, default in zip(params[len(params) - len(callee.tree.args.defaults):], _defaults(callee, where)):
        bound.setdefault(p, default)
    missing = [p for p in params if p not in bound]
    if missing:
        raise UnsupportedSyntaxError(f"{callee.label}() is missing the argument '{missing[0]}'", where, hint=hint)
    return bound


def _defaults(callee, where) -> list:
    """The default values as constants: a helper's as Python evaluated them, a nested function's as written."""
    if callee.helper is not None:
        values = getattr(callee.helper.py_func, "__defaults__", None) or ()
    else:
        values = [d.value if isinstance(d, gast.Constant) else d for d in callee.tree.args.defaults]
    out = []
    for value in values:
        if not (value is None or isinstance(value, (bool, int, float))):
            raise UnsupportedSyntaxError(f"{callee.label} has a default argument that is not a number", where,
                                         hint="pass the value at the call, or make the default a number")
        out.append(const(value))
    return out


def _names_loaded(stmts) -> set[str]:
    return {n.id for stmt in stmts for n in gast.walk(stmt) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _module_name(read, callee, caller, caller_locals) -> str:
    """The caller's name for what ``read`` means in the helper's module (bound in ``caller.globals``)."""
    module = callee.helper.globals
    missing = object()
    value = module.get(read, getattr(builtins, read, missing))
    if value is missing:
        return read  # undefined there too: the normaliser says so
    if read not in caller_locals and caller.globals.get(read, getattr(builtins, read, missing)) is value:
        return read
    base = f"{read}_{callee.helper.name}"
    candidate, k = base, 2
    while candidate in caller_locals or caller.globals.get(candidate, value) is not value:
        candidate, k = f"{base}_{k}", k + 1
    caller.globals[candidate] = value
    return candidate


class _Renamer(gast.NodeTransformer):
    def __init__(self, rename):
        self.rename = rename

    def visit_Name(self, node):
        node.id = self.rename.get(node.id, node.id)
        return node


def always_exits(stmts) -> bool:
    """Whether running ``stmts`` surely ends in a return or raise (never falls through to what follows)."""
    for stmt in stmts:
        if isinstance(stmt, (gast.Return, gast.Raise)):
            return True
        if isinstance(stmt, gast.If) and always_exits(stmt.body) and always_exits(stmt.orelse):
            return True
        if (isinstance(stmt, gast.While) and isinstance(stmt.test, gast.Constant) and stmt.test.value
                and not _breaks(stmt.body)):
            return True
    return False


def _breaks(stmts) -> bool:
    """Whether a ``break`` in ``stmts`` leaves the loop they are the body of (not a nested one)."""
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            return True
        if isinstance(stmt, gast.If) and (_breaks(stmt.body) or _breaks(stmt.orelse)):
            return True
    return False


def _has_return(stmt) -> bool:
    return any(isinstance(n, gast.Return) for n in gast.walk(stmt))


def _without_returns(body, returns, kept, result, fresh) -> list:
    """``body`` with each ``return v`` in ``kept`` made ``result = v`` (the others dropped), and the
    statements after a return skipped: by ``break`` in loops and a ``go`` flag outside them."""
    if not returns:
        return body
    if returns == [body[-1]]:  # one return, at the end: no flag
        return body[:-1] + _returned(body[-1], kept, result, None, 0)
    go = fresh("go")
    first = assign(go, const(True), body[0].lineno)
    return [first] + _block(body, kept, result, go, 0)


def _returned(ret, kept, result, go, depth) -> list:
    out = [assign(result, ret.value, ret.lineno)] if ret in kept else []
    if go is not None:
        out.append(assign(go, const(False), ret.lineno))
        if depth:
            out.append(_located(gast.Break(), ret.lineno))
    return out


def _block(stmts, kept, result, go, depth) -> list:
    out = []
    for k, stmt in enumerate(stmts):
        if isinstance(stmt, gast.Return):
            return out + _returned(stmt, kept, result, go, depth)
        if not _has_return(stmt):
            out.append(stmt)
            continue
        if isinstance(stmt, gast.If):
            stmt.body = _block(stmt.body, kept, result, go, depth) or [gast.Pass()]
            stmt.orelse = _block(stmt.orelse, kept, result, go, depth)
            out.append(stmt)
        else:  # a loop: a return inside breaks out of it, and out of the loops around it
            stmt.body = _block(stmt.body, kept, result, go, depth + 1)
            out.append(stmt)
            if depth:
                stop = gast.If(test=gast.UnaryOp(op=gast.Not(), operand=name(go)), body=[gast.Break()], orelse=[])
                out.append(_located(stop, stmt.lineno))
        rest = stmts[k + 1:]
        if rest:
            if depth:  # a return in there has left this loop already
                out += _block(rest, kept, result, go, depth)
            else:
                out.append(_located(gast.If(test=name(go), body=_block(rest, kept, result, go, depth), orelse=[]),
                                    rest[0].lineno))
        return out
    return out


def _located(node, lineno):
    node.lineno = lineno
    return node

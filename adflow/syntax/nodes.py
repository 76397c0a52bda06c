"""Build and read the gast nodes that the passes write: one place for each kind of node.

Builders take names as strings where a name is meant (``call("range", n)``) and nodes otherwise;
readers answer questions every pass asks of a tree (which names it reads, which it assigns, the
statements of a body with loops and branches flattened).
"""
from __future__ import annotations

import copy

import gast


# --------------------------------------------------------------------------- building

def name(id_: str, ctx=None):
    return gast.Name(id=id_, ctx=ctx or gast.Load(), annotation=None, type_comment=None)


def store(id_: str):
    return name(id_, gast.Store())


def param(id_: str):
    return name(id_, gast.Param())


def const(value):
    return gast.Constant(value=value, kind=None)


def _node(value):
    return name(value) if isinstance(value, str) else value


def attribute(value, attr: str):
    """``value.attr``; ``value`` a name (string) or a node."""
    return gast.Attribute(value=_node(value), attr=attr, ctx=gast.Load())


def call(func, *args, **keywords):
    """``func(*args, **keywords)``; ``func`` a name (string) or a node."""
    return gast.Call(func=_node(func), args=list(args),
                     keywords=[gast.keyword(arg=k, value=v) for k, v in keywords.items()])


def call_attr(value, attr: str, *args):
    """``value.attr(*args)``, as ``np.empty(...)`` or ``tape.append(...)``."""
    return call(attribute(value, attr), *args)


def subscript(value, index, ctx=None):
    """``value[index]``; ``value`` a name (string) or a node."""
    return gast.Subscript(value=_node(value), slice=index, ctx=ctx or gast.Load())


def numpy_dtype(dtype):
    """``np.float64`` for the numba or NumPy dtype ``dtype`` (``np.bool_`` for booleans)."""
    text = str(dtype)
    return attribute("np", "bool_" if text == "bool" else text)


def assign(target: str, value, lineno):
    node = gast.Assign(targets=[store(target)], value=value, type_comment=None)
    node.lineno = lineno
    return node


def accumulate(target: str, value, lineno):
    """``target += value``."""
    node = gast.AugAssign(target=store(target), op=gast.Add(), value=value)
    node.lineno = lineno
    return node


# --------------------------------------------------------------------------- copying

_ATOMS = (str, int, float, complex, bool, bytes, type(None), type(Ellipsis))


def copy_tree(node):
    """A deep copy of the gast tree ``node``, several times faster than ``copy.deepcopy``.

    Nodes, lists and constants are copied by walking the fields; anything else a node carries (a
    record such as the reverse transform's ``sweeps``) is deep-copied after the whole tree, with the
    copies of the nodes it refers to in place of the originals, as ``copy.deepcopy`` would.
    """
    memo, deferred = {}, []
    out = _copy(node, memo, deferred)
    for target, key, value in deferred:
        target.__dict__[key] = copy.deepcopy(value, memo)
    return out


def _copy(value, memo, deferred):
    if isinstance(value, gast.AST):
        new = value.__class__.__new__(value.__class__)
        memo[id(value)] = new
        fields = new.__dict__
        for key, item in value.__dict__.items():
            if isinstance(item, (gast.AST, list)) or isinstance(item, _ATOMS):
                fields[key] = _copy(item, memo, deferred)
            else:
                deferred.append((new, key, item))
        return new
    if isinstance(value, list):
        return [_copy(item, memo, deferred) for item in value]
    if isinstance(value, _ATOMS):
        return value
    return copy.deepcopy(value, memo)


# --------------------------------------------------------------------------- reading

def rewrite_blocks(stmts, rewrite) -> list:
    """``rewrite`` (a function from a statement list to a new one) applied to every statement list
    nested in ``stmts`` (bodies and else branches, innermost first), then to ``stmts`` itself."""
    stmts = list(stmts)
    for stmt in stmts:
        for field in ("body", "orelse"):
            if isinstance(getattr(stmt, field, None), list):
                setattr(stmt, field, rewrite_blocks(getattr(stmt, field), rewrite))
    return rewrite(stmts)


def fresh_name(base: str, taken: set) -> str:
    """``base``, or ``base2``, ``base3``... the first not in ``taken``; added to it."""
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}{k}", k + 1
    taken.add(candidate)
    return candidate


def dotted_name(node) -> str | None:
    """``np.linalg.solve`` for an Attribute chain rooted at a Name, else None."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, gast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def names_in(node) -> set[str]:
    """Every name ``node`` mentions, read or written."""
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def names_read(nodes) -> set[str]:
    """The names the nodes read."""
    out = set()
    for node in nodes:
        for sub in gast.walk(node):
            if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Load):
                out.add(sub.id)
    return out


def assigned_names(stmts) -> set[str]:
    """The names the statements assign (a ``for`` target and ``x += ...`` included)."""
    out = set()
    for stmt in stmts:
        for node in gast.walk(stmt):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                out.add(node.id)
    return out


def statements(body):
    """Every statement of ``body``, in program order, with loops and branches flattened."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, gast.If):
            yield from statements(stmt.body)
            yield from statements(stmt.orelse)
        elif isinstance(stmt, (gast.For, gast.While)):
            yield from statements(stmt.body)

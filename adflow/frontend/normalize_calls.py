"""Calls in the normal form: a user function becomes a named helper or is written out in place
(:mod:`.inline`), and an adflow transform called inside the function (``adflow.grad(f)(y)``,
``adflow.jvp(f, ...)``) becomes a helper made once for its fixed arguments.

A part of :class:`adflow.frontend.normalize.Normalizer` (whose state, statements and expressions it uses).
"""
from __future__ import annotations

import gast
import numpy as np

from ..errors import AdflowError
from ..rules.custom import CustomRule
from ..syntax import source
from ..syntax.nodes import name
from . import fence, inline, lists
from . import namespace as ns


class CallNormalizer:
    """Calls, normalised (a part of the Normalizer)."""

    def callee(self, call, statement) -> inline.Callee | None:
        """The function ``call`` runs if it is written out in place: a nested function; a helper called as a
        statement; a helper called for its value that writes into its arguments."""
        func = call.func
        if isinstance(func, gast.Name) and func.id in self.nested:
            return inline.Callee(func.id, self.nested[func.id])
        if isinstance(func, gast.Name) and (func.id in self.locals or func.id in self.helpers):
            return None  # a local, or a helper named above (a derivative made in the body: jvp_f)
        if isinstance(func, gast.Call):
            return None  # adflow.grad(f)(y): see call()
        resolved = ns.resolve(self.fn, func, self.locals)
        if resolved is None or resolved.kind != ns.USER_FUNCTION:
            return None
        if source.derivative_kind(resolved.value) is not None:
            return None  # df(y) of df = adflow.grad(f): called as a helper, its code from pipeline/derivative_calls.py
        if isinstance(resolved.value, CustomRule):
            if statement:
                raise self.error(f"{ns.dotted_name(func)}, a function with a custom rule, called for its side effect",
                                 call, hint="its rule gives the derivative of its value: assign the value")
            return None
        helper = self.loaded.get(id(resolved.value))
        if helper is None:
            helper = self.loaded[id(resolved.value)] = source.load(resolved.value)
        if statement or inline.writes_into_parameters(helper.tree):
            fence.check_body(helper, helper.tree.body)
            return inline.Callee(ns.dotted_name(func), helper.tree, helper)
        return None

    def inline(self, callee, call, out, discard):
        """Write ``callee``'s body out for ``call`` into ``out``; the variable holding its value (or None)."""
        key = callee.helper.py_func if callee.helper is not None else callee.tree
        if any(key is k for k in self.expanding):
            raise self.error(f"{callee.label} calls itself (recursion), which adflow cannot differentiate", call,
                             hint="write the recursion as a loop")
        expansion = inline.expand(callee, call, self.fn, self.locals, self.fresh, discard)
        more_lists, more_appended = lists.list_variables(expansion.statements, self.lists)
        self.lists |= more_lists
        self.appended |= more_appended
        lineno = self.lineno
        self.expanding.append(key)
        try:
            out.extend(self.block(expansion.statements))
        finally:
            self.expanding.pop()
            self.lineno = lineno
        return None if expansion.result is None else name(expansion.result)

    def call(self, e, out, hint):
        func = e.func
        if isinstance(func, gast.Call):  # adflow.grad(f)(y): a derivative made with fixed arguments
            derivative = self.derivative_made_by(func)
            kind = "value_and_grad" if getattr(derivative, "with_value", False) else derivative.adflow_transform
            base = f"{kind}_{getattr(getattr(derivative, 'func', None), '__name__', 'f')}"
            return self.call(gast.Call(func=name(self.helper_name(None, derivative, base)), args=e.args,
                                       keywords=e.keywords), out, hint)
        callee = self.callee(e, statement=False)
        if callee is not None:
            return self.inline(callee, e, out, discard=False)
        if isinstance(func, gast.Name) and func.id in self.helpers:  # a helper named above
            resolved = ns.Resolved(ns.USER_FUNCTION, self.helpers[func.id])
        else:
            resolved = ns.resolve(self.fn, func, self.locals)
        if resolved is not None and getattr(resolved.value, "adflow_entry", None) is not None:
            return self.call(self.values_transform_call(func, resolved.value, e), out, hint)
        if resolved is None:
            if isinstance(func, gast.Attribute):  # a method of a local array: x.sum(axis=0)
                base = self.atom(func.value, out, hint)
                if isinstance(base, gast.Name) and base.id in self.lists:
                    raise self.error(f"the list method {base.id}.{func.attr}()", e,
                                     hint="a list of numbers is differentiated as an array: append, index "
                                          "and len are supported; use np.array(...) and NumPy for the rest")
                new_func = gast.Attribute(value=base, attr=func.attr, ctx=gast.Load())
            else:
                raise self.error(f"calling the local variable '{func.id}'", e,
                                 hint="call module-level functions by name")
        elif resolved.kind == ns.USER_FUNCTION:
            helper = self.helper_name(func, resolved.value)
            new_func = name(helper)
        elif resolved.kind == ns.CALLABLE:
            self.use_global(func)
            new_func = func
        else:
            raise self.error(f"'{ns.dotted_name(func)}' is not callable", e)
        value = resolved.value if resolved is not None else None
        makes_array = value is np.array or value is np.asarray
        # sum([a, b]), helper([a, b]): a list variable, as below (NumPy's functions take the list as written)
        listing = lists.builtin_reduction(value) is not None or (resolved is not None and resolved.kind == ns.USER_FUNCTION)
        args = []
        for a in e.args:
            if isinstance(a, gast.List) and listing:
                args.append(self.atom(a, out, hint))
                self.lists.add(args[-1].id)
            elif isinstance(a, gast.List):
                if any(isinstance(x, (gast.List, gast.Tuple)) for x in a.elts):
                    raise self.error("nested lists in np.array", a, hint="build the rows separately and stack them")
                args.append(gast.List(elts=[self.atom(x, out, hint) for x in a.elts], ctx=gast.Load()))
            elif isinstance(a, gast.Tuple):
                args.append(gast.Tuple(elts=[self.atom(x, out, hint) for x in a.elts], ctx=gast.Load()))
            else:
                args.append(self.atom(a, out, hint))
        keywords = []
        for kw in e.keywords:
            value = kw.value
            if isinstance(value, gast.Tuple):
                value = gast.Tuple(elts=[self.atom(x, out, hint) for x in value.elts], ctx=gast.Load())
            elif isinstance(value, gast.Attribute) and ns.resolve(self.fn, value, self.locals) is not None:
                self.use_global(value)  # dtype=np.float64
            else:
                value = self.atom(value, out, hint)
            keywords.append(gast.keyword(arg=kw.arg, value=value))
        listed = [a.id for a in args if isinstance(a, gast.Name) and a.id in self.lists]
        if listed and not keywords and len(args) == 1:
            if makes_array:  # both copy a list
                return self.numpy_call("copy", args)
            reduction = lists.builtin_reduction(value)
            if reduction is not None:  # sum(v), max(v), min(v) of a list of numbers
                return self.numpy_call(reduction, args)
        if listed and resolved is not None and resolved.kind == ns.USER_FUNCTION:
            raise self.error(f"the list '{listed[0]}' passed to {ns.dotted_name(func)}, which has a derivative "
                             "function of its own", e,
                             hint=f"pass np.array({listed[0]}) (an array means the same in the helper)")
        return gast.Call(func=new_func, args=args, keywords=keywords)

    def derivative_made_by(self, call):
        """The derivative ``adflow.grad(f, wrt=1)`` in ``adflow.grad(f, wrt=1)(y)``, made once for these arguments."""
        resolved = None if isinstance(call.func, gast.Call) else ns.resolve(self.fn, call.func, self.locals)
        factory = resolved.value if resolved is not None else None
        if getattr(factory, "adflow_entry", None) != "derivative":
            raise self.error("calling the result of a call", call, hint="call module-level functions by name")
        args = [self.static_value(a) for a in call.args]
        kwargs = {kw.arg: self.static_value(kw.value) for kw in call.keywords}
        try:
            return made_derivative(factory, args, kwargs)
        except AdflowError as exc:  # a bad option of the inner transform: said at this line
            raise type(exc)(exc.message, exc.location or self.fn.location(call), exc.hint) from None

    def static_value(self, node):
        """The value of an argument of an adflow transform called in the function: fixed when it is compiled."""
        if isinstance(node, gast.Constant):
            return node.value
        if isinstance(node, gast.Tuple):
            return tuple(self.static_value(x) for x in node.elts)
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant):
            return -node.operand.value
        if isinstance(node, (gast.Name, gast.Attribute)):
            resolved = ns.resolve(self.fn, node, self.locals)
            if resolved is not None:
                return resolved.value
        raise self.error("an adflow transform called inside a differentiated function with an argument that is "
                         "not fixed when the function is compiled", node,
                         hint="pass module-level functions and constants, as in adflow.grad(f, wrt=1)(y)")

    def values_transform_call(self, func, transform, call):
        """``adflow.jvp(f, (x, a), (t, u))`` -> a call ``jvp_f(x, a, t, u)`` of the helper the transform makes
        for calls inside a function (``transform.called_inside``); the error for any other transform."""
        maker = getattr(transform, "called_inside", None)
        if maker is None:
            raise self.transform_called(func, transform, call)
        what = ns.dotted_name(func)
        args = list(call.args)
        if len(args) != 3 or not all(isinstance(a, (gast.Tuple, gast.List)) for a in args[1:]):
            raise self.error(f"{what} inside a differentiated function takes the function, a tuple of primals "
                             f"and a tuple of tangents", call, hint=f"write {what}(f, (x,), (t,))")
        options = {kw.arg: self.static_value(kw.value) for kw in call.keywords}
        primals, tangents = args[1].elts, args[2].elts
        if "wrt" not in options and len(tangents) != len(primals):
            raise self.error(f"{what} with {len(tangents)} tangents for {len(primals)} primals", call,
                             hint="pass wrt= (the positions of the primals the tangents belong to)")
        try:
            helper = made_derivative(maker, [self.static_value(args[0]), len(primals)], options)
        except AdflowError as exc:
            raise type(exc)(exc.message, exc.location or self.fn.location(call), exc.hint) from None
        return gast.Call(func=name(self.helper_name(None, helper, helper.__name__)), args=primals + tangents,
                         keywords=[])

    def transform_called(self, func, transform, node):
        """The error for an adflow transform called inside the function other than as ``adflow.grad(f)(y)``."""
        what = ns.dotted_name(func) or getattr(transform, "__name__", "transform")
        if transform.adflow_entry == "derivative":
            return self.error(f"{what}(...) makes a derivative; inside a differentiated function, call the derivative "
                              f"where it is made", node, hint=f"write {what}(f)(y), or make it at module level "
                                                              f"(df = {what}(f)) and call df(y)")
        return self.error(f"{what} inside a differentiated function", node,
                          hint="call adflow.grad(f)(y), adflow.value_and_grad(f)(y) or adflow.jvp(f, (x,), (t,)) "
                               f"there, or compose the transforms from outside: {what}(adflow.grad(f), ...)")

    def use_global(self, node):
        root = ns.dotted_name(node).split(".")[0]
        if root in self.fn.globals:
            self.globals_used[root] = self.fn.globals[root]

    def helper_name(self, func, obj, base=None) -> str:
        base = base or (ns.dotted_name(func) or "helper").replace(".", "_")
        candidate = base
        k = 2
        while candidate in self.helpers and self.helpers[candidate] is not obj or candidate in self.locals:
            candidate = f"{base}_{k}"
            k += 1
        self.helpers[candidate] = obj
        return candidate


# Derivatives made inside differentiated functions (adflow.grad(f)(y)), by transform and arguments:
# one object per distinct call, so that its builds are made once.  The entry keeps the arguments
# alive, which the key names by id.
_MADE: dict = {}


def made_derivative(factory, args, kwargs):
    """``factory(*args, **kwargs)`` (an adflow transform making a derivative), once per distinct arguments."""
    key = (id(factory), tuple(_key(a) for a in args), tuple(sorted((k, _key(v)) for k, v in kwargs.items())))
    entry = _MADE.get(key)
    if entry is None:
        entry = _MADE[key] = (factory(*args, **kwargs), factory, args, kwargs)
    return entry[0]


def _key(value):
    if isinstance(value, tuple):
        return ("tuple", tuple(_key(v) for v in value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return ("value", value)
    return ("object", id(value))

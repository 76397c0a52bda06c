"""A derivative adflow made, as numba sees it: ``adflow.grad(f)`` or a jvp call, read as a global.

numba types a differentiated function ``g`` that calls ``grad_f(y)`` (:mod:`.derivative_calls`), and
compiles as written the helpers and ``numba.njit`` functions that call a module-level
``df = adflow.grad(f)``.  For both it asks the derivative object for its numba type
(``_numba_type_``); :func:`numba_type` answers with a dispatcher whose body calls an overload:
when numba types a call, the overload builds ``f``'s reverse sweep (or, for a jvp, its forward
mode) for those argument types and returns a body calling it.  ``g``'s generated module does not
call this dispatcher: it holds its own copy of the call (``derivative_calls.primal_function``), so
that numba's disk cache of the module names no other generated module.
"""
from __future__ import annotations

import weakref

import numba
from numba.core import types
from numba.extending import overload

from ..duals.numba_dual import DualArrayType, DualType
from ..duals.helpers import seed, tangents_of, value_of
from ..errors import ShapeError
from ..runtime import seed_directions
from ..syntax.source import derivative_function, derivative_kind
from ..value_types import is_number_type
from .build import build_reverse, cached_forward
from .cache import code_identity, once
from .compile_errors import location_of
from .derivative_calls import arity, describe

_STUBS = weakref.WeakKeyDictionary()  # derivative -> its dispatcher


def numba_type(derivative):
    """The numba type of ``derivative`` (a ``grad`` or ``value_and_grad`` object) in compiled code."""
    stub = _STUBS.get(derivative)
    if stub is None:
        stub = _STUBS[derivative] = _dispatcher(derivative)
    return types.Dispatcher(stub)


def compiled_vjp(derivative, argtypes):
    """``f``'s vjp compiled for the CPU, for ``argtypes``, and ``f``'s prepared form (None with custom rules)."""
    func = derivative_function(derivative)
    wrt = tuple(derivative.wrt)
    # The key of Specializations.get, so that adflow.grad(f) called from Python shares the build.
    key = ("reverse", tuple(argtypes), wrt, code_identity(func), "cpu", None, None)
    vjp, _, prepared = once(key, lambda: build_reverse(func, tuple(argtypes), wrt, "cpu"), func)
    return vjp, prepared


def _dispatcher(derivative):
    func = derivative_function(derivative)
    kind = "value_and_grad" if getattr(derivative, "with_value", False) else derivative_kind(derivative)
    stem = f"{func.__name__}_{kind}"
    params = ", ".join(f"a{k}" for k in range(arity(derivative)))
    namespace = {}
    exec(f"def derivative_call({params}):\n    raise NotImplementedError\n", namespace)
    derivative_call = namespace["derivative_call"]  # typed and compiled only through the overload

    def typed(*argtypes):
        if any(isinstance(t, (DualType, DualArrayType)) for t in argtypes):
            return None  # a third derivative: refused before typing, at the call's line (derivative_calls)
        if kind == "jvp":
            return _jvp_body(derivative, argtypes, params)
        vjp, prepared = compiled_vjp(derivative, argtypes)
        returned = prepared.return_type if prepared is not None else None
        if returned is not None and not is_number_type(returned):
            raise ShapeError(f"{describe(derivative)} is called inside a differentiated function, but "
                             f"{func.__name__} returns {returned}, not a number", location_of(func),
                             hint="a gradient needs a function returning a scalar")
        value = "_r[0], " if derivative.with_value else ""
        grads = "_r[1][0]" if derivative.single else "_r[1]"
        body = {"_vjp": vjp}
        exec(f"def impl({params}):\n    _r = _vjp({params}, 1.0)\n    return {value}{grads}\n", body)
        return body["impl"]

    # numba matches the typing function's parameters to the implementation's: both name a0, a1...
    namespace["typed"] = typed
    exec(f"def typing({params}):\n    return typed({params})\n", namespace)
    overload(derivative_call)(namespace["typing"])
    exec(f"def {stem}({params}):\n    return derivative_call({params})\n", namespace)
    return numba.njit(namespace[stem])


def _jvp_body(derivative, argtypes, params):
    """The compiled ``jvp(f, (a0, ...), (t0, ...))``: ``f``'s forward mode on the primals seeded with the tangents."""
    func, n, wrt = derivative_function(derivative), derivative.nprimals, tuple(derivative.wrt)
    fwd, _, prepared = cached_forward(func, tuple(argtypes[:n]), wrt, 1, "cpu")
    returned = prepared.return_type if prepared is not None else None
    if not isinstance(returned, (types.Array, types.Float)):
        raise ShapeError(f"{describe(derivative)} is called inside a differentiated function, but {func.__name__} "
                         f"returns {returned or 'what its rules return'}, not one array or number",
                         location_of(func), hint="a jvp inside a differentiated function takes one output")
    seeded = []
    for k, ty in enumerate(argtypes[:n]):
        t = f"a{n + wrt.index(k)}" if k in wrt else None
        seeded.append(f"a{k}" if t is None else f"seed_directions(a{k}, {t}, 1)" if isinstance(ty, types.Array)
                      else f"seed(a{k}, {t})")
    tangent = "tangents_of(_y, 1)[..., 0]" if isinstance(returned, types.Array) else "tangents_of(_y, 1)[0]"
    body = {"_fwd": fwd, "seed": seed, "seed_directions": seed_directions, "tangents_of": tangents_of,
            "value_of": value_of}
    exec(f"def impl({params}):\n    _y = _fwd({', '.join(seeded)})\n    return value_of(_y), {tangent}\n", body)
    return body["impl"]

"""Ask numba for the type of every variable of a normalised function.

Only numba's untyped passes and its type inference run (no lowering, no LLVM), so this is much
cheaper than a compile.  The types decide what the transforms emit: which variables carry
derivatives (floats, never integers or booleans), what a tape stack holds, how an adjoint starts.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import re
import types as pytypes

import numba
import numpy as np
from numba.core import compiler, errors as numba_errors, typed_passes, types, untyped_passes
from numba.core.registry import cpu_target

from ..backends import modules
from ..backends.symbols import distinct
from ..errors import SourceLocation, TypingError
from ..rules.custom import CustomRule
from ..syntax.source import derivative_function, derivative_kind, source_lines
from .namespace import is_user_function


def _without_pruning(pm):
    pm.passes = [p for p in pm.passes if p[0] is not untyped_passes.DeadBranchPrune]
    return pm


class _TypeOnlyPipeline(compiler.CompilerBase):
    """numba's untyped passes and type inference, without dead branch pruning.

    numba drops a branch it can decide (``if 0.25 >= 0.0:``, or a test on a variable assigned a
    constant once), and with it the types of the branch's variables and test; the transforms still
    write code for both sides, so they need those types.
    """

    def define_pipelines(self):
        pm = _without_pruning(compiler.DefaultPassBuilder.define_untyped_pipeline(self.state))
        pm.add_pass(typed_passes.NopythonTypeInference, "nopython frontend")
        pm.finalize()
        return [pm]


class NoPruneCompiler(compiler.CompilerBase):
    """numba's nopython pipeline without dead branch pruning, for generated code (``pipeline_class=``).

    Pruning a decided branch of generated code can leave a variable defined on no path (a result
    set only in that branch, a tape's top): numba then fails with an internal typing error.  The
    branch is typed like the rest, as the type-only pipeline types it.
    """

    def define_pipelines(self):
        pm = _without_pruning(compiler.DefaultPassBuilder.define_nopython_pipeline(self.state))
        pm.finalize()
        return [pm]


_jitted_helpers: dict = {}


def _content(value):
    """What a closure's captured value contributes to its compiled code (arrays by their bytes)."""
    if isinstance(value, np.ndarray):
        return (value.shape, str(value.dtype), hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
    return repr(value)


def user_callees(func) -> dict:
    """The user's functions (and custom rules) ``func`` names, by the names it calls them by."""
    callees = {}
    for name in func.__code__.co_names:
        value = func.__globals__.get(name)
        if isinstance(value, CustomRule) or (inspect.isfunction(value) and is_user_function(value)):
            callees[name] = value
    return callees


def jitted(func):
    """A numba dispatcher for a user helper (one per function object and callees, so it compiles once).

    numba calls only compiled functions, so the user functions the helper itself calls are replaced
    by their dispatchers in a copy of its globals (the key has their identities: rebinding one
    makes a new dispatcher).
    """
    if isinstance(func, numba.core.dispatcher.Dispatcher) or derivative_kind(func) is not None:
        return func  # a derivative adflow made gives numba its own type (pipeline/compiled_derivative.py)
    callees = user_callees(func)
    key = (id(func), tuple((n, id(v)) for n, v in sorted(callees.items())))
    if key not in _jitted_helpers:
        anonymous = func.__name__ == "<lambda>" or "<locals>" in func.__qualname__
        if not callees and not anonymous:
            _jitted_helpers[key] = (numba.njit(func), func)
        else:
            namespace = dict(func.__globals__) if callees else func.__globals__
            clone = pytypes.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__,
                                         func.__closure__)
            clone.__qualname__, clone.__module__ = func.__qualname__, func.__module__
            if anonymous:
                # Lambdas (custom rules) and closures share their qualified name with others of
                # their kind: a distinct one keeps cached machine code apart (backends/symbols.py).
                distinct(clone, func.__qualname__, func.__code__.co_filename, func.__code__.co_firstlineno,
                         func.__code__.co_code, repr(func.__code__.co_consts),
                         [_content(c.cell_contents) for c in func.__closure__ or ()])
            # Registered before its callees are: numba compiles lazily, so mutual calls find it.
            _jitted_helpers[key] = (numba.njit(clone), func, callees)
            for name, value in callees.items():
                namespace[name] = jitted(value.primal if isinstance(value, CustomRule) else value)
    return _jitted_helpers[key][0]


def infer_types(pyfunc, argtypes, user_lines, filename, fname):
    """Return ``({variable: numba type}, return type)`` for ``pyfunc`` called with ``argtypes``."""
    flags = compiler.Flags()
    flags.nrt = True
    typingctx = cpu_target.typing_context
    targetctx = cpu_target.target_context
    typingctx.refresh()
    targetctx.refresh()
    pipeline = _TypeOnlyPipeline(typingctx, targetctx, None, tuple(argtypes), None, flags, {})
    try:
        pipeline.compile_extra(pyfunc)
    except AttributeError:
        pass  # the type-only pipeline has no lowering result to hand back; the state holds the types
    except numba_errors.NumbaError as exc:
        raise _user_error(exc, user_lines, filename, fname) from exc
    state = pipeline.state
    if state.typemap is None:  # pragma: no cover - defensive
        raise TypingError(f"numba could not type {fname}")
    return _unify_by_name(state.typemap, typingctx), state.return_type


def _unify_by_name(typemap, typingctx) -> dict:
    """numba's SSA versions (s, s.1, s.2) are one variable of adflow's: unify their types."""
    grouped: dict[str, list] = {}
    for var, ty in typemap.items():
        if var.startswith("$") or var.startswith("arg."):
            continue
        base = var.split(".")[0]
        grouped.setdefault(base, []).append(types.unliteral(ty))
    out = {}
    for base, tys in grouped.items():
        unified = tys[0]
        for ty in tys[1:]:
            if ty == unified:
                continue
            joined = typingctx.unify_pairs(unified, ty) or promoted_array(unified, ty)
            if isinstance(unified, PromotedArray) and isinstance(joined, types.Array):  # promoted stays promoted
                joined = PromotedArray(joined.dtype, joined.ndim, joined.layout)
            unified = joined if joined is not None else unified
        out[base] = unified
    return out


class PromotedArray(types.Array):
    """The type of a variable that holds float arrays of more than one dtype (``x *= 2.0`` on a float32
    ``x`` gives float64 in numba): arrays of the widest one.  What a tape saves of it is converted to
    that dtype, so that one tape holds every version (the reverse sweep then runs in the wider type)."""

    def __init__(self, dtype, ndim, layout):
        super().__init__(dtype, ndim, layout)
        self.name = f"promoted {self.name}"


def promoted_array(a, b):
    """A :class:`PromotedArray` for two float array types of one rank and different dtypes; else ``None``."""
    if not (isinstance(a, types.Array) and isinstance(b, types.Array) and a.ndim == b.ndim
            and isinstance(a.dtype, types.Float) and isinstance(b.dtype, types.Float)):
        return None
    dtype = numba.from_dtype(np.promote_types(numba.np.numpy_support.as_dtype(a.dtype),
                                              numba.np.numpy_support.as_dtype(b.dtype)))
    return PromotedArray(dtype, a.ndim, a.layout if a.layout == b.layout else "A")


def _user_error(exc, user_lines, filename, fname):
    text = str(exc)
    first = numba_summary(text)
    lineno = None
    match = re.search(r'File "<adflow[^"]*>", line (\d+)', text)
    if match:
        k = int(match.group(1)) - 1
        if 0 <= k < len(user_lines):
            lineno = user_lines[k]
    location = SourceLocation(filename, lineno, fname) if lineno else None
    return TypingError(
        f"numba cannot compile {fname} for these argument types: {first}",
        location,
        hint="adflow differentiates the numba-compilable subset of Python and NumPy; "
             "check that this line runs under numba.njit (numba's full report is the cause above)",
    )


def clean_message(text: str) -> str:
    """The first informative line of a numba error message, without its colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Failed in", "During:", "File", "[1m")):
            return line[:300]
    return text[:300]


def numba_summary(text: str, most: int = 3) -> str:
    """numba's message in short: its first informative line, then the failing signatures it names
    (``>>> exp(array(float64, 1d, C))``), each on its own line, at most ``most`` of them."""
    first = clean_message(text)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    signatures = list(dict.fromkeys(line.strip() for line in plain.splitlines() if line.strip().startswith(">>> ")))
    return first + "".join(f"\n    {line[:300]}" for line in signatures[:most])


# --------------------------------------------------------------------------- a disk cache of types
# Type inference compiles the NumPy implementations a function uses, which takes seconds the first
# time in a process.  The inferred types depend only on the normalised source, the argument types
# and the code of the helpers it calls, so they are cached on disk next to the generated modules.


def _code_fingerprint(func, digest, seen):
    if derivative_kind(func) is not None:  # adflow.grad(f): its options and f's code
        options = (derivative_kind(func), getattr(func, "wrt", None), getattr(func, "with_value", None))
        digest.update(repr(options).encode())
        func = derivative_function(func)
    py = getattr(func, "py_func", func)
    py = getattr(py, "primal", py)
    py = getattr(py, "py_func", py)
    if id(py) in seen or not hasattr(py, "__code__"):
        return
    seen.add(id(py))
    try:
        digest.update("".join(source_lines(py)[0]).encode())
    except (OSError, TypeError):
        digest.update(py.__code__.co_code)
    for name in py.__code__.co_names:
        value = py.__globals__.get(name)
        if callable(value) and (hasattr(value, "__code__") or hasattr(value, "py_func")
                                or derivative_kind(value) is not None):
            _code_fingerprint(value, digest, seen)


_PIPELINE = "no-dead-branch-prune|promoted-arrays"  # what _TypeOnlyPipeline runs: types cached by another are not reused


def type_cache_key(source, argtypes, namespace, helpers) -> str:
    digest = hashlib.sha256()
    # The runtime's fingerprint stands for the overloads that numba's typing of the source finds.
    digest.update(f"{modules.runtime_fingerprint()}|{numba.__version__}|{_PIPELINE}|{source}|{argtypes!r}".encode())
    for key in sorted(namespace):
        value = namespace[key]
        digest.update(key.encode())
        if isinstance(value, np.ndarray):
            digest.update(f"{value.dtype}{value.shape}".encode())
    seen: set = set()
    for key in sorted(helpers):
        digest.update(key.encode())
        _code_fingerprint(helpers[key], digest, seen)
    return digest.hexdigest()[:24]


def types_folder():
    """The folder of the type cache, inside the cache folder (``adflow.cache`` counts and clears it)."""
    return modules.cache_dir() / "types"


def _types_path(key):
    folder = types_folder()
    folder.mkdir(exist_ok=True)
    return folder / f"{key}.pkl"


def load_types(key):
    path = _types_path(key)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # a stale or partly written entry is recomputed
        return None


def store_types(key, value):
    path = _types_path(key)
    tmp = path.with_suffix(f".{os.getpid()}.{id(value)}.tmp")  # unique across test workers too
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh)
        tmp.replace(path)
    except Exception:  # caching is an optimisation; never fail a derivative because of it
        tmp.unlink(missing_ok=True)

"""Builds kept on disk, so that another process loads a generated module without transforming again.

A first call in a new process ran the front end, the transform, the passes over its output and
the printing of the module (half a second for Lorenz) only to write the file it then found in the
cache folder, numba's compiled code beside it.  Here a build is recorded under a key that names
everything its module depends on, and a later process with the same key imports the module,
gives it its namespace and hands it to the target; numba then loads its compiled code from disk.

The key hashes: adflow's own source files (any change to the transforms or the runtime makes new
keys), the versions of Python, NumPy and numba; the kind of build and its options (argument types,
``wrt``, chunk, driver, target, the passes switched off); and, for the function and every user
function it reaches (:func:`~adflow.frontend.namespace.reachable_user_functions`), its source text
and where it stands, and a description of every global or closure value its code reads (numbers
and strings by value, arrays by content, modules and functions by name).  A value it cannot
describe (an object of the user's class, say) makes the build uncached: it is made in full every
process, as before.

A record holds the module's file, the names of its functions, the return type, the user lines its
lines stand for (for compile errors) and, for each name of the module's namespace, how to find its
value again (a module, a global of one of those functions, a helper compiled by the target...).
Anything that cannot be found again when loading (a file removed, a name gone) means a full build.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import os
import pickle
import sys
import types as pytypes
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from ..backends import modules, vector_math
from ..frontend.namespace import is_user_function, names_read_by, python_functions, reachable_user_functions
from ..reverse import passes
from ..rules.custom import CustomRule, primal_of
from ..syntax import source

_ROOT = Path(__file__).resolve().parent.parent  # the adflow package


@functools.lru_cache(maxsize=1)
def adflow_fingerprint() -> str:
    """A hash of every source file of the adflow package (computed once per process)."""
    digest = hashlib.sha256()
    for path in sorted(_ROOT.rglob("*.py")):
        digest.update(path.relative_to(_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class Record:
    """What a later process needs to use a build without making it again."""

    path: str  # the generated module's file
    modname: str
    roles: dict  # what the build returns -> the generated function's name ("derivative", "gradient_only")
    functions: list  # the generated functions the target compiles
    threaded: list  # those whose rows run on several threads (compiled nogil)
    namespace: dict  # name -> how to find its value again (see _recipe)
    return_type: object  # numba type of the function's result
    locations: list = field(default_factory=list)  # per generated line, the user's line (SourceLocation or None)
    function_location: object = None


class Built:
    """What a build returns in place of :class:`~adflow.pipeline.prepared.Prepared` when loaded from
    disk: callers read the result type only."""

    def __init__(self, return_type):
        self.return_type = return_type


def key_of(kind: str, func, argtypes, options, target) -> str | None:
    """The key of a build, or None when something it depends on cannot be described."""
    if target.name != "cpu":
        return None  # the Python target's helpers are dual-capable wrappers; the device adapts modules
    parts = [adflow_fingerprint(), vector_math.fingerprint(), sys.version, np.__version__, numba.__version__,
             kind, repr(options), target.name, str(tuple(argtypes)), sorted(passes.off())]
    for obj in _callables(func):
        for py in python_functions(obj):
            try:
                lines, first = source.source_lines(py)
            except (OSError, TypeError):
                return None
            parts.append((py.__module__, py.__qualname__, py.__code__.co_filename, first, "".join(lines)))
            for _, name, value in names_read_by(py):
                described = _describe(value)
                if described is None:
                    return None
                parts.append((name, described))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _callables(func) -> list:
    """The function and every user function it reaches, in a fixed order (recipes index into it)."""
    return [func] + [value for _, _, value in reachable_user_functions(func)]


def _describe(value, depth=0):
    """A description of a value generated code may depend on, or None."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return ("value", repr(value))
    if isinstance(value, tuple) and depth < 3:
        parts = [_describe(v, depth + 1) for v in value]
        return None if None in parts else ("tuple", tuple(parts))
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
    if isinstance(value, np.generic):
        return ("scalar", str(value.dtype), repr(value))
    if isinstance(value, pytypes.ModuleType):
        return ("module", value.__name__)
    if source.derivative_kind(value) is not None:
        return None  # adflow.grad(f, wrt=...): its options decide the code, and they are not described here
    if isinstance(value, CustomRule) or is_user_function(value):
        return ("user", _qualified(primal_of(value)))  # its source is in the key: it is reachable
    named = _qualified(value)
    if named is not None and _find(named) is value:
        return ("object", named)
    return None


def _qualified(value):
    py = getattr(value, "py_func", value)
    module, qualname = getattr(py, "__module__", None), getattr(py, "__qualname__", None)
    if isinstance(value, np.ufunc):
        module, qualname = "numpy", value.__name__
    return (module, qualname) if isinstance(module, str) and isinstance(qualname, str) else None


def _find(named):
    module, qualname = named
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


# --------------------------------------------------------------------------------- recording

def record(key, func, target, module, path, roles, functions, threaded, namespace, return_type) -> None:
    """Write the record of a build just made (nothing when a namespace value has no recipe)."""
    if key is None:
        return
    callables = _callables(func)
    recipes = {}
    for name, value in namespace.items():
        recipe = _recipe(name, value, callables, target)
        if recipe is None:
            return
        recipes[name] = recipe
    rec = Record(str(path), module.__name__, dict(roles), list(functions), sorted(threaded), recipes, return_type,
                 list(getattr(module, "_ADFLOW_LOCATIONS", [])), getattr(module, "_ADFLOW_FUNCTION", None))
    try:
        data = pickle.dumps(rec)
    except Exception:  # noqa: BLE001 - a type or location that does not pickle: no record, nothing else
        return
    file = _file(key)
    tmp = file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, file)


def _recipe(name, value, callables, target):
    """How to find ``value`` (the module's global ``name``) again in another process, or None."""
    if isinstance(value, pytypes.ModuleType):
        return ("module", value.__name__)
    for k, obj in enumerate(callables):
        for wrapped in (obj, primal_of(obj)):
            if not (inspect.isfunction(wrapped) or isinstance(wrapped, numba.core.dispatcher.Dispatcher)):
                continue  # a custom rule, a bound method's stand-in: target.wrap takes the function they run
            if target.wrap(wrapped) is value:
                return ("wrap", k, wrapped is not obj)
    for k, obj in enumerate(callables):
        for j, py in enumerate(python_functions(obj)):
            if py.__globals__.get(name, _MISSING) is value:
                return ("global", k, j, name)
    if isinstance(value, (np.ndarray, bool, int, float, complex, str)):
        return ("value", value)
    named = _qualified(value)
    if named is not None and _find(named) is value:
        return ("object", named)
    return None


_MISSING = object()


# --------------------------------------------------------------------------------- loading

def load(key, func, target):
    """(module, its source text, the record) for a recorded build whose files are all there, or None."""
    if key is None:
        return None
    try:
        rec = pickle.loads(_file(key).read_bytes())
        path = Path(rec.path)
        text = path.read_text()
        callables = _callables(func)
        namespace = {name: _value(recipe, name, callables, target) for name, recipe in rec.namespace.items()}
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError,
            TypeError, ValueError):
        return None
    module = modules.import_file(path, rec.modname, namespace)
    module._ADFLOW_LOCATIONS = rec.locations
    module._ADFLOW_FUNCTION = rec.function_location
    target.compile(module, rec.functions, set(rec.threaded))
    return module, text, rec


def _value(recipe, name, callables, target):
    kind = recipe[0]
    if kind == "module":
        return importlib.import_module(recipe[1])
    if kind == "wrap":
        obj = callables[recipe[1]]
        return target.wrap(primal_of(obj) if recipe[2] else obj)
    if kind == "global":
        value = python_functions(callables[recipe[1]])[recipe[2]].__globals__.get(recipe[3], _MISSING)
        if value is _MISSING:
            raise KeyError(recipe[3])
        return value
    if kind == "value":
        return recipe[1]
    if kind == "object":
        value = _find(recipe[1])
        if value is None:
            raise KeyError(name)
        return value
    raise KeyError(name)


def records_folder() -> Path:
    """Where the records are kept: ``builds/`` in the cache folder (adflow.cache counts and clears it)."""
    return modules.cache_dir() / "builds"


def _file(key) -> Path:
    folder = records_folder()
    folder.mkdir(exist_ok=True)
    return folder / f"{key}.pkl"

"""Write generated modules to the cache folder and import them from there.

numba's ``cache=True`` needs a real source file, and tracebacks through a real file point at
real generated lines.  A module's file name carries a hash of its source, so a changed function
gets a new file and old compiled code is never picked up.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np
from numba.core import utils as numba_utils

from . import vector_math
from .cache_files import HELPER_PREFIX, MODULE_PREFIX, cache_dir, import_file, module_file  # noqa: F401 (modules.cache_dir...)

# numba compiles a function whose module it cannot import (a helper defined in exec'd code, or sent
# by value to a Dask worker from a module the worker does not have) against a stand-in module named
# '<dynamic>'.  Cached code that calls such a helper names that module, and loading the cache in
# another process imports it by name, which failed (ModuleNotFoundError).  The stand-in is the
# module numba means by the name (numba's own lookup falls back to it), so it is importable here.
sys.modules.setdefault(numba_utils._dynamic_modname, numba_utils._dynamic_module)

GENERATED_FILE = re.compile(r"^(?P<stem>.+_[0-9a-f]{20})\.py$")


class _GeneratedModules(importlib.abc.MetaPathFinder):
    """Imports a generated module by name from the cache folder, in a process that has not loaded it.

    numba's disk cache of one generated module's code can name another generated module (code of
    ``f``'s derivative that ``g``'s code reaches through a helper compiled as written), and loading
    it imports that module by name.  What numba reads there is the module's namespace, not its code:
    the functions are defined (the file holds imports and definitions only), without the names a
    build injects, which only a build that runs them needs (it loads the module itself, :func:`load`).
    """

    def find_spec(self, fullname, path=None, target=None):
        file = module_file(fullname)
        if file is None:
            return None
        if file.is_file():
            return importlib.util.spec_from_file_location(fullname, file)
        if fullname.startswith(HELPER_PREFIX):
            # Cached code of any jitted function that called a helper (adflow's np.sum(a, axis=1),
            # in the user's own njit(cache=True) function too) names the helper's module, and numba
            # imports it to rebuild that code's environment.  After adflow.cache.clear(), or once an
            # update renamed the helpers, the file is gone; the environment needs no name from a
            # helper's module (it holds one nopython function), so an empty module stands in.
            return importlib.machinery.ModuleSpec(fullname, _EmptyModule())
        return None


class _EmptyModule(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        pass


sys.meta_path.append(_GeneratedModules())


def module_key(source: str, namespace: dict) -> str:
    digest = hashlib.sha256(source.encode())
    for key in sorted(namespace):
        value = namespace[key]
        if isinstance(value, np.ndarray):  # numba freezes global arrays into the compiled code
            digest.update(key.encode())
            digest.update(value.tobytes())
    return digest.hexdigest()[:20]


# What a generated module imports (the header written by adflow/pipeline/build.py).  Its compiled
# code inlines the overloads of these modules and of every adflow module they import.
# (pipeline.compiled_derivative: the numba type of a derivative object called inside compiled code)
CALLED_MODULES = ("adflow.runtime", "adflow.duals", "adflow.backends.vector_math", "adflow.pipeline.compiled_derivative")
_ROOT = Path(__file__).resolve().parent.parent  # the adflow package


def _file_of(module: str) -> Path | None:
    path = _ROOT.parent.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(module: str, path: Path) -> set[str]:
    """The adflow modules ``module`` (in ``path``) imports at module level (adflow imports nothing
    inside functions: tests/test_layers.py), a name imported from a module counting as that module."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            base = ".".join(base + ([node.module] if node.module else []))
            found |= {f"{base}.{alias.name}" if _file_of(f"{base}.{alias.name}") else base for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m.split(".")[0] == "adflow" and _file_of(m) is not None}


def called_files() -> list[Path]:
    """The files of :data:`CALLED_MODULES` and of every adflow module they import, transitively."""
    seen, todo = set(), list(CALLED_MODULES)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imported(module, _file_of(module)))
    return sorted(_file_of(m) for m in seen)


@functools.lru_cache(maxsize=1)
def runtime_fingerprint() -> str:
    """A hash of the code generated functions call: :func:`called_files` and the vector math in use.

    numba's cache of a generated module does not see changes to what it calls (a moved or edited
    helper), so the module's key must; the key of the front end's type cache uses it too.

    Finding the called files parses them (a quarter of a second, in every process that loads a
    derivative from the disk cache), so the result is kept on disk under a stamp of every adflow
    file's size and modification time, which a process reads in milliseconds.
    """
    memo = fingerprints_folder() / _package_stamp()
    try:
        return memo.read_text()
    except OSError:
        pass
    fingerprint = _runtime_fingerprint()
    memo.parent.mkdir(parents=True, exist_ok=True)
    partial = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
    partial.write_text(fingerprint)
    os.replace(partial, memo)  # whole or absent, for a process reading it meanwhile
    return fingerprint


def fingerprints_folder() -> Path:
    """Where :func:`runtime_fingerprint` keeps its results (one small file per stamp)."""
    return cache_dir() / "fingerprints"


def primals_folder() -> Path:
    """Where numba caches user functions compiled on their own (targets/cpu.py: a Jacobian's run of
    ``f`` for its output's shape), rather than beside the user's files."""
    return cache_dir() / "primals"


def _package_stamp() -> str:
    """A hash of the path, size and modification time of every file of the adflow package, and of
    the vector math in use."""
    digest = hashlib.sha256()
    for path in sorted(_ROOT.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(_ROOT).as_posix()} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    digest.update(vector_math.fingerprint().encode())
    return digest.hexdigest()[:24]


def _runtime_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in called_files():
        digest.update(path.relative_to(_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(vector_math.fingerprint().encode())  # ADFLOW_VECTOR_MATH=0 must not reuse vector code
    return digest.hexdigest()[:12]


def load(stem: str, source: str, namespace: dict):
    """Import ``source`` as a module (written once to the cache folder) with ``namespace`` injected."""
    key = module_key(source + runtime_fingerprint(), namespace)
    path = cache_dir() / f"{stem}_{key}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    return import_file(path, f"{MODULE_PREFIX}{stem}_{key}", namespace), path



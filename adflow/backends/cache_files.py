"""The cache folder, and the modules adflow writes into it and imports from there.

numba's ``cache=True`` needs a real source file.  Generated derivatives are such modules
(:mod:`adflow.backends.modules` keys and loads them); so are the helpers adflow writes at run time
for compiled code, loop nests per number of dimensions (:func:`helper_function`): as modules, numba
caches their machine code too, and a new process loads it instead of compiling it again.  A first
call compiles dozens of such helpers, and each function numba compiles costs it a tenth of a second
or more.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

# Generated modules: the file <stem>_<key>.py in the cache folder, imported as adflow_generated_<stem>_<key>.
MODULE_PREFIX = "adflow_generated_"
HELPER_PREFIX = MODULE_PREFIX + "helper_"
HELPER_FILE_PREFIX = "adflow-helper-"  # no function name holds a hyphen, so no generated module starts so
# The jit options of an overload whose implementations are all helper_function's.
CACHED = {"cache": True}
_PACKAGE = Path(__file__).resolve().parent.parent  # the adflow package


def cache_dir() -> Path:
    base = os.environ.get("ADFLOW_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "adflow")
    path = Path(base)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".writable"
        probe.touch()
    except OSError:
        path = Path(tempfile.gettempdir()) / "adflow-cache"
        path.mkdir(parents=True, exist_ok=True)
    return path


def module_file(modname: str) -> Path | None:
    """The file in the cache folder of the generated module named ``modname`` (None: not adflow's)."""
    if modname.startswith(HELPER_PREFIX):
        return cache_dir() / f"{HELPER_FILE_PREFIX}{modname[len(HELPER_PREFIX):]}.py"
    if modname.startswith(MODULE_PREFIX):
        return cache_dir() / f"{modname[len(MODULE_PREFIX):]}.py"
    return None


def import_file(path, modname: str, namespace: dict):
    """Import the generated module at ``path`` as ``modname``, ``namespace`` injected."""
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(namespace)
    spec.loader.exec_module(module)
    module.__dict__.update(namespace)
    sys.modules[modname] = module
    return module


@functools.cache
def _package_fingerprint() -> str:
    # What a helper's namespace brings in (adflow's jitted functions, intrinsics) is adflow's code:
    # any change to the package gives every helper a new file, so stale machine code is never loaded.
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _describe(value) -> str:
    """What names a helper's namespace value: its module and qualified name (adflow's functions
    made from a template have distinct ones, backends/symbols.py), else its repr."""
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if name is None:
        return repr(value)
    return f"{getattr(value, '__module__', None)}.{name}"


def helper_function(source: str, namespace: dict, label: str, name: str = "impl"):
    """``name`` from ``source`` (which may use ``np``; ``namespace`` gives it anything else), written
    as a module in the cache folder and imported from there.  Return it from an overload registered
    with ``jit_options=CACHED`` (or :func:`overload_cached_apart`): numba then caches what it
    compiles from it.  The namespace must hold adflow's functions and NumPy's only: the module's
    key covers its text, what the namespace names, and adflow's code, not the user's."""
    tag = re.sub(r"\W+", "_", label).strip("_")[:40]
    text = "import numpy as np\n\n" + source
    names = "".join(f"{k}={_describe(v)};" for k, v in sorted(namespace.items()))
    key = hashlib.sha256((text + names + _package_fingerprint()).encode()).hexdigest()[:20]
    modname = f"{HELPER_PREFIX}{tag}_{key}"
    path = module_file(modname)
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return getattr(import_file(path, modname, namespace), name)


def is_helper(function) -> bool:
    """Whether ``function`` comes from :func:`helper_function` (a module numba can cache code of)."""
    return (getattr(function, "__module__", None) or "").startswith(HELPER_PREFIX)


def overload_cached_apart(register, typer) -> None:
    """Register ``typer`` through ``register`` (``functools.partial(overload, np.sin)``, or
    ``overload_method``'s) twice: the implementations it returns from :func:`helper_function` with
    numba's disk cache on, the others (lambdas, closures, which numba cannot cache) with it off."""
    @functools.wraps(typer)  # numba compares the typer's parameters with the implementation's
    def cached(*args, **kwargs):
        impl = typer(*args, **kwargs)
        return impl if is_helper(impl) else None

    @functools.wraps(typer)
    def uncached(*args, **kwargs):
        impl = typer(*args, **kwargs)
        return None if is_helper(impl) else impl

    register(jit_options=CACHED)(cached)
    register()(uncached)

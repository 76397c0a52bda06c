"""Write generated modules to the cache folder and import them from there.

numba's ``cache=True`` needs a real source file, and tracebacks through a real file point at
real generated lines.  A module's file name carries a hash of its source, so a changed function
gets a new file and old compiled code is never picked up.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from numba.core import utils as numba_utils

from . import vector_math

# numba compiles a function whose module it cannot import (a helper defined in exec'd code, or sent
# by value to a Dask worker from a module the worker does not have) against a stand-in module named
# '<dynamic>'.  Cached code that calls such a helper names that module, and loading the cache in
# another process imports it by name, which failed (ModuleNotFoundError).  The stand-in is the
# module numba means by the name (numba's own lookup falls back to it), so it is importable here.
sys.modules.setdefault(numba_utils._dynamic_modname, numba_utils._dynamic_module)


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


def module_key(source: str, namespace: dict) -> str:
    digest = hashlib.sha256(source.encode())
    for key in sorted(namespace):
        value = namespace[key]
        if isinstance(value, np.ndarray):  # numba freezes global arrays into the compiled code
            digest.update(key.encode())
            digest.update(value.tobytes())
    return digest.hexdigest()[:20]


@functools.lru_cache(maxsize=1)
def runtime_fingerprint() -> str:
    """Generated code calls adflow's runtime, its forward modules and the formulas of the rule tables
    (numba's cache of a generated module does not see changes to what it calls, so its key must)."""
    from .. import __version__
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    called = [root / "runtime.py", root / "backends" / "vector_math.py", root / "backends" / "symbols.py", *sorted((root / "forward").glob("*.py")),
              *sorted((root / "rules").glob("*.py"))]
    for path in called:
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
    modname = f"adflow_generated_{stem}_{key}"
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(namespace)
    spec.loader.exec_module(module)
    module.__dict__.update(namespace)
    sys.modules[modname] = module
    return module, path

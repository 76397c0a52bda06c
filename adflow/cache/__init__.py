"""The disk cache: what adflow keeps between runs, how big it is, and how to clear it.

adflow keeps, in one folder (``ADFLOW_CACHE_DIR``, by default ``$XDG_CACHE_HOME/adflow`` or
``~/.cache/adflow``):

* the generated modules, ``<function>_<hash>.py`` (the text ``.source`` shows);
* numba's compiled code for them (``__pycache__/`` there, or under ``NUMBA_CACHE_DIR`` when it is
  set), which makes a later run's first call a load instead of a compile;
* the types the front end inferred (``types/``);
* the records of builds (``builds/``), with which another process imports a generated module
  without transforming the function again (:mod:`adflow.pipeline.build_cache`);
* the fingerprint of adflow's runtime code per installed version of its files (``fingerprints/``),
  part of every module's key;
* numba's compiled code of user functions a Jacobian runs on their own for their output's shape
  (``primals/``).

A module's name carries a hash of its text, so nothing stale is ever loaded: clearing only frees
space (and makes the next first calls compile again).  Clear it while no other process is using it.

``print(adflow.cache.info())`` reads ``adflow cache /home/me/.cache/adflow: 12 generated modules,
3.4 MB``; ``adflow.cache.clear()`` deletes them.  From a shell: ``python -m adflow.cache`` (or
``info``) and ``python -m adflow.cache clear``.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from numba.core import caching, config

from ..backends import cache_files, modules
from ..frontend.typeinfer import types_folder
from ..pipeline import build_cache
from ..pipeline import cache as builds

# numba's files for a generated module are named after it: <stem>_<hash>.<function>-<line>.py311.nbi/.nbc
_COMPILED_FILE = re.compile(r"^.+_[0-9a-f]{20}\.")
# A module written but not yet renamed into place by a process that stopped: <stem>_<hash>.<pid>.tmp
_PARTIAL_FILE = re.compile(r"^.+_[0-9a-f]{20}\.\d+\.tmp$")


@dataclasses.dataclass(frozen=True)
class CacheInfo:
    """What the cache folder holds: ``entries`` generated modules (one per derivative built),
    ``bytes`` in all (the modules, numba's compiled code for them, the inferred types, and the
    ``helpers``: loop nests adflow's runtime writes for compiled code, shared by all derivatives)."""

    folder: Path
    entries: int
    bytes: int
    helpers: int = 0

    def __str__(self):
        helpers = f"{self.helpers} runtime helper{'s' if self.helpers != 1 else ''}, " if self.helpers else ""
        return (f"adflow cache {self.folder}: {self.entries} generated module{'s' if self.entries != 1 else ''}, "
                f"{helpers}{_size(self.bytes)}")


def folder() -> Path:
    """The cache folder in use (created if missing)."""
    return modules.cache_dir()


def compiled_folders() -> list[Path]:
    """Where numba keeps its compiled code for the generated modules: ``__pycache__`` in the cache
    folder, and the folder numba uses for it under ``NUMBA_CACHE_DIR`` when that is set."""
    base = folder()
    found = [base / "__pycache__"]
    if config.CACHE_DIR:
        found.append(Path(config.CACHE_DIR) / caching.UserProvidedCacheLocator.get_suitable_cache_subpath(
            str(base / "module.py")))
    return found


def _files():
    """(generated modules, runtime helpers, every file adflow keeps for them) in the cache folder."""
    base = folder()
    written = [p for p in base.iterdir() if p.is_file() and modules.GENERATED_FILE.match(p.name)]
    helpers = [p for p in written if p.name.startswith(cache_files.HELPER_FILE_PREFIX)]
    generated = [p for p in written if p not in helpers]
    kept = list(written)
    kept += [p for p in base.iterdir() if p.is_file() and _PARTIAL_FILE.match(p.name)]
    for place in compiled_folders():
        if place.is_dir():
            kept += [p for p in place.iterdir() if p.is_file() and _COMPILED_FILE.match(p.name)]
    types = types_folder()
    if types.is_dir():
        kept += [p for p in types.iterdir() if p.is_file() and p.suffix in (".pkl", ".tmp")]
    records = build_cache.records_folder()
    if records.is_dir():
        kept += [p for p in records.iterdir() if p.is_file() and p.suffix in (".pkl", ".tmp")]
    primals = modules.primals_folder()
    if primals.is_dir():
        kept += [p for p in primals.rglob("*") if p.is_file() and p.suffix in (".nbi", ".nbc")]
    fingerprints = modules.fingerprints_folder()
    if fingerprints.is_dir():
        kept += [p for p in fingerprints.iterdir() if p.is_file() and re.fullmatch(r"[0-9a-f]{24}(\.\d+\.tmp)?", p.name)]
    return generated, helpers, kept


def _bytes(paths) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:  # removed meanwhile by another process
            pass
    return total


def info() -> CacheInfo:
    """The cache folder, its number of generated modules and the bytes of everything kept for them.

    >>> import adflow
    >>> adflow.cache.info().entries >= 0
    True
    """
    generated, helpers, kept = _files()
    return CacheInfo(folder(), len(generated), _bytes(kept), len(helpers))


def clear() -> CacheInfo:
    """Delete every file adflow keeps in the cache folder, and forget this process's builds (the
    next call of a derivative builds it again); returns what was removed.  Files that are not
    adflow's are left alone, whatever the folder holds.
    """
    generated, helpers, kept = _files()
    removed = CacheInfo(folder(), len(generated), _bytes(kept), len(helpers))
    builds.clear()
    for path in kept:
        path.unlink(missing_ok=True)
    return removed


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # pragma: no cover - the loop returns


def main(argv=None) -> int:
    """``python -m adflow.cache [info | clear]``."""
    parser = argparse.ArgumentParser(prog="python -m adflow.cache",
                                     description="Show or clear adflow's disk cache (ADFLOW_CACHE_DIR).")
    parser.add_argument("command", nargs="?", choices=("info", "clear"), default="info",
                        help="info (the default): folder, generated modules, size; clear: delete them")
    args = parser.parse_args(argv)
    if args.command == "clear":
        removed = clear()
        print(f"removed {removed.entries} generated module{'s' if removed.entries != 1 else ''} "
              f"({_size(removed.bytes)}) from {removed.folder}")
    else:
        print(info())
    return 0

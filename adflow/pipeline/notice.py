"""A one-line notice on stderr while a long build runs in an interactive session.

A first call can spend seconds transforming and compiling; at a prompt that silence looks like a
hang.  Once a build has run for ``after`` seconds (2 by default) this line starts, and it ends
when the build does::

    adflow: building reverse mode of f(array(float64, 1d, C)), target cpu (first call with these argument types; later calls reuse it) ... done in 5.3 s

Only in an interactive session (the REPL, ``python -i``, IPython, Jupyter), never in scripts or
tests unless :func:`build_notices` says so; never while the logger ``adflow`` reports at
INFO (the log already says it); off with ``ADFLOW_QUIET=1`` or ``adflow.build_notices(False)``.
"""
from __future__ import annotations

import logging
import os
import sys
import threading

_SETTINGS = {"enabled": True, "after": 2.0, "interactive_only": True}


def build_notices(enabled: bool = True, *, after: float = 2.0, interactive_only: bool = True) -> None:
    """Say on stderr when a build of generated code takes longer than ``after`` seconds.

    On by default, in interactive sessions only (``interactive_only=False``: in scripts too).
    The environment variable ``ADFLOW_QUIET=1`` turns the notice off whatever this says.  For the
    time of every stage of every build, use the logger ``adflow`` (see the Errors and feedback page).

    >>> import adflow
    >>> adflow.build_notices(False)              # never
    >>> adflow.build_notices(True, after=10.0)   # only for builds longer than 10 s
    >>> adflow.build_notices()                   # the default: over 2 s, interactive sessions only
    """
    _SETTINGS.update(enabled=bool(enabled), after=float(after), interactive_only=bool(interactive_only))


def interactive_session() -> bool:
    """Whether a person is at a prompt: the REPL, ``python -i``, IPython or a Jupyter kernel."""
    if sys.flags.interactive or hasattr(sys, "ps1"):
        return True
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


def _wanted() -> bool:
    if os.environ.get("ADFLOW_QUIET", "") not in ("", "0") or not _SETTINGS["enabled"]:
        return False
    if _SETTINGS["interactive_only"] and not interactive_session():
        return False
    return not logging.getLogger("adflow").isEnabledFor(logging.INFO)


def start(what: str):
    """The notice of the build of ``what``, starting now; None where no notice is wanted."""
    return Notice(what, _SETTINGS["after"]) if _wanted() else None


class Notice:
    """One build's line: started by a timer after ``after`` seconds of build, ended by :meth:`finish`.

    The build pauses while it waits for its first call (numba compiles then); :meth:`resume` arms
    the timer again with the time left.
    """

    def __init__(self, what: str, after: float):
        self.what = what
        self.after = after
        self._lock = threading.Lock()
        self._shown = False
        self._done = False
        self._timer = None
        self._arm(after)

    def _arm(self, delay):
        self._timer = threading.Timer(max(delay, 0.0), self._show)
        self._timer.daemon = True
        self._timer.start()

    def _opening(self):
        return f"adflow: building {self.what} (first call with these argument types; later calls reuse it) ..."

    def _show(self):
        with self._lock:
            if self._done or self._shown:
                return
            self._shown = True
            sys.stderr.write(self._opening())
            sys.stderr.flush()

    def pause(self):
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def resume(self, elapsed: float):
        with self._lock:
            if not (self._done or self._shown):
                self._arm(self.after - elapsed)

    def finish(self, seconds: float, failed: bool = False):
        """End the line (or write all of it, if the build passed ``after`` before the timer fired)."""
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
            if not self._shown and seconds < self.after:
                return
            ending = f" failed after {seconds:.1f} s" if failed else f" done in {seconds:.1f} s"
            sys.stderr.write(("" if self._shown else self._opening()) + ending + "\n")
            sys.stderr.flush()

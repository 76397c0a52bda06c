"""Where a build's time goes: every build timed stage by stage and reported through ``logging``.

A build (``build_reverse``, ``build_forward``, ``build_row_blocks``, adflow.cuda's ``CudaBuild``)
opens a :class:`BuildReport` with :func:`build`; the code it runs marks its stages with
:func:`stage`.  A stage's time excludes the stages nested in it, so the stages add up to the
build's time.  numba compiles generated code when it is first called, after the build returned:
the report waits for that call (:func:`first_call`, from ``call_compiled`` and the CUDA launcher)
and adds numba's compile and disk-cache load, timed by numba's own events, before it is logged
on the logger ``adflow``.  After ``logging.basicConfig()`` and
``logging.getLogger("adflow").setLevel(logging.INFO)``, a first call prints::

    INFO:adflow: reverse mode of rosen(array(float64, 1d, C)), target cpu: 3.42 s = parse/normalize 0.04 s
    + type inference 0.61 s + transform 0.12 s + emit 0.01 s + module load 0.01 s + numba compile 2.63 s; first run 0.01 s

The record carries the report as ``record.build_report`` (:attr:`BuildReport.seconds` per stage).
A build nested in another (a helper's forward mode, built for the Python target) is logged at
DEBUG, and its time counts in its parent's stages too; so does a numba compilation of generated
code that no build waits for (a function of an earlier build first called now).
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from time import perf_counter

from numba.core import event as numba_event

from ..backends import modules
from . import notice

log = logging.getLogger("adflow")
log.addHandler(logging.NullHandler())  # a library's loggers print nothing unless asked

# The stages, in the order a build runs them.  "other" is the build's time outside every stage
# (argument checks, bookkeeping); "first run" is the first call's time outside numba, not a build stage.
STAGES = ("parse/normalize", "type cache load", "type inference", "transform", "emit", "module load",
          "numba cache load", "numba compile", "other")
FIRST_RUN = "first run"
# Reports waiting for the first call of their compiled code, by id of each compiled function.
# call_compiled tests it on every call (emptiness, then the id): the hot path pays that much.
AWAITING: dict = {}
_AWAITING_LOCK = threading.Lock()
_MOST_AWAITING = 32  # reports of builds never called are logged (without their compile) past this many


class BuildReport:
    """One build's time per stage (seconds, exclusive of nested stages), and what was built."""

    def __init__(self, what: str, nested: bool):
        self.what = what
        self.nested = nested
        self.seconds = dict.fromkeys(STAGES + (FIRST_RUN,), 0.0)
        self.kept = ()  # the compiled functions whose first call the report waits for
        self.failed = None  # the exception that ended the build, if one did
        self.notice = None  # the interactive notice (notice.py) of a long top-level build

    @property
    def total(self) -> float:
        """The build's time: every stage but the first run."""
        return sum(t for s, t in self.seconds.items() if s != FIRST_RUN)

    def summary(self) -> str:
        parts = " + ".join(f"{s} {self.seconds[s]:.2f} s" for s in STAGES if self.seconds[s] >= 0.005)
        text = f"{self.what}: {self.total:.2f} s" + (f" = {parts}" if parts else "")
        if self.seconds[FIRST_RUN]:
            text += f"; first run {self.seconds[FIRST_RUN]:.2f} s"
        if self.failed is not None:
            text += f"; failed: {type(self.failed).__name__}"
        return text


class _Frame:
    """A running stage: the reports its time goes to, its name, and when it last resumed."""

    __slots__ = ("reports", "stage", "since")

    def __init__(self, reports, stage, since):
        self.reports, self.stage, self.since = reports, stage, since

    def charge(self, now, stage=None):
        for report in self.reports:
            report.seconds[stage or self.stage] += now - self.since
        self.since = now


class _ThreadState(threading.local):
    def __init__(self):
        self.reports = []  # open reports, outermost first
        self.frames = []  # running stages, outermost first
        self.compiles = 0  # depth of numba:compile events
        self.compile_started = 0.0  # when the outermost one started
        self.compile_frame = False  # whether it pushed a stage
        self.compile_report = None  # the report it took from AWAITING (a first call not through first_call)
        self.locks = 0  # depth of the compiler lock
        self.lock_frame = False  # whether the outermost lock pushed a stage


_STATE = _ThreadState()


def _push(stage):
    now = perf_counter()
    frames = _STATE.frames
    if frames:
        frames[-1].charge(now)  # the enclosing stage pauses
    frames.append(_Frame(tuple(_STATE.reports), stage, now))


def _pop(stage=None):
    now = perf_counter()
    frames = _STATE.frames
    frames.pop().charge(now, stage)
    if frames:
        frames[-1].since = now  # and resumes


@contextmanager
def stage(name):
    """Time the enclosed code as stage ``name`` of the open builds (nothing outside a build)."""
    if not _STATE.reports:
        yield
        return
    _push(name)
    try:
        yield
    finally:
        _pop()


def current():
    """The innermost open report, or None."""
    return _STATE.reports[-1] if _STATE.reports else None


@contextmanager
def build(what: str):
    """Open a report for the build of ``what``; it is logged when the build and its first call end."""
    report = BuildReport(what, nested=bool(_STATE.reports))
    log.debug("building %s", what)
    _STATE.reports.append(report)
    _push("other")
    if not report.nested:
        report.notice = notice.start(what)
    try:
        yield report
    except BaseException as exc:
        report.failed = exc
        raise
    finally:
        _pop()
        _STATE.reports.pop()
        if report.kept and report.failed is None:
            _wait_for_first_call(report)
        else:
            _finish(report)


def await_first_call(functions):
    """The open build's compiled ``functions`` (numba compiles them when first called): its
    report waits for the first call of one of them.  Plain Python functions are not waited for."""
    report = current()
    if report is not None:
        report.kept = tuple(report.kept) + tuple(f for f in functions if hasattr(f, "py_func"))


def _wait_for_first_call(report):
    if report.notice is not None:
        report.notice.pause()
    with _AWAITING_LOCK:
        for function in report.kept:
            AWAITING[id(function)] = report
        stale = list(dict.fromkeys(AWAITING.values()))[:-_MOST_AWAITING]
        for old in stale:
            _stop_waiting(old)
    for old in stale:  # built, never called: said without the compile
        _finish(old)


def _stop_waiting(report):
    for function in report.kept:
        if AWAITING.get(id(function)) is report:
            del AWAITING[id(function)]


def _take_waiting(function):
    """The report waiting for the first call of ``function``, no longer waiting; or None."""
    with _AWAITING_LOCK:  # two threads making the first call: one of them times it
        report = AWAITING.get(id(function))
        if report is not None:
            _stop_waiting(report)
    if report is not None and report.notice is not None:
        report.notice.resume(report.total)
    return report


@contextmanager
def first_call(function):
    """Run the enclosed call of ``function``; if a report waits for it, time numba's work in it."""
    report = _take_waiting(function)
    if report is None:
        yield
        return
    hits = _cache_hits(function)
    _STATE.reports.append(report)
    _push(FIRST_RUN)
    try:
        yield
    except BaseException as exc:
        report.failed = exc
        raise
    finally:
        _pop()
        _STATE.reports.pop()
        if hits is not None and _cache_hits(function) == hits:
            # Nothing came from the disk cache: the compiler lock's time outside numba's compile
            # events (typing the call, or all of a compile that sent no event) was compiling.
            report.seconds["numba compile"] += report.seconds["numba cache load"]
            report.seconds["numba cache load"] = 0.0
        _finish(report)


def _cache_hits(function):
    """How many of ``function``'s compilations numba loaded from its disk cache (None: unknown)."""
    try:
        return sum(function.stats.cache_hits.values())
    except (AttributeError, TypeError):
        return None


def _finish(report):
    if report.notice is not None:
        report.notice.finish(report.total, report.failed is not None)
    log.log(logging.DEBUG if report.nested else logging.INFO, "%s", report.summary(),
            extra={"build_report": report})


def _compile_started(event):
    """numba's compilations (outermost only) are a stage of the open builds.  A compilation of code
    a build waits for, called without :func:`first_call`, ends that build's report (without the
    disk-cache load, which numba does before this event); one no build waits for is a DEBUG record."""
    _STATE.compiles += 1
    if _STATE.compiles > 1:
        return
    _STATE.compile_started = perf_counter()
    if not _STATE.reports:
        report = _take_waiting(_dispatcher(event))
        if report is not None:
            _STATE.reports.append(report)
            _STATE.compile_report = report
    _STATE.compile_frame = bool(_STATE.reports)
    if _STATE.compile_frame:
        _push("numba compile")


def _compile_ended(event):
    _STATE.compiles -= 1
    if _STATE.compiles:
        return
    if _STATE.compile_frame:
        _STATE.compile_frame = False
        _pop()
        report, _STATE.compile_report = _STATE.compile_report, None
        if report is not None:
            _STATE.reports.pop()
            _finish(report)
        return
    py_func = getattr(_dispatcher(event), "py_func", None)
    if (getattr(py_func, "__module__", None) or "").startswith(modules.MODULE_PREFIX):
        log.debug("numba compiled %s in %.2f s (generated code of an earlier build, first called now)",
                  py_func.__qualname__, perf_counter() - _STATE.compile_started)


def _dispatcher(event):
    return event.data.get("dispatcher") if isinstance(event.data, dict) else None


def _lock_started(event):
    """numba's compiler lock during a first call: outside a compilation it is a disk-cache load."""
    _STATE.locks += 1
    frames = _STATE.frames
    if _STATE.locks == 1 and frames and frames[-1].stage == FIRST_RUN:
        _push("numba cache load")
        _STATE.lock_frame = True


def _lock_ended(event):
    _STATE.locks -= 1
    if _STATE.locks == 0 and _STATE.lock_frame:
        _STATE.lock_frame = False
        _pop()


def _listener(events, on_start, on_end):
    """A listener of ``events`` (each event module checks that its listeners derive from its own class)."""
    cls = type("AdflowBuildListener", (events.Listener,),
               {"on_start": lambda self, event: on_start(event), "on_end": lambda self, event: on_end(event)})
    return cls()


_WATCHED = set()


def watch_numba(events=numba_event, prefix="numba"):
    """Listen to the compile events of ``events`` (numba's, or numba-cuda's own event module, whose
    compiler lock is named ``numba-cuda:compiler_lock``); once per module."""
    if events.__name__ in _WATCHED:
        return
    _WATCHED.add(events.__name__)
    events.register(f"{prefix}:compile", _listener(events, _compile_started, _compile_ended))
    events.register(f"{prefix}:compiler_lock", _listener(events, _lock_started, _lock_ended))


watch_numba()

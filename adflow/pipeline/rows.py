"""Rows over threads: a driver that computes rows ``lo`` to ``hi`` (``drivers.*.splits_rows``) is
called on ranges of rows from a pool of threads.

The drivers are compiled ``nogil``, so the threads run at once.  numba's ``prange`` did the same
inside the compiled loop, but compiling a parallel loop around a large row function took seconds
more per build, for a loop that a pool can split from outside.

A call uses as many threads as numba may (``numba.set_num_threads`` limits both), and is split
only where it is worth waking threads: where the driver's last call on one thread, per row, says
this one would take longer than ``SPLIT_ABOVE`` seconds.  So the first call (which compiles) runs
on the calling thread.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time

import numba

from .compile_errors import call_compiled

SPLIT_ABOVE = 200e-6  # seconds: waking a thread and joining it costs tens of microseconds

_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()
_SECONDS_PER_ROW: dict = {}  # id(driver) -> its last call on one thread, per row


def over_rows(driver, args, n, granule=1, call=call_compiled):
    """``driver(*args, lo, hi)`` for rows 0 to ``n``, in ranges that start at multiples of ``granule``
    (a driver over blocks of rows keeps its blocks), spread over threads where that pays.  ``call``
    makes each call (the default turns numba's refusals into adflow's errors)."""
    threads = numba.get_num_threads()
    parts = _parts(n, granule, threads)
    if len(parts) < 2 or _SECONDS_PER_ROW.get(id(driver), 0.0) * n < SPLIT_ABOVE:
        start = time.perf_counter()
        call(driver, *args, 0, n)
        _SECONDS_PER_ROW[id(driver)] = (time.perf_counter() - start) / max(n, 1)
        return
    pool = _pool(threads)
    others = [pool.submit(call, driver, *args, lo, hi) for lo, hi in parts[1:]]
    try:
        call(driver, *args, *parts[0])
    finally:
        for future in others:
            future.result()  # re-raises a part's error here


def _parts(n, granule, threads):
    """Up to ``threads`` contiguous ranges covering 0..n, each a whole number of granules but the last."""
    granules = -(-n // granule)
    count = max(1, min(threads, granules))
    bounds = [min(n, (granules * k // count) * granule) for k in range(count + 1)]
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]


def _pool(threads):
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < threads:
            _POOL, _POOL_SIZE = concurrent.futures.ThreadPoolExecutor(threads, "adflow-rows"), threads
        return _POOL

"""Process-wide lifecycle helpers: serving a script's schedulers until Ctrl-C, one GC pass, and
what ``stop()`` returns."""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastscheduler._runtime import Runtime

__all__ = ["STARTED", "StopHandle", "collect_once", "serve_at_exit"]

#: Schedulers (their runtimes) started in this process, weakly held: test suites stop the ones a
#: test left running.
STARTED: weakref.WeakSet[Runtime] = weakref.WeakSet()
_AT_EXIT_REGISTERED = False
_COLLECTED = False


def collect_once() -> None:
    """One full garbage collection, at the first ``start()`` of the process, once its jobs are
    armed and before the engine starts (so it delays no fire, and the records loaded to arm them
    are gone): the collector's first full pass over what the program made while starting up
    otherwise tends to fall into the first burst of runs. Once per process, since it
    costs most in a process that imported much (benches/README_scheduler.md has the numbers)."""
    global _COLLECTED
    if not _COLLECTED:
        _COLLECTED = True
        gc.collect()


def serve_at_exit() -> None:
    """Register (once per process, from the main thread) :func:`_serve_until_stopped` to run when
    the main thread's script ends, before Python joins threads. It holds no scheduler: it finds
    them in ``STARTED`` then, so a scheduler that was stopped and dropped can be freed."""
    global _AT_EXIT_REGISTERED
    if not _AT_EXIT_REGISTERED:
        threading._register_atexit(_serve_until_stopped)  # type: ignore[attr-defined]
        _AT_EXIT_REGISTERED = True


def _serve_until_stopped() -> None:
    """A script whose last statement is ``scheduler.start()`` keeps running its jobs: wait until
    every scheduler started from the main thread and still running is stopped; Ctrl-C or SIGTERM
    stops them gracefully (waiting for their runs), with no traceback."""
    serving = [s for s in list(STARTED) if s.running and s.serve_at_exit]
    if not serving:
        return
    previous = {}

    def handle(signum: int, _frame: object) -> None:
        for scheduler in serving:
            scheduler.stop(True, 30)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or unsupported
            previous[sig] = signal.signal(sig, handle)
    try:
        for scheduler in serving:
            scheduler.stopped.wait()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class StopHandle:
    """What ``stop()`` returns: already finished when ``stop()`` was called from sync code, and
    awaitable in both cases, so ``scheduler.stop()`` and ``await scheduler.stop()`` both work."""

    def __init__(self, finish: Callable[[], Awaitable[None]] | None = None) -> None:
        self._finish = finish

    def __await__(self) -> Generator[Any, None, None]:
        if self._finish is not None:
            finish, self._finish = self._finish, None
            yield from finish().__await__()

"""The executor interface."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NamedTuple

from fastscheduler._core import Run


class RunOutcome(NamedTuple):
    """How one attempt ended. ``error`` is set on failure (any ``BaseException`` the job raised,
    or ``TimeoutError`` when it overran its timeout).

    A tuple: the cycle collector stops tracking a tuple of plain values at its first pass, so
    10,000 outcomes waiting to be recorded do not make it walk them again and again."""

    started_at: float
    finished_at: float
    error: BaseException | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


Done = Callable[[RunOutcome], None]


class Once:
    """Calls ``done`` for the first outcome only (a timeout, a cancellation at ``stop()`` and the
    run's own end race to report)."""

    def __init__(self, done: Done) -> None:
        self._done: Done | None = done
        self._lock = threading.Lock()

    def __call__(self, outcome: RunOutcome) -> None:
        with self._lock:
            done, self._done = self._done, None
        if done is not None:
            done(outcome)


class Executor(ABC):
    """Runs runs (:class:`fastscheduler._core.Run`, made by the scheduler for each attempt of a
    job) and reports each one's outcome exactly once, through ``run.report`` (or ``run.execute``,
    which reports itself). ``run.call()`` calls the job's function with ``current_run()`` set (an
    async job's returns the coroutine to await); ``run.timeout`` is its timeout, or None."""

    @abstractmethod
    def start(self) -> None:
        """Get ready to accept work (called by ``FastScheduler.start``)."""

    @abstractmethod
    def submit(self, run: Run) -> None:
        """Run ``run``; report its outcome once, when it ends or times out."""

    @abstractmethod
    def shutdown(self, wait: bool, timeout: float | None) -> None:
        """Stop accepting work; with ``wait``, wait up to ``timeout`` seconds (None: no limit) for
        running work, and return by then. Work still running afterwards is ended where it can be
        (and reported as such) or left to finish (and reported when it does): never dropped."""

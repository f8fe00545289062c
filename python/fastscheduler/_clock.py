"""Clocks. The scheduler reads time only through one, so tests can drive it by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SystemClock:
    """Wall-clock time (epoch seconds). The engine thread waits on it."""

    manual = False

    #: ``time.time`` itself, not a method around it: read twice per run by the executors, and a
    #: Python frame per read cost 0.08 us a run.
    now = staticmethod(time.time)


class ManualClock:
    """A clock that moves only when told to. With it, the scheduler starts no engine thread:
    ``advance()`` runs everything that became due, in order, and waits for those runs to finish.
    """

    manual = True

    def __init__(self, start: float = 1_780_000_000.0, *, wait_for_runs: bool = True) -> None:
        self._now = start
        #: Whether ``advance`` waits for the runs it starts (set False to test overlapping runs).
        self.wait_for_runs = wait_for_runs
        self._lock = threading.Lock()
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self._now

    def attach(self, on_advance: Callable[[float], None]) -> None:
        """Register a callback run after every move (the scheduler's "run what is due")."""
        self._listeners.append(on_advance)

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``, stopping at every due time on the way; returns the new now."""
        return self.advance_to(self._now + seconds)

    def advance_to(self, target: float) -> float:
        """Move to ``target``; each attached scheduler runs what falls due on the way."""
        with self._lock:
            if target < self._now:
                raise ValueError(f"a manual clock cannot go back in time ({target} < {self._now})")
        for cb in list(self._listeners):
            cb(target)
        self._now = target
        return self._now

    def set(self, t: float) -> None:
        """Set the time (used by the scheduler while it steps through due times)."""
        self._now = t

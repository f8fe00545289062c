"""The executor interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple


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


class Executor(ABC):
    """Runs job callables and reports each outcome exactly once through ``done``."""

    @abstractmethod
    def start(self) -> None:
        """Get ready to accept work (called by ``FastScheduler.start``)."""

    @abstractmethod
    def submit(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        done: Done,
    ) -> None:
        """Run ``func(*args, **kwargs)``; call ``done(outcome)`` once when it ends or times out."""

    @abstractmethod
    def shutdown(self, wait: bool, timeout: float | None) -> None:
        """Stop accepting work; with ``wait``, wait up to ``timeout`` seconds for running work."""

"""Retrying I/O: one helper, built on :class:`~fastscheduler.Backoff`, for every loop that talks
to a store or a database and must ride out an outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from fastscheduler._core import Backoff

__all__ = ["Outage", "retry"]

T = TypeVar("T")


class Outage:
    """The delays of one outage: after the n-th failure in a row, ``backoff.delay(n)``; a success
    ends the outage (the next failure waits ``backoff.base`` again)."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures = 0

    def failed(self) -> float:
        """One more failure in a row: how long to wait before the next try."""
        self.failures += 1
        return self.backoff.delay(self.failures)

    def succeeded(self) -> None:
        self.failures = 0


def retry(
    operation: Callable[[], T],
    *,
    tries: int,
    backoff: Backoff,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    what: str,
    logger: logging.Logger,
    describe: Callable[[BaseException], str] = str,
) -> T:
    """``operation()``, tried up to ``tries`` times while it raises ``retry_on``, waiting
    ``backoff.delay(n)`` after the n-th failure. Each failure but the last is logged at DEBUG;
    the last one propagates."""
    for attempt in range(1, tries + 1):
        try:
            return operation()
        except retry_on as exc:
            if attempt >= tries:
                raise
            logger.debug("fastscheduler: %s (try %d of %d): %s", what, attempt, tries, describe(exc))
            time.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")  # tries >= 1

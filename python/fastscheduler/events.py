"""Typed scheduler events and the broker that delivers them to subscribers.

The dashboard and metrics subscribe here. Delivery is synchronous on the thread that published
the event; a subscriber that raises is logged and does not affect the scheduler or the others.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("fastscheduler")


class EventType(str, enum.Enum):
    """What happened; each event's ``data`` holds (times are epoch seconds):

    - ``job_added``: ``schedule``. ``job_removed``, ``job_paused``, ``job_resumed``: nothing.
    - ``job_started`` (an attempt was handed to its executor): ``attempt``, ``scheduled_time``.
    - ``job_succeeded``, ``job_retrying`` (an attempt failed and another follows) and
      ``job_dead_lettered`` (a run's last attempt failed) end one attempt each: ``attempt``,
      ``scheduled_time`` (the fire's), ``started_at`` and ``finished_at`` (the attempt's); a
      failure adds ``error`` (``"Type: message"``) and ``exception`` (the exception itself, with
      its traceback); ``job_retrying`` adds ``delay`` (seconds until the next attempt) and
      ``job_dead_lettered`` ``attempts`` (the same as ``attempt``).
    - ``job_failed`` (just before ``job_dead_lettered``, for the same attempt): ``attempt``,
      ``error``, ``exception``.
    - ``job_missed``: ``count`` (fires not run), ``reason``, ``scheduled_time``.
    - ``dead_letters_cleared``: ``cleared`` (how many). ``scheduler_started``,
      ``scheduler_stopped``: nothing. ``state_saved``: what the write held (``jobs``,
      ``deleted``, ``history``, ``dead_letters`` counts, ``total_runs``).

    docs/observability.md shows how to send them to logging, Sentry and the like.
    """

    JOB_ADDED = "job_added"
    JOB_REMOVED = "job_removed"
    JOB_PAUSED = "job_paused"
    JOB_RESUMED = "job_resumed"
    JOB_STARTED = "job_started"
    JOB_SUCCEEDED = "job_succeeded"
    JOB_FAILED = "job_failed"
    JOB_RETRYING = "job_retrying"
    JOB_MISSED = "job_missed"
    JOB_DEAD_LETTERED = "job_dead_lettered"
    DEAD_LETTERS_CLEARED = "dead_letters_cleared"
    SCHEDULER_STARTED = "scheduler_started"
    SCHEDULER_STOPPED = "scheduler_stopped"
    STATE_SAVED = "state_saved"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened. ``data`` carries the event's details (run outcome, error...)."""

    type: EventType
    job_id: str | None = None
    timestamp: float = field(default_factory=time.time)
    data: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], object]


class EventBroker(ABC):
    """Delivers events to subscribers."""

    @abstractmethod
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns an unsubscribe function."""

    @abstractmethod
    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every current subscriber."""

    def has_subscribers(self) -> bool:
        """Whether :meth:`publish` would reach anyone (publishers may skip building an event if not).
        The default, True, is always correct."""
        return True


class LocalEventBroker(EventBroker):
    """In-process broker: subscribers are called in subscription order on the publishing thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()
        self._watchers: tuple[Callable[[], None], ...] = ()

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every subscribe and unsubscribe (the scheduler uses it to know
        when registering a job must publish an event)."""
        with self._lock:
            self._watchers = (*self._watchers, callback)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, callback)
        self._changed()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)
            self._changed()

        return unsubscribe

    def _changed(self) -> None:
        for watcher in self._watchers:  # outside the lock: a watcher may take locks of its own
            watcher()

    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def publish(self, event: Event) -> None:
        for sub in self._subscribers:  # a snapshot: the tuple is replaced, never mutated
            try:
                sub(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", sub, event.type.value)

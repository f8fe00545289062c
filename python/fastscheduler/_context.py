"""``current_run()``: which fire a job's code is running for."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run a job's code is executing: its job, the fire it belongs to (``scheduled_time``, epoch
    seconds; the request time for a run-now), the attempt (1, then 2, 3 ... for retries) and the
    scheduler instance running it (``None`` outside a cluster)."""

    job_id: str
    scheduled_time: float
    attempt: int
    instance_id: str | None = None


_CURRENT: contextvars.ContextVar[RunInfo | None] = contextvars.ContextVar("fastscheduler_run", default=None)


def current_run() -> RunInfo | None:
    """The :class:`RunInfo` of the run calling this (from a job's function, sync or async, and from
    code it calls on the same thread or task); ``None`` elsewhere."""
    return _CURRENT.get()


def bind_sync(info: RunInfo, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` wrapped so that :func:`current_run` returns ``info`` while it runs."""

    def call(*args: Any, **kwargs: Any) -> Any:
        token = _CURRENT.set(info)
        try:
            return func(*args, **kwargs)
        finally:
            _CURRENT.reset(token)

    return call


def bind_async(info: RunInfo, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The coroutine function ``func`` wrapped like :func:`bind_sync` (the value is set inside the
    task that awaits it)."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        token = _CURRENT.set(info)
        try:
            return await func(*args, **kwargs)
        finally:
            _CURRENT.reset(token)

    return call

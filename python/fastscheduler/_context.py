"""``current_run()``: which fire a job's code is running for."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastscheduler._core import bind_run


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run a job's code is executing: its job, the fire it belongs to (``scheduled_time``, epoch
    seconds; the request time for a run-now), the attempt (1, then 2, 3 ... for retries) and the
    scheduler instance running it (``None`` outside a cluster)."""

    job_id: str
    scheduled_time: float
    attempt: int
    instance_id: str | None = None


# What a run sets: a tuple starting (job, scheduled_time, attempt, instance_id, ...), the job being
# anything with a ``job_id`` (the scheduler passes its whole run record, which has more fields
# after these). A plain tuple, so starting a run costs a tuple and one small callable (see
# :func:`bind`), not a dataclass and a closure (~2.5 µs), and the job's id is spelled out only
# when asked: :func:`current_run` builds the :class:`RunInfo`.
_Raw = tuple[Any, ...]
_CURRENT: contextvars.ContextVar[_Raw | None] = contextvars.ContextVar("fastscheduler_run", default=None)


def current_run() -> RunInfo | None:
    """The :class:`RunInfo` of the run calling this (from a job's function, sync or async, and from
    code it calls on the same thread or task); ``None`` elsewhere."""
    raw = _CURRENT.get()
    return None if raw is None else RunInfo(raw[0].job_id, raw[1], raw[2], raw[3])


async def _call_async(raw: _Raw, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    token = _CURRENT.set(raw)
    try:
        return await func(*args, **kwargs)
    finally:
        _CURRENT.reset(token)


def bind(raw: _Raw, func: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """``func`` (a coroutine function if ``is_async``) wrapped so that :func:`current_run` returns
    the run ``raw`` describes while it runs (for async: inside the task that awaits it).

    Sync functions get a :class:`fastscheduler._core.RunCall`, which sets and resets the context
    variable around the call as a ``try``/``finally`` would, and which the cycle collector does not
    track (thousands of runs queued at once otherwise set off full collections)."""
    if is_async:
        return functools.partial(_call_async, raw, func)
    return bind_run(_CURRENT, raw, func)

"""``current_run()``: which fire a job's code is running for."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from fastscheduler._core import Run, run_context_var


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run a job's code is executing: its job, the fire it belongs to (``scheduled_time``, epoch
    seconds; the request time for a run-now), the attempt (1, then 2, 3 ... for retries) and the
    scheduler instance running it (``None`` outside a cluster)."""

    job_id: str
    scheduled_time: float
    attempt: int
    instance_id: str | None = None


# The variable a run sets while the job's code runs: the :class:`fastscheduler._core.Run` (its job,
# fire, attempt and instance). It lives in the Rust extension, which sets and resets it around a
# sync call without a Python frame; the job's id is spelled out only when asked.
_CURRENT: contextvars.ContextVar[Run | None] = run_context_var()


def current_run() -> RunInfo | None:
    """The :class:`RunInfo` of the run calling this (from a job's function, sync or async, and from
    code it calls on the same thread or task); ``None`` elsewhere."""
    run = _CURRENT.get()
    return None if run is None else RunInfo(run.job.job_id, run.scheduled, run.attempt, run.instance_id)


async def _call_async(run: Run) -> Any:
    """What ``run.call()`` returns for an async job: the job's coroutine, awaited with
    :func:`current_run` describing ``run`` inside the task that awaits it."""
    token = _CURRENT.set(run)
    try:
        job = run.job
        return await job.func(*job.args, **job.kwargs)
    finally:
        _CURRENT.reset(token)

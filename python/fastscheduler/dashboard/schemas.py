"""Pydantic models of the dashboard's HTTP API (they make ``/openapi.json`` describe every route).

Record fields follow the scheduler's ``get_jobs``/``get_history``/``get_dead_letters`` keys (the
original fastscheduler 0.2.x names, plus more). Output models ignore keys they don't know, so a
scheduler that adds fields does not break the API; statuses are plain strings for the same reason.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

#: One name for a job everywhere: its jobs, history and dead-letter records.
_NAME = "the job's name: .name() if given, else the function's name"


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JobFilterStatus(str, enum.Enum):
    """Job states accepted by ``GET /api/jobs?status=``."""

    scheduled = "scheduled"
    running = "running"
    paused = "paused"
    completed = "completed"
    failed = "failed"
    missed = "missed"


class RunStatus(str, enum.Enum):
    """Run outcomes accepted by ``GET /api/history?status=``."""

    completed = "completed"
    failed = "failed"
    missed = "missed"


class Job(_Out):
    """A job as ``get_jobs()`` lists it."""

    job_id: str
    func_name: str
    name: str = Field(description=_NAME)
    status: str = Field(description="scheduled, running, paused, completed, failed or missed")
    schedule: str = Field(description="the schedule in words")
    next_run: str | None = Field(None, description="local time text")
    next_run_in: float | None = Field(None, description="seconds until the next run")
    next_run_timestamp: float | None = Field(None, description="epoch seconds")
    run_count: int = 0
    failure_count: int = 0
    retry_count: int = 0
    paused: bool = False
    running: bool = False
    last_run: str | None = None
    last_run_timestamp: float | None = None
    last_results: list[str] = Field(default_factory=list, description="the last 5 outcomes, oldest first")
    kind: str | None = Field(None, description="interval, cron or date")
    tz: str | None = None
    cron: str | None = Field(None, description="the cron expression of a cron job (daily, weekly ... too)")
    interval: float | None = Field(None, description="an interval job's interval, seconds")
    at: float | None = Field(None, description="a one-shot job's time, epoch seconds")
    retries: int | None = None
    catch_up: bool | None = None


class JobDetail(Job):
    """A job as ``get_job()`` returns it (with its timeout), and its next fire times."""

    timeout: float | None = None
    timeout_kill: bool | None = None
    next_runs: list[float] = Field(
        default_factory=list,
        description="the next fire times (epoch seconds, soonest first, as many as `next` asks for): "
        "the scheduler's next run, then those its schedule gives after it",
    )
    next_runs_note: str | None = Field(
        None, description="why there are fewer fire times than asked for (e.g. a one-shot job)"
    )


class JobsPage(_Out):
    """``GET /api/jobs``: the matching jobs (soonest next run first), one page of them."""

    jobs: list[Job]
    total: int = Field(description="how many jobs match the filters")
    offset: int
    limit: int | None


class JobEnvelope(_Out):
    """``GET /api/jobs/{job_id}``."""

    job: JobDetail


class ActionResult(_Out):
    """What an action (run, pause, resume, cancel) did."""

    success: bool
    job_id: str
    message: str


class Error(_Out):
    """An error. ``detail`` is FastAPI's key; the API's own errors repeat it as ``error`` (the
    original's key) and name the ``job_id``."""

    detail: str
    error: str | None = None
    job_id: str | None = None


class HistoryEntry(_Out):
    """One finished (or missed) run."""

    job_id: str
    func_name: str
    name: str = Field(description=_NAME)
    status: str = Field(description="completed, failed or missed")
    timestamp: float = Field(description="when the run ended, epoch seconds")
    timestamp_readable: str | None = None
    error: str | None = None
    run_count: int = 0
    retry_count: int = 0
    execution_time: float | None = Field(None, description="seconds")
    scheduled_time: float | None = None
    attempt: int = 1


class HistoryPage(_Out):
    """``GET /api/history``: newest first."""

    history: list[HistoryEntry]
    total: int = Field(description="how many entries match the filters")
    offset: int
    limit: int


class DeadLetter(_Out):
    """An execution that failed on every attempt."""

    job_id: str
    func_name: str
    name: str = Field(description=_NAME)
    error_type: str
    error_message: str
    error: str = Field(
        description="the original's key, as it read: 'Max retries exceeded: <error_type>: <error_message>'"
    )
    traceback: str
    attempts: int
    executed_at: float
    timestamp: float = Field(description="same as executed_at (the original's key)")
    timestamp_readable: str | None = Field(None, description="executed_at as local time text")
    status: str = Field("failed", description="always failed (the original's key)")
    run_count: int = Field(0, description="the job's run count when it was dead-lettered")
    retry_count: int = Field(0, description="retries of this execution: attempts - 1")
    execution_time: float | None = Field(None, description="the last attempt's duration, seconds")
    first_attempt_at: float
    scheduled_time: float | None = None


class DeadLetters(_Out):
    """``GET /api/dead-letters``: newest first."""

    dead_letters: list[DeadLetter]
    total: int = Field(description="how many dead letters match (are stored, without `job`)")


class Cleared(_Out):
    """``DELETE /api/dead-letters``."""

    success: bool
    cleared: int


class JobCounts(_Out):
    completed: int = 0
    failed: int = 0
    total_runs: int = 0


class Statistics(_Out):
    """``get_statistics()``: totals, uptime and per-job counts."""

    total_runs: int
    total_failures: int
    total_retries: int = 0
    total_missed: int = 0
    total_attempts: int = 0
    success_rate: float = Field(description="percent, 0-100")
    start_time: str | None = None
    uptime_seconds: float
    uptime_readable: str
    per_job: dict[str, JobCounts] = Field(default_factory=dict)
    active_jobs: int
    total_jobs: int | None = None
    running_jobs: int | None = None
    dead_letters: int | None = None


class Status(_Out):
    """``GET /api/status``."""

    running: bool
    statistics: Statistics

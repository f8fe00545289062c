"""Executors: where a job's code runs. One interface, one implementation per file."""

from fastscheduler.executors.asyncio_loop import AsyncioExecutor
from fastscheduler.executors.base import Executor, RunOutcome
from fastscheduler.executors.subprocess import JobProcessError, SubprocessExecutor
from fastscheduler.executors.threadpool import ThreadPoolExecutor

__all__ = [
    "AsyncioExecutor",
    "Executor",
    "JobProcessError",
    "RunOutcome",
    "SubprocessExecutor",
    "ThreadPoolExecutor",
]

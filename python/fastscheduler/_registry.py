"""The job registry: every registered :class:`Job`, by id, kept small for a million jobs.

The registry, its jobs and their run state live in the Rust extension
(``rust/fastscheduler-py/src/registry.rs``): ids are ``module.qualname:schedule`` for the first
registration of a function on a schedule and ``...#2``, ``...#3`` for the next ones (registration
order), unless ``.id()`` gave one. A job's counters, pause flag and next fire time live in the Rust
engine under ``job.key``; its schedule and options are a :class:`JobSpec` shared by every job built
from one builder.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

from fastscheduler._core import Job, Registry, RunState

__all__ = ["Job", "Registry", "RunState", "new_registry"]


def new_registry() -> Registry:
    """An empty registry (not thread-safe: the scheduler calls it under its lock)."""
    return Registry(_is_async)


def _is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (``async def``, also behind methods and partials)."""
    if type(func) is types.FunctionType:  # the common case, without inspect's unwrapping
        return bool(func.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(func)

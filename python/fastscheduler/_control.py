"""Control: registering, running now, pausing, resuming and cancelling jobs, here and for peers.

Each change is made to the job state here and told to the coordinator as a typed
:class:`~fastscheduler.coordination.base.Command`; a peer's command comes back through
:meth:`Controller.apply`, the one place commands are dispatched.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from fastscheduler._builders import JobSpec
from fastscheduler._dispatch import LATE_ONE_SHOT, Dispatcher, Publish
from fastscheduler._jobstate import JobState, jsonable
from fastscheduler.coordination.base import Command, CommandKind, Coordinator
from fastscheduler.events import EventType

__all__ = ["Action", "Controller"]

log = logging.getLogger("fastscheduler")

Action = Literal["run", "pause", "resume"]


class Controller:
    """What users (and peers) ask of jobs (see the module doc)."""

    def __init__(
        self,
        *,
        jobs: JobState,
        dispatcher: Dispatcher,
        coordinator: Coordinator,
        clock: Callable[[], float],
        publish: Publish,
        has_subscribers: Callable[[], bool],
        is_running: Callable[[], bool],
        on_peer_jobs: Callable[[], None],
    ) -> None:
        self._jobs = jobs
        self._lock = jobs.lock
        self._dispatcher = dispatcher
        self.coordinator = coordinator
        self._clock = clock
        self._publish = publish
        self._has_subscribers = has_subscribers
        self._is_running = is_running
        self._on_peer_jobs = on_peer_jobs
        #: Jobs registered here because a peer added them while running (see :meth:`apply`).
        self.from_peer: set[str] = set()

    # ------------------------------------------------------------------ registration

    def register(
        self,
        spec: JobSpec,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        broadcast: bool = True,
    ) -> str:
        """Register a job (the builders' slow path: the scheduler is running, or someone listens)."""
        if self.from_peer and broadcast and spec.job_id is not None and spec.job_id in self.from_peer:
            # This process's own code registers a job it had taken from a peer: the code's wins.
            self.from_peer.discard(spec.job_id)
            self.cancel(spec.job_id, broadcast=False)
            self._on_peer_jobs()
        jobs = self._jobs
        with self._lock:
            job = jobs.registry.add(func, args, kwargs, spec)
            if self._is_running():
                now = self._clock()
                if jobs.arm(job, now) == "missed":
                    self._dispatcher.record_missed(job, spec.at or now, 1, LATE_ONE_SHOT)
                jobs.mark(job, new=True)
                if job.key is not None:
                    # Its shared row, unless a peer made one first (then the engine follows it).
                    self.coordinator.register([job], wait=False)
                    if broadcast and spec.job_id is not None:
                        # Peers that can import the function register it too (only with an
                        # explicit id: an automatic one depends on each process's registrations).
                        self.coordinator.command(
                            Command(CommandKind.ADD, job.job_id, payload=_added_job(job))
                        )
        if self._has_subscribers():
            self._publish(EventType.JOB_ADDED, job, schedule=spec.schedule)
        return job.job_id

    # ------------------------------------------------------------------ actions

    def run_now(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            self.coordinator.run_now(job, self._clock())
        return True

    def act_if_allowed(
        self, job_id: str, action: Action, record: Callable[[str], dict[str, Any] | None]
    ) -> str | None:
        """Check the job's state and act in one step (the lock is held across both), so two
        requests racing cannot both pass the check. None when done; "missing" for an unknown job;
        otherwise why the job's state forbids it."""
        with self._lock:
            view = record(job_id)
            if view is None:
                return "missing"
            if action == "run":
                if not self._is_running():
                    return "the scheduler is not running"
                if view["running"]:
                    return "the job is running already"
                done = self.run_now(job_id)
            elif action == "pause":
                if view["paused"]:
                    return "the job is paused already"
                done = self.pause(job_id)
            else:
                if not view["paused"]:
                    return "the job is not paused"
                done = self.resume(job_id)
        return None if done else "missing"

    def pause(self, job_id: str, *, broadcast: bool = True) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            self._jobs.pause(job)
            if broadcast and job.key is not None:
                self.coordinator.command(Command(CommandKind.PAUSE, job_id))
        self._publish(EventType.JOB_PAUSED, job)
        return True

    def resume(self, job_id: str, *, broadcast: bool = True) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            next_run = self._jobs.resume(job)
            if broadcast and job.key is not None:
                self.coordinator.command(Command(CommandKind.RESUME, job_id, next_run=next_run))
        self._publish(EventType.JOB_RESUMED, job)
        return True

    def cancel(self, job_id: str, *, broadcast: bool = True) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not self._jobs.remove(job):
                return False
            if broadcast:
                self.coordinator.command(Command(CommandKind.CANCEL, job_id))
        self._publish(EventType.JOB_REMOVED, job)
        return True

    def paused_at_start(self, job_ids: list[str]) -> None:
        """Jobs paused before ``start()`` and armed now: tell the peers."""
        for job_id in job_ids:
            self.coordinator.command(Command(CommandKind.PAUSE, job_id))

    # ------------------------------------------------------------------ peers

    def apply(self, command: Command) -> None:
        """A peer's command: the one place commands are dispatched."""
        kind = command.kind
        if kind is CommandKind.ADD:
            self._add_from_peer(command.job_id, command.payload)
        elif kind is CommandKind.PAUSE:
            self.pause(command.job_id, broadcast=False)
        elif kind is CommandKind.RESUME:
            self.resume(command.job_id, broadcast=False)
        elif kind is CommandKind.CANCEL:
            self.cancel(command.job_id, broadcast=False)

    def _add_from_peer(self, job_id: str, payload: dict[str, Any] | None) -> None:
        """Register a job a peer added while running, if this process can import its function and
        its arguments came through JSON intact; otherwise only the peer runs it (logged)."""
        if self._jobs.get(job_id) is not None:
            return
        try:
            if payload is None or payload.get("args") is None or payload.get("kwargs") is None:
                raise ValueError("its arguments are not JSON-serialisable")
            module_name, _, qualname = str(payload["func"]).partition(":")
            if "<" in qualname:
                raise ValueError(f"{module_name}.{qualname} is not importable (a lambda or a local function)")
            func: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                func = getattr(func, part)
            if payload.get("bound"):
                raise ValueError(f"{module_name}.{qualname} is a bound method")
            spec = JobSpec(**{**payload["spec"], "job_id": job_id})
            self.register(spec, func, tuple(payload["args"]), dict(payload["kwargs"]), broadcast=False)
            self.from_peer.add(job_id)
            self._on_peer_jobs()
        except Exception as exc:  # an import error, a changed function, bad data: not ours to run
            log.warning(
                "fastscheduler cluster: job %s added on another instance runs only there: %s", job_id, exc
            )


def _added_job(job: Any) -> dict[str, Any]:
    """What a peer needs to register ``job`` too (the payload of an add command)."""
    func = job.func
    return {
        "func": f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', '?')}",
        "args": jsonable(job.args),
        "kwargs": jsonable(job.kwargs),
        "spec": dataclasses.asdict(job.spec),
        "bound": getattr(func, "__self__", None) is not None,
    }

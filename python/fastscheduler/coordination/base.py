"""The coordination interface: who runs a fire, and where outcomes go.

A scheduler's engine says *when* a job is due. A :class:`Coordinator` decides *whether this
process runs that fire*: alone (:class:`~fastscheduler.coordination.local.LocalCoordinator`, every
fire is ours) or in a cluster on one database
(:class:`~fastscheduler.coordination.sql.SQLCoordinator`, each fire is claimed by exactly one
instance). It is the same small protocol either way, in the spirit of APScheduler 4's data stores
(``acquire_schedules``/``release_schedules``, ``acquire_jobs``/``release_job``):

- ``fired(fires)``: the engine says these are due; the coordinator claims what is ours and hands it
  to its :class:`FireSink` (at once, or from its own thread once claimed);
- ``record(claim, finish)``: an attempt of a claimed fire ended;
- ``command(...)``: a pause, resume, cancel or add to tell the other instances;
- ``join``/``start``/``stop_claiming``/``leave``: the lifecycle; ``status``: what it sees.

The coordinator never calls the user-facing ``FastScheduler``: it calls back only into the
:class:`FireSink` it was given (the scheduler's dispatcher), whose methods are listed below.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fastscheduler._core import ClusterRows

if TYPE_CHECKING:
    from fastscheduler._builders import JobSpec
    from fastscheduler._core import Job

__all__ = [
    "CATCH_UP_OFF",
    "PREVIOUS_RUNNING",
    "Claim",
    "ClaimState",
    "Command",
    "CommandKind",
    "Coordinator",
    "Finish",
    "FireSink",
    "Rows",
    "ScheduleRow",
    "skip_reason",
]

#: Why a late fire is skipped: the job was registered with ``.no_catch_up()``.
CATCH_UP_OFF = "the scheduler was not running on time, and catch-up is off for this job"
#: Why a fire is skipped: the job's previous run has not ended.
PREVIOUS_RUNNING = "the previous run was still running"


def skip_reason(spec: JobSpec, missed: int, running: bool) -> str | None:
    """Why a fire that passed over ``missed`` earlier fires must not run (None: run it). The one
    rule for a single scheduler and a cluster: a late fire under ``.no_catch_up()`` is skipped, and
    so is a fire whose job is still running (no overlap)."""
    if missed and not spec.catch_up:
        return CATCH_UP_OFF
    if running:
        return PREVIOUS_RUNNING
    return None


class ClaimState(str, enum.Enum):
    """The state of a claimed fire, as a coordinator records it."""

    #: An attempt is in progress, or a retry of it is scheduled.
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    #: Every attempt failed (the run was dead-lettered).
    FAILED = "failed"
    #: Claimed but not run (catch-up off, previous run still going, job cancelled meanwhile).
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Finish:
    """What :meth:`Coordinator.record` writes when an attempt of a claimed fire ends: the fire's
    new ``state``, its current ``attempt`` (the next one when a retry follows), when (``at``), and
    how the job's counters move (``runs``, ``failures``, ``retries``: see the README's
    definitions)."""

    state: ClaimState
    attempt: int
    at: float
    runs: int = 0
    failures: int = 0
    retries: int = 0


@dataclass(slots=True)
class Claim:
    """A fire a coordinator created (or took over) for this instance to run."""

    job_id: str
    scheduled: float
    scheduled_us: int
    attempt: int
    missed: int = 0
    origin: str = "schedule"
    #: Why the claimed fire is not run (see :func:`skip_reason`), else None.
    skip: str | None = None
    #: Set on a run taken over after its lease expired: the instance that was running ``attempt``.
    lost_with: str | None = None
    #: The job, when the coordinator had it at hand (saves the sink a lookup by id).
    job: Job | None = None


class CommandKind(str, enum.Enum):
    """A change one instance makes that the others apply."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    #: A job registered while running (with an explicit id): peers register it too if they can.
    ADD = "add"


@dataclass(frozen=True, slots=True)
class Command:
    """A :class:`CommandKind` for one job. ``next_run``: a resumed job's next fire; ``payload``:
    what a peer needs to register an added job (import path, JSON arguments, schedule)."""

    kind: CommandKind
    job_id: str
    next_run: float | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A job's shared state in a cluster: the truth for its next fire, pause and counters."""

    next_run: float | None
    paused: bool
    run_count: int = 0
    failure_count: int = 0
    retry_count: int = 0
    last_run: float | None = None


Rows = dict[str, ScheduleRow] | ClusterRows
"""The shared rows :meth:`Coordinator.join` returns, by job id: a dict, or (a SQL cluster's
million rows) ``_core.ClusterRows``, which holds them in Rust and hands one out as a
:class:`ScheduleRow` from ``pop``."""


class FireSink(Protocol):
    """What a coordinator calls back (the scheduler's dispatcher implements it)."""

    def lookup(self, job_id: str) -> Job | None:
        """The job registered here under ``job_id`` (None: not registered here)."""

    def run_claims(self, claims: Sequence[Claim]) -> None:
        """Start the claimed fires, record the skipped ones, fail the lost ones (and retry them)."""

    def run_fire(self, job: Job, scheduled: float, missed: int, skip: str | None, now: float) -> None:
        """A fire this process claimed without a record of its own (a coordinator with
        ``records`` False), from within ``fired``: start it, or record it as missed when
        ``skip`` says why not; ``missed`` fires before it were passed over."""

    def starter(self, now: float) -> Callable[[Job, float], None]:
        """From within ``fired``, for a coordinator without records: ``start(job, scheduled)``
        runs a fire that passed over none and may run, as ``run_fire(job, scheduled, 0, None,
        now)`` would, but cheaper per fire (what is the same for the batch is looked up once)."""

    def now(self) -> float:
        """The scheduler's clock."""

    def apply(self, command: Command) -> None:
        """Apply a peer's command here."""

    def adopt(self, job_id: str, row: ScheduleRow) -> None:
        """A job registered here already had a shared row (a peer's): follow its time and pause."""

    def next_fire(self, job: Job) -> float | None:
        """The job's next fire as the engine here has it (None: not armed, or no fire left)."""


class Coordinator(Protocol):
    """Decides which fires this process runs and records their outcomes (see the module doc)."""

    #: This process's name among its peers (None when it runs alone).
    instance_id: str | None
    #: Whether :meth:`record` wants the outcomes of its claims (False: runs carry no claim).
    records: bool

    def join(self, sink: FireSink) -> Rows:
        """Connect (``start()``): remember ``sink`` and return the shared row of every job
        (empty when alone). Raises if the shared database cannot be reached."""

    def start(self) -> None:
        """Begin claiming (after the jobs were armed)."""

    def register(self, jobs: Iterable[Job], *, wait: bool) -> None:
        """Jobs armed here that had no shared row: create their rows with their first fires
        (:meth:`FireSink.next_fire`); a job whose row a peer made first is
        :meth:`FireSink.adopt`-ed. ``wait``: before returning (at ``start()``), else in the
        background. Alone, nothing to do (``jobs`` is not even iterated)."""

    def fired(self, fires: Iterable[tuple[Job, float, int]], on_served: Callable[[], None]) -> None:
        """The engine says these ``(job, scheduled time, fires passed over)`` are due: claim this
        process's share and hand it to the sink. ``on_served`` is called once the claim was tried."""

    def run_now(self, job: Job, at: float) -> None:
        """Create an extra fire of ``job`` at ``at`` and run it here."""

    def record(self, claim: Claim, finish: Finish) -> None:
        """An attempt of ``claim`` ended (see :class:`Finish`)."""

    def command(self, command: Command) -> None:
        """Tell the other instances (nothing to do alone)."""

    def stop_claiming(self, timeout: float) -> None:
        """Claim nothing more; the claim being made still starts its runs."""

    def leave(self, timeout: float) -> None:
        """Write what is queued, hand unfinished runs to the survivors, disconnect."""

    def status(self) -> dict[str, Any] | None:
        """What this coordinator sees of its cluster (None when alone)."""

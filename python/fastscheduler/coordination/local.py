"""The coordinator of a scheduler that runs alone: every fire is this process's to run."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fastscheduler.coordination.base import Claim, Command, Finish, FireSink, Rows, skip_reason

if TYPE_CHECKING:
    from fastscheduler._core import Job

__all__ = ["LocalCoordinator"]


class LocalCoordinator:
    """Claims every fire at once, in the engine's thread: no rows, no leases, no peers. A fire that
    passed over others (the process was not running, or stalled) is run once for all of them, or
    skipped under ``.no_catch_up()``; a fire of a job still running is skipped (see
    :func:`~fastscheduler.coordination.base.skip_reason`)."""

    instance_id: str | None = None
    records = False

    def __init__(self) -> None:
        self._sink: FireSink | None = None

    def join(self, sink: FireSink) -> Rows:
        self._sink = sink
        return {}

    def start(self) -> None:
        pass

    def register(self, jobs: Iterable[Job], *, wait: bool) -> None:
        pass

    def fired(self, fires: Iterable[tuple[Job, float, int]], on_served: Callable[[], None]) -> None:
        sink = self._sink
        assert sink is not None, "join() first"
        run, now = sink.run_fire, sink.now()
        try:
            start = sink.starter(now)
            for job, scheduled, missed in fires:
                if missed or job.running:
                    run(job, scheduled, missed, skip_reason(job.spec, missed, job.running > 0), now)
                else:  # the common case: on time and not running
                    start(job, scheduled)
        finally:
            on_served()

    def run_now(self, job: Job, at: float) -> None:
        assert self._sink is not None, "join() first"
        self._sink.run_claims([Claim(job.job_id, at, 0, 1, origin="run-now", job=job)])

    def record(self, claim: Claim, finish: Finish) -> None:
        pass

    def command(self, command: Command) -> None:
        pass

    def stop_claiming(self, timeout: float) -> None:
        pass

    def leave(self, timeout: float) -> None:
        pass

    def status(self) -> dict[str, Any] | None:
        return None

"""Schemathesis against the dashboard's ``/openapi.json``, in-process (ASGI, no network): no
generated request makes the API answer 500, and answers match the documented schemas.

Bounded: a few examples per operation, no deadline; derandomized under CI (the hypothesis "ci"
profile in conftest.py). The event stream is endless, so it is left out here (its parameters
are checked in test_dashboard_api.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import allow_header_conformance

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.fastapi_integration import create_scheduler_routes

T0 = 1_780_000_000.0
STATE = Path(os.environ.get("TMPDIR", "/tmp")) / f"fastscheduler-schemathesis-{os.getpid()}.json"


clock = ManualClock(T0)
sched = FastScheduler(str(STATE), quiet=True, clock=clock)


def _build_app() -> FastAPI:

    @sched.every(10).seconds.id("tick")
    def tick() -> None:
        pass

    @sched.every(20).seconds.retries(0).id("boom")
    def boom() -> None:
        raise RuntimeError("<script>alert(1)</script>")

    @sched.cron("0 9 * * MON-FRI", tz="Europe/Paris")
    def weekday() -> None:
        pass

    sched.start()
    clock.advance(40)  # history, failures and dead letters to list
    app = FastAPI()
    app.include_router(create_scheduler_routes(sched))
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _build_app())
schema = schema.exclude(path="/scheduler/events")


@pytest.fixture(scope="module", autouse=True)
def _stop_scheduler() -> Iterator[None]:
    yield
    sched.stop(wait=True, timeout=5)  # a started scheduler otherwise keeps the process alive
    STATE.unlink(missing_ok=True)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=bool(os.environ.get("CI")),
    database=None,
)
def test_api_never_fails_with_a_server_error(case: schemathesis.Case) -> None:
    excluded = []
    if case.path == "/scheduler/api/dead-letters":
        # GET and DELETE are two routes on one path; Starlette's 405 lists only the first
        # route's methods in `Allow`, so an OPTIONS there can't advertise both.
        excluded.append(allow_header_conformance)
    response = case.call_and_validate(excluded_checks=excluded)
    assert response.status_code < 500

"""The one I/O retry helper (built on Backoff) the store and the cluster's loops use."""

from __future__ import annotations

import logging

import pytest

from fastscheduler import Backoff
from fastscheduler._retry import Outage, retry


def test_retry_tries_with_backoff_delays_and_raises_the_last_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("fastscheduler._retry.time.sleep", slept.append)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"down {len(calls)}")
        return "ok"

    caplog.set_level(logging.DEBUG, logger="t")
    log = logging.getLogger("t")
    backoff = Backoff(0.1, 2, 1)
    assert retry(flaky, tries=5, backoff=backoff, retry_on=OSError, what="saving", logger=log) == "ok"
    assert slept == [0.1, 0.2]
    assert [r.getMessage() for r in caplog.records] == [
        "fastscheduler: saving (try 1 of 5): down 1",
        "fastscheduler: saving (try 2 of 5): down 2",
    ]

    def always() -> None:
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError, match="still down"):
        retry(always, tries=3, backoff=Backoff(0.1, 2, 1), retry_on=OSError, what="x", logger=log)
    with pytest.raises(ValueError):  # not retried: not what retry_on names
        retry(lambda: int("x"), tries=3, backoff=Backoff(), retry_on=OSError, what="x", logger=log)


def test_an_outage_backs_off_and_a_success_ends_it() -> None:
    outage = Outage(Backoff(base=0.5, factor=2.0, max=5.0))
    assert [outage.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    outage.succeeded()
    assert outage.failed() == 0.5

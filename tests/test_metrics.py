"""Prometheus metrics (issue 17, part 2): ``fastscheduler.metrics`` and ``{prefix}/metrics``.

Every value is read back the way Prometheus reads it: the exposition is scraped (over HTTP from
the dashboard route, or from a registry) and parsed with prometheus_client's own parsers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.fastapi_integration import create_scheduler_routes
from fastscheduler.metrics import PER_JOB_MAX_JOBS, SchedulerCollector, instrument
from fastscheduler.stores import Changes, MemoryStorageBackend

T0 = 1_780_000_000.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def scrape(registry: CollectorRegistry) -> Samples:
    return parse(generate_latest(registry).decode())


def app_for(s: FastScheduler, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(create_scheduler_routes(s, **kwargs))
    return app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sched(clock: ManualClock) -> Iterator[FastScheduler]:
    s = FastScheduler(storage="memory", quiet=True, clock=clock)
    yield s
    s.stop(wait=False)


def test_scraped_values_match_known_runs(sched: FastScheduler, clock: ManualClock) -> None:
    """Runs, attempts, retries, dead letters and missed fires as the README defines them, and the
    histograms' counts, after runs whose outcomes are known; scraped from /scheduler/metrics."""

    @sched.every(10).seconds.id("tick")
    def tick() -> None:
        pass

    @sched.every(10).seconds.retries(1).id("boom")
    def boom() -> None:
        raise RuntimeError("no")

    @sched.every(3600).seconds.id("idle")
    def idle() -> None:
        pass

    client = TestClient(app_for(sched))
    sched.pause_job("idle")
    sched.start()
    clock.advance(25)  # tick: 10, 20; boom: 10 (+ retry at 12, dead-lettered), 20 (+ retry at 22)
    clock.set(T0 + 65)  # the clock jumps: the fire of 30 runs at 65, for 40, 50, 60 too (missed)
    clock.advance(0)
    response = client.get("/scheduler/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    m = parse(response.text)

    stats = sched.get_statistics()
    # tick ran the fires of 10, 20, 30 (3 missed); boom's of 10, 20 were dead-lettered, 30's retries.
    assert value(m, "fastscheduler_fires_total") == 6
    assert value(m, "fastscheduler_runs_total", outcome="succeeded") == 3
    assert value(m, "fastscheduler_runs_total", outcome="failed") == 2 == stats["total_failures"]
    assert value(m, "fastscheduler_attempts_total", outcome="succeeded") == 3
    assert value(m, "fastscheduler_attempts_total", outcome="failed") == 5
    assert value(m, "fastscheduler_retries_total") == 3 == stats["total_retries"]
    assert value(m, "fastscheduler_missed_fires_total") == 6 == stats["total_missed"]
    assert value(m, "fastscheduler_dead_letters_total") == 2
    assert value(m, "fastscheduler_dead_letters_held") == 2
    # Every attempt is timed, and every fire's first attempt has a lateness; the manual clock
    # stands still while a job runs and starts it at its due time.
    assert value(m, "fastscheduler_attempt_duration_seconds_count") == 8
    assert value(m, "fastscheduler_attempt_duration_seconds_bucket", le="0.001") == 8
    assert value(m, "fastscheduler_lateness_seconds_count") == 6
    assert value(m, "fastscheduler_lateness_seconds_sum") == 70  # the fires of 30, started at 65
    assert value(m, "fastscheduler_lateness_seconds_bucket", le="0.0005") == 4
    assert value(m, "fastscheduler_lateness_seconds_bucket", le="30.0") == 4
    assert value(m, "fastscheduler_lateness_seconds_bucket", le="60.0") == 6
    assert value(m, "fastscheduler_jobs", state="scheduled") == 2
    assert value(m, "fastscheduler_jobs", state="paused") == 1
    assert value(m, "fastscheduler_jobs", state="running") == 0
    assert value(m, "fastscheduler_attempts_in_progress") == 0
    assert value(m, "fastscheduler_queue_depth", queue="workers") == 0
    assert value(m, "fastscheduler_scheduler_running") == 1
    assert value(m, "fastscheduler_store_healthy") == 1
    # Few jobs: per-job series are on.
    assert value(m, "fastscheduler_job_attempts_total", job_id="boom", outcome="failed") == 5
    assert value(m, "fastscheduler_job_attempts_total", job_id="tick", outcome="succeeded") == 3
    assert value(m, "fastscheduler_job_attempt_duration_seconds_count", job_id="tick") == 3
    assert value(m, "fastscheduler_job_last_success_timestamp_seconds", job_id="tick") == T0 + 65
    assert ("fastscheduler_job_last_success_timestamp_seconds", (("job_id", "boom"),)) not in m
    # Not in a cluster: no cluster series.
    assert not any(name.startswith("fastscheduler_cluster_") for name, _ in m)


def test_counters_count_this_process_not_the_stored_totals(tmp_path: Path, clock: ManualClock) -> None:
    """A restarted process's counters start from zero (Prometheus's counter semantics), though
    get_statistics() goes on from the stored totals."""
    state = str(tmp_path / "state.json")
    for n in (1, 2):
        s = FastScheduler(state, quiet=True, clock=clock)
        s.every(10).seconds.id("tick").do(lambda: None)
        registry = CollectorRegistry()
        instrument(s, registry=registry)
        s.start()
        clock.advance(10)
        s.stop()
        m = scrape(registry)
        assert s.get_statistics()["total_runs"] == n
        assert value(m, "fastscheduler_runs_total", outcome="succeeded") == 1
        assert value(m, "fastscheduler_fires_total") == 1
        assert value(m, "fastscheduler_scheduler_running") == 0
        assert value(m, "fastscheduler_store_write_duration_seconds_count") >= 1
        assert value(m, "fastscheduler_store_write_failures_total") == 0


def test_durations_and_running_work_with_a_real_clock() -> None:
    """An attempt that takes 50 ms lands in the 0.1 s bucket; while one runs, it is counted as
    running and in progress, and a second run waits in the workers' queue."""
    release = threading.Event()
    s = FastScheduler(storage="memory", quiet=True, max_workers=1)
    registry = CollectorRegistry()
    instrument(s, registry=registry)

    @s.once(0.01).id("sleepy")
    def sleepy() -> None:
        time.sleep(0.05)

    @s.once(0.1).id("blocker")
    def blocker() -> None:
        release.wait(10)

    @s.once(0.15).id("waiting")
    def waiting() -> None:
        pass

    s.start()
    try:
        deadline = time.monotonic() + 10
        while value(scrape(registry), "fastscheduler_queue_depth", queue="workers") != 1:
            assert time.monotonic() < deadline, "the third run never queued"
            time.sleep(0.01)
        m = scrape(registry)
        assert value(m, "fastscheduler_jobs", state="running") == 2  # blocker runs, waiting is queued
        assert value(m, "fastscheduler_attempts_in_progress") == 2
        assert value(m, "fastscheduler_jobs", state="finished") == 1  # sleepy
        release.set()
        assert s._wait_idle(10)
        m = scrape(registry)
    finally:
        release.set()
        s.stop()
    assert value(m, "fastscheduler_attempt_duration_seconds_count") == 3
    assert value(m, "fastscheduler_job_attempt_duration_seconds_bucket", job_id="waiting", le="0.025") == 1
    assert value(m, "fastscheduler_job_attempt_duration_seconds_bucket", job_id="sleepy", le="0.025") == 0
    assert value(m, "fastscheduler_job_attempt_duration_seconds_bucket", job_id="sleepy", le="0.1") == 1
    assert 0.05 <= value(m, "fastscheduler_job_attempt_duration_seconds_sum", job_id="sleepy") < 1
    assert value(m, "fastscheduler_jobs", state="finished") == 3
    assert value(m, "fastscheduler_lateness_seconds_bucket", le="+Inf") == 3


def test_per_job_series_are_off_above_the_documented_job_count(
    sched: FastScheduler, clock: ManualClock
) -> None:
    for i in range(PER_JOB_MAX_JOBS + 1):
        sched.every(10).seconds.id(f"job-{i}").do(lambda: None)
    registry = CollectorRegistry()
    collector = instrument(sched, registry=registry)
    sched.start()
    clock.advance(10)
    m = scrape(registry)
    assert value(m, "fastscheduler_runs_total", outcome="succeeded") == PER_JOB_MAX_JOBS + 1
    assert not any(name.startswith("fastscheduler_job_") for name, _ in m)
    # Asked for, they are on whatever the count (the options of the latest call apply).
    assert instrument(sched, registry=registry, per_job=True) is collector
    clock.advance(10)
    m = scrape(registry)
    assert value(m, "fastscheduler_job_attempts_total", job_id="job-7", outcome="succeeded") == 1
    assert sum(1 for name, _ in m if name == "fastscheduler_job_attempts_total") == 2 * (PER_JOB_MAX_JOBS + 1)
    # A cancelled job's series go with it.
    sched.cancel_job("job-7")
    m = scrape(registry)
    assert ("fastscheduler_job_attempts_total", (("job_id", "job-7"), ("outcome", "succeeded"))) not in m
    instrument(sched, registry=registry, per_job=False)
    assert not any(name.startswith("fastscheduler_job_") for name, _ in scrape(registry))


def test_one_collector_per_scheduler_in_any_registry(sched: FastScheduler) -> None:
    collector = instrument(sched)  # prometheus_client's default registry
    try:
        assert isinstance(collector, SchedulerCollector)
        assert instrument(sched) is collector  # again: no duplicate registration
        mine = CollectorRegistry()
        assert instrument(sched, registry=mine) is collector
        assert REGISTRY.get_sample_value("fastscheduler_fires_total") == 0
        assert mine.get_sample_value("fastscheduler_fires_total") == 0
        assert instrument(sched, registry=None) is collector
        with pytest.raises(ValueError, match="buckets must be finite, increasing"):
            instrument(sched, registry=None, duration_buckets=[1, 0.5])
        # The dashboard serves the same collector from a registry of its own.
        text = TestClient(app_for(sched)).get("/scheduler/metrics").text
        assert "fastscheduler_fires_total 0.0" in text
    finally:
        REGISTRY.unregister(collector)


def test_custom_buckets(sched: FastScheduler, clock: ManualClock) -> None:
    sched.every(10).seconds.id("tick").do(lambda: None)
    registry = CollectorRegistry()
    instrument(sched, registry=registry, duration_buckets=[0.5, 2], lateness_buckets=[1])
    sched.start()
    clock.advance(10)
    m = scrape(registry)
    assert [labels for name, labels in m if name == "fastscheduler_attempt_duration_seconds_bucket"] == [
        (("le", "0.5"),),
        (("le", "2.0"),),
        (("le", "+Inf"),),
    ]
    assert value(m, "fastscheduler_lateness_seconds_bucket", le="1.0") == 1


class FlakyStore(MemoryStorageBackend):
    """A store whose writes fail until ``healthy`` is set."""

    healthy = False

    def write(self, changes: Changes, now: float) -> None:
        if not self.healthy:
            raise OSError("disk on fire")
        super().write(changes, now)


def test_store_write_failures_and_health(clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    s = FastScheduler(storage=store, quiet=True, clock=clock)
    s.every(10).seconds.id("tick").do(lambda: None)
    registry = CollectorRegistry()
    instrument(s, registry=registry)
    s.start()
    clock.advance(10)
    deadline = time.monotonic() + 10
    while value(scrape(registry), "fastscheduler_store_write_failures_total") < 1:
        assert time.monotonic() < deadline, "no failed write was counted"
        time.sleep(0.01)
    m = scrape(registry)
    assert value(m, "fastscheduler_store_healthy") == 0
    assert value(m, "fastscheduler_store_write_duration_seconds_count") >= 1
    store.healthy = True
    s.stop()
    m = scrape(registry)
    assert value(m, "fastscheduler_store_healthy") == 1
    assert value(m, "fastscheduler_store_write_duration_seconds_count") > value(
        m, "fastscheduler_store_write_failures_total"
    )


def test_open_metrics_on_request_and_any_accept_header(sched: FastScheduler) -> None:
    client = TestClient(app_for(sched))
    response = client.get("/scheduler/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in parse_openmetrics(response.text)}
    assert families["fastscheduler_runs"].type == "counter"
    assert families["fastscheduler_attempt_duration_seconds"].type == "histogram"
    for accept in ("text/plain; version=x.y", "application/openmetrics-text; version=abc", "\x7f;;"):
        response = client.get("/scheduler/metrics", headers={"Accept": accept})
        assert response.status_code == 200 and "fastscheduler_fires_total" in response.text


def test_the_route_is_behind_the_dashboards_dependencies_and_optional(sched: FastScheduler) -> None:
    def deny() -> None:
        raise HTTPException(401, "no")

    assert (
        TestClient(app_for(sched, dependencies=[Depends(deny)])).get("/scheduler/metrics").status_code == 401
    )
    assert TestClient(app_for(sched, read_only=True)).get("/scheduler/metrics").status_code == 200
    assert TestClient(app_for(sched, metrics=False)).get("/scheduler/metrics").status_code == 404
    spec = TestClient(app_for(sched)).get("/openapi.json").json()
    assert set(spec["paths"]["/scheduler/metrics"]["get"]["responses"]["200"]["content"]) == {
        "text/plain",
        "application/openmetrics-text",
    }


def test_without_instrument_nothing_is_observed(sched: FastScheduler) -> None:
    """Metrics cost nothing until asked for: no hook is set, and no event subscription either
    (registration keeps its quick path)."""
    rt = sched._rt
    assert rt.finisher.observe is None and rt.persistence.on_write is None and rt.metrics is None
    instrument(sched, registry=None)
    assert rt.finisher.observe is not None and rt.persistence.on_write is not None
    assert not sched.events.has_subscribers()


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_cluster_series_in_a_cluster(kind: str) -> None:
    """A cluster instance exports its claims, takeovers, lease renewals and the live instances."""
    from stores_support import server_database

    from fastscheduler.cluster import ClusterConfig

    release = threading.Event()
    with server_database(kind) as url:
        clock = ManualClock(T0, wait_for_runs=False)
        cluster = ClusterConfig(instance_id="solo", lease=2, grace=1, poll_interval=0.1)
        s = FastScheduler(storage="sqlmodel", database_url=url, quiet=True, clock=clock, cluster=cluster)
        s.every(10).seconds.id("slow").do(release.wait, 10)
        registry = CollectorRegistry()
        instrument(s, registry=registry)
        assert not any(name.startswith("fastscheduler_cluster_") for name, _ in scrape(registry))
        s.start()
        try:
            clock.advance(10)
            deadline = time.monotonic() + 15
            # The running run's lease is renewed with each heartbeat (lease / 3 apart).
            while value(scrape(registry), "fastscheduler_cluster_lease_renewals_total") < 1:
                assert time.monotonic() < deadline, "no lease renewal was counted"
                time.sleep(0.05)
            m = scrape(registry)
        finally:
            release.set()
            s.stop()
    assert value(m, "fastscheduler_cluster_claims_total") == 1
    assert value(m, "fastscheduler_cluster_takeovers_total") == 0
    assert value(m, "fastscheduler_cluster_instances") == 1
    assert value(m, "fastscheduler_attempts_in_progress") == 1

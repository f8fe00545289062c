"""OpenTelemetry traces (issue 17, part 2): ``fastscheduler.otel``, checked with the OpenTelemetry
SDK's in-memory exporter; and that nothing of OpenTelemetry is imported unless asked for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.otel import instrument

T0 = 1_780_000_000.0


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def test_one_span_per_attempt_with_its_times_and_outcome(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    clock = ManualClock(T0)
    s = FastScheduler(storage="memory", quiet=True, clock=clock)

    @s.every(10).seconds.id("tick")
    def tick() -> None:
        pass

    @s.every(60).seconds.retries(1).id("boom")
    def boom() -> None:
        raise ValueError("no luck")

    stop = instrument(s, tracer_provider=provider)
    s.start()
    clock.advance(65)  # tick: 10 ... 60; boom: 60, and its retry at 62 (dead-lettered)
    s.stop()
    spans = sorted(exporter.get_finished_spans(), key=lambda span: (span.start_time or 0, span.name))
    assert [
        (span.name, span.attributes["fastscheduler.attempt"]) for span in spans if "boom" in span.name
    ] == [
        ("run boom", 1),
        ("run boom", 2),
    ]
    assert sum(1 for span in spans if span.name == "run tick") == 6

    first = next(span for span in spans if span.name == "run tick")
    assert first.kind is SpanKind.INTERNAL and first.parent is None
    assert dict(first.attributes or {}) == {
        "fastscheduler.job.id": "tick",
        "fastscheduler.scheduled_time": T0 + 10,
        "fastscheduler.attempt": 1,
        "fastscheduler.outcome": "succeeded",
    }
    assert first.start_time == first.end_time == round((T0 + 10) * 1e9)  # the manual clock stood still
    assert first.status.status_code is StatusCode.UNSET
    assert first.instrumentation_scope is not None and first.instrumentation_scope.name == "fastscheduler"

    retried, dead = (span for span in spans if span.name == "run boom")
    assert retried.attributes is not None and dead.attributes is not None
    assert retried.attributes["fastscheduler.outcome"] == "retrying"
    assert dead.attributes["fastscheduler.outcome"] == "dead_lettered"
    assert dead.attributes["fastscheduler.scheduled_time"] == T0 + 60  # the fire's, not the retry's
    assert dead.start_time == round((T0 + 62) * 1e9)
    for span in (retried, dead):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: no luck"
        assert span.attributes is not None and span.attributes["error.type"] == "ValueError"
        (exception,) = span.events
        assert exception.name == "exception" and exception.attributes is not None
        assert exception.attributes["exception.type"] == "ValueError"
        assert exception.attributes["exception.message"] == "no luck"
        assert "raise ValueError" in str(exception.attributes["exception.stacktrace"])

    # Uninstrumented: no more spans, and no subscriber left.
    stop()
    exporter.clear()
    s.start()
    clock.advance(10)
    s.stop()
    assert exporter.get_finished_spans() == () and not s.events.has_subscribers()


def test_a_real_attempt_span_covers_the_call(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    s = FastScheduler(storage="memory", quiet=True)
    s.once(0.01).id("nap").do(time.sleep, 0.05)
    instrument(s, tracer_provider=provider)
    s.start()
    deadline = time.monotonic() + 10
    while not exporter.get_finished_spans():
        assert time.monotonic() < deadline, "no span"
        time.sleep(0.01)
    s.stop()
    (span,) = exporter.get_finished_spans()
    assert span.start_time is not None and span.end_time is not None
    assert 0.05 <= (span.end_time - span.start_time) / 1e9 < 1
    assert span.attributes is not None
    assert 0 <= span.start_time / 1e9 - span.attributes["fastscheduler.scheduled_time"] < 1


def test_nothing_of_opentelemetry_is_imported_unless_asked_for() -> None:
    """Running jobs, metrics included, imports no OpenTelemetry module; and without it installed,
    only ``import fastscheduler.otel`` says what to install."""
    code = textwrap.dedent(
        """
        import sys
        from fastscheduler import FastScheduler, ManualClock
        import fastscheduler.metrics
        clock = ManualClock()
        s = FastScheduler(storage="memory", quiet=True, clock=clock)
        s.every(10).seconds.do(print, "ran")
        fastscheduler.metrics.instrument(s, registry=None)
        s.subscribe(lambda event: None)
        s.start(); clock.advance(10); s.stop()
        assert not [m for m in sys.modules if m.startswith("opentelemetry")], sys.modules
        sys.modules["opentelemetry"] = None  # as if the extra were not installed
        try:
            import fastscheduler.otel
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "ran",
        'fastscheduler.otel needs the OpenTelemetry API: pip install "fastscheduler[otel]"',
    ]

"""OpenTelemetry traces of a scheduler (the ``otel`` extra: ``pip install "fastscheduler[otel]"``).

::

    from fastscheduler.otel import instrument

    uninstrument = instrument(scheduler)   # spans go to the global tracer provider

One span per attempt (a run is a fire and its retries: a run that was retried has one span per
attempt), named ``run <job id>``, from the attempt's start to its end, with the attributes
``fastscheduler.job.id``, ``fastscheduler.scheduled_time`` (the fire's, epoch seconds),
``fastscheduler.attempt`` and ``fastscheduler.outcome`` (``succeeded``; ``retrying``: failed, and
retried; ``dead_lettered``: failed on the run's last attempt). A failed attempt's span has status
ERROR, ``error.type`` and the exception recorded as a span event.

The span is made when the attempt has ended, from the scheduler's typed events (which carry its
start and end times), on the thread that records outcomes: nothing runs in the job's own thread
and no executor knows about tracing. Spans the job itself makes are therefore not children of
the run's span (docs/observability.md shows how to link them). Nothing here is imported unless
this module is: without the extra, and without this call, tracing costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        'fastscheduler.otel needs the OpenTelemetry API: pip install "fastscheduler[otel]"'
    ) from exc

from fastscheduler._core import __version__
from fastscheduler.events import Event, EventType

if TYPE_CHECKING:
    from fastscheduler.scheduler import FastScheduler

__all__ = ["instrument"]

#: The attempt-ending events, and the outcome each one means.
_OUTCOMES: Final = {
    EventType.JOB_SUCCEEDED: "succeeded",
    EventType.JOB_RETRYING: "retrying",
    EventType.JOB_DEAD_LETTERED: "dead_lettered",
}


def instrument(
    scheduler: FastScheduler, *, tracer_provider: trace.TracerProvider | None = None
) -> Callable[[], None]:
    """Make a span of every attempt of ``scheduler``'s jobs (see the module doc) with
    ``tracer_provider`` (default: the global one, as set by the OpenTelemetry SDK's setup);
    returns a function that stops it.

    It subscribes to the scheduler's events, so while it is on, each run also builds and publishes
    its events (a few microseconds, besides what the SDK's span processor costs).
    """
    tracer = trace.get_tracer("fastscheduler", __version__, tracer_provider=tracer_provider)
    root = otel_context.Context()  # the finisher thread's context is empty anyway: be explicit

    def on_event(event: Event) -> None:
        outcome = _OUTCOMES.get(event.type)
        if outcome is None:
            return
        data = event.data
        started, finished = data.get("started_at"), data.get("finished_at")
        if started is None or finished is None or event.job_id is None:
            return
        span = tracer.start_span(
            f"run {event.job_id}",
            context=root,
            kind=trace.SpanKind.INTERNAL,
            start_time=_ns(started),
            attributes={
                "fastscheduler.job.id": event.job_id,
                "fastscheduler.scheduled_time": data.get("scheduled_time") or started,
                "fastscheduler.attempt": data.get("attempt") or 1,
                "fastscheduler.outcome": outcome,
            },
        )
        if outcome != "succeeded":
            error = data.get("exception")
            if isinstance(error, BaseException):
                span.set_attribute("error.type", type(error).__qualname__)
                span.record_exception(error, timestamp=_ns(finished))
            span.set_status(trace.Status(trace.StatusCode.ERROR, data.get("error")))
        span.end(end_time=_ns(finished))

    return scheduler.subscribe(on_event)


def _ns(seconds: float) -> int:
    """Epoch seconds as OpenTelemetry's epoch nanoseconds."""
    return round(seconds * 1e9)

"""Live updates for the dashboard: scheduler events become Server-Sent Events, fanned out to
every connected browser.

Data flow::

    scheduler threads ──Event──▶ Hub._on_event ──▶ pending set ──▶ worker thread
        (cheap: a lock and a few appends)                          │ reads the scheduler,
                                                                   │ encodes each message once
    browser ◀── SSE ◀── Client generator ◀── asyncio.Queue ◀──────┘ loop.call_soon_threadsafe

- The publishing threads only record what changed; the worker thread reads the scheduler
  (``get_job``, ``get_statistics``, ``get_jobs``) outside the hub's lock, so nothing here ever
  runs on an event loop or holds the scheduler's lock while waiting for the hub (no deadlock).
- Messages carry only what changed (``job``, ``run``, ``dead_letter``, ``dead_letters_cleared``,
  ``stats``); a full ``snapshot`` is sent once on connect, and again whenever a client cannot be
  brought up to date incrementally (its queue overflowed, or the id it resumes from is too old).
- Every incremental message has an id ``<hub token>-<sequence>`` and is kept, encoded, in a
  bounded ring, so a browser reconnecting with ``Last-Event-ID`` gets exactly what it missed.
- The worker thread exists only while at least one client is connected; idle, it waits on a
  condition variable (no polling).

This module has no FastAPI dependency; :mod:`fastscheduler.fastapi_integration` serves it.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fastscheduler.events import Event, EventType

if TYPE_CHECKING:
    from fastscheduler.scheduler import FastScheduler

log = logging.getLogger("fastscheduler.dashboard")

#: The job record fields sent over the stream (the API's records also carry readable times).
WIRE_JOB_KEYS = (
    "job_id",
    "name",
    "func_name",
    "status",
    "schedule",
    "next_run_in",
    "next_run_timestamp",
    "last_run_timestamp",
    "run_count",
    "failure_count",
    "retry_count",
    "paused",
    "running",
    "last_results",
    "kind",
    "tz",
)


class _Waitable(Protocol):
    async def wait(self) -> Any: ...


_JOB_EVENTS = frozenset(
    {
        EventType.JOB_ADDED,
        EventType.JOB_REMOVED,
        EventType.JOB_PAUSED,
        EventType.JOB_RESUMED,
        EventType.JOB_STARTED,
        EventType.JOB_SUCCEEDED,
        EventType.JOB_FAILED,
        EventType.JOB_RETRYING,
        EventType.JOB_MISSED,
        EventType.JOB_DEAD_LETTERED,
    }
)
_SCHEDULER_EVENTS = frozenset(
    {EventType.SCHEDULER_STARTED, EventType.SCHEDULER_STOPPED, EventType.DEAD_LETTERS_CLEARED}
)
#: Events that end a run (attempt) and what the run's status was.
_RUN_STATUS = {
    EventType.JOB_SUCCEEDED: "completed",
    EventType.JOB_RETRYING: "failed",
    EventType.JOB_FAILED: "failed",
    EventType.JOB_MISSED: "missed",
}


def wire_job(record: Mapping[str, Any]) -> dict[str, Any]:
    """The compact form of a ``get_job``/``get_jobs`` record that the stream sends (a one-shot
    job's also its time, ``at``, which the page shows in the viewer's zone)."""
    wire = {k: record.get(k) for k in WIRE_JOB_KEYS}
    if record.get("kind") == "date":
        wire["at"] = record.get("at")
    return wire


def stats_payload(stats: Mapping[str, Any], running: bool) -> dict[str, Any]:
    """``get_statistics()`` without the per-job table (which grows with the number of jobs)."""
    out = {k: v for k, v in stats.items() if k != "per_job"}
    out["running"] = running
    return out


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def encode_sse(event: str, data: object, *, id: str | None = None, retry: int | None = None) -> bytes:
    """One SSE message (``id``/``event``/``data`` lines and a blank line). The data is JSON on a
    single line (JSON escapes newlines inside strings), so it needs no line splitting."""
    parts = []
    if id is not None:
        parts.append(f"id: {id}\n")
    parts.append(f"event: {event}\n")
    parts.append(f"data: {_dumps(data)}\n")
    if retry is not None:
        parts.append(f"retry: {retry}\n")
    parts.append("\n")
    return "".join(parts).encode()


class RunSeries:
    """Runs and failures per time bucket over a sliding window, at one resolution.

    A bucket is named by its index, ``int(timestamp // bucket_seconds)``, and lives in slot
    ``index % buckets`` of three fixed arrays (index, runs, failures), so memory is fixed
    (24 bytes a bucket) whatever the load, and a bucket that falls out of the window is simply
    overwritten. ``add`` is O(1); ``export`` is O(buckets). Not thread-safe: the hub calls it
    under its lock.
    """

    def __init__(self, bucket_seconds: int = 10, buckets: int = 360) -> None:
        self.bucket_seconds = bucket_seconds
        self.buckets = buckets
        self._index = array.array("q", [-1]) * buckets
        self._runs = array.array("q", [0]) * buckets
        self._failures = array.array("q", [0]) * buckets
        self._changed: set[int] = set()

    def add(self, timestamp: float, failed: bool) -> None:
        """Count one finished run at ``timestamp`` (epoch seconds)."""
        idx = int(timestamp // self.bucket_seconds)
        slot = idx % self.buckets
        held = self._index[slot]
        if held != idx:
            if held > idx:
                return  # older than the window
            self._index[slot], self._runs[slot], self._failures[slot] = idx, 0, 0
        self._runs[slot] += 1
        if failed:
            self._failures[slot] += 1
        if len(self._changed) >= self.buckets:  # nobody exported for a whole window
            self._changed = {k for k in self._changed if k > idx - self.buckets}
        self._changed.add(idx)

    def export(self, now: float, *, changed_only: bool = False) -> dict[str, Any]:
        """The non-empty buckets of the window ending with the one that contains ``now``, as
        ``[index, runs, failures]``, oldest first. ``changed_only``: only the buckets counted
        since the last such export (their new totals), and start a new round of changes."""
        last = int(now // self.bucket_seconds)
        first = last - self.buckets + 1
        if changed_only:
            slots = sorted(k % self.buckets for k in self._changed)
            self._changed = set()
        else:
            slots = list(range(self.buckets))
        cells = [
            [self._index[i], self._runs[i], self._failures[i]]
            for i in slots
            if first <= self._index[i] <= last and self._runs[i]
        ]
        cells.sort()
        return {"bucket_seconds": self.bucket_seconds, "buckets": self.buckets, "cells": cells}

    def forget_changes(self) -> None:
        """Start a new round of changes without exporting them (nobody would get them)."""
        self._changed.clear()


#: The chart's resolutions, ``(bucket seconds, buckets)``: 10 s for the last hour (the 5, 30 and
#: 60 minute windows) and 1 min for the last 24 hours: 1,800 buckets, 43 KB.
CHART_RESOLUTIONS: tuple[tuple[int, int], ...] = ((10, 360), (60, 1440))


class RunChart:
    """The dashboard chart's data: runs and failures at each of ``resolutions``.

    A run is one fire of a job and its retries, counted once when it ends (succeeded, or failed
    after its last attempt); a missed fire is not a run. ``export`` gives every bucket (for a
    snapshot) or only those changed since the last ``changed_only`` export (for a ``stats``
    message: the page adds them to what it has), so a message stays small however long the window.
    """

    def __init__(self, resolutions: Sequence[tuple[int, int]] = CHART_RESOLUTIONS) -> None:
        self.series = [RunSeries(seconds, buckets) for seconds, buckets in resolutions]

    def add(self, timestamp: float, failed: bool) -> None:
        """Count one finished run at ``timestamp`` (epoch seconds)."""
        for s in self.series:
            s.add(timestamp, failed)

    def export(self, now: float, *, changed_only: bool = False) -> dict[str, Any]:
        """``{"full": bool, "time": now, "series": [...]}``: see :meth:`RunSeries.export`."""
        return {
            "full": not changed_only,
            "time": now,
            "series": [s.export(now, changed_only=changed_only) for s in self.series],
        }

    def forget_changes(self) -> None:
        for s in self.series:
            s.forget_changes()


@dataclass(frozen=True, slots=True)
class Message:
    """An encoded SSE message; ``seq`` orders it in the hub's stream (snapshots reuse the
    sequence number of the last message they include)."""

    seq: int
    data: bytes


_END = Message(-1, b"")


class Client:
    """One connected stream. Its methods run on its event loop's thread only; the hub reaches
    them with ``loop.call_soon_threadsafe``."""

    def __init__(self, hub: Hub, loop: asyncio.AbstractEventLoop, max_queue: int) -> None:
        self.hub = hub
        self.loop = loop
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=max_queue)
        #: Between a snapshot request and its delivery, incremental messages are dropped (the
        #: snapshot, built after them, includes their effect).
        self.awaiting_snapshot = False
        self.closed = False
        self.snapshots = 0  # how many snapshots this client was sent (for tests and metrics)
        self.overflows = 0

    def _drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    def push(self, messages: Sequence[Message]) -> None:
        """Queue incremental messages; on overflow, drop them all and ask for a snapshot."""
        if self.closed or self.awaiting_snapshot or not messages:
            return
        if self.queue.qsize() + len(messages) > self.queue.maxsize:
            self._drain()
            self.overflows += 1
            self.awaiting_snapshot = True
            self.hub.request_snapshot(self)
            return
        for m in messages:
            self.queue.put_nowait(m)

    def deliver_snapshot(self, snapshot: Message) -> None:
        """Replace whatever is queued with ``snapshot`` (it already covers those messages)."""
        if self.closed:
            return
        self._drain()
        self.awaiting_snapshot = False
        self.snapshots += 1
        self.queue.put_nowait(snapshot)

    def end(self) -> None:
        """Finish the stream after what is already queued (or at once, if the queue is full)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.queue.put_nowait(_END)
        except asyncio.QueueFull:
            self._drain()
            self.queue.put_nowait(_END)


class Hub:
    """Turns one scheduler's events into SSE messages for any number of streams.

    ``ring_size`` bounds the messages kept for ``Last-Event-ID`` resumption; ``max_queue``
    bounds each client's queue (a client that falls further behind gets a snapshot instead);
    ``stats_interval`` is the least time between two ``stats`` messages (they coalesce).
    """

    def __init__(
        self,
        scheduler: FastScheduler,
        *,
        ring_size: int = 2048,
        max_queue: int = 4096,
        stats_interval: float = 0.5,
        chart: RunChart | None = None,
        retry_ms: int = 2000,
    ) -> None:
        self.scheduler = scheduler
        self.token = secrets.token_hex(4)
        self.max_queue = max_queue
        self.stats_interval = stats_interval
        self.retry_ms = retry_ms
        self.chart = chart or RunChart()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._seq = 0
        self._gap_open = False
        self._ring: collections.deque[Message] = collections.deque(maxlen=ring_size)
        self._clients: set[Client] = set()
        self._dirty_jobs: dict[str, None] = {}  # an ordered set
        self._runs: list[Event] = []
        self._dead: list[Event] = []
        self._stats_dirty = False
        self._resync = False
        self._stopped = False
        self._snapshot_requests: list[Client] = []
        self._last_stats = 0.0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._unsubscribe: Callable[[], None] | None = scheduler.subscribe(self._on_event)

    # ------------------------------------------------------------------ publishing side

    def _on_event(self, event: Event) -> None:
        """Scheduler subscriber: runs on the publishing thread (sometimes with the scheduler's
        lock held), so it only records what changed and wakes the worker."""
        kind = event.type
        if kind not in _JOB_EVENTS and kind not in _SCHEDULER_EVENTS:
            return  # e.g. state_saved: nothing the dashboard shows
        with self._lock:
            status = _RUN_STATUS.get(kind)
            if kind is EventType.JOB_SUCCEEDED or kind is EventType.JOB_FAILED:
                self.chart.add(event.timestamp, kind is EventType.JOB_FAILED)  # retries are not runs
            if not self._clients:
                self._open_gap()  # nobody listens: nothing is rendered, so no id can resume
                return
            if kind in _JOB_EVENTS and event.job_id is not None:
                self._dirty_jobs[event.job_id] = None
            if status is not None:
                self._runs.append(event)
            if kind is EventType.JOB_DEAD_LETTERED or kind is EventType.DEAD_LETTERS_CLEARED:
                self._dead.append(event)  # in order: a clear then a new letter shows one letter
            if kind is EventType.SCHEDULER_STARTED:
                self._resync = True  # every job's next run changed
            if kind is EventType.SCHEDULER_STOPPED:
                self._stopped = True
            self._stats_dirty = True  # counts, running jobs or active jobs changed
            self._wake.notify()

    def _open_gap(self) -> None:
        """Make every id issued so far non-resumable (lock held): changes were not rendered."""
        if not self._gap_open:
            self._gap_open = True
            self._seq += 1
            self._ring.clear()

    def request_snapshot(self, client: Client) -> None:
        """Ask the worker for a fresh snapshot for ``client`` (any thread)."""
        with self._lock:
            if client in self._clients:
                self._snapshot_requests.append(client)
                self._wake.notify()

    # ------------------------------------------------------------------ streams

    def connect(self, last_event_id: str | None = None) -> Client:
        """Register a stream on the running loop. With a resumable ``last_event_id`` the client
        gets the messages after it; otherwise (or if too old) a snapshot comes first."""
        loop = asyncio.get_running_loop()
        client = Client(self, loop, self.max_queue)
        replay: list[Message] | None = None
        with self._lock:
            if self._closed:
                client.end()  # the stream ends at once
                return client
            self._clients.add(client)
            replay = self._replay_after(last_event_id)
            if replay is None:
                client.awaiting_snapshot = True
                self._snapshot_requests.append(client)
            self._ensure_worker()
            self._wake.notify()
        if replay:
            client.push(replay)  # on the loop thread: runs before any call_soon_threadsafe push
        return client

    def disconnect(self, client: Client) -> None:
        """Forget a stream (the worker thread exits when the last one goes)."""
        client.closed = True
        with self._lock:
            self._clients.discard(client)
            self._wake.notify()

    def _replay_after(self, last_event_id: str | None) -> list[Message] | None:
        """Messages after ``last_event_id``, or None if a snapshot is needed (lock held)."""
        if not last_event_id:
            return None
        token, _, seq_text = last_event_id.strip().partition("-")
        if token != self.token or not seq_text.isdigit() or len(seq_text) > 18:
            return None
        seq = int(seq_text)
        if seq == self._seq and not self._gap_open:
            return []
        if seq > self._seq or not self._ring or self._ring[0].seq > seq + 1:
            return None
        return [m for m in self._ring if m.seq > seq]

    async def stream(
        self, last_event_id: str | None = None, *, stop: _Waitable | None = None
    ) -> AsyncIterator[bytes]:
        """The SSE body for one connection: a snapshot (or the missed messages), then every
        change as it happens. Ends (cleanly, after what is queued) when the hub closes, the
        scheduler stops, or ``stop`` (e.g. the server's shutdown event) is set."""
        client = self.connect(last_event_id)
        watcher = asyncio.ensure_future(self._end_when(stop, client)) if stop is not None else None
        try:
            while True:
                message = await client.queue.get()
                if message is _END:
                    return
                yield message.data
        finally:
            if watcher is not None:
                watcher.cancel()
            self.disconnect(client)

    @staticmethod
    async def _end_when(stop: _Waitable, client: Client) -> None:
        await stop.wait()
        client.end()

    @property
    def client_count(self) -> int:
        """How many streams are connected."""
        with self._lock:
            return len(self._clients)

    @property
    def worker_alive(self) -> bool:
        """Whether the worker thread is running (it runs only while clients are connected)."""
        with self._lock:
            return self._thread is not None

    def close(self) -> None:
        """Stop listening to the scheduler and end every stream."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            clients = list(self._clients)
            self._wake.notify()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for c in clients:
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                c.loop.call_soon_threadsafe(c.end)

    # ------------------------------------------------------------------ worker

    def _ensure_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="fastscheduler-dashboard", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        try:
            while self._step():
                pass
        except Exception:  # pragma: no cover - a bug; keep the streams alive without updates
            log.exception("dashboard event worker failed")
            with self._lock:
                self._thread = None

    def _step(self) -> bool:
        """Wait for work, render it, deliver it. False when the worker should exit."""
        with self._lock:
            while True:
                if self._closed or not self._clients:
                    self._thread = None
                    if self._dirty_jobs or self._runs or self._dead or self._resync or self._stats_dirty:
                        self._open_gap()  # dropped unrendered changes: the last id can't resume
                    self._dirty_jobs.clear()
                    self.chart.forget_changes()  # the next client's snapshot has them all
                    self._runs.clear()
                    self._dead.clear()
                    self._snapshot_requests.clear()
                    self._stats_dirty = self._resync = self._stopped = False
                    return False
                stats_wait = self._last_stats + self.stats_interval - time.monotonic()
                if (
                    self._dirty_jobs
                    or self._runs
                    or self._dead
                    or self._snapshot_requests
                    or self._resync
                    or self._stopped
                    or (self._stats_dirty and stats_wait <= 0)
                ):
                    break
                self._wake.wait(stats_wait if self._stats_dirty else None)
            job_ids = list(self._dirty_jobs)
            self._dirty_jobs.clear()
            runs, self._runs = self._runs, []
            dead, self._dead = self._dead, []
            requests, self._snapshot_requests = self._snapshot_requests, []
            resync, self._resync = self._resync, False
            stopped, self._stopped = self._stopped, False
            send_stats = self._stats_dirty and (stats_wait <= 0 or stopped or resync)
            if send_stats:
                self._stats_dirty = False
                self._last_stats = time.monotonic()

        # Outside the hub's lock: read the scheduler (it takes its own lock).
        sched = self.scheduler
        payloads: list[tuple[str, object]] = []
        records: dict[str, dict[str, Any] | None] = {}
        for job_id in job_ids:
            rec = sched.get_job(job_id)
            records[job_id] = rec
            payloads.append(("job", {"job": wire_job(rec)} if rec else {"job_id": job_id, "removed": True}))
        for ev in runs:
            rec = records.get(ev.job_id or "")
            data = dict(ev.data)
            payloads.append(
                (
                    "run",
                    {
                        "job_id": ev.job_id,
                        "name": rec["name"] if rec else None,
                        "func_name": rec["func_name"] if rec else None,
                        "status": _RUN_STATUS[ev.type],
                        "timestamp": ev.timestamp,
                        "attempt": data.get("attempt"),
                        "error": data.get("reason" if ev.type is EventType.JOB_MISSED else "error"),
                        "retry_in": data.get("delay"),
                        "missed": data.get("count"),
                    },
                )
            )
        for ev in dead:
            if ev.type is EventType.DEAD_LETTERS_CLEARED:
                cleared = {"cleared": ev.data.get("cleared"), "timestamp": ev.timestamp}
                payloads.append(("dead_letters_cleared", cleared))
                continue
            rec = records.get(ev.job_id or "")
            payloads.append(
                (
                    "dead_letter",
                    {
                        "job_id": ev.job_id,
                        "name": rec["name"] if rec else None,
                        "error": ev.data.get("error"),
                        "attempts": ev.data.get("attempts"),
                        "timestamp": ev.timestamp,
                    },
                )
            )
        stats: dict[str, Any] | None = None
        if send_stats or requests or resync:
            stats = stats_payload(sched.get_statistics(), sched.running)
        jobs = [wire_job(r) for r in sched.get_jobs()] if requests or resync else None

        with self._lock:
            now = time.time()
            if stats is not None and send_stats:
                payloads.append(("stats", {**stats, "chart": self.chart.export(now, changed_only=True)}))
            messages = []
            for event_name, payload in payloads:
                self._seq += 1
                sse_id = f"{self.token}-{self._seq}"
                messages.append(Message(self._seq, encode_sse(event_name, payload, id=sse_id)))
            if messages:
                self._gap_open = False
                self._ring.extend(messages)
            if resync:  # earlier ids can't be replayed onto the new state: resumers get a snapshot
                self._seq += 1
                self._ring.clear()
            clients = list(self._clients)
            snapshot = None
            if jobs is not None:
                assert stats is not None
                self._gap_open = False  # the snapshot covers everything up to this id
                snap_id = f"{self.token}-{self._seq}"
                body = {"jobs": jobs, "stats": {**stats, "chart": self.chart.export(now)}, "server_time": now}
                snapshot = Message(self._seq, encode_sse("snapshot", body, id=snap_id, retry=self.retry_ms))
            targets = clients if resync else [c for c in requests if c in self._clients]

        for c in clients:
            try:
                if messages:
                    c.loop.call_soon_threadsafe(c.push, messages)
                if snapshot is not None and c in targets:
                    c.loop.call_soon_threadsafe(c.deliver_snapshot, snapshot)
                if stopped:
                    c.loop.call_soon_threadsafe(c.end)
            except RuntimeError:  # the client's loop is closed: it is gone
                self.disconnect(c)
        return True

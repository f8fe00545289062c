"""Async jobs on an event loop: the application's when ``start()`` ran inside one, otherwise one
loop owned by the scheduler (in its own thread). Never a fresh loop per run.

At ``shutdown`` the runs still going once the wait is over (or at once, without ``wait``) are
cancelled, and each is reported as a failed run then (``asyncio.CancelledError``): a run dropped
with a stopped loop would never report, and the scheduler would wait for it forever."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable

from fastscheduler._core import Run
from fastscheduler.executors.base import Executor, Once, RunOutcome

#: The error of a run cancelled because the scheduler stopped before it ended.
STOPPED = "cancelled: the scheduler stopped before the run ended"


class AsyncioExecutor(Executor):
    """Runs coroutine functions as tasks. A timeout cancels the task at the deadline."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._own_thread: threading.Thread | None = None
        self._inflight: set[concurrent.futures.Future[None]] = set()
        self._lock = threading.Lock()
        self._stopping = False  # shutdown() is cancelling what is left

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Use ``loop`` (the application's) when given; otherwise the owned loop, started lazily."""
        self._app_loop = loop
        self._stopping = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop async jobs run on now."""
        app = self._app_loop
        if app is not None and not app.is_closed():
            return app
        with self._lock:
            if self._own_loop is None:
                own = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(own)
                    own.call_soon(ready.set)
                    try:
                        own.run_forever()
                        _end_tasks(own)
                    finally:
                        own.close()  # here, not in shutdown(): it may return before the loop ends

                self._own_thread = threading.Thread(target=serve, name="fastscheduler-asyncio", daemon=True)
                self._own_thread.start()
                ready.wait()
                self._own_loop = own
            return self._own_loop

    def submit(self, run: Run) -> None:
        clock = self._clock
        timeout = run.timeout
        report = Once(run.report)

        async def runner() -> None:
            started = clock()
            error: BaseException | None = None
            timed_out = False
            try:
                if timeout is None:
                    await run.call()
                else:
                    await asyncio.wait_for(run.call(), timeout)
            except asyncio.TimeoutError:
                error, timed_out = TimeoutError(f"timed out after {timeout:g} s (cancelled)"), True
            except asyncio.CancelledError as exc:
                # By shutdown() (the loop thread may see the cancel before done() below runs).
                error = asyncio.CancelledError(STOPPED) if self._stopping else exc
            except BaseException as exc:  # a job's SystemExit is a failed run, not ours
                error = exc
            report(RunOutcome(started_at=started, finished_at=clock(), error=error, timed_out=timed_out))

        def done(future: concurrent.futures.Future[None]) -> None:
            with self._lock:
                self._inflight.discard(future)
            if future.cancelled():  # by shutdown(), maybe before the runner even started
                now = clock()
                report(RunOutcome(started_at=now, finished_at=now, error=asyncio.CancelledError(STOPPED)))

        future = asyncio.run_coroutine_threadsafe(runner(), self.loop)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(done)

    def pending(self) -> list[concurrent.futures.Future[None]]:
        """Runs not finished yet."""
        with self._lock:
            return list(self._inflight)

    def on_app_loop_thread(self) -> bool:
        """True when called from the application's running loop (where blocking would deadlock)."""
        try:
            return asyncio.get_running_loop() is self._app_loop
        except RuntimeError:
            return False

    def shutdown(self, wait: bool, timeout: float | None) -> None:
        """With ``wait``, wait up to ``timeout`` seconds for the runs in flight; then cancel the
        ones still going (each reports a failed run) and end the owned loop, if any."""
        end = None if timeout is None else time.monotonic() + timeout
        self._stopping = True
        if wait and not self.on_app_loop_thread():
            concurrent.futures.wait(self.pending(), timeout=timeout)
        for future in self.pending():
            future.cancel()
        with self._lock:
            own, self._own_loop = self._own_loop, None
            thread, self._own_thread = self._own_thread, None
        if own is not None:
            own.call_soon_threadsafe(own.stop)
            if thread is not None and thread is not threading.current_thread():  # stop() from a job
                # Normally at once; a job blocking its loop delays it, but not past the deadline.
                thread.join(None if end is None else max(0.0, end - time.monotonic()))


def _end_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does when its main coroutine ends: cancel the tasks left on ``loop``
    (a job's own background tasks) and let them unwind, so their ``finally`` blocks run."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())

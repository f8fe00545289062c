"""``.timeout(s, kill=True)``: each run in a forked child process that is killed at the deadline.

Python cannot stop a thread, so the only way to really end a sync job that overran is to run it in a
process of its own. On POSIX each run forks the scheduler process (so the job function, its
arguments and everything it closes over need not be picklable); the child runs the job (an
``async def`` job under ``asyncio.run``) and sends its outcome back through a pipe; the parent waits
on a supervisor thread (at most ``max_workers`` runs at once) and sends ``SIGKILL`` at the deadline.

What a run in a child can and cannot do: it sees a copy of the parent's memory at fork time, so
changes it makes to Python objects are not seen by the scheduler process; only its outcome (success,
or the exception, pickled when possible) comes back. A forked child of a multi-threaded process has
only the forking thread: a job that needs locks held by other threads at that instant (rare; logging
and the scheduler are safe) could block — and would then be killed at its deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import os
import pickle
import select
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from fastscheduler._core import Run
from fastscheduler.executors.base import Executor, RunOutcome

#: The error of a run whose process was not started because the scheduler stopped first.
STOPPED = "not run: the scheduler stopped before the job's process started"


class JobProcessError(Exception):
    """A job run in a child process failed; ``str()`` carries the child's error and traceback text
    when its exception could not be sent back as it was."""


class SubprocessExecutor(Executor):
    """Runs each job in a forked child process, killed with ``SIGKILL`` at its timeout."""

    def __init__(self, max_workers: int, clock: Callable[[], float] = time.time) -> None:
        self._max_workers = max_workers
        self._clock = clock
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._children: set[int] = set()
        # Runs submitted and not reported yet, by their supervision's future.
        self._runs: dict[concurrent.futures.Future[None], Run] = {}
        self._ending = False  # shutdown() is ending the runs: fork no more children
        self._lock = threading.Lock()

    def start(self) -> None:
        self._ending = False
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="fastscheduler-supervisor"
            )

    def submit(self, run: Run) -> None:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        future = self._pool.submit(self._supervise, run)
        with self._lock:
            self._runs[future] = run
        future.add_done_callback(self._forget)

    def _forget(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._runs.pop(future, None)

    def _supervise(self, run: Run) -> None:
        started = self._clock()
        try:
            error, timed_out = self._run_in_child(run)
        except BaseException as exc:  # fork failed, or similar: a failed run
            error, timed_out = exc, False
        run.report(
            RunOutcome(started_at=started, finished_at=self._clock(), error=error, timed_out=timed_out)
        )

    def _run_in_child(self, run: Run) -> tuple[BaseException | None, bool]:
        timeout = run.timeout
        if not hasattr(os, "fork"):
            raise JobProcessError(".timeout(kill=True) needs os.fork (POSIX); this platform has none")
        read_fd, write_fd = os.pipe()
        # Under the lock: a shutdown() ending the runs either sees this child or stops its fork.
        with self._lock:
            if self._ending:
                os.close(read_fd)
                os.close(write_fd)
                raise JobProcessError(STOPPED)
            with warnings.catch_warnings():
                # Python 3.12+ warns that forking a multi-threaded process may deadlock the child;
                # the child only runs the job and exits, and a stuck child is killed at its deadline.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; its outcome is asserted through the parent
                os.close(read_fd)
                _child(run, write_fd)
            self._children.add(pid)
        os.close(write_fd)
        try:
            data, finished = _read_until(read_fd, None if timeout is None else time.monotonic() + timeout)
            if not finished:
                os.kill(pid, signal.SIGKILL)
                _reap(pid)
                return TimeoutError(f"timed out after {timeout:g} s; the job's process was killed"), True
            status = _reap(pid)
        finally:
            os.close(read_fd)
            with self._lock:
                self._children.discard(pid)
        return _outcome(data, status), False

    def shutdown(self, wait: bool, timeout: float | None) -> None:
        """With ``wait``, wait up to ``timeout`` seconds for the runs in flight. The ones still
        going then (or at once, without ``wait``) are ended: a run not started yet is reported
        cancelled, a running one's process is killed (its supervisor reports that)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if wait:
            with self._lock:
                futures = list(self._runs)
            concurrent.futures.wait(futures, timeout=timeout)
        with self._lock:
            self._ending = True
            queued = list(self._runs.items())
            children = list(self._children)
        for future, run in queued:
            if future.cancel():  # never started: nobody else will report it
                now = self._clock()
                run.report(RunOutcome(started_at=now, finished_at=now, error=JobProcessError(STOPPED)))
        for pid in children:  # a stop ends the runs it does not wait for
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pool.shutdown(wait=False)


def _child(run: Run, fd: int) -> None:
    """Run the job, write ``pickle((ok, payload))`` to ``fd`` and leave with ``os._exit``: no atexit
    hook, no thread join, no finalizer of the parent's objects runs in the child."""
    code = 0
    try:
        try:
            result = run.call()
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
            message = pickle.dumps((True, None))
        except BaseException as exc:
            text = "".join(traceback.format_exception(exc))
            try:
                message = pickle.dumps((False, (exc, text)))
                pickle.loads(message)  # an exception that pickles but does not unpickle
            except Exception:
                message = pickle.dumps((False, (None, text)))
        view = memoryview(message)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        code = 70
    finally:
        os._exit(code)


async def _await(awaitable: Any) -> None:
    await awaitable


def _read_until(fd: int, deadline: float | None) -> tuple[bytes, bool]:
    """Read ``fd`` to EOF; ``(data, False)`` if ``deadline`` (monotonic) passed first."""
    chunks: list[bytes] = []
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return b"".join(chunks), False
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def _reap(pid: int) -> int:
    """Wait for the child; its exit status as ``os.waitstatus_to_exitcode`` gives it."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _outcome(data: bytes, exit_code: int) -> BaseException | None:
    if not data:
        how = f"was killed by signal {-exit_code}" if exit_code < 0 else f"exited with code {exit_code}"
        return JobProcessError(f"the job's process {how} before reporting an outcome")
    ok, payload = pickle.loads(data)
    if ok:
        return None
    exc, text = payload
    if isinstance(exc, BaseException):
        if hasattr(exc, "add_note"):  # Python 3.11+: the child's traceback travels as a note
            exc.add_note(f"In the job's process:\n{text.rstrip()}")
        return exc
    return JobProcessError(text.rstrip())

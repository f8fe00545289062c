"""Live status of a long benchmark run, on stderr: which measurement, k of n, elapsed time.

On a terminal it is one line redrawn in place (carriage return) once a second, with finished
measurements printed above it; otherwise (a pipe, a CI log) one plain line when a measurement
starts and one when it ends, so nothing is lost in a log file.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def clock(seconds: float) -> str:
    """``42 s``, ``3 min 04 s``, ``1 h 02 min``."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """``begin(label)`` starts measurement k (of ``total``), ``end(detail)`` finishes it."""

    def __init__(
        self, total: int, name: str = "", stream: TextIO | None = None, tty: bool | None = None
    ) -> None:
        self.total = total
        self.name = f"{name} " if name else ""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.k = 0
        self.label = ""
        self.began = self.step_began = time.monotonic()
        self._lock = threading.Lock()
        self._active = False
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def _prefix(self) -> str:
        return f"{self.name}[{self.k}/{self.total}]"

    def _status(self) -> str:
        now = time.monotonic()
        return (
            f"{self._prefix()} {self.label}: {clock(now - self.step_began)} (total {clock(now - self.began)})"
        )

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _redraw(self) -> None:
        self._write("\r\033[K" + self._status())

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self._active:
                    self._redraw()

    def begin(self, label: str) -> None:
        with self._lock:
            self.k = min(self.k + 1, self.total)
            self.label = label
            self.step_began = time.monotonic()
            self._active = True
            if self.tty:
                self._redraw()
                if self._ticker is None:
                    self._ticker = threading.Thread(target=self._tick, daemon=True, name="bench-status")
                    self._ticker.start()
            else:
                self._write(f"{self._prefix()} {label} ... (total {clock(self.step_began - self.began)})\n")

    def end(self, detail: str = "") -> None:
        with self._lock:
            took = time.monotonic() - self.step_began
            line = f"{self._prefix()} {self.label}: done in {took:.1f} s" + (f": {detail}" if detail else "")
            self._active = False
            self._write(("\r\033[K" if self.tty else "") + line + "\n")

    def skip(self, count: int = 1) -> None:
        """Count planned measurements that will not run (the plan changed on the way)."""
        with self._lock:
            self.total = max(self.k, self.total - count)

    def log(self, line: str) -> None:
        """A message of its own, kept above the status line."""
        with self._lock:
            self._write(("\r\033[K" if self.tty else "") + line + "\n")
            if self.tty and self._active:
                self._redraw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.tty and self._active:
                self._write("\n")
            self._active = False

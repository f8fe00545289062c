"""Helpers for the dashboard tests: an SSE reader that drives the ASGI app directly (no network,
no buffering), and a uvicorn server on 127.0.0.1 for the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SSE:
    """One parsed Server-Sent Event."""

    event: str
    id: str | None
    data: Any
    retry: int | None = None


def parse_block(block: str) -> SSE | None:
    """Parse one event block (lines without the blank separator); None for comment-only blocks."""
    event, ident, retry, data_lines = "message", None, None, []
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "id":
            ident = value
        elif name == "data":
            data_lines.append(value)
        elif name == "retry":
            retry = int(value)
    if not data_lines and ident is None and event == "message":
        return None
    raw = "\n".join(data_lines)
    try:
        data = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        data = raw
    return SSE(event, ident, data, retry)


@dataclass
class AsgiSSE:
    """``async with AsgiSSE(app) as s: ev = await s.until("run")`` — a GET on the event stream
    run straight against the ASGI app; leaving the block sends ``http.disconnect``."""

    app: Any
    path: str = "/scheduler/events"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    ended: bool = False
    seen: list[SSE] = field(default_factory=list)

    async def __aenter__(self) -> AsgiSSE:
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._buf = ""
        extra = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        hdrs = [(b"host", b"testserver"), *extra]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self.path,
            "raw_path": quote(self.path).encode(),
            "query_string": self.query.encode(),
            "root_path": "",
            "headers": hdrs,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self._task = asyncio.create_task(self.app(scope, self._receive, self._send))
        start = await asyncio.wait_for(self._sent.get(), 5)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def _receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        await self._sent.put(message)

    async def next_event(self, timeout: float = 5.0) -> SSE | None:
        """The next event (comments skipped); None once the server has ended the stream."""
        while True:
            if "\n\n" in self._buf:
                block, self._buf = self._buf.split("\n\n", 1)
                ev = parse_block(block)
                if ev is not None:
                    self.seen.append(ev)
                    return ev
                continue
            if self.ended:
                return None
            msg = await asyncio.wait_for(self._sent.get(), timeout)
            self._buf += msg.get("body", b"").decode().replace("\r\n", "\n")
            if not msg.get("more_body", False):
                self.ended = True

    async def until(self, name: str, timeout: float = 5.0) -> SSE:
        """Read events until one named ``name`` arrives (the others stay in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            ev = await self.next_event(max(0.01, deadline - time.monotonic()))
            if ev is None:
                seen = [e.event for e in self.seen]
                raise AssertionError(f"stream ended before a {name!r} event; saw {seen}")
            if ev.event == name:
                return ev

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._gone.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._task, 5)


async def asgi_request(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    server: tuple[str, int] = ("127.0.0.1", 8000),
) -> tuple[int, Any]:
    """One request straight to the ASGI app with exactly ``headers`` (none added: not even
    ``Host``) as if it reached the server at ``server``; returns the status and the JSON body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.0",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": quote(path).encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": server,
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 5)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body) if body else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UvicornProcess:
    """``uvicorn module:app`` in a subprocess on 127.0.0.1 (a random free port), the way a user
    runs it, so shutdown on a signal is the real one. ``app_dir`` holds the module."""

    def __init__(self, app_dir: Path, target: str = "app:app", env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.log_path = app_dir / "uvicorn.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=app_dir,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str = "/scheduler/api/status", timeout: float = 60.0) -> None:
        """Poll until the server answers ``path`` with 200 (or fail with its log)."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"uvicorn exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"uvicorn did not come up in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT, then SIGKILL if it does not exit in ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

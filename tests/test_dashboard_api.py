"""The FastAPI dashboard's HTTP API and live stream, against the ASGI app (no network), on a
manual clock where timing matters. The last tests run a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import pytest
from _dashboard_support import AsgiSSE, UvicornProcess, asgi_request, free_port, parse_block
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.testclient import TestClient

from fastscheduler import FastScheduler, ManualClock
from fastscheduler import fastapi_integration as fi
from fastscheduler.dashboard.hub import Hub, RunSeries, encode_sse
from fastscheduler.fastapi_integration import create_scheduler_routes, host_is_allowed, origin_matches_host

T0 = 1_780_000_000.0
XSS = "<script>alert(1)</script>"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sched(clock: ManualClock, tmp_path: Path) -> Iterator[FastScheduler]:
    s = FastScheduler(str(tmp_path / "state.json"), quiet=True, clock=clock)

    @s.every(10).seconds.id("tick")
    def tick() -> None:
        pass

    @s.every(30).seconds.retries(0).id("boom")
    def boom() -> None:
        raise RuntimeError(f"bad input {XSS}")

    @s.daily.at("09:00", tz="Europe/Paris")
    def report() -> None:
        pass

    yield s
    s.stop(wait=True, timeout=5)


def make_app(s: FastScheduler, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(create_scheduler_routes(s, **kwargs))
    return app


@pytest.fixture
def app(sched: FastScheduler) -> FastAPI:
    return make_app(sched)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def wait_for(pred: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# ---------------------------------------------------------------------- page and queries


def test_page_is_self_contained_html_with_a_strict_csp(client: TestClient) -> None:
    r = client.get("/scheduler/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    csp = r.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and f'nonce="{nonce.group(1)}"' in html
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    # Nothing loaded from the network: no CDN, no web fonts.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "@import" not in html and "fonts.g" not in html
    assert '"readOnly":false' in html
    assert "prefers-color-scheme: dark" in html
    assert client.get("/scheduler/").headers["content-security-policy"] != csp  # a fresh nonce each time


def test_status_and_stats(client: TestClient, sched: FastScheduler) -> None:
    r = client.get("/scheduler/api/status")
    assert r.status_code == 200
    body = r.json()
    assert body["running"] is False
    assert body["statistics"]["total_jobs"] == 3
    sched.start()
    stats = client.get("/scheduler/api/stats").json()
    assert stats["active_jobs"] == 3 and stats["success_rate"] == 100.0
    assert client.get("/scheduler/api/status").json()["running"] is True


def test_jobs_list_filters_and_pages(client: TestClient, sched: FastScheduler) -> None:
    body = client.get("/scheduler/api/jobs").json()
    assert body["total"] == 3 and len(body["jobs"]) == 3 and body["limit"] is None
    assert {j["job_id"] for j in body["jobs"]} >= {"tick", "boom"}
    assert client.get("/scheduler/api/jobs", params={"q": "BOO"}).json()["jobs"][0]["job_id"] == "boom"
    assert client.get("/scheduler/api/jobs", params={"q": "every 10"}).json()["total"] == 1
    assert client.get("/scheduler/api/jobs", params={"q": "europe/paris"}).json()["total"] == 1
    page = client.get("/scheduler/api/jobs", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 3 and len(page["jobs"]) == 1 and page["offset"] == 2
    sched.pause_job("tick")
    paused = client.get("/scheduler/api/jobs", params={"status": "paused"}).json()
    assert [j["job_id"] for j in paused["jobs"]] == ["tick"]
    assert client.get("/scheduler/api/jobs", params={"status": "running"}).json()["total"] == 0


def test_job_detail_and_unknown_job_is_404(client: TestClient, sched: FastScheduler) -> None:
    job = client.get("/scheduler/api/jobs/tick").json()["job"]
    assert job["job_id"] == "tick" and job["schedule"] == "Every 10 seconds" and "timeout" in job
    # Default ids contain '/', ' ', '*' and ':' (here: '...daily:09:00:00@Europe/Paris').
    daily = next(j["job_id"] for j in sched.get_jobs() if "daily" in j["job_id"])
    assert "/" in daily
    r = client.get("/scheduler/api/jobs/" + quote(daily, safe=""))
    assert r.status_code == 200 and r.json()["job"]["job_id"] == daily
    missing = client.get("/scheduler/api/jobs/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "job 'nope' not found",
        "error": "job 'nope' not found",
        "job_id": "nope",
    }
    for action in ("run", "pause", "resume", "cancel"):
        r = client.post(f"/scheduler/api/jobs/nope/{action}")
        assert r.status_code == 404 and r.json()["job_id"] == "nope"


def test_actions_and_conflicts(client: TestClient, sched: FastScheduler, clock: ManualClock) -> None:
    post = lambda path: client.post("/scheduler/api/jobs/tick/" + path)  # noqa: E731
    assert post("resume").status_code == 409  # not paused
    r = post("pause")
    assert r.status_code == 200 and r.json() == {
        "success": True,
        "job_id": "tick",
        "message": "job tick paused",
    }
    assert sched.get_job("tick")["paused"] is True  # type: ignore[index]
    conflict = post("pause")
    assert conflict.status_code == 409 and conflict.json()["detail"] == "the job is paused already"
    assert post("resume").status_code == 200
    assert post("resume").status_code == 409
    # Run needs a running scheduler.
    assert post("run").status_code == 409
    sched.start()
    assert post("run").status_code == 200
    wait_for(lambda: sched.get_job("tick")["run_count"] == 1)  # type: ignore[index]
    # Actions are POST only: a GET there is 405 (see test_get_on_an_action_path_is_405).
    assert client.get("/scheduler/api/jobs/tick/pause").status_code == 405
    assert sched.get_job("tick")["paused"] is False  # type: ignore[index]
    assert post("cancel").status_code == 200
    assert post("cancel").status_code == 404
    assert client.get("/scheduler/api/jobs/tick").status_code == 404


def test_run_is_refused_while_the_job_runs(sched: FastScheduler) -> None:
    started, release = threading.Event(), threading.Event()

    @sched.every(1).hours.id("slow")
    def slow() -> None:
        started.set()
        release.wait(5)

    client = TestClient(make_app(sched))
    sched.start()
    assert client.post("/scheduler/api/jobs/slow/run").status_code == 200
    assert started.wait(5)
    r = client.post("/scheduler/api/jobs/slow/run")
    assert r.status_code == 409 and r.json()["detail"] == "the job is running already"
    release.set()


@pytest.mark.parametrize("action", ["run", "pause"])
def test_racing_requests_pass_the_state_check_once(
    sched: FastScheduler, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    # Two clicks at the same moment: the state check and the action are one step, so exactly one
    # request succeeds and the other gets the 409 (a double-clicked Run used to start two runs).
    # Reading the job is slowed down to hold the window between check and action wide open.
    runs, release = [], threading.Event()

    @sched.every(1).hours.id("slow")
    def slow() -> None:
        runs.append(1)
        release.wait(5)

    read = sched.get_job

    def slow_read(job_id: str) -> Any:
        record = read(job_id)
        time.sleep(0.2)
        return record

    monkeypatch.setattr(sched, "get_job", slow_read)
    client = TestClient(make_app(sched))
    sched.start()
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def click() -> None:
        barrier.wait()
        codes.append(client.post(f"/scheduler/api/jobs/slow/{action}").status_code)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(codes) == [200, 409]
    if action == "run":
        wait_for(lambda: runs)
        assert runs == [1]
    release.set()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/scheduler/api/jobs", {"limit": 0}),
        ("/scheduler/api/jobs", {"limit": "ten"}),
        ("/scheduler/api/jobs", {"offset": -1}),
        ("/scheduler/api/jobs", {"status": "sleeping"}),
        ("/scheduler/api/jobs", {"q": "x" * 201}),
        ("/scheduler/api/history", {"limit": 1001}),
        ("/scheduler/api/history", {"status": "running"}),
        ("/scheduler/api/history", {"since": "yesterday"}),
        ("/scheduler/api/history", {"offset": "-5"}),
        ("/scheduler/api/dead-letters", {"limit": 0}),
        ("/scheduler/events", {"last_event_id": "x" * 201}),
    ],
)
def test_invalid_parameters_are_422(client: TestClient, path: str, params: dict[str, Any]) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "query"


def test_history_filters_and_pagination(client: TestClient, sched: FastScheduler, clock: ManualClock) -> None:
    sched.start()
    clock.advance(60)  # tick: 6 runs; boom: 2 failed runs (no retries)
    h = client.get("/scheduler/api/history").json()
    assert h["total"] == 8 and len(h["history"]) == 8
    stamps = [e["timestamp"] for e in h["history"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    first = h["history"][0]
    assert {"job_id", "func_name", "status", "timestamp", "timestamp_readable", "error"} <= set(first)
    only = client.get("/scheduler/api/history", params={"job": "boom"}).json()
    assert only["total"] == 2 and {e["status"] for e in only["history"]} == {"failed"}
    assert XSS in only["history"][0]["error"]
    assert client.get("/scheduler/api/history", params={"status": "completed"}).json()["total"] == 6
    assert client.get("/scheduler/api/history", params={"func_name": "tick"}).json()["total"] == 6
    since = client.get("/scheduler/api/history", params={"since": T0 + 31}).json()
    assert since["total"] == 4  # tick at 40, 50, 60; boom at 60
    iso = client.get("/scheduler/api/history", params={"since": "2026-05-28T20:27:11Z"}).json()
    assert iso["total"] == 4
    page1 = client.get("/scheduler/api/history", params={"limit": 3}).json()
    page2 = client.get("/scheduler/api/history", params={"limit": 3, "offset": 3}).json()
    assert page1["total"] == page2["total"] == 8
    assert [e["timestamp"] for e in page1["history"] + page2["history"]] == stamps[:6]


def test_dead_letters_list_and_clear(client: TestClient, sched: FastScheduler, clock: ManualClock) -> None:
    sched.start()
    clock.advance(60)
    d = client.get("/scheduler/api/dead-letters").json()
    assert d["total"] == 2 and len(d["dead_letters"]) == 2
    letter = d["dead_letters"][0]
    assert letter["job_id"] == "boom" and letter["error_type"] == "RuntimeError"
    assert letter["error_message"] == f"bad input {XSS}"
    # The original's keys, as 0.2.x filled them in.
    assert letter["error"] == f"Max retries exceeded: RuntimeError: bad input {XSS}"
    assert (letter["status"], letter["retry_count"]) == ("failed", 0)
    assert letter["timestamp"] == letter["executed_at"] and letter["timestamp_readable"]
    assert letter["run_count"] == 2 and letter["execution_time"] >= 0  # the newest: boom's second run
    assert "Traceback" in letter["traceback"] and letter["attempts"] == 1
    assert len(client.get("/scheduler/api/dead-letters", params={"limit": 1}).json()["dead_letters"]) == 1
    r = client.delete("/scheduler/api/dead-letters")
    assert r.status_code == 200 and r.json() == {"success": True, "cleared": 2}
    assert client.get("/scheduler/api/dead-letters").json()["total"] == 0


# ---------------------------------------------------------------------- security


def test_read_only_has_no_action_routes_and_no_buttons(sched: FastScheduler) -> None:
    app = make_app(sched, read_only=True)
    client = TestClient(app)
    for action in ("run", "pause", "resume", "cancel"):
        assert client.post(f"/scheduler/api/jobs/tick/{action}").status_code in (404, 405)
    assert client.delete("/scheduler/api/dead-letters").status_code == 405
    assert sched.get_job("tick")["paused"] is False  # type: ignore[index]
    assert '"readOnly":true' in client.get("/scheduler/").text
    paths = client.get("/openapi.json").json()["paths"]
    assert not any("post" in ops or "delete" in ops for ops in paths.values())
    assert client.get("/scheduler/api/jobs").status_code == 200


def test_trusted_origins_let_a_proxied_dashboard_act(sched: FastScheduler) -> None:
    # Behind a proxy that rewrites Host (the app sees "app:8000", the browser is on
    # https://example.com), the public origin is listed; other origins are still refused, and
    # X-Forwarded-Host (which any client can send) changes nothing.
    client = TestClient(
        make_app(sched, trusted_origins=["https://Example.com:443", "http://admin.local:8080"])
    )
    proxied = {"Host": "app:8000"}

    def pause(**headers: str) -> Any:
        return client.post("/scheduler/api/jobs/tick/pause", headers={**proxied, **headers})

    assert pause(Origin="https://example.com").status_code == 200
    assert (
        client.post(
            "/scheduler/api/jobs/tick/resume", headers={**proxied, "Origin": "http://admin.local:8080"}
        ).status_code
        == 200
    )
    refused = pause(Origin="https://evil.example", **{"X-Forwarded-Host": "evil.example"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "cross-site request refused: Origin 'https://evil.example' is not this host; behind a proxy that "
        "rewrites Host, list the public origin in create_scheduler_routes(trusted_origins=...)"
    )
    assert pause(Origin="https://example.com:8443").status_code == 403  # another port is another origin
    assert pause(Origin="http://example.com").status_code == 403  # and another scheme
    assert sched.get_job("tick")["paused"] is False  # type: ignore[index]


@pytest.mark.parametrize(
    ("origins", "error"),
    [
        (["example.com"], "trusted_origins: 'example.com' is not an origin"),
        (["https://example.com/app"], "trusted_origins: 'https://example.com/app' is not an origin"),
        (["ftp://example.com"], "trusted_origins: 'ftp://example.com' is not an origin"),
        (["https://example.com:99999"], "trusted_origins: 'https://example.com:99999' is not an origin"),
        ([None], "trusted_origins: None is not an origin"),
    ],
)
def test_bad_trusted_origins_are_refused_when_the_routes_are_made(
    sched: FastScheduler, origins: list[Any], error: str
) -> None:
    with pytest.raises(
        ValueError, match=re.escape(error) + r"; write scheme://host\[:port\] with http or https"
    ):
        create_scheduler_routes(sched, trusted_origins=origins)


def test_trusted_origins_must_be_a_list_not_a_string(sched: FastScheduler) -> None:
    with pytest.raises(
        TypeError, match=r"trusted_origins must be a list of origins, not the string 'https://a.b'"
    ):
        create_scheduler_routes(sched, trusted_origins="https://a.b")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "http://testserver"}, 200),
        ({"Origin": "http://TestServer:80"}, 200),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://testserver.evil.example"}, 403),
        ({"Origin": "http://testserver:8080"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, 200),
    ],
)
def test_actions_reject_cross_site_requests(
    client: TestClient, sched: FastScheduler, headers: dict[str, str], status: int
) -> None:
    r = client.post("/scheduler/api/jobs/tick/pause", headers=headers)
    assert r.status_code == status, r.text
    assert sched.get_job("tick")["paused"] is (status == 200)  # type: ignore[index]
    assert client.delete("/scheduler/api/dead-letters", headers=headers).status_code == status


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        ("http://a.example", "a.example", True),
        ("https://a.example", "a.example", True),  # TLS terminated in front of the app
        ("https://a.example:443", "a.example", True),
        ("http://a.example:8000", "a.example:8000", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://a.example:8001", "a.example:8000", False),
        ("http://a.example:8000", "a.example", False),
        ("http://b.example", "a.example", False),
        ("ftp://a.example", "a.example", False),
        ("null", "a.example", False),
        ("http://a.example/path", "a.example", False),
        ("http://a.example:99999", "a.example", False),
        ("http://a.example", None, False),
    ],
)
def test_origin_matching(origin: str, host: str | None, ok: bool) -> None:
    assert origin_matches_host(origin, host) is ok


USER, PASSWORD = "admin", "s3cret"
basic = HTTPBasic()


def require_admin(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> None:
    user_ok = secrets.compare_digest(credentials.username.encode(), USER.encode())
    pass_ok = secrets.compare_digest(credentials.password.encode(), PASSWORD.encode())
    if not (user_ok and pass_ok):
        raise HTTPException(401, "wrong credentials", headers={"WWW-Authenticate": "Basic"})


def test_dependencies_protect_every_route_including_the_stream(sched: FastScheduler) -> None:
    app = make_app(sched, dependencies=[Depends(require_admin)])
    client = TestClient(app)
    checked = []
    for template, operations in client.get("/openapi.json").json()["paths"].items():
        path = template.replace("{job_id}", "tick")
        for method in operations:
            r = client.request(method, path)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"] == "Basic"
            wrong = client.request(method, path, auth=("admin", "guess"))
            assert wrong.status_code == 401
            checked.append((method.upper(), path))
    assert ("GET", "/scheduler/events") in checked and ("GET", "/scheduler/metrics") in checked
    assert ("GET", "/scheduler/") in checked
    assert len(checked) == 14
    assert sched.get_job("tick") is not None  # nothing ran without credentials
    ok = client.get("/scheduler/api/jobs", auth=(USER, PASSWORD))
    assert ok.status_code == 200
    assert client.post("/scheduler/api/jobs/tick/pause", auth=(USER, PASSWORD)).status_code == 200

    async def stream() -> None:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        async with AsgiSSE(app, headers={"Authorization": f"Basic {token}"}) as s:
            assert s.status == 200
            assert (await s.until("snapshot")).data["stats"]["total_jobs"] == 3

    asyncio.run(stream())


def test_data_is_never_interpolated_into_html(sched: FastScheduler, clock: ManualClock) -> None:
    @sched.every(5).seconds.name(XSS).retries(0).id("xss")
    def evil() -> None:
        raise ValueError(XSS)

    client = TestClient(make_app(sched))
    sched.start()
    clock.advance(5)
    page = client.get("/scheduler/").text
    assert "alert(1)" not in page  # the page carries no data; the script builds DOM with textContent
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page and "document.write" not in page
    jobs = client.get("/scheduler/api/jobs")
    assert jobs.headers["content-type"] == "application/json"
    assert any(j["name"] == XSS for j in jobs.json()["jobs"])
    history = client.get("/scheduler/api/history", params={"job": "xss"}).json()["history"]
    assert history[0]["error"] == f"ValueError: {XSS}"
    # The inline config can't close its <script> element whatever it holds.
    assert fi._script_json({"x": "</script><script>alert(1)</script>"}).count("<") == 0


def test_openapi_describes_every_route(app: FastAPI) -> None:
    spec = TestClient(app).get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("/scheduler/", "get"),
        ("/scheduler/events", "get"),
        ("/scheduler/api/status", "get"),
        ("/scheduler/api/stats", "get"),
        ("/scheduler/api/jobs", "get"),
        ("/scheduler/api/jobs/{job_id}", "get"),
        ("/scheduler/api/history", "get"),
        ("/scheduler/api/dead-letters", "get"),
        ("/scheduler/api/dead-letters", "delete"),
        *(("/scheduler/api/jobs/{job_id}/" + a, "post") for a in ("run", "pause", "resume", "cancel")),
        ("/scheduler/metrics", "get"),  # prometheus_client is installed (fastscheduler[metrics])
    }
    assert {(p, m) for p, ops in paths.items() for m in ops} == expected
    schemas = spec["components"]["schemas"]
    assert {"JobsPage", "Job", "JobDetail", "HistoryPage", "DeadLetters", "Statistics", "Error"} <= set(
        schemas
    )
    pause = paths["/scheduler/api/jobs/{job_id}/pause"]["post"]["responses"]
    assert {"200", "403", "404", "409", "422"} <= set(pause)
    assert "text/event-stream" in paths["/scheduler/events"]["get"]["responses"]["200"]["content"]
    assert "text/html" in paths["/scheduler/"]["get"]["responses"]["200"]["content"]


def test_handlers_do_not_block_the_event_loop(sched: FastScheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler call that blocks (its lock is busy) must not stall other requests."""
    real = sched.get_jobs

    def slow_get_jobs() -> list[dict[str, Any]]:
        time.sleep(1.0)
        return real()

    monkeypatch.setattr(sched, "get_jobs", slow_get_jobs)
    app = make_app(sched)

    async def main() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            t0 = time.monotonic()
            slow = asyncio.create_task(c.get("/scheduler/api/jobs"))
            await asyncio.sleep(0.05)
            page = await c.get("/scheduler/")
            status = await c.get("/scheduler/api/status")
            fast = time.monotonic() - t0
            assert page.status_code == status.status_code == 200
            assert (await slow).status_code == 200
            return fast, time.monotonic() - t0

    fast, total = asyncio.run(main())
    assert total >= 1.0 and fast < 0.6


def test_import_fastscheduler_does_not_import_fastapi() -> None:
    code = "import sys, fastscheduler; fastscheduler.FastScheduler; print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'sse_starlette', 'pydantic')))"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------- Host (DNS rebinding)

# A page on evil.example whose name now resolves to 127.0.0.1: the browser sends its own name.
REBOUND = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
REFUSED_HOST = (
    "Host 'evil.example:8000' is not allowed: the dashboard answers only to localhost, IP addresses and "
    "its allowed hosts (DNS rebinding protection); to serve it under this name, list it in "
    "create_scheduler_routes(allowed_hosts=[...]) (fastscheduler run/demo: --allowed-host NAME)"
)
EVERY_ROUTE = [
    ("GET", "/scheduler/"),
    ("GET", "/scheduler/events"),
    ("GET", "/scheduler/api/status"),
    ("GET", "/scheduler/api/stats"),
    ("GET", "/scheduler/api/jobs"),
    ("GET", "/scheduler/api/jobs/tick"),
    ("GET", "/scheduler/api/history"),
    ("GET", "/scheduler/api/dead-letters"),
    ("DELETE", "/scheduler/api/dead-letters"),
    *(("POST", f"/scheduler/api/jobs/tick/{a}") for a in ("run", "pause", "resume", "cancel")),
]


def requests_at(
    app: FastAPI, base: str, requests: list[tuple[str, str, dict[str, str]]]
) -> list[httpx.Response]:
    """``requests`` (method, path, headers) against the ASGI app, as if it were served at ``base``
    (the ASGI ``server`` is that address). An answer that does not end within 3 s (an event
    stream that was let through) is a 504."""

    async def main() -> list[httpx.Response]:
        answers = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as c:
            for method, path, headers in requests:
                try:
                    answers.append(await asyncio.wait_for(c.request(method, path, headers=headers), 3))
                except asyncio.TimeoutError:
                    answers.append(httpx.Response(504, json={"detail": "no end to the answer in 3 s"}))
        return answers

    return asyncio.run(main())


def test_a_dns_rebinding_page_can_neither_read_nor_act(sched: FastScheduler) -> None:
    # The app is served on 127.0.0.1 (uvicorn's default): a request whose Host is another name
    # comes from a page that rebinds that name to this address. Reads are refused too: after
    # rebinding the page is same-origin, so it could read whatever answered.
    app = make_app(sched)
    sched.start()
    answers = requests_at(app, "http://127.0.0.1:8000", [(m, p, REBOUND) for m, p in EVERY_ROUTE])
    for (method, path), r in zip(EVERY_ROUTE, answers, strict=True):
        assert r.status_code == 400, (method, path, r.status_code)
        assert r.json() == {"detail": REFUSED_HOST}, (method, path)
    assert sched.get_job("tick") is not None and sched.get_job("tick")["paused"] is False  # type: ignore[index]
    # The same requests with a local Host are answered (the stream is left out: it never ends).
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "app.localhost"):
        local = {"Host": host, "Origin": f"http://{host}"}
        routes = [(m, p, local) for m, p in EVERY_ROUTE if not p.endswith(("events", "cancel"))]
        answers = requests_at(app, "http://127.0.0.1:8000", routes)
        # Run may find the job still running from the previous round (409); pause, then resume.
        assert all(
            r.status_code in ((200, 409) if p.endswith("run") else (200,))
            for (_, p, _), r in zip(routes, answers, strict=True)
        ), host
    cancel = ("POST", "/scheduler/api/jobs/tick/cancel", {"Host": "localhost:8000"})
    assert requests_at(app, "http://127.0.0.1:8000", [cancel])[0].status_code == 200


def test_the_host_check_comes_before_authentication(sched: FastScheduler) -> None:
    app = make_app(sched, dependencies=[Depends(require_admin)])
    r = requests_at(app, "http://127.0.0.1:8000", [("GET", "/scheduler/api/jobs", REBOUND)])[0]
    assert r.status_code == 400 and "www-authenticate" not in r.headers


def test_a_request_without_host_is_refused_on_loopback(sched: FastScheduler) -> None:
    app = make_app(sched)
    status, body = asyncio.run(fi_request(app, server=("127.0.0.1", 8000)))
    assert (status, body) == (400, {"detail": "a request without a Host header is refused (DNS rebinding)"})
    status, body = asyncio.run(fi_request(app, server=("::1", 8000)))
    assert status == 400
    status, _ = asyncio.run(fi_request(app, server=("::ffff:127.0.0.1", 8000)))
    assert status == 400
    # Served on another address (behind a proxy, in a container), the default checks nothing.
    status, _ = asyncio.run(fi_request(app, server=("10.0.0.5", 8000)))
    assert status == 200


async def fi_request(app: FastAPI, server: tuple[str, int]) -> tuple[int, Any]:
    return await asgi_request(app, "GET", "/scheduler/api/status", [], server=server)


def test_by_default_an_app_served_on_another_address_answers_any_host(sched: FastScheduler) -> None:
    # A user's app behind a proxy or in a container is reached under names the router cannot
    # know (Host: example.com, app:8000): the default must keep serving them.
    app = make_app(sched)
    for host in ("example.com", "app:8000", "my_service:8000", "testserver"):
        r = requests_at(app, "http://10.0.0.5:8000", [("GET", "/scheduler/api/jobs", {"Host": host})])[0]
        assert r.status_code == 200, host


def test_allowed_hosts_check_every_request(sched: FastScheduler) -> None:
    app = make_app(sched, allowed_hosts=["dash.example.com", ".corp.example"])
    cases = {
        "dash.example.com": 200,
        "DASH.example.com:8443": 200,
        "dash.example.com.": 200,
        "corp.example": 200,
        "a.b.corp.example:80": 200,
        "localhost:8000": 200,
        "127.0.0.1": 200,
        "[::1]:8000": 200,
        "192.0.2.7:8000": 200,
        "example.com": 400,
        "evilcorp.example": 400,
        "dash.example.com.evil.example": 400,
        "testserver": 400,
    }
    # Not loopback: a list checks every request wherever it arrives.
    requests = [("GET", "/scheduler/api/status", {"Host": h}) for h in cases]
    answers = requests_at(app, "http://10.0.0.5:8000", requests)
    assert {h: r.status_code for h, r in zip(cases, answers, strict=True)} == cases
    status, _ = asyncio.run(asgi_request(app, "GET", "/scheduler/api/status", [], server=("10.0.0.5", 80)))
    assert status == 400
    anything = make_app(sched, allowed_hosts=["*"])
    assert (
        requests_at(anything, "http://127.0.0.1:8000", [("GET", "/scheduler/api/jobs", REBOUND)])[
            0
        ].status_code
        == 200
    )
    # An empty list: localhost names and addresses only; trusted origins' hosts are allowed.
    proxied = make_app(sched, allowed_hosts=[], trusted_origins=["https://example.com"])
    r1, r2 = requests_at(
        proxied,
        "http://10.0.0.5:8000",
        [
            ("GET", "/scheduler/api/jobs", {"Host": "example.com"}),
            ("GET", "/scheduler/api/jobs", {"Host": "other.example"}),
        ],
    )
    assert (r1.status_code, r2.status_code) == (200, 400)


@pytest.mark.parametrize(
    ("host", "allowed", "ok"),
    [
        ("localhost", (), True),
        ("LocalHost:8000", (), True),
        ("app.localhost:3000", (), True),
        ("localhost.", (), True),
        ("127.0.0.1:8000", (), True),
        ("10.1.2.3", (), True),
        ("[::1]", (), True),
        ("[::1]:8000", (), True),
        ("[2001:db8::1]:443", (), True),
        ("evil.example", (), False),
        ("localhost.evil.example", (), False),
        ("127.0.0.1.evil.example", (), False),
        ("evil.example@127.0.0.1", (), False),
        ("[::1", (), False),
        ("[evil.example]", (), False),
        ("localhost:port", (), False),
        ("", (), False),
        (None, (), False),
        ("example.com", ("example.com",), True),
        ("Example.COM:8443", ("EXAMPLE.com",), True),
        ("a.example.com", ("example.com",), False),
        ("a.example.com", (".example.com",), True),
        ("example.com", (".example.com",), True),
        ("badexample.com", (".example.com",), False),
        ("anything.example", ("*",), True),
        (None, ("*",), False),
    ],
)
def test_host_matching(host: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert host_is_allowed(host, allowed) is ok


@pytest.mark.parametrize(
    "host",
    [
        "http://example.com",
        "example.com:8000",
        "example.com/app",
        "",
        ".",
        "exa mple.com",
        "*.example.com",
        None,
    ],
)
def test_bad_allowed_hosts_are_refused_when_the_routes_are_made(sched: FastScheduler, host: Any) -> None:
    message = (
        f"allowed_hosts: {host!r} is not a host name; write the name alone, without scheme or port: "
        "'example.com', '.example.com' for it and its subdomains, or '*' for any host"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        create_scheduler_routes(sched, allowed_hosts=["ok.example", host])


def test_allowed_hosts_must_be_a_list_not_a_string(sched: FastScheduler) -> None:
    with pytest.raises(
        TypeError, match=r"allowed_hosts must be a list of host names, not the string 'example.com'"
    ):
        create_scheduler_routes(sched, allowed_hosts="example.com")


def test_the_cli_server_checks_every_host_against_its_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `fastscheduler demo` / `run --dashboard` know the address they bind: the Host of every
    # request is checked, wherever it arrives (here on 0.0.0.0, reached at 192.0.2.7).
    import uvicorn

    from fastscheduler.cli import main

    served: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    state = str(tmp_path / "demo.json")
    assert main(["demo", "--state", state, "--host", "myhost.lan", "--allowed-host", ".example.org"]) == 0
    app = served[0]
    hosts = {
        "myhost.lan:8000": 200,
        "dash.example.org": 200,
        "192.0.2.7:8000": 200,
        "localhost:8000": 200,
        "evil.example:8000": 400,
        "other.lan:8000": 400,
    }
    answers = requests_at(
        app, "http://192.0.2.7:8000", [("GET", "/scheduler/api/jobs", {"Host": h}) for h in hosts]
    )
    assert {h: r.status_code for h, r in zip(hosts, answers, strict=True)} == hosts
    assert answers[-1].json()["detail"].startswith("Host 'other.lan:8000' is not allowed")
    capsys.readouterr()
    assert main(["demo", "--state", state, "--allowed-host", "http://dash.example.org"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --allowed-host: 'http://dash.example.org' is not a host name; write the name alone, without "
        "scheme or port: 'example.com', '.example.com' for it and its subdomains, or '*' for any host"
    )
    assert len(served) == 1


@dataclass
class Demo:
    port: int
    base: str
    state: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`fastscheduler demo` on 127.0.0.1, as a user starts it."""
    port = free_port()
    d = Demo(port, f"http://127.0.0.1:{port}", tmp_path / "demo.json")
    log_path = tmp_path / "demo.log"
    log = log_path.open("wb")
    cmd = [sys.executable, "-m", "fastscheduler", "demo", "--port", str(port), "--state", str(d.state)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{d.base}/scheduler/api/status", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "fastscheduler demo did not come up"
            time.sleep(0.1)
        yield d
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_fastscheduler_demo_refuses_a_dns_rebinding_request(demo: Demo) -> None:
    # Requests as a page on evil.example sends them once its name resolves to 127.0.0.1.
    rebound = {"Host": f"evil.example:{demo.port}", "Origin": f"http://evil.example:{demo.port}"}
    jobs = httpx.get(f"{demo.base}/scheduler/api/jobs").json()["jobs"]
    target = quote(jobs[0]["job_id"], safe="")
    for method, path in [("GET", "api/jobs"), ("GET", "api/history"), ("POST", f"api/jobs/{target}/pause")]:
        r = httpx.request(method, f"{demo.base}/scheduler/{path}", headers=rebound)
        assert r.status_code == 400, (method, path, r.text)
        assert r.json()["detail"].startswith(f"Host 'evil.example:{demo.port}' is not allowed")
    assert httpx.get(f"{demo.base}/scheduler/api/jobs/{target}").json()["job"]["paused"] is False
    for host in (f"localhost:{demo.port}", f"[::1]:{demo.port}", f"127.0.0.1:{demo.port}"):
        assert httpx.get(f"{demo.base}/scheduler/api/jobs", headers={"Host": host}).status_code == 200
    # HTTP/1.0 allows leaving Host out; the check refuses it.
    with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as sock:
        sock.sendall(b"GET /scheduler/api/status HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b"without a Host header" in reply


# ---------------------------------------------------------------------- job ids in URLs


@pytest.mark.parametrize("action", ["run", "pause", "resume", "cancel"])
def test_get_on_an_action_path_is_405(client: TestClient, sched: FastScheduler, action: str) -> None:
    r = client.get(f"/scheduler/api/jobs/tick/{action}")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    message = f"method not allowed: {action} is an action, send it with POST"
    assert r.json() == {"detail": message, "error": message, "job_id": "tick"}
    assert client.get(f"/scheduler/api/jobs/nope/{action}").status_code == 405
    assert sched.get_job("tick") is not None


def test_a_job_whose_id_ends_like_an_action_is_still_found(sched: FastScheduler) -> None:
    @sched.every(5).seconds.id("nightly/run")
    def nightly() -> None:
        pass

    client = TestClient(make_app(sched))
    r = client.get("/scheduler/api/jobs/nightly/run")
    assert r.status_code == 200 and r.json()["job"]["job_id"] == "nightly/run"
    assert client.post("/scheduler/api/jobs/nightly/run/pause").json()["job_id"] == "nightly/run"
    # Read-only: there are no actions, so the path can only name a job.
    read_only = TestClient(make_app(sched, read_only=True))
    r = read_only.get("/scheduler/api/jobs/tick/run")
    assert r.status_code == 404 and r.json()["detail"] == "job 'tick/run' not found"
    spec = read_only.get("/openapi.json").json()["paths"]["/scheduler/api/jobs/{job_id}"]["get"]
    assert "405" not in spec["responses"]
    spec = client.get("/openapi.json").json()["paths"]["/scheduler/api/jobs/{job_id}"]["get"]
    assert "405" in spec["responses"]


ODD_IDS = [
    "app.jobs.report:cron:0 9 * * MON-FRI@Etc/UTC",  # a default cron id: spaces, '/', '*', '@'
    "app.jobs.beat:every:10s#2",  # the second registration: '#' starts a URL fragment
    "what?x=1&y=2",
    "100% done",
    "a/b/c",
    "naïve ünïcode",
]


def test_job_ids_work_in_paths_percent_encoded(sched: FastScheduler) -> None:
    for job_id in ODD_IDS:
        sched.every(10).seconds.id(job_id).do(lambda: None)
    app = make_app(sched)
    # As curl or a browser send them: the path is sent as written, nothing re-encoded.
    for job_id in ODD_IDS:
        for encoded in (quote(job_id, safe=""), quote(job_id, safe=":@")):
            r1, r2 = requests_at(
                app,
                "http://127.0.0.1:8000",
                [
                    ("GET", f"/scheduler/api/jobs/{encoded}", {}),
                    ("POST", f"/scheduler/api/jobs/{encoded}/pause", {}),
                ],
            )
            assert r1.status_code == 200 and r1.json()["job"]["job_id"] == job_id, (job_id, encoded)
            assert r2.json()["job_id"] == job_id
            sched.resume_job(job_id)
    # The API's own documentation says how.
    spec = TestClient(app).get("/openapi.json").json()["paths"]
    for path, method in [
        ("/scheduler/api/jobs/{job_id}", "get"),
        ("/scheduler/api/jobs/{job_id}/run", "post"),
    ]:
        (param,) = [p for p in spec[path][method]["parameters"] if p["in"] == "path"]
        assert "percent-encoded" in param["description"]
        assert quote(ODD_IDS[0], safe="") in param["description"]


def test_the_cli_prints_ids_ready_to_paste(sched: FastScheduler, tmp_path: Path) -> None:
    # `fastscheduler jobs --full-ids`: the ID column pastes into a shell (`history --job ...`), the
    # last column into an API URL; checked through a real shell.
    for job_id in ODD_IDS:
        sched.every(10).seconds.id(job_id).do(lambda: None)
    sched.start()
    sched.stop(wait=True)
    state = str(tmp_path / "state.json")
    jobs = subprocess.run(
        [sys.executable, "-m", "fastscheduler", "jobs", "--state", state, "--full-ids"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert jobs[0].split()[-3:] == ["ID", "IN", "URLS"]
    app = make_app(sched)
    seen = set()
    for line in jobs[1:]:
        pasted_job, in_urls = re.split(r"\s{2,}", line)[-2], line.split()[-1]
        (job_id,) = shlex.split(pasted_job)
        seen.add(job_id)
        r = requests_at(app, "http://127.0.0.1:8000", [("GET", f"/scheduler/api/jobs/{in_urls}", {})])[0]
        assert r.json()["job"]["job_id"] == job_id
        echoed = subprocess.run(
            f"printf %s {in_urls}", shell=True, capture_output=True, text=True, check=True
        )
        assert echoed.stdout == in_urls  # nothing in it is special to a shell
        python = shlex.quote(sys.executable)
        out = subprocess.run(
            f"{python} -m fastscheduler history --state {state} --job {pasted_job} --json",
            shell=True,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(out.stdout) == []
    assert seen == {j["job_id"] for j in sched.get_jobs()}


# ---------------------------------------------------------------------- one name per job


def test_history_and_dead_letters_carry_the_name_jobs_list(
    client: TestClient, sched: FastScheduler, clock: ManualClock, tmp_path: Path
) -> None:
    @sched.every(30).seconds.retries(0).name("Nightly export").id("named")
    def export() -> None:
        raise OSError("disk full")

    sched.start()
    clock.advance(30)
    names = {j["job_id"]: j["name"] for j in client.get("/scheduler/api/jobs").json()["jobs"]}
    assert names["boom"] == "boom" and names["named"] == "Nightly export"
    history = client.get("/scheduler/api/history").json()["history"]
    assert {h["job_id"]: h["name"] for h in history} == {k: names[k] for k in ("tick", "boom", "named")}
    dead = client.get("/scheduler/api/dead-letters").json()["dead_letters"]
    assert {d["job_id"]: d["name"] for d in dead} == {"boom": "boom", "named": "Nightly export"}
    assert {h.name for h in sched.get_history("boom")} == {"boom"}
    sched.stop(wait=True)
    stored = json.loads((tmp_path / "state.json").read_text())
    assert {h["name"] for h in stored["history"] if h["job_id"] == "boom"} == {"boom"}
    assert {d["name"] for d in stored["dead_letters"]} == {"boom", "Nightly export"}
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("Job", "HistoryEntry", "DeadLetter"):
        assert schemas[model]["properties"]["name"]["type"] == "string"
        assert "name" in schemas[model]["required"]


def test_stored_records_without_a_name_load_with_the_jobs_name(
    sched: FastScheduler, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastscheduler.cli import main

    sched.start()
    clock.advance(30)
    sched.stop(wait=True)
    path = tmp_path / "state.json"
    state = json.loads(path.read_text())
    for record in state["history"] + state["dead_letters"]:  # as earlier versions stored them
        if record["job_id"] == "boom":
            record["name"] = None
        else:
            del record["name"]
    path.write_text(json.dumps(state))

    assert main(["history", "--state", str(path), "--json"]) == 0
    assert {(h["job_id"], h["name"]) for h in json.loads(capsys.readouterr().out)} == {
        ("tick", "tick"),
        ("boom", "boom"),
    }
    assert main(["dead-letters", "--state", str(path), "--json"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ["boom"]

    again = FastScheduler(str(path), quiet=True, clock=clock)
    again.every(10).seconds.id("tick").do(lambda: None)
    again.start()
    try:
        client = TestClient(make_app(again))
        assert {h["name"] for h in client.get("/scheduler/api/history").json()["history"]} == {"tick", "boom"}
        assert [d["name"] for d in client.get("/scheduler/api/dead-letters").json()["dead_letters"]] == [
            "boom"
        ]
    finally:
        again.stop(wait=True)


# ---------------------------------------------------------------------- live stream (SSE)


def test_stream_sends_a_snapshot_on_connect(app: FastAPI, sched: FastScheduler) -> None:
    sched.start()

    async def main() -> None:
        async with AsgiSSE(app) as s:
            assert s.status == 200 and s.response_headers["content-type"].startswith("text/event-stream")
            assert s.response_headers["cache-control"] == "no-store"
            snap = await s.until("snapshot")
            assert snap.id is not None and snap.retry == 2000
            assert {j["job_id"] for j in snap.data["jobs"]} >= {"tick", "boom"}
            assert snap.data["stats"]["total_jobs"] == 3 and snap.data["stats"]["running"] is True
            chart = snap.data["stats"]["chart"]
            assert chart["full"] is True
            assert [(x["bucket_seconds"], x["buckets"]) for x in chart["series"]] == [(10, 360), (60, 1440)]
            tick = next(j for j in snap.data["jobs"] if j["job_id"] == "tick")
            assert tick["next_run_in"] == 10 and tick["schedule"] == "Every 10 seconds"

    asyncio.run(main())


def test_stream_sends_changes_when_a_job_runs(app: FastAPI, sched: FastScheduler, clock: ManualClock) -> None:
    sched.start()

    async def main() -> None:
        async with AsgiSSE(app) as s:
            snap = await s.until("snapshot")
            await asyncio.to_thread(clock.advance, 10)
            run = await s.until("run")
            assert run.data["job_id"] == "tick" and run.data["status"] == "completed"
            assert run.data["name"] == "tick" and run.data["error"] is None
            jobs = [e for e in s.seen if e.event == "job"]
            assert jobs and all(e.data["job"]["job_id"] == "tick" for e in jobs)  # only what changed
            assert jobs[-1].data["job"]["run_count"] == 1
            stats = await s.until("stats")
            assert stats.data["total_runs"] == 1 and "per_job" not in stats.data
            ids = [int(e.id.rsplit("-", 1)[1]) for e in s.seen if e.id]
            assert (
                ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] == int(snap.id.rsplit("-", 1)[1])
            )  # type: ignore[union-attr]

    asyncio.run(main())


def test_stream_reports_failures_and_dead_letters(
    app: FastAPI, sched: FastScheduler, clock: ManualClock
) -> None:
    sched.start()

    async def main() -> None:
        async with AsgiSSE(app) as s:
            await s.until("snapshot")
            await asyncio.to_thread(clock.advance, 30)
            dead = await s.until("dead_letter")
            assert dead.data["job_id"] == "boom" and dead.data["error"] == f"RuntimeError: bad input {XSS}"
            failed = [e for e in s.seen if e.event == "run" and e.data["job_id"] == "boom"]
            assert failed[0].data["status"] == "failed"
            assert (await s.until("stats")).data["dead_letters"] == 1
            # Cleared by someone else (another dashboard, or code): every stream hears of it.
            assert await asyncio.to_thread(sched.clear_dead_letters) == 1
            cleared = await s.until("dead_letters_cleared")
            assert cleared.data["cleared"] == 1 and isinstance(cleared.data["timestamp"], float)
            assert (await s.until("stats")).data["dead_letters"] == 0

    asyncio.run(main())


def test_actions_show_up_on_the_stream(app: FastAPI, sched: FastScheduler) -> None:
    client = TestClient(app)

    async def main() -> None:
        async with AsgiSSE(app) as s:
            await s.until("snapshot")
            await asyncio.to_thread(client.post, "/scheduler/api/jobs/tick/pause")
            ev = await s.until("job")
            assert ev.data["job"]["paused"] is True and ev.data["job"]["status"] == "paused"
            await asyncio.to_thread(client.post, "/scheduler/api/jobs/tick/cancel")
            ev = await s.until("job")
            assert ev.data == {"job_id": "tick", "removed": True}

    asyncio.run(main())


def test_reconnect_with_last_event_id_resumes_without_a_gap(
    app: FastAPI, sched: FastScheduler, clock: ManualClock
) -> None:
    sched.start()

    async def main() -> None:
        async with AsgiSSE(app) as keeper:  # another dashboard stays connected meanwhile
            await keeper.until("snapshot")
            async with AsgiSSE(app) as first:
                last = (await first.until("snapshot")).id
            await asyncio.to_thread(clock.advance, 10)
            await keeper.until("run")
            missed = [e for e in keeper.seen if e.id and e.event != "snapshot"]
            async with AsgiSSE(app, headers={"Last-Event-ID": str(last)}) as again:
                replay = [await again.next_event() for _ in missed]
                assert [(e.event, e.id) for e in replay if e] == [(e.event, e.id) for e in missed]
                assert not any(e.event == "snapshot" for e in again.seen)
            # The page reconnects by itself with ?last_event_id= too (after an HTTP error).
            async with AsgiSSE(app, query=f"last_event_id={missed[-1].id}") as fresh:
                await asyncio.to_thread(clock.advance, 10)
                assert (await fresh.until("run")).data["job_id"] == "tick"
                assert not any(e.event == "snapshot" for e in fresh.seen)

    asyncio.run(main())


def test_reconnect_with_an_unknown_or_stale_id_gets_a_snapshot(
    app: FastAPI, sched: FastScheduler, clock: ManualClock
) -> None:
    sched.start()

    async def main() -> None:
        async with AsgiSSE(app, headers={"Last-Event-ID": "deadbeef-3"}) as s:
            await s.until("snapshot")
        async with AsgiSSE(app) as s:
            last = (await s.until("snapshot")).id
        await asyncio.to_thread(clock.advance, 10)  # nobody connected: these events are not kept
        async with AsgiSSE(app, headers={"Last-Event-ID": str(last)}) as s:
            snap = await s.until("snapshot")
            assert next(j for j in snap.data["jobs"] if j["job_id"] == "tick")["run_count"] == 1

    asyncio.run(main())


def test_stream_sends_heartbeats(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fi, "HEARTBEAT_SECONDS", 0.05)

    async def main() -> None:
        async with AsgiSSE(app) as s:
            beat = await s.until("heartbeat")
            assert beat.id is None and beat.data["running"] is False and beat.data["time"] > 0

    asyncio.run(main())


def test_stream_ends_when_the_scheduler_stops(app: FastAPI, sched: FastScheduler) -> None:
    sched.start()

    async def main() -> None:
        async with AsgiSSE(app) as s:
            await s.until("snapshot")
            await asyncio.to_thread(sched.stop)
            while await s.next_event() is not None:
                pass
            assert s.ended
            assert any(e.event == "stats" and e.data["running"] is False for e in s.seen)

    asyncio.run(main())


# ---------------------------------------------------------------------- the hub itself


def test_a_slow_client_gets_a_snapshot_instead_of_unbounded_memory(
    sched: FastScheduler, clock: ManualClock
) -> None:
    hub = Hub(sched, max_queue=4)
    sched.start()

    async def main() -> None:
        client = hub.connect()
        first = await asyncio.wait_for(client.queue.get(), 5)
        assert b"event: snapshot" in first.data
        # Don't read: 10 runs produce far more than 4 messages.
        await asyncio.to_thread(clock.advance, 100)
        deadline = time.monotonic() + 5
        while client.snapshots < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert client.overflows >= 1 and client.snapshots >= 2
        assert client.queue.qsize() <= 4
        hub.disconnect(client)

    asyncio.run(main())
    hub.close()


def test_the_ring_is_bounded_and_an_overwritten_id_gets_a_snapshot(
    sched: FastScheduler, clock: ManualClock
) -> None:
    hub = Hub(sched, ring_size=3)
    sched.start()

    async def main() -> None:
        keeper = hub.connect()
        snap = await asyncio.wait_for(keeper.queue.get(), 5)
        last = snap.data.decode().split("\n", 1)[0].removeprefix("id: ")
        await asyncio.to_thread(clock.advance, 30)
        await asyncio.sleep(0.2)
        late = hub.connect(last)
        got = await asyncio.wait_for(late.queue.get(), 5)
        assert b"event: snapshot" in got.data
        hub.disconnect(late)
        hub.disconnect(keeper)

    asyncio.run(main())
    hub.close()


def test_the_worker_thread_runs_only_while_clients_are_connected(sched: FastScheduler) -> None:
    hub = Hub(sched)

    async def main() -> None:
        assert not hub.worker_alive
        client = hub.connect()
        await asyncio.wait_for(client.queue.get(), 5)
        assert hub.worker_alive and hub.client_count == 1
        hub.disconnect(client)

    asyncio.run(main())
    wait_for(lambda: not hub.worker_alive)
    assert hub.client_count == 0
    hub.close()


def test_run_series_buckets_and_window() -> None:
    series = RunSeries(bucket_seconds=10, buckets=3)
    series.add(100.0, False)
    series.add(105.0, True)
    series.add(112.0, False)
    out = series.export(125.0)
    assert out == {"bucket_seconds": 10, "buckets": 3, "cells": [[10, 2, 1], [11, 1, 0]]}
    assert series.export(135.0)["cells"] == [[11, 1, 0]]  # bucket 10 left the window
    series.add(200.0, False)  # old buckets fall out
    assert series.export(200.0)["cells"] == [[20, 1, 0]]


def test_encode_sse_is_one_data_line() -> None:
    raw = encode_sse("run", {"error": "line1\nline2\r\n<script>"}, id="ab-1", retry=5)
    ev = parse_block(raw.decode().rstrip("\n"))
    assert ev is not None and ev.event == "run" and ev.id == "ab-1" and ev.retry == 5
    assert ev.data == {"error": "line1\nline2\r\n<script>"}
    assert raw.decode().count("data:") == 1


# ---------------------------------------------------------------------- a real server

SERVER_APP = textwrap.dedent(
    """
    import os
    from contextlib import asynccontextmanager
    from fastapi import FastAPI
    from fastscheduler import FastScheduler
    from fastscheduler.fastapi_integration import create_scheduler_routes

    scheduler = FastScheduler(quiet=True)

    def noop(i):
        pass

    for i in range(int(os.environ.get("N_JOBS", "10"))):
        scheduler.every(1).hours.do(noop, i)

    @scheduler.every(1).hours.id("probe")
    def probe():
        pass

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler.start()
        yield
        await scheduler.stop(wait=True)

    app = FastAPI(lifespan=lifespan)
    app.include_router(create_scheduler_routes(scheduler))
    """
)


def _events(lines: Any) -> Iterator[tuple[float, str]]:
    """(arrival time, event name) for each event of an httpx line iterator."""
    for line in lines:
        if line.startswith("event: "):
            yield time.time(), line[7:]


@pytest.mark.slow
def test_server_shutdown_ends_open_streams(tmp_path: Path) -> None:
    """The original kept uvicorn from exiting while a dashboard was open."""
    (tmp_path / "app.py").write_text(SERVER_APP)
    server = UvicornProcess(tmp_path)
    try:
        server.wait_ready()
        with httpx.stream("GET", server.base + "/scheduler/events", timeout=10) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert next(n for _, n in _events(lines)) == "snapshot"
            t0 = time.monotonic()
            server.signal()
            for _ in lines:  # the stream ends (not a timeout)
                pass
            server.proc.wait(10)
        assert time.monotonic() - t0 < 5, server.log()
        assert server.proc.returncode == 0, server.log()
        assert "without completing response" not in server.log()  # the stream ended cleanly
    finally:
        server.stop()


def _wait_until_file_settles(path: Path, quiet: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until ``path`` exists and its modification time is ``quiet`` seconds old."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and time.time() - path.stat().st_mtime >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} kept changing for {timeout} s")


@pytest.mark.slow
def test_idle_cost_and_latency_with_10000_jobs(tmp_path: Path) -> None:
    """One connected dashboard, 10,000 jobs, nothing running: < 1% CPU. A run that ends reaches
    the stream in < 500 ms."""
    (tmp_path / "app.py").write_text(SERVER_APP)
    server = UvicornProcess(tmp_path, env={"N_JOBS": "10000"})
    try:
        server.wait_ready()
        with httpx.stream("GET", server.base + "/scheduler/events", timeout=30) as r:
            lines = r.iter_lines()
            t_connect = time.monotonic()
            for line in lines:
                if line.startswith("data: ") and '"jobs"' in line:
                    assert line.count('"job_id"') == 10001
                    break
            snapshot_s = time.monotonic() - t_connect
            # Idle means after start-up, whose last act is saving the 10,000 new jobs to the
            # default JSON store: wait until the state file has stopped changing.
            _wait_until_file_settles(tmp_path / "fastscheduler_state.json")
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            time.sleep(5)
            idle = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            assert idle < 0.01, f"idle CPU {idle:.2%}"
            sent = time.time()
            assert httpx.post(server.base + "/scheduler/api/jobs/probe/run").status_code == 200
            lines_iter = iter(lines)
            data = None
            for line in lines_iter:
                if line == "event: run":
                    arrived = time.time()
                    data = next(lines_iter)
                    break
            assert data is not None and '"probe"' in data
            ended = float(re.search(r'"timestamp":([0-9.]+)', data).group(1))  # type: ignore[union-attr]
            latency = arrived - ended
            assert 0 <= latency < 0.5, latency
            assert arrived - sent < 1.0
        print(f"\nsnapshot {snapshot_s:.2f}s, idle CPU {idle:.3%}, run-end-to-client {latency * 1000:.1f} ms")
    finally:
        server.stop()


def test_a_closed_hub_ends_streams(sched: FastScheduler) -> None:
    hub = Hub(sched)

    async def main() -> None:
        client = hub.connect()
        await asyncio.wait_for(client.queue.get(), 5)  # the snapshot
        hub.close()
        chunks = [c async for c in hub.stream()]  # a new stream on a closed hub ends at once
        assert chunks == []
        await asyncio.sleep(0.05)
        assert client.closed

    asyncio.run(main())

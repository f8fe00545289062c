"""The FastAPI dashboard: a live web page and an HTTP API for one :class:`FastScheduler`.

::

    from fastscheduler.fastapi_integration import create_scheduler_routes
    app.include_router(create_scheduler_routes(scheduler))   # dashboard at /scheduler/

Needs the ``fastapi`` extra (``pip install "fastscheduler[fastapi]"``); ``import fastscheduler``
alone never imports FastAPI.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime.

import importlib.resources
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

try:
    import anyio
    from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
    from fastapi.params import Depends as DependsParam
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import Field
    from sse_starlette import EventSourceResponse, ServerSentEvent
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        'The fastscheduler dashboard needs FastAPI and sse-starlette: pip install "fastscheduler[fastapi]"'
    ) from exc

from fastscheduler.dashboard.hub import Hub
from fastscheduler.dashboard.next_runs import MAX_NEXT, next_runs
from fastscheduler.dashboard.schemas import (
    ActionResult,
    Cleared,
    DeadLetters,
    Error,
    HistoryPage,
    JobEnvelope,
    JobFilterStatus,
    JobsPage,
    RunStatus,
    Statistics,
    Status,
)

if TYPE_CHECKING:
    from fastscheduler.scheduler import FastScheduler

#: Seconds between two ``heartbeat`` events on an idle stream (they keep proxies from closing
#: it and let the page notice a dead connection).
HEARTBEAT_SECONDS: float = 15.0
#: On server shutdown, how long a stream may take to end cleanly before it is cancelled.
SHUTDOWN_GRACE_SECONDS: float = 2.0
#: A stream whose client reads nothing for this long is closed.
SEND_TIMEOUT_SECONDS: float = 30.0

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error, "description": "No such job"}}
_BAD_HOST: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "The request's Host is not one the dashboard answers to"}
}
_GET_ACTION: dict[int | str, dict[str, Any]] = {
    405: {"model": Error, "description": "An action path (…/run, …/pause, …/resume, …/cancel) is POST only"}
}
_ACTIONS = ("run", "pause", "resume", "cancel")
_JOB_ID_DOC = (
    "The job id, percent-encoded as one path segment: default ids contain '/', spaces, ':' and '#' "
    "(e.g. `app.jobs.report:cron:0 9 * * MON-FRI@Etc/UTC` is "
    "`app.jobs.report%3Acron%3A0%209%20%2A%20%2A%20MON-FRI%40Etc%2FUTC`); "
    "`urllib.parse.quote(job_id, safe='')`, JavaScript's `encodeURIComponent(id)`"
)
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    403: {"model": Error, "description": "Cross-site request (its Origin is not this host)"},
    409: {"model": Error, "description": "The job's state forbids this action"},
}


class SchedulerRouter(APIRouter):
    """The router :func:`create_scheduler_routes` returns; ``hub`` is its live-update hub."""

    hub: Hub


class _SSEResponse(EventSourceResponse):
    media_type = "text/event-stream"


def _error(
    status: int, message: str, job_id: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"detail": message, "error": message, "job_id": job_id}
    return JSONResponse(body, status_code=status, headers=headers)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_matches_host(origin: str, host: str | None) -> bool:
    """Whether a request's ``Origin`` header names the host it was sent to (``Host`` header).

    Host names compare case-insensitively; when ``Host`` carries a port the origin's (explicit
    or default) port must equal it; when it carries none, the origin must use its scheme's
    default port. ``Origin: null`` and anything unparsable never match.
    """
    if not host:
        return False
    try:
        o = urlsplit(origin.strip())
        h = urlsplit("//" + host.strip())
        o_port, h_port = o.port, h.port
    except ValueError:
        return False
    if o.scheme not in _DEFAULT_PORTS or not o.hostname or not h.hostname or o.path not in ("", "/"):
        return False
    if o.hostname.lower() != h.hostname.lower():
        return False
    effective = o_port if o_port is not None else _DEFAULT_PORTS[o.scheme]
    return effective == h_port if h_port is not None else effective == _DEFAULT_PORTS[o.scheme]


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an ``Origin`` value (the port made explicit), or None if it is
    not an http(s) origin without a path."""
    try:
        o = urlsplit(origin.strip())
        port = o.port
    except ValueError:
        return None
    if o.scheme not in _DEFAULT_PORTS or not o.hostname or o.path not in ("", "/") or o.query or o.fragment:
        return None
    return o.scheme, o.hostname.lower(), port if port is not None else _DEFAULT_PORTS[o.scheme]


def _trusted_origin_keys(origins: Sequence[str]) -> frozenset[tuple[str, str, int]]:
    if isinstance(origins, str):
        raise TypeError(f"trusted_origins must be a list of origins, not the string {origins!r}")
    keys = set()
    for origin in origins:
        key = _origin_key(origin) if isinstance(origin, str) else None
        if key is None:
            raise ValueError(
                f"trusted_origins: {origin!r} is not an origin; write scheme://host[:port] with http or "
                "https and no path, e.g. 'https://example.com'"
            )
        keys.add(key)
    return frozenset(keys)


def _cross_site_guard(trusted: frozenset[tuple[str, str, int]]) -> Callable[[Request], Awaitable[None]]:
    async def reject_cross_site(request: Request) -> None:
        """Dependency of every action: 403 when the request comes from another site (an
        ``Origin`` header that is neither this host nor a trusted origin, or
        ``Sec-Fetch-Site: cross-site``)."""
        origin = request.headers.get("origin")
        if (
            origin is not None
            and not origin_matches_host(origin, request.headers.get("host"))
            and _origin_key(origin) not in trusted
        ):
            raise HTTPException(
                403,
                detail=f"cross-site request refused: Origin {origin!r} is not this host; behind a proxy "
                "that rewrites Host, list the public origin in create_scheduler_routes(trusted_origins=...)",
            )
        if request.headers.get("sec-fetch-site") == "cross-site" and _origin_key(origin or "") not in trusted:
            raise HTTPException(403, detail="cross-site request refused")

    return reject_cross_site


# A Host header: a DNS name (underscores allowed: container names have them) or an IPv4 address,
# or an IPv6 address in brackets; then an optional port.
_HOST_RE = re.compile(r"(?P<name>[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?", re.IGNORECASE)
_ALLOWED_NAME_RE = re.compile(r"\.?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?", re.IGNORECASE)


def _host_name(host: str) -> str | None:
    """The name in a ``Host`` header, lowercased, without port or trailing dot (an IPv6 address
    keeps its brackets); None if the value is not a host."""
    m = _HOST_RE.fullmatch(host.strip())
    if m is None:
        return None
    name = m["name"].lower()
    return name[:-1] if name.endswith(".") and not name.startswith("[") else name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return True


def _always_allowed(name: str) -> bool:
    """Localhost names and IP addresses. A DNS rebinding page's requests carry its own domain
    name as Host, never an address: a page served from an address is that address's server."""
    return name == "localhost" or name.endswith(".localhost") or _is_ip(name)


def host_is_allowed(host: str | None, allowed_hosts: Sequence[str] = ()) -> bool:
    """Whether the dashboard answers a request whose ``Host`` header is ``host``.

    Always allowed: ``localhost`` and its subdomains, and IP addresses (``127.0.0.1:8000``,
    ``[::1]``). Then each entry of ``allowed_hosts``: a name (``"example.com"``, case-insensitive,
    any port), a name with a leading dot for it and its subdomains (``".example.com"``, as Django's
    ``ALLOWED_HOSTS``), or ``"*"`` for any host. A missing or malformed ``Host`` is refused.
    """
    name = _host_name(host) if host else None
    if name is None:
        return False
    if _always_allowed(name):
        return True
    for entry in allowed_hosts:
        pattern = entry.lower().rstrip(".")
        if pattern in ("*", name) or (pattern.startswith(".") and f".{name}".endswith(pattern)):
            return True
    return False


def _allowed_host_list(allowed_hosts: Sequence[str] | None) -> tuple[str, ...] | None:
    if allowed_hosts is None:
        return None
    if isinstance(allowed_hosts, str):
        raise TypeError(f"allowed_hosts must be a list of host names, not the string {allowed_hosts!r}")
    hosts = []
    for host in allowed_hosts:
        if not isinstance(host, str) or not (host == "*" or _is_ip(host) or _ALLOWED_NAME_RE.fullmatch(host)):
            raise ValueError(
                f"allowed_hosts: {host!r} is not a host name; write the name alone, without scheme or "
                "port: 'example.com', '.example.com' for it and its subdomains, or '*' for any host"
            )
        hosts.append(host.lower())
    return tuple(hosts)


def _is_loopback_server(request: Request) -> bool:
    """Whether the request reached the server on a loopback address (the ASGI ``server``)."""
    server = request.scope.get("server")
    if not server or not isinstance(server[0], str):
        return False
    try:
        address = ipaddress.ip_address(server[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket's IPv4 client
    return address.is_loopback


def _host_guard(
    allowed_hosts: tuple[str, ...] | None, trusted: frozenset[tuple[str, str, int]]
) -> Callable[[Request], Awaitable[None]]:
    patterns = (*(allowed_hosts or ()), *(host for _scheme, host, _port in trusted))

    async def check_host(request: Request) -> None:
        """Dependency of every route: 400 unless the ``Host`` header is allowed (DNS rebinding
        protection). With ``allowed_hosts=None`` only requests that reached the server on a
        loopback address are checked."""
        if allowed_hosts is None and not _is_loopback_server(request):
            return
        host = request.headers.get("host")
        if host_is_allowed(host, patterns):
            return
        if not host:
            raise HTTPException(400, detail="a request without a Host header is refused (DNS rebinding)")
        raise HTTPException(
            400,
            detail=f"Host {host[:200]!r} is not allowed: the dashboard answers only to localhost, IP "
            "addresses and its allowed hosts (DNS rebinding protection); to serve it under this name, "
            "list it in create_scheduler_routes(allowed_hosts=[...]) (fastscheduler run/demo: "
            "--allowed-host NAME)",
        )

    return check_host


def _load_page() -> str:
    return importlib.resources.files("fastscheduler.dashboard").joinpath("index.html").read_text("utf-8")


def _script_json(data: object) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_EpochSeconds = Annotated[float, Field(allow_inf_nan=False)]
_JobId = Annotated[str, Path(description=_JOB_ID_DOC)]


def _epoch(dt: datetime) -> float:
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)).timestamp()


def create_scheduler_routes(
    scheduler: "FastScheduler",
    *,
    prefix: str = "/scheduler",
    dependencies: Sequence[DependsParam] | None = None,
    read_only: bool = False,
    trusted_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] | None = None,
    metrics: bool | None = None,
    **router_kwargs: Any,
) -> SchedulerRouter:
    """An :class:`~fastapi.APIRouter` serving the dashboard page, its JSON API and its live
    event stream for ``scheduler``, under ``prefix`` (the page is ``{prefix}/``).

    ``dependencies`` guard every route, the stream included (e.g. ``[Depends(check_login)]``).
    ``read_only=True`` leaves out the action routes (run, pause, resume, cancel, clearing dead
    letters) and the page's buttons. Other keyword arguments go to ``APIRouter`` (``tags``
    defaults to ``["scheduler"]``). Actions are POST (DELETE for clearing dead letters) and
    refuse cross-site requests with 403: a browser's ``Origin`` must name the host the request
    was sent to (its ``Host`` header). Behind a proxy that rewrites ``Host``, list the public
    origin(s) in ``trusted_origins`` (``["https://example.com"]``); ``X-Forwarded-Host`` is not
    trusted, since any client can send it. A malformed origin raises ``ValueError`` here.

    Every route, reads included, answers 400 to a ``Host`` it does not know, so that a page on
    another domain that rebinds its name to this server's address (DNS rebinding) can neither act
    nor read. Known hosts: ``localhost`` (and ``*.localhost``), IP addresses, the hosts of
    ``trusted_origins``, and ``allowed_hosts`` (``"example.com"``, ``".example.com"`` for its
    subdomains too, ``"*"`` for any; see :func:`host_is_allowed`). With ``allowed_hosts=None``
    (the default, for an app that may be served under any name) only requests that reached the
    server on a loopback address are checked, as a local, unauthenticated server is the one
    rebinding reaches; a list, even empty, checks every request. The app's own ``/docs`` and
    ``/openapi.json`` are not this router's routes: neither this check nor ``dependencies``
    cover them.

    ``metrics``: ``{prefix}/metrics`` serves the scheduler's Prometheus metrics
    (:mod:`fastscheduler.metrics`, behind the same checks and ``dependencies``). ``None`` (the
    default): when prometheus_client is installed (``fastscheduler[metrics]``); ``True``: an
    ``ImportError`` here if it is not; ``False``: no such route.

    Every handler that touches the scheduler is a sync endpoint, which FastAPI runs in its
    thread pool, so a scheduler busy under its lock never blocks the event loop.
    """
    trusted = _trusted_origin_keys(trusted_origins)
    guard = _cross_site_guard(trusted)
    host_guard = _host_guard(_allowed_host_list(allowed_hosts), trusted)
    router_kwargs.setdefault("tags", ["scheduler"])
    router_kwargs["responses"] = {**_BAD_HOST, **(router_kwargs.get("responses") or {})}
    # The Host check runs first: a rebinding page gets its 400, not a login prompt.
    router = SchedulerRouter(
        prefix=prefix, dependencies=[Depends(host_guard), *(dependencies or ())], **router_kwargs
    )
    hub = router.hub = Hub(scheduler)
    page = _load_page().replace("__FS_CONFIG__", _script_json({"readOnly": read_only}))
    if metrics is not False:
        _add_metrics_route(router, scheduler, required=metrics is True)

    # ------------------------------------------------------------------ page and stream

    @router.get("/", response_class=HTMLResponse, summary="The dashboard page")
    async def dashboard() -> HTMLResponse:
        """The single-page dashboard (self-contained: no CDN, works offline)."""
        nonce = secrets.token_urlsafe(18)
        csp = (
            "default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return HTMLResponse(
            page.replace("__FS_NONCE__", nonce),
            headers={
                "Content-Security-Policy": csp,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    def heartbeat() -> ServerSentEvent:
        data = json.dumps({"time": time.time(), "running": scheduler.running}, separators=(",", ":"))
        return ServerSentEvent(data, event="heartbeat", sep="\n")

    @router.get(
        "/events",
        response_class=_SSEResponse,
        summary="Live updates (Server-Sent Events)",
        responses={
            200: {
                "description": (
                    "An endless text/event-stream: one `snapshot` event on connect (all jobs and"
                    " stats), then `job`, `run`, `dead_letter`, `dead_letters_cleared` and `stats`"
                    " events carrying only what"
                    " changed, with ids for Last-Event-ID resumption, and `heartbeat` events."
                ),
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    async def events(
        last_event_id_header: Annotated[str | None, Header(alias="last-event-id", max_length=200)] = None,
        last_event_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> _SSEResponse:
        """Stream changes as they happen. A reconnecting browser sends ``Last-Event-ID`` and gets
        exactly what it missed (or a fresh snapshot if that is too old)."""
        shutdown = anyio.Event()  # set by sse-starlette when the server shuts down
        return _SSEResponse(
            hub.stream(last_event_id_header or last_event_id, stop=shutdown),
            shutdown_event=shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
            ping=HEARTBEAT_SECONDS,
            ping_message_factory=heartbeat,
            send_timeout=SEND_TIMEOUT_SECONDS,
            headers={"Cache-Control": "no-store"},
        )

    # ------------------------------------------------------------------ queries

    @router.get("/api/status", response_model=Status, summary="Whether the scheduler runs, and statistics")
    def get_status() -> dict[str, Any]:
        """``{"running": bool, "statistics": {...}}`` (the original's shape)."""
        return {"running": scheduler.running, "statistics": scheduler.get_statistics()}

    @router.get("/api/stats", response_model=Statistics, summary="Statistics")
    def get_stats() -> dict[str, Any]:
        """Totals, success rate (percent), uptime, active jobs and per-job counts."""
        return scheduler.get_statistics()

    @router.get("/api/jobs", response_model=JobsPage, summary="List jobs")
    def list_jobs(
        status: Annotated[JobFilterStatus | None, Query(description="only jobs in this state")] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="case-insensitive text in id, name or schedule")
        ] = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000, description="page size (default: all)")] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> dict[str, Any]:
        """Jobs (running ones included), soonest next run first, filtered then paged."""
        jobs = scheduler.get_jobs()
        if status is not None:
            jobs = [j for j in jobs if j.get("status") == status.value]
        if q:
            needle = q.casefold()
            fields = ("job_id", "name", "func_name", "schedule")
            jobs = [j for j in jobs if needle in "\0".join(str(j.get(k) or "") for k in fields).casefold()]
        end = None if limit is None else offset + limit
        return {"jobs": jobs[offset:end], "total": len(jobs), "offset": offset, "limit": limit}

    @router.get("/api/history", response_model=HistoryPage, summary="Run history")
    def get_history(
        job: Annotated[str | None, Query(max_length=1000, description="only this job id")] = None,
        func_name: Annotated[str | None, Query(max_length=1000, description="only this function")] = None,
        status: Annotated[RunStatus | None, Query(description="only runs with this outcome")] = None,
        since: Annotated[
            _EpochSeconds | datetime | None,
            Query(
                description="runs that ended at or after this time: epoch seconds, or ISO 8601 (naive = UTC)"
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> dict[str, Any]:
        """Finished and missed runs, newest first, filtered then paged."""
        entries = scheduler.get_history(func_name, limit=2**31)
        if job is not None:
            entries = [e for e in entries if e.job_id == job]
        if status is not None:
            entries = [e for e in entries if e.status == status.value]
        if since is not None:
            horizon = since if isinstance(since, float) else _epoch(since)
            entries = [e for e in entries if e.timestamp >= horizon]
        page = [e.to_dict() for e in entries[offset : offset + limit]]
        return {"history": page, "total": len(entries), "offset": offset, "limit": limit}

    @router.get("/api/dead-letters", response_model=DeadLetters, summary="Dead letters")
    def get_dead_letters(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        job: Annotated[str | None, Query(max_length=1000, description="only this job id")] = None,
    ) -> dict[str, Any]:
        """Executions that failed on every attempt, newest first, with their tracebacks."""
        letters = scheduler.get_dead_letters(limit=2**31)
        if job is not None:
            letters = [d for d in letters if d.job_id == job]
        return {"dead_letters": [d.to_dict() for d in letters[:limit]], "total": len(letters)}

    if not read_only:
        _add_actions(router, scheduler, guard)

    # After the actions: `/api/jobs/{id}/pause` must match the POST route first (a job id may
    # contain "/", so this GET route matches that path too: GET there looks up job "{id}/pause").
    @router.get(
        "/api/jobs/{job_id:path}",
        response_model=JobEnvelope,
        responses={**_NOT_FOUND, **({} if read_only else _GET_ACTION)},
        summary="One job",
    )
    def get_job(
        job_id: _JobId,
        count: Annotated[
            int, Query(alias="next", ge=0, le=MAX_NEXT, description="how many of the next fire times to list")
        ] = 10,
    ) -> Any:
        """``{"job": {...}}`` with the job's timeout and its next fire times; 404 if there is no
        such job. A GET of an action's path (``{id}/run`` ...) that is not itself a job's id is
        405."""
        job = scheduler.get_job(job_id)
        if job is not None:
            job["next_runs"], job["next_runs_note"] = next_runs(job, count, time.time())
            return {"job": job}
        target, _, action = job_id.rpartition("/")
        if target and action in _ACTIONS and not read_only:
            message = f"method not allowed: {action} is an action, send it with POST"
            return _error(405, message, target, headers={"Allow": "POST"})
        return _error(404, f"job {job_id!r} not found", job_id)

    return router


def _act(
    scheduler: "FastScheduler", job_id: str, action: Literal["run", "pause", "resume"], done: str
) -> Any:
    """Run, pause or resume: 404 unknown job, 409 when its state forbids it (checked and done
    in one step by the scheduler), else the success body."""
    refused = scheduler.job_action(job_id, action)
    if refused == "missing":
        return _error(404, f"job {job_id!r} not found", job_id)
    if refused is not None:
        return _error(409, refused, job_id)
    return {"success": True, "job_id": job_id, "message": f"job {job_id} {done}"}


def _add_actions(
    router: APIRouter, scheduler: "FastScheduler", guard: Callable[[Request], Awaitable[None]]
) -> None:
    """The routes that change things (left out when read-only), each refusing cross-site requests."""
    actions = [Depends(guard)]

    @router.delete(
        "/api/dead-letters",
        response_model=Cleared,
        dependencies=actions,
        responses={403: _ACTION_ERRORS[403]},
        summary="Clear dead letters",
    )
    def clear_dead_letters() -> dict[str, Any]:
        """Remove every dead letter; says how many."""
        return {"success": True, "cleared": scheduler.clear_dead_letters()}

    @router.post(
        "/api/jobs/{job_id:path}/run",
        response_model=ActionResult,
        dependencies=actions,
        responses=_ACTION_ERRORS,
        summary="Run a job now",
    )
    def run_job(job_id: _JobId) -> Any:
        """Start one extra run now (the schedule is unchanged). 409 if the scheduler is not
        running or the job is running already."""
        return _act(scheduler, job_id, "run", "started")

    @router.post(
        "/api/jobs/{job_id:path}/pause",
        response_model=ActionResult,
        dependencies=actions,
        responses=_ACTION_ERRORS,
        summary="Pause a job",
    )
    def pause_job(job_id: _JobId) -> Any:
        """Stop firing (the schedule is kept). 409 if the job is paused already."""
        return _act(scheduler, job_id, "pause", "paused")

    @router.post(
        "/api/jobs/{job_id:path}/resume",
        response_model=ActionResult,
        dependencies=actions,
        responses=_ACTION_ERRORS,
        summary="Resume a paused job",
    )
    def resume_job(job_id: _JobId) -> Any:
        """Fire again from the next scheduled time. 409 if the job is not paused."""
        return _act(scheduler, job_id, "resume", "resumed")

    @router.post(
        "/api/jobs/{job_id:path}/cancel",
        response_model=ActionResult,
        dependencies=actions,
        responses=_ACTION_ERRORS,
        summary="Cancel (remove) a job",
    )
    def cancel_job(job_id: _JobId) -> Any:
        """Remove the job (a run in progress finishes and is not retried)."""
        if not scheduler.cancel_job(job_id):
            return _error(404, f"job {job_id!r} not found", job_id)
        return {"success": True, "job_id": job_id, "message": f"job {job_id} cancelled"}


def _add_metrics_route(router: APIRouter, scheduler: "FastScheduler", *, required: bool) -> None:
    """``GET /metrics``: the scheduler's collector (fastscheduler.metrics) in a registry of its own,
    in the format the scraper asks for (Prometheus text, or OpenMetrics)."""
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        from fastscheduler.metrics import collector_of
    except ImportError:
        if required:
            raise ImportError(
                'metrics=True needs prometheus_client: pip install "fastscheduler[metrics]"'
            ) from None
        return
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector_of(scheduler))
    text = {"schema": {"type": "string"}}

    @router.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": text, "application/openmetrics-text": text}}},
    )
    def get_metrics(request: Request) -> Response:
        """The scheduler's metrics (docs/observability.md lists them): Prometheus text format, or
        OpenMetrics when the ``Accept`` header asks for it."""
        try:
            encode, content_type = choose_encoder(request.headers.get("accept", ""))
        except (ValueError, TypeError):  # an Accept header it cannot parse: the plain format
            encode, content_type = choose_encoder("")
        return Response(encode(registry), media_type=content_type, headers={"Cache-Control": "no-store"})


__all__ = [
    "HEARTBEAT_SECONDS",
    "SchedulerRouter",
    "create_scheduler_routes",
    "host_is_allowed",
    "origin_matches_host",
]

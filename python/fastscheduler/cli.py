"""The ``fastscheduler`` command line (also ``python -m fastscheduler``).

Subcommands: ``demo`` (example jobs and the dashboard), ``run module:scheduler`` (run a user's
scheduler, like ``uvicorn module:app``), ``jobs`` / ``history`` / ``dead-letters`` (read a store),
``cron`` (next fire times of an expression) and ``bench`` (the benchmark report, from a checkout).
Exit codes: 0 success, 1 a runtime failure (the store is locked or damaged ...), 2 bad usage or
bad input (the message says what to change).

Output follows the conventions of uvicorn, celery and ruff: colour only on a terminal, never with
``NO_COLOR`` set (``FORCE_COLOR`` forces it); tables fit the terminal (100 columns when the output
is not one) and show jobs by name, full ids on request (``--full-ids``); work that may take long
(reading a big store, importing and starting a scheduler) shows a live line on a terminal's stderr.
docs/cli.md describes each command.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from fastscheduler import TZDB_VERSION, CronError, CronExpr, UnknownTimeZoneError, __version__


class CliError(Exception):
    """A failure to report as ``error: <message>`` with exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------- output

BOLD, DIM, RED, GREEN, YELLOW = "1", "2", "31", "32", "33"


def color_wanted(stream: TextIO) -> bool:
    """Whether to colour what goes to ``stream``: never with ``NO_COLOR`` set to anything
    (no-color.org), always with ``FORCE_COLOR``, else only on a terminal that is not ``dumb``."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Style:
    """ANSI styles for one stream, or none (see :func:`color_wanted`)."""

    def __init__(self, stream: TextIO) -> None:
        self.on = color_wanted(stream)

    def __call__(self, text: str, *codes: str) -> str:
        return f"\033[{';'.join(codes)}m{text}\033[0m" if self.on and codes and text else text


def output_width() -> int:
    """Columns a table may take: ``$COLUMNS``, else the terminal's width, else 100."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return 100


@contextmanager
def progress(label: str, *, stream: TextIO | None = None, delay: float = 0.4) -> Iterator[None]:
    """A live line for work that may take long: once it has taken ``delay`` seconds,
    ``<spinner> <label> (<seconds> s)`` on ``stream`` (stderr), redrawn ten times a second and
    erased when the work is done. Only on a terminal: pipes and logs get nothing."""
    out = sys.stderr if stream is None else stream
    try:
        live = out.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        live = False
    if not live:
        yield
        return
    frames = "\u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f"
    if "utf" not in (getattr(out, "encoding", "") or "").lower():
        frames = "|/-\\"
    done = threading.Event()
    started = time.monotonic()
    drawn = False

    def draw() -> None:
        nonlocal drawn
        if done.wait(delay):
            return
        i = 0
        while not done.is_set():
            out.write(f"\r{frames[i % len(frames)]} {label} ({time.monotonic() - started:.1f} s)\033[K")
            out.flush()
            drawn = True
            i += 1
            done.wait(0.1)

    thread = threading.Thread(target=draw, name="fastscheduler-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if drawn:
            out.write("\r\033[K")
            out.flush()


# ---------------------------------------------------------------------------------- cron


def _cmd_cron(args: argparse.Namespace) -> int:
    from fastscheduler._describe import describe, error_caret

    try:
        expr = CronExpr(args.expression, tz=args.tz)
        start = datetime.now(timezone.utc) if args.after is None else datetime.fromisoformat(args.after)
        fires = expr.next_n(start, args.n)
    except CronError as exc:
        caret = error_caret(args.expression, str(exc))
        raise CliError(str(exc) + (f"\n{caret}" if caret else ""), 2) from None
    except (UnknownTimeZoneError, ValueError) as exc:
        raise CliError(str(exc), 2) from None
    words = describe(expr.expression)
    if args.json:
        payload = {
            "expression": expr.expression,
            "description": words,
            "tz": expr.tz,
            "fixed_time": expr.is_fixed_time,
            "next": [f.isoformat() for f in fires],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{expr.expression!r} in {expr.tz}: {words}")
    for f in fires:
        print(f"  {f.isoformat()}  ({f.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%SZ')})")
    return 0


# ---------------------------------------------------------------------------------- run / demo


def _load_scheduler(target: str) -> Any:
    """``module:attr`` (``attr`` a FastScheduler, or a callable returning one); the current
    directory is importable, as with uvicorn."""
    from fastscheduler.scheduler import FastScheduler

    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"expected module:scheduler (e.g. app.jobs:scheduler), got {target!r}", 2)
    sys.path.insert(0, os.getcwd())
    try:
        with progress(f"importing {module_name} (its jobs register)"):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name!r}: {exc}", 2) from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise CliError(f"{module_name!r} has no attribute {attr!r}", 2)
    if not isinstance(obj, FastScheduler) and callable(obj):
        obj = obj()
    if not isinstance(obj, FastScheduler):
        raise CliError(f"{target} is a {type(obj).__name__}, not a FastScheduler", 2)
    return obj


def _serve(scheduler: Any, dashboard: bool, host: str, port: int, allowed_hosts: Sequence[str] = ()) -> int:
    """Run ``scheduler`` (with the dashboard on ``host:port``) until SIGINT/SIGTERM, then stop it.
    The dashboard answers only to localhost names, IP addresses, ``host`` and ``allowed_hosts``."""
    from fastscheduler.stores import StorageError

    if dashboard:
        try:
            import uvicorn
            from fastapi import FastAPI

            from fastscheduler.fastapi_integration import create_scheduler_routes
        except ImportError as exc:
            raise CliError(f"the dashboard needs: pip install 'fastscheduler[fastapi]' ({exc})") from None
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> Any:
            scheduler.start()
            yield
            await scheduler.stop(wait=True, timeout=10)

        try:  # this server knows its address: every request's Host is checked (DNS rebinding)
            routes = create_scheduler_routes(scheduler, allowed_hosts=[host, *allowed_hosts])
        except ValueError as exc:
            raise CliError(str(exc).replace("allowed_hosts:", "--allowed-host:", 1), 2) from None
        app = FastAPI(title="fastscheduler", lifespan=lifespan)
        app.include_router(routes)
        print(f"fastscheduler: dashboard at http://{host}:{port}/scheduler/ (Ctrl-C to stop)", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return 0
    try:
        with progress("starting: loading the store and arming the jobs"):
            scheduler.start()
    except StorageError as exc:
        raise CliError(str(exc)) from None
    print(f"fastscheduler: running {len(scheduler.get_jobs())} job(s) (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    scheduler.stop(wait=True, timeout=30)
    print("fastscheduler: stopped", flush=True)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    return _serve(_load_scheduler(args.target), args.dashboard, args.host, args.port, args.allowed_host)


def _cmd_demo(args: argparse.Namespace) -> int:
    from fastscheduler._demo import build_demo_scheduler

    scheduler = build_demo_scheduler(args.state)
    print(f"fastscheduler demo: {len(scheduler.get_jobs())} example jobs, state in {args.state}")
    return _serve(scheduler, not args.no_dashboard, args.host, args.port, args.allowed_host)


# ---------------------------------------------------------------------------------- stores


def _read_store(args: argparse.Namespace) -> Any:
    """The stored state named by ``--state`` / ``--database-url``, read without taking the store
    (a running scheduler may hold it)."""
    from fastscheduler.stores import Limits, StorageError

    backend: Any
    if args.database_url:
        from fastscheduler.stores.sql import SQLModelStorageBackend

        backend = SQLModelStorageBackend(args.database_url)
    else:
        from fastscheduler.stores.json_file import JSONStorageBackend

        if not Path(args.state).exists():
            raise CliError(f"no state file at {args.state} (give --state FILE or --database-url URL)", 2)
        backend = JSONStorageBackend(args.state)
    try:
        with progress(f"reading {backend.display_url if args.database_url else args.state}"):
            state = backend.read(
                Limits(max_history=10**9, history_retention_days=10**6, max_dead_letters=10**9)
            )
        if args.database_url and backend.multi_instance:
            from fastscheduler.cluster import read_rows
            from fastscheduler.stores._records import cluster_row_problem

            # A cluster's truth for next fire, pause and counters is its own tables, not the
            # records each instance writes of its view.
            rows = {
                job_id: row
                for job_id, row in (read_rows(backend.engine) or {}).items()
                if job_id in state.jobs
            }
            bad = cluster_row_problem(rows)
            if bad is not None:
                raise CliError(f"The database {backend.display_url} {bad}")
            for job_id, row in rows.items():
                state.jobs[job_id] = {**state.jobs[job_id], **row}
        return state
    except StorageError as exc:
        raise CliError(str(exc)) from None
    finally:
        backend.close()


def _ts(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _paste(job_id: Any) -> str:
    """A job id ready to paste into a shell (``history --job ...``): quoted when it must be."""
    return shlex.quote(str(job_id))


def _url_id(job_id: Any) -> str:
    """A job id ready to paste into an API URL (``.../api/jobs/<this>/run``), percent-encoded; its
    characters are also safe unquoted in a shell."""
    return quote(str(job_id), safe=":@", errors="backslashreplace")  # a lone surrogate: shown, not fatal


def _named(record: dict[str, Any]) -> dict[str, Any]:
    """A history or dead-letter record with its job's name (records stored before names were
    filled in for jobs without ``.name()`` have null: the name is then the function's)."""
    return {**record, "name": record.get("name") or record.get("func_name")}


def _name(record: dict[str, Any]) -> str:
    """A job's name: ``.name()``, else its function's name, else its id without the module path."""
    name = record.get("name") or record.get("func_name")
    return str(name) if name else short_id(record.get("job_id"))


def short_id(job_id: Any) -> str:
    """A default id without its module path, as the dashboard shows it: ``app.jobs.beat:every:10s``
    is ``beat:every:10s``; other ids as they are."""
    text = str(job_id)
    head, sep, key = text.partition(":")
    return f"{head.rpartition('.')[2]}{sep}{key}" if sep else text


@dataclass
class Column:
    """One column of a table. When the table is too wide, a column with ``cut`` is cut: to
    ``keep`` characters before a ``drop`` column goes (the rightmost such first), then down to
    ``cut``; ``short`` gives each cell a shorter text to show before an ellipsis is needed."""

    header: str
    cells: list[str]
    right: bool = False
    cut: int | None = None
    keep: int = 0
    short: list[str] | None = None
    drop: bool = False
    styles: list[tuple[str, ...]] = field(default_factory=list)


def _cell(text: str, width: int, short: str | None) -> str:
    if len(text) <= width:
        return text
    if short is not None and len(short) <= width:
        return short
    return (short or text)[: max(0, width - 1)] + "\u2026"


def print_table(columns: list[Column], width: int | None, style: Style) -> None:
    """Print ``columns`` as a table no wider than ``width`` (None: as wide as they are), as
    :class:`Column` says; if even that does not fit, it is printed as narrow as it gets."""
    columns = list(columns)
    while True:
        widths = _fit(columns, width, hard=False)
        droppable = [i for i, c in enumerate(columns) if c.drop]
        if widths is not None or not droppable:
            break
        del columns[droppable[-1]]
    widths = widths or _fit(columns, width, hard=True) or []
    heads = [
        c.header.rjust(w) if c.right else c.header.ljust(w) for c, w in zip(columns, widths, strict=True)
    ]
    print("  ".join(style(h, BOLD) for h in heads).rstrip())
    for row in range(len(columns[0].cells)):
        parts = []
        for c, w in zip(columns, widths, strict=True):
            text = _cell(c.cells[row], w, c.short[row] if c.short else None)
            text = text.rjust(w) if c.right else text.ljust(w)
            parts.append(style(text, *c.styles[row]) if c.styles else text)
        print("  ".join(parts).rstrip())


def _fit(columns: list[Column], width: int | None, *, hard: bool) -> list[int] | None:
    """Column widths within ``width``, cutting the widest cuttable column a character at a time
    down to its ``keep`` (``hard``: its ``cut``); None if they do not fit (``hard``: the widths
    reached anyway)."""
    widths = [max(len(c.header), *map(len, c.cells)) for c in columns]
    if width is None:
        return widths
    floors = [
        len(c.header) if c.cut is None else max(len(c.header), c.cut if hard else max(c.cut, c.keep))
        for c in columns
    ]
    excess = sum(widths) + 2 * (len(columns) - 1) - width
    while excess > 0:
        cuttable = [i for i, w in enumerate(widths) if columns[i].cut is not None and w > floors[i]]
        if not cuttable:
            return widths if hard else None
        widths[max(cuttable, key=lambda i: widths[i])] -= 1
        excess -= 1
    return widths


_STATE_STYLE = {"scheduled": (GREEN,), "paused": (YELLOW,), "done": (DIM,)}
_STATUS_STYLE = {"completed": (GREEN,), "failed": (RED,), "missed": (YELLOW,)}


def _words_cut(schedule: str) -> str:
    """A cron job's schedule text without the expression's words (what follows the em dash):
    ``Cron: 0 9 * * MON-FRI (Europe/Paris)``; other texts as they are."""
    head, sep, rest = schedule.partition(" \u2014 ")
    if not sep:
        return schedule
    zone = rest[rest.rfind(" (") :] if rest.endswith(")") and " (" in rest else ""
    return head + zone


def _cmd_jobs(args: argparse.Namespace) -> int:
    state = _read_store(args)
    jobs = sorted(state.jobs.values(), key=lambda r: (r.get("next_run") is None, r.get("next_run") or 0))
    if args.json:
        print(json.dumps(jobs, indent=2, default=str))
        return 0
    style = Style(sys.stdout)
    states = ["paused" if r.get("paused") else ("done" if r.get("finished") else "scheduled") for r in jobs]
    failed = [str(r.get("failure_count", 0)) for r in jobs]
    schedules = [str(r.get("schedule") or "-") for r in jobs]
    columns = [
        Column("NAME", [_name(r) for r in jobs], cut=10, keep=20),
        Column("SCHEDULE", schedules, cut=12, keep=28, short=[_words_cut(t) for t in schedules]),
        Column("STATE", states, styles=[_STATE_STYLE.get(x, ()) for x in states]),
        Column("NEXT RUN (UTC)", [_ts(r.get("next_run")) for r in jobs]),
        Column("LAST RUN (UTC)", [_ts(r.get("last_run")) for r in jobs], drop=True),
        Column("RUNS", [str(r.get("run_count", 0)) for r in jobs], right=True),
        Column("FAILED", failed, right=True, styles=[(RED,) if f != "0" else () for f in failed]),
    ]
    if args.full_ids:
        columns.append(Column("ID", [_paste(r.get("job_id")) for r in jobs]))
        columns.append(Column("IN URLS", [_url_id(r.get("job_id")) for r in jobs]))
    if not jobs:
        print("no jobs in the store")
        return 0
    print_table(columns, None if args.full_ids else output_width(), style)
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    state = _read_store(args)
    entries = [h for h in state.history if args.job is None or h.get("job_id") == args.job]
    if args.job is not None and not entries:
        if args.job not in state.jobs:  # neither a stored job nor one with runs left in the history
            raise CliError(_no_such_job(args, state), 2)
        if not args.json:
            print(f"no runs of job {args.job!r} in the history")
            return 0
    entries = [_named(h) for h in entries[-args.limit :][::-1]]
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    style = Style(sys.stdout)
    statuses = [str(h.get("status")) for h in entries]
    columns = [
        Column("WHEN (UTC)", [_ts(h.get("timestamp")) for h in entries]),
        Column("NAME", [_name(h) for h in entries], cut=10, keep=20),
        Column("STATUS", statuses, styles=[_STATUS_STYLE.get(x, ()) for x in statuses]),
        Column("ERROR", [str(h.get("error") or "") for h in entries], cut=10, keep=30),
    ]
    if args.full_ids:
        columns.insert(2, Column("ID", [_paste(h.get("job_id")) for h in entries]))
    print_table(columns, None if args.full_ids else output_width(), style)
    return 0


def _no_such_job(args: argparse.Namespace, state: Any) -> str:
    """The error for ``history --job ID`` naming no stored job: which store, and near misses."""
    import difflib

    store = args.database_url or args.state
    known = sorted({*state.jobs, *(h.get("job_id") for h in state.history)})
    close = difflib.get_close_matches(args.job, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"no job {args.job!r} in {store}: no stored job or run has this id{hint} "
        "(`fastscheduler jobs --full-ids` lists the job ids)"
    )


def _cmd_dead_letters(args: argparse.Namespace) -> int:
    state = _read_store(args)
    letters = [_named(d) for d in state.dead_letters[-args.limit :][::-1]]
    if args.json:
        print(json.dumps(letters, indent=2, default=str))
        return 0
    style = Style(sys.stdout)
    for d in letters:
        job = _paste(d.get("job_id")) if args.full_ids else _name(d)
        print(f"{_ts(d.get('executed_at'))}  {style(job, BOLD)}  after {d.get('attempts')} attempt(s)")
        print(f"  {style(str(d.get('error_type')), RED)}: {d.get('error_message')}")
        if args.traceback:
            print("  " + str(d.get("traceback", "")).rstrip().replace("\n", "\n  "))
    if not letters:
        print("no dead letters")
    return 0


# ---------------------------------------------------------------------------------- bench


def _bench_script() -> Path:
    """``benches/bench.py`` of the checkout this package runs from (an editable install), else of
    the checkout the current directory is in (a built wheel used from a checkout)."""
    here = Path.cwd().resolve()
    for root in (Path(__file__).resolve().parents[2], here, *here.parents):
        script = root / "benches" / "bench.py"
        if script.exists() and (root / "python" / "fastscheduler").is_dir():
            return script
    raise CliError(
        "the benchmarks run from a checkout of fastscheduler (benches/ is not installed with the "
        "package): git clone the repository, make dev, then .venv/bin/fastscheduler bench",
        2,
    )


def _cmd_bench(args: argparse.Namespace) -> int:
    """Load ``benches/bench.py`` and run it in this process (it runs each measurement in a
    subprocess), so its checks, such as ``--png`` without matplotlib, fail at once."""
    import importlib.util

    script = _bench_script()
    spec = importlib.util.spec_from_file_location("fastscheduler_bench", script)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot load {script}", 2)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--full"] if args.full else ["--from-json", args.from_json] if args.from_json else ["--quick"]
    for flag, value in [("--markdown", args.markdown), ("--json", args.json), ("--png", args.png)]:
        if value == "-":
            argv.append(flag)
        elif value is not None:
            argv += [flag, value]
    if args.no_peer:
        argv.append("--no-peer")
    code: int = bench.main(argv)
    return code


# ---------------------------------------------------------------------------------- main


def _positive(text: str) -> int:
    """An ``-n`` count: an integer >= 1 (0 or a negative count is a usage error, not "all")."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


def _store_args(p: argparse.ArgumentParser, ids: bool = True) -> None:
    p.add_argument("--state", default="fastscheduler_state.json", help="JSON state file (the default store)")
    p.add_argument("--database-url", help="SQL store instead, e.g. postgresql://user:pass@host/db")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if ids:
        p.add_argument(
            "--full-ids",
            action="store_true",
            help="show each job's full id (to paste into a shell and into API URLs); the table may "
            "then be wider than the terminal",
        )


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="dashboard port (default 8000)")
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name the dashboard answers to (besides localhost, IP addresses and --host); "
        "'.example.com' for its subdomains too, '*' for any; repeatable",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="fastscheduler", description="fastscheduler command line")
    parser.add_argument(
        "--version", action="version", version=f"fastscheduler {__version__} (tz database {TZDB_VERSION})"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run example jobs and serve the dashboard")
    _serve_args(demo)
    demo.add_argument("--state", default="fastscheduler_demo.json", help="JSON state file of the demo")
    demo.add_argument("--no-dashboard", action="store_true", help="run the jobs only")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a scheduler object: fastscheduler run app.jobs:scheduler")
    run.add_argument("target", help="module:attribute of a FastScheduler (or a function returning one)")
    run.add_argument("--dashboard", action="store_true", help="also serve the dashboard")
    _serve_args(run)
    run.set_defaults(func=_cmd_run)

    jobs = sub.add_parser("jobs", help="list the jobs of a store with their next runs")
    _store_args(jobs)
    jobs.set_defaults(func=_cmd_jobs)

    history = sub.add_parser("history", help="recent runs from a store, newest first")
    _store_args(history)
    history.add_argument("--job", help="only this job id")
    history.add_argument("-n", "--limit", type=_positive, default=50, help="how many (default 50)")
    history.set_defaults(func=_cmd_history)

    dead = sub.add_parser("dead-letters", help="executions that failed on every attempt")
    _store_args(dead)
    dead.add_argument("-n", "--limit", type=_positive, default=100, help="how many (default 100)")
    dead.add_argument("--traceback", action="store_true", help="print the tracebacks too")
    dead.set_defaults(func=_cmd_dead_letters)

    cron = sub.add_parser("cron", help="show the next fire times of a cron expression")
    cron.add_argument("expression", help='a cron expression, e.g. "0 9 * * MON-FRI"')
    cron.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    cron.add_argument("-n", type=_positive, default=10, help="how many fire times (default 10)")
    cron.add_argument("--after", help="ISO datetime to start from (default: now)")
    cron.add_argument("--json", action="store_true", help="machine-readable output")
    cron.set_defaults(func=_cmd_cron)

    bench = sub.add_parser(
        "bench",
        help="the benchmark report against peer libraries (from a checkout)",
        description="Benchmarks against croniter, cronsim, APScheduler 3 and fastscheduler 0.2.1, in one "
        "run: one Markdown report on stdout, live status on stderr. Exit codes: 0 done, 1 a benchmark "
        "failed, 2 bad usage, a missing optional dependency or not a checkout.",
    )
    source = bench.add_mutually_exclusive_group()
    source.add_argument("--quick", action="store_true", help="scheduler at 100,000 jobs (default; ~4 min)")
    source.add_argument("--full", action="store_true", help="adds 1,000,000 jobs, more repeats (over 30 min)")
    source.add_argument("--from-json", metavar="FILE", help="render a report saved with --json; no measuring")
    bench.add_argument("--markdown", metavar="FILE", help="also write the Markdown report to FILE")
    bench.add_argument(
        "--json", metavar="FILE", nargs="?", const="-", help="JSON report to FILE (alone: on stdout)"
    )
    bench.add_argument("--png", metavar="FILE", help="also write a chart of the ratios (needs matplotlib)")
    bench.add_argument("--no-peer", action="store_true", help="leave out fastscheduler 0.2.1 (not installed)")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code. Without a command it prints its help (exit 0)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0), or a usage error argparse has printed (2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if args.command is None:
        parser.print_help()
        return 0
    for stream in (sys.stdout, sys.stderr):  # stored text may hold what the stream cannot encode
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
    try:
        result: int = args.func(args)
    except CliError as exc:
        print(f"{Style(sys.stderr)('error', BOLD, RED)}: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:  # `fastscheduler history | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)  # so that flushing stdout at exit is quiet too
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command a closed pipe ended
    return result

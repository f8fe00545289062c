"""The ``fastscheduler`` command line (also ``python -m fastscheduler``).

Subcommands: ``demo`` (example jobs and the dashboard), ``run module:scheduler`` (run a user's
scheduler, like ``uvicorn module:app``), ``jobs`` / ``history`` / ``dead-letters`` (read a store),
``cron`` (next fire times of an expression) and ``bench`` (the benchmark report, from a checkout).
Exit codes: 0 success, 1 a runtime failure (the store is locked or damaged ...), 2 bad usage or
bad input (the message says what to change).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastscheduler import TZDB_VERSION, CronError, CronExpr, UnknownTimeZoneError, __version__


class CliError(Exception):
    """A failure to report as ``error: <message>`` with exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


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
        state = backend.read(Limits(max_history=10**9, history_retention_days=10**6, max_dead_letters=10**9))
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


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cmd_jobs(args: argparse.Namespace) -> int:
    state = _read_store(args)
    jobs = sorted(state.jobs.values(), key=lambda r: (r.get("next_run") is None, r.get("next_run") or 0))
    if args.json:
        print(json.dumps(jobs, indent=2, default=str))
        return 0
    rows = [
        [
            _paste(r.get("job_id")),
            str(r.get("schedule")),
            "paused" if r.get("paused") else ("done" if r.get("finished") else "scheduled"),
            _ts(r.get("next_run")),
            _ts(r.get("last_run")),
            str(r.get("run_count", 0)),
            str(r.get("failure_count", 0)),
            _url_id(r.get("job_id")),
        ]
        for r in jobs
    ]
    header = ["JOB", "SCHEDULE", "STATE", "NEXT RUN (UTC)", "LAST RUN (UTC)", "RUNS", "FAILED", "IN URLS"]
    _table(rows, header)
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
    rows = [
        [_ts(h.get("timestamp")), _paste(h.get("job_id")), str(h.get("status")), str(h.get("error") or "")]
        for h in entries
    ]
    _table(rows, ["WHEN (UTC)", "JOB", "STATUS", "ERROR"])
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
        "(`fastscheduler jobs` lists the job ids)"
    )


def _cmd_dead_letters(args: argparse.Namespace) -> int:
    state = _read_store(args)
    letters = [_named(d) for d in state.dead_letters[-args.limit :][::-1]]
    if args.json:
        print(json.dumps(letters, indent=2, default=str))
        return 0
    for d in letters:
        print(f"{_ts(d.get('executed_at'))}  {_paste(d.get('job_id'))}  after {d.get('attempts')} attempt(s)")
        print(f"  {d.get('error_type')}: {d.get('error_message')}")
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


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default="fastscheduler_state.json", help="JSON state file (the default store)")
    p.add_argument("--database-url", help="SQL store instead, e.g. postgresql://user:pass@host/db")
    p.add_argument("--json", action="store_true", help="machine-readable output")


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
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    return result

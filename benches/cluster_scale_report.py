"""A cluster at scale (issue 14): the first ``start()`` and a restart of one instance with N jobs.

    python benches/cluster_scale_report.py [--quick | --full] [--dbs postgresql,mariadb] [--json FILE]

One cluster instance (``FastScheduler(database_url=..., cluster=True)``) on a fresh database
registers N jobs ``every(3600).seconds`` (no-op) plus one ``every(1).seconds`` job that records its
start lateness (start - scheduled). Each phase runs in a fresh subprocess:

1. **first start**: the database is empty; ``start()`` creates the tables and every job's cluster
   rows (``fastscheduler_schedule``, ``fastscheduler_job_counts``). The instance then runs for a
   few seconds (the every(1) job must run) and is stopped; ``stop()`` includes writing what the
   store's saver still holds (its job records).
2. **restart**: a new process with the same registrations starts on that database (rows exist,
   definitions unchanged), runs, and stops.

Per phase: registration seconds, ``start()`` seconds, the every(1) job's runs and lateness (its
first run after ``start()``, and the max), ``stop()`` seconds, resident memory per job after
``start()`` (RSS growth since before registering, divided by N) and, on PostgreSQL, the rows the
phase inserted, updated and deleted (``pg_stat_user_tables``, read after the process exited).

``--quick``: 100,000 jobs on PostgreSQL and MariaDB; ``--full``: 1,000,000 jobs on PostgreSQL
(and 100,000 on MariaDB). ``--jobs N`` overrides both. Needs the test servers (``make services``)
or FASTSCHEDULER_TEST_POSTGRES_URL / FASTSCHEDULER_TEST_MYSQL_URL admin URLs (a user that may
create and drop databases); each run makes its own ``fs_scale_<random>`` database and drops it.
The database server shares the machine's cores with the instance. Every worker prints one JSON
line; the report prints a Markdown table (and ``--json FILE`` the whole report).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _services_urls() -> dict[str, str]:
    """Admin URLs: the environment's, else those scripts/services.sh wrote to urls.env."""
    urls = {
        "postgresql": "postgresql://fastscheduler:fastscheduler@127.0.0.1:55432/postgres",
        "mariadb": "mysql://fastscheduler:fastscheduler@127.0.0.1:53306/mysql",
    }
    services_dir = Path(os.environ.get("FASTSCHEDULER_SERVICES_DIR") or "/tmp/fastscheduler-services")
    with contextlib.suppress(OSError):
        written = dict(
            line.partition("=")[::2] for line in (services_dir / "urls.env").read_text().splitlines()
        )
        urls["postgresql"] = written.get("FASTSCHEDULER_TEST_POSTGRES_URL") or urls["postgresql"]
        urls["mariadb"] = written.get("FASTSCHEDULER_TEST_MYSQL_URL") or urls["mariadb"]
    return {
        "postgresql": os.environ.get("FASTSCHEDULER_TEST_POSTGRES_URL", urls["postgresql"]),
        "mariadb": os.environ.get("FASTSCHEDULER_TEST_MYSQL_URL", urls["mariadb"]),
    }


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def noop(*args: Any) -> None:
    pass


LATE: list[tuple[float, float]] = []  # (scheduled, started) of each run of the every(1) job


def probe() -> None:
    from fastscheduler import current_run

    run = current_run()
    if run is not None:
        LATE.append((run.scheduled_time, time.time()))


# ---------------------------------------------------------------------------------------- worker


def timed_phases(scheduler: Any) -> dict[str, float]:
    """Seconds spent in the parts of ``start()`` (wrapped here: a bench's liberty with private
    names): opening the store (it loads the job records), joining the cluster (it reads every
    job's row), creating the rows of new jobs, marking every job for the store's saver, and the
    process's one full garbage collection; the rest of ``start()`` is mostly arming the jobs in
    the engine."""
    from fastscheduler.coordination.sql import SQLCoordinator

    spent: dict[str, float] = {}

    def wrap(owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timed)

    import fastscheduler._runtime as runtime

    rt = scheduler._rt
    wrap(runtime, "collect_once", "gc_pass")
    wrap(rt.persistence, "open", "store_open")
    wrap(SQLCoordinator, "join", "cluster_join")
    wrap(SQLCoordinator, "register", "cluster_register")
    wrap(rt, "_adopt_orphans", "mark_for_saver")
    return spent


def work(url: str, jobs: int, seconds: float) -> dict[str, Any]:
    """One instance: register, start, run ``seconds``, stop; timings as JSON."""
    from fastscheduler import FastScheduler

    rss0 = rss_bytes()
    s = FastScheduler(database_url=url, cluster=True, quiet=True)
    t0 = time.perf_counter()
    for i in range(jobs):
        s.every(3600).seconds.do(noop, i)
    s.every(1).seconds.do(probe)
    register_s = time.perf_counter() - t0
    phases = timed_phases(s)
    c0, u0 = cpu(), resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    s.start()
    start_s = time.perf_counter() - t0
    start_cpu, u1 = cpu() - c0, resource.getrusage(resource.RUSAGE_SELF)
    started_at = time.time()
    rss1 = rss_bytes()
    end = time.monotonic() + seconds
    while time.monotonic() < end or not LATE:
        time.sleep(0.1)
        if time.monotonic() > end + 60:
            break
    # A fire due before start() returned (while the process was down, or during start()) is a
    # catch-up run: its lateness says how long that took, not how punctual the instance is.
    late = [(started - scheduled) * 1000 for scheduled, started in LATE]
    punctual = [(started - scheduled) * 1000 for scheduled, started in LATE if scheduled >= started_at]
    pending = s.storage_status().get("pending")
    ran_for = time.time() - started_at
    t0 = time.perf_counter()
    s.stop()
    stop_s = time.perf_counter() - t0
    return {
        "jobs": jobs + 1,
        "register_s": register_s,
        "start_s": start_s,
        "start_cpu_s": start_cpu,
        # Of that CPU, the kernel's, and the pages touched for the first time (on a virtual
        # machine each can cost microseconds: memory is time).
        "start_sys_s": u1.ru_stime - u0.ru_stime,
        "start_page_faults": u1.ru_minflt - u0.ru_minflt,
        "start_phases_s": {**phases, "rest": start_s - sum(phases.values())},
        "probe_runs": len(late),
        "first_late_ms": late[0] if late else None,
        "first_scheduled_after_start_s": LATE[0][0] - started_at if LATE else None,
        "max_late_ms": max(punctual, default=None),
        "p50_late_ms": sorted(punctual)[len(punctual) // 2] if punctual else None,
        "ran_for_s": ran_for,
        "saver_pending_at_stop": pending,
        "stop_s": stop_s,
        "rss_per_job": (rss1 - rss0) / (jobs + 1),
        "rss_mb": rss1 / 1e6,
    }


# ---------------------------------------------------------------------------------------- driver


def _driver(url: str) -> str:
    from fastscheduler.stores.sql import normalize_database_url

    return normalize_database_url(url)


def pg_writes(engine: Any) -> dict[str, int]:
    """Rows inserted + updated + deleted so far in each fastscheduler table (PostgreSQL)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
                "WHERE relname LIKE 'fastscheduler%'"
            )
        ).all()
    return {name: int(n) for name, n in rows}


def run_worker(url: str, jobs: int, seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", url, str(jobs), str(seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def measure(kind: str, admin_url: str, jobs: int, seconds: float) -> dict[str, Any]:
    """The first start and a restart on a fresh database (dropped afterwards)."""
    import sqlalchemy as sa

    admin = sa.create_engine(_driver(admin_url), isolation_level="AUTOCOMMIT")
    name = f"fs_scale_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(_driver(url))
    out: dict[str, Any] = {"database": kind, "jobs": jobs + 1}
    try:
        before: dict[str, int] = {}
        for phase in ("first", "restart"):
            print(f"  {kind}: {phase} start, {jobs + 1:,} jobs ...", file=sys.stderr, flush=True)
            result = run_worker(url, jobs, seconds)
            if kind == "postgresql":
                time.sleep(1.0)  # the server's statistics of the worker's (closed) sessions
                after = pg_writes(engine)
                result["rows_written"] = sum(after.values()) - sum(before.values())
                result["rows_written_by_table"] = {
                    t.removeprefix("fastscheduler_"): n - before.get(t, 0)
                    for t, n in sorted(after.items())
                    if n - before.get(t, 0)
                }
                before = after
            print(f"    {json.dumps(result)}", file=sys.stderr, flush=True)
            out[phase] = result
    finally:
        engine.dispose()
        drop_database(admin, name)
        admin.dispose()
    return out


def drop_database(admin: Any, name: str) -> None:
    """Drop the bench's database (PostgreSQL's autovacuum may still be on it after a million
    inserts: DROP DATABASE stops it, but may need a few tries)."""
    import sqlalchemy as sa

    for attempt in range(20):
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            return
        except sa.exc.OperationalError:
            if attempt == 19:
                raise
            time.sleep(1.0)


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="100,000 jobs (the default)")
    size.add_argument("--full", action="store_true", help="1,000,000 jobs on PostgreSQL, 100,000 on MariaDB")
    p.add_argument("--jobs", type=int, help="jobs every(3600) s on every database (overrides the size)")
    p.add_argument("--dbs", default="postgresql,mariadb", help="default postgresql,mariadb")
    p.add_argument("--seconds", type=float, default=8.0, help="how long each instance runs (default 8)")
    p.add_argument("--json", metavar="FILE", help="also write the whole report to FILE")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        url, jobs, seconds = a.worker
        print(json.dumps(work(url, int(jobs), float(seconds))), flush=True)
        return 0
    admin = _services_urls()
    results = []
    for kind in a.dbs.split(","):
        n = a.jobs or (1_000_000 if a.full and kind == "postgresql" else 100_000)
        load = os.getloadavg()
        r = measure(kind, admin[kind], n, a.seconds)
        r["load_before"] = load
        r["load_after"] = os.getloadavg()
        results.append(r)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = [
        f"One cluster instance, N jobs every(3600) s + one every(1) s job, {os.cpu_count()} cores shared "
        f"with the database server, {when}\n",
        "| database | jobs | phase | register s | start() s "
        "| every(1): first run's lateness / max after start() ms "
        "| stop() s | RSS/job | rows written | load avg (1 min) |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        for phase in ("first", "restart"):
            x = r[phase]
            out.append(
                f"| {r['database']} | {r['jobs']:,} | {phase} | {fmt(x['register_s'])} | {fmt(x['start_s'])} "
                f"| {fmt(x['first_late_ms'], 1)} / {fmt(x['max_late_ms'], 1)} ({x['probe_runs']} runs) "
                f"| {fmt(x['stop_s'])} | {fmt(x['rss_per_job'], 0)} B | {fmt(x.get('rows_written'))} "
                f"| {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |"
            )
    out += [
        "\nWhere start() went (s): the store's load of the job records, joining the cluster (reading "
        "every job's row), creating the rows of new jobs, marking the jobs for the saver, the full "
        "garbage collection, and the rest (mostly arming the jobs)\n",
        "| database | phase | store load | cluster join | new rows | mark | gc | rest "
        "| CPU (of it: kernel) | pages first touched |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    parts = ("store_open", "cluster_join", "cluster_register", "mark_for_saver", "gc_pass", "rest")
    for r in results:
        for phase in ("first", "restart"):
            x = r[phase]
            spent = x["start_phases_s"]
            out.append(
                f"| {r['database']} | {phase} | "
                + " | ".join(fmt(spent.get(k)) for k in parts)
                + f" | {fmt(x['start_cpu_s'])} ({fmt(x.get('start_sys_s'))})"
                + f" | {fmt(x.get('start_page_faults'))} |"
            )
    text = "\n".join(out)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"markdown": text, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Persistence at engine scale (issue 14): what a store costs the engine, as ratios to
``storage="memory"`` measured in the same run.

    python benches/persistence_report.py [--quick | --full] [--stores memory,json,sqlite]
        [--servers postgresql,mariadb] [--json FILE]

Rows (each measured in a fresh subprocess, one store after the other):

1. **Sustained**: N jobs ``every(1).seconds`` (no-op; 1 % of them record their start lateness:
   start - scheduled), run for T seconds after a warm-up; runs/s over the window (from the run
   counter), CPU seconds per run (process CPU time over the window), cores, and start lateness
   p50/p99/max. ``--full``: 100,000 jobs for 60 s; ``--quick``: 20,000 jobs for 15 s.
   **On database servers** (``--servers``; ``make services`` starts them): the same with
   ``--full`` 50,000 jobs (``--quick`` 10,000) on PostgreSQL and MariaDB, single instance
   (``cluster=False``), each in a fresh database on the test server, against ``storage="memory"``
   at the same size in the same run. The URLs are the test suite's (``FASTSCHEDULER_TEST_POSTGRES_URL``,
   ``FASTSCHEDULER_TEST_MYSQL_URL`` or ``scripts/services.sh``'s ``urls.env``); a server that does not
   answer is left out of the report, saying so.
2. **Idle at scale** (JSON store): 1,000,000 jobs ``every(3600)`` plus one ``every(1)`` job for
   T seconds: ``start()`` seconds, the every(1) job's lateness (max over the window), CPU once the
   first snapshot is written (% of a core), ``stop()`` seconds, and bytes per job on disk
   (snapshot + journal) after ``stop()``; then ``start()`` of a restart on those files.
   ``--quick``: 100,000 jobs for 20 s.
3. **kill -9**: a worker with N jobs ``every(1)`` on the JSON store (compacting whenever the
   journal passes 1 MiB and the snapshot) is killed K times, each at a random moment within 10 s of
   its first write that counted runs (fixed seed under ``CI=true``); after each kill the state must
   load and hold at least every run counted by a completed flush (the ``state_saved`` events'
   ``total_runs``).

The library is the editable install of this checkout; every worker prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def noop(*args: Any) -> None:
    pass


LATE: list[float] = []
RUNS: list[tuple[float, float]] = []  # (idle row) each run's (lateness, when it was due)


def probe(*args: Any) -> None:
    from fastscheduler import current_run

    run = current_run()
    if run is not None:
        late = time.time() - run.scheduled_time
        LATE.append(late)
        RUNS.append((late, run.scheduled_time))


def scheduler(storage: str, directory: str, **kwargs: Any) -> Any:
    from fastscheduler import FastScheduler

    if storage == "json":
        return FastScheduler(state_file=os.path.join(directory, "state.json"), quiet=True, **kwargs)
    if storage == "sqlite":
        url = f"sqlite:///{os.path.join(directory, 'state.db')}"
        return FastScheduler(storage="sqlmodel", database_url=url, quiet=True, **kwargs)
    if storage in ("postgresql", "mariadb"):
        return FastScheduler(storage="sqlmodel", database_url=directory, cluster=False, quiet=True, **kwargs)
    return FastScheduler(storage="memory", quiet=True, **kwargs)


def admin_url(kind: str) -> str:
    """The admin URL of the ``kind`` test server (as the test suite finds it)."""
    env = {"postgresql": "FASTSCHEDULER_TEST_POSTGRES_URL", "mariadb": "FASTSCHEDULER_TEST_MYSQL_URL"}[kind]
    default = {
        "postgresql": "postgresql://fastscheduler:fastscheduler@127.0.0.1:55432/postgres",
        "mariadb": "mysql://fastscheduler:fastscheduler@127.0.0.1:53306/mysql",
    }[kind]
    if os.environ.get(env):
        return os.environ[env]
    services = Path(os.environ.get("FASTSCHEDULER_SERVICES_DIR") or "/tmp/fastscheduler-services")
    try:
        written = dict(x.partition("=")[::2] for x in (services / "urls.env").read_text().splitlines())
    except OSError:
        return default
    return written.get(env) or default


@contextlib.contextmanager
def server_database(kind: str) -> Iterator[str]:
    """A fresh database ``fs_bench_<random>`` on the ``kind`` test server (its URL), dropped after."""
    import sqlalchemy as sa

    from fastscheduler.stores.sql import normalize_database_url

    admin = sa.make_url(normalize_database_url(admin_url(kind)))
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    name = f"fs_bench_{secrets.token_hex(6)}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        deadline = time.monotonic() + 120
        while True:  # PostgreSQL's autovacuum (a superuser's process) may hold it for a while
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
                break
            except sa.exc.DBAPIError as exc:
                if time.monotonic() > deadline:  # a leftover database is no reason to lose the run
                    print(f"could not drop the bench database {name}: {exc}", file=sys.stderr)
                    break
                time.sleep(0.5)
        engine.dispose()


def server_answers(kind: str) -> str | None:
    """None if the ``kind`` test server answers, else why not."""
    import sqlalchemy as sa

    from fastscheduler.stores.sql import normalize_database_url

    try:
        engine = sa.create_engine(normalize_database_url(admin_url(kind)))
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


def disk_bytes(directory: str) -> int:
    return sum(p.stat().st_size for p in Path(directory).iterdir() if not p.name.endswith(".lock"))


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def work_sustained(a: argparse.Namespace, directory: str) -> dict[str, Any]:
    if a.storage in ("postgresql", "mariadb"):
        with server_database(a.storage) as url:
            result = sustained(a, url)
        result["disk_bytes"] = None
        return result
    return sustained(a, directory)


def sustained(a: argparse.Namespace, directory: str) -> dict[str, Any]:
    """Row 1 on the store ``a.storage`` at ``directory`` (a database URL for a server)."""
    s = scheduler(a.storage, directory, max_workers=a.workers)
    for i in range(a.jobs):
        s.every(1).seconds.do(probe if i % 100 == 0 else noop, i)
    t0 = time.perf_counter()
    s.start()
    start_s = time.perf_counter() - t0
    time.sleep(a.warmup)
    runs0, c0, w0 = s.get_statistics()["total_runs"], cpu(), time.perf_counter()
    LATE.clear()
    time.sleep(a.seconds)
    runs1, c1, w1 = s.get_statistics()["total_runs"], cpu(), time.perf_counter()
    late = [x * 1000 for x in LATE]
    writes = s.storage_status().get("writes")
    t1 = time.perf_counter()
    s.stop()
    stop_s = time.perf_counter() - t1
    runs = runs1 - runs0
    return {
        "storage": a.storage,
        "jobs": a.jobs,
        "runs_per_s": runs / (w1 - w0),
        "cpu_us_per_run": (c1 - c0) / runs * 1e6 if runs else None,
        "cores": (c1 - c0) / (w1 - w0),
        "late_p50_ms": pct(late, 0.5),
        "late_p99_ms": pct(late, 0.99),
        "late_max_ms": max(late, default=None),
        "start_s": start_s,
        "stop_s": stop_s,
        "disk_bytes": disk_bytes(directory) if os.path.isdir(directory) else None,
        "writes": writes,
    }


def folded(store: Any) -> bool:
    """The first snapshot is written: a compaction done and none running (reads a private
    attribute: a bench's liberty). Jobs written after it stay in the journal until the journal
    outgrows the snapshot; together they take what the bytes/job column says."""
    return bool(store.compactions >= 1 and store._compactor is None)


def work_idle(a: argparse.Namespace, directory: str) -> dict[str, Any]:
    s = scheduler("json", directory)
    # The every(1) job first: armed first, its first fire comes before the arming of the million
    # others ends (start() arms it again from the end: the case that needs it).
    s.every(1).seconds.do(probe)
    for i in range(a.jobs):
        s.every(3600).seconds.do(noop, i)
    t0 = time.perf_counter()
    s.start()
    start_s = time.perf_counter() - t0
    started_at = time.time()
    store = s.storage
    end = time.monotonic() + a.seconds
    snapshot_at = None
    c_snap = 0.0
    while time.monotonic() < end:
        time.sleep(0.2)
        if snapshot_at is None and folded(store) and not s.storage_status()["pending"]:
            snapshot_at, c_snap = time.monotonic(), cpu()
    c_end, t_end = cpu(), time.monotonic()
    # A fire that fell due while start() was still arming the jobs (its first, when start()
    # takes over a second) is as late as start() is long: reported apart, as start()'s cost.
    runs = list(RUNS)
    late = [x * 1000 for x, due in runs if due >= started_at]
    during_start = [x * 1000 for x, due in runs if due < started_at]
    t1 = time.perf_counter()
    s.stop()
    stop_s = time.perf_counter() - t1
    size = disk_bytes(directory)
    # A restart on the same files: load, re-attach every job, write their records again.
    s = scheduler("json", directory)
    s.every(1).seconds.do(probe)
    for i in range(a.jobs):
        s.every(3600).seconds.do(noop, i)
    t0 = time.perf_counter()
    s.start()
    restart_s = time.perf_counter() - t0
    s.stop()
    return {
        "jobs": a.jobs,
        "restart_s": restart_s,
        "start_s": start_s,
        "probe_runs": len(late) + len(during_start),
        "late_max_ms": max(late, default=None),
        "late_p99_ms": pct(late, 0.99),
        "due_during_start_late_ms": during_start,
        "first_snapshot_s": None if snapshot_at is None else snapshot_at - (end - a.seconds),
        "idle_cpu_pct": None
        if snapshot_at is None
        else 100 * (c_end - c_snap) / max(t_end - snapshot_at, 1e-9),
        "stop_s": stop_s,
        "disk_bytes": size,
        "bytes_per_job": size / (a.jobs + 1),
    }


_CRASH_WORKER = """
import sys, time
from fastscheduler import EventType, FastScheduler
from fastscheduler.stores.json_file import JSONStorageBackend
store = JSONStorageBackend(sys.argv[1], compact_min_bytes=int(sys.argv[3]))
s = FastScheduler(storage=store, quiet=True)
def on(event):
    if event.type is EventType.STATE_SAVED and event.data["total_runs"] is not None:
        print(event.data["total_runs"], store.compactions, flush=True)
for i in range(int(sys.argv[2])):
    s.every(1).seconds.do(len, [i])
s.subscribe(on)
s.start()
time.sleep(3600)
"""


def crash_run(jobs: int, kills: int, seed: int, min_bytes: int, directory: str) -> dict[str, Any]:
    """Kill a worker ``kills`` times, each at a random moment within 10 s after its first write
    that counted runs; after each kill, load the state: it must load and count at least the runs
    of the last write the worker saw complete (its ``state_saved`` event)."""
    from fastscheduler.stores import Limits
    from fastscheduler.stores.json_file import JSONStorageBackend

    path = os.path.join(directory, "state.json")
    rng = random.Random(seed)
    results = []
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CRASH_WORKER, path, str(jobs), str(min_bytes)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
        reader.start()
        up = time.monotonic() + 120
        while not lines and time.monotonic() < up:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 10.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        proc.stdout.close()
        acked = max((int(x.split()[0]) for x in lines if x.endswith("\n")), default=0)
        compactions = max((int(x.split()[1]) for x in lines if x.endswith("\n")), default=0)
        t0 = time.perf_counter()
        backend = JSONStorageBackend(path)
        state = backend.open(Limits())
        load_s = time.perf_counter() - t0
        backend.close()
        stored = int(state.stats.get("totals", {}).get("runs", 0))
        results.append(
            {
                "acked_runs": acked,
                "stored_runs": stored,
                "jobs": len(state.jobs),
                "compactions_before": compactions,
                "load_s": load_s,
                "lost": stored < acked,
            }
        )
    return {"kills": results, "ok": all(not r["lost"] for r in results)}


def run_worker(kind: str, args: list[str], limit: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def sustained_rows(stores: list[str], n: int, secs: int, full: bool) -> dict[str, Any]:
    """Row 1 for each of ``stores`` in turn, in fresh subprocesses."""
    res = {}
    for store in stores:
        print(f"sustained: {n:,} jobs every(1) s, {store} ...", file=sys.stderr, flush=True)
        opts = [
            "--storage",
            store,
            "--jobs",
            str(n),
            "--seconds",
            str(secs),
            "--warmup",
            "10" if full else "5",
        ]
        res[store] = run_worker("sustained", opts, limit=secs * 4 + 600)
        print(f"  {json.dumps(res[store])}", file=sys.stderr, flush=True)
    return res


def sustained_table(res: dict[str, Any]) -> list[str]:
    """Row 1 as a Markdown table, ratios to the ``memory`` row."""
    mem = res.get("memory", {})
    out = [
        "| store | runs/s | ratio | CPU µs/run | ratio | cores | lateness p50 / p99 / max ms "
        "| start s | stop s | disk |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for store, r in res.items():
        rr = r["runs_per_s"] / mem["runs_per_s"] if mem else None
        cr = (r["cpu_us_per_run"] / mem["cpu_us_per_run"]) if mem and r["cpu_us_per_run"] else None
        disk = "—" if r["disk_bytes"] is None else f"{fmt(r['disk_bytes'] / 1e6, 1)} MB"
        out.append(
            f"| {store} | {fmt(r['runs_per_s'], 0)} | {fmt(rr, 2)} | {fmt(r['cpu_us_per_run'])} "
            f"| {fmt(cr, 2)} | {fmt(r['cores'], 2)} "
            f"| {fmt(r['late_p50_ms'])} / {fmt(r['late_p99_ms'])} / {fmt(r['late_max_ms'])} "
            f"| {fmt(r['start_s'], 2)} | {fmt(r['stop_s'], 2)} | {disk} |"
        )
    return out


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--full", action="store_true")
    p.add_argument("--stores", default="memory,json,sqlite")
    p.add_argument("--servers", default="postgresql,mariadb", help="'' for none")
    p.add_argument("--rows", default="sustained,idle,crash")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--storage", default="memory", help=argparse.SUPPRESS)
    p.add_argument("--jobs", type=int, default=20000, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=15, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=float, default=5, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=8, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        with tempfile.TemporaryDirectory(prefix="fs-persist-") as directory:
            result = {"sustained": work_sustained, "idle": work_idle}[a.worker](a, directory)
        print(json.dumps(result), flush=True)
        return 0
    full = a.full
    rows = a.rows.split(",")
    report: dict[str, Any] = {}
    out: list[str] = []
    if "sustained" in rows:
        n, secs = (100_000, 60) if full else (20_000, 15)
        res = sustained_rows(a.stores.split(","), n, secs, full)
        report["sustained"] = res
        out.append(f"### {n:,} jobs every(1) s for {secs} s (ratios to memory in this run)\n")
        out.extend(sustained_table(res))
        servers = [k for k in a.servers.split(",") if k]
        if servers:
            n = 50_000 if full else 10_000
            down = {k: why for k in servers if (why := server_answers(k)) is not None}
            up = [k for k in servers if k not in down]
            res = sustained_rows(["memory", *up], n, secs, full) if up else {}
            report["sustained_servers"] = {**res, "down": down}
            out.append(f"\n### {n:,} jobs every(1) s for {secs} s on database servers, single instance\n")
            out.extend(sustained_table(res) if up else [])
            out.extend(f"\n{k}: not measured, the server did not answer ({why})" for k, why in down.items())
    if "idle" in rows:
        n, secs = (1_000_000, 60) if full else (100_000, 20)
        print(f"idle: {n:,} jobs + one every(1) job, {secs} s, json ...", file=sys.stderr, flush=True)
        r = run_worker("idle", ["--jobs", str(n), "--seconds", str(secs)], limit=secs * 4 + 900)
        report["idle"] = r
        out.append(f"\n### {n:,} idle jobs + one every(1) job for {secs} s, JSON store\n")
        out.append(
            "| start() s | every(1) runs | max / p99 lateness ms (due after start()) "
            "| lateness of runs due during start() ms | first snapshot at s "
            "| idle CPU after it | stop() s | bytes/job | restart: start() s |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|")
        during = ", ".join(fmt(x) for x in r.get("due_during_start_late_ms", [])) or "none"
        out.append(
            f"| {fmt(r['start_s'], 2)} | {r['probe_runs']} "
            f"| {fmt(r['late_max_ms'])} / {fmt(r['late_p99_ms'])} | {during} "
            f"| {fmt(r['first_snapshot_s'])} | {fmt(r['idle_cpu_pct'], 2)} % | {fmt(r['stop_s'], 2)} "
            f"| {fmt(r['bytes_per_job'], 0)} | {fmt(r.get('restart_s'), 2)} |"
        )
    if "crash" in rows:
        n, kills = (100_000, 20) if full else (10_000, 5)
        seed = 14 if os.environ.get("CI") == "true" else random.randrange(1 << 30)
        print(f"crash: {n:,} jobs, {kills} kills (seed {seed}) ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="fs-crash-") as directory:
            r = crash_run(n, kills, seed, 1 << 20, directory)
        report["crash"] = {**r, "seed": seed}
        loads = [k["load_s"] for k in r["kills"]]
        out.append(
            f"\n### kill -9 at {kills} random moments, {n:,} jobs every(1) s, JSON store (seed {seed})\n"
        )
        during = sum(1 for k in r["kills"] if k["compactions_before"])
        out.append(
            f"{'every kill: the state loaded and held every acknowledged run' if r['ok'] else 'LOST DATA'} "
            f"({during} kills after the worker had compacted); load time median "
            f"{statistics.median(loads):.2f} s, max {max(loads):.2f} s"
        )
    text = "\n".join(out)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"markdown": text, **report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

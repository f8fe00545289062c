"""Scheduler benchmarks of issue 3: fastscheduler against APScheduler 3, side by side.

Every measurement runs in a fresh subprocess (this script with ``--worker KIND LIB``, printing one
JSON line), so RSS and timings are isolated. The parent runs fastscheduler and APScheduler in
turn (alternating which goes first), repeats, takes medians and prints a Markdown table. Absolute
times drift on a shared machine, so only compare figures of the same run.

    python benches/scheduler_report.py [--quick | --full] [--markdown FILE] [--json FILE]

``--quick`` (the default) is a smoke run at 100,000 jobs with few repeats (about 2 minutes);
``--full`` adds the 1,000,000-job sizes and more repeats (about half an hour).

Both schedulers keep their jobs in memory: fastscheduler with ``storage="memory"`` (its default
is a JSON state file; ``--full`` also measures that, for registration and idle) and APScheduler with its
default ``MemoryJobStore``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

FS, APS = "fastscheduler", "apscheduler"


# ---------------------------------------------------------------------------------------- workers


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def context_switches() -> dict[str, int]:
    """Voluntary + involuntary context switches of every thread, by ``tid:name``."""
    out = {}
    for task in glob.glob("/proc/self/task/*"):
        try:
            with open(f"{task}/comm") as f:
                name = f.read().strip()
            with open(f"{task}/status") as f:
                n = sum(int(line.split()[1]) for line in f if "ctxt_switches:" in line)
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[f"{os.path.basename(task)}:{name}"] = n
    return out


CALLS = [0]  # runs of noop, to check that no job ran while it should not have


def noop(*args: Any) -> None:
    CALLS[0] += 1


def fs_scheduler(**kwargs: Any) -> Any:
    from fastscheduler import FastScheduler

    return FastScheduler(quiet=True, storage=kwargs.pop("storage", "memory"), **kwargs)


def aps_scheduler(workers: int = 10) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)}, job_defaults={"misfire_grace_time": None}
    )


def wait_saved(s: Any, limit: float = 1800) -> float:
    """Seconds until fastscheduler's background saver has written everything marked so far."""
    t0 = time.perf_counter()
    while s.storage_status()["pending"] and time.perf_counter() - t0 < limit:
        time.sleep(0.05)
    return time.perf_counter() - t0


def partial(t0: float, t1: float, t2: float, r0: int, r1: int, n: int) -> None:
    """The figures known before stop(), printed at once: the parent keeps them if stop() overruns."""
    print(json.dumps({"register_s": t1 - t0, "start_s": t2 - t1, "rss_per_job": (r1 - r0) / n}), flush=True)


def work_register(lib: str, a: argparse.Namespace) -> dict[str, Any]:
    """Register N jobs every 10 s, start() (none is due yet if that took under 10 s), stop()."""
    if lib == FS:
        s = fs_scheduler(storage=a.storage)
        r0, t0 = rss(), time.perf_counter()
        for i in range(a.n):
            s.every(10).seconds.do(noop, i)
        t1 = time.perf_counter()
        s.start()
        t2 = time.perf_counter()
        r1 = rss()
        partial(t0, t1, t2, r0, r1, a.n)
        s.stop()
    else:
        s = aps_scheduler()
        r0, t0 = rss(), time.perf_counter()
        for i in range(a.n):
            s.add_job(noop, "interval", seconds=10, args=(i,))
        t1 = time.perf_counter()
        s.start()
        t2 = time.perf_counter()
        r1 = rss()
        partial(t0, t1, t2, r0, r1, a.n)
        s.shutdown(wait=True)
    t3 = time.perf_counter()
    return {
        "register_s": t1 - t0,
        "start_s": t2 - t1,
        "rss_per_job": (r1 - r0) / a.n,
        "stop_s": t3 - t2,
        "runs": CALLS[0],
    }


def work_instant(lib: str, a: argparse.Namespace) -> dict[str, Any]:
    """N one-shot jobs all due at the same instant T, 10 worker threads."""
    starts: list[float] = []

    def job() -> None:
        starts.append(time.time())

    at = round(time.time() + 2.0, 3)
    when = datetime.fromtimestamp(at, timezone.utc)
    if lib == FS:
        s = fs_scheduler(max_workers=10)
        for _ in range(a.n):
            s.at(when).do(job)
        s.start()
    else:
        s = aps_scheduler(10)
        for _ in range(a.n):
            s.add_job(job, "date", run_date=when)
        s.start()
    margin = at - time.time()  # must be positive: everything was armed before T
    while len(starts) < a.n and time.time() < at + 120:
        time.sleep(0.01)
    (s.stop if lib == FS else s.shutdown)()
    late = sorted((t - at) * 1000 for t in starts)
    return {
        "ran": len(starts),
        "armed_before_s": margin,
        "first_ms": late[0] if late else None,
        "median_ms": statistics.median(late) if late else None,
        "last_ms": late[-1] if late else None,
    }


def work_idle(lib: str, a: argparse.Namespace) -> dict[str, Any]:
    """N jobs none due for an hour: context switches of all threads over a quiet window."""
    saved_s = None
    if lib == FS:
        s = fs_scheduler(storage=a.storage)
        for i in range(a.n):
            s.every(1).hours.do(noop, i)
        s.start()
        saved_s = wait_saved(s)  # the saver writes every job's record once after start()
    else:
        s = aps_scheduler()
        for i in range(a.n):
            s.add_job(noop, "interval", hours=1, args=(i,))
        s.start()
    time.sleep(2)  # settle
    c0, w0 = context_switches(), s._engine.wakeups if lib == FS else None
    time.sleep(a.seconds)
    c1, w1 = context_switches(), s._engine.wakeups if lib == FS else None
    per_thread = {k: v - c0.get(k, 0) for k, v in c1.items() if v - c0.get(k, 0)}
    (s.stop if lib == FS else s.shutdown)()
    return {
        "saved_s": saved_s,
        "ctx_switches": sum(per_thread.values()),
        "per_thread": per_thread,
        "threads": len(c1),
        "wakeups": None if w0 is None else w1 - w0,
        "runs": CALLS[0],
    }


def work_lateness(lib: str, a: argparse.Namespace) -> dict[str, Any]:
    """One job every second for N runs: lateness of each start against the 1 s grid."""
    starts: list[float] = []
    done = threading.Event()

    def tick() -> None:
        starts.append(time.time())
        if len(starts) >= a.n:
            done.set()

    if lib == FS:
        s = fs_scheduler()
        s.every(1).seconds.do(tick)
        s.start()
        first = s.get_jobs()[0]["next_run_timestamp"]
    else:
        s = aps_scheduler()
        job = s.add_job(tick, "interval", seconds=1)
        s.start()
        first = job.next_run_time.timestamp()
    done.wait(a.n + 60)
    (s.stop if lib == FS else s.shutdown)()
    anchor = first - 1
    late = [(t - (anchor + k)) * 1000 for k, t in enumerate(starts[: a.n], 1)]
    return {"runs": len(late), "lateness_ms": late}


WORKERS: dict[str, Callable[[str, argparse.Namespace], dict[str, Any]]] = {
    "register": work_register,
    "instant": work_instant,
    "idle": work_idle,
    "lateness": work_lateness,
}


# ---------------------------------------------------------------------------------------- parent


def aps_version() -> str:
    from importlib.metadata import version

    return version("apscheduler")


def package_fingerprint() -> str:
    """sha256 (12 hex digits) of the installed fastscheduler package's files: the parent compares it
    before and after, since an editable install changes under a long run if the source is edited."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("fastscheduler")
    assert spec is not None and spec.origin is not None
    root = os.path.dirname(spec.origin)
    h = hashlib.sha256()
    for path in sorted(glob.glob(f"{root}/**/*", recursive=True)):
        if path.endswith((".py", ".so")):
            h.update(path.encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:12]


def worker_cmd(kind: str, lib: str, *opts: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), "--worker", kind, lib, *opts]


def result_of(out: str, cmd: list[str]) -> dict[str, Any]:
    lines = out.strip().splitlines()
    if not lines:
        raise RuntimeError(f"worker printed nothing: {' '.join(cmd)}")
    return dict(json.loads(lines[-1]))


def run(kind: str, lib: str, *opts: str, limit: float = 3600) -> dict[str, Any]:
    """One measurement in a fresh process. If it runs past ``limit``, it is killed and the result is
    the last line it printed (if any) plus ``"timeout": limit``."""
    cmd = worker_cmd(kind, lib, *opts)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=True)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        res = result_of(out, cmd) if out.strip() else {}  # what the worker printed before the limit
        print(f"  {kind} {lib} {' '.join(opts)}: not finished within {limit:.0f} s; had {res}", flush=True)
        return res | {"timeout": limit}
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"worker failed: {' '.join(cmd)}\n{e.stderr}") from None
    res = result_of(proc.stdout, cmd)
    shown = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in res.items() if k != "lateness_ms"}
    print(f"  {kind} {lib} {' '.join(opts)} ({time.perf_counter() - t0:.0f} s): {shown}", flush=True)
    return res


def pairs(
    kind: str, fs_opts: list[str] | None, aps_opts: list[str] | None, repeats: int, aps_limit: float = 3600
) -> dict[str, list[dict[str, Any]]]:
    """Run both libraries ``repeats`` times, alternating which goes first. APScheduler stops being
    repeated after its first timeout."""
    out: dict[str, list[dict[str, Any]]] = {FS: [], APS: []}
    for r in range(repeats):
        order = [(FS, fs_opts, 3600.0), (APS, aps_opts, aps_limit)]
        for lib, opts, limit in order[:: -1 if r % 2 else 1]:
            if opts is None or any("timeout" in x for x in out[lib]):
                continue
            out[lib].append(run(kind, lib, *opts, limit=limit))
    return out


def concurrent(kind: str, fs_opts: list[str], aps_opts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Both libraries at once, each in its own process (for measurements that mostly sleep)."""
    cmds = {FS: worker_cmd(kind, FS, *fs_opts), APS: worker_cmd(kind, APS, *aps_opts)}
    procs = {lib: subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for lib, cmd in cmds.items()}
    out = {}
    for lib, p in procs.items():
        stdout, _ = p.communicate()
        if p.returncode:
            raise RuntimeError(f"worker failed: {' '.join(cmds[lib])}")
        out[lib] = [result_of(stdout, cmds[lib])]
    return out


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def percentile(xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(xs)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def lateness_stats(late: list[float]) -> dict[str, float | None]:
    if not late:
        return {"p50": None, "p99": None, "max": None, "drift": None}
    slope = statistics.linear_regression(range(1, len(late) + 1), late).slope if len(late) > 1 else 0.0
    return {
        "p50": percentile(late, 0.5),
        "p99": percentile(late, 0.99),
        "max": max(late),
        "drift": slope,
    }


def num(v: float | None) -> str:
    if v is None:
        return "—"
    if float(v).is_integer():
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def ratio(fs: float | None, aps: float | None) -> str:
    if fs is None or aps is None or fs <= 0 or aps <= 0:
        return "—"
    return f"{aps / fs:.3g}x"


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.notes: list[str] = []

    def row(
        self,
        metric: str,
        fs: float | None,
        aps: float | None,
        fs_text: str = "",
        aps_text: str = "",
        compare: bool = True,
    ) -> None:
        shown = ratio(fs, aps) if compare else "—"
        self.rows.append((metric, fs_text or num(fs), aps_text or num(aps), shown))

    def text(self) -> str:
        lines = [
            "| metric | fastscheduler | APScheduler 3 | ratio (APScheduler ÷ fastscheduler) |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [f"| {m} | {f} | {a} | {r} |" for m, f, a, r in self.rows]
        return "\n".join(lines) + "\n" + "".join(f"\n- {n}" for n in self.notes) + "\n"


def register_rows(t: Table, what: str, res: dict[str, list[dict[str, Any]]], aps_missing: str = "") -> None:
    """Rows of one registration size. A run stopped at the time limit still gives the figures it
    printed before stop() (register, start, RSS)."""
    timeouts = [r["timeout"] for r in res[APS] if "timeout" in r]
    if timeouts and not aps_missing:
        aps_missing = f"not finished within {timeouts[0]:.0f} s"
        t.notes.append(
            f"{what}: APScheduler was stopped at the {timeouts[0]:.0f} s limit "
            f"(1 run; figures it printed before stop() are kept)."
        )
    for key, label in [
        ("register_s", "register (s)"),
        ("start_s", "start() (s)"),
        ("rss_per_job", "RSS per job after start() (bytes)"),
        ("stop_s", "stop() right after start() (s)"),
    ]:
        fs_v, aps_v = median(res[FS], key), median(res[APS], key)
        t.row(f"{what}: {label}", fs_v, aps_v, aps_text="" if aps_v is not None else aps_missing)
    ran = {lib: [r["runs"] for r in res[lib] if "runs" in r] for lib in (FS, APS)}
    for lib in (FS, APS):
        if any(ran[lib]):
            t.notes.append(
                f"{what}: some {lib} jobs ran before stop() returned: registration + start() took longer "
                f"than the 10 s interval, so the first jobs fell due (and stop() waited for them)."
            )
    shown = {
        lib: f"{num(statistics.median(v))} (max {num(max(v))})" if v else aps_missing
        for lib, v in ran.items()
    }
    t.row(f"{what}: jobs that ran before stop() returned (median, max)", None, None, shown[FS], shown[APS])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, few repeats (default)")
    mode.add_argument("--full", action="store_true", help="the full sizes (1,000,000 jobs) and more repeats")
    p.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    p.add_argument("--json", metavar="FILE", help="also write every raw result to FILE")
    p.add_argument("--aps-limit", type=float, default=600, help="time limit of one APScheduler 1M run (s)")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "LIB"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    p.add_argument("--storage", default="memory", help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.worker:
        kind, lib = a.worker
        if a.storage == "json":  # the default JSON state file, in a scratch directory
            with tempfile.TemporaryDirectory() as scratch:
                os.chdir(scratch)
                print(json.dumps(WORKERS[kind](lib, a)), flush=True)
        else:
            print(json.dumps(WORKERS[kind](lib, a)), flush=True)
        return

    full = a.full
    began = time.time()
    fingerprint = package_fingerprint()
    t = Table()
    raw: dict[str, Any] = {}
    M, K = 1_000_000, 100_000
    print(f"mode: {'full' if full else 'quick'}", flush=True)

    # 1. Registration.
    print("register", flush=True)
    reps = 5 if full else 3
    raw["register_100k"] = res = pairs("register", ["--n", str(K)], ["--n", str(K)], reps)
    register_rows(t, f"{K:,} interval jobs", res)
    if full:
        raw["register_100k_json"] = res = pairs("register", ["--n", str(K), "--storage", "json"], None, reps)
        register_rows(t, f"{K:,} interval jobs, default JSON state file", res, "— (memory store only)")
        raw["register_1m"] = res = pairs("register", ["--n", str(M)], ["--n", str(M)], 3, a.aps_limit)
        register_rows(t, f"{M:,} interval jobs", res)
        raw["register_1m_json"] = res = pairs("register", ["--n", str(M), "--storage", "json"], None, 3)
        register_rows(t, f"{M:,} interval jobs, default JSON state file", res, "— (memory store only)")
    else:
        t.rows.append((f"{M:,} interval jobs", "--full only", "--full only", "—"))

    # 2. Many jobs due at the same instant.
    print("instant", flush=True)
    n = 10_000
    raw["instant"] = res = pairs("instant", ["--n", str(n)], ["--n", str(n)], 5 if full else 3)
    ran = {lib: f"{min(r['ran'] for r in res[lib]):,} of {n:,}" for lib in (FS, APS)}
    t.row(f"{n:,} jobs due at one instant T: jobs run (fewest of the repeats)", None, None, ran[FS], ran[APS])
    for key, label in [("median_ms", "median start - T (ms)"), ("last_ms", "last start - T (ms)")]:
        t.row(f"{n:,} jobs due at one instant T: {label}", median(res[FS], key), median(res[APS], key))
    fs_last, aps_last = median(res[FS], "last_ms"), median(res[APS], "last_ms")
    t.row(
        f"{n:,} jobs due at one instant T: (last start - T) per job (µs)",
        None if fs_last is None else fs_last * 1000 / n,
        None if aps_last is None else aps_last * 1000 / n,
    )
    if any(r["armed_before_s"] <= 0 for lib in (FS, APS) for r in res[lib]):
        t.notes.append("WARNING: in some same-instant run, the jobs were not all armed before T.")

    # 3. Idle wake-ups.
    print("idle", flush=True)
    window = 10 if full else 5
    n_fs = M if full else K
    n_aps = M if full else K
    raw["idle"] = res = pairs(
        "idle",
        ["--n", str(n_fs), "--seconds", str(window)],
        ["--n", str(n_aps), "--seconds", str(window)],
        3 if full else 1,
        a.aps_limit,
    )
    aps_ok = [r for r in res[APS] if "timeout" not in r]
    label = f"idle, jobs due in an hour ({n_fs:,} fastscheduler, {n_aps:,} APScheduler)"
    t.row(
        f"{label}: context switches of all threads in {window:g} s",
        median(res[FS], "ctx_switches"),
        median(aps_ok, "ctx_switches"),
        aps_text="" if aps_ok else f"no result within {a.aps_limit:.0f} s",
    )
    for lib, rs in ((FS, res[FS]), (APS, aps_ok)):
        threads = "; ".join(f"{r['threads']} threads, switches by tid:name {r['per_thread']}" for r in rs)
        t.notes.append(f"idle window, {lib} (each repeat): {threads or 'no result'}.")
    t.row(f"{label}: engine wake-ups in {window:g} s", median(res[FS], "wakeups"), None, aps_text="—")
    t.row(
        f"{label}: background state write after start() (s; window starts after it + 2 s)",
        median(res[FS], "saved_s"),
        None,
        aps_text="— (none)",
    )

    if full:
        raw["idle_json"] = res = pairs(
            "idle", ["--n", str(M), "--seconds", str(window), "--storage", "json"], None, 3
        )
        label = f"idle, {M:,} jobs due in an hour, default JSON state file"
        for key, what in [
            ("ctx_switches", f"context switches of all threads in {window:g} s"),
            ("wakeups", f"engine wake-ups in {window:g} s"),
            ("saved_s", "background state write after start() (s; window starts after it + 2 s)"),
        ]:
            t.row(f"{label}: {what}", median(res[FS], key), None, aps_text="— (memory store only)")
        threads = "; ".join(
            f"{r['threads']} threads, switches by tid:name {r['per_thread']}" for r in res[FS]
        )
        t.notes.append(f"idle window, fastscheduler with the JSON state file (each repeat): {threads}.")

    # 4. Lateness and drift of every(1).seconds.
    runs = 60 if full else 10
    print(f"lateness ({runs} runs, both libraries at once)", flush=True)
    raw["lateness"] = res = concurrent("lateness", ["--n", str(runs)], ["--n", str(runs)])
    stats = {lib: lateness_stats(res[lib][0]["lateness_ms"]) for lib in (FS, APS)}
    counts = {lib: res[lib][0]["runs"] for lib in (FS, APS)}
    print(f"  lateness: {stats} runs={counts}", flush=True)
    label = f"every(1).seconds, {runs} runs"
    for key, what in [
        ("p50", "lateness p50 (ms)"),
        ("p99", "lateness p99 (ms)"),
        ("max", "lateness max (ms)"),
        ("drift", "drift (ms per run, least-squares slope)"),
    ]:
        t.row(f"{label}: {what}", stats[FS][key], stats[APS][key], compare=key != "drift")
    t.notes.append(
        f"every(1).seconds: the two libraries ran at the same time, in two processes (both are idle "
        f"between runs); runs recorded: fastscheduler {counts[FS]}, APScheduler {counts[APS]}."
    )

    t.notes += [
        "Each figure is the median of the repeats "
        + (
            "(register 100,000: 5; register 1,000,000: 3; same instant: 5; idle: 3; lateness: 1 run of 60; "
            "APScheduler stops repeating after a run that hits the time limit)."
            if full
            else "(register: 3; same instant: 3; idle: 1; lateness: 1 run of 10)."
        ),
        'Both schedulers keep jobs in memory (fastscheduler storage="memory", APScheduler MemoryJobStore) '
        "except in the rows marked default JSON state file (fastscheduler's default storage, in a scratch "
        "directory); 10 worker threads each.",
        "Context switches: voluntary + involuntary, summed over /proc/self/task/*/status of the whole "
        "process; the main thread's own sleep counts too.",
    ]
    if package_fingerprint() != fingerprint:
        t.notes.append("WARNING: the fastscheduler package changed on disk during this run; rerun it.")
    took = time.time() - began
    header = (
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, mode {'--full' if full else '--quick'}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, APScheduler {aps_version()}, "
        f"fastscheduler package files sha256 {fingerprint}, took {took / 60:.1f} min.\n\n"
    )
    text = header + t.text()
    print()
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()

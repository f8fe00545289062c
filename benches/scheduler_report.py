"""Scheduler benchmarks of issues 3 and 7: fastscheduler against APScheduler 3 and the original
pure-Python fastscheduler 0.2.1 (PyPI), side by side.

Every measurement runs in a fresh subprocess (this script with ``--worker KIND LIB``, printing one
JSON line), so RSS and timings are isolated. The parent runs the libraries in turn (rotating which
goes first), repeats, takes medians and prints a Markdown table. Absolute times drift on a shared
machine, so only compare figures of the same run.

    python benches/scheduler_report.py [--quick | --full] [--markdown FILE] [--json FILE] [--no-peer]

``--quick`` (the default) is a smoke run at 100,000 jobs with few repeats (about 4 minutes);
``--full`` adds the 1,000,000-job sizes and more repeats (over half an hour). Live status goes to
stderr; the table to stdout. Exit codes: 0 done, 1 a measurement failed (or 0.2.1 could not be
installed), 2 bad usage.

fastscheduler and APScheduler keep their jobs in memory (fastscheduler ``storage="memory"``; its
default JSON state file is also measured; APScheduler's default ``MemoryJobStore``). The original
fastscheduler 0.2.1 has the same import name as ours, so it is installed on first use with
``pip install --no-deps --target benches/.peers/fastscheduler-0.2.1`` (it needs nothing beyond the
standard library for its default JSON store) and its workers run with that directory first on
``PYTHONPATH``; each such worker checks that it imported 0.2.1 from there. It has no in-memory
store, so it runs with its default JSON state file, in a scratch directory. It rewrites its whole
state file on every registration, so it is measured at smaller sizes, in rows that say so.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FS, APS, PEER = "fastscheduler", "apscheduler", "fastscheduler-0.2.1"
LIBS = (FS, APS, PEER)
LABEL = {FS: "fastscheduler", APS: "APScheduler 3", PEER: "fastscheduler 0.2.1"}
SHORT = {APS: "APScheduler", PEER: "0.2.1"}  # in the ratio columns' titles
PEER_VERSION = "0.2.1"
PEER_DIR = Path(__file__).resolve().parent / ".peers" / f"fastscheduler-{PEER_VERSION}"

K, M = 100_000, 1_000_000
INSTANT = 10_000  # jobs due at one instant
SMALL_INSTANT = 1_000  # the same, at the size 0.2.1 is measured at
PEER_IDLE = 100  # 0.2.1's idle size: its queued saves (one per registration) must drain before the window
PEER_STOP_LIMIT = 30.0  # how long 0.2.1's stop() may wait for its queued saves (s)


def small_register(full: bool) -> int:
    """How many jobs 0.2.1 registers (~6 ms each: it rewrites its state file per registration)."""
    return 10_000 if full else 1_000


class BenchError(Exception):
    """A benchmark could not run; reported as ``error: ...`` with exit code 1."""


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


def under(path: str, root: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


def imported_fastscheduler(lib: str) -> Any:
    """The ``fastscheduler`` module this worker imported, checked to be the one ``lib`` names:
    0.2.1 from PEER_DIR (through PYTHONPATH) for PEER, anything else for FS."""
    import fastscheduler

    where = fastscheduler.__file__ or "?"
    version = getattr(fastscheduler, "__version__", "?")
    if lib == PEER and (not under(where, PEER_DIR) or version != PEER_VERSION):
        raise SystemExit(
            f"{PEER} worker imported fastscheduler {version} from {where}, "
            f"not {PEER_VERSION} from {PEER_DIR} (PYTHONPATH={os.environ.get('PYTHONPATH', '')!r})"
        )
    if lib == FS and under(where, PEER_DIR.parent):
        raise SystemExit(f"{FS} worker imported fastscheduler {version} from {where}: that is a peer's copy")
    return fastscheduler


def fs_scheduler(**kwargs: Any) -> Any:
    return imported_fastscheduler(FS).FastScheduler(
        quiet=True, storage=kwargs.pop("storage", "memory"), **kwargs
    )


def peer_scheduler(**kwargs: Any) -> Any:
    """0.2.1 with its default JSON state file (in the worker's scratch working directory)."""
    return imported_fastscheduler(PEER).FastScheduler(quiet=True, **kwargs)


def aps_scheduler(workers: int = 10) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)}, job_defaults={"misfire_grace_time": None}
    )


def shutdown(lib: str, s: Any) -> None:
    if lib == FS:
        s.stop()
    elif lib == APS:
        s.shutdown()
    # 0.2.1: not stopped (its stop() waits for every queued state save); the worker ends with os._exit.


def peer_saves_queued(s: Any) -> int:
    """State saves 0.2.1 has queued on its one-thread saver and not started yet."""
    return int(s._save_executor._work_queue.qsize())


def wait_saved(lib: str, s: Any, limit: float = 1800) -> float | None:
    """Seconds until the library's background state writes are done (None: it has none)."""
    if lib == APS:
        return None
    t0 = time.perf_counter()
    if lib == FS:
        while s.storage_status()["pending"] and time.perf_counter() - t0 < limit:
            time.sleep(0.05)
    else:
        while peer_saves_queued(s) and time.perf_counter() - t0 < limit:
            time.sleep(0.05)
    return time.perf_counter() - t0


def partial(t0: float, t1: float, t2: float, r0: int, r1: int, n: int) -> None:
    """The figures known before stop(), printed at once: the parent keeps them if stop() overruns."""
    print(json.dumps({"register_s": t1 - t0, "start_s": t2 - t1, "rss_per_job": (r1 - r0) / n}), flush=True)


def stop_within(stop: Callable[[], Any], limit: float) -> float | None:
    """Seconds ``stop()`` took, or None if it had not returned within ``limit`` (it goes on in a
    daemon thread)."""
    t0 = time.perf_counter()
    th = threading.Thread(target=stop, daemon=True)
    th.start()
    th.join(limit if limit > 0 else None)
    return None if th.is_alive() else time.perf_counter() - t0


def work_register(lib: str, a: argparse.Namespace) -> dict[str, Any]:
    """Register N jobs every 10 s, start() (none is due yet if that took under 10 s), stop()."""
    extra: dict[str, Any] = {}
    if lib != APS:  # fastscheduler and 0.2.1 share the decorator API; only stopping differs
        s = fs_scheduler(storage=a.storage) if lib == FS else peer_scheduler()
        r0, t0 = rss(), time.perf_counter()
        for i in range(a.n):
            s.every(10).seconds.do(noop, i)
        t1 = time.perf_counter()
        s.start()
        t2 = time.perf_counter()
        r1 = rss()
        if lib == FS:
            partial(t0, t1, t2, r0, r1, a.n)
            s.stop()
        else:
            extra["saves_queued"] = peer_saves_queued(s)
            partial(t0, t1, t2, r0, r1, a.n)
            took = stop_within(s.stop, a.stop_limit)
            if took is None:
                extra["stop_timeout"] = a.stop_limit
                extra["saves_queued_at_limit"] = peer_saves_queued(s)
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
        "stop_s": None if "stop_timeout" in extra else t3 - t2,
        "runs": CALLS[0],
    } | extra


def work_instant(lib: str, a: argparse.Namespace) -> dict[str, Any]:
    """N one-shot jobs all due at the same instant T (now + ``--lead`` s), 10 worker threads."""
    starts: list[float] = []

    def job() -> None:
        starts.append(time.time())

    at = round(time.time() + a.lead, 3)
    when = datetime.fromtimestamp(at, timezone.utc)
    if lib == FS:
        s = fs_scheduler(max_workers=10)
        for _ in range(a.n):
            s.at(when).do(job)
    elif lib == APS:
        s = aps_scheduler(10)
        for _ in range(a.n):
            s.add_job(job, "date", run_date=when)
    else:
        s = peer_scheduler(max_workers=10)
        for _ in range(a.n):
            s.at(datetime.fromtimestamp(at)).do(job)  # 0.2.1 takes naive local time
    s.start()
    margin = at - time.time()  # must be positive: everything was armed before T
    while len(starts) < a.n and time.time() < at + 120:
        time.sleep(0.01)
    shutdown(lib, s)
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
    if lib == FS:
        s = fs_scheduler(storage=a.storage)
        for i in range(a.n):
            s.every(1).hours.do(noop, i)
    elif lib == APS:
        s = aps_scheduler()
        for i in range(a.n):
            s.add_job(noop, "interval", hours=1, args=(i,))
    else:
        s = peer_scheduler()
        for i in range(a.n):
            s.every(1).hours.do(noop, i)
    s.start()
    saved_s = wait_saved(lib, s)  # fastscheduler: every job's record once; 0.2.1: its queued saves
    time.sleep(2)  # settle
    c0, w0 = context_switches(), s._rt.engine.wakeups if lib == FS else None
    time.sleep(a.seconds)
    c1, w1 = context_switches(), s._rt.engine.wakeups if lib == FS else None
    per_thread = {k: v - c0.get(k, 0) for k, v in c1.items() if v - c0.get(k, 0)}
    shutdown(lib, s)
    return {
        "saved_s": saved_s,
        "ctx_switches": sum(per_thread.values()),
        "per_thread": per_thread,
        "threads": len(c1),
        "wakeups": None if w0 is None or w1 is None else w1 - w0,
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
    elif lib == APS:
        s = aps_scheduler()
        job = s.add_job(tick, "interval", seconds=1)
        s.start()
        first = job.next_run_time.timestamp()
    else:
        s = peer_scheduler()
        s.every(1).seconds.do(tick)
        first = s.jobs[0].next_run  # set at registration: now + 1 s
        s.start()
    done.wait(a.n + 60)
    shutdown(lib, s)
    anchor = first - 1
    late = [(t - (anchor + k)) * 1000 for k, t in enumerate(starts[: a.n], 1)]
    return {"runs": len(late), "lateness_ms": late}


WORKERS: dict[str, Callable[[str, argparse.Namespace], dict[str, Any]]] = {
    "register": work_register,
    "instant": work_instant,
    "idle": work_idle,
    "lateness": work_lateness,
}


def worker_main(kind: str, lib: str, a: argparse.Namespace) -> None:
    if lib == PEER:
        imported_fastscheduler(PEER)  # fail at once if PYTHONPATH does not put 0.2.1 first
    if a.storage == "json" and lib == FS:  # the default JSON state file, in a scratch directory
        with tempfile.TemporaryDirectory() as scratch:
            os.chdir(scratch)
            print(json.dumps(WORKERS[kind](lib, a)), flush=True)
    else:
        print(json.dumps(WORKERS[kind](lib, a)), flush=True)
    if lib == PEER:
        os._exit(0)  # its saver thread may still have queued saves; exiting normally would wait for them


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


def ensure_peer(target: Path = PEER_DIR) -> Path:
    """Install fastscheduler 0.2.1 from PyPI into ``target`` unless it is there already. Its only
    declared dependency, sqlmodel, is for its SQL store, which is not measured; the JSON store and
    the scheduler use the standard library only."""
    if (target / "fastscheduler" / "__init__.py").exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(staging),
        f"fastscheduler=={PEER_VERSION}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        shutil.rmtree(staging, ignore_errors=True)
        said = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise BenchError(
            f"could not install fastscheduler {PEER_VERSION} into {target}: {' '.join(cmd)} exited "
            f"{proc.returncode}:\n{said}\n(--no-peer leaves it out of the report)"
        )
    staging.rename(target)
    return target


def worker_cmd(kind: str, lib: str, *opts: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), "--worker", kind, lib, *opts]


def worker_env(lib: str) -> dict[str, str]:
    """The environment of a worker: for 0.2.1, PYTHONPATH with its directory first (it shadows the
    editable install of ours, which comes from a .pth file after site-packages)."""
    env = dict(os.environ)
    if lib == PEER:
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(PEER_DIR), env.get("PYTHONPATH", "")] if p)
    return env


def result_of(out: str, cmd: list[str]) -> dict[str, Any]:
    lines = out.strip().splitlines()
    if not lines:
        raise BenchError(f"worker printed nothing: {' '.join(cmd)}")
    return dict(json.loads(lines[-1]))


def summary(res: dict[str, Any]) -> str:
    return str(
        {k: (round(v, 6) if isinstance(v, float) else v) for k, v in res.items() if k != "lateness_ms"}
    )


def run(kind: str, lib: str, opts: list[str], limit: float = 3600) -> dict[str, Any]:
    """One measurement in a fresh process, in a scratch working directory. If it runs past
    ``limit``, it is killed and the result is the last line it printed (if any) plus
    ``"timeout": limit``."""
    cmd = worker_cmd(kind, lib, *opts)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=limit,
                check=True,
                cwd=scratch,
                env=worker_env(lib),
            )
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
            res = result_of(out, cmd) if out.strip() else {}  # what the worker printed before the limit
            return res | {"timeout": limit}
        except subprocess.CalledProcessError as e:
            raise BenchError(f"worker failed: {' '.join(cmd)}\n{e.stderr}") from None
    return result_of(proc.stdout, cmd)


def run_together(kind: str, opts: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Every library at once, each in its own process (for measurements that mostly sleep)."""
    cmds = {lib: worker_cmd(kind, lib, *o) for lib, o in opts.items()}
    with tempfile.TemporaryDirectory() as scratch:
        procs = {
            lib: subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=scratch,
                env=worker_env(lib),
            )
            for lib, cmd in cmds.items()
        }
        out = {}
        for lib, p in procs.items():
            stdout, stderr = p.communicate()
            if p.returncode:
                raise BenchError(f"worker failed: {' '.join(cmds[lib])}\n{stderr}")
            out[lib] = [result_of(stdout, cmds[lib])]
    return out


@dataclass
class Step:
    """One measurement of the plan: ``kind`` run for each library in ``opts`` (worker options),
    ``repeats`` times in rotating order, or once all at the same time if ``together``."""

    name: str
    kind: str
    opts: dict[str, list[str]]
    repeats: int = 1
    limits: dict[str, float] = field(default_factory=dict)
    together: bool = False

    def runs(self) -> int:
        return 1 if self.together else self.repeats * len(self.opts)


def plan(full: bool, peer: bool, aps_limit: float = 600) -> list[Step]:
    """Every measurement of a run, in order."""

    def n(v: int, *more: str) -> list[str]:
        return ["--n", str(v), *more]

    def with_peer(opts: dict[str, list[str]], peer_opts: list[str]) -> dict[str, list[str]]:
        return opts | {PEER: peer_opts} if peer else opts

    js = ("--storage", "json")
    reps = 5 if full else 3
    p = small_register(full)
    steps = [Step("register_100k", "register", {FS: n(K), APS: n(K)}, reps)]
    if full:
        steps += [
            Step("register_100k_json", "register", {FS: n(K, *js)}, reps),
            Step("register_1m", "register", {FS: n(M), APS: n(M)}, 3, {APS: aps_limit}),
            Step("register_1m_json", "register", {FS: n(M, *js)}, 3),
        ]
    steps += [
        Step(
            "register_small",
            "register",
            with_peer({FS: n(p, *js), APS: n(p)}, n(p, "--stop-limit", f"{PEER_STOP_LIMIT:g}")),
            3,
            {PEER: 1800.0},
        ),
        Step("instant", "instant", {FS: n(INSTANT), APS: n(INSTANT)}, reps),
        Step(
            "instant_small",
            "instant",
            with_peer({FS: n(SMALL_INSTANT), APS: n(SMALL_INSTANT)}, n(SMALL_INSTANT, "--lead", "5")),
            reps,
        ),
    ]
    window = "10" if full else "5"
    big = M if full else K
    steps.append(
        Step(
            "idle",
            "idle",
            with_peer(
                {FS: n(big, "--seconds", window), APS: n(big, "--seconds", window)},
                n(PEER_IDLE, "--seconds", window),
            ),
            3 if full else 1,
            {APS: aps_limit},
        )
    )
    if full:
        steps.append(Step("idle_json", "idle", {FS: n(M, "--seconds", window, *js)}, 3))
    runs = 60 if full else 10
    steps.append(Step("lateness", "lateness", with_peer({FS: n(runs), APS: n(runs)}, n(runs)), together=True))
    return steps


def execute(step: Step, progress: Any) -> dict[str, list[dict[str, Any]]]:
    """Run one step; a library stops being repeated after a run that hit its time limit."""
    if step.together:
        progress.begin(f"{step.kind}: {', '.join(LABEL[lib] for lib in step.opts)} at the same time")
        res = run_together(step.kind, step.opts)
        progress.end("; ".join(f"{LABEL[lib]} {summary(r[0])}" for lib, r in res.items()))
        return res
    out: dict[str, list[dict[str, Any]]] = {lib: [] for lib in step.opts}
    libs = list(step.opts)
    for r in range(step.repeats):
        for lib in libs[r % len(libs) :] + libs[: r % len(libs)]:
            if any("timeout" in x for x in out[lib]):
                progress.skip()
                continue
            opts = step.opts[lib]
            limit = step.limits.get(lib, 3600.0)
            progress.begin(f"{step.kind} {LABEL[lib]} {' '.join(opts)} (repeat {r + 1} of {step.repeats})")
            res = run(step.kind, lib, opts, limit)
            note = f"killed at the {limit:.0f} s limit; had " if "timeout" in res else ""
            progress.end(note + summary(res))
            out[lib].append(res)
    return out


# ---------------------------------------------------------------------------------------- table


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


def ratio(fs: float | None, other: float | None) -> float | None:
    """other ÷ fastscheduler (above 1: fastscheduler is faster / smaller), if both are positive."""
    if fs is None or other is None or fs <= 0 or other <= 0:
        return None
    return other / fs


def times(x: float | None) -> str:
    """A ratio as shown: ``12.3x``, ``1,100x``."""
    if x is None:
        return "—"
    return f"{x:,.0f}x" if x >= 1000 else f"{x:.3g}x"


@dataclass
class Row:
    metric: str
    values: dict[str, float | None]
    texts: dict[str, str]
    compare: bool = True


class Table:
    """Rows of figures by library (FS first), with the ratio of every other library to FS."""

    def __init__(self, libs: tuple[str, ...] = LIBS) -> None:
        self.libs = libs
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def row(
        self,
        metric: str,
        values: dict[str, float | None] | None = None,
        texts: dict[str, str] | None = None,
        compare: bool = True,
    ) -> None:
        """``values`` by library; ``texts`` replaces the shown figure of a library (a count, or why
        there is none)."""
        self.rows.append(Row(metric, dict(values or {}), dict(texts or {}), compare))

    def shown(self, row: Row, lib: str) -> str:
        return row.texts.get(lib) or num(row.values.get(lib))

    def ratio(self, row: Row, lib: str) -> float | None:
        return ratio(row.values.get(FS), row.values.get(lib)) if row.compare else None

    def peers(self) -> list[str]:
        return [lib for lib in self.libs if lib != FS]

    def text(self) -> str:
        head = [LABEL[lib] for lib in self.libs] + [f"{SHORT[p]} ÷ fastscheduler" for p in self.peers()]
        lines = ["| metric | " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(head)]
        for r in self.rows:
            cells = [self.shown(r, lib) for lib in self.libs]
            for p in self.peers():
                x = self.ratio(r, p)
                cells.append(times(x))
            lines.append(f"| {r.metric} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n" + "".join(f"\n- {n}" for n in self.notes) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "libraries": {lib: LABEL[lib] for lib in self.libs},
            "rows": [
                {
                    "metric": r.metric,
                    "values": {lib: r.values.get(lib) for lib in self.libs},
                    "shown": {lib: self.shown(r, lib) for lib in self.libs},
                    "ratio_to_fastscheduler": {p: self.ratio(r, p) for p in self.peers()},
                }
                for r in self.rows
            ],
            "notes": self.notes,
        }


def per_thread(results: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['threads']} threads, switches by tid:name {r['per_thread']}" for r in results)


def timed_out(results: list[dict[str, Any]]) -> str:
    """Why a library has no figure after a time limit, or ''."""
    for r in results:
        if "timeout" in r:
            return f"not finished within {r['timeout']:.0f} s"
        if "stop_timeout" in r:
            return f"not finished within {r['stop_timeout']:.0f} s"
    return ""


def register_rows(t: Table, what: str, res: dict[str, list[dict[str, Any]]], missing: dict[str, str]) -> None:
    """Rows of one registration size. ``missing[lib]``: why ``lib`` was not measured here. A run
    stopped at the time limit still gives the figures it printed before stop() (register, start, RSS)."""
    got = {lib: res.get(lib, []) for lib in t.libs}
    why = {lib: missing.get(lib) or timed_out(got[lib]) for lib in t.libs}
    for lib in t.libs:
        killed = [r["timeout"] for r in got[lib] if "timeout" in r]
        if killed:
            t.notes.append(
                f"{what}: {LABEL[lib]} was stopped at the {killed[0]:.0f} s limit "
                f"(1 run; figures it printed before stop() are kept)."
            )
        stuck = [r for r in got[lib] if "stop_timeout" in r]
        if stuck:
            left = ", ".join(f"{r['saves_queued_at_limit']:,}" for r in stuck)
            t.notes.append(
                f"{what}: {LABEL[lib]}'s stop() had not returned {stuck[0]['stop_timeout']:.0f} s after "
                f"start() in {len(stuck)} of {len(got[lib])} runs (it waits for every queued state save; "
                f"saves still queued then: {left})."
            )
        queued = median(got[lib], "saves_queued")
        if queued is not None:
            t.notes.append(
                f"{what}: {LABEL[lib]} had {num(queued)} full-state saves queued when start() returned "
                f"(median; one per registration, written one after the other)."
            )
    for key, label in [
        ("register_s", "register (s)"),
        ("start_s", "start() (s)"),
        ("rss_per_job", "RSS per job after start() (bytes)"),
        ("stop_s", "stop() right after start() (s)"),
    ]:
        values = {lib: median(got[lib], key) for lib in t.libs}
        texts = {lib: why[lib] for lib in t.libs if values[lib] is None and why[lib]}
        if key == "stop_s":  # a stop() cut at the worker's limit counts as longer than any that returned
            for lib in t.libs:
                stuck = [r["stop_timeout"] for r in got[lib] if "stop_timeout" in r]
                if stuck:
                    m = statistics.median(
                        [math.inf if "stop_timeout" in r else r["stop_s"] for r in got[lib]]
                    )
                    values[lib] = None if m == math.inf else m
                    if m == math.inf:
                        texts[lib] = (
                            f"not finished within {stuck[0]:.0f} s ({len(stuck)} of {len(got[lib])} runs)"
                        )
        t.row(f"{what}: {label}", values, texts)
    ran = {lib: [r["runs"] for r in got[lib] if "runs" in r] for lib in t.libs}
    for lib in t.libs:
        if any(ran[lib]):
            t.notes.append(
                f"{what}: some {LABEL[lib]} jobs ran before stop() returned: registration + start() took "
                f"longer than the 10 s interval, so the first jobs fell due (and stop() waited for them)."
            )
    shown = {
        lib: f"{num(statistics.median(v))} (max {num(max(v))})" if v else (why[lib] or "—")
        for lib, v in ran.items()
    }
    t.row(f"{what}: jobs that ran before stop() returned (median, max)", texts=shown)


def build_table(
    results: dict[str, dict[str, list[dict[str, Any]]]], full: bool, peer: bool, aps_limit: float = 600
) -> Table:
    """The report's table from the results of ``plan(full, peer)``, by step name and library."""
    t = Table(LIBS if peer else (FS, APS))
    p = small_register(full)
    memory_only = "— (memory store only)"

    # 1. Registration.
    too_slow = f"— (too slow at this size; measured at {p:,} below)"
    register_rows(t, f"{K:,} interval jobs", results["register_100k"], {PEER: too_slow})
    if full:
        register_rows(
            t,
            f"{K:,} interval jobs, default JSON state file",
            results["register_100k_json"],
            {APS: memory_only, PEER: too_slow},
        )
        register_rows(t, f"{M:,} interval jobs", results["register_1m"], {PEER: too_slow})
        register_rows(
            t,
            f"{M:,} interval jobs, default JSON state file",
            results["register_1m_json"],
            {APS: memory_only, PEER: too_slow},
        )
    else:
        t.row(f"{M:,} interval jobs", texts={FS: "--full only", APS: "--full only", PEER: "— (too slow)"})
    register_rows(
        t,
        f"{p:,} interval jobs, default stores (JSON state file; APScheduler memory)",
        results["register_small"],
        {},
    )

    # 2. Many jobs due at the same instant.
    def instant_rows(n: int, res: dict[str, list[dict[str, Any]]], missing: dict[str, str]) -> None:
        got = {lib: res.get(lib, []) for lib in t.libs}
        what = f"{n:,} jobs due at one instant T"
        ran = {lib: f"{min(r['ran'] for r in got[lib]):,} of {n:,}" for lib in t.libs if got[lib]}
        t.row(f"{what}: jobs run (fewest of the repeats)", texts=missing | ran, compare=False)
        for key, label in [("median_ms", "median start - T (ms)"), ("last_ms", "last start - T (ms)")]:
            t.row(f"{what}: {label}", {lib: median(got[lib], key) for lib in t.libs}, missing)
        last = {lib: median(got[lib], "last_ms") for lib in t.libs}
        t.row(
            f"{what}: (last start - T) per job (µs)",
            {lib: None if v is None else v * 1000 / n for lib, v in last.items()},
            missing,
        )
        if any(r["armed_before_s"] <= 0 for lib in t.libs for r in got[lib]):
            t.notes.append(f"WARNING: in some run of {what}, the jobs were not all armed before T.")

    instant_rows(
        INSTANT,
        results["instant"],
        {PEER: f"— (too slow at this size; measured at {SMALL_INSTANT:,} below)"},
    )
    instant_rows(SMALL_INSTANT, results["instant_small"], {})

    # 3. Idle wake-ups.
    window = 10 if full else 5
    res = results["idle"]
    got = {lib: [r for r in res.get(lib, []) if "timeout" not in r] for lib in t.libs}
    sizes = {FS: M if full else K, APS: M if full else K, PEER: PEER_IDLE}
    no_result = {
        lib: f"no result within {aps_limit:.0f} s" for lib in t.libs if res.get(lib) and not got[lib]
    }
    label = "idle, jobs due in an hour (" + ", ".join(f"{sizes[lib]:,} {LABEL[lib]}" for lib in t.libs) + ")"
    t.row(
        f"{label}: context switches of all threads in {window:g} s",
        {lib: median(got[lib], "ctx_switches") for lib in t.libs},
        no_result,
    )
    for lib in t.libs:
        t.notes.append(f"idle window, {LABEL[lib]} (each repeat): {per_thread(got[lib]) or 'no result'}.")
    t.row(
        f"{label}: engine wake-ups in {window:g} s",
        {FS: median(got[FS], "wakeups")},
        {APS: "—", PEER: "— (no counter; its loop polls every 0.1 s)"},
    )
    t.row(
        f"{label}: background state writes after start() (s; window starts after them + 2 s)",
        {FS: median(got[FS], "saved_s"), PEER: median(got.get(PEER, []), "saved_s")},
        {APS: "— (none)"},
        compare=False,  # different sizes and stores (fastscheduler's memory store writes nothing)
    )
    if full:
        res = results["idle_json"]
        label = f"idle, {M:,} jobs due in an hour, default JSON state file"
        for key, what in [
            ("ctx_switches", f"context switches of all threads in {window:g} s"),
            ("wakeups", f"engine wake-ups in {window:g} s"),
            ("saved_s", "background state write after start() (s; window starts after it + 2 s)"),
        ]:
            t.row(
                f"{label}: {what}",
                {FS: median(res[FS], key)},
                {APS: memory_only, PEER: f"— (measured at {PEER_IDLE:,} above)"},
            )
        t.notes.append(
            f"idle window, fastscheduler with the JSON state file (each repeat): {per_thread(res[FS])}."
        )

    # 4. Lateness and drift of every(1).seconds.
    runs = 60 if full else 10
    res = results["lateness"]
    stats = {lib: lateness_stats(res[lib][0]["lateness_ms"]) for lib in t.libs}
    counts = {lib: res[lib][0]["runs"] for lib in t.libs}
    label = f"every(1).seconds, {runs} runs"
    for key, what in [
        ("p50", "lateness p50 (ms)"),
        ("p99", "lateness p99 (ms)"),
        ("max", "lateness max (ms)"),
        ("drift", "drift (ms per run, least-squares slope)"),
    ]:
        t.row(f"{label}: {what}", {lib: stats[lib][key] for lib in t.libs}, compare=key != "drift")
    t.notes.append(
        "every(1).seconds: the libraries ran at the same time, each in its own process (all are idle "
        "between runs); runs recorded: " + ", ".join(f"{LABEL[lib]}: {counts[lib]}" for lib in t.libs) + "."
    )

    t.notes += [
        "Each figure is the median of the repeats "
        + (
            f"(register 100,000: 5; register 1,000,000: 3; register {p:,}: 3; same instant: 5; idle: 3; "
            "lateness: 1 run of 60; a library stops repeating after a run that hits its time limit)."
            if full
            else f"(register: 3; same instant: 3; idle: 1; lateness: 1 run of {runs})."
        ),
        'fastscheduler and APScheduler keep jobs in memory (fastscheduler storage="memory", APScheduler '
        "MemoryJobStore) except in the rows marked default JSON state file or default stores "
        "(fastscheduler's default storage, in a scratch directory); 10 worker threads each.",
        "Context switches: voluntary + involuntary, summed over /proc/self/task/*/status of the whole "
        "process; the main thread's own sleep counts too.",
    ]
    if peer:
        t.notes.append(
            f"fastscheduler 0.2.1: the original pure-Python package from PyPI, installed with pip --no-deps "
            f"--target benches/.peers/fastscheduler-{PEER_VERSION} and imported from there (each worker "
            f"checks); it has no in-memory store, so it always runs with its default JSON state file "
            f"(in a scratch directory), 10 worker threads. It writes its whole state on every registration "
            f"and completion, so it is measured at {p:,} jobs (registration), {SMALL_INSTANT:,} (same "
            f"instant) and {PEER_IDLE:,} (idle); fastscheduler and APScheduler are measured at the same "
            f"registration and same-instant sizes too, so those ratios compare equal sizes (the idle rows do "
            f"not: see their labels). Its stop() may wait at most "
            f"{PEER_STOP_LIMIT:.0f} s; its other runs end without stop()."
        )
    return t


# ---------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, few repeats (default)")
    mode.add_argument("--full", action="store_true", help="the full sizes (1,000,000 jobs) and more repeats")
    p.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    p.add_argument("--json", metavar="FILE", help="also write the table and every raw result to FILE")
    p.add_argument("--no-peer", action="store_true", help="leave out fastscheduler 0.2.1 (no install)")
    p.add_argument("--aps-limit", type=float, default=600, help="time limit of one APScheduler 1M run (s)")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "LIB"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    p.add_argument("--storage", default="memory", help=argparse.SUPPRESS)
    p.add_argument("--lead", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--stop-limit", type=float, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.worker:
        worker_main(*a.worker, a)
        return 0

    from bench_status import Progress

    full, peer = a.full, not a.no_peer
    began = time.time()
    fingerprint = package_fingerprint()
    steps = plan(full, peer, a.aps_limit)
    progress = Progress(sum(s.runs() for s in steps), "scheduler")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        if peer:
            progress.log(f"scheduler: fastscheduler {PEER_VERSION} from {PEER_DIR}")
            ensure_peer()
        progress.log(f"scheduler: mode {'full' if full else 'quick'}, {progress.total} measurements")
        for step in steps:
            results[step.name] = execute(step, progress)
    except BenchError as e:
        progress.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    progress.close()

    t = build_table(results, full, peer, a.aps_limit)
    if package_fingerprint() != fingerprint:
        t.notes.append("WARNING: the fastscheduler package changed on disk during this run; rerun it.")
    took = time.time() - began
    meta = {
        "measured": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "mode": "full" if full else "quick",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "apscheduler": aps_version(),
        "peer": PEER_VERSION if peer else None,
        "fingerprint": fingerprint,
        "took_s": took,
    }
    header = (
        f"Measured {meta['measured']}, mode --{meta['mode']}, {meta['cpus']} CPUs, Python {meta['python']}, "
        f"APScheduler {meta['apscheduler']}, "
        + (f"fastscheduler {PEER_VERSION} (PyPI), " if peer else "")
        + f"fastscheduler package files sha256 {fingerprint}, took {took / 60:.1f} min.\n\n"
    )
    text = header + t.text()
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "markdown": text, "table": t.as_dict(), "raw": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

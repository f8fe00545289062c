"""One benchmark report: fastscheduler's cron core against croniter, cronsim and APScheduler 3.

Everything is measured in this one process, in one run, so the ratios are fair on a shared,
noisy machine (absolute times drift; ratios much less). Each figure is the median of several
repeats. Usage:

    python benches/report.py [--quick] [--markdown FILE] [--json FILE]

Live status goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from bench_status import Progress
from croniter import croniter
from cronsim import CronSim

from fastscheduler import CronExpr

EXPRESSIONS = ["*/5 * * * *", "0 9 * * MON-FRI", "30 2 * * *", "0 0 1,15 * *", "15 */2 * * SUN"]
ZONES = ["UTC", "America/New_York"]
START = (2026, 3, 1, 12, 0)


RESTART_EVERY = 200


def _next_loop(step: Callable[[Any], Any], start: Any) -> Callable[[], None]:
    """A closure that advances a chain of next-fire calls by one each time it is called, going
    back to `start` every RESTART_EVERY calls so that sparse schedules stay near the present
    instead of walking centuries ahead (every library is measured over the same dates)."""
    state = [start, 0]

    def run() -> None:
        if state[1] == RESTART_EVERY:
            state[0], state[1] = start, 0
        state[0] = step(state[0])
        state[1] += 1

    return run


def _interleaved(cases: dict[str, tuple[Callable[[], object], int]], repeat: int) -> dict[str, float]:
    """Median seconds per call for each case. Cases are timed in turn within every repeat, so a
    burst of load on this shared machine hits all of them alike instead of one."""
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeat):
        for key, (fn, number) in cases.items():
            runs[key].append(timeit.timeit(fn, number=number) / number)
    return {k: statistics.median(v) for k, v in runs.items()}


def measure(expr: str, zone: str, scale: float) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    start = datetime(*START, tzinfo=tz)
    n_fast = max(1, int(4000 * scale))
    n_slow = max(1, int(100 * scale))
    rep = 9
    out: dict[str, Any] = {"expression": expr, "zone": zone}

    # Parse (construction) cost.
    out |= {
        f"parse_{k}": v
        for k, v in _interleaved(
            {
                "fastscheduler": (lambda: CronExpr(expr, tz=zone), n_fast),
                "croniter": (lambda: croniter(expr, start), n_slow),
                "cronsim": (lambda: CronSim(expr, start), n_slow),
                "apscheduler": (lambda: CronTrigger.from_crontab(expr, timezone=tz), n_slow),
            },
            rep,
        ).items()
    }

    # Next fire time, one call at a time, chained from the previous result.
    fs = CronExpr(expr, tz=zone)
    it = croniter(expr, start)
    trig = CronTrigger.from_crontab(expr, timezone=tz)
    cs_state: list[Any] = [None, RESTART_EVERY]

    def cronsim_next() -> Any:
        if cs_state[1] == RESTART_EVERY:
            cs_state[0], cs_state[1] = CronSim(expr, start), 0
        cs_state[1] += 1
        return next(cs_state[0])

    ci_state = [0]

    def croniter_next() -> Any:
        if ci_state[0] == RESTART_EVERY:
            it.set_current(start, force=True)
            ci_state[0] = 0
        ci_state[0] += 1
        return it.get_next(datetime)
        croniter_next.calls += 1  # type: ignore[attr-defined]
        return it.get_next(datetime)

    croniter_next.calls = 0  # type: ignore[attr-defined]
    batch = max(1000, int(10_000 * scale))
    after = start.timestamp()
    timed = _interleaved(
        {
            "fastscheduler": (_next_loop(fs.next, start), n_fast),
            "croniter": (croniter_next, n_slow),
            "cronsim": (cronsim_next, n_slow),
            "apscheduler": (_next_loop(lambda prev: trig.get_next_fire_time(prev, prev), start), n_slow),
            # Batched fast path: many fire times per call, GIL released.
            "batch": (lambda: fs.next_timestamps(after, batch), 1),
        },
        rep,
    )
    out |= {f"next_{k}": v for k, v in timed.items() if k != "batch"}
    out["batch_fastscheduler"] = timed["batch"] / batch
    return out


def _fmt_time(s: float) -> str:
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e9:.0f} ns"


def render_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Measured {meta['date']} on {meta['machine']}; Python {meta['python']}; "
        f"croniter {meta['croniter']}, cronsim {meta['cronsim']}, APScheduler {meta['apscheduler']}. "
        "Medians of 9 interleaved repeats; ratio = peer time / fastscheduler time (higher is better).",
        "",
        "| expression | zone | parse: fastscheduler | croniter | cronsim | APScheduler 3 | "
        "x croniter | next(): fastscheduler | croniter | cronsim | APScheduler 3 | x croniter | "
        "next_timestamps | fires/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['expression']}` | {r['zone']} "
            f"| {_fmt_time(r['parse_fastscheduler'])} | {_fmt_time(r['parse_croniter'])} "
            f"| {_fmt_time(r['parse_cronsim'])} | {_fmt_time(r['parse_apscheduler'])} "
            f"| **{r['parse_croniter'] / r['parse_fastscheduler']:.0f}x** "
            f"| {_fmt_time(r['next_fastscheduler'])} | {_fmt_time(r['next_croniter'])} "
            f"| {_fmt_time(r['next_cronsim'])} | {_fmt_time(r['next_apscheduler'])} "
            f"| **{r['next_croniter'] / r['next_fastscheduler']:.0f}x** "
            f"| {_fmt_time(r['batch_fastscheduler'])}/fire "
            f"| {1 / r['batch_fastscheduler'] / 1e6:.1f} M |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    parser.add_argument("--json", help="also write the raw numbers to this JSON file")
    args = parser.parse_args(argv)
    import platform
    from importlib.metadata import version

    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "python": platform.python_version(),
        "croniter": version("croniter"),
        "cronsim": version("cronsim"),
        "apscheduler": version("apscheduler"),
    }
    scale = 0.05 if args.quick else 1.0
    rows = []
    t0 = time.perf_counter()
    progress = Progress(len(ZONES) * len(EXPRESSIONS), "cron")
    for zone in ZONES:
        for expr in EXPRESSIONS:
            progress.begin(f"parse and next fire of {expr!r} in {zone}, every library")
            rows.append(measure(expr, zone, scale))
            progress.end()
    progress.close()
    table = render_markdown(rows, meta)
    print(table)
    print(f"(cron report took {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows, "markdown": table}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What metrics cost (issue 17, part 2): sustained throughput with metrics off and on, same run.

N jobs ``every(1).seconds`` doing nothing (``storage="memory"``, 10 worker threads) offer N runs a
second. After a 3 s warm-up, the worker counts the runs that end (``get_statistics()``) and the
process's CPU time over a window, and prints one JSON line. Modes:

- ``off``: the scheduler alone;
- ``metrics``: ``fastscheduler.metrics.instrument`` before ``start()``, and a scrape (the
  Prometheus text of a registry holding the collector) every 5 s during the window, as a
  Prometheus server would (its duration is reported too);
- ``otel`` (with ``--otel``): ``fastscheduler.otel.instrument`` with the OpenTelemetry SDK's
  ``BatchSpanProcessor`` and an exporter that drops the spans (what tracing itself costs).

Size: 100,000 jobs (100,000 runs/s offered: issue 17's bar is that metrics take at most 10 % off
that). The CPU time per run is the cost that decides the scheduler's capacity (the runs share
one core's worth of interpreter); offered more than it can run, a scheduler falls behind and
coalesces fires, so a saturated run measures that rather than metrics. Every measurement runs in
a fresh subprocess; the modes take turns, each size is repeated (``--repeats``, default 3) and
medians are shown, with on ÷ off.

    python benches/metrics_report.py [--repeats N] [--window S] [--sizes 100000,...] [--otel]

Live status goes to stderr, the Markdown table to stdout. Absolute numbers depend on the machine
and what else runs on it; the ratios, measured in one run with the modes interleaved, are the
result. docs/observability.md records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

WARMUP = 3.0
SCRAPE_EVERY = 5.0


def noop() -> None:
    pass


def worker(mode: str, n: int, window: float) -> dict[str, Any]:
    from fastscheduler import FastScheduler

    s = FastScheduler(storage="memory", quiet=True)
    for _ in range(n):
        s.every(1).seconds.do(noop)
    scrapes: list[float] = []
    stop = threading.Event()
    if mode == "metrics":
        from prometheus_client import CollectorRegistry, generate_latest

        from fastscheduler.metrics import instrument

        registry = CollectorRegistry()
        instrument(s, registry=registry)

        def scrape_loop() -> None:
            while not stop.wait(SCRAPE_EVERY):
                t = time.perf_counter()
                generate_latest(registry)
                scrapes.append(time.perf_counter() - t)

    elif mode == "otel":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        from fastscheduler.otel import instrument as trace

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        trace(s, tracer_provider=provider)
    s.start()
    time.sleep(WARMUP)
    scraper = None
    if mode == "metrics":
        scraper = threading.Thread(target=scrape_loop, daemon=True)
        scraper.start()
    before = s.get_statistics()
    t0, c0 = time.perf_counter(), time.process_time()
    time.sleep(window)
    after = s.get_statistics()
    t1, c1 = time.perf_counter(), time.process_time()
    stop.set()
    runs = after["total_runs"] - before["total_runs"]
    missed = after["total_missed"] - before["total_missed"]
    s.stop(wait=False)
    return {
        "mode": mode,
        "jobs": n,
        "runs_per_s": runs / (t1 - t0),
        "missed_per_s": missed / (t1 - t0),
        "cpu_us_per_run": (c1 - c0) / runs * 1e6 if runs else None,
        "cpu_cores": (c1 - c0) / (t1 - t0),
        "scrape_s": max(scrapes) if scrapes else None,
    }


def run(mode: str, n: int, window: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", mode, str(n), str(window)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=window + 600)
    if out.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--sizes", default="100000", help="job counts, comma-separated")
    parser.add_argument("--otel", action="store_true", help="also measure OpenTelemetry spans")
    parser.add_argument("--json", help="write the raw results to this file")
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "N", "WINDOW"), help=argparse.SUPPRESS)
    a = parser.parse_args(argv)
    if a.worker:
        mode, n, window = a.worker
        print(json.dumps(worker(mode, int(n), float(window))), flush=True)
        os._exit(0)  # the stopped scheduler's threads need not be waited for
    modes = ["off", "metrics", *(["otel"] if a.otel else [])]
    sizes = [int(x) for x in a.sizes.split(",")]
    results: dict[tuple[int, str], list[dict[str, Any]]] = {(n, m): [] for n in sizes for m in modes}
    for n in sizes:
        for i in range(a.repeats):
            order = modes[i % len(modes) :] + modes[: i % len(modes)]  # rotate who goes first
            for mode in order:
                r = run(mode, n, a.window)
                results[(n, mode)].append(r)
                print(
                    f"{n:,} jobs, {mode}: {r['runs_per_s']:,.0f} runs/s, "
                    f"{fmt(r['cpu_us_per_run'], 2)} µs CPU/run, {r['cpu_cores']:.2f} cores",
                    file=sys.stderr,
                    flush=True,
                )
    titles = {"metrics": "metrics on | on ÷ off", "otel": "otel spans | otel ÷ off"}
    rows = [
        "| workload | measure | metrics off | " + " | ".join(titles[m] for m in modes[1:]) + " |",
        "|---|---|--:|" + "--:|--:|" * (len(modes) - 1),
    ]
    for n in sizes:
        what = f"{n:,} jobs every 1 s ({n:,} runs/s offered)"
        for key, label, digits in (
            ("runs_per_s", "runs/s (sustained)", 0),
            ("cpu_us_per_run", "CPU µs per run", 2),
        ):
            off = median(results[(n, "off")], key)
            cells = []
            for mode in modes[1:]:
                on = median(results[(n, mode)], key)
                ratio = None if on is None or not off else on / off
                cells += [fmt(on, digits), fmt(ratio, 3)]
            rows.append(f"| {what} | {label} | {fmt(off, digits)} | " + " | ".join(cells) + " |")
        scrape = median(results[(n, "metrics")], "scrape_s")
        rows.append(
            f"| {what} | longest scrape (ms) | | {fmt(None if scrape is None else scrape * 1e3, 1)} | |"
        )
    print("\n".join(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({f"{n}:{m}": r for (n, m), r in results.items()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

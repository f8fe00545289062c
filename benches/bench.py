"""The whole benchmark report in one run: ``benches/report.py`` (the cron core against croniter,
cronsim and APScheduler 3) then ``benches/scheduler_report.py`` (the scheduler against APScheduler 3
and the original fastscheduler 0.2.1), then ``benches/persistence_report.py`` (each store against
``storage="memory"``: sustained runs/s, a million idle jobs, kill -9), printed as one Markdown
report; optionally written as
Markdown, JSON and a PNG chart of the ratios (matplotlib). ``fastscheduler bench`` runs this.

    python benches/bench.py [--quick | --full] [--markdown FILE] [--json [FILE]] [--png FILE] [--no-peer]
    python benches/bench.py --from-json FILE [--markdown FILE] [--png FILE]

``--quick`` / ``--full`` choose the scheduler sizes (the cron report always runs at its normal
size, under a minute). ``--json`` alone prints the JSON report on stdout instead of the Markdown;
``--json FILE`` writes it. ``--from-json FILE`` renders a report saved with ``--json`` again,
measuring nothing. Live status goes to stderr. Exit codes: 0 done; 1 a benchmark failed; 2 bad
usage or a missing optional dependency (matplotlib, for ``--png``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CRON_PEERS = {"croniter": "croniter", "cronsim": "cronsim", "apscheduler": "APScheduler 3"}


class UsageError(Exception):
    """Bad usage or a missing optional dependency: exit code 2."""


class BenchFailed(Exception):
    """A benchmark did not finish: exit code 1."""


def require_matplotlib() -> None:
    """Fail before measuring anything if ``--png`` cannot be written."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--png needs matplotlib, which is not installed: pip install matplotlib "
            "(in a checkout of fastscheduler: pip install --group dev)"
        ) from None


def check_output(path: str | None) -> None:
    """Fail before a long run, not after it, if an output file cannot be created."""
    if path is None or path == "-":
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: no directory {parent}")


def run_part(script: Path, args: list[str], out: Path) -> dict[str, Any]:
    """Run one report script with ``--json out`` (its table on stdout is not needed: the JSON has it;
    its live status goes through to stderr) and return what it wrote."""
    cmd = [sys.executable, str(script), *args, "--json", str(out)]
    code = subprocess.call(cmd, stdout=subprocess.DEVNULL)
    if code:
        raise BenchFailed(f"{script.name} failed (exit code {code}): {' '.join(cmd)}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def measure(full: bool, peer: bool) -> dict[str, Any]:
    began = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cron = run_part(HERE / "report.py", [], Path(tmp) / "cron.json")
        sched_args = ["--full" if full else "--quick"] + ([] if peer else ["--no-peer"])
        scheduler = run_part(HERE / "scheduler_report.py", sched_args, Path(tmp) / "scheduler.json")
        persistence = None
        if (HERE / "persistence_report.py").exists():  # each store against storage="memory"
            size = ["--full" if full else "--quick"]
            persistence = run_part(HERE / "persistence_report.py", size, Path(tmp) / "persistence.json")
    report = {
        "meta": {
            "measured": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            "mode": "full" if full else "quick",
            "took_s": time.time() - began,
        },
        "cron": cron,
        "scheduler": scheduler,
    }
    if persistence is not None:
        report["persistence"] = persistence
    report["ratios"] = ratios(report)
    return report


def ratios(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ratio of the report, peer ÷ fastscheduler (above 1: fastscheduler is faster or
    smaller): the cron core's as medians over the expressions, per zone; the scheduler's per row."""
    out: list[dict[str, Any]] = []
    rows = report["cron"]["rows"]
    zones = list(dict.fromkeys(r["zone"] for r in rows))
    for zone in zones:
        here = [r for r in rows if r["zone"] == zone]
        for op, label, ours in [
            ("parse", "cron parse", "parse_fastscheduler"),
            ("next", "next fire, one per call", "next_fastscheduler"),
            ("next", "next fire, batched next_timestamps vs the peer's per call", "batch_fastscheduler"),
        ]:
            for peer, name in CRON_PEERS.items():
                x = statistics.median(r[f"{op}_{peer}"] / r[ours] for r in here)
                out.append({"part": "cron", "metric": f"{label}, {zone}", "peer": name, "ratio": x})
    table = report["scheduler"]["table"]
    for row in table["rows"]:
        for peer, x in row["ratio_to_fastscheduler"].items():
            if x is not None:
                name = table["libraries"][peer]
                out.append({"part": "scheduler", "metric": row["metric"], "peer": name, "ratio": x})
    return out


def render_markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    peers = [v for k, v in report["scheduler"]["table"]["libraries"].items() if k != "fastscheduler"]
    return (
        f"# fastscheduler benchmark report ({meta['measured']}, --{meta['mode']}, "
        f"took {meta['took_s'] / 60:.1f} min)\n\n"
        "## Cron core: fastscheduler against croniter, cronsim and APScheduler 3\n\n"
        + report["cron"]["markdown"].rstrip()
        + "\n\n## Scheduler: fastscheduler against "
        + " and ".join(peers)
        + "\n\n"
        + report["scheduler"]["markdown"].rstrip()
        + "\n"
        + (
            '\n## Persistence: each store against storage="memory" (benches/persistence_report.py)\n\n'
            + report["persistence"]["markdown"].rstrip()
            + "\n"
            if report.get("persistence")
            else ""
        )
    )


def times(x: float) -> str:
    """A ratio as a bar label: ``12.3x``, ``1,100x``."""
    return f"{x:,.0f}x" if x >= 1000 else f"{x:.3g}x"


def write_png(report: dict[str, Any], path: str) -> None:
    """A horizontal bar chart of ``report["ratios"]``, log scale, one panel per part."""
    from matplotlib.figure import Figure

    parts = [
        ("cron", "Cron core (median over the expressions): peer time ÷ fastscheduler time"),
        ("scheduler", "Scheduler: peer ÷ fastscheduler (time, memory, lateness; sizes as in the table)"),
    ]
    entries = {part: [e for e in report["ratios"] if e["part"] == part] for part, _ in parts}
    metrics = {part: list(dict.fromkeys(e["metric"] for e in es)) for part, es in entries.items()}
    heights = [max(2, len(metrics[part])) for part, _ in parts]
    fig = Figure(figsize=(12, 2 + 0.45 * sum(heights)), layout="constrained")
    axes = fig.subplots(len(parts), 1, height_ratios=heights)
    for ax, (part, title) in zip(axes, parts, strict=True):
        ax.set_title(title, fontsize=10, loc="left")
        if not entries[part]:
            ax.text(0.5, 0.5, "no ratios", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        peers = list(dict.fromkeys(e["peer"] for e in entries[part]))
        bar = 0.8 / len(peers)
        for j, peer in enumerate(peers):
            ys, xs = [], []
            for i, metric in enumerate(metrics[part]):
                for e in entries[part]:
                    if e["metric"] == metric and e["peer"] == peer:
                        ys.append(i - 0.4 + bar * (j + 0.5))
                        xs.append(e["ratio"])
            bars = ax.barh(ys, xs, height=bar, label=peer)
            ax.bar_label(bars, labels=[times(x) for x in xs], fontsize=6, padding=2)
        ax.set_xscale("log")
        values = [e["ratio"] for e in entries[part]]
        ax.set_xlim(min(0.5, min(values) / 2), max(values) * 6)  # room for the labels
        ax.axvline(1, color="black", linewidth=0.8)
        labels = [textwrap.fill(m, 70) for m in metrics[part]]
        ax.set_yticks(range(len(labels)), labels=labels, fontsize=6)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlabel("ratio (above 1: fastscheduler is faster or smaller; log scale)", fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    meta = report["meta"]
    fig.suptitle(f"fastscheduler benchmark ratios, {meta['measured']}, --{meta['mode']}", fontsize=11)
    fig.savefig(path, dpi=110)


def load(path: str) -> dict[str, Any]:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(report, dict) or not {"meta", "cron", "scheduler"} <= report.keys():
        raise UsageError(f"{path} is not a report written by --json")
    report.setdefault("ratios", ratios(report))
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="fastscheduler bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--quick", action="store_true", help="scheduler at 100,000 jobs (default; ~4 min)")
    source.add_argument("--full", action="store_true", help="adds 1,000,000 jobs, more repeats (over 30 min)")
    source.add_argument("--from-json", metavar="FILE", help="render a report saved with --json; no measuring")
    p.add_argument("--markdown", metavar="FILE", help="also write the Markdown report to FILE")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", help="JSON report to FILE (alone: stdout)")
    p.add_argument("--png", metavar="FILE", help="also write a chart of the ratios (needs matplotlib)")
    p.add_argument("--no-peer", action="store_true", help="leave out fastscheduler 0.2.1 (no pip install)")
    args = p.parse_args(argv)
    try:
        if args.png:
            require_matplotlib()
        for path in (args.markdown, args.json, args.png):
            check_output(path)
        report = load(args.from_json) if args.from_json else measure(args.full, not args.no_peer)
        text = render_markdown(report)
        if args.json == "-":
            print(json.dumps(report, indent=1))
        else:
            print(text)
        if args.json and args.json != "-":
            Path(args.json).write_text(json.dumps(report, indent=1))
        if args.markdown:
            Path(args.markdown).write_text(text)
        if args.png:
            write_png(report, args.png)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BenchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

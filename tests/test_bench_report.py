"""The benchmark report (``benches/``, ``fastscheduler bench``) without running a benchmark:
tables with three libraries, the JSON report, the PNG chart, the 0.2.1 install and import checks,
live status, errors and exit codes."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fastscheduler import cli

BENCHES = Path(__file__).resolve().parents[1] / "benches"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", BENCHES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sr = _load("scheduler_report")
bench = _load("bench")
status = _load("bench_status")
FS, APS, PEER = sr.FS, sr.APS, sr.PEER


def _reg(register: float, rss: float, stop: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "register_s": register,
        "start_s": register / 2,
        "rss_per_job": rss,
        "stop_s": stop,
        "runs": 0,
    } | extra


def _instant(median: float, last: float, ran: int) -> dict[str, Any]:
    return {"ran": ran, "armed_before_s": 1.5, "first_ms": 1.0, "median_ms": median, "last_ms": last}


def _idle(switches: int, saved: float | None, wakeups: int | None) -> dict[str, Any]:
    return {
        "saved_s": saved,
        "ctx_switches": switches,
        "per_thread": {"1:python": switches},
        "threads": 3,
        "wakeups": wakeups,
        "runs": 0,
    }


def _results(peer: bool = True) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """What ``plan(full=False, peer)`` measures, made up."""
    stuck = _reg(0.2, 3300, None, saves_queued=999, stop_timeout=30.0, saves_queued_at_limit=640)
    res: dict[str, dict[str, list[dict[str, Any]]]] = {
        "register_100k": {FS: [_reg(0.5, 400, 0.002)] * 3, APS: [_reg(5.0, 1000, 0.08)] * 3},
        "register_small": {
            FS: [_reg(0.01, 800, 0.05)] * 3,
            APS: [_reg(0.05, 1200, 0.02)] * 3,
            PEER: [stuck, stuck, _reg(0.2, 3300, 29.0, saves_queued=999)],
        },
        "instant": {FS: [_instant(50, 100, 10_000)] * 3, APS: [_instant(400, 800, 10_000)] * 3},
        "instant_small": {
            FS: [_instant(5, 10, 1000)] * 3,
            APS: [_instant(40, 80, 1000)] * 3,
            PEER: [_instant(1700, 4000, 1000)] * 3,
        },
        "idle": {FS: [_idle(1, 0.0, 0)], APS: [_idle(1, None, None)], PEER: [_idle(50, 3.0, None)]},
        "lateness": {
            FS: [{"runs": 10, "lateness_ms": [0.5] * 10}],
            APS: [{"runs": 10, "lateness_ms": [1.0] * 10}],
            PEER: [{"runs": 10, "lateness_ms": [100.0 * k for k in range(1, 11)]}],
        },
    }
    if not peer:
        for step in res.values():
            step.pop(PEER, None)
    return res


def _row(markdown: str, metric: str) -> list[str]:
    """The cells of the row whose metric is ``metric``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == metric:
            return cells[1:]
    raise AssertionError(f"no row {metric!r} in:\n{markdown}")


def test_scheduler_table_with_three_libraries() -> None:
    t = sr.build_table(_results(), full=False, peer=True)
    md = t.text()
    assert md.splitlines()[0] == (
        "| metric | fastscheduler | APScheduler 3 | fastscheduler 0.2.1 "
        "| APScheduler ÷ fastscheduler | 0.2.1 ÷ fastscheduler |"
    )
    assert md.splitlines()[1] == "| --- | ---: | ---: | ---: | ---: | ---: |"
    # 0.2.1 is not run at 100,000 jobs, and the row says why; the small size has all three.
    assert _row(md, "100,000 interval jobs: register (s)") == [
        "0.5",
        "5",
        "— (too slow at this size; measured at 1,000 below)",
        "10x",
        "—",
    ]
    small = "1,000 interval jobs, default stores (JSON state file; APScheduler memory)"
    assert _row(md, f"{small}: register (s)") == ["0.01", "0.05", "0.2", "5x", "20x"]
    assert _row(md, f"{small}: RSS per job after start() (bytes)") == [
        "800",
        "1,200",
        "3,300",
        "1.5x",
        "4.12x",
    ]
    # 2 of 3 stop() calls were cut at the worker's 30 s limit: the median is past the limit.
    assert _row(md, f"{small}: stop() right after start() (s)") == [
        "0.05",
        "0.02",
        "not finished within 30 s (2 of 3 runs)",
        "0.4x",
        "—",
    ]
    assert "had 999 full-state saves queued when start() returned" in md
    assert "stop() had not returned 30 s after start() in 2 of 3 runs" in md and "queued then: 640, 640" in md
    assert _row(md, "10,000 jobs due at one instant T: last start - T (ms)")[2] == (
        "— (too slow at this size; measured at 1,000 below)"
    )
    assert _row(md, "1,000 jobs due at one instant T: jobs run (fewest of the repeats)") == [
        "1,000 of 1,000",
        "1,000 of 1,000",
        "1,000 of 1,000",
        "—",
        "—",
    ]
    assert _row(md, "1,000 jobs due at one instant T: last start - T (ms)") == [
        "10",
        "80",
        "4,000",
        "8x",
        "400x",
    ]
    idle = "idle, jobs due in an hour (100,000 fastscheduler, 100,000 APScheduler 3, 100 fastscheduler 0.2.1)"
    assert _row(md, f"{idle}: context switches of all threads in 5 s") == ["1", "1", "50", "1x", "50x"]
    assert _row(md, f"{idle}: engine wake-ups in 5 s")[2] == "— (no counter; its loop polls every 0.1 s)"
    saves = f"{idle}: background state writes after start() (s; window starts after them + 2 s)"
    assert _row(md, saves) == ["0", "— (none)", "3", "—", "—"]
    assert _row(md, "every(1).seconds, 10 runs: lateness p50 (ms)") == ["0.5", "1", "550", "2x", "1,100x"]
    late = _row(md, "every(1).seconds, 10 runs: drift (ms per run, least-squares slope)")
    assert late == ["0", "0", "100", "—", "—"]  # drift is never a ratio
    assert "fastscheduler 0.2.1: the original pure-Python package from PyPI" in md

    as_json = t.as_dict()
    assert as_json["libraries"] == {FS: "fastscheduler", APS: "APScheduler 3", PEER: "fastscheduler 0.2.1"}
    row = next(r for r in as_json["rows"] if r["metric"] == f"{small}: register (s)")
    assert row["values"] == {FS: 0.01, APS: 0.05, PEER: 0.2}
    assert row["ratio_to_fastscheduler"] == {APS: pytest.approx(5), PEER: pytest.approx(20)}


def test_scheduler_table_without_the_peer_has_two_libraries() -> None:
    md = sr.build_table(_results(peer=False), full=False, peer=False).text()
    assert md.splitlines()[0] == "| metric | fastscheduler | APScheduler 3 | APScheduler ÷ fastscheduler |"
    assert "0.2.1" not in md


def test_plan_measures_the_peer_at_smaller_sizes() -> None:
    quick = {s.name: s for s in sr.plan(full=False, peer=True)}
    assert PEER not in quick["register_100k"].opts and PEER not in quick["instant"].opts
    assert quick["register_small"].opts[PEER] == ["--n", "1000", "--stop-limit", "30"]
    assert quick["instant_small"].opts[PEER][:2] == ["--n", "1000"]
    assert quick["idle"].opts[PEER][:2] == ["--n", "100"]
    assert PEER in quick["lateness"].opts and quick["lateness"].runs() == 1
    full = {s.name: s for s in sr.plan(full=True, peer=True)}
    assert full["register_small"].opts[PEER][:2] == ["--n", "10000"]
    assert full["register_1m"].opts[APS] == ["--n", "1000000"]
    assert all(PEER not in s.opts for s in sr.plan(full=True, peer=False))


def test_peer_workers_import_0_2_1_from_the_peer_directory_or_fail(tmp_path: Path) -> None:
    env = sr.worker_env(PEER)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(sr.PEER_DIR)
    assert "PYTHONPATH" not in sr.worker_env(FS) or str(sr.PEER_DIR) not in sr.worker_env(FS)["PYTHONPATH"]
    # Without the peer directory on PYTHONPATH, a 0.2.1 worker finds ours and refuses to measure it.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(BENCHES / "scheduler_report.py"), "--worker", "register", PEER, "--n", "1"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "worker imported fastscheduler" in proc.stderr
    assert f"not 0.2.1 from {sr.PEER_DIR}" in proc.stderr
    assert proc.stdout == ""


def test_peer_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "fastscheduler-0.2.1"
    calls: list[list[str]] = []

    def pip_fails(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for x\n")

    monkeypatch.setattr(sr.subprocess, "run", pip_fails)
    with pytest.raises(sr.BenchError) as err:
        sr.ensure_peer(target)
    assert f"could not install fastscheduler 0.2.1 into {target}" in str(err.value)
    assert "No matching distribution" in str(err.value) and "--no-peer" in str(err.value)
    assert calls[0][1:6] == ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    assert calls[0][-4:] == ["--no-deps", "--target", str(target) + ".partial", "fastscheduler==0.2.1"]
    assert not target.exists()

    def pip_works(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        pkg = Path(cmd[-2]) / "fastscheduler"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text('__version__ = "0.2.1"\n')
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(sr.subprocess, "run", pip_works)
    assert sr.ensure_peer(target) == target
    assert (target / "fastscheduler" / "__init__.py").exists() and not Path(str(target) + ".partial").exists()
    n = len(calls)
    assert sr.ensure_peer(target) == target and len(calls) == n  # installed once


def test_live_status_plain_and_on_a_terminal() -> None:
    plain = io.StringIO()
    p = status.Progress(2, "scheduler", stream=plain, tty=False)
    p.begin("register fastscheduler --n 10")
    p.end("{'register_s': 0.1}")
    p.begin("idle APScheduler 3")
    p.end()
    p.close()
    lines = plain.getvalue().splitlines()
    assert lines[0] == "scheduler [1/2] register fastscheduler --n 10 ... (total 0 s)"
    assert lines[1].startswith("scheduler [1/2] register fastscheduler --n 10: done in ")
    assert lines[1].endswith(": {'register_s': 0.1}")
    assert lines[2].startswith("scheduler [2/2] idle APScheduler 3 ...")
    assert "\r" not in plain.getvalue()

    term = io.StringIO()
    p = status.Progress(3, "cron", stream=term, tty=True)
    p.begin("parse '*/5 * * * *'")
    p.log("a message")
    p.end()
    p.skip(1)
    p.close()
    out = term.getvalue()
    assert out.startswith("\r\x1b[K" + "cron [1/3] parse '*/5 * * * *': 0 s (total 0 s)")
    assert "\r\x1b[Ka message\n" in out and "\r\x1b[Kcron [1/3] parse '*/5 * * * *': done in " in out
    assert p.total == 2
    assert [status.clock(s) for s in (5, 184, 3720)] == ["5 s", "3 min 04 s", "1 h 02 min"]


def _report() -> dict[str, Any]:
    """A small combined report, as ``bench.py --json`` writes it."""
    t = sr.build_table(_results(), full=False, peer=True)
    cron_rows = []
    for zone, k in (("UTC", 1.0), ("America/New_York", 2.0)):
        cron_rows.append(
            {"expression": "*/5 * * * *", "zone": zone}
            | {
                f"parse_{lib}": k * x
                for lib, x in [
                    ("fastscheduler", 1e-6),
                    ("croniter", 2e-4),
                    ("cronsim", 2e-5),
                    ("apscheduler", 8e-5),
                ]
            }
            | {
                f"next_{lib}": k * x
                for lib, x in [
                    ("fastscheduler", 1e-6),
                    ("croniter", 1e-4),
                    ("cronsim", 3e-5),
                    ("apscheduler", 5e-5),
                ]
            }
            | {"batch_fastscheduler": 1e-7}
        )
    report = {
        "meta": {"measured": "2026-11-29 10:00 UTC", "mode": "quick", "took_s": 240.0},
        "cron": {"meta": {}, "rows": cron_rows, "markdown": "| expression | zone |\n|---|---|\n"},
        "scheduler": {"meta": {}, "markdown": "header\n\n" + t.text(), "table": t.as_dict(), "raw": {}},
    }
    report["ratios"] = bench.ratios(report)
    return report


def test_combined_report_markdown_and_ratios() -> None:
    report = _report()
    ratios = {(r["part"], r["metric"], r["peer"]): r["ratio"] for r in report["ratios"]}
    assert ratios[("cron", "cron parse, UTC", "croniter")] == pytest.approx(200)
    assert ratios[("cron", "next fire, one per call, America/New_York", "cronsim")] == pytest.approx(30)
    assert ratios[("cron", "next fire, batched next_timestamps vs the peer's per call, UTC", "croniter")] == (
        pytest.approx(1000)
    )
    small = "1,000 interval jobs, default stores (JSON state file; APScheduler memory): register (s)"
    assert ratios[("scheduler", small, "fastscheduler 0.2.1")] == pytest.approx(20)
    assert ratios[("scheduler", small, "APScheduler 3")] == pytest.approx(5)
    assert not any("drift" in metric for _, metric, _ in ratios)

    md = bench.render_markdown(report)
    assert md.startswith("# fastscheduler benchmark report (2026-11-29 10:00 UTC, --quick, took 4.0 min)\n")
    assert "## Cron core: fastscheduler against croniter, cronsim and APScheduler 3" in md
    assert "## Scheduler: fastscheduler against APScheduler 3 and fastscheduler 0.2.1" in md
    assert md.index("| expression | zone |") < md.index("| metric | fastscheduler | APScheduler 3 |")


def _check_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 800 and img.size[1] > 600


def test_png_chart(tmp_path: Path) -> None:
    bench.write_png(_report(), str(tmp_path / "ratios.png"))
    _check_png(tmp_path / "ratios.png")


def _fake_benches(tmp_path: Path, cron_exit: int = 0) -> Path:
    """Stand-ins for report.py and scheduler_report.py that write a made-up report to --json and
    record their arguments in it."""
    report = _report()
    for name, part in (("report", "cron"), ("scheduler_report", "scheduler")):
        (tmp_path / f"{part}.json").write_text(json.dumps(report[part]))
        (tmp_path / f"{name}.py").write_text(
            "import json, sys\n"
            f"if {cron_exit if name == 'report' else 0}: raise SystemExit({cron_exit})\n"
            f"data = json.load(open({str(tmp_path / f'{part}.json')!r}))\n"
            "data['argv'] = sys.argv[1:]\n"
            "print('a table nobody needs')\n"
            "json.dump(data, open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n"
        )
    return tmp_path


def test_bench_runs_both_reports_into_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "HERE", _fake_benches(tmp_path))
    md = tmp_path / "out.md"
    assert bench.main(["--full", "--no-peer", "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    assert "## Cron core" in out and "## Scheduler" in out and "a table nobody needs" not in out
    assert md.read_text() == out.removesuffix("\n")

    assert bench.main(["--quick", "--json"]) == 0  # JSON alone: on stdout, instead of the Markdown
    report = json.loads(capsys.readouterr().out)
    assert report["meta"]["mode"] == "quick"
    assert report["cron"]["argv"][-2] == "--json" and report["scheduler"]["argv"][0] == "--quick"
    assert "--no-peer" not in report["scheduler"]["argv"]
    assert any(r["peer"] == "fastscheduler 0.2.1" for r in report["ratios"])

    saved = tmp_path / "saved.json"
    assert bench.main(["--json", str(saved)]) == 0
    capsys.readouterr()
    assert bench.main(["--from-json", str(saved), "--markdown", str(tmp_path / "again.md")]) == 0
    again = (tmp_path / "again.md").read_text()
    assert again == bench.render_markdown(json.loads(saved.read_text()))
    assert ", --quick, took " in again.splitlines()[0] and "## Scheduler" in again


def test_bench_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "HERE", _fake_benches(tmp_path, cron_exit=3))
    assert bench.main(["--quick"]) == 1
    assert "error: report.py failed (exit code 3)" in capsys.readouterr().err

    assert bench.main(["--markdown", str(tmp_path / "no" / "such" / "dir.md")]) == 2
    assert f"error: cannot write {tmp_path}/no/such/dir.md: no directory" in capsys.readouterr().err
    (tmp_path / "other.json").write_text('{"rows": []}')
    assert bench.main(["--from-json", str(tmp_path / "other.json")]) == 2
    assert "other.json is not a report written by --json" in capsys.readouterr().err
    assert bench.main(["--from-json", str(tmp_path / "missing.json")]) == 2
    assert "error: cannot read" in capsys.readouterr().err


def test_cli_bench_png_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(_report()))
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.chdir(BENCHES.parent)  # from the checkout (also when the package is a built wheel)
    assert cli.main(["bench", "--from-json", str(saved), "--png", str(tmp_path / "x.png")]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "error: --png needs matplotlib, which is not installed: pip install matplotlib "
        "(in a checkout of fastscheduler: pip install --group dev)\n"
    )
    assert captured.out == "" and not (tmp_path / "x.png").exists()


def test_cli_bench_renders_a_saved_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(BENCHES.parent)  # from the checkout (also when the package is a built wheel)
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(_report()))
    png, md = tmp_path / "chart.png", tmp_path / "report.md"
    assert cli.main(["bench", "--from-json", str(saved), "--png", str(png), "--markdown", str(md)]) == 0
    assert "| metric | fastscheduler | APScheduler 3 | fastscheduler 0.2.1 |" in capsys.readouterr().out
    assert "## Scheduler" in md.read_text()
    _check_png(png)


def test_cli_bench_passes_options_through_and_keeps_the_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "bench.py"
    fake.write_text("import json\ndef main(argv):\n    print(json.dumps(argv))\n    return 1\n")
    monkeypatch.setattr(cli, "_bench_script", lambda: fake)
    assert cli.main(["bench", "--full", "--json", "--png", "c.png", "--no-peer"]) == 1
    assert json.loads(capsys.readouterr().out) == ["--full", "--json", "--png", "c.png", "--no-peer"]
    assert cli.main(["bench", "--json", "r.json", "--markdown", "r.md"]) == 1
    assert json.loads(capsys.readouterr().out) == ["--quick", "--markdown", "r.md", "--json", "r.json"]
    assert cli.main(["bench", "--quick", "--full"]) == 2  # a usage error: exit code 2, not a SystemExit
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_bench_outside_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "site-packages" / "fastscheduler" / "cli.py"))
    monkeypatch.chdir(tmp_path)  # and not inside a checkout either
    assert cli.main(["bench"]) == 2
    assert "error: the benchmarks run from a checkout of fastscheduler" in capsys.readouterr().err


def test_a_stop_that_overruns_its_limit_is_reported_not_waited_for() -> None:
    import threading

    release = threading.Event()
    assert sr.stop_within(lambda: release.wait(30), 0.05) is None
    release.set()
    took = sr.stop_within(lambda: None, 5)
    assert took is not None and 0 <= took < 5

"""The command line's conventions (issue 16, part 3), with uvicorn, celery and ruff as the anchors:
``--version``; colour on a terminal only, never with ``NO_COLOR``; ``jobs`` by name within 100
columns, full ids on request; a live progress line for long work; a quiet end on a closed pipe;
and ``make demo`` installing only what the demo needs, with its build's progress shown."""

from __future__ import annotations

import io
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fastscheduler
from fastscheduler import FastScheduler, ManualClock
from fastscheduler.cli import main, progress

T0 = 1_780_000_000.0
ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tick() -> None:
    pass


def _fails() -> None:
    raise ConnectionError("the payment gateway did not answer within 3 s (simulated outage), again")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A JSON store with long names, long schedules, zones, a failure and a finished one-shot."""
    path = tmp_path / "state.json"
    clock = ManualClock(T0)
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock, timezone="UTC")
    s.every(5).seconds.name("heartbeat").do(_tick)
    s.cron("0 9 * * MON-FRI", tz="America/New_York").name("open market check").do(_tick)
    s.weekly.weekdays.at("17:30", tz="America/New_York").name("NY close").do(_tick)
    s.every(1).hours.retries(0).name("a job whose name is long enough to fill any column it is given").do(
        _fails
    )
    s.once(15).name("one-shot warm-up").do(_tick)
    s.start()
    clock.advance(3600)  # the failing hourly job fails once
    s.stop()
    return path


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    return {**env, "TERM": "xterm-256color", **more}


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run ``fastscheduler *args`` with stdout and stderr on a pseudo-terminal; what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastscheduler", *args], stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) in (0, 2)
    return b"".join(chunks).decode()


# ---------------------------------------------------------------------------------- version


def test_version_flag() -> None:
    exe = shutil.which("fastscheduler", path=str(Path(sys.executable).parent)) or "fastscheduler"
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert (
        proc.stdout
        == f"fastscheduler {fastscheduler.__version__} (tz database {fastscheduler.TZDB_VERSION})\n"
    )


# ---------------------------------------------------------------------------------- colour


def test_colour_on_a_terminal_only_and_never_with_no_color(store: Path) -> None:
    on_tty = _on_a_terminal(["jobs", "--state", str(store)], _env(COLUMNS="100"))
    assert ANSI.search(on_tty), on_tty
    assert "\x1b[1mNAME" in on_tty and "\x1b[32mscheduled\x1b[0m" in on_tty  # bold header, green state
    assert "\x1b[31m" in on_tty  # a failure count in red
    no_color = _on_a_terminal(["jobs", "--state", str(store)], _env(COLUMNS="100", NO_COLOR="1"))
    assert not ANSI.search(no_color) and "heartbeat" in no_color
    error = _on_a_terminal(["jobs", "--state", str(store) + ".missing"], _env())
    assert "\x1b[1;31merror\x1b[0m: no state file at" in error
    assert not ANSI.search(_on_a_terminal(["jobs", "--state", str(store) + ".x"], _env(NO_COLOR="1")))
    piped = subprocess.run(
        [sys.executable, "-m", "fastscheduler", "jobs", "--state", str(store)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=True,
    )
    assert not ANSI.search(piped.stdout) and "heartbeat" in piped.stdout
    forced = subprocess.run(
        [sys.executable, "-m", "fastscheduler", "jobs", "--state", str(store)],
        capture_output=True,
        text=True,
        env=_env(FORCE_COLOR="1"),
        timeout=60,
        check=True,
    )
    assert ANSI.search(forced.stdout)  # FORCE_COLOR, as ruff and uvicorn read it


# ---------------------------------------------------------------------------------- jobs


def test_jobs_shows_names_and_fits_100_columns(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--state", str(store)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SCHEDULE", "STATE", "NEXT", "RUN", "(UTC)", "RUNS", "FAILED"]
    assert max(map(len, lines)) <= 100, out
    for name in ("heartbeat", "open market check", "NY close", "one-shot warm-up"):
        assert name in out
    assert "test_cli_conventions." not in out  # names, not ids
    assert "Cron: 0 9 * * MON-FRI" in out  # a cron text is cut to its expression, not mid-word
    assert "\u2026" in out  # what had to be cut says so
    # A wider terminal shows more; a narrow one cuts names and schedules, never times or counts.
    assert main(["jobs", "--state", str(store)]) == 0 and "LAST RUN" not in capsys.readouterr().out
    os.environ["COLUMNS"] = "160"
    try:
        assert main(["jobs", "--state", str(store)]) == 0
        wide = capsys.readouterr().out
        os.environ["COLUMNS"] = "72"
        assert main(["jobs", "--state", str(store)]) == 0
        narrow = capsys.readouterr().out
    finally:
        del os.environ["COLUMNS"]
    assert (
        "LAST RUN (UTC)" in wide and "open market check" in wide and max(map(len, wide.splitlines())) <= 160
    )
    assert max(map(len, narrow.splitlines())) <= 72, narrow
    assert "2026-05-28 21:26:45Z" in narrow  # heartbeat's next run, whole


def test_full_ids_on_request(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--state", str(store), "--full-ids"]) == 0
    out = capsys.readouterr().out
    assert "ID" in out.splitlines()[0] and "IN URLS" in out.splitlines()[0]
    market = "'test_cli_conventions._tick:cron:0 9 * * MON-FRI@America/New_York'"  # pasteable in a shell
    assert (
        market in out
        and "test_cli_conventions._tick:cron:0%209%20%2A%20%2A%20MON-FRI@America%2FNew_York" in out
    )
    assert "a job whose name is long enough to fill any column it is given" in out  # nothing cut
    assert main(["history", "--state", str(store), "-n", "3", "--full-ids"]) == 0
    assert "test_cli_conventions._tick:every:5s" in capsys.readouterr().out
    assert main(["history", "--state", str(store), "-n", "3"]) == 0
    history = capsys.readouterr().out
    assert "heartbeat" in history and "test_cli_conventions." not in history
    assert main(["dead-letters", "--state", str(store), "--full-ids"]) == 0
    assert "test_cli_conventions._fails:every:3600s" in capsys.readouterr().out
    assert main(["dead-letters", "--state", str(store)]) == 0
    letters = capsys.readouterr().out
    assert "a job whose name is long enough" in letters and "ConnectionError: the payment" in letters


# ---------------------------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_long_work_shows_a_live_line_on_a_terminal_then_erases_it() -> None:
    term = _Terminal()
    with progress("reading big.json", stream=term, delay=0.05):
        time.sleep(0.4)
    text = term.getvalue()
    assert "reading big.json (" in text and " s)" in text
    assert text.count("\r") >= 2  # redrawn as it goes
    assert text.endswith("\r\x1b[K")  # and gone when done
    quick = _Terminal()
    with progress("reading small.json", stream=quick):
        pass  # done before the delay: nothing shown
    assert quick.getvalue() == ""
    piped = io.StringIO()
    with progress("reading big.json", stream=piped, delay=0):
        time.sleep(0.2)
    assert piped.getvalue() == ""  # never in pipes or logs


def test_a_slow_import_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "slowjobs.py").write_text(
        "import time\nfrom fastscheduler import FastScheduler\ntime.sleep(1.2)\n"
        "scheduler = FastScheduler(storage='memory', quiet=True)\n"
        "raise SystemExit('stop here')\n"
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastscheduler", "run", "slowjobs:scheduler"],
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env=_env(),
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    proc.wait(timeout=60)
    out = b"".join(chunks).decode()
    assert "importing slowjobs (its jobs register) (" in out, out


# ---------------------------------------------------------------------------------- pipes


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    clock = ManualClock(T0)
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock, max_history=5000)
    s.every(1).seconds.name("tick").do(_tick)
    s.start()
    clock.advance(3000)
    s.stop()
    proc = subprocess.run(
        f"{sys.executable} -m fastscheduler history --state {path} -n 3000 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env(),
    )
    assert proc.stdout.startswith("WHEN (UTC)") and proc.stderr == "", proc.stderr


# ---------------------------------------------------------------------------------- make demo


def test_make_demo_installs_only_what_the_demo_needs_and_shows_its_build() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    dry = subprocess.run(
        ["make", "-n", "-B", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "--group dev" not in dry and "maturin develop" not in dry  # develop installs the dev group
    assert ".venv-demo/bin/python -m pip install --progress-bar on" in dry
    assert '[fastapi]"' in dry  # the package with the dashboard's extra, nothing else
    build = next(line for line in dry.splitlines() if "maturin build" in line)
    assert " -q" not in build and "--quiet" not in build  # cargo's progress is shown
    assert "building the wheel" in dry and "exec .venv-demo/bin/fastscheduler demo" in dry
    installs = [line for line in dry.splitlines() if "pip install" in line]
    assert all("-q" not in line.split() for line in installs), installs

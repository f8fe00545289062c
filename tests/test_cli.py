"""The ``fastscheduler`` command line: run, demo, jobs, history, dead-letters, errors and exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fastscheduler import FastScheduler, ManualClock
from fastscheduler.cli import main

T0 = 1_780_000_000.0


def _fails() -> None:
    raise ValueError("bad <input>")


def _ok() -> None:
    pass


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A JSON store with two jobs, history and one dead letter."""
    path = tmp_path / "state.json"
    clock = ManualClock(T0)
    s = FastScheduler(state_file=str(path), quiet=True, clock=clock, timezone="UTC")
    s.every(10).seconds.do(_ok)
    s.every(10).seconds.retries(0).do(_fails)
    s.start()
    clock.advance(20)
    s.stop()
    return path


def test_jobs_history_and_dead_letters_read_a_store(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--state", str(state)]) == 0
    out = capsys.readouterr().out
    assert "NEXT RUN (UTC)" in out and "_ok " in out and "test_cli._ok:every:10s" not in out  # names
    assert "2026-05-28 20:27:10Z" in out  # next run: T0 + 30
    assert main(["jobs", "--state", str(state), "--full-ids"]) == 0
    assert "test_cli._ok:every:10s" in capsys.readouterr().out

    assert main(["jobs", "--state", str(state), "--json"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert {j["job_id"]: j["run_count"] for j in jobs} == {
        "test_cli._ok:every:10s": 2,
        "test_cli._fails:every:10s": 2,
    }

    assert main(["history", "--state", str(state), "--job", "test_cli._fails:every:10s", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [h["status"] for h in history] == ["failed", "failed"]

    assert main(["dead-letters", "--state", str(state), "--traceback"]) == 0
    out = capsys.readouterr().out
    assert "ValueError: bad <input>" in out and 'raise ValueError("bad <input>")' in out


def test_errors_have_messages_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--state", str(tmp_path / "missing.json")]) == 2
    assert "no state file at" in capsys.readouterr().err
    assert main(["run", "no_colon"]) == 2
    assert "expected module:scheduler" in capsys.readouterr().err
    assert main(["run", "no_such_module_xyz:s"]) == 2
    assert "cannot import 'no_such_module_xyz'" in capsys.readouterr().err
    assert main(["cron", "61 * * * *"]) == 2
    assert "minute field: 61 is out of range 0-59" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["jobs", "--state", str(tmp_path / "broken.json")]) == 1
    assert "broken.json is damaged" in capsys.readouterr().err
    assert (tmp_path / "broken.json").read_text() == "{not json"  # a reader never moves it aside


def test_jobs_reads_a_store_a_running_scheduler_holds(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = FastScheduler(state_file=str(state), quiet=True, clock=ManualClock(T0 + 25))
    s.start()  # holds the file lock
    try:
        assert main(["jobs", "--state", str(state), "--json"]) == 0
        assert len(json.loads(capsys.readouterr().out)) == 2
    finally:
        s.stop()


_APP = """
from fastscheduler import FastScheduler
scheduler = FastScheduler(state_file="state.json", quiet=True)

@scheduler.every(0.1).seconds
def beat():
    with open("beats", "a") as f:
        f.write("x")
"""


def test_run_a_users_scheduler_until_sigterm(tmp_path: Path) -> None:
    (tmp_path / "myjobs.py").write_text(_APP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastscheduler", "run", "myjobs:scheduler"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "beats").exists() or len((tmp_path / "beats").read_text()) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "running 1 job(s)" in out and "stopped" in out
    assert "Traceback" not in err
    stored = json.loads((tmp_path / "state.json").read_text())
    assert stored["jobs"]["myjobs.beat:every:0.1s"]["run_count"] >= 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_demo_serves_the_dashboard_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastscheduler", "demo", "--port", str(port), "--state", "demo.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/scheduler/api/jobs") as r:
                    body = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/scheduler/") as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = json.dumps(body)
    for name in ("heartbeat", "morning report", "flaky payment gateway", "every minute (cron)"):
        assert name in text
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{port}/scheduler/" in out


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * MON-FRI", "at 09:00, on Monday through Friday"),
        ("*/5 * * * *", "every 5 minutes"),
        ("0 0 1,15 * *", "at 00:00, on day 1 and 15 of the month"),
        ("15 */2 * * SUN", "at minute 15 of every 2nd hour, on Sunday"),
        ("0 9 * * 1-5 30", "at 09:00:30, on Monday through Friday"),
        ("@daily", "at 00:00"),
        ("0 0 L * *", "at 00:00, on the last day of the month"),
        ("0 12 * JAN,JUL *", "at 12:00, in January and July"),
        ("0 0 1 * 5", "at 00:00, on day 1 of the month or on Friday"),
        ("*/10 9-17 * * MON-FRI", "every 10 minutes during hours 9 through 17, on Monday through Friday"),
        ("0 9 * * 5#3", "at 09:00, on weekdays '5#3'"),
    ],
)
def test_cron_in_words(expression: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cron", expression, "-n", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["description"] == words


def test_cron_errors_point_at_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cron", "0 9 * 13 MON"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: month field: 13 is out of range 1-12 or JAN-DEC in '0 9 * 13 MON'\n"
        "  0 9 * 13 MON\n"
        "        ^^\n"
    )


# -- store reads: the stores' validation, special files, deep nesting -------------------------------


def test_jobs_history_and_dead_letters_refuse_a_file_start_refuses(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(state.read_text())
    job_id = "test_cli._ok:every:10s"
    data["jobs"][job_id]["run_count"] = "lots"
    state.write_text(json.dumps(data))
    before = state.read_bytes()
    for command in ("jobs", "history", "dead-letters"):
        assert main([command, "--state", str(state)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""  # not "RUNS lots"
        assert captured.err == (
            f"error: The JSON state file {state} is damaged (record jobs[{job_id!r}].run_count is 'lots', "
            "not an integer from 0 to 2**63-1); it was left as it is\n"
        )
    assert state.read_bytes() == before and not list(state.parent.glob("*.corrupt-*"))


def test_deep_nesting_is_reported_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b'{"v":1,"stats":' + b"[" * 200_000)
    assert main(["jobs", "--state", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"error: The JSON state file {path} is damaged (it is nested too deeply to be a state file); "
        "it was left as it is\n"
    )


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.json"
    os.mkfifo(path)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fastscheduler", "history", "--state", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        with contextlib.suppress(OSError):  # unblock the reader if it got stuck in open()
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"error: The JSON state file {path} is a FIFO (named pipe), not a regular file: give the path of a "
        "regular file (or of one to create). Nothing was read or changed\n"
    )


def test_text_the_terminal_cannot_encode_is_escaped_not_a_traceback(tmp_path: Path) -> None:
    """A lone surrogate (a file name with undecodable bytes in an error message, an odd job id) is
    valid JSON and a valid record: the tables show it escaped."""
    path = tmp_path / "state.json"
    job_id = "app.\udcff:every:10s"
    state = {
        "v": 1,
        "jobs": {job_id: {"v": 1, "job_id": job_id, "schedule": "every 10 seconds", "next_run": T0}},
        "history": [
            {
                "v": 1,
                "job_id": job_id,
                "func_name": "f",
                "status": "failed",
                "timestamp": T0,
                "error": "no file \udcff",
            }
        ],
    }
    path.write_text(json.dumps(state))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for command in ("jobs", "history"):
        proc = subprocess.run(
            [sys.executable, "-m", "fastscheduler", command, "--state", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
            env=env,
        )
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
        assert "\\udcff" in proc.stdout


# -- arguments and exit codes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        (["history", "-n", "-3"], "-n/--limit", "-3"),
        (["history", "-n", "0"], "-n/--limit", "0"),
        (["history", "--limit", "x"], "-n/--limit", "x"),
        (["dead-letters", "-n", "0"], "-n/--limit", "0"),
        (["dead-letters", "-n", "-1"], "-n/--limit", "-1"),
        (["cron", "* * * * *", "-n", "0"], "-n", "0"),
        (["cron", "* * * * *", "-n", "-3"], "-n", "-3"),
    ],
)
def test_a_count_below_one_is_a_usage_error(
    state: Path, argv: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, *(["--state", str(state)] if argv[0] != "cron" else [])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"usage: fastscheduler {argv[0]} ")
    assert captured.err.endswith(f"error: argument {option}: expected a whole number >= 1, got {value!r}\n")


def test_history_limit_counts_from_the_newest(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--state", str(state), "-n", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["dead-letters", "--state", str(state), "-n", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_history_of_an_unknown_job_says_so(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--state", str(state), "--job", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: no job 'nope' in {state}: no stored job or run has this id "
        "(`fastscheduler jobs --full-ids` lists the job ids)\n"
    )
    assert main(["history", "--state", str(state), "--job", "test_cli._ok:every:10"]) == 2
    assert capsys.readouterr().err == (
        f"error: no job 'test_cli._ok:every:10' in {state}: no stored job or run has this id; did you mean "
        "'test_cli._ok:every:10s' or 'test_cli._fails:every:10s'? (`fastscheduler jobs --full-ids` lists the "
        "job ids)\n"
    )


def test_history_of_a_job_without_runs_is_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.json"
    s = FastScheduler(state_file=str(path), quiet=True, clock=ManualClock(T0), timezone="UTC")
    job_id = s.every(10).seconds.do(_ok)
    s.start()
    s.stop()
    assert main(["history", "--state", str(path), "--job", job_id]) == 0
    assert capsys.readouterr().out == f"no runs of job {job_id!r} in the history\n"
    assert main(["history", "--state", str(path), "--job", job_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import fastscheduler

    assert main(["--version"]) == 0
    assert (
        capsys.readouterr().out
        == f"fastscheduler {fastscheduler.__version__} (tz database {fastscheduler.TZDB_VERSION})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "fastscheduler", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (
        0,
        f"fastscheduler {fastscheduler.__version__} (tz database {fastscheduler.TZDB_VERSION})\n",
    )


def test_no_command_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fastscheduler [-h] [--version] COMMAND ...")
    for command in ("demo", "run", "jobs", "history", "dead-letters", "cron", "bench"):
        assert f"    {command}" in out
    proc = subprocess.run(
        [sys.executable, "-m", "fastscheduler"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, out, "")

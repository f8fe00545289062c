"""The developer tooling that make test and CI stand on: scripts/services.sh on a taken port and from
a private working directory, scripts/free-port.sh, scripts/clean-env.sh, and make test's shape.

The services tests start a second PostgreSQL and MariaDB of their own (in a fresh directory under
/tmp, stopped afterwards) next to the test servers, so they need the Debian packages `make services`
installs; without them they fail, or skip under FASTSCHEDULER_SKIP_SERVER_TESTS=1.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import stores_support

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "scripts" / "services.sh"
DEFAULT_PORTS = {"postgresql": 55432, "mariadb": 53306}


def _listen(port: int = 0) -> socket.socket | None:
    """A socket listening on 127.0.0.1:port (0: any free port), or None if the port is taken."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    s.listen()
    return s


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


# -- scripts/free-port.sh -----------------------------------------------------------------------


def test_free_port_skips_a_taken_port() -> None:
    held = _listen()
    assert held is not None
    with held:
        port = held.getsockname()[1]
        result = _run("bash", "scripts/free-port.sh", str(port))
        assert result.returncode == 0, result.stderr
        assert int(result.stdout) > port
        if shutil.which("ss"):  # names the program holding it (ours: this Python)
            who = _run("bash", "scripts/free-port.sh", "--who", str(port)).stdout
            assert f"pid {os.getpid()}" in who, who
    assert _run("bash", "scripts/free-port.sh", "x").returncode == 2


# -- scripts/services.sh ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services_dir() -> Iterator[Path]:
    """A services directory of our own under /tmp; its servers are stopped at the end."""
    servers = glob.glob("/usr/lib/postgresql/*/bin/postgres") and (
        os.path.exists("/usr/sbin/mariadbd") or os.path.exists("/usr/sbin/mysqld")
    )
    if not servers:
        message = "the PostgreSQL and MariaDB server packages are not installed: run `make services`"
        if os.environ.get("FASTSCHEDULER_SKIP_SERVER_TESTS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    path = Path(tempfile.mkdtemp(prefix="fs-services-test-", dir="/tmp"))
    try:
        yield path
    finally:
        _run("bash", str(SERVICES), "stop", env=_services_env(path))
        shutil.rmtree(path, ignore_errors=True)


def _services_env(path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSCHEDULER_")}
    return {**env, "FASTSCHEDULER_SERVICES_DIR": str(path), **extra}


def test_services_a_port_set_by_hand_that_is_taken_is_an_error(services_dir: Path) -> None:
    held = _listen()
    assert held is not None
    with held:
        port = held.getsockname()[1]
        result = _run("bash", str(SERVICES), env=_services_env(services_dir, FASTSCHEDULER_PG_PORT=str(port)))
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "another program" in result.stderr, result.stderr
    assert "Set FASTSCHEDULER_PG_PORT to a free port" in result.stderr, result.stderr


def test_services_move_off_taken_default_ports_and_run_from_a_private_directory(
    services_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with contextlib.ExitStack() as stack:
        for port in DEFAULT_PORTS.values():  # taken already (the test servers) or by us now
            held = _listen(port)
            if held is not None:
                stack.enter_context(held)
        result = _run("bash", str(SERVICES), env=_services_env(services_dir), cwd=private)
    assert result.returncode == 0, result.stderr
    assert "could not change directory" not in result.stderr  # runuser never needs our cwd
    written = dict(line.split("=", 1) for line in (services_dir / "urls.env").read_text().splitlines())
    assert result.stdout.split() == [f"{k}={v}" for k, v in written.items()]
    pg_url, my_url = written["FASTSCHEDULER_TEST_POSTGRES_URL"], written["FASTSCHEDULER_TEST_MYSQL_URL"]
    assert _port_of(pg_url) != DEFAULT_PORTS["postgresql"] and _port_of(my_url) != DEFAULT_PORTS["mariadb"]
    for name, url, default in (
        ("PostgreSQL", pg_url, DEFAULT_PORTS["postgresql"]),
        ("MariaDB", my_url, DEFAULT_PORTS["mariadb"]),
    ):
        assert f"127.0.0.1:{default} is in use by another program" in result.stderr, result.stderr
        assert f"{name} takes 127.0.0.1:{_port_of(url)}" in result.stderr, result.stderr

    import psycopg
    import pymysql

    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pymysql.connect(
        host="127.0.0.1",
        port=_port_of(my_url),
        user="fastscheduler",
        password="fastscheduler",
        connect_timeout=10,
    ).close()

    # The tests find them: stores_support reads urls.env of FASTSCHEDULER_SERVICES_DIR.
    monkeypatch.setenv("FASTSCHEDULER_SERVICES_DIR", str(services_dir))
    assert stores_support._services_urls() == {"postgresql": pg_url, "mariadb": my_url}

    # A restart keeps the port, so the URLs stay right for running tests.
    restart = _run(
        "bash", str(SERVICES), "restart", "postgresql", env=_services_env(services_dir), cwd=private
    )
    assert restart.returncode == 0, restart.stderr
    assert f"starting PostgreSQL on 127.0.0.1:{_port_of(pg_url)}" in restart.stderr, restart.stderr
    assert (services_dir / "urls.env").read_text().splitlines() == [f"{k}={v}" for k, v in written.items()]


# -- scripts/clean-env.sh and make test -----------------------------------------------------------


def test_clean_env_has_no_rust_and_passes_fastscheduler_variables() -> None:
    import fastscheduler._core

    if not fastscheduler._core.__file__.startswith(sys.prefix + os.sep):
        pytest.skip("fastscheduler is an editable build here, not installed: make test-wheel runs this")
    env = {**os.environ, "FASTSCHEDULER_PROBE": "a b 'c'", "OTHER_PROBE": "x"}
    result = _run(
        "bash",
        "scripts/clean-env.sh",
        sys.prefix,
        "python",
        "-c",
        "import os, shutil; print(os.environ.get('FASTSCHEDULER_PROBE'), os.environ.get('OTHER_PROBE'),"
        " shutil.which('cargo'), shutil.which('rustc'))",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "a b 'c' None None None"


def test_make_test_runs_pytest_once_against_the_wheel() -> None:
    result = _run("make", "--no-print-directory", "-n", "test")
    assert result.returncode == 0, result.stderr
    pytest_lines = [line for line in result.stdout.splitlines() if "pytest" in line]
    assert len(pytest_lines) == 1, pytest_lines
    assert pytest_lines[0].startswith("bash scripts/clean-env.sh .venv-wheel python -m pytest"), pytest_lines
    assert "maturin develop" not in result.stdout

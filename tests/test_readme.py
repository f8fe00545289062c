"""The README's quick start runs as written: its jobs register, the FastAPI lifespan starts and
stops the scheduler, and the dashboard answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_quick_start_runs_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1 and len(blocks[0].splitlines()) <= 20
    monkeypatch.chdir(tmp_path)  # its state file, jobs.json
    namespace: dict[str, object] = {"__name__": "quick_start"}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    scheduler, app = namespace["scheduler"], namespace["app"]
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert scheduler.running  # type: ignore[attr-defined]
        jobs = client.get("/scheduler/api/jobs").json()["jobs"]
        assert sorted(j["name"] for j in jobs) == ["heartbeat", "morning_report"]
        assert client.get("/scheduler/").status_code == 200
    assert not scheduler.running  # type: ignore[attr-defined]
    assert (tmp_path / "jobs.json").is_file()


def test_the_readme_stays_a_front_door() -> None:
    assert len(README.read_bytes()) <= 12 * 1024
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)", README.read_text()):
        assert (README.parent / target).is_file(), f"README links to a missing {target}"

"""The product article's dashboard example, as printed (indentation restored: the article's text
lost it), builds an app that serves the dashboard at /scheduler/."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastscheduler import FastScheduler

ARTICLE_DASHBOARD = """
from contextlib import asynccontextmanager
from fastapi import FastAPI
from fastscheduler import FastScheduler
from fastscheduler.fastapi_integration import create_scheduler_routes

scheduler = FastScheduler(quiet=True)

@asynccontextmanager
async def lifespan(app: FastAPI):
    scheduler.start()
    yield
    await scheduler.stop(wait=True) # graceful shutdown

app = FastAPI(lifespan=lifespan)
# Mount dashboard (default path: /scheduler/)
app.include_router(create_scheduler_routes(scheduler))
"""


def test_article_dashboard_example_serves_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default state file lands here, not in the checkout
    namespace: dict[str, object] = {"__name__": "article_dashboard"}
    exec(compile(ARTICLE_DASHBOARD, "article_dashboard", "exec"), namespace)
    app, scheduler = namespace["app"], namespace["scheduler"]
    assert isinstance(app, FastAPI) and isinstance(scheduler, FastScheduler)

    @scheduler.every(10).seconds
    def heartbeat() -> None:
        pass

    with TestClient(app) as client:  # runs the lifespan: start ... stop(wait=True)
        assert scheduler.running
        page = client.get("/scheduler/")
        assert page.status_code == 200 and "FastScheduler" in page.text
        assert client.get("/scheduler").status_code == 200  # redirected to the slash
        assert client.get("/scheduler/api/status").json()["running"] is True
        jobs = client.get("/scheduler/api/jobs").json()["jobs"]
        assert [j["func_name"] for j in jobs] == ["heartbeat"]
        # "How do I run a job right now? ... API POST /scheduler/api/jobs/{id}/run"
        job_id = jobs[0]["job_id"]
        assert client.post(f"/scheduler/api/jobs/{job_id}/run").status_code == 200
    assert not scheduler.running


DOCS = Path(__file__).resolve().parent.parent / "docs" / "dashboard.md"


def _docs_example(heading: str) -> str:
    """The first ```python block after ``heading`` in docs/dashboard.md."""
    text = DOCS.read_text()
    section = text[text.index(heading) :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_docs_http_basic_example_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCHEDULER_ADMIN_PASSWORD", "adm1n-pw")
    monkeypatch.setenv("SCHEDULER_VIEWER_PASSWORD", "v1ewer-pw")
    namespace: dict[str, object] = {"__name__": "docs_basic"}
    exec(
        compile(_docs_example("## Protecting the dashboard with HTTP Basic"), "docs_basic", "exec"), namespace
    )
    app, scheduler = namespace["app"], namespace["scheduler"]
    assert isinstance(app, FastAPI) and isinstance(scheduler, FastScheduler)
    job_id = scheduler.every(1).hours.id("nightly").do(lambda: None)
    admin, viewer = ("admin", "adm1n-pw"), ("viewer", "v1ewer-pw")

    with TestClient(app) as client:
        for path in ("/scheduler/", "/scheduler/events", "/scheduler/api/jobs", "/admin/scheduler/"):
            r = client.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="scheduler"'
        assert client.get("/scheduler/", auth=("viewer", "wrong")).status_code == 401
        assert client.get("/scheduler/", auth=("nobody", "")).status_code == 401
        page = client.get("/scheduler/", auth=viewer)
        assert page.status_code == 200 and '"readOnly":true' in page.text
        assert client.get("/scheduler/api/jobs", auth=viewer).json()["total"] == 1
        assert client.post(f"/scheduler/api/jobs/{job_id}/pause", auth=viewer).status_code == 405
        assert client.get("/admin/scheduler/", auth=viewer).status_code == 403
        assert client.post(f"/admin/scheduler/api/jobs/{job_id}/pause", auth=viewer).status_code == 403
        admin_page = client.get("/admin/scheduler/", auth=admin)
        assert admin_page.status_code == 200 and '"readOnly":false' in admin_page.text
        assert client.post(f"/admin/scheduler/api/jobs/{job_id}/pause", auth=admin).status_code == 200
        assert scheduler.get_job(job_id)["paused"] is True  # type: ignore[index]

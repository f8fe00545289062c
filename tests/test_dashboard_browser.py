"""The dashboard end to end: Debian's Chromium (headless, driven by Playwright) against a real
uvicorn serving the app on 127.0.0.1.

Needs /usr/bin/chromium (``make browser`` installs it). Without it this test fails, unless
FASTSCHEDULER_SKIP_BROWSER_TESTS=1. Screenshots go to the test's tmp path, or to
FASTSCHEDULER_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _dashboard_support import UvicornProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<script>alert(1)</script>"

APP = textwrap.dedent(
    """
    import time
    from contextlib import asynccontextmanager
    from fastapi import FastAPI
    from fastscheduler import FastScheduler
    from fastscheduler.fastapi_integration import create_scheduler_routes

    scheduler = FastScheduler(quiet=True)

    @scheduler.every(1).seconds.id("ticker")
    def ticker():
        time.sleep(0.02)

    @scheduler.every(1).hours.retries(0).id("exploder")
    def exploder():
        raise RuntimeError("<script>alert(1)</script>")

    @scheduler.every(1).hours.id("manual")
    def manual():
        pass

    @scheduler.daily.at("14:30", tz="Europe/Paris")
    async def generate_report():
        pass

    @scheduler.cron("0 9 * * MON-FRI", tz="America/New_York")
    def open_market_check():
        pass

    @scheduler.weekly.friday.tz("Asia/Tokyo").at("17:00")
    def tokyo_eod():
        pass

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler.start()
        yield
        await scheduler.stop(wait=True)

    app = FastAPI(lifespan=lifespan)
    app.include_router(create_scheduler_routes(scheduler))
    app.include_router(create_scheduler_routes(scheduler, prefix="/readonly", read_only=True))
    """
)


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("FASTSCHEDULER_SKIP_BROWSER_TESTS") == "1":
        pytest.skip("FASTSCHEDULER_SKIP_BROWSER_TESTS=1 and /usr/bin/chromium is missing")
    pytest.fail(
        f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium "
        "(or set FASTSCHEDULER_SKIP_BROWSER_TESTS=1 to skip the browser tests)",
        pytrace=False,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[UvicornProcess]:
    (tmp_path / "app.py").write_text(APP)
    proc = UvicornProcess(tmp_path)
    try:
        proc.wait_ready()
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, proc.log()
        log = proc.log()
        assert "Exception in ASGI application" not in log and "without completing response" not in log, log


def _shots_dir(tmp_path: Path) -> Path:
    target = os.environ.get("FASTSCHEDULER_SCREENSHOT_DIR")
    out = Path(target) if target else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.slow
def test_dashboard_in_a_real_browser(server: UvicornProcess, tmp_path: Path) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    shots = _shots_dir(tmp_path)
    url = server.base + "/scheduler/"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="light")
            page = ctx.new_page()
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
            )
            page.goto(url)
            expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
            expect(page.locator("#sched-state")).to_have_text("Running")
            expect(page.locator(".row")).to_have_count(6)

            # Live: the ticker's run count goes up without a reload, and run events arrive fast.
            page.evaluate(
                """() => {
                    window.__lat = [];
                    const es = new EventSource('events');
                    es.addEventListener('run', (ev) => {
                        window.__lat.push(Date.now() / 1000 - JSON.parse(ev.data).timestamp);
                    });
                }"""
            )
            ticker = page.locator('.row[data-job-id="ticker"]')
            runs = ticker.locator(".num")
            expect(runs).not_to_have_text("0", timeout=5_000)
            before = int(runs.inner_text().split("/")[0].replace(",", ""))
            expect(runs).not_to_have_text(str(before), timeout=5_000)
            page.wait_for_function("() => window.__lat.length >= 3", timeout=10_000)
            latencies = page.evaluate("window.__lat")
            assert max(latencies) < 0.5, latencies
            expect(ticker.locator(".last5 i.completed")).not_to_have_count(0)
            expect(page.locator("#st-runs")).not_to_have_text("0")

            # Pause and resume from the row's buttons.
            ticker.get_by_role("button", name="Pause").click()
            expect(ticker.get_by_role("button", name="Resume")).to_be_visible()
            expect(ticker.locator(".dot")).to_have_class(re.compile(r"\bpaused\b"))
            expect(ticker.locator(".next")).to_have_text("paused")
            assert httpx.get(server.base + "/scheduler/api/jobs/ticker").json()["job"]["paused"] is True
            expect(page.locator(".toast").last).to_contain_text("Paused: ticker")
            ticker.get_by_role("button", name="Resume").click()
            expect(ticker.get_by_role("button", name="Pause")).to_be_visible()

            # Run now.
            manual = page.locator('.row[data-job-id="manual"]')
            expect(manual.locator(".num")).to_have_text("0")
            manual.get_by_role("button", name="Run").click()
            expect(manual.locator(".num")).to_have_text("1", timeout=5_000)
            expect(manual.locator(".last5 i.completed")).to_have_count(1)

            # A failing job: its error text contains markup, shown as text everywhere.
            exploder = page.locator('.row[data-job-id="exploder"]')
            exploder.get_by_role("button", name="Run").click()
            expect(page.locator("#count-dead")).to_have_text("1", timeout=5_000)
            expect(exploder.locator(".dot")).to_have_class(re.compile(r"\bfailed\b"))
            page.screenshot(path=str(shots / "dashboard-light.png"))

            page.locator("#tab-history").click()
            expect(page.locator("#h-rows tr").first).to_be_visible()
            page.locator("#h-status").select_option("failed")
            failed_rows = page.locator("#h-rows tr")
            expect(failed_rows).to_have_count(1)
            expect(failed_rows.first.locator("td.err")).to_have_text(f"RuntimeError: {XSS}")
            page.locator("#h-status").select_option("")
            page.locator("#h-job").fill("manual")
            # Wait for the filtered list itself: the row count alone can be the previous filter's
            # one row, just before the unfiltered list (the status reset) arrives.
            expect(page.locator("#h-rows .jid")).to_have_text(["manual"])
            expect(page.locator("#h-rows .badge")).to_have_text("completed")
            page.screenshot(path=str(shots / "history-light.png"))

            page.locator("#tab-dead").click()
            letter = page.locator("#d-list .dl")
            expect(letter).to_have_count(1)
            expect(letter.locator(".dl-msg")).to_have_text(XSS)
            expect(letter.locator(".dl-type")).to_have_text("RuntimeError")
            letter.locator("summary").click()
            expect(letter.locator("pre.tb")).to_contain_text("Traceback (most recent call last)")
            expect(letter.locator("pre.tb")).to_contain_text(f"RuntimeError: {XSS}")
            assert page.locator("script").count() == 2  # the config and the page script: nothing injected
            page.screenshot(path=str(shots / "dead-letters-light.png"))

            # Cleared elsewhere (another dashboard, a script): this page follows at once.
            assert httpx.delete(server.base + "/scheduler/api/dead-letters").json()["cleared"] == 1
            expect(letter).to_have_count(0, timeout=5_000)
            expect(page.locator("#d-empty")).to_be_visible()
            expect(page.locator("#count-dead")).to_have_text("0")

            # Cancel asks for a second click.
            page.locator("#tab-jobs").click()
            cancel = manual.get_by_role("button", name="Cancel")
            cancel.click()
            expect(manual.get_by_role("button", name="Confirm?")).to_be_visible()
            manual.get_by_role("button", name="Confirm?").click()
            expect(page.locator(".row")).to_have_count(5)
            assert httpx.get(server.base + "/scheduler/api/jobs/manual").status_code == 404
            ctx.close()

            # Dark mode, and the read-only mount (no action buttons).
            dark = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
            page = dark.new_page()
            page.on("pageerror", lambda e: problems.append(f"page error (dark): {e}"))
            page.goto(server.base + "/readonly/")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
            expect(page.locator(".row")).to_have_count(5)
            expect(page.get_by_role("button", name="Run")).to_have_count(0)
            expect(page.get_by_role("button", name="Clear all")).to_be_hidden()
            bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert bg == "rgb(13, 17, 23)", bg
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "dashboard-dark-readonly.png"))
            dark.close()
        finally:
            browser.close()
    assert not problems, problems
    print(f"\nscreenshots: {shots}")


def test_missing_chromium_fails_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("FASTSCHEDULER_SKIP_BROWSER_TESTS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="make browser"):
        _require_chromium()
    monkeypatch.setenv("FASTSCHEDULER_SKIP_BROWSER_TESTS", "1")
    with pytest.raises(pytest.skip.Exception):
        _require_chromium()

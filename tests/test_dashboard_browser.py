"""The dashboard end to end: Debian's Chromium (headless, driven by Playwright) against a real
uvicorn serving the app on 127.0.0.1.

Needs /usr/bin/chromium (``make browser`` installs it). Without it this test fails, unless
FASTSCHEDULER_SKIP_BROWSER_TESTS=1. Screenshots go to the test's tmp path, or to
FASTSCHEDULER_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import itertools
import os
import re
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

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
            expect(page.locator("#h-rows .jname")).to_have_text(["manual"])
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
            page.locator(".row", has_text="ticker").get_by_role("link", name="ticker").click()
            expect(page.locator("#jp-name")).to_have_text("ticker")
            expect(page.locator("#jp-hist tr").first).to_be_visible()
            expect(page.locator("#jp-next td.you")).to_have_count(10)
            expect(page.get_by_role("button", name=re.compile("Run|Pause|Resume|Cancel"))).to_have_count(0)
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


# ---------------------------------------------------------------------- the dashboard as a product
# One server for these tests: jobs with default ids (module path and all), every kind of
# schedule, a one-shot that finishes, a failing job, a job in New York. The viewer is in Tokyo.

PRODUCT_APP = textwrap.dedent(
    """
    from contextlib import asynccontextmanager
    from fastapi import FastAPI
    from fastscheduler import FastScheduler
    from fastscheduler.fastapi_integration import create_scheduler_routes

    scheduler = FastScheduler(quiet=True)

    def build_jobs():
        @scheduler.every(1).seconds.name("heartbeat")
        def heartbeat():
            pass

        @scheduler.once(1).name("warm-up")
        def warm_up():
            pass

        @scheduler.every(1).hours.retries(0).name("payment gateway")
        def gateway():
            raise ConnectionError("payment gateway did not answer")

        @scheduler.cron("0 9 * * MON-FRI", tz="America/New_York").name("open market check")
        def open_market_check():
            pass

        @scheduler.cron("*/1 * * * *").name("every minute (cron)")
        def every_minute():
            pass

        @scheduler.weekly.weekdays.at("17:30", tz="America/New_York").name("NY close")
        def ny_close():
            pass

        @scheduler.every(1).hours.name("a job whose name is long enough to fill any column it is given")
        def long_name():
            pass

    build_jobs()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler.start()
        yield
        await scheduler.stop(wait=True)

    app = FastAPI(lifespan=lifespan)
    app.include_router(create_scheduler_routes(scheduler))
    """
)
VIEWER_TZ = "Asia/Tokyo"
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}

#: Elements that stick out of the viewport horizontally (code in a <pre> scrolls inside its box
#: and is left out), and the page's own scroll width.
OVERFLOW_JS = """() => {
    const vw = document.documentElement.clientWidth, bad = [];
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        if (!r.width && !r.height) continue;
        if (r.left >= -0.5 && r.right <= vw + 0.5) continue;
        if (e.closest('pre')) continue;
        bad.push(`${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join('.')} `
                 + `[${Math.round(r.left)}, ${Math.round(r.right)}] ${(e.textContent || '').slice(0, 40)}`);
    }
    return { vw, scrollWidth: document.documentElement.scrollWidth, bad };
}"""
#: Text cut by its box (an ellipsis or a clip): the element's content is wider than the element.
CUT_JS = "(els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornProcess]:
    _require_chromium()
    where = tmp_path_factory.mktemp("product")
    (where / "app.py").write_text(PRODUCT_APP)
    proc = UvicornProcess(where)
    try:
        proc.wait_ready()
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, proc.log()
        assert "Exception in ASGI application" not in proc.log(), proc.log()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Pages:
    """New pages in the viewer's zone; every console error and page error is a problem."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.problems: list[str] = []
        self.contexts: list[Any] = []

    def new(self, viewport: dict[str, int] = DESKTOP, **kwargs: Any) -> Any:
        ctx = self.browser.new_context(
            viewport=viewport, timezone_id=VIEWER_TZ, color_scheme="light", **kwargs
        )
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        return page


@pytest.fixture
def pages(chromium: Any) -> Iterator[Pages]:
    p = Pages(chromium)
    yield p
    for ctx in p.contexts:
        ctx.close()
    assert not p.problems, p.problems


def _jobs(server: UvicornProcess) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in httpx.get(server.base + "/scheduler/api/jobs").json()["jobs"]}


def _job_url(server: UvicornProcess, job_id: str) -> str:
    return f"{server.base}/scheduler/#/job/{quote(job_id, safe='')}"


def _live(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)


def _zoned(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M:%S")


def _fail_gateway(server: UvicornProcess) -> str:
    """Run the failing job once (if it has not failed yet) and wait for its dead letter."""
    gateway = _jobs(server)["payment gateway"]["job_id"]
    api = server.base + "/scheduler/api"
    letters = lambda: httpx.get(f"{api}/dead-letters", params={"job": gateway}).json()  # noqa: E731
    if not letters()["total"]:
        assert httpx.post(f"{api}/jobs/{quote(gateway, safe='')}/run").status_code == 200
        deadline = time.monotonic() + 5
        while not letters()["total"]:
            assert time.monotonic() < deadline, "no dead letter"
            time.sleep(0.05)
    return gateway


@pytest.mark.slow
def test_job_page_is_deep_linkable_with_schedule_fire_times_counters_history_and_actions(
    product: UvicornProcess, pages: Pages
) -> None:
    from playwright.sync_api import expect

    page = pages.new(permissions=["clipboard-read", "clipboard-write"])
    market = _jobs(product)["open market check"]
    _live(page, _job_url(product, market["job_id"]))
    expect(page.locator("#jp-name")).to_have_text("open market check")
    expect(page).to_have_title("open market check · FastScheduler")
    # The schedule in words, and as written.
    expect(page.locator("#jp-sched")).to_have_text("at 09:00, on Mon\u2013Fri")
    expect(page.locator("#jp-sched-kv")).to_contain_text("Cron: 0 9 * * MON-FRI")
    expect(page.locator("#jp-sched-kv")).to_contain_text("America/New_York")
    # The next 10 fire times, in the viewer's zone and in the job's.
    detail = httpx.get(
        f"{product.base}/scheduler/api/jobs/{quote(market['job_id'], safe='')}", params={"next": 10}
    ).json()["job"]
    assert len(detail["next_runs"]) == 10
    expect(page.locator("#jp-next-you")).to_contain_text(VIEWER_TZ)
    expect(page.locator("#jp-next-job")).to_contain_text("America/New_York")
    expect(page.locator("#jp-next td.you")).to_have_text([_zoned(t, VIEWER_TZ) for t in detail["next_runs"]])
    in_new_york = [_zoned(t, "America/New_York") for t in detail["next_runs"]]
    expect(page.locator("#jp-next td.job")).to_have_text(in_new_york)
    assert all(t.endswith(" 09:00:00") and t[:3] not in ("Sat", "Sun") for t in in_new_york)
    # Counters, history and actions: Run now shows up live on the page.
    counters = page.locator("#jp-counters")
    expect(counters).to_contain_text("runs")
    expect(counters.locator(".value").first).to_have_text("0")
    expect(page.locator("#jp-hist-empty")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#jp-hist tr")).to_have_count(1, timeout=5_000)
    expect(page.locator("#jp-hist .badge")).to_have_text("completed")
    expect(counters.locator(".value").first).to_have_text("1")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#jp-status")).to_have_text("paused")
    expect(page.locator("#jp-next-note")).to_contain_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#jp-status")).to_have_text("scheduled")
    # The full id is on the page and copies with one click; a reload stays on the page.
    expect(page.locator("#jp-id")).to_have_text(market["job_id"])
    expect(page.locator("#jp-sid")).to_have_attribute("title", market["job_id"])
    page.locator("#jp-copy").click()
    expect(page.locator(".toast").last).to_have_text("Copied the job id")
    assert page.evaluate("navigator.clipboard.readText()") == market["job_id"]
    page.reload()
    expect(page.locator("#jp-name")).to_have_text("open market check")
    expect(page.locator("#jp-hist tr")).to_have_count(1)

    # A failing job's page: its dead letters and the last traceback.
    gateway = _jobs(product)["payment gateway"]["job_id"]
    page.goto(_job_url(product, gateway))
    expect(page.locator("#jp-name")).to_have_text("payment gateway")
    before = page.locator("#jp-dead .dl").count()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#jp-dead .dl")).to_have_count(before + 1, timeout=5_000)
    expect(page.locator("#jp-tb")).to_contain_text("Traceback (most recent call last)")
    expect(page.locator("#jp-tb")).to_contain_text("ConnectionError: payment gateway did not answer")
    expect(page.locator("#jp-tb-sub")).to_contain_text("ConnectionError")
    expect(page.locator("#jp-hist .badge").first).to_have_text("failed")

    # In and out: the list's name links to the page; back goes back; an unknown id says so.
    page.get_by_role("link", name="← All jobs").click()
    expect(page.locator(".row")).to_have_count(7)
    page.locator(".row", has_text="NY close").get_by_role("link", name="NY close").click()
    expect(page.locator("#jp-name")).to_have_text("NY close")
    assert page.url.endswith("#/job/" + quote(_jobs(product)["NY close"]["job_id"], safe=""))
    page.go_back()
    expect(page.locator("#view-main")).to_be_visible()
    page.goto(product.base + "/scheduler/#/job/no-such-job")
    expect(page.locator("#job-missing")).to_contain_text("There is no job with the id “no-such-job”")
    page.screenshot(path=str(_shots_dir(product.log_path.parent) / "job-missing.png"))


@pytest.mark.slow
def test_ids_are_short_and_schedules_are_not_cut(product: UvicornProcess, pages: Pages) -> None:
    from playwright.sync_api import expect

    page = pages.new()
    _live(page, product.base + "/scheduler/")
    rows = page.locator(".row")
    expect(rows).to_have_count(7)
    jobs = _jobs(product)
    for name, job in jobs.items():
        row = page.locator(f'.row[data-job-id="{job["job_id"]}"]')
        # No module path on screen; the full id is the short id's tooltip.
        assert "build_jobs.<locals>" not in row.inner_text()
        sid = row.locator(".sid")
        expect(sid).to_have_attribute("title", job["job_id"])
        expect(sid).to_have_text(re.compile(r"^[^.]{1,32}$"))
        # The name and the short id share one line: the id takes no line of its own.
        name_box, sid_box = row.locator(".jname").bounding_box(), sid.bounding_box()
        middle = lambda box: box["y"] + box["height"] / 2  # noqa: E731
        assert abs(middle(name_box) - middle(sid_box)) < 3, name
        assert row.bounding_box()["height"] <= 53
    # Schedule texts are shortened in words, never cut; what was in parentheses is a second line.
    cut = page.eval_on_selector_all(".row .sched-words, .row .sched-detail", CUT_JS)
    assert cut == [], cut
    minute = page.locator(f'.row[data-job-id="{jobs["every minute (cron)"]["job_id"]}"]')
    expect(minute.locator(".sched-words")).to_have_text("every minute")
    expect(minute.locator(".sched-detail")).to_have_text("cron */1 * * * * · Etc/UTC")
    close = page.locator(f'.row[data-job-id="{jobs["NY close"]["job_id"]}"]')
    expect(close.locator(".sched-words")).to_have_text("Every Mon\u2013Fri at 17:30")
    expect(close.locator(".sched-detail")).to_have_text("America/New_York")
    expect(close.locator(".c-sched")).to_have_attribute("title", jobs["NY close"]["schedule"])
    long_name = jobs["a job whose name is long enough to fill any column it is given"]
    expect(page.locator(f'.row[data-job-id="{long_name["job_id"]}"] .jname')).to_have_attribute(
        "title", re.compile("^a job whose name is long enough")
    )
    page.screenshot(path=str(_shots_dir(product.log_path.parent) / "ids-desktop.png"))


@pytest.mark.slow
def test_chart_has_a_time_axis_a_window_and_values_on_hover(product: UvicornProcess, pages: Pages) -> None:
    from playwright.sync_api import expect

    page = pages.new()
    _live(page, product.base + "/scheduler/")
    # A young scheduler: the window that fits its data is the shortest, in 10 s bars.
    expect(page.locator('#chart-windows [data-win="5m"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#chart-unit")).to_have_text("per 10 s")
    expect(page.locator("#chart rect.b").first).to_be_visible(timeout=15_000)
    expect(page.locator("#yaxis .yl").first).to_have_text("0")

    def axis() -> list[int]:
        labels = page.locator("#xaxis span").all_inner_texts()
        assert labels and all(re.fullmatch(r"\d\d:\d\d", t) for t in labels), labels
        minutes = [int(t[:2]) * 60 + int(t[3:]) for t in labels]
        return [(b - a) % 1440 for a, b in itertools.pairwise(minutes)]

    assert len(page.locator("#xaxis span").all()) >= 4 and set(axis()) == {1}
    # Values on hover: the newest bar with runs.
    # (a live update may redraw the bars between finding the newest and measuring it: look again)
    box = None
    for _ in range(50):
        box = page.locator("#chart rect.b").last.bounding_box()
        if box is not None:
            break
        page.wait_for_timeout(100)
    assert box is not None, "no bar to hover"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator("#chart-tip")
    expect(tip).to_be_visible()
    when = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d"  # the date only on another day (around midnight)
    expect(tip).to_contain_text(re.compile(f"^{when} \u2013 {when}\\d+ runs?"))
    expect(page.locator("#chart rect.b.hi")).to_have_count(1)
    card, tip_box = page.locator("#chart-card").bounding_box(), tip.bounding_box()
    assert card["x"] <= tip_box["x"] and tip_box["x"] + tip_box["width"] <= card["x"] + card["width"]
    page.screenshot(path=str(_shots_dir(product.log_path.parent) / "chart-hover.png"))
    page.mouse.move(5, 5)
    expect(tip).to_be_hidden()
    # Other windows: their bar sizes and time labels; the choice outlives a reload.
    for win, unit, step in (("30m", "per 30 s", 5), ("1h", "per minute", 10), ("24h", "per 15 min", 180)):
        page.locator(f'#chart-windows [data-win="{win}"]').click()
        expect(page.locator(f'#chart-windows [data-win="{win}"]')).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#chart-unit")).to_have_text(unit)
        assert set(axis()) == {step}, win
        expect(page.locator("#chart rect.b").first).to_be_visible()
    page.reload()
    expect(page.locator('#chart-windows [data-win="24h"]')).to_have_attribute("aria-pressed", "true")


@pytest.mark.slow
def test_nothing_overflows_a_390px_phone(product: UvicornProcess, pages: Pages) -> None:
    from playwright.sync_api import expect

    gateway = _fail_gateway(product)
    jobs = _jobs(product)
    page = pages.new(PHONE)
    shots = _shots_dir(product.log_path.parent)
    _live(page, product.base + "/scheduler/")
    expect(page.locator(".row")).to_have_count(7)

    def check(where: str) -> None:
        page.wait_for_timeout(300)  # a frame or two for late layout (the chart, the list)
        out = page.evaluate(OVERFLOW_JS)
        assert out["bad"] == [] and out["scrollWidth"] <= 390, (where, out)

    check("jobs")
    # The statistics are whole numbers, not "80.…".
    assert page.eval_on_selector_all(".card .value", CUT_JS) == []
    # Each job is a card: its next run and its actions are on screen, inside the viewport.
    for row in page.locator(".row").all():
        for part in [row.locator(".next"), *row.locator("button:visible").all()]:
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, row.inner_text()
    page.screenshot(path=str(shots / "phone-jobs.png"), full_page=True)
    page.locator("#tab-history").click()
    expect(page.locator("#h-rows tr").first).to_be_visible()
    check("history")
    page.screenshot(path=str(shots / "phone-history.png"), full_page=True)
    page.locator("#tab-dead").click()
    expect(page.locator("#d-list .dl").first).to_be_visible()
    page.locator("#d-list summary").first.click()
    check("dead letters")
    long_name = next(j for n, j in jobs.items() if "long" in n)
    for job_id in (jobs["open market check"]["job_id"], long_name["job_id"], gateway):
        page.goto(_job_url(product, job_id))
        expect(page.locator("#jp-name")).not_to_be_empty()
        expect(page.locator("#jp-next-table, #jp-next-note").first).to_be_visible()
        check(f"job page {job_id}")
        for button in page.locator("#jp-acts button:visible").all():
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(page.locator("#jp-tb")).to_be_visible()
    page.screenshot(path=str(shots / "phone-job.png"), full_page=True)


@pytest.mark.slow
def test_small_truths(product: UvicornProcess, pages: Pages) -> None:
    from playwright.sync_api import expect

    gateway = _fail_gateway(product)
    jobs = _jobs(product)
    page = pages.new()
    _live(page, product.base + "/scheduler/")
    row = lambda name: page.locator(f'.row[data-job-id="{jobs[name]["job_id"]}"]')  # noqa: E731

    # A finished one-shot job offers to run again or be removed, not Run, Pause and Cancel.
    warm_up = row("warm-up")
    expect(warm_up.locator(".next")).to_have_text("done", timeout=5_000)
    expect(warm_up.get_by_role("button", name="Run again")).to_be_visible()
    expect(warm_up.get_by_role("button", name="Remove")).to_be_visible()
    for scheduled_only in ("Run", "Pause", "Cancel"):
        expect(warm_up.get_by_role("button", name=scheduled_only, exact=True)).to_have_count(0)
    expect(warm_up.locator(".dot")).to_have_class(re.compile(r"\bdone\b"))
    expect(warm_up.locator(".dot")).to_have_attribute("title", re.compile("^finished"))
    expect(warm_up.locator(".next")).to_have_attribute("title", re.compile("^Ran once, at "))

    # A failed job's dot and its tooltip say the same.
    dot = row("payment gateway").locator(".dot")
    expect(dot).to_have_class(re.compile(r"\bfailed\b"))
    expect(dot).to_have_attribute("title", "scheduled · last run failed")
    ok_dot = row("heartbeat").locator(".dot")
    expect(ok_dot).not_to_have_class(re.compile(r"\bfailed\b"))
    expect(ok_dot).to_have_attribute("title", re.compile(r"last run completed$"))

    # The next-run tooltip names its zones: the viewer's, and the job's when it differs.
    here = f"({VIEWER_TZ}, your time)"
    expect(row("heartbeat").locator(".next")).to_have_attribute("title", re.compile(re.escape(here)))
    ny = row("NY close").locator(".next").get_attribute("title") or ""
    assert f"({VIEWER_TZ}, your time)" in ny and "(America/New_York, the job's zone)" in ny, ny
    assert re.search(r"\d\d:\d\d:\d\d", ny)

    # Durations under 1 ms in µs.
    page.goto(_job_url(product, jobs["heartbeat"]["job_id"]))
    durations = page.locator("#jp-hist td.dur")
    expect(durations.first).to_be_visible(timeout=5_000)
    texts = durations.all_inner_texts()
    assert "0.0 ms" not in texts and any(re.fullmatch(r"\d+ µs", t) for t in texts), texts

    # Times of today show the time; of an earlier day, the date too (history and dead letters).
    page.goto(product.base + "/scheduler/#/history")
    expect(page.locator("#h-rows td").first).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    later = pages.new()
    later.clock.set_fixed_time(datetime.now() + timedelta(days=2))
    _live(later, product.base + "/scheduler/#/history")
    expect(later.locator("#h-rows td").first).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    later.locator("#tab-dead").click()
    letter = later.locator(f'#d-list .dl[data-job-id="{gateway}"] .when').first
    expect(letter).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))

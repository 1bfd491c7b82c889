"""The dashboard in a real browser: Chromium from the OS, driven by Playwright through Solara's
pytest plugin (pytest-ipywidgets). The tests share one page and run in order, as a class would:
load, play, change a rule on one side, follow a lesson, read a career, look at the hierarchy.

Screenshots of every view are kept in test-artifacts/dashboard/ (git-ignored).
Without a browser these tests are skipped; install one with `apt-get install -y chromium`
(Debian, Ubuntu), or point PIPELINE_SIM_CHROMIUM at a Chromium or Chrome executable.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright.sync_api", reason='needs Playwright: pip install -e ".[test]"')
pytest.importorskip("solara.server.starlette", reason='needs Solara: pip install -e ".[test]"')

CHROMIUM = os.environ.get("PIPELINE_SIM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file() and os.environ.get("PIPELINE_SIM_REQUIRE_BROWSER"):
    raise RuntimeError(f"PIPELINE_SIM_REQUIRE_BROWSER is set but there is no Chromium at {CHROMIUM}")
if not Path(CHROMIUM).is_file():
    pytest.skip(
        "no Chromium to drive: install one with `apt-get install -y chromium` (Debian, Ubuntu) "
        "or set PIPELINE_SIM_CHROMIUM to a Chromium or Chrome executable",
        allow_module_level=True,
    )

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
TIMEOUT = 60_000  # ms: the machine may be busy


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def solara_server():
    """Solara's test server, bound to 127.0.0.1 as the dashboard is."""
    from solara.server.starlette import ServerStarlette

    server = ServerStarlette(_free_port(), "127.0.0.1")
    server.serve_threaded()
    server.wait_until_serving()
    yield server
    server.stop_serving()


class Dash:
    def __init__(self, page, app, url: str):
        self.page, self.app, self.url = page, app, url
        self.errors: list[str] = []
        self.requests: list[str] = []

    @property
    def session(self):
        return self.app.LAST["session"]

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def button(self, label: str):
        return self.page.get_by_role("button", name=label, exact=True)

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()
        time.sleep(0.5)  # let the tab settle (transitions are off, the charts resize)

    def wait_for(self, condition, what: str, seconds: float = 60.0) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def choose(self, container: str, label: str, option: str) -> None:
        """Pick an option of a Vuetify select, found by its label inside `container`."""
        field = self.page.locator(f"{container} .v-select").filter(has_text=label).first
        field.click()
        menu = self.page.locator(".menuable__content__active")
        menu.get_by_text(option, exact=True).click()
        menu.wait_for(state="hidden", timeout=TIMEOUT)

    def plot_points(self, index: int, trace: int) -> int:
        return self.page.evaluate(
            "([i, t]) => { const g = document.querySelectorAll('.js-plotly-plot')[i];"
            " return g && g.data && g.data[t] ? g.data[t].x.length : -1 }",
            [index, trace],
        )


@pytest.fixture(scope="module")
def dash(solara_server, page_session):
    import solara.server.app

    settings = {
        "PIPELINE_SIM_DASHBOARD_SEEDS": "2",
        "PIPELINE_SIM_DASHBOARD_SCENARIO": "",
        "PIPELINE_SIM_DASHBOARD_LESSONS": "",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    if "__default__" in solara.server.app.apps:
        solara.server.app.apps["__default__"].close()
    app_script = solara.server.app.AppScript("pipeline_sim.dashboard.app")
    app_script.init()
    solara.server.app.apps["__default__"] = app_script
    from pipeline_sim.dashboard import app

    page = page_session
    page.set_default_timeout(TIMEOUT)
    d = Dash(page, app, solara_server.base_url)
    page.on(
        "console", lambda m: d.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: d.errors.append(f"page error: {e}"))
    page.on("request", lambda r: d.requests.append(r.url))
    page.goto(d.url)
    page.get_by_text("Side A", exact=True).wait_for()
    page.add_style_tag(
        content="*, *::before, *::after { transition: none !important; animation: none !important }"
    )
    yield d
    page.goto("about:blank")
    d.session.stop()
    app_script.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_the_page_loads(dash):
    page = dash.page
    page.get_by_text("Side B", exact=True).wait_for()
    page.get_by_text("Not started of 2040").wait_for()
    for label in ("Play", "One year", "One term", "Reset"):
        assert dash.button(label).is_visible()
    assert dash.session.year == 2020


def test_play_advances_the_years_and_the_charts_grow(dash):
    page = dash.page
    dash.choose(".controller", "Speed", "slow (1 year/s)")
    dash.button("Play").click()
    dash.wait_for(lambda: dash.plot_points(0, 1) >= 1, "side A's line in the first chart")
    grown = dash.plot_points(0, 1)
    dash.wait_for(lambda: dash.plot_points(0, 1) > grown, "the charts to grow")
    dash.button("Pause").click()
    dash.button("Play").wait_for()
    year = dash.session.year
    page.get_by_text(f"Year {year} of 2040").wait_for()
    time.sleep(1.0)
    assert dash.session.year == year  # paused
    dash.wait_for(lambda: dash.plot_points(0, 1) == year - 2020, "the chart to show every year")
    dash.shot("compare-playing")


def test_a_control_changes_side_a_from_the_next_year_and_not_side_b(dash):
    page = dash.page
    dash.button("Reset").click()
    page.get_by_text("Not started of 2040").wait_for()
    dash.button("One year").click()
    page.get_by_text("Year 2021 of 2040").wait_for()
    dash.choose(".side-A", "Selection rule", "worst_first")
    dash.wait_for(lambda: dash.session.sides["A"].changes, "the change to reach side A")
    for year in (2022, 2023, 2024, 2025):
        dash.button("One year").click()
        page.get_by_text(f"Year {year} of 2040").wait_for()
    a, b = dash.session.sides["A"], dash.session.sides["B"]
    assert [(c.year, c.control, c.value) for c in a.changes] == [(2022, "selection", "worst_first")]
    assert b.changes == [] and b.controls()["selection"] == "merit"
    quality_a, quality_b = a.history["quality_in_office"], b.history["quality_in_office"]
    assert quality_a[0] == quality_b[0]  # 2021: same seed, same rules
    assert quality_a[1:] != quality_b[1:]  # from 2022 on, A's rule differs
    from pipeline_sim.dashboard.sim import Session

    alone = Session(dash.session.scenario, extra_seeds=0)
    alone.step(5)
    assert alone.sides["B"].history == b.history  # B ran exactly as if nothing had happened to A
    page.locator(".side-A").get_by_text("from 2022: Selection rule: worst first").wait_for()
    n_marks = page.evaluate("() => document.querySelectorAll('.js-plotly-plot')[0].layout.shapes.length")
    assert n_marks == 6  # one dotted line at 2021.5 in each of the six charts
    dash.shot("compare-changed")


def test_a_lesson_sets_both_sides(dash):
    page = dash.page
    dash.tab("Lessons")
    page.get_by_text("Open or closed planning").first.wait_for()
    dash.button("Start again with these rules").click()
    dash.wait_for(
        lambda: dash.session.sides["B"].controls()["planning_mode"] == "open" and dash.session.year == 2020,
        "the lesson to set side B",
    )
    assert dash.session.sides["A"].controls()["planning_mode"] == "closed"
    assert dash.session.sides["A"].controls()["selection"] == "merit"  # the lesson starts afresh
    dash.button("Run 10 years").click()
    page.get_by_text("Year 2030 of 2040").wait_for()
    page.get_by_text("Question for the class").wait_for()
    dash.shot("lessons")
    dash.tab("Compare")
    side_b = page.locator(".side-B .v-select").filter(has_text="Planning").first
    assert "open" in side_b.inner_text()
    dash.shot("compare-lesson")


def test_the_career_view_shows_a_timeline(dash):
    page = dash.page
    dash.tab("Career")
    dash.choose(".career-view", "Someone who", "was rotated")
    dash.button("Find one").click()
    page.locator(".career-timeline").get_by_text("What happened").wait_for()
    timeline = page.locator(".career-timeline").inner_text()
    assert "rotated" in timeline
    assert "born" in page.locator(".career-heading").inner_text()
    dash.shot("career")


def test_the_hierarchy_shows_a_units_posts(dash):
    page = dash.page
    dash.tab("Hierarchy")
    page.locator(".js-plotly-plot .treemap").first.wait_for()
    # a click on a unit's own posts in the treemap selects the unit
    time.sleep(1.0)  # the treemap redraws when its tab is shown
    dash.shot("hierarchy")
    box = page.locator(".js-plotly-plot .treemap text", has_text="District 3: own posts").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("District 3 (district").wait_for()
    dash.choose(".unit-detail", "Unit", "District 2")
    page.get_by_text("District 2 (district").wait_for()
    detail = page.locator(".unit-detail").inner_text()
    assert "Party secretary" in detail and "planning pool" in detail.lower()
    time.sleep(1.5)  # plotly zooms into the clicked unit
    dash.shot("hierarchy-unit")


def test_no_console_errors_and_no_request_leaves_this_machine(dash):
    assert dash.errors == []
    hosts = {
        urlsplit(url).hostname for url in dash.requests if urlsplit(url).scheme in ("http", "https", "ws")
    }
    assert hosts == {"127.0.0.1"}, hosts
    assert dash.app.CDN_MISSES == []  # and the server fetched nothing for the page either

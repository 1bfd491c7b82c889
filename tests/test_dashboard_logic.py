"""The dashboard without a browser: controls, lessons, the two sides and their bands, readable views,
and the Solara components rendered with solara's test helpers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipeline_sim.dashboard.controls import CONTROLS, control_values, describe, scenario_changes
from pipeline_sim.dashboard.lessons import LessonError, load_lessons, parse_lesson
from pipeline_sim.dashboard.sim import OUTCOMES, Session
from pipeline_sim.dashboard.views import (
    GradeBook,
    cadre_name,
    career_lines,
    interesting_cadres,
    unit_names,
    unit_posts,
    unit_table,
)
from pipeline_sim.scenario import load_scenario

SCEN = {"name": "teach", "simulation": {"years": 12}, "hierarchy": {"preset": "teaching"}}


@pytest.fixture
def scenario():
    return load_scenario(SCEN)


# --- controls ------------------------------------------------------------------------------------


def test_every_control_reads_and_sets_a_valid_scenario(scenario):
    values = control_values(scenario)
    assert set(values) == set(CONTROLS)
    assert values["planning_mode"] == "closed" and values["nonlocal_rule"] is False
    changed = {
        "planning_mode": "open",
        "planning_review": "rigid",
        "pool_size": 2,
        "removal": "lenient",
        "rotation_rate": 0.1,
        "two_term_rule": False,
        "nonlocal_rule": True,
        "selection": "patronage",
        "fast_track": True,
        "structure_targets": False,
        "control_of_power": 0.8,
    }
    assert set(changed) == set(CONTROLS)
    new = load_scenario(scenario.model_dump(mode="json"), overrides=scenario_changes(changed))
    assert control_values(new) == changed
    assert new.appointment.selection == "patronage"  # the selection rule sets both keys


def test_controls_refuse_values_of_the_wrong_kind():
    with pytest.raises(ValueError, match="one of"):
        CONTROLS["planning_mode"].check("sideways")
    with pytest.raises(ValueError, match="true or false"):
        CONTROLS["fast_track"].check(1)
    with pytest.raises(ValueError, match="whole number"):
        CONTROLS["pool_size"].check(2.5)
    with pytest.raises(ValueError, match=r"from 0 to 0\.2"):
        CONTROLS["rotation_rate"].check(0.5)
    assert describe("selection", "worst_first") == "Selection rule: worst first"
    assert describe("fast_track", True).endswith(": on")


# --- lessons -------------------------------------------------------------------------------------


def test_the_shipped_lessons_are_valid_and_cover_the_topics():
    lessons = load_lessons()
    assert len(lessons) >= 4
    titles = " ".join(lesson.title.lower() for lesson in lessons)
    for topic in ("planning", "removal", "rotation", "patronage"):
        assert topic in titles
    for lesson in lessons:
        assert lesson.steps[0].reset, f"{lesson.source}: the first step should start both sides again"
        for step in lesson.steps:
            assert step.question and step.watch
            assert all(m in OUTCOMES for m in step.watch), lesson.source


GOOD = """
title = "T"
[[steps]]
title = "S"
a = { planning_mode = "open" }
"""


def test_lesson_errors_name_the_file_and_the_key():
    assert parse_lesson(GOOD, "x.toml").steps[0].a == {"planning_mode": "open"}
    cases = {
        GOOD.replace("planning_mode", "planing_mode"): "x.toml: steps.0.a: planing_mode: unknown control",
        GOOD.replace('"open"', '"sideways"'): "x.toml: steps.0.a: planning_mode: expected one of",
        GOOD.replace('title = "S"', 'title = "S"\nyeras = 3'): "x.toml: steps.0.yeras: unknown key",
        GOOD.replace('title = "T"', ""): "x.toml: title: required key is missing",
        GOOD.replace('title = "S"', 'title = "S"\nwatch = ["happiness"]'): "x.toml: steps.0.watch",
        "title = ": "x.toml: malformed TOML",
    }
    for text, message in cases.items():
        with pytest.raises(LessonError) as info:
            parse_lesson(text, "x.toml")
        assert message in str(info.value), str(info.value)


def test_a_teachers_folder(tmp_path):
    with pytest.raises(LessonError, match="no lesson files"):
        load_lessons(tmp_path)
    (tmp_path / "mine.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.toml").write_text(GOOD.replace("planning_mode", "nope"), encoding="utf-8")
    with pytest.raises(LessonError) as info:
        load_lessons(tmp_path)
    assert "bad.toml: steps.0.a: nope: unknown control" in str(info.value)
    (tmp_path / "bad.toml").unlink()
    assert [lesson.title for lesson in load_lessons(tmp_path)] == ["T"]
    with pytest.raises(LessonError, match="no such lessons folder"):
        load_lessons(tmp_path / "missing")


# --- the two sides -------------------------------------------------------------------------------


def test_both_sides_share_the_seed_until_a_rule_changes(scenario):
    s = Session(scenario, extra_seeds=0)
    s.step(3)
    a, b = s.sides["A"], s.sides["B"]
    assert a.history == b.history and a.years == [2021, 2022, 2023]
    change = s.set_control("A", "selection", "worst_first")
    assert change.year == 2024 and "worst first" in change.text
    assert s.set_control("A", "selection", "worst_first") is None  # no change, no mark
    s.step(4)
    assert a.history["quality_in_office"][:3] == b.history["quality_in_office"][:3]
    assert a.history["quality_in_office"][3:] != b.history["quality_in_office"][3:]
    fresh = Session(scenario, extra_seeds=0)
    fresh.step(7)
    assert fresh.sides["B"].history == b.history  # B did not notice A's change


def test_a_term_reset_and_a_lesson_step(scenario):
    s = Session(scenario, extra_seeds=0)
    s.step(2)
    s.step_term()
    assert s.year == 2025  # the end of the first term (2021-2025)
    s.step_term()
    assert s.year == 2030
    s.set_control("B", "planning_mode", "open")
    s.reset()
    assert s.year == 2020 and s.sides["B"].controls()["planning_mode"] == "open"
    assert s.sides["B"].changes == [] and s.sides["B"].history["bench_strength"] == []
    s.apply({"removal": "strict"}, {"removal": "lenient"}, reset=True)
    assert s.sides["A"].controls()["removal"] == "strict"
    assert s.sides["B"].controls()["removal"] == "lenient"
    assert s.sides["B"].controls()["planning_mode"] == "closed"  # a lesson starts from the scenario
    s.step(1)
    s.apply({"pool_size": 1}, {"pool_size": 2})
    assert [c.year for c in s.sides["A"].changes] == [2022]
    assert s.sides["B"].model.pools.shape[1] == 2


def test_the_bands_follow_the_sides_rule_changes(scenario):
    s = Session(scenario, extra_seeds=2)
    s.step(2)
    s.set_control("A", "pool_size", 1)
    s.step(2)
    while s.catch_up():
        pass
    band = s.band("A")
    assert band.years == [2021, 2022, 2023, 2024]
    assert all(m.pools.shape[1] == 1 for m in band.models)
    assert all(m.pools.shape[1] == 3 for m in s.band("B").models)
    years, low, high = band.range("bench_strength")
    assert len(years) == 4 and all(lo <= hi for lo, hi in zip(low, high, strict=True))
    # the background thread catches up by itself and stops on reset
    s.step(1)
    s.start_background()
    for _ in range(200):
        if s.band("B").years[-1:] == [2025]:
            break
        threading.Event().wait(0.05)
    assert s.band("B").years[-1] == 2025
    s.reset()
    assert s.band("A").years == []
    s.stop()


# --- readable views ------------------------------------------------------------------------------


def test_units_posts_and_names(scenario):
    s = Session(scenario, extra_seeds=0)
    s.step(3)
    m = s.sides["A"].model
    names = unit_names(m)
    assert names[0] == "Province" and names[1] == "District 1" and "Commune 1.1" in names
    assert len(set(names)) == len(names)
    table = unit_table(m)
    assert table["posts"].sum() == m.posts.n
    assert table["vacancies"].sum() == int((m.posts.holder < 0).sum())
    assert table.loc[0, "parent"] == "" and (table["parent"][1:] != "").all()
    posts = unit_posts(m, 0)
    assert posts.iloc[0]["post"] == "Party secretary" and posts.iloc[0]["key post"] == "key"
    holder = m.posts.holder[0]
    if holder >= 0:
        assert posts.iloc[0]["holder"] == cadre_name(m.cadres.uid[holder], m.cadres.female[holder])
    assert cadre_name(7, True) == cadre_name(7, True) != cadre_name(8, True)


def test_careers_in_words(scenario):
    s = Session(scenario, extra_seeds=0)
    book = GradeBook()
    for _ in range(6):
        s.step()
        book.record(s.sides["A"].model)
    m = s.sides["A"].model
    stories = interesting_cadres(m)
    assert set(stories) == {
        "became provincial secretary",
        "was rotated",
        "was disciplined",
        "was planned but never appointed",
    }
    assert stories["was rotated"] and stories["was planned but never appointed"]
    uid = stories["was rotated"][0]
    heading, lines = career_lines(m, uid, book)
    assert f"#{uid}" in heading and "born" in heading
    assert any(line["kind"] == "rotation" and line["text"].startswith("rotated") for line in lines)
    assert any(line["kind"] == "grade" for line in lines)
    assert [line["year"] for line in lines] == sorted(line["year"] for line in lines)
    newcomer = int(m.events_frame().query("kind == 'entry'")["cadre"].iloc[0])
    _, lines = career_lines(m, newcomer, book)
    assert lines[0]["text"].startswith("entered the service")
    with pytest.raises(KeyError):
        career_lines(m, 10**9)


# --- components, rendered without a browser ------------------------------------------------------


def _find(widget, kind, found=None):
    found = [] if found is None else found
    if isinstance(widget, kind):
        found.append(widget)
    for child in getattr(widget, "children", None) or []:
        if hasattr(child, "model_id"):
            _find(child, kind, found)
    return found


def _button(box, label: str):
    import ipyvuetify as v

    for b in _find(box, v.Btn):
        if label in [c for c in b.children if isinstance(c, str)]:
            return b
    raise AssertionError(f"no button {label!r}")


@pytest.fixture
def dash_page(monkeypatch):
    solara = pytest.importorskip("solara")
    pytest.importorskip("mesa.visualization")
    monkeypatch.setenv("PIPELINE_SIM_DASHBOARD_SEEDS", "1")
    from pipeline_sim.dashboard import app

    box, rc = solara.render(app.Page(), handle_error=False)
    session = app.LAST["session"]
    yield box, session
    rc.close()
    session.stop()


def test_the_page_steps_and_the_charts_grow(dash_page):
    box, session = dash_page
    from plotly.graph_objs._figurewidget import FigureWidget

    _button(box, "One year").click()
    _button(box, "One year").click()
    assert session.year == 2022
    figures = _find(box, FigureWidget)
    assert len(figures) >= 2
    outcome = figures[0]
    assert list(outcome.data[1].x) == [2021, 2022]  # side A's line of the first outcome
    _button(box, "One term").click()
    assert session.year == 2025
    assert len(outcome.data[1].x) == 5
    _button(box, "Reset").click()
    assert session.year == 2020 and list(outcome.data[1].x) == []


def test_a_changed_control_is_marked_on_the_charts(dash_page):
    box, session = dash_page
    from plotly.graph_objs._figurewidget import FigureWidget

    _button(box, "One year").click()
    session.set_control("A", "planning_mode", "open")
    _button(box, "One year").click()
    outcome = _find(box, FigureWidget)[0]
    marks = [shape for shape in outcome.layout.shapes if shape.x0 == 2021.5]
    assert len(marks) == len(OUTCOMES)


def test_a_lesson_step_sets_both_sides(dash_page):
    box, session = dash_page
    _button(box, "Start again with these rules").click()
    first = load_lessons()[0].steps[0]
    for side, values in (("A", first.a), ("B", first.b)):
        for name, value in values.items():
            assert session.sides[side].controls()[name] == value
    _button(box, f"Run {first.years} years").click()
    assert session.year == 2020 + first.years


def test_the_career_view_tells_a_story(dash_page):
    box, _ = dash_page
    import ipyvuetify as v

    _button(box, "One term").click()
    tabs = _find(box, v.Tabs)[0]
    tabs.v_model = 2  # the Career tab
    _button(box, "Find one").click()
    html = " ".join(w.unsafe_innerHTML or "" for w in _find(box, object) if hasattr(w, "unsafe_innerHTML"))
    assert "What happened" in html
    assert "<td" in html and "Assessed" in html


def test_unit_numbers_are_consistent_with_the_model(scenario):
    s = Session(scenario, extra_seeds=0)
    s.step(5)
    m = s.sides["B"].model
    table = unit_table(m)
    key_vacant = int(((m.posts.holder < 0) & m.posts.key).sum())
    assert table["key_vacancies"].sum() == key_vacant
    assert np.nanmax(table["bench"]) <= 1.0


def test_treemap_points_map_back_to_units(scenario):
    pytest.importorskip("solara")
    pytest.importorskip("mesa.visualization")
    from pipeline_sim.dashboard.app import treemap_points

    s = Session(scenario, extra_seeds=0)
    table = unit_table(s.sides["A"].model)
    unit_of, columns = treemap_points(table)
    assert len(unit_of) == len(columns["ids"]) == len(set(columns["ids"]))
    assert sum(columns["values"]) == table["posts"].sum()  # every post counted once
    own = [i for i, label in enumerate(columns["labels"]) if label.endswith("own posts")]
    assert len(own) == 1 + 6  # the province and its six districts
    assert [columns["labels"][i] for i in own][:2] == ["Province: own posts", "District 1: own posts"]
    assert all(columns["parents"][i] == table["name"][unit_of[i]] for i in own)

"""The Solara app of the teaching dashboard: `solara run pipeline_sim.dashboard.app`, or
`pipeline-sim dashboard`, which sets the scenario and lessons through the environment:

- ``PIPELINE_SIM_DASHBOARD_SCENARIO``: scenario file (default: the teaching structure)
- ``PIPELINE_SIM_DASHBOARD_LESSONS``: lessons folder (default: the lessons shipped with the package)
- ``PIPELINE_SIM_DASHBOARD_SEEDS``: extra seeds per side for the bands (default 3)
"""

from __future__ import annotations

import html
import os
import threading
import time
import weakref
from typing import Any

import plotly.graph_objects as go
import solara
import solara.lab
import solara.server.settings
from mesa.visualization.solara_viz import UserInputs
from plotly.subplots import make_subplots
from solara.server import cdn_helper

from pipeline_sim.dashboard.controls import CONTROLS, describe
from pipeline_sim.dashboard.lessons import Lesson, LessonError, load_lessons
from pipeline_sim.dashboard.sim import OUTCOMES, Session, teaching_scenario
from pipeline_sim.dashboard.views import (
    GradeBook,
    career_lines,
    interesting_cadres,
    unit_posts,
    unit_table,
)

#: outcomes that are shares (percent axes; differences in percentage points)
SHARES = {"succession_gap_rate", "bench_strength", "women_in_office", "young_in_office"}
COLOURS = {"A": "#1f77b4", "B": "#d62728"}
BANDS = {"A": "rgba(31,119,180,0.15)", "B": "rgba(214,39,40,0.15)"}
SPEEDS = {"slow (1 year/s)": 1000, "normal (2 years/s)": 500, "fast (4 years/s)": 250, "fastest": 0}
COLOUR_BY = {"vacancies": "vacancies", "succession gaps": "gaps", "bench strength": "bench"}

# the page must not call out to anyone: no usage statistics, and assets only from the local cache
# (the solara-assets package); what is not there is refused, not fetched from a CDN
solara.server.settings.telemetry.mixpanel_enable = False
CDN_MISSES: list[str] = []


def _refuse_cdn(url: str) -> bytes:
    CDN_MISSES.append(url)
    raise RuntimeError(f"{url}: not in the local asset cache, and the dashboard fetches nothing from outside")


cdn_helper.fetch_from_cdn = _refuse_cdn

#: the sessions of open pages (for tests and benchmarks)
SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()
LAST: dict[str, Any] = {}


def new_session() -> Session:
    path = os.environ.get("PIPELINE_SIM_DASHBOARD_SCENARIO") or None
    seeds = int(os.environ.get("PIPELINE_SIM_DASHBOARD_SEEDS", "3"))
    session = Session(teaching_scenario(path), extra_seeds=seeds)
    session.grades = {name: GradeBook() for name in session.sides}
    SESSIONS.add(session)
    LAST["session"] = session
    return session


def lessons() -> list[Lesson]:
    folder = os.environ.get("PIPELINE_SIM_DASHBOARD_LESSONS") or None
    return load_lessons(folder)


def _lessons_or_error() -> tuple[list[Lesson], str]:
    try:
        return lessons(), ""
    except LessonError as exc:
        return [], str(exc)


def advance(session: Session, years: int = 1) -> None:
    """Step both sides and record the grades of the year (for careers)."""
    for _ in range(years):
        if session.finished:
            return
        session.step()
        for name, side in session.sides.items():
            session.grades[name].record(side.model)


# ---------------------------------------------------------------------------------------------
# figures


def _xy_band(years: list[int], low: list[float], high: list[float]) -> tuple[list, list]:
    return years + years[::-1], high + low[::-1]


def outcome_figure() -> go.Figure:
    """The empty figure of the headline outcomes: per outcome, band and line of A, then of B."""
    names = list(OUTCOMES)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[OUTCOMES[m] for m in names])
    for i in range(len(names)):
        row, col = i // 3 + 1, i % 3 + 1
        for side_name in ("A", "B"):
            fig.add_trace(
                go.Scatter(
                    x=[],
                    y=[],
                    fill="toself",
                    fillcolor=BANDS[side_name],
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=i == 0,
                    name=f"{side_name}, other seeds",
                    legendgroup=side_name,
                ),
                row=row,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=[],
                    y=[],
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": COLOURS[side_name]},
                    name=side_name,
                    legendgroup=side_name,
                    showlegend=i == 0,
                ),
                row=row,
                col=col,
            )
    fig.update_layout(
        height=520,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.08},
    )
    for i, metric in enumerate(names):  # shares as percent
        if metric in SHARES:
            fig.update_yaxes(tickformat=".1%", row=i // 3 + 1, col=i % 3 + 1)
    return fig


def update_outcomes(fig, session: Session) -> None:
    """Put the sides' histories, the bands and the change marks into the outcome figure."""
    for i, metric in enumerate(OUTCOMES):
        for j, side_name in enumerate(("A", "B")):
            side = session.sides[side_name]
            band, line = fig.data[4 * i + 2 * j], fig.data[4 * i + 2 * j + 1]
            band.x, band.y = _xy_band(*session.band(side_name).range(metric))
            line.x, line.y = list(side.years), list(side.history[metric])
    axes = ["", *(str(k) for k in range(2, len(OUTCOMES) + 1))]
    fig.layout.shapes = [
        _mark(change.year, side_name, f"x{ax}", f"y{ax} domain")
        for side_name, side in session.sides.items()
        for change in side.changes
        for ax in axes
    ]


def _mark(year: int, side: str, xref: str, yref: str) -> dict:
    return {
        "type": "line",
        "x0": year - 0.5,
        "x1": year - 0.5,
        "y0": 0,
        "y1": 1,
        "xref": xref,
        "yref": yref,
        "line": {"color": COLOURS[side], "dash": "dot", "width": 1.5},
    }


def difference_figure() -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            fill="toself",
            fillcolor="rgba(120,120,120,0.2)",
            mode="lines",
            line={"width": 0},
            name="A − B, other seeds",
            hoverinfo="skip",
        )
    )
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", line={"color": "black"}, name="A − B"))
    fig.update_layout(height=300, margin={"l": 40, "r": 10, "t": 40, "b": 30})
    return fig


def difference(session: Session, metric: str) -> tuple[list, list, list, list, list]:
    """(years, A − B, band years, band low, band high): the band pairs the extra seeds by seed."""
    a, b = session.sides["A"], session.sides["B"]
    n = min(len(a.years), len(b.years))
    diff = [x - y for x, y in zip(a.history[metric][:n], b.history[metric][:n], strict=True)]
    band_a, band_b = session.band("A"), session.band("B")
    m = min(len(band_a.years), len(band_b.years))
    lows, highs = [], []
    for va, vb in zip(band_a.values[metric][:m], band_b.values[metric][:m], strict=True):
        d = [x - y for x, y in zip(va, vb, strict=True) if x == x and y == y]
        lows.append(min(d) if d else float("nan"))
        highs.append(max(d) if d else float("nan"))
    return a.years[:n], diff, band_a.years[:m], lows, highs


def update_difference(fig, session: Session, metric: str) -> None:
    years, diff, band_years, low, high = difference(session, metric)
    share = metric in SHARES
    k = 100.0 if share else 1.0  # a difference of shares in percentage points
    fig.data[0].x, fig.data[0].y = _xy_band(band_years, [k * v for v in low], [k * v for v in high])
    fig.data[1].x, fig.data[1].y = years, [k * v for v in diff]
    fig.layout.title = f"Difference A − B: {OUTCOMES[metric]}" + (" (percentage points)" if share else "")
    fig.layout.yaxis.ticksuffix = " pp" if share else ""
    zero = {"type": "line", "x0": 0, "x1": 1, "y0": 0, "y1": 0, "xref": "x domain", "yref": "y"}
    zero["line"] = {"color": "grey", "width": 1}
    fig.layout.shapes = [zero] + [
        _mark(change.year, side_name, "x", "y domain")
        for side_name, side in session.sides.items()
        for change in side.changes
    ]


def hierarchy_figure() -> go.Figure:
    fig = go.Figure(go.Treemap(branchvalues="remainder"))
    fig.update_layout(height=460, margin={"l": 5, "r": 5, "t": 5, "b": 5})
    return fig


OWN = "own posts"


def treemap_points(table) -> tuple[list[int], dict[str, list]]:
    """The treemap's points: every unit, then, for every unit with units below it, a leaf of its
    own posts (plotly zooms into a unit with children when it is clicked, and sends no click; a
    click on that leaf selects the unit). Returns (unit of each point, trace columns)."""
    has_kids = set(table["parent"]) - {""}
    parents = [u for u, name in enumerate(table["name"]) if name in has_kids]
    unit_of = list(range(len(table))) + parents
    names = list(table["name"])
    columns = {
        "ids": names + [f"{names[u]} · {OWN}" for u in parents],
        "labels": names + [f"{names[u]}: {OWN}" for u in parents],
        "parents": list(table["parent"]) + [names[u] for u in parents],
        "values": [0 if u in parents else int(table["posts"].iloc[u]) for u in range(len(table))]
        + [int(table["posts"].iloc[u]) for u in parents],
    }
    return unit_of, columns


def update_hierarchy(fig, table, colour: str, resets: int = 0) -> None:
    """The units coloured by `colour`, restyled in place. Plotly zooms into a clicked unit; each
    `resets` step shows the whole province again (the two spellings of the top level make every
    reset a change that is sent to the page)."""
    column = COLOUR_BY[colour]
    unit_of, columns = treemap_points(table)
    if resets:
        columns["level"] = "" if resets % 2 == 0 else str(table["name"].iloc[0])
    values = table[column].fillna(0).tolist()
    data = table[["vacancies", "gaps", "bench"]].fillna(0).round(2).values.tolist()
    fig.data[0].update(
        **columns,
        marker={
            "colors": [values[u] for u in unit_of],
            "colorscale": "Blues" if column == "bench" else "Reds",
            "cmin": 0,
            "cmax": max(1.0, float(table[column].max(skipna=True) or 0)),
            "showscale": True,
            "colorbar": {"title": {"text": colour}},
        },
        customdata=[data[u] for u in unit_of],
        hovertemplate="%{label}<br>vacancies %{customdata[0]}<br>gaps %{customdata[1]}"
        "<br>bench %{customdata[2]}<extra></extra>",
    )


@solara.component
def LiveFigure(make, update, dependencies, on_click=None):
    """A plotly figure widget made once and updated in place (much faster than a new figure)."""
    from plotly.graph_objs._figurewidget import FigureWidget

    def points(data):
        if data and data.get("event_type") == "plotly_click" and on_click is not None:
            on_click(data)

    element = FigureWidget.element(on__js2py_pointsCallback=points)
    figure = solara.use_memo(make, [])

    def first():
        widget = solara.get_widget(element)
        widget.layout = figure.layout
        widget.add_traces(figure.data)

    solara.use_effect(first, [])

    def refresh():
        widget = solara.get_widget(element)
        with widget.batch_update():
            update(widget)

    solara.use_effect(refresh, dependencies)
    return element


# ---------------------------------------------------------------------------------------------
# components


@solara.component
def Prose(text: str, classes: list[str] | None = None, style: str = ""):
    """Markdown as plain HTML (solara.Markdown would load KaTeX from a CDN for maths)."""
    import markdown

    html = solara.use_memo(lambda: markdown.markdown(text, extensions=["tables"]), [text])
    return solara.HTML(tag="div", unsafe_innerHTML=html, classes=["prose", *(classes or [])], style=style)


@solara.component
def SideControls(session: Session, side: str, on_change, tick: int):
    """The controls of one side (Mesa's UserInputs), showing what the side's model runs."""
    values = session.sides[side].controls()
    params: dict[str, dict] = {}
    for name, c in CONTROLS.items():
        if c.kind == "choice":
            params[name] = {
                "type": "Select",
                "label": c.label,
                "value": values[name],
                "values": list(c.options),
            }
        elif c.kind == "bool":
            params[name] = {"type": "Checkbox", "label": c.label, "value": values[name]}
        elif c.kind == "int":
            params[name] = {
                "type": "SliderInt",
                "label": f"{c.label}: {values[name]}",
                "value": values[name],
                "min": int(c.low),
                "max": int(c.high),
                "step": int(c.step),
            }
        else:
            params[name] = {
                "type": "SliderFloat",
                "label": f"{c.label}: {values[name]:g}",
                "value": values[name],
                "min": c.low,
                "max": c.high,
                "step": c.step,
            }
    with solara.Card(
        f"Side {side}", classes=[f"side-{side}"], style={"border-top": f"4px solid {COLOURS[side]}"}
    ):
        UserInputs(params, on_change=lambda name, value: on_change(side, name, value))
        changes = session.sides[side].changes
        if changes:
            Prose(
                "**Changes:** " + "; ".join(f"from {c.year}: {c.text}" for c in changes),
                style="font-size: 0.85em",
            )


@solara.component
def Controller(session: Session, tick: solara.Reactive[int], playing: solara.Reactive[bool]):
    speed = solara.use_reactive("normal (2 years/s)")
    _ = tick.value  # re-render (year label, buttons) after every step

    def play_loop():
        while playing.value and not session.finished:
            start = time.perf_counter()
            with session.busy():
                advance(session)
                tick.value += 1
            left = SPEEDS[speed.value] / 1000 - (time.perf_counter() - start)
            time.sleep(max(left, 0.02))
        playing.value = False

    solara.lab.use_task(play_loop, dependencies=[playing.value], prefer_threaded=True)

    def one_year():
        with session.busy():
            advance(session)
            tick.value += 1

    def one_term():
        first = session.scenario.simulation.start_year
        since = session.year + 1 - first
        with session.busy():
            advance(session, session.term_years - since % session.term_years)
            tick.value += 1

    def reset():
        playing.value = False
        session.reset()
        for book in session.grades.values():
            book.years.clear()
        tick.value += 1

    with solara.Row(style={"align-items": "center"}, classes=["controller"]):
        solara.Button(
            "Pause" if playing.value else "Play",
            icon_name="mdi-pause" if playing.value else "mdi-play",
            color="primary",
            on_click=lambda: playing.set(not playing.value),
            disabled=session.finished,
            classes=["play-button"],
        )
        solara.Button(
            "One year", on_click=one_year, disabled=playing.value or session.finished, classes=["step-year"]
        )
        solara.Button(
            "One term", on_click=one_term, disabled=playing.value or session.finished, classes=["step-term"]
        )
        solara.Button("Reset", on_click=reset, classes=["reset-button"])
        solara.Select("Speed", values=list(SPEEDS), value=speed, dense=True, style={"max-width": "220px"})
        last = session.year
        shown = f"Year {last}" if last >= session.scenario.simulation.start_year else "Not started"
        solara.Text(f"{shown} of {session.sides['A'].model.last_year}", classes=["year-label"])


@solara.component
def CompareView(session: Session, tick: int, on_control):
    shown = solara.use_reactive(OUTCOMES["bench_strength"])
    metric = solara.use_reactive("bench_strength")
    by_label = {label: name for name, label in OUTCOMES.items()}
    metric.value = by_label.get(shown.value, "bench_strength")
    with solara.Columns([1, 1, 3]):
        SideControls(session, "A", on_control, tick)
        SideControls(session, "B", on_control, tick)
        with solara.Column():
            LiveFigure(outcome_figure, lambda fig: update_outcomes(fig, session), [tick])
            solara.Select(
                "Difference of",
                values=list(OUTCOMES.values()),
                value=shown,
                dense=True,
                style={"max-width": "300px"},
            )
            LiveFigure(
                difference_figure,
                lambda fig: update_difference(fig, session, metric.value),
                [tick, metric.value],
            )
            Prose(
                "Lines: the two sides, same seed (the same chance events). Shaded: the range over "
                f"{session.extra_seeds} other seeds, run in the background. Dotted lines: a rule "
                "changed from that year on.",
                style="font-size: 0.85em",
            )


@solara.component
def HierarchyView(session: Session, tick: int, active: bool):
    side = solara.use_reactive("A")
    colour = solara.use_reactive("vacancies")
    unit = solara.use_reactive(0)
    model = session.sides[side.value].model
    # recompute only while the tab is shown
    key = solara.use_ref((tick, side.value))
    if active:
        key.current = (tick, side.value)
    table = solara.use_memo(lambda: unit_table(model), [key.current])
    posts = solara.use_memo(
        lambda: unit_posts(model, unit.value).drop(columns=["holder_uid"]), [key.current, unit.value]
    )

    clicks = solara.use_reactive(0)
    resets = solara.use_reactive(0)

    def clicked(data):
        points = data.get("points", {}) if isinstance(data, dict) else {}
        idx = points.get("point_indexes") or []
        unit_of = treemap_points(table)[0]
        if idx and 0 <= int(idx[0]) < len(unit_of):
            unit.value = unit_of[int(idx[0])]
            clicks.value += 1

    def zoom_out():
        # after plotly's zoom into the clicked unit has played, show the whole province again
        if clicks.value:
            time.sleep(1.0)
            resets.value += 1

    solara.use_thread(zoom_out, dependencies=[clicks.value])

    with solara.Columns([1, 1]):
        with solara.Column():
            with solara.Row():
                solara.ToggleButtonsSingle(value=side, values=["A", "B"])
                solara.Select("Colour by", values=list(COLOUR_BY), value=colour, dense=True)
            LiveFigure(
                hierarchy_figure,
                lambda fig: update_hierarchy(fig, table, colour.value, resets.value),
                [key.current, colour.value, resets.value],
                on_click=clicked,
            )
        with solara.Column(classes=["unit-detail"]):
            names = list(table["name"])
            solara.Select(
                "Unit",
                values=names,
                value=names[unit.value],
                on_value=lambda name: unit.set(names.index(name)),
            )
            row = table.iloc[unit.value]
            bench = "—" if row["bench"] != row["bench"] else f"{row['bench']:.0%}"
            Prose(
                f"**{row['name']}** ({row['level']}{', weak unit' if row['weak'] else ''}): "
                f"{row['posts']} posts, {row['vacancies']} vacant, {row['gaps']} succession gaps, "
                f"bench strength {bench} (share of key posts with a planned successor)."
            )
            solara.DataFrame(posts, items_per_page=20)


@solara.component
def CareerView(session: Session, tick: int, active: bool):
    side = solara.use_reactive("A")
    kind = solara.use_reactive("became provincial secretary")
    uid = solara.use_reactive(-1)
    message = solara.use_reactive("")
    model = session.sides[side.value].model
    key = solara.use_ref((tick, side.value))
    if active:
        key.current = (tick, side.value)
    story = solara.use_memo(lambda: interesting_cadres(model), [key.current])

    def story_of(uid_: int):
        try:
            return career_lines(model, uid_, session.grades[side.value])
        except KeyError:
            return None

    told = solara.use_memo(lambda: story_of(uid.value) if uid.value >= 0 else None, [key.current, uid.value])

    def find():
        found = story.get(kind.value) or []
        if found:
            seen = uid.value
            nxt = found[(found.index(seen) + 1) % len(found)] if seen in found else found[0]
            uid.value = int(nxt)
            message.value = ""
        else:
            message.value = f"Nobody yet who {kind.value}: run a few years first."

    with solara.Row(style={"align-items": "center"}, classes=["career-view"]):
        solara.ToggleButtonsSingle(value=side, values=["A", "B"])
        solara.Select("Someone who", values=list(story), value=kind, dense=True, style={"max-width": "320px"})
        solara.Button("Find one", on_click=find, color="primary", classes=["find-cadre"])
        solara.InputInt("or cadre number", value=uid, style={"max-width": "160px"})
    if message.value:
        solara.Info(message.value)
    if uid.value < 0:
        Prose("Pick a cadre: ask for someone with a story, or type a cadre number.")
        return
    if told is None:
        solara.Warning(f"No cadre number {uid.value} on side {side.value}.")
        return
    heading, lines = told
    solara.HTML(tag="h3", unsafe_innerHTML=html.escape(heading), classes=["career-heading"])
    if not lines:
        Prose("Nothing recorded yet for this cadre in the simulated years.")
    else:
        solara.HTML(tag="div", unsafe_innerHTML=timeline_html(lines), classes=["career-timeline"])


#: how each kind of entry is tagged in a career timeline
TAGS = {
    "entry": ("entry", "#2e7d32"),
    "post": ("post", "#1565c0"),
    "pool": ("planning", "#6a1b9a"),
    "rotation": ("rotation", "#ef6c00"),
    "discipline": ("discipline", "#c62828"),
    "exit": ("exit", "#424242"),
}


def timeline_html(lines: list[dict]) -> str:
    """One row per year: the year, the assessment grade, and what happened, each event tagged."""
    years: dict[int, dict] = {}
    for line in lines:
        row = years.setdefault(int(line["year"]), {"grade": "", "events": []})
        if line["kind"] == "grade":
            row["grade"] = line["text"].removeprefix("assessed ")
        else:
            row["events"].append(line)
    cell = "padding:3px 10px;border-bottom:1px solid #e0e0e0;vertical-align:top"
    out = [
        '<table style="border-collapse:collapse;font-size:0.95em">',
        f'<tr><th style="{cell};text-align:left">Year</th><th style="{cell};text-align:left">Assessed</th>'
        f'<th style="{cell};text-align:left">What happened</th></tr>',
    ]
    for year, row in sorted(years.items()):
        events = "<br>".join(
            f'<span style="color:{TAGS.get(e["kind"], (e["kind"], "#555"))[1]};font-weight:600">'
            f"{TAGS.get(e['kind'], (e['kind'], ''))[0]}</span> {html.escape(e['text'])}"
            for e in row["events"]
        )
        out.append(
            f'<tr><td style="{cell}">{year}</td><td style="{cell}">{html.escape(row["grade"])}</td>'
            f'<td style="{cell}">{events}</td></tr>'
        )
    out.append("</table>")
    return "".join(out)


@solara.component
def LessonsView(session: Session, tick: solara.Reactive[int], playing: solara.Reactive[bool]):
    all_lessons, problem = solara.use_memo(_lessons_or_error, [])
    titles = [lesson.title for lesson in all_lessons]
    chosen = solara.use_reactive(titles[0] if titles else "")
    step_no = solara.use_reactive(0)
    if problem:  # a teacher's folder with a bad file: show the message
        solara.Error(problem, classes=["lesson-error"])
        return
    lesson = all_lessons[titles.index(chosen.value)]
    step = lesson.steps[min(step_no.value, len(lesson.steps) - 1)]

    def set_up():
        playing.value = False
        session.apply(step.a, step.b, reset=step.reset)
        if step.reset:
            for book in session.grades.values():
                book.years.clear()
        tick.value += 1

    def run_years():
        advance(session, step.years)
        tick.value += 1

    with solara.Row(style={"align-items": "center"}):
        solara.Select(
            "Lesson",
            values=titles,
            value=chosen.value,
            on_value=lambda t: (chosen.set(t), step_no.set(0)),
            style={"max-width": "420px"},
        )
        solara.Text(f"step {step_no.value + 1} of {len(lesson.steps)}")
        solara.Button(
            "Previous", on_click=lambda: step_no.set(step_no.value - 1), disabled=step_no.value == 0
        )
        solara.Button(
            "Next",
            on_click=lambda: step_no.set(step_no.value + 1),
            disabled=step_no.value >= len(lesson.steps) - 1,
        )
    if lesson.summary:
        Prose(f"*{lesson.summary}*")
    with solara.Card(step.title, classes=["lesson-step"]):
        Prose(step.text)
        for side, values in (("A", step.a), ("B", step.b)):
            if values:
                Prose(f"**Side {side}:** " + "; ".join(describe(k, v) for k, v in values.items()))
        if step.watch:
            Prose("**Watch:** " + ", ".join(OUTCOMES.get(m, m) for m in step.watch))
        with solara.Row():
            label = "Start again with these rules" if step.reset else "Set these rules (from next year)"
            solara.Button(label, on_click=set_up, color="primary", classes=["lesson-apply"])
            if step.years:
                solara.Button(f"Run {step.years} years", on_click=run_years, classes=["lesson-run"])
        if step.question:
            solara.Success(f"Question for the class: {step.question}")
    Prose(f"<small>From {lesson.source}</small>")


@solara.component
def Page():
    session = solara.use_memo(new_session, [])
    tick = solara.use_reactive(0)
    band_tick = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    tab = solara.use_reactive(0)

    def background():
        session.start_background()
        stop = threading.Event()

        def watch():
            seen = None
            while not stop.wait(0.5):
                now = (len(session.band("A").years), len(session.band("B").years), id(session.band("A")))
                if now != seen:
                    seen = now
                    band_tick.value += 1

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()

        def cleanup():
            stop.set()
            session.stop()

        return cleanup

    solara.use_effect(background, [])

    def on_control(side: str, name: str, value):
        with session.busy():
            session.set_control(side, name, value)
            tick.value += 1

    solara.Title("pipeline-sim dashboard")
    version = tick.value * 10_000 + band_tick.value
    with solara.Column(style={"padding": "8px"}):
        Prose(
            f"## Cadre pipelines: two provinces side by side\n"
            f"{session.scenario.description} Same seed ({session.seed}) on both sides; "
            "a changed rule applies from the next simulated year."
        )
        Controller(session, tick, playing)
        # every tab stays mounted (re-creating plotly widgets on a tab switch upsets the page);
        # the hidden ones do not recompute
        with solara.lab.Tabs(value=tab):
            with solara.lab.Tab("Compare"):
                CompareView(session, version, on_control)
            with solara.lab.Tab("Hierarchy"):
                HierarchyView(session, tick.value, tab.value == 1)
            with solara.lab.Tab("Career"):
                CareerView(session, tick.value, tab.value == 2)
            with solara.lab.Tab("Lessons"):
                LessonsView(session, tick, playing)

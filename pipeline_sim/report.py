"""Self-contained HTML reports (plotly, with its script inlined: no network needed to view)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipeline_sim.analysis import bands, paired_differences, scenario_diff
from pipeline_sim.metrics import ALL

#: metric -> (title a non-specialist understands, y-axis label, percent?)
FIGURES: dict[str, tuple[str, str, bool]] = {
    "succession_gap_rate": (
        "Succession gaps: key posts falling vacant with no ready successor",
        "share of key-post vacancies",
        True,
    ),
    "vacant_posts": ("Vacant posts at the end of each year", "posts", False),
    "bench_strength": (
        "Bench strength: key posts with at least one ready successor",
        "share of key posts",
        True,
    ),
    "quality_in_office": (
        "Quality in office: competence of key-post holders",
        "mean competence (latent scale)",
        False,
    ),
    "integrity_problem_share": (
        "Integrity problems in office: holders with a violation not dealt with",
        "share of post holders",
        True,
    ),
    "women_in_office": ("Women among key-post holders", "share", True),
    "young_in_office": ("Young cadres among key-post holders", "share", True),
    "women_in_planning": ("Women among planned successors", "share", True),
    "young_in_planning": ("Young cadres among planned successors", "share", True),
    "rotations": ("Rotations of planned cadres per year", "moves", False),
}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_trace(fig, x, low, high, color, name, row, col, showlegend=False):
    fig.add_trace(
        go.Scatter(
            x=list(x) + list(x)[::-1],
            y=list(high) + list(low)[::-1],
            fill="toself",
            fillcolor=_rgba(color, 0.18),
            line={"width": 0},
            hoverinfo="skip",
            name=f"{name} 10-90%",
            showlegend=showlegend,
            legendgroup=name,
        ),
        row=row,
        col=col,
    )


def metric_figure(yearly: pd.DataFrame, names: list[str], metric: str) -> go.Figure:
    """Left: median and 10-90% band over replications per scenario; right: paired difference."""
    title, ylabel, pct = FIGURES[metric]
    base = names[0]
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(
            "Each scenario: median, 10-90% of replications",
            f"Difference from {base}, paired by seed",
        ),
    )
    data = yearly[yearly["metric"] == metric]
    b = bands(data, ["scenario", "year"])
    for i, name in enumerate(names):
        color = COLORS[i % len(COLORS)]
        s = b[b["scenario"] == name].sort_values("year")
        _band_trace(fig, s["year"], s["low"], s["high"], color, name, 1, 1)
        fig.add_trace(
            go.Scatter(
                x=s["year"], y=s["median"], name=name, line={"color": color, "width": 2}, legendgroup=name
            ),
            row=1,
            col=1,
        )
    if len(names) > 1:
        d = paired_differences(data, base, ["year"])
        for i, name in enumerate(names[1:], start=1):
            color = COLORS[i % len(COLORS)]
            s = d[d["scenario"] == name].sort_values("year")
            _band_trace(fig, s["year"], s["band_low"], s["band_high"], color, name, 1, 2)
            fig.add_trace(
                go.Scatter(
                    x=s["year"],
                    y=s["mean_diff"],
                    name=f"{name} - {base}",
                    line={"color": color, "width": 2},
                    legendgroup=name,
                    showlegend=False,
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": s["ci_high"] - s["mean_diff"],
                        "arrayminus": s["mean_diff"] - s["ci_low"],
                        "thickness": 1,
                        "width": 0,
                    },
                ),
                row=1,
                col=2,
            )
        fig.add_hline(y=0, line={"color": "grey", "dash": "dot"}, row=1, col=2)
    fmt = ".0%" if pct else None
    fig.update_yaxes(title_text=ylabel, tickformat=fmt, row=1, col=1)
    fig.update_yaxes(title_text=f"difference ({ylabel})", tickformat=fmt, row=1, col=2)
    fig.update_xaxes(title_text="year")
    fig.update_layout(
        title=title, height=380, margin={"t": 80, "b": 40}, legend={"orientation": "h", "y": -0.2}
    )
    return fig


def level_figure(by_level: pd.DataFrame, names: list[str], levels: list[str]) -> go.Figure:
    """Paired difference of each headline outcome by level, with 95% intervals."""
    metrics = [m for m in FIGURES if m in set(by_level["outcome"])]
    fig = make_subplots(
        rows=(len(metrics) + 1) // 2,
        cols=2,
        subplot_titles=[FIGURES[m][0].split(":")[0] for m in metrics],
        vertical_spacing=0.08,
    )
    for j, metric in enumerate(metrics):
        row, col = j // 2 + 1, j % 2 + 1
        for i, name in enumerate(names[1:], start=1):
            s = by_level[(by_level["outcome"] == metric) & (by_level["scenario"] == name)]
            s = s.set_index("level").reindex(levels).reset_index()
            fig.add_trace(
                go.Bar(
                    x=s["level"],
                    y=s["mean_diff"],
                    name=name,
                    marker_color=COLORS[i % len(COLORS)],
                    showlegend=j == 0,
                    legendgroup=name,
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": s["ci_high"] - s["mean_diff"],
                        "arrayminus": s["mean_diff"] - s["ci_low"],
                    },
                ),
                row=row,
                col=col,
            )
    fig.update_layout(
        title=f"Difference from {names[0]} by level, over all years (95% interval)",
        height=260 * ((len(metrics) + 1) // 2),
        barmode="group",
        margin={"t": 80},
    )
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="tbl", na_rep="-", escape=True)


def _fmt(value: float, pct: bool) -> str:
    if value != value:
        return "-"
    if pct:
        return f"{value:.2%}" if abs(value) < 0.01 else f"{value:.1%}"
    return f"{value:,.3g}"


def summary_table(outcomes: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per outcome: each scenario's mean, and each difference from the first with its interval."""
    d = paired_differences(
        outcomes.melt(id_vars=["scenario", "seed"], var_name="outcome"), names[0], ["outcome"]
    )
    rows = []
    for metric, (title, _, pct) in FIGURES.items():
        if metric not in outcomes:
            continue
        row = {"outcome": title.split(":")[0]}
        for name in names:
            row[name] = _fmt(outcomes.loc[outcomes["scenario"] == name, metric].mean(), pct)
        for name in names[1:]:
            r = d[(d["scenario"] == name) & (d["outcome"] == metric)]
            if len(r):
                r = r.iloc[0]
                row[f"{name} - {names[0]}"] = (
                    f"{_fmt(r['mean_diff'], pct)} [{_fmt(r['ci_low'], pct)}, {_fmt(r['ci_high'], pct)}]"
                )
                row[f"clear of noise ({name})"] = "yes" if r["clear"] else "no"
        rows.append(row)
    return pd.DataFrame(rows)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
  color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
.tbl{border-collapse:collapse;font-size:.9em}
.tbl td,.tbl th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
.tbl td:first-child,.tbl th:first-child{text-align:left} .note{color:#555;font-size:.9em}
code{background:#f4f4f4;padding:1px 4px}
"""


def write_compare_report(
    path: Path,
    scenarios: list[dict],
    yearly: pd.DataFrame,
    outcomes: pd.DataFrame,
    by_level: pd.DataFrame,
    by_sector: pd.DataFrame,
    reps: int,
    command: str | None,
) -> None:
    """The comparison report: what differs, a summary table, then one figure per outcome."""
    names = [s["name"] for s in scenarios]
    levels = [*scenarios[0]["hierarchy"]["levels"], ALL]
    parts = [
        f"<h1>Comparison: {' vs '.join(html.escape(n) for n in names)}</h1>",
        f"<p class='note'>{reps} replications per scenario, paired by seed (common random numbers); "
        f"created {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (f"; <code>{html.escape(command)}</code>" if command else "")
        + "</p>",
        "<h2>The scenarios</h2><ul>",
    ]
    for s in scenarios:
        parts.append(f"<li><b>{html.escape(s['name'])}</b>: {html.escape(s.get('description') or '')}")
        if s is not scenarios[0]:
            diff = scenario_diff(scenarios[0], s)
            if diff:
                parts.append(
                    "<br><span class='note'>differs from the first in: "
                    + "; ".join(
                        f"<code>{html.escape(k)}</code> {html.escape(str(a))} &rarr; {html.escape(str(b))}"
                        for k, a, b in diff
                    )
                    + "</span>"
                )
            else:
                parts.append("<br><span class='note'>identical settings to the first</span>")
        parts.append("</li>")
    parts.append("</ul>")
    parts.append(
        "<h2>Summary over all years</h2><p class='note'>Means over replications; differences are "
        "paired by seed, with a 95% interval; 'clear of noise' means the interval excludes zero.</p>"
    )
    parts.append(_table(summary_table(outcomes, names)))
    for metric in FIGURES:
        if metric in set(yearly["metric"].astype(str)):
            parts.append(
                metric_figure(yearly, names, metric).to_html(full_html=False, include_plotlyjs=False)
            )
    if len(names) > 1:
        parts.append("<h2>By level and sector</h2>")
        parts.append(level_figure(by_level, names, levels).to_html(full_html=False, include_plotlyjs=False))
        parts.append("<p class='note'>By sector (difference over all years, 95% interval):</p>")
        t = by_sector.copy()
        t["difference"] = [
            f"{a:.4g} [{lo:.4g}, {hi:.4g}]"
            for a, lo, hi in zip(t["mean_diff"], t["ci_low"], t["ci_high"], strict=True)
        ]
        parts.append(_table(t[["scenario", "outcome", "sector", "difference", "clear"]]))
    parts.append(
        "<p class='note'>The data behind every figure is in <code>data.parquet</code> (one row per run, "
        "year, level, sector and metric) and <code>outcomes.parquet</code> (one row per run).</p>"
    )
    path.write_text(_page(" vs ".join(names), parts), encoding="utf-8")


def _page(title: str, parts: list[str]) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )


def write_sweep_report(
    path: Path,
    base,
    factors,
    design: str,
    table: pd.DataFrame,
    indices: pd.DataFrame,
    outcomes: list[str],
    reps: int,
    command: str | None,
) -> None:
    """The sweep report: the design, sensitivity indices, and each outcome against each parameter."""
    keys = [f.key for f in factors]
    n_points = int(table["point"].nunique())
    parts = [
        f"<h1>Sweep of {html.escape(base.name)}: {html.escape(', '.join(keys))}</h1>",
        f"<p class='note'>{design} design, {n_points} parameter sets x {reps} replications "
        f"(the same seeds at every point); created {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (f"; <code>{html.escape(command)}</code>" if command else "")
        + "</p><ul>",
    ]
    for f in factors:
        rng = ", ".join(map(str, f.categories)) if f.categories is not None else f"{f.low:g} to {f.high:g}"
        parts.append(f"<li><code>{html.escape(f.key)}</code>: {html.escape(rng)}</li>")
    parts.append("</ul>")
    if len(indices):
        parts.append("<h2>Sensitivity</h2>")
        if "S1" in indices:
            parts.append(
                "<p class='note'>Sobol indices: first-order (S1, the share of the outcome's variance due to "
                "the parameter alone) and total (ST, including its interactions), with 95% intervals.</p>"
            )
            fig = make_subplots(rows=1, cols=2, subplot_titles=("first-order S1", "total ST"))
            for j, key in enumerate(keys):
                s = indices[indices["parameter"] == key]
                for col, (val, conf) in enumerate((("S1", "S1_conf"), ("ST", "ST_conf")), start=1):
                    fig.add_trace(
                        go.Bar(
                            x=s["outcome"],
                            y=s[val],
                            name=key,
                            marker_color=COLORS[j % len(COLORS)],
                            error_y={"type": "data", "array": s[conf]},
                            showlegend=col == 1,
                            legendgroup=key,
                        ),
                        row=1,
                        col=col,
                    )
        else:
            parts.append(
                "<p class='note'>Morris screening: mu* (mean absolute elementary effect, with 95% interval) "
                "and sigma (its spread: non-linearity or interactions).</p>"
            )
            fig = make_subplots(rows=1, cols=2, subplot_titles=("mu*", "sigma"))
            for j, key in enumerate(keys):
                s = indices[indices["parameter"] == key]
                fig.add_trace(
                    go.Bar(
                        x=s["outcome"],
                        y=s["mu_star"],
                        name=key,
                        marker_color=COLORS[j % len(COLORS)],
                        error_y={"type": "data", "array": s["mu_star_conf"]},
                        legendgroup=key,
                    ),
                    row=1,
                    col=1,
                )
                fig.add_trace(
                    go.Bar(
                        x=s["outcome"],
                        y=s["sigma"],
                        name=key,
                        marker_color=COLORS[j % len(COLORS)],
                        showlegend=False,
                        legendgroup=key,
                    ),
                    row=1,
                    col=2,
                )
        fig.update_layout(barmode="group", height=420, title="Which parameters drive which outcomes")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
        parts.append(_table(indices.round(4)))
    if not len(indices):
        parts.append(
            f"<p class='note'>A {design} design gives no sensitivity indices; use "
            "<code>--design sobol</code> or <code>morris</code> for them.</p>"
        )
    parts.append(
        "<h2>Outcomes against parameters</h2><p class='note'>Each dot is a parameter set "
        "(mean over replications).</p>"
    )
    mean = table.groupby(["point", *keys], dropna=False)[outcomes].mean().reset_index()
    for outcome in outcomes:
        title, ylabel, pct = FIGURES.get(outcome, (outcome, outcome, False))
        fig = make_subplots(rows=1, cols=len(keys), subplot_titles=keys)
        for j, key in enumerate(keys, start=1):
            fig.add_trace(
                go.Scatter(
                    x=mean[key],
                    y=mean[outcome],
                    mode="markers",
                    showlegend=False,
                    marker={"color": COLORS[0], "opacity": 0.6},
                ),
                row=1,
                col=j,
            )
        fig.update_yaxes(title_text=ylabel, tickformat=".0%" if pct else None, col=1)
        fig.update_layout(title=title, height=320)
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append(
        "<p class='note'>One row per run (inputs, seed, outcomes): <code>experiments.parquet</code>; "
        "indices: <code>sensitivity.parquet</code>; every metric of every run: <code>runs/</code>.</p>"
    )
    path.write_text(_page(f"sweep {base.name}", parts), encoding="utf-8")

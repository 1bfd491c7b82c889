"""Self-contained HTML reports (plotly, with its script inlined: no network needed to view)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipeline_sim import formatting as fmt
from pipeline_sim.analysis import bands, paired_differences, scenario_diff
from pipeline_sim.metrics import ALL

#: metric -> title a non-specialist understands (units and labels: pipeline_sim.formatting)
FIGURES: dict[str, str] = {
    "succession_gap_rate": "Succession gaps: key posts falling vacant with no ready successor",
    "bench_strength": "Bench strength: key posts with at least one ready successor",
    "vacant_posts": "Vacant posts at the end of each year",
    "quality_in_office": "Quality in office: competence of key-post holders",
    "integrity_problem_share": "Integrity problems in office: holders with a violation not dealt with",
    "women_in_office": "Women among key-post holders",
    "young_in_office": "Young cadres among key-post holders",
    "women_in_planning": "Women among planned successors",
    "young_in_planning": "Young cadres among planned successors",
    "rotations": "Rotations of planned cadres per year",
}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_trace(fig, x, low, high, color, name, group, row, col, showlegend=True):
    fig.add_trace(
        go.Scatter(
            x=list(x) + list(x)[::-1],
            y=list(high) + list(low)[::-1],
            mode="lines",
            fill="toself",
            fillcolor=_rgba(color, 0.18),
            line={"width": 0},
            hoverinfo="skip",
            name=name,
            showlegend=showlegend,
            legendgroup=group,
        ),
        row=row,
        col=col,
    )


def metric_figure(yearly: pd.DataFrame, names: list[str], metric: str) -> go.Figure:
    """Left: median and 10-90% band over replications per scenario; right: paired difference
    (mean, 95% interval as error bars, 10-90% band of the paired differences). Every band and
    error bar has a legend entry; shares are plotted in percent, their differences in pp."""
    base = names[0]
    k = fmt.scale(metric)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(
            "Each scenario: median over replications",
            f"Difference from {base}, paired by seed",
        ),
    )
    data = yearly[yearly["metric"] == metric]
    b = bands(data, ["scenario", "year"])
    for i, name in enumerate(names):
        color = COLORS[i % len(COLORS)]
        s = b[b["scenario"] == name].sort_values("year")
        _band_trace(
            fig, s["year"], s["low"] * k, s["high"] * k, color, f"{name}: 10-90% of replications", name, 1, 1
        )
        fig.add_trace(
            go.Scatter(
                x=s["year"],
                y=s["median"] * k,
                name=f"{name}: median",
                line={"color": color, "width": 2},
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
    if len(names) > 1:
        d = paired_differences(data, base, ["year"])
        for i, name in enumerate(names[1:], start=1):
            color = COLORS[i % len(COLORS)]
            s = d[d["scenario"] == name].sort_values("year")
            _band_trace(
                fig,
                s["year"],
                s["band_low"] * k,
                s["band_high"] * k,
                color,
                f"{name} - {base}: 10-90% of paired differences",
                name,
                1,
                2,
            )
            fig.add_trace(
                go.Scatter(
                    x=s["year"],
                    y=s["mean_diff"] * k,
                    name=f"{name} - {base}: mean difference, bars 95% interval",
                    line={"color": color, "width": 2, "dash": "dash"},
                    legendgroup=name,
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": (s["ci_high"] - s["mean_diff"]) * k,
                        "arrayminus": (s["mean_diff"] - s["ci_low"]) * k,
                        "thickness": 1,
                        "width": 0,
                    },
                ),
                row=1,
                col=2,
            )
        fig.add_hline(y=0, line={"color": "grey", "dash": "dot"}, row=1, col=2)
    fig.update_yaxes(**fmt.axis(metric), row=1, col=1)
    fig.update_yaxes(**fmt.axis(metric, difference=True), row=1, col=2)
    fig.update_xaxes(title_text="year")
    fig.update_layout(
        title=FIGURES.get(metric, fmt.info(metric).label),
        height=430,
        margin={"t": 80, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def level_figure(by_level: pd.DataFrame, names: list[str], levels: list[str]) -> go.Figure:
    """Paired difference of each headline outcome by level: bars the mean difference, error bars
    its 95% interval (both in the legend); shares in pp."""
    metrics = [m for m in FIGURES if m in set(by_level["outcome"])]
    n_rows = (len(metrics) + 1) // 2
    fig = make_subplots(
        rows=n_rows,
        cols=2,
        subplot_titles=[fmt.info(m).label for m in metrics],
        vertical_spacing=0.3 / max(n_rows - 1, 1) if n_rows > 1 else 0.1,
    )
    for j, metric in enumerate(metrics):
        row, col = j // 2 + 1, j % 2 + 1
        k = fmt.scale(metric)
        for i, name in enumerate(names[1:], start=1):
            s = by_level[(by_level["outcome"] == metric) & (by_level["scenario"] == name)]
            s = s.set_index("level").reindex(levels).reset_index()
            fig.add_trace(
                go.Bar(
                    x=s["level"],
                    y=s["mean_diff"] * k,
                    name=f"{name} - {names[0]}: mean difference, error bars 95% interval",
                    marker_color=COLORS[i % len(COLORS)],
                    showlegend=j == 0,
                    legendgroup=name,
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": (s["ci_high"] - s["mean_diff"]) * k,
                        "arrayminus": (s["mean_diff"] - s["ci_low"]) * k,
                    },
                ),
                row=row,
                col=col,
            )
        fig.update_yaxes(**fmt.axis(metric, difference=True), row=row, col=col)
        fig.update_xaxes(title_text="level", row=row, col=col)
    fig.update_layout(
        title=f"Difference from {names[0]} by level, over all years",
        height=300 * n_rows,
        barmode="group",
        margin={"t": 80},
        legend={"orientation": "h", "y": -0.08},
    )
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="tbl", na_rep="-", escape=True)


def comparison_frame(differences: pd.DataFrame, reference: str, name: str) -> pd.DataFrame:
    """The report's table for one scenario against the reference (formatted strings)."""
    rows = fmt.comparison_rows(differences, name)
    return pd.DataFrame(
        {
            "outcome": [f"{r['outcome']} ({r['unit']})" for r in rows],
            reference: [r["reference"] for r in rows],
            name: [r["scenario"] for r in rows],
            "difference [95% interval]": [r["difference"] for r in rows],
            "relative change": [r["relative"] for r in rows],
            "verdict": [r["verdict"] for r in rows],
        }
    )


def level_frame(effect: dict, reference: str, name: str) -> pd.DataFrame:
    rows = effect["rows"]
    return pd.DataFrame(
        {
            "level": [r["level"] for r in rows],
            reference: [r["reference"] for r in rows],
            name: [r["scenario"] for r in rows],
            "difference [95% interval]": [r["difference"] for r in rows],
            "verdict": [r["verdict"] for r in rows],
        }
    )


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
  color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin-bottom:.3em}
.tbl{border-collapse:collapse;font-size:.9em}
.tbl td,.tbl th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
.tbl td:first-child,.tbl th:first-child{text-align:left} .note{color:#555;font-size:.9em}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em 1em;margin:1em 0}
code{background:#f4f4f4;padding:1px 4px}
.fit{overflow-x:auto}
.fit .tbl td{vertical-align:top} .fit .tbl td:nth-child(2),.fit .tbl td:nth-child(3){text-align:left}
.fit .tbl td:last-child,.fit .tbl th:last-child{text-align:left;font-size:.8em;color:#555;max-width:24em}
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
    differences: pd.DataFrame | None = None,
    warnings: list[str] | None = None,
    notes: list[str] | None = None,
) -> None:
    """The comparison report: the headline table and the effects by level first, then what
    differs between the scenarios and one figure per outcome."""
    names = [s["name"] for s in scenarios]
    ref = names[0]
    levels = [*scenarios[0]["hierarchy"]["levels"], ALL]
    if differences is None:
        differences = paired_differences(
            outcomes.melt(id_vars=["scenario", "seed"], var_name="outcome"), ref, ["outcome"]
        )
    parts = [
        f"<h1>Comparison: {' vs '.join(html.escape(n) for n in names)}</h1>",
        f"<p class='note'>{reps} replication{'s' if reps != 1 else ''} per scenario, paired by seed "
        f"(common random numbers); created {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (f"; <code>{html.escape(command)}</code>" if command else "")
        + "</p>",
    ]
    for w in warnings or []:
        parts.append(f"<p class='warn'><b>Warning:</b> {html.escape(w)}</p>")
    for n in notes or []:
        parts.append(f"<p class='note'><b>Note:</b> {html.escape(n)}</p>")
    parts.append(
        "<h2>Results over all years</h2><p class='note'>Means over replications. The difference "
        f"is each scenario minus {html.escape(ref)}, paired by seed, with its 95% interval "
        "(Student t over the pairs); shares are in %, differences of shares in percentage points "
        "(pp), and the relative change is the difference divided by the reference value. The "
        "verdict says whether the interval lies above or below zero.</p>"
    )
    for name in names[1:]:
        parts.append(f"<h3>{html.escape(name)} against {html.escape(ref)}</h3>")
        parts.append(_table(comparison_frame(differences, ref, name)))
        effects = fmt.level_effects(by_level, name, levels)
        if effects:
            parts.append(
                "<p><b>Effects by level</b> (shown where they differ in sign between levels or are "
                "large at a level, so that the total cannot hide them):</p><ul>"
            )
            parts += [f"<li>{html.escape(fmt.level_sentence(e))}</li>" for e in effects]
            parts.append("</ul>")
            for e in effects:
                parts.append(f"<p class='note'>{html.escape(e['label'])} by level:</p>")
                parts.append(_table(level_frame(e, ref, name)))
        else:
            parts.append(
                "<p class='note'>Effects by level: none differs in sign between levels or is large "
                "at one level (all levels are in the figure below).</p>"
            )
    parts.append("<h2>The scenarios</h2><ul>")
    for s in scenarios:
        own = s.get("description") or "(no description)"
        parts.append(f"<li><b>{html.escape(s['name'])}</b>: {html.escape(own)}")
        if s is not scenarios[0]:
            diff = scenario_diff(scenarios[0], s)
            if diff:
                parts.append(
                    f"<br><span class='note'>differs from {html.escape(ref)} in: "
                    + "; ".join(
                        f"<code>{html.escape(k)}</code> {html.escape(str(a))} &rarr; {html.escape(str(b))}"
                        for k, a, b in diff
                    )
                    + "</span>"
                )
            else:
                parts.append(f"<br><span class='note'>identical settings to {html.escape(ref)}</span>")
        parts.append("</li>")
    parts.append("</ul>")
    parts.append(
        "<h2>Year by year</h2><p class='note'>Left: each scenario's median over replications, the "
        "shaded band holding the middle 80% (10th to 90th percentile) of replications. Right: the "
        "mean paired difference from the reference, its 95% interval as error bars, and the shaded "
        "band holding the middle 80% of the paired differences.</p>"
    )
    present = {str(m) for m in yearly["metric"].unique()}
    for metric in FIGURES:
        if metric in present:
            parts.append(
                metric_figure(yearly, names, metric).to_html(full_html=False, include_plotlyjs=False)
            )
    if len(names) > 1:
        parts.append(
            "<h2>By level and sector</h2><p class='note'>Bars: mean paired difference over all "
            "years; error bars: its 95% interval.</p>"
        )
        parts.append(level_figure(by_level, names, levels).to_html(full_html=False, include_plotlyjs=False))
        parts.append("<p class='note'>By sector (difference over all years, 95% interval):</p>")
        rows = []
        for _, r in by_sector.iterrows():
            metric = str(r["outcome"])
            rows.append(
                {
                    "outcome": fmt.info(metric).title(),
                    "sector": r["sector"],
                    "scenario": r["scenario"],
                    "difference [95% interval]": fmt.fmt_diff(
                        metric, r["mean_diff"], r["ci_low"], r["ci_high"]
                    ),
                    "verdict": fmt.verdict(metric, r["mean_diff"], r["ci_low"], r["ci_high"]),
                }
            )
        t = pd.DataFrame(rows)
        if len(t):
            order = {m: i for i, m in enumerate(fmt.INFO)}
            sector_order = {v: i for i, v in enumerate(dict.fromkeys(by_sector["sector"]))}
            t["_o"] = [order.get(str(m), 99) for m in by_sector["outcome"]]
            t["_s"] = [sector_order[v] for v in by_sector["sector"]]
            t = t.sort_values(["_o", "_s", "scenario"], kind="stable").drop(columns=["_o", "_s"])
        parts.append(_table(t))
    parts.append(
        "<p class='note'>The data behind every figure is in <code>data.parquet</code> (one row per run, "
        "year, level, sector and metric) and <code>outcomes.parquet</code> (one row per run); the "
        "tables above are in <code>summary.csv</code>.</p>"
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
    warnings: list[str] | None = None,
) -> None:
    """The sweep report: the design, sensitivity indices, and each outcome against each parameter."""
    from pipeline_sim.sweep import PAWN_MIN_POINTS

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
    for w in warnings or []:
        parts.append(f"<p class='warn'><b>Note:</b> {html.escape(w)}</p>")
    labels = {o: fmt.info(o).label for o in outcomes}
    if len(indices):
        indices = indices.assign(outcome=[labels.get(o, o) for o in indices["outcome"]])
        parts.append("<h2>Sensitivity</h2>")
        if "pawn_median" in indices:
            parts.append(
                "<p class='note'>PAWN indices (any sample): how far the outcome's distribution moves "
                "when the parameter is held within a slice of its range, as a Kolmogorov-Smirnov "
                "distance from 0 (no influence) to 1. Bars: median over the slices; error bars: "
                "from the smallest to the largest slice.</p>"
            )
            fig = make_subplots(rows=1, cols=1)
            for j, key in enumerate(keys):
                s = indices[indices["parameter"] == key]
                fig.add_trace(
                    go.Bar(
                        x=s["outcome"],
                        y=s["pawn_median"],
                        name=f"{key}: median, error bars min-max over slices",
                        marker_color=COLORS[j % len(COLORS)],
                        error_y={
                            "type": "data",
                            "symmetric": False,
                            "array": s["pawn_max"] - s["pawn_median"],
                            "arrayminus": s["pawn_median"] - s["pawn_min"],
                        },
                    )
                )
            fig.update_yaxes(title_text="PAWN index (KS distance, 0-1)", range=[0, 1])
            fig.update_xaxes(title_text="outcome")
        elif "S1" in indices:
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
                            name=f"{key}: index, error bars 95% interval",
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
                        name=f"{key}: mu*, error bars 95% interval (left), sigma (right)",
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
        if "S1" in indices:
            fig.update_yaxes(title_text="Sobol index (share of variance, 0-1)")
        elif "mu_star" in indices:
            fig.update_yaxes(title_text="elementary effect (outcome's unit)")
        fig.update_xaxes(title_text="outcome")
        fig.update_layout(
            barmode="group",
            height=460,
            title="Which parameters drive which outcomes",
            legend={"orientation": "h", "y": -0.35},
        )
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
        parts.append(_table(indices.round(3).rename(columns=fmt.INDEX_HEADS)))
    if not len(indices):
        why = {
            "factorial": "a factorial design gives no sensitivity indices",
            "lhs": f"too few parameter sets for PAWN indices (at least {PAWN_MIN_POINTS})",
        }.get(design, "every outcome was constant or undefined over the parameter sets")
        parts.append(
            f"<p class='note'>No sensitivity indices: {why}. Use the lhs (PAWN), sobol or morris "
            "design for them.</p>"
        )
    parts.append(
        "<h2>Outcomes against parameters</h2><p class='note'>Each dot is a parameter set "
        "(mean over replications); shares in %.</p>"
    )
    mean = table.groupby(["point", *keys], dropna=False)[outcomes].mean().reset_index()
    for outcome in outcomes:
        title = FIGURES.get(outcome, fmt.info(outcome).label)
        k = fmt.scale(outcome)
        fig = make_subplots(rows=1, cols=len(keys), subplot_titles=keys)
        for j, key in enumerate(keys, start=1):
            fig.add_trace(
                go.Scatter(
                    x=mean[key],
                    y=mean[outcome] * k,
                    mode="markers",
                    showlegend=False,
                    marker={"color": COLORS[0], "opacity": 0.6},
                ),
                row=1,
                col=j,
            )
        fig.update_yaxes(**fmt.axis(outcome))  # every panel: the same unit and tick format
        for j, key in enumerate(keys, start=1):
            fig.update_xaxes(title_text=key, row=1, col=j)
        fig.update_layout(title=title, height=340)
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append(
        "<p class='note'>One row per run (inputs, seed, outcomes): <code>experiments.parquet</code>; "
        "indices: <code>sensitivity.parquet</code>; every metric of every run: <code>runs/</code>.</p>"
    )
    path.write_text(_page(f"sweep {base.name}", parts), encoding="utf-8")


# --- calibration ----------------------------------------------------------------------------------


def _fit_rows(fit: pd.DataFrame) -> pd.DataFrame:
    """The fit table as shown: formatted numbers, one row per target."""

    def num(x, digits=4):
        return "-" if pd.isna(x) else f"{x:.{digits}g}"

    return pd.DataFrame(
        {
            "target": fit["id"],
            "statistic": fit["statistic"],
            "group": fit["group"],
            "years (real / model)": fit["real_years"] + " / " + fit["model_years"],
            "real": [num(v) for v in fit["real"]],
            "uncertainty": [
                f"n = {n:g} (binomial)" if pd.notna(n) else f"sd {sd:.3g}"
                for n, sd in zip(fit["n"], fit["sd"], strict=True)
            ],
            "simulated [90% of replications]": [
                "-" if pd.isna(m) else f"{m:.4g} [{lo:.4g}, {hi:.4g}]"
                for m, lo, hi in zip(fit["simulated"], fit["sim_p05"], fit["sim_p95"], strict=True)
            ],
            "z": [num(v, 2) for v in fit["z"]],
            "within tolerance": ["-" if pd.isna(w) else ("yes" if w else "no") for w in fit["within"]],
            "source": fit["source"],
        }
    )


def write_calibration_report(
    path: Path, result, targets, params, reps: int, command: str | None, name: str
) -> None:
    """The calibration report: best values and their spread among the good trials, the fit table
    (calibrate and validate targets apart), the loss over trials, parameter importances, and each
    target beside the best trial's simulation over time."""
    trials, fit, good = result.trials, result.fit, result.good
    finished = trials[trials["state"] == "complete"]
    keys = [p.key for p in params]
    parts = [
        f"<h1>Calibration of {html.escape(name)}</h1>",
        f"<p class='note'>{len(finished)} finished trials of {reps} replication{'s' if reps != 1 else ''} "
        f"each (the same seeds in every trial); best: trial {result.best['trial']}, loss "
        f"{result.best['loss']:.4g}; created {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (f"; <code>{html.escape(command)}</code>" if command else "")
        + "</p>",
    ]
    for note in result.notes:
        parts.append(f"<p class='warn'><b>Note:</b> {html.escape(note)}</p>")
    parts.append(
        "<h2>Calibrated values</h2><p class='note'>The best trial's values, and their spread among the "
        f"{len(good)} <i>good</i> trials: those whose loss lies within noise of the best (less than 2 "
        "standard deviations of their difference from it, from a bootstrap over the replications "
        "paired across trials). The spread is what the targets cannot pin down; "
        "<code>compare --parameters-from</code> draws from it.</p>"
    )
    rows = []
    for p in params:
        g = good[p.key].astype(float)
        rows.append(
            {
                "key": p.key,
                "range": f"{p.low:g} to {p.high:g}" + (" (log)" if p.log else ""),
                "best": f"{result.best['values'][p.key]:.4g}",
                "good trials: min": f"{g.min():.4g}",
                "median": f"{g.median():.4g}",
                "max": f"{g.max():.4g}",
            }
        )
    parts.append(_table(pd.DataFrame(rows)))
    shown = _fit_rows(fit)
    for role, title, words in (
        (
            "calibrate",
            "Fit: calibrate targets",
            "fitted: the loss is the sum of their negative log-likelihoods",
        ),
        ("validate", "Fit: validate targets", "never fitted: they test the calibration"),
    ):
        sel = (fit["role"] == role) & (fit["status"] == "ok")
        parts.append(
            f"<h2 id='{role}'>{title}</h2><p class='note'>Targets {words}. Simulated: the best "
            "trial's mean over its replications, with the range of the middle 90%; z = "
            "(simulated - real) / sd; within tolerance: within the row's relative tolerance "
            "(10% by default) or |z| &le; 2.</p>"
        )
        parts.append(
            f"<div class='fit'>{_table(shown[sel.to_numpy()])}</div>"
            if sel.any()
            else "<p class='note'>None.</p>"
        )
    off = fit["status"] != "ok"
    if off.any():
        parts.append(
            "<h2 id='not-computable'>Not computable</h2>"
            "<p class='note'>Kept for the record; never scored.</p>"
        )
        parts.append(
            _table(fit.loc[off, ["id", "statistic", "role", "real_years", "real", "note", "source"]])
        )
    # loss over trials
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=finished["trial"],
            y=finished["loss"],
            mode="markers",
            name="trial",
            marker={"color": COLORS[0], "opacity": 0.6},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=finished["trial"],
            y=finished["loss"].cummin(),
            mode="lines",
            name="best so far",
            line={"color": COLORS[1]},
        )
    )
    g = finished[finished["good"]]
    fig.add_trace(
        go.Scatter(
            x=g["trial"],
            y=g["loss"],
            mode="markers",
            name="good (within noise of the best)",
            marker={"color": COLORS[2], "size": 9, "symbol": "circle-open"},
        )
    )
    fig.update_layout(title="Loss over trials", height=380, xaxis_title="trial", yaxis_title="loss")
    if len(finished) and (finished["loss"] > 0).all():
        fig.update_yaxes(type="log")
    parts.append("<h2>Loss over trials</h2>")
    parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    # importance
    parts.append("<h2>Parameter importance</h2>")
    imp = result.importance
    if isinstance(imp, dict) and imp:
        parts.append(
            "<p class='note'>PED-ANOVA (Optuna): how much each parameter matters for reaching the "
            "best 10% of losses, as shares summing to 1.</p>"
        )
        fig = go.Figure(go.Bar(x=list(imp.values()), y=list(imp), orientation="h", marker_color=COLORS[0]))
        fig.update_layout(height=120 + 40 * len(imp), xaxis_title="importance", margin={"l": 260})
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
        parts.append(
            _table(pd.DataFrame({"key": list(imp), "importance": [f"{v:.3f}" for v in imp.values()]}))
        )
    else:
        parts.append(f"<p class='note'>No importances: {html.escape(str(imp) or 'none computed')}.</p>")
    # uncertainty: loss against each parameter
    parts.append(
        "<h2>Parameter uncertainty</h2><p class='note'>Each dot is a finished trial; circled: "
        "the good trials. A flat bottom over a range means the targets do not tell the values "
        "in it apart.</p>"
    )
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=keys)
    for j, key in enumerate(keys, start=1):
        fig.add_trace(
            go.Scatter(
                x=finished[key],
                y=finished["loss"],
                mode="markers",
                showlegend=j == 1,
                name="trial",
                marker={"color": COLORS[0], "opacity": 0.5},
            ),
            row=1,
            col=j,
        )
        fig.add_trace(
            go.Scatter(
                x=g[key],
                y=g["loss"],
                mode="markers",
                showlegend=j == 1,
                name="good",
                marker={"color": COLORS[2], "size": 9, "symbol": "circle-open"},
            ),
            row=1,
            col=j,
        )
        fig.update_xaxes(title_text=key, row=1, col=j)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_layout(height=360)
    parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    # targets over time
    parts.append(
        "<h2>Targets over time</h2><p class='note'>The best trial: median over replications and "
        "the band of the middle 90%, by model year; the real figure at its model year (or over its "
        "model period) with 2 sd error bars. Congress figures exist in congress years only.</p>"
    )
    series = result.best["series"]
    for t in targets.computable():
        s = series[series["target"] == t.id]
        if not len(s):
            continue
        q = s.groupby("year")["value"].quantile([0.05, 0.5, 0.95]).unstack()
        color = COLORS[0] if t.role == "calibrate" else COLORS[3]
        fig = go.Figure()
        x = list(q.index)
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=list(q[0.95]) + list(q[0.05])[::-1],
                fill="toself",
                fillcolor=_rgba(color, 0.18),
                line={"width": 0},
                hoverinfo="skip",
                name="simulated: 5-95% of replications",
            )
        )
        fig.add_trace(
            go.Scatter(x=x, y=q[0.5], mode="lines+markers", line={"color": color}, name="simulated: median")
        )
        years = list(t.model_years)
        real = t.value / len(years) if t.stat.kind == "count" and len(years) > 1 else t.value
        sd = 2 * (
            t.sd / len(years) if t.stat.kind == "count" and len(years) > 1 and t.sd else target_sd_of(t)
        )
        fig.add_trace(
            go.Scatter(
                x=years,
                y=[real] * len(years),
                mode="markers+lines",
                marker={"color": "black", "size": 9, "symbol": "diamond"},
                line={"dash": "dot", "color": "black"},
                error_y={"type": "constant", "value": sd},
                name="real (2 sd)",
            )
        )
        per = (
            " (per year: the period's total shared over its years)"
            if t.stat.kind == "count" and len(years) > 1
            else ""
        )
        fig.update_layout(
            title=f"{t.id} ({t.role}): {t.stat.meaning}{per}",
            height=320,
            xaxis={"title": "model year", "tickformat": "d", "dtick": 1},
            title_font_size=13,
        )
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append(
        "<p class='note'>Data: <code>fit.parquet</code> (per target), <code>trials.parquet</code> "
        "(per trial: values, loss, its noise, good or not), <code>runs/</code> (every statistic of "
        "every run), <code>journal.log</code> (the Optuna study); the best values in "
        "<code>calibrated.toml</code>.</p>"
    )
    path.write_text(_page(f"calibration {name}", parts), encoding="utf-8")


def target_sd_of(t) -> float:
    from pipeline_sim.calibrate import target_sd

    return target_sd(t)

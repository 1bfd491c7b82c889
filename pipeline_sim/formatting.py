"""One way of showing numbers in every output (terminal, HTML report, CSV summaries).

- A metric has a label and a unit (taken from :data:`pipeline_sim.metrics.METRICS` for its
  meaning). Shares are shown as percent; a difference between two shares is in percentage
  points ("pp"); a relative change is labelled "relative".
- The number of decimals follows the precision that matters: the width of an interval when
  there is one, the size of the value otherwise; an interval is written with the decimals and
  the sign convention of its value (``-10.2 pp [-10.6, -9.8]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline_sim.metrics import METRICS


@dataclass(frozen=True)
class MetricInfo:
    """How to show one metric."""

    label: str  #: short name, sentence case ("Succession gap rate")
    unit: str  #: for shares: what the share is of; otherwise the unit of the number
    share: bool = False  #: a fraction in [0, 1], shown as percent
    better: int = 0  #: +1 if higher is better, -1 if lower is better, 0 if neither
    axis: str = ""  #: a shorter unit for chart axes (default: `unit`)

    def title(self) -> str:
        """Label with its unit, e.g. "Succession gap rate (% of key-post vacancies)"."""
        return f"{self.label} ({'% of ' if self.share else ''}{self.unit})"


#: the headline outcomes, in the order every table shows them
INFO: dict[str, MetricInfo] = {
    "succession_gap_rate": MetricInfo("Succession gap rate", "key-post vacancies", True, -1),
    "bench_strength": MetricInfo("Bench strength", "key posts with a ready successor", True, +1),
    "vacant_posts": MetricInfo(
        "Vacant posts", "posts vacant at year end, mean over years", False, -1, "posts vacant at year end"
    ),
    "ready_successors_per_post": MetricInfo(
        "Ready successors", "ready planned successors per key post", False, +1
    ),
    "quality_in_office": MetricInfo(
        "Quality in office",
        "mean latent competence of key-post holders (entrants: mean 0, SD 1)",
        False,
        +1,
        "mean competence (latent scale)",
    ),
    "integrity_problem_share": MetricInfo("Integrity problems", "post holders", True, -1),
    "women_in_office": MetricInfo("Women in office", "key-post holders", True),
    "young_in_office": MetricInfo("Young in office", "key-post holders", True),
    "women_in_planning": MetricInfo("Women in planning", "planning-pool entries", True),
    "young_in_planning": MetricInfo("Young in planning", "planning-pool entries", True),
    "rotations": MetricInfo("Rotations", "moves of planned cadres per year", False, 0, "moves per year"),
}

#: terminal labels (at most 16 characters, so that a comparison fits 80 columns)
SHORT: dict[str, str] = {
    "succession_gap_rate": "Succession gaps",
    "bench_strength": "Bench strength",
    "vacant_posts": "Vacant posts",
    "ready_successors_per_post": "Ready per post",
    "quality_in_office": "Holder quality",
    "integrity_problem_share": "Integrity issues",
    "women_in_office": "Women in office",
    "young_in_office": "Young in office",
    "women_in_planning": "Women in pools",
    "young_in_planning": "Young in pools",
    "rotations": "Rotations/year",
}


#: column heads of sensitivity indices (the intervals are half-widths)
INDEX_HEADS: dict[str, str] = {
    "outcome": "outcome",
    "parameter": "parameter",
    "pawn_median": "PAWN median",
    "pawn_min": "min",
    "pawn_max": "max",
    "S1_conf": "S1 ±95%",
    "ST_conf": "ST ±95%",
    "mu_star": "mu*",
    "mu_star_conf": "mu* ±95%",
}


def info(metric: str) -> MetricInfo:
    """The display of any metric: the headline table, else derived from its definition."""
    if metric in INFO:
        return INFO[metric]
    meaning = METRICS.get(metric, metric.replace("_", " "))
    share = meaning.startswith("share") or metric.endswith(("_share", "_in_office", "_in_planning"))
    label = metric.replace("_", " ").capitalize()
    unit = meaning.split(" of ", 1)[1] if share and " of " in meaning else meaning
    return MetricInfo(label, unit, share)


def is_share(metric: str) -> bool:
    return info(metric).share


def axis_title(metric: str, difference: bool = False) -> str:
    """An axis title with its unit: "% of key-post vacancies", "difference, pp", ..."""
    i = info(metric)
    unit = i.axis or i.unit
    if difference:
        return "difference (pp)" if i.share else f"difference in {unit}"
    return f"% of {i.unit}" if i.share else unit


def _decimals(scale: float, lowest: int, highest: int = 4) -> int:
    """Decimals that show `scale` (a magnitude in display units) with one significant digit."""
    if not math.isfinite(scale) or scale <= 0:
        return lowest
    return int(min(highest, max(lowest, -math.floor(math.log10(scale)))))


def _number(x: float, d: int, sign: bool = False, bound: bool = False) -> str:
    """`x` with `d` decimals (and "+" if `sign`); a value that rounds to zero is "0" unless it
    is an interval's `bound`, which keeps the side of zero it lies on ("-0.0")."""
    if x != x:
        return "-"
    if round(x, d) == 0:
        if bound and x != 0:
            return f"{'-' if x < 0 else '+'}{0:.{d}f}"
        return f"{0:.{d}f}"
    return f"{x:+,.{d}f}" if sign else f"{x:,.{d}f}"


def value_decimals(metric: str, values) -> int:
    """Decimals for levels of `metric`: shares in percent with one decimal (two or three for
    the smallest shares), other numbers with three significant digits of the largest."""
    vals = [abs(v) for v in values if v == v and v != 0]
    if not vals:
        return 1 if is_share(metric) else 0
    if is_share(metric):
        smallest = min(vals) * 100
        return 1 if smallest >= 0.1 else 2 if smallest >= 0.01 else 3
    return int(min(3, max(0, 2 - math.floor(math.log10(max(vals))))))


def fmt_value(metric: str, value: float, decimals: int | None = None) -> str:
    """A level: "10.2%" for a share, "599.9" for a count; "-" when undefined."""
    if value is None or value != value:
        return "-"
    d = value_decimals(metric, [value]) if decimals is None else decimals
    if is_share(metric):
        return f"{_number(value * 100, d)}%"
    return _number(value, d)


def diff_decimals(metric: str, mean: float, low: float | None = None, high: float | None = None) -> int:
    """Decimals for a difference: from its interval's half-width, else from its size."""
    k = 100 if is_share(metric) else 1
    if low is not None and high is not None and low == low and high == high and high > low:
        return _decimals((high - low) / 2 * k, 1 if is_share(metric) else 0)
    if mean != mean or mean == 0:
        return 1 if is_share(metric) else 0
    return _decimals(abs(mean) * k / 10, 1 if is_share(metric) else 0)


def diff_unit(metric: str) -> str:
    return "pp" if is_share(metric) else ""


def fmt_diff(metric: str, mean: float, low: float | None = None, high: float | None = None) -> str:
    """A difference with its interval, in one format: "-10.2 pp [-10.6, -9.8]" (shares) or
    "+12 [+3, +21]" (numbers); the interval keeps the sign and the decimals of the value."""
    if mean is None or mean != mean:
        return "-"
    k = 100 if is_share(metric) else 1
    d = diff_decimals(metric, mean, low, high)
    unit = " pp" if is_share(metric) else ""
    text = f"{_number(mean * k, d, sign=True)}{unit}"
    if low is not None and high is not None:
        if low == low and high == high:
            text += f" [{_number(low * k, d, True, True)}, {_number(high * k, d, True, True)}]"
        else:
            text += " [no interval]"
    return text


def fmt_relative(change: float) -> str:
    """A relative change, labelled as such: "-9.3% relative"."""
    if change is None or change != change or math.isinf(change):
        return "-"
    return f"{_number(change * 100, _decimals(abs(change) * 10, 0, 2) if change else 0, sign=True)}% relative"


def verdict(metric: str, mean: float, low: float, high: float) -> str:
    """Plain words: "lower (better)", "higher (worse)", "no clear difference", ..."""
    if mean != mean:
        return "not measured"
    if not (low == low and high == high):
        return "no interval"
    if low <= 0 <= high:
        return "no clear change"
    up = low > 0
    word = "higher" if up else "lower"
    b = info(metric).better
    if b:
        word += " (better)" if (b > 0) == up else " (worse)"
    return word


def diff_cell(metric: str, mean: float, low: float, high: float) -> str:
    """A difference, its interval and the verdict in one cell: "-10.2 pp [-10.6, -9.8], lower (better)"."""
    return f"{fmt_diff(metric, mean, low, high)}, {verdict(metric, mean, low, high)}"


#: plotly axis settings for a metric's values (shares are plotted in percent, see `scale`)
def axis(metric: str, difference: bool = False) -> dict:
    out: dict = {"title_text": axis_title(metric, difference)}
    if is_share(metric):
        out["ticksuffix"] = " pp" if difference else "%"
    return out


def scale(metric: str) -> float:
    """Factor from stored values to plotted values (100 for shares, shown in percent or pp)."""
    return 100.0 if is_share(metric) else 1.0


# ----------------------------------------------------------------------------------------------
# comparison tables: the same rows in the terminal, the report and summary.csv


def headline_order(metrics) -> list[str]:
    """`metrics` in the order of the headline outcomes (others after, as given)."""
    given = list(dict.fromkeys(str(m) for m in metrics))
    return [m for m in INFO if m in given] + [m for m in given if m not in INFO]


def comparison_rows(differences, scenario: str, metrics=None) -> list[dict]:
    """One row per outcome (headline order) for `scenario` against the reference: both values,
    the difference with its 95% interval, the relative change and a verdict, all formatted.
    `differences` is a frame of :func:`pipeline_sim.analysis.paired_differences` by outcome."""
    d = differences[differences["scenario"] == scenario]
    rows = []
    for metric in headline_order(metrics if metrics is not None else d["outcome"]):
        r = d[d["outcome"] == metric]
        if not len(r):
            continue
        rows.append(_row(metric, r.iloc[0]))
    return rows


def _row(metric: str, r) -> dict:
    dec = value_decimals(metric, [r["base_mean"], r["mean"]])
    base = r["base_mean"]
    rel = r["mean_diff"] / base if base == base and base != 0 else float("nan")
    return {
        "metric": metric,
        "outcome": info(metric).label,
        "short": SHORT.get(metric, info(metric).label),
        "unit": axis_title(metric),
        "reference": fmt_value(metric, base, dec),
        "scenario": fmt_value(metric, r["mean"], dec),
        "difference": fmt_diff(metric, r["mean_diff"], r["ci_low"], r["ci_high"]),
        "relative": fmt_relative(rel),
        "verdict": verdict(metric, r["mean_diff"], r["ci_low"], r["ci_high"]),
        "n_pairs": int(r["n_pairs"]),
    }


def level_effects(by_level, scenario: str, levels: list[str], all_label: str = "all") -> list[dict]:
    """Outcomes whose effect differs in sign between levels or is large at some level, each with
    its rows by level (formatted like :func:`comparison_rows`) and the reason it is shown.

    Opposite: one level's interval lies above zero and another's below. Large: a level's clear
    difference is at least twice the one over all levels and at least 1 pp (shares) or 5% of the
    reference value (other outcomes)."""
    d = by_level[by_level["scenario"] == scenario]
    out = []
    for metric in headline_order(d["outcome"]):
        m = d[d["outcome"] == metric].set_index("level")
        lv = [x for x in levels if x in m.index and x != all_label]
        if len(lv) < 2:
            continue
        overall = m.loc[all_label] if all_label in m.index else None
        up = [x for x in lv if m.loc[x, "ci_low"] > 0]
        down = [x for x in lv if m.loc[x, "ci_high"] < 0]
        reason = None
        if up and down:
            reason = "opposite"
        else:
            base = abs(overall["mean_diff"]) if overall is not None else 0.0
            for x in up + down:
                size = abs(m.loc[x, "mean_diff"])
                floor = 0.01 if is_share(metric) else 0.05 * abs(m.loc[x, "base_mean"])
                if size >= 2 * base and size >= floor:
                    reason = "large"
                    break
        if reason is None:
            continue
        rows = [{**_row(metric, m.loc[x]), "level": x} for x in lv]
        if overall is not None:
            rows.append({**_row(metric, overall), "level": all_label})
        out.append({"metric": metric, "label": info(metric).label, "reason": reason, "rows": rows})
    return out


def level_sentence(effect: dict) -> str:
    """One line: "Succession gap rate: commune -11.0 pp, provincial +3.0 pp (opposite effects)"."""
    parts = [
        f"{r['level']} {r['difference'].split(' [')[0]}"
        for r in effect["rows"]
        if r["level"] != "all" and r["verdict"] not in ("no clear change", "no interval")
    ]
    why = "opposite effects by level" if effect["reason"] == "opposite" else "large at some levels"
    return f"{effect['label']}: {', '.join(parts)} ({why})"


def units_note(metrics, differences: bool = True, short: bool = False) -> str:
    """What the numbers of a table are, for the outcomes that are not shares."""
    metrics = headline_order(metrics)
    names = {m: (SHORT.get(m, info(m).label) if short else info(m).label) for m in metrics}
    notes = [f"{names[m]}: {info(m).unit}" for m in metrics if not is_share(m)]
    text = "Shares in %" + ("; differences of shares in percentage points (pp)" if differences else "")
    return text + ("; " + "; ".join(notes) if notes else "") + "."


def summary_rows(summary, metrics) -> list[tuple[str, str, list[str]]]:
    """The rows of a run's summary (terminal and summary.csv): (label, unit, one cell per level),
    the gap rate followed by its 10-90% range over replications when there are several."""
    rows = []
    has_band = "gap_rate_p10" in summary.columns
    for name in metrics:
        values = [row.get(name) for _, row in summary.iterrows()]
        d = value_decimals(name, [v for v in values if v is not None])
        unit = f"% of {info(name).unit}" if is_share(name) else info(name).unit
        rows.append((SHORT.get(name, info(name).label), unit, [fmt_value(name, v, d) for v in values]))
        if name == "succession_gap_rate" and has_band:
            lo, hi = summary["gap_rate_p10"], summary["gap_rate_p90"]
            d = value_decimals(name, [*lo, *hi])
            band = [
                "-" if a != a or b != b else f"{fmt_value(name, a, d)}-{fmt_value(name, b, d)}"
                for a, b in zip(lo, hi, strict=True)
            ]
            rows.append(("  10-90% of reps", unit, band))
    return rows

"""Study 4: the 2025 reform as an event: the surplus of leaders, early retirement and succession.

python experiments/transition2025/study.py                       # scale 0.1, 8 replications (minutes)
python experiments/transition2025/study.py --scale 1.0 --reps 3  # the national structure

Runs, with the same seeds: `baseline` (no reform: the historic structure throughout),
`transition2025` (the reform on 1 July 2025) and its two surplus variants, from 2021 to 2035; and
`reform2025` (the 2025 structure from the start, 2026-2035). Prints the README's tables and writes
its figures (matplotlib) and the metrics of every run (`results/metrics.parquet`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

from study import markdown  # noqa: E402

from pipeline_sim import load_scenario, run  # noqa: E402
from pipeline_sim.analysis import paired_differences  # noqa: E402

HERE = Path(__file__).resolve().parent
SCENARIOS = {
    "baseline": "no reform",
    "transition2025": "the reform on 1 July 2025",
    "transition2025_no_early_retirement": "the same, no early retirement",
    "transition2025_fast_reduction": "the same, surplus gone in two years",
    "reform2025": "the 2025 structure from 2026",
}
PERIODS = {"2021-24": (2021, 2024), "2025": (2025, 2025), "2026-30": (2026, 2030), "2031-35": (2031, 2035)}
OUTCOMES = {
    "succession_gap_rate": ("succession gaps", "%"),
    "bench_strength": ("bench strength", "%"),
    "vacant_key_posts": ("vacant key posts", "n"),
    "quality_in_office": ("quality in office", "x"),
    "women_in_office": ("women in office", "%"),
    "young_in_office": ("young in office", "%"),
    "women_in_planning": ("women in planning", "%"),
    "young_in_planning": ("young in planning", "%"),
    "age_in_office_mean": ("age of key-post holders", "y"),
}


def _totals(metrics: pd.DataFrame, level: str = "all") -> pd.DataFrame:
    m = metrics[(metrics["level"] == level) & (metrics["sector"] == "all")]
    return m.pivot_table(index=["scenario", "seed", "year"], columns="metric", values="value", observed=True)


def _cell(values: pd.Series, unit: str) -> str:
    if values.empty or values.isna().all():
        return "-"
    v = float(values.mean())
    return {"%": f"{100 * v:.1f}%", "n": f"{v:,.0f}", "x": f"{v:.2f}", "y": f"{v:.1f}"}[unit]


def _period_means(tot: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per scenario, seed and period: the mean of a yearly metric over the period's years (for the
    counts and rates of flows, the ratio of sums where the metric is a rate of two counts)."""
    rows = []
    for name, (a, b) in PERIODS.items():
        part = tot[(tot.index.get_level_values("year") >= a) & (tot.index.get_level_values("year") <= b)]
        if metric == "succession_gap_rate":
            g = part.groupby(level=["scenario", "seed"])[["succession_gaps", "key_vacancies"]].sum()
            value = g["succession_gaps"] / g["key_vacancies"].where(g["key_vacancies"] > 0)
        else:
            value = part.groupby(level=["scenario", "seed"])[metric].mean()
        rows.append(value.rename(name))
    return pd.concat(rows, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description="The 2025 reform as an event")
    parser.add_argument("--scale", type=float, default=0.1, help="hierarchy.scale (1.0 = national)")
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    t0 = time.time()
    parts = []
    for name in SCENARIOS:
        scen = load_scenario(ROOT / "scenarios" / f"{name}.toml", overrides={"hierarchy.scale": args.scale})
        years = 2035 - scen.simulation.start_year + 1
        result = run(scen, reps=args.reps, seed=1, years=years, workers=args.workers)
        m = result.metrics
        m["scenario"] = name
        parts.append(m)
    metrics = pd.concat(parts, ignore_index=True)
    for col in ("level", "sector", "metric"):
        metrics[col] = metrics[col].astype(str)
    args.out.mkdir(parents=True, exist_ok=True)
    metrics.to_parquet(args.out / "metrics.parquet", index=False)
    print(
        f"# transition2025: {len(SCENARIOS)} scenarios x {args.reps} replications, scale {args.scale}, "
        f"2021-2035 (reform2025: 2026-2035), {time.time() - t0:.0f} s\n"
    )
    tot = _totals(metrics)
    names = list(SCENARIOS)

    # the event and the surplus
    tr = tot.xs("transition2025", level="scenario")
    print("## The event (transition2025, all levels; means over replications)\n")
    rows = []
    for year in range(2024, 2032):
        y = tr.xs(year, level="year")
        rows.append(
            {
                "year": year,
                "cadres": f"{y['cadres'].mean():,.0f}",
                "post holders": f"{y['holders'].mean():,.0f}",
                "surplus holders": f"{y['surplus_holders'].mean():,.0f}",
                "early retirements": f"{y['exits_early_retired'].mean():,.0f}",
                "demoted": f"{y['restructure_demoted'].mean():,.0f}",
                "transferred": f"{y['restructure_transferred'].mean():,.0f}",
                "stepped down": f"{y['restructure_stepped_down'].mean():,.0f}",
            }
        )
    print(markdown(pd.DataFrame(rows)) + "\n")
    by_level = metrics[
        (metrics["scenario"] == "transition2025")
        & (metrics["sector"] == "all")
        & (metrics["metric"] == "surplus_holders")
        & metrics["year"].between(2025, 2030)
    ]
    table = by_level.pivot_table(index="level", columns="year", values="value", aggfunc="mean")
    table = table.reindex(["central", "provincial", "commune", "all"]).map(lambda v: f"{v:,.0f}")
    print("## Surplus holders by level (transition2025, year end)\n")
    print(markdown(table.reset_index()) + "\n")
    for variant in names[1:4]:
        s = tot.xs(variant, level="scenario")["surplus_holders"].groupby(level="year").mean()
        gone = s[(s.index > 2025) & (s <= 0)]
        print(
            f"- {variant}: surplus at the end of 2025 {s.get(2025, np.nan):,.0f}; back to the quota in "
            f"{int(gone.index.min()) if len(gone) else 'not by 2035'}"
        )
    print()

    # succession before and after, by period
    print("## Outcomes by period (all levels; means over replications)\n")
    for metric, (label, unit) in OUTCOMES.items():
        per = _period_means(tot, metric)
        rows = []
        for name in names:
            if name not in per.index.get_level_values("scenario"):
                continue
            part = per.xs(name, level="scenario")
            rows.append({"scenario": name, **{p: _cell(part[p], unit) for p in PERIODS}})
        print(f"### {label}\n")
        print(markdown(pd.DataFrame(rows)) + "\n")

    # paired differences transition - no reform, 2026-2035
    print("## Differences over 2026-2035, paired by seed (95% Student-t intervals)\n")
    later = tot[tot.index.get_level_values("year") >= 2026]
    rows = []
    for metric, (label, unit) in OUTCOMES.items():
        if metric == "succession_gap_rate":
            g = later.groupby(level=["scenario", "seed"])[["succession_gaps", "key_vacancies"]].sum()
            value = (g["succession_gaps"] / g["key_vacancies"]).rename("value")
        else:
            value = later.groupby(level=["scenario", "seed"])[metric].mean().rename("value")
        frame = value.reset_index().assign(outcome=metric)
        diffs = pd.concat(
            [
                paired_differences(frame[frame["scenario"].isin([ref, other])], ref, ["outcome"]).assign(
                    ref=ref
                )
                for ref, other in (("baseline", "transition2025"), ("transition2025", "reform2025"))
            ]
        )
        for _, d in diffs.iterrows():
            k = 100 if unit == "%" else 1
            u = " pp" if unit == "%" else ""
            rows.append(
                {
                    "outcome": label,
                    "comparison": f"{d['scenario']} - {d['ref']}",
                    "difference [95% CI]": f"{k * d['mean_diff']:+.2f}{u} [{k * d['ci_low']:+.2f}, "
                    f"{k * d['ci_high']:+.2f}]",
                }
            )
    print(markdown(pd.DataFrame(rows)) + "\n")
    _figures(tot, names)
    print(f"figures: {HERE / 'figures'}")


def _figures(tot: pd.DataFrame, names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = HERE / "figures"
    folder.mkdir(exist_ok=True)
    colors = dict(zip(names, ["#444444", "#d62728", "#ff9896", "#9467bd", "#1f77b4"], strict=True))
    for metric, title, scale in (
        ("surplus_holders", "Post holders above the quota (year end)", 1),
        ("succession_gap_rate", "Succession gap rate (% of key-post vacancies)", 100),
        ("bench_strength", "Bench strength (% of key posts with a ready successor)", 100),
        ("women_in_office", "Women in office (% of key-post holders)", 100),
        ("young_in_office", "Young in office (% of key-post holders)", 100),
        ("cadres", "Cadres in service (year end)", 1),
    ):
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for name in names:
            if name not in tot.index.get_level_values("scenario"):
                continue
            s = tot.xs(name, level="scenario")[metric].unstack("seed") * scale
            ax.plot(
                s.index,
                s.median(axis=1),
                color=colors[name],
                label=name,
                lw=2 if name == "transition2025" else 1.2,
            )
            ax.fill_between(
                s.index, s.quantile(0.1, axis=1), s.quantile(0.9, axis=1), color=colors[name], alpha=0.15
            )
        ax.axvline(2025.5, color="#999999", ls=":", lw=1)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        fig.savefig(folder / f"{metric}.png", dpi=100)
        plt.close(fig)


if __name__ == "__main__":
    main()

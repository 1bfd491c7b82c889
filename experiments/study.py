"""Shared by the study scripts: run a comparison and print its findings as Markdown tables."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from pipeline_sim import formatting as fmt
from pipeline_sim.analysis import paired_differences
from pipeline_sim.compare import compare, load_all
from pipeline_sim.experiment import HEADLINE_OUTCOMES, ExperimentError, run_outcomes

ROOT = Path(__file__).resolve().parent.parent


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table of formatted cells."""
    cells = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


NOTE = (
    "Means over replications; differences paired by seed, with their 95% interval (Student t) and "
    "a verdict (whether the interval lies above or below zero). Shares in %, differences of shares "
    "in percentage points (pp)."
)


def save_figures(name: str, data: pd.DataFrame, names: list[str], outcomes: list[str]) -> None:
    """PNG copies of the report's figures for the study's README (needs the `figures` extra:
    kaleido, which drives an installed Chrome or Chromium)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        print("(figures not saved: pip install -e '.[figures]' and a Chrome or Chromium)\n")
        return
    from pipeline_sim.report import FIGURES, metric_figure

    folder = Path(__file__).resolve().parent / name / "figures"
    folder.mkdir(exist_ok=True)
    yearly = data[(data["level"] == "all") & (data["sector"] == "all")]
    for outcome in outcomes:
        if outcome in FIGURES:
            fig = metric_figure(yearly, names, outcome)
            fig.write_image(folder / f"{outcome}.png", width=1100, height=420, scale=1)


def main(name: str, scenarios: list[str], outcomes: list[str], question: str) -> None:
    parser = argparse.ArgumentParser(description=question)
    parser.add_argument("--scale", type=float, default=0.1, help="hierarchy.scale (1.0 = national)")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--years", type=int, default=15, help="three terms")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / name / "results")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    default_out = Path(__file__).resolve().parent / name / "results"
    scens = load_all([ROOT / "scenarios" / f"{s}.toml" for s in scenarios], {"hierarchy.scale": args.scale})
    t0 = time.time()
    try:
        # only the study's own folder is replaced when the study is run again
        compare(
            scens,
            args.reps,
            1,
            args.years,
            args.out,
            workers=args.workers,
            resume=args.resume,
            overwrite=not args.resume and args.out.resolve() == default_out,
        )
    except ExperimentError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(
        f"# {name}: {len(scens)} scenarios x {args.reps} replications, scale {args.scale}, "
        f"{args.years} years, {time.time() - t0:.0f} s; report: {args.out / 'report.html'}\n"
    )
    data = pd.read_parquet(args.out / "data.parquet")
    names = [s.name for s in scens]
    if args.out.resolve() == default_out:  # the README's figures show the README's set-up only
        save_figures(name, data, names, outcomes)
    levels = [*scens[0].hierarchy.levels, "all"]
    print(NOTE + "\n")
    for outcome in outcomes:
        rows = []
        for level in levels:
            per_run = run_outcomes(
                data,
                ["scenario", "seed"],
                level=level,
                extra={outcome: HEADLINE_OUTCOMES.get(outcome, (outcome, None))},
            )
            means = per_run.groupby("scenario")[outcome].mean()
            row = {"level": level, **{n: means.get(n, float("nan")) for n in names}}
            diffs = paired_differences(
                per_run.melt(id_vars=["scenario", "seed"], value_vars=[outcome], var_name="outcome"),
                names[0],
                ["outcome"],
            )
            for _, d in diffs.iterrows():
                row[f"{d['scenario']} - {names[0]}"] = fmt.diff_cell(
                    outcome, d["mean_diff"], d["ci_low"], d["ci_high"]
                )
            rows.append(row)
        table = pd.DataFrame(rows)
        dec = fmt.value_decimals(outcome, table[names].to_numpy().ravel())
        for n in names:
            table[n] = [fmt.fmt_value(outcome, v, dec) for v in table[n]]
        print(f"## {fmt.info(outcome).title()}\n")
        print(markdown(table))
        print()

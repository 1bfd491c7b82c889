"""Is the start steady? Exits by cause, discipline and step-downs in each year of a run.

    python benchmarks/start_steadiness.py                          # national baseline, 10 years
    python benchmarks/start_steadiness.py --scale 0.05 --years 20 --seed 2
    python benchmarks/start_steadiness.py --scenario scenarios/teaching.toml --scale 1

The first year's rows should lie within the range of the later years (a wave of retirements or
a climb of discipline in the first term would show a transient that a burn-in would remove).
Also given: women among those who retired, and retirements from central party posts and from
provincial party secretary posts as a share of those posts (historic structure).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline_sim import PipelineModel


def table(scenario: str, scale: float, years: int, seed: int) -> pd.DataFrame:
    model = PipelineModel(scenario, seed=seed, years=years, **{"hierarchy.scale": scale})
    p = model.posts
    party = model.sectors.index("party") if "party" in model.sectors else 0

    def posts_of(level: str, head_only: bool) -> np.ndarray:
        if level not in model.levels:
            return np.zeros(0, dtype=np.int64)
        hit = (p.level == model.levels.index(level)) & (p.sector == party)
        return np.flatnonzero(hit & (p.rank == 0) if head_only else hit)

    central_party, secretaries = posts_of("central", False), posts_of("provincial", True)
    model.run()
    ev = model.events_frame()
    exits = ev[ev["kind"] == "exit"]
    out = exits.groupby(["year", exits["cause"].astype(str)], observed=True).size().unstack(fill_value=0)
    retired = exits[exits["cause"] == "retired"]
    out["retired_women"] = retired[retired["female"]].groupby("year").size()
    by_year = retired.groupby("year")["post"]
    for name, posts in (
        ("retired_central_party_%", central_party),
        ("retired_prov_secretaries_%", secretaries),
    ):
        if len(posts):
            out[name] = 100 * by_year.apply(lambda s, posts=posts: s.isin(posts).sum()) / len(posts)
    f = model.metrics_frame()
    f = f[(f["level"] == "all") & (f["sector"] == "all")]
    wide = f.pivot(index="year", columns="metric", values="value")
    out["disciplined"] = wide[[c for c in wide.columns if c.startswith("disciplined_")]].sum(axis=1)
    for name in ("step_downs", "undetected_violation_share", "quality_in_office", "women_in_office"):
        out[name] = wide[name]
    return out.fillna(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="scenarios/baseline.toml")
    parser.add_argument("--scale", type=float, default=1.0, help="hierarchy.scale")
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.precision", 3):
        print(table(args.scenario, args.scale, args.years, args.seed).to_string())


if __name__ == "__main__":
    main()

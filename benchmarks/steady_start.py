"""The steady state of latent competence that the start is drawn to (pipeline_sim/data/steady_start.toml).

    python benchmarks/steady_start.py                      # writes pipeline_sim/data/steady_start.toml
    python benchmarks/steady_start.py --years 40 --seeds 1 2 --print

Merit selection sorts the more competent into posts, so the competence of holders at each level
and rank settles, after two or three terms, well above the competence that the start would give
them from the grade bonus alone (and the best staff are promoted out of the pools). This script
runs each preset's baseline at full scale from a start without the steady means
(`initial.steady_competence = false`) and records the mean competence of holders by level and
rank and of staff by level over the last years of the run (default: years 25-40, two seeds). The
model then starts each group at that mean (`initial.holder_competence_mean`,
`initial.staff_competence_mean`). Run it again after a change to the rules of selection, work or
recruitment, or after a calibration.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from pipeline_sim import PipelineModel
from pipeline_sim.scenario.schema import RANKS
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.hierarchy import STAFF_RANK

PRESETS = {
    "historic": "scenarios/baseline.toml",
    "reform2025": "scenarios/reform2025.toml",
    "teaching": "scenarios/teaching.toml",
}
OUT = Path(__file__).resolve().parents[1] / "pipeline_sim" / "data" / "steady_start.toml"


def steady_means(scenario: str, years: int, settle: int, seeds: list[int]) -> dict[str, dict[str, float]]:
    sums: dict[tuple[str, int], list[float]] = {}
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = PipelineModel(
                scenario,
                seed=seed,
                years=years,
                **{"hierarchy.scale": 1.0, "initial.steady_competence": False, "output.event_log": False},
            )
        for year in range(years):
            model.step()
            if year < settle:
                continue
            c, p = model.cadres, model.posts
            rows = np.flatnonzero(c.status == ACTIVE)
            held = c.post[rows] >= 0
            rank = np.where(held, p.rank[np.maximum(c.post[rows], 0)], STAFF_RANK)
            for lvl in range(model.units.n_levels):
                for rk in range(STAFF_RANK + 1):
                    sel = (c.level[rows] == lvl) & (rank == rk)
                    if sel.any():
                        sums.setdefault((model.levels[lvl], rk), []).append(
                            float(c.competence[rows[sel]].mean())
                        )
    holders = {
        f"{lvl}.{RANKS[rk]}": round(float(np.mean(v)), 3) for (lvl, rk), v in sums.items() if rk < STAFF_RANK
    }
    staff = {lvl: round(float(np.mean(v)), 3) for (lvl, rk), v in sums.items() if rk == STAFF_RANK}
    return {"holders": holders, "staff": staff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=40)
    parser.add_argument("--settle", type=int, default=25, help="years left out at the start")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--print", action="store_true", help="print instead of writing the file")
    args = parser.parse_args()
    lines = [
        "# Mean latent competence at the model's steady state, by preset: holders by level and rank,",
        f"# staff by level (years {args.settle + 1}-{args.years} of full-scale runs, seeds {args.seeds}).",
        f"# Written by: python benchmarks/steady_start.py --years {args.years} --settle {args.settle} "
        f"--seeds {' '.join(map(str, args.seeds))}",
        "",
    ]
    for preset, scenario in PRESETS.items():
        means = steady_means(scenario, args.years, args.settle, args.seeds)
        for part in ("holders", "staff"):
            lines.append(f"[{preset}.{part}]")
            lines += [f'"{k}" = {v}' for k, v in means[part].items()]
            lines.append("")
        print(f"{preset}: done", flush=True)
    text = "\n".join(lines)
    if args.print:
        print(text)
    else:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""`pipeline-sim compare`: scenarios run with the same seeds, compared with paired differences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline_sim.analysis import paired_differences
from pipeline_sim.experiment import (
    ExperimentError,
    RunSpec,
    check_scheduler,
    execute,
    prepare_folder,
    run_outcomes,
)
from pipeline_sim.folders import FolderError, claim_fresh, folder_name
from pipeline_sim.metrics import ALL
from pipeline_sim.report import write_compare_report
from pipeline_sim.scenario import Scenario, dumps_toml, load_scenario, scenario_to_dict
from pipeline_sim.scenario.schema import check_seeds


@dataclass
class Comparison:
    folder: Path
    names: list[str]
    outcomes: pd.DataFrame
    differences: pd.DataFrame


def plan_comparison(scenarios: list[Scenario], reps: int, seed: int, years: int | None) -> list[RunSpec]:
    """Every scenario with replication seeds seed, seed+1, ... (the same for every scenario)."""
    specs = []
    for scen in scenarios:
        data = scen.model_dump(mode="json")
        for rep in range(reps):
            specs.append(
                RunSpec(
                    f"{scen.name}-r{rep:04d}", data, seed + rep, years, {"scenario": scen.name, "rep": rep}
                )
            )
    return specs


def _manifest(scenarios: list[Scenario], reps: int, seed: int, years: int | None) -> dict:
    from pipeline_sim import __version__

    return {
        "version": __version__,
        "scenarios": [s.model_dump(mode="json") for s in scenarios],
        "reps": reps,
        "seed": seed,
        "years": years,
    }


def default_folder(names: list[str], root: Path = Path("results"), kind: str = "compare") -> Path:
    """Claim results/compare-A-vs-B (or sweep-A), or the same with -2, -3, ...: the first free one."""
    try:
        return claim_fresh(root, folder_name(f"{kind}-" + "-vs-".join(names)))
    except FolderError as exc:
        raise ExperimentError(str(exc)) from None


def load_all(paths: list[str | Path], overrides: dict | None = None) -> list[Scenario]:
    """Load and validate every scenario first (any error stops before a single run)."""
    scenarios = [load_scenario(p, overrides=overrides) for p in paths]
    taken = {s.name for s in scenarios}
    used: set[str] = set()
    for i, s in enumerate(scenarios):  # names label the runs: make them unique
        name, k = s.name, 2
        while name in used:
            while f"{s.name}-{k}" in taken or f"{s.name}-{k}" in used:
                k += 1
            name = f"{s.name}-{k}"
        if name != s.name:
            scenarios[i] = s.model_copy(update={"name": name})
        used.add(name)
    return scenarios


def compare(
    scenarios: list[Scenario],
    reps: int,
    seed: int,
    years: int | None,
    folder: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_done: Callable[[int, int], None] | None = None,
    command: str | None = None,
    notify: Callable[[str], None] | None = None,
    dashboard: bool = False,
) -> Comparison:
    """Run, analyse and report a comparison in `folder` (see the module docstring; `notify` and
    `dashboard` as for :func:`pipeline_sim.experiment.execute`)."""
    try:
        check_seeds(seed, reps)
    except ValueError as exc:
        raise ExperimentError(f"--seed {seed}: {exc}") from None
    manifest = _manifest(scenarios, reps, seed, years)
    check_scheduler(scheduler)
    folder = prepare_folder(folder, manifest, "comparison.json", resume, overwrite)
    specs = plan_comparison(scenarios, reps, seed, years)
    data = execute(
        specs,
        folder,
        workers=workers,
        scheduler=scheduler,
        on_done=on_done,
        notify=notify,
        dashboard=dashboard,
    )
    names = [s.name for s in scenarios]
    data = data[["run", "scenario", "seed", "rep", "year", "level", "sector", "metric", "value"]]
    data.to_parquet(folder / "data.parquet", index=False)
    for s in scenarios:
        (folder / "scenarios").mkdir(exist_ok=True)
        (folder / "scenarios" / f"{s.name}.toml").write_text(
            dumps_toml(scenario_to_dict(s)), encoding="utf-8"
        )

    keys = ["scenario", "seed"]
    outcomes = run_outcomes(data, keys)
    outcomes.to_parquet(folder / "outcomes.parquet", index=False)
    long = outcomes.melt(id_vars=keys, var_name="outcome")
    differences = paired_differences(long, names[0], ["outcome"])
    differences.to_parquet(folder / "differences.parquet", index=False)

    def by(dimension: str, values: list[str]) -> pd.DataFrame:
        parts = []
        for v in values:
            kw = {"level": v, "sector": ALL} if dimension == "level" else {"level": ALL, "sector": v}
            o = run_outcomes(data, keys, **kw).melt(id_vars=keys, var_name="outcome")
            d = paired_differences(o, names[0], ["outcome"])
            d[dimension] = v
            parts.append(d)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    levels = [*scenarios[0].hierarchy.levels, ALL]
    sectors = [*scenarios[0].hierarchy.sectors, ALL]
    by_level = by("level", levels) if len(names) > 1 else pd.DataFrame()
    by_sector = by("sector", sectors) if len(names) > 1 else pd.DataFrame()
    yearly = data[(data["level"] == ALL) & (data["sector"] == ALL)]
    write_compare_report(
        folder / "report.html",
        [s.model_dump(mode="json") for s in scenarios],
        yearly,
        outcomes,
        by_level,
        by_sector,
        reps,
        command,
    )
    return Comparison(folder, names, outcomes, differences)

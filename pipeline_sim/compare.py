"""`pipeline-sim compare`: scenarios run with the same seeds, compared with paired differences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline_sim.analysis import paired_differences
from pipeline_sim.experiment import (
    ExperimentError,
    RunSpec,
    check_scheduler,
    execute,
    in_python_words,
    prepare_folder,
    run_outcomes,
)
from pipeline_sim.folders import FolderError, claim_fresh, folder_name
from pipeline_sim.metrics import ALL
from pipeline_sim.report import write_compare_report
from pipeline_sim.scenario import Scenario, dumps_toml, load_scenario, scenario_to_dict
from pipeline_sim.scenario.loader import flatten
from pipeline_sim.scenario.schema import check_seeds


@dataclass
class Comparison:
    folder: Path
    names: list[str]
    outcomes: pd.DataFrame
    differences: pd.DataFrame
    by_level: pd.DataFrame = field(default_factory=pd.DataFrame)
    levels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_comparison(scenarios: list[Scenario], reps: int, years: int | None) -> list[str]:
    """Errors (raised) and warnings (returned) about a comparison, before any run.

    At least two scenarios are needed. Fewer than two replications, scenarios of different
    structures (hierarchy) or of different lengths get a warning saying what it means."""
    if len(scenarios) < 2:
        raise ExperimentError(
            "a comparison needs at least two scenarios: the reference and one to compare with it "
            "(to run a single scenario, use `run`)"
        )
    warnings = []
    if reps < 2:
        warnings.append(
            f"{reps} replication per scenario: differences get no interval, so they cannot be told "
            "from chance; use at least 2 replications (20 by default)"
        )
    ref = scenarios[0]
    flat_ref = flatten(ref.model_dump(mode="json")["hierarchy"])
    for s in scenarios[1:]:
        flat = flatten(s.model_dump(mode="json")["hierarchy"])
        keys = sorted(k for k in set(flat_ref) | set(flat) if flat_ref.get(k) != flat.get(k))
        if keys:
            shown = ", ".join(f"hierarchy.{k}" for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
            warnings.append(
                f"{s.name} has another structure than {ref.name} ({len(keys)} hierarchy keys differ: "
                f"{shown}): its differences mix the policy's effect with the structure's, and levels "
                "or sectors that only one of them has are left out of the paired differences"
            )
        if years is None and s.simulation.years != ref.simulation.years:
            warnings.append(
                f"{s.name} runs {s.simulation.years} years and {ref.name} {ref.simulation.years}: "
                "differences over all years then compare periods of different lengths; give both "
                "the same number of years"
            )
        if s.simulation.start_year != ref.simulation.start_year:
            warnings.append(
                f"{s.name} starts in {s.simulation.start_year} and {ref.name} in "
                f"{ref.simulation.start_year}: year-by-year differences pair different calendar years"
            )
    return warnings


def plan_comparison(
    scenarios: list[Scenario], reps: int, seed: int, years: int | None, data: list[list[dict]] | None = None
) -> list[RunSpec]:
    """Every scenario with replication seeds seed, seed+1, ... (the same for every scenario);
    `data` gives each scenario's data per replication (parameters drawn from a calibration)."""
    specs = []
    for i, scen in enumerate(scenarios):
        own = scen.model_dump(mode="json")
        for rep in range(reps):
            specs.append(
                RunSpec(
                    f"{scen.name}-r{rep:04d}",
                    own if data is None else data[i][rep],
                    seed + rep,
                    years,
                    {"scenario": scen.name, "rep": rep},
                )
            )
    return specs


def _manifest(
    scenarios: list[Scenario], reps: int, seed: int, years: int | None, draws: pd.DataFrame | None = None
) -> dict:
    from pipeline_sim import __version__

    out = {
        "version": __version__,
        "scenarios": [s.model_dump(mode="json") for s in scenarios],
        "reps": reps,
        "seed": seed,
        "years": years,
    }
    if draws is not None:
        out["parameters_from"] = draws.to_dict(orient="records")
    return out


def default_folder(
    names: list[str], root: Path = Path("results"), kind: str = "compare", tag: str = ""
) -> Path:
    """Claim results/compare-A-vs-B (or sweep-A), or the same with -2, -3, ...: the first free one;
    a `tag` (e.g. of overrides) is added as results/compare-A-vs-B--TAG."""
    stem = f"{kind}-" + "-vs-".join(names) + (f"--{tag}" if tag else "")
    try:
        return claim_fresh(root, folder_name(stem))
    except FolderError as exc:
        raise ExperimentError(str(exc)) from None


def load_all(
    paths: list[str | Path], overrides: dict | None = None, overrides_label: str = "overrides"
) -> list[Scenario]:
    """Load and validate every scenario first (any error stops before a single run)."""
    scenarios = [load_scenario(p, overrides=overrides, overrides_label=overrides_label) for p in paths]
    for i, p in enumerate(paths):  # a file that extends another without a description of its own
        if not isinstance(p, dict):
            parent = _inherited_description_from(Path(p))
            if parent is not None:
                scenarios[i] = scenarios[i].model_copy(
                    update={"description": f"No description of its own; extends {parent}."}
                )
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


def _inherited_description_from(path: Path) -> str | None:
    """The stem of the file `path` extends when `path` has no description of its own (else None)."""
    import tomllib

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    parent = raw.get("extends")
    if "description" in raw or not isinstance(parent, str):
        return None
    return Path(parent).stem


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
    cli: bool = False,
    parameters_from: str | Path | None = None,
) -> Comparison:
    """Run, analyse and report a comparison in `folder` (see the module docstring; `notify` and
    `dashboard` as for :func:`pipeline_sim.experiment.execute`).

    Raises ArgumentError for reps or years below 1 (seed below 0), ExperimentError for fewer than
    two scenarios or replication seeds past 2^63-1; warns (``warnings.warn``, listed in
    ``Comparison.warnings``) for fewer than two replications or scenarios of different structures
    or lengths.

    With `parameters_from` (a calibration folder), each replication draws the calibrated keys from
    the calibration's good trials, the same draw for replication i in every scenario, except in a
    scenario that sets a key apart from both the reference and the calibration's input scenario
    (it keeps its own value); the draws are written to parameters.parquet."""
    import warnings as _warnings

    from pipeline_sim.api import check_run_args

    check_run_args(reps, years, seed, workers)
    try:
        check_seeds(seed, reps)
    except ValueError as exc:
        raise ExperimentError(f"seed {seed}: {exc}") from None
    notes = check_comparison(scenarios, reps, years)
    if years is not None:  # what is run, saved and reported: --years replaces each one's length
        scenarios = [s.model_copy(deep=True) for s in scenarios]
        for s in scenarios:
            s.simulation.years = years
    data_per_rep = draws_frame = None
    report_notes = []
    if parameters_from is not None:
        from pipeline_sim.calibrate import Draws, apply_draws, kept_keys, parameter_notes

        try:
            draws = Draws.load(parameters_from)
        except ExperimentError as exc:
            raise (exc if cli else in_python_words(exc)) from None
        dumped = [s.model_dump(mode="json") for s in scenarios]
        keep, kept_notes = kept_keys(draws, dumped)
        notes += kept_notes
        data_per_rep, draws_frame = apply_draws(draws, dumped, seed, reps, keep)
        report_notes.append(parameter_notes(draws, reps))
    for note in notes:
        _warnings.warn(note, UserWarning, stacklevel=2)
    manifest = _manifest(scenarios, reps, seed, years, draws_frame)
    try:
        check_scheduler(scheduler)
        folder = prepare_folder(folder, manifest, "comparison.json", resume, overwrite)
    except ExperimentError as exc:
        raise (exc if cli else in_python_words(exc)) from None
    specs = plan_comparison(scenarios, reps, seed, years, data_per_rep)
    if draws_frame is not None:
        draws_frame.to_parquet(folder / "parameters.parquet", index=False)
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
    by_level = by("level", levels)
    by_sector = by("sector", sectors)
    write_summary_csv(folder / "summary.csv", differences, by_level, names, levels)
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
        differences=differences,
        warnings=notes,
        notes=report_notes,
    )
    return Comparison(folder, names, outcomes, differences, by_level, levels, notes)


def write_summary_csv(path: Path, differences, by_level, names: list[str], levels: list[str]) -> None:
    """The comparison table as the report shows it: one row per scenario and outcome, then the
    levels where effects differ in sign or are large; numbers formatted as in the report."""
    from pipeline_sim.formatting import comparison_rows, level_effects

    def line(name: str, r: dict, level: str, why: str = "") -> dict:
        return {
            "scenario": name,
            "outcome": r["outcome"],
            "level": level,
            "unit": r["unit"],
            names[0]: r["reference"],
            "value": r["scenario"],
            "difference [95% interval]": r["difference"],
            "relative change": r["relative"],
            "verdict": r["verdict"],
            "shown because": why,
        }

    rows = []
    for name in names[1:]:
        rows += [line(name, r, ALL) for r in comparison_rows(differences, name)]
        for effect in level_effects(by_level, name, levels):
            why = "opposite effects by level" if effect["reason"] == "opposite" else "large at a level"
            rows += [line(name, r, r["level"], why) for r in effect["rows"] if r["level"] != ALL]
    pd.DataFrame(rows).to_csv(path, index=False)

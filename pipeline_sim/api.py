"""Running scenarios: replications, tidy results, summaries and the results folder.

from pipeline_sim import load_scenario, run
result = run(load_scenario("scenarios/baseline.toml"), reps=3)
result.metrics.query("metric == 'succession_gap_rate'")
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_sim.folders import (
    FolderError,
    check_out,
    claim_fresh,
    claim_out,
    claimed_by_me,
    finish,
    holds_results,
    release,
    replace,
    staging,
    try_claim,
)
from pipeline_sim.metrics import ALL
from pipeline_sim.model import HEADLINE, PipelineModel
from pipeline_sim.scenario import Scenario, dumps_toml, load_scenario, scenario_to_dict
from pipeline_sim.scenario.schema import check_seeds


class OutputError(Exception):
    """The results folder cannot be written as asked."""


@dataclass
class RunResult:
    """Results of one scenario over its replications."""

    scenario: Scenario
    seeds: list[int]
    metrics: pd.DataFrame
    events: pd.DataFrame
    levels: list[str] = field(default_factory=list)
    #: post holders at each year end and around each congress (see :mod:`pipeline_sim.rosters`)
    holders: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: every post with a readable name (the same in every replication)
    posts: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: every unit with a readable name, one block per replication (the weak flag is drawn per seed)
    units: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per body and year: size, ages, women, re-election and losses (see pipeline_sim.world.bodies)
    bodies: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> pd.DataFrame:
        """Headline outcomes by level over all years and replications (ratios of sums)."""
        return summarize(self.metrics, self.levels)

    def save(self, out: str | Path, overwrite: bool = False, command: str | None = None) -> Path:
        """Write the results folder (see :func:`write_results`)."""
        return write_results(self, Path(out), overwrite=overwrite, command=command)


def rep_seeds(seed: int, reps: int) -> list[int]:
    """Replication i uses seed + i, so replications of two scenarios pair up by seed.

    Raises ValueError unless every replication's seed fits an int64 (checked before any run)."""
    check_seeds(seed, reps)
    return [seed + i for i in range(reps)]


def run(
    scenario: Scenario | str | Path,
    reps: int | None = None,
    seed: int | None = None,
    years: int | None = None,
    overrides: dict | None = None,
    on_year: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run a scenario `reps` times with seeds seed, seed+1, ...

    Args:
        scenario: a Scenario or a path to a scenario file.
        reps, seed, years: default to the scenario's ``simulation`` settings.
        overrides: dotted keys applied to the scenario, e.g. ``{"planning.mode": "open"}``.
        on_year: called as ``on_year(rep, year)`` after each simulated year (for progress bars).
    """
    if not isinstance(scenario, Scenario) or overrides:
        source = scenario if not isinstance(scenario, Scenario) else scenario.model_dump(mode="json")
        scenario = load_scenario(source, overrides=overrides)
    sim = scenario.simulation
    seeds = rep_seeds(sim.seed if seed is None else seed, sim.reps if reps is None else reps)
    parts: dict[str, list[pd.DataFrame]] = {
        n: [] for n in ("metrics", "events", "holders", "units", "bodies")
    }
    levels: list[str] = list(scenario.hierarchy.levels)
    posts = pd.DataFrame()
    for rep, s in enumerate(seeds):
        model = PipelineModel(scenario, seed=s, years=years)
        while model.running:
            model.step()
            if on_year is not None:
                on_year(rep, model.year)
        frames = {
            "metrics": model.metrics_frame(),
            "units": model.units_frame(),
            "bodies": model.bodies_frame(),
        }
        if scenario.output.event_log:
            frames["events"] = model.events_frame()
        if scenario.output.holders != "none":
            frames["holders"] = model.holders_frame()
        if rep == 0:
            posts = model.posts_frame()
        for name, frame in frames.items():
            frame.insert(0, "seed", np.int64(s))
            frame.insert(0, "rep", np.int32(rep))
            parts[name].append(frame)
        del model, frames
    tables = {name: _concat(frames) if frames else pd.DataFrame() for name, frames in parts.items()}
    for name in ("metrics", "events", "holders", "bodies"):
        if len(tables[name]):
            tables[name].insert(0, "scenario", scenario.name)
    return RunResult(scenario=scenario, seeds=seeds, levels=levels, posts=posts, **tables)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate keeping categorical columns categorical (same categories in every part)."""
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    for col in frames[0].columns:
        if isinstance(frames[0][col].dtype, pd.CategoricalDtype) and not isinstance(
            out[col].dtype, pd.CategoricalDtype
        ):
            cats = list(dict.fromkeys(c for f in frames for c in f[col].cat.categories))
            out[col] = pd.Categorical(out[col], categories=cats)
    return out


#: the printed summary: the model's headline metrics but the raw counts
SUMMARY_METRICS = tuple(m for m in HEADLINE if m not in ("key_vacancies", "cadres"))


def summarize(metrics: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """One row per level (and all): gap rate = total gaps / total key vacancies; the others are
    means over years and replications. With several replications the gap rate gets its 10-90%
    range over replications."""
    m = metrics[metrics["sector"] == ALL]
    rows = []
    for level in [*levels, ALL]:
        at = m[m["level"] == level]
        by = {k: g for k, g in at.groupby("metric", observed=True)}
        row: dict[str, object] = {"level": level}
        gaps = by.get("succession_gaps")
        vac = by.get("key_vacancies")
        if gaps is not None and vac is not None and vac["value"].sum() > 0:
            row["succession_gap_rate"] = gaps["value"].sum() / vac["value"].sum()
            per_rep = gaps.groupby("rep")["value"].sum() / vac.groupby("rep")["value"].sum()
            if len(per_rep) > 1:
                row["gap_rate_p10"] = float(np.nanpercentile(per_rep, 10))
                row["gap_rate_p90"] = float(np.nanpercentile(per_rep, 90))
        else:
            row["succession_gap_rate"] = np.nan
        for name in SUMMARY_METRICS[1:]:
            g = by.get(name)
            row[name] = float(g["value"].mean()) if g is not None and len(g) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("level")


def default_out_dir(scenario: Scenario, root: Path = Path("results")) -> Path:
    """Claim results/<name>, or results/<name>-2, -3, ... : the first free one, created at once
    (exclusively), so runs started together each get their own folder. Release it with
    :func:`pipeline_sim.folders.release` if nothing is written."""
    try:
        return claim_fresh(root, scenario.name)
    except FolderError as exc:
        raise OutputError(str(exc)) from None


def check_out_dir(out: Path, overwrite: bool) -> Path:
    """Fail early (before any run) if results cannot be written to `out`; return it resolved.

    A folder that already holds results is only replaced with `overwrite`; a folder holding
    anything else, the working folder or one of its parents is never replaced.
    """
    try:
        return check_out(out, overwrite)
    except FolderError as exc:
        raise OutputError(str(exc)) from None


def claim_out_dir(out: Path, overwrite: bool) -> Path:
    """:func:`check_out_dir`, and claim `out` now if it is new or empty."""
    try:
        return claim_out(out, overwrite)
    except FolderError as exc:
        raise OutputError(str(exc)) from None


#: the files of a run's results folder, the manifest last (a folder with a manifest is complete)
RUN_FILES = (
    "metrics.parquet",
    "events.parquet",
    "holders.parquet",
    "posts.parquet",
    "units.parquet",
    "bodies.parquet",
    "scenario.toml",
    "summary.csv",
    "manifest.json",
)


def write_results(result: RunResult, out: Path, overwrite: bool = False, command: str | None = None) -> Path:
    """Write metrics, events, holders, posts and units (Parquet), scenario.toml, summary.csv and
    manifest.json.

    `out` is claimed (created exclusively) unless this process claimed it already, and the
    manifest is written last: a folder without one is incomplete. Earlier results in `out` are
    only replaced when `overwrite` is true: the new folder is written beside them and swapped in
    at the end, so an interrupted write never loses them.
    """
    target = check_out_dir(out, overwrite)
    swap = target.exists() and holds_results(target) and not claimed_by_me(target)
    try:
        folder = staging(target) if swap else target
        if not swap and not try_claim(folder):
            raise OutputError(f"{out}: was just taken by another process; choose another --out")
    except (FolderError, OSError) as exc:
        raise OutputError(f"{out}: cannot create the folder ({exc})") from None
    try:
        _write_files(result, folder, command)
        if swap:
            replace(folder, target)
        else:
            finish(folder)
    except BaseException:
        if swap:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            release(folder, RUN_FILES)
        raise
    return target


def _write_files(result: RunResult, folder: Path, command: str | None) -> None:
    import mesa

    from pipeline_sim import __version__

    result.metrics.to_parquet(folder / "metrics.parquet", index=False)
    for name in ("events", "holders", "posts", "units", "bodies"):
        table = getattr(result, name)
        if len(table):
            table.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "scenario.toml").write_text(
        "# Fully resolved scenario used for these results\n" + dumps_toml(scenario_to_dict(result.scenario)),
        encoding="utf-8",
    )
    result.summary().to_csv(folder / "summary.csv")
    manifest = {
        "scenario": result.scenario.name,
        "package_version": __version__,
        "seeds": result.seeds,
        "reps": len(result.seeds),
        "years": sorted(int(y) for y in result.metrics["year"].unique()) if len(result.metrics) else [],
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "mesa": mesa.__version__,
        "platform": sys.platform,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

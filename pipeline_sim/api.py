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
    RUN_FILES,
    FolderError,
    check_out,
    claim_fresh,
    claim_out,
    claimed_by_me,
    finish,
    holds_results,
    release,
    replace,
    spool_folder,
    staging,
    try_claim,
)
from pipeline_sim.memory import release_free_memory
from pipeline_sim.metrics import ALL
from pipeline_sim.model import PipelineModel
from pipeline_sim.parquet import write_frame
from pipeline_sim.parquet import writer as parquet_writer
from pipeline_sim.scenario import Scenario, dumps_toml, load_scenario, scenario_to_dict
from pipeline_sim.scenario.schema import check_seeds


class OutputError(Exception):
    """The results folder cannot be written as asked."""


@dataclass
class RunResult:
    """Results of one scenario over its replications.

    The event log, the roster and the metrics by rank of each replication are kept on disk (a
    temporary folder removed with the result), so that replications run in constant memory;
    :attr:`events`, :attr:`holders` and :attr:`ranks` read them all.
    """

    scenario: Scenario
    seeds: list[int]
    metrics: pd.DataFrame
    event_files: list[Path] = field(default_factory=list, repr=False)
    levels: list[str] = field(default_factory=list)
    #: the rosters of post holders, one file per replication, kept on disk like the events
    holder_files: list[Path] = field(default_factory=list, repr=False)
    #: every post with a readable name (the same in every replication)
    posts: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: every unit with a readable name, one block per replication (the weak flag is drawn per seed)
    units: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per body and year: size, ages, women, re-election and losses (see pipeline_sim.world.bodies)
    bodies: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: metrics by level, sector and rank, one file per replication, kept on disk like the events
    rank_files: list[Path] = field(default_factory=list, repr=False)

    @property
    def events(self) -> pd.DataFrame:
        """Every replication's events in one frame (empty when the scenario logs none)."""
        if not self.event_files:
            return pd.DataFrame()
        return _concat([pd.read_parquet(f) for f in self.event_files])

    @property
    def holders(self) -> pd.DataFrame:
        """Post holders at each year end and around each congress, every replication (see
        :mod:`pipeline_sim.rosters`; empty with ``output.holders = "none"``)."""
        if not self.holder_files:
            return pd.DataFrame()
        return _concat([pd.read_parquet(f) for f in self.holder_files])

    @property
    def ranks(self) -> pd.DataFrame:
        """Metrics by level, sector and rank, every replication (see
        :data:`pipeline_sim.metrics.RANK_METRICS`)."""
        if not self.rank_files:
            return pd.DataFrame()
        return _concat([pd.read_parquet(f) for f in self.rank_files])

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


class ArgumentError(ValueError):
    """An argument of the Python interface is out of range (the message says which and why)."""


def check_counts(**limits: tuple[object, int]) -> None:
    """Each ``name=(value, lowest)``: a whole number at least `lowest` (None: not given).
    Raises ArgumentError("reps must be at least 1 (got 0)")."""
    for name, (value, low) in limits.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ArgumentError(f"{name} must be a whole number (got {value!r})")
        if value < low:
            raise ArgumentError(f"{name} must be at least {low} (got {value})")


def check_run_args(reps: int | None, years: int | None, seed: int | None, workers: int | None = None) -> None:
    """The checks of the command line, worded for Python: ``run(..., reps=0)`` raises
    ``ArgumentError("reps must be at least 1 (got 0)")``."""
    check_counts(reps=(reps, 1), years=(years, 1), seed=(seed, 0), workers=(workers, 1))


def run(
    scenario: Scenario | str | Path,
    reps: int | None = None,
    seed: int | None = None,
    years: int | None = None,
    overrides: dict | None = None,
    on_year: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> RunResult:
    """Run a scenario `reps` times with seeds seed, seed+1, ...

    Each finished model is closed at once (:meth:`PipelineModel.close`), so replications run in
    constant memory.

    Args:
        scenario: a Scenario or a path to a scenario file.
        reps, seed, years: default to the scenario's ``simulation`` settings.
        overrides: dotted keys applied to the scenario, e.g. ``{"planning.mode": "open"}``.
        on_year: called as ``on_year(rep, year)`` after each simulated year (for progress bars);
            with several workers, for each year of a replication when it finishes.
        workers: processes running replications side by side (default 1: this process).
            Results are identical whatever the number of workers.

    Raises:
        ArgumentError: reps, years or workers below 1, or seed below 0.
        ScenarioError: the scenario or an override is not valid.
    """
    check_run_args(reps, years, seed, workers)
    if not isinstance(scenario, Scenario) or overrides:
        source = scenario if not isinstance(scenario, Scenario) else scenario.model_dump(mode="json")
        scenario = load_scenario(source, overrides=overrides)
    sim = scenario.simulation
    seeds = rep_seeds(sim.seed if seed is None else seed, sim.reps if reps is None else reps)
    levels: list[str] = list(scenario.hierarchy.levels)
    n_workers = min(workers or 1, len(seeds))
    import weakref

    spool = spool_folder()  # the rank tables at least
    paths = [
        tuple(spool / f"{name}-{rep:04d}.parquet" for name in ("events", "holders", "ranks"))
        for rep in range(len(seeds))
    ]
    if n_workers > 1:
        parts = _run_parallel(scenario, seeds, years, n_workers, on_year, paths)
    else:
        parts = [_run_one(scenario, rep, s, years, on_year, paths[rep]) for rep, s in enumerate(seeds)]
    tables = {name: _concat([part[name] for part in parts]) for name in ("metrics", "units", "bodies")}
    for name in ("metrics", "bodies"):
        if len(tables[name]):
            tables[name].insert(0, "scenario", scenario.name)
    files = {
        name: [p[k] for p in paths if p is not None and p[k].exists()]
        for k, name in enumerate(("event_files", "holder_files", "rank_files"))
    }
    result = RunResult(
        scenario=scenario,
        seeds=seeds,
        levels=levels,
        posts=parts[0]["posts"] if parts else pd.DataFrame(),
        **tables,
        **files,
    )
    weakref.finalize(result, shutil.rmtree, spool, True)
    return result


def _run_one(
    scenario: Scenario | dict,
    rep: int,
    seed: int,
    years: int | None,
    on_year: Callable[[int, int], None] | None = None,
    paths: tuple[Path, Path, Path] | None = None,
) -> dict[str, pd.DataFrame]:
    """One replication: its tidy metrics, units and bodies tables (and posts, for the first); its
    events and roster (if the scenario records them) and its metrics by rank are written to
    `paths`. The model is closed before returning so nothing of it outlives the call."""
    from pipeline_sim.parquet import system_allocator

    if isinstance(scenario, dict):
        scenario = load_scenario(scenario)
    system_allocator()
    model = PipelineModel(scenario, seed=seed, years=years)
    # events and roster go to their files year by year, so that memory stays flat
    ident = {"scenario": scenario.name, "rep": np.int32(rep), "seed": np.int64(seed)}
    spool_events = paths is not None and scenario.output.event_log
    spool_roster = paths is not None and scenario.output.holders != "none"
    if spool_events:
        model.events.spool_to(paths[0], model.levels, model.sectors, **ident)
    if spool_roster:
        model.rosters.spool_to(paths[1], **ident)
    try:
        while model.running:
            model.step()
            model.events.flush()
            model.rosters.flush(model)
            if on_year is not None:
                on_year(rep, model.year)
        out = {
            "metrics": model.metrics_frame(),
            "units": model.units_frame(),
            "bodies": model.bodies_frame(),
        }
        for name in ("metrics", "units", "bodies"):
            out[name].insert(0, "seed", np.int64(seed))
            out[name].insert(0, "rep", np.int32(rep))
        if spool_events:
            model.events.finish()
        if spool_roster:
            model.rosters.finish(model)
        if paths is not None:
            frame = model.ranks_frame()
            frame.insert(0, "seed", np.int64(seed))
            frame.insert(0, "rep", np.int32(rep))
            frame.insert(0, "scenario", pd.Categorical([scenario.name] * len(frame)))
            write_frame(frame, paths[2])
            del frame
        # the posts (with their names) need no cadre: the largest table goes first
        model.close()
        model.cadres = None
        release_free_memory()  # the heap kept for the years' arrays, before the largest table
        out["posts"] = model.posts_frame() if rep == 0 else pd.DataFrame()
    finally:
        model.close()
    del model
    release_free_memory()
    return out


def _run_parallel(scenario: Scenario, seeds: list[int], years: int | None, workers: int, on_year, paths):
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from pipeline_sim.experiment import _worker_init

    data = scenario.model_dump(mode="json")
    first = scenario.simulation.start_year - scenario.simulation.burn_in_years
    n_years = (scenario.simulation.years if years is None else years) + scenario.simulation.burn_in_years
    parts: list = [None] * len(seeds)
    # the experiments' workers: spawned, ignoring Ctrl-C, ending when this process dies
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    ) as pool:
        futures = {
            pool.submit(_run_one, data, rep, s, years, None, paths[rep]): rep for rep, s in enumerate(seeds)
        }
        try:
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                rep = futures[fut]
                parts[rep] = fut.result()
                if on_year is not None:
                    for y in range(first, first + n_years):
                        on_year(rep, y)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return parts


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


#: the rows of the printed summary, in order (the headline metrics but the raw counts)
SUMMARY_METRICS = (
    "succession_gap_rate",
    "bench_strength",
    "vacant_posts",
    "ready_successors_per_post",
    "quality_in_office",
    "women_in_office",
    "young_in_office",
    "women_in_planning",
    "young_in_planning",
)


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


def default_out_dir(scenario: Scenario, root: Path = Path("results"), name: str | None = None) -> Path:
    """Claim results/<name>, or results/<name>-2, -3, ... : the first free one, created at once
    (exclusively), so runs started together each get their own folder. Release it with
    :func:`pipeline_sim.folders.release` if nothing is written. `name` defaults to the
    scenario's (the command line adds a tag for --set overrides)."""
    try:
        return claim_fresh(root, name or scenario.name)
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


def write_run_summary(result: RunResult, path: Path) -> None:
    """The printed summary as a table: one row per outcome with its unit, one column per level,
    numbers formatted as printed (the numbers themselves are in metrics.parquet)."""
    from pipeline_sim.formatting import summary_rows

    summary = result.summary()
    rows = [
        {"outcome": label, "unit": unit, **dict(zip(map(str, summary.index), cells, strict=True))}
        for label, unit, cells in summary_rows(summary, SUMMARY_METRICS)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def _write_files(result: RunResult, folder: Path, command: str | None) -> None:
    import mesa

    from pipeline_sim import __version__

    write_frame(result.metrics, folder / "metrics.parquet")
    _write_spooled(result.event_files, folder / "events.parquet")
    _write_spooled(result.holder_files, folder / "holders.parquet")
    _write_spooled(result.rank_files, folder / "ranks.parquet")
    for name in ("posts", "units", "bodies"):
        table = getattr(result, name)
        if len(table):
            write_frame(table, folder / f"{name}.parquet")
    (folder / "scenario.toml").write_text(
        "# Fully resolved scenario used for these results\n" + dumps_toml(scenario_to_dict(result.scenario)),
        encoding="utf-8",
    )
    write_run_summary(result, folder / "summary.csv")
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
        "cpu_features": cpu_features(),
        "pandas": pd.__version__,
        "mesa": mesa.__version__,
        "platform": sys.platform,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def cpu_features() -> list[str]:
    """The processor features numpy's compiled loops use on this machine (e.g. AVX512_ICL): runs
    with the same seed are identical where these (and the package versions) are the same; numpy's
    elementary functions (exp, log, ...) and sums may round differently with other features."""
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
    except ImportError:
        try:  # numpy < 2
            from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
        except ImportError:  # another layout: unknown
            return []
    return [*__cpu_baseline__, *(f for f in __cpu_dispatch__ if __cpu_features__.get(f))]


def _write_spooled(parts: list[Path], path: Path) -> None:
    """Append every replication's table (events, roster) to one parquet file, one part at a time
    (constant memory whatever the number of replications); nothing is written without parts."""
    import pyarrow.parquet as pq

    if len(parts) == 1:  # one replication: its file is already what is wanted
        shutil.copyfile(parts[0], path)
        return
    writer = None
    try:
        for part in parts:
            source = pq.ParquetFile(part)
            for i in range(max(source.num_row_groups, 1)):  # a year at a time
                table = (
                    source.read_row_group(i) if source.num_row_groups else source.schema_arrow.empty_table()
                )
                if table.num_rows == 0 and writer is not None:
                    continue
                if writer is None:
                    writer = parquet_writer(path, table.schema)
                elif not table.schema.equals(writer.schema, check_metadata=False):
                    table = table.cast(writer.schema)
                writer.write_table(table)
                del table
    finally:
        if writer is not None:
            writer.close()

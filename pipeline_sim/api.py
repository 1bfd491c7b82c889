"""Running scenarios: replications, tidy results, summaries and the results folder.

from pipeline_sim import load_scenario, run
result = run(load_scenario("scenarios/baseline.toml"), reps=3)
result.metrics.query("metric == 'succession_gap_rate'")
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_sim.metrics import ALL
from pipeline_sim.model import HEADLINE, PipelineModel
from pipeline_sim.scenario import Scenario, dumps_toml, load_scenario, scenario_to_dict


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

    def summary(self) -> pd.DataFrame:
        """Headline outcomes by level over all years and replications (ratios of sums)."""
        return summarize(self.metrics, self.levels)

    def save(self, out: str | Path, overwrite: bool = False, command: str | None = None) -> Path:
        """Write the results folder (see :func:`write_results`)."""
        return write_results(self, Path(out), overwrite=overwrite, command=command)


def rep_seeds(seed: int, reps: int) -> list[int]:
    """Replication i uses seed + i, so replications of two scenarios pair up by seed."""
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
    metric_parts, event_parts = [], []
    levels: list[str] = list(scenario.hierarchy.levels)
    for rep, s in enumerate(seeds):
        model = PipelineModel(scenario, seed=s, years=years)
        while model.running:
            model.step()
            if on_year is not None:
                on_year(rep, model.year)
        m = model.metrics_frame()
        m.insert(0, "seed", np.int64(s))
        m.insert(0, "rep", np.int32(rep))
        metric_parts.append(m)
        if scenario.output.event_log:
            e = model.events_frame()
            e.insert(0, "seed", np.int64(s))
            e.insert(0, "rep", np.int32(rep))
            event_parts.append(e)
    metrics = _concat(metric_parts)
    metrics.insert(0, "scenario", scenario.name)
    events = _concat(event_parts) if event_parts else pd.DataFrame()
    if len(events):
        events.insert(0, "scenario", scenario.name)
    return RunResult(scenario=scenario, seeds=seeds, metrics=metrics, events=events, levels=levels)


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
    """results/<name>, or results/<name>-2, -3, ... if that already holds results."""
    base = root / scenario.name
    if not base.exists() or not any(base.iterdir()):
        return base
    i = 2
    while (root / f"{scenario.name}-{i}").exists():
        i += 1
    return root / f"{scenario.name}-{i}"


RESULT_MARKERS = ("manifest.json", "comparison.json", "sweep.json")


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Fail early (before any run) if results cannot be written to `out`.

    A folder that already holds results is only replaced with `overwrite`; a folder holding
    anything else, the working folder or one of its parents is never replaced.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        resolved, cwd = out.resolve(), Path.cwd().resolve()
        if resolved == cwd or resolved in cwd.parents:
            raise OutputError(f"{out}: is the working folder or contains it; choose a new folder for --out")
        if not any((out / marker).exists() for marker in RESULT_MARKERS):
            raise OutputError(f"{out}: holds other files (not pipeline-sim results); choose another --out")
        if not overwrite:
            raise OutputError(
                f"{out}: already holds results; choose another --out or pass --overwrite to replace them"
            )
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{out}: cannot create a folder there ({probe} is a file)")
    if not os.access(probe, os.W_OK):
        raise OutputError(f"{out}: cannot write here ({probe} is not writable)")


def replace_folder(new: Path, out: Path) -> None:
    """Move the finished folder `new` to `out`; an old results folder there is set aside first and
    deleted only once the new one is in place."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_results(result: RunResult, out: Path, overwrite: bool = False, command: str | None = None) -> Path:
    """Write metrics.parquet, events.parquet, scenario.toml, summary.csv and manifest.json.

    Files are written to a temporary folder beside `out` and moved into place at the end, so an
    interrupted write never leaves a half-written results folder. An existing folder with results
    is only replaced when `overwrite` is true.
    """
    import mesa

    from pipeline_sim import __version__

    check_out_dir(out, overwrite)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        result.metrics.to_parquet(tmp / "metrics.parquet", index=False)
        if len(result.events):
            result.events.to_parquet(tmp / "events.parquet", index=False)
        (tmp / "scenario.toml").write_text(
            "# Fully resolved scenario used for these results\n"
            + dumps_toml(scenario_to_dict(result.scenario)),
            encoding="utf-8",
        )
        result.summary().to_csv(tmp / "summary.csv")
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
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

"""`pipeline-sim sweep`: parameter sweeps and sensitivity analysis (designs and indices by SALib).

Every design point is run with the same replication seeds (common random numbers), so differences
between points come from the parameters, not from chance.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline_sim.experiment import (
    HEADLINE_OUTCOMES,
    ExperimentError,
    RunSpec,
    check_scheduler,
    execute,
    in_python_words,
    prepare_folder,
    run_outcomes,
)
from pipeline_sim.scenario import Scenario, ScenarioError, load_scenario, parse_override_value
from pipeline_sim.scenario.schema import check_seeds

DESIGNS = ("factorial", "lhs", "sobol", "morris")


@dataclass
class Factor:
    """One varied scenario key: a numeric range [low, high] or a list of categories."""

    key: str
    low: float | None = None
    high: float | None = None
    integer: bool = False
    categories: list[Any] | None = None

    def values(self, levels: int) -> list[Any]:
        """Values for a factorial design."""
        if self.categories is not None:
            return list(self.categories)
        grid = np.linspace(self.low, self.high, levels)
        if self.integer:
            return sorted({round(v) for v in grid})
        return [float(v) for v in grid]

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map SALib samples (drawn in the factor's bounds) to scenario values."""
        if self.categories is not None:
            idx = np.minimum(np.floor(u).astype(int), len(self.categories) - 1)
            return [self.categories[i] for i in idx]
        if self.integer:
            return [round(v) for v in u]
        return [float(v) for v in u]

    def bounds(self) -> list[float]:
        if self.categories is not None:
            return [0.0, float(len(self.categories))]
        if self.integer:  # each integer gets an equal share of the range
            return [self.low - 0.5 + 1e-9, self.high + 0.5 - 1e-9]
        return [self.low, self.high]


def _dotted(data: dict, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node[part]
    return node


def parse_vary(items: list[str], base: str | Path | dict, overrides: dict | None = None) -> list[Factor]:
    """Parse ``key=low:high`` (numeric) or ``key=a,b,c`` (categories), checking every key and value
    against the scenario schema before anything runs."""
    if not items:
        raise ExperimentError("give at least one --vary KEY=LOW:HIGH or KEY=A,B,C")
    factors = []
    for item in items:
        key, sep, spec = item.partition("=")
        key, spec = key.strip(), spec.strip()
        if not sep or not key or not spec:
            raise ExperimentError(f"--vary {item!r}: expected KEY=LOW:HIGH or KEY=A,B,C")
        if any(f.key == key for f in factors):
            raise ExperimentError(f"--vary {key}: given twice")
        if ":" in spec and "," not in spec:
            lo_s, _, hi_s = spec.partition(":")
            lo, hi = parse_override_value(lo_s.strip()), parse_override_value(hi_s.strip())
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)):
                raise ExperimentError(f"--vary {key}={spec}: a range needs two numbers LOW:HIGH")
            if not lo < hi:
                raise ExperimentError(f"--vary {key}={spec}: empty range (LOW must be below HIGH)")
            checked = [_check(base, overrides, key, v, item) for v in (lo, hi)]
            integer = all(isinstance(v, int) and not isinstance(v, bool) for v in checked)
            factors.append(Factor(key, float(lo), float(hi), integer=integer))
        else:
            cats = [parse_override_value(v.strip()) for v in spec.split(",") if v.strip()]
            if len(cats) < 2:
                raise ExperimentError(f"--vary {key}={spec}: give at least two values A,B")
            factors.append(Factor(key, categories=[_check(base, overrides, key, v, item) for v in cats]))
    return factors


def _check(base, overrides, key, value, item) -> Any:
    try:
        scen = load_scenario(base, overrides={**(overrides or {}), key: value}, overrides_label="--vary")
    except ScenarioError as exc:
        msg = str(exc).removeprefix("--vary: ").removeprefix("--vary ")
        raise ExperimentError(f"--vary {item}: {msg}") from None
    return _dotted(scen.model_dump(mode="json"), key)


def design_points(factors: list[Factor], design: str, samples: int, levels: int, seed: int):
    """The design: (rows of scenario values per factor, the SALib problem, raw samples or None)."""
    if design not in DESIGNS:
        raise ExperimentError(f"--design {design!r}: expected one of {', '.join(DESIGNS)}")
    problem = {
        "num_vars": len(factors),
        "names": [f.key for f in factors],
        "bounds": [f.bounds() for f in factors],
    }
    if design == "factorial":
        rows = [list(p) for p in itertools.product(*(f.values(levels) for f in factors))]
        return rows, problem, None
    from SALib.sample import latin, morris, sobol

    if design == "lhs":
        x = latin.sample(problem, samples, seed=seed)
    elif design == "sobol":
        if samples & (samples - 1):
            raise ExperimentError(
                f"--samples {samples}: Sobol sampling needs a power of 2 (e.g. 64, 128, 256)"
            )
        x = sobol.sample(problem, samples, calc_second_order=False, seed=seed)
    else:
        x = morris.sample(problem, samples, num_levels=4, seed=seed)
    rows = [list(r) for r in zip(*(f.from_unit(x[:, j]) for j, f in enumerate(factors)), strict=True)]
    return rows, problem, x


#: base samples SALib's documentation uses for Sobol indices (N = 2^10)
SOBOL_RECOMMENDED = 1024
#: fewest parameter sets for PAWN indices (at least 10 per conditioning slice, 2 slices or more)
PAWN_MIN_POINTS = 20


def sweep_warnings(design: str, samples: int, factors: list[Factor]) -> list[str]:
    """What a design's sensitivity indices will (not) tell, said before any run."""
    notes = []
    if design == "sobol" and samples < SOBOL_RECOMMENDED:
        notes.append(
            f"Sobol indices from {samples} base samples are unreliable (wide intervals, values "
            f"such as S1 = 1.0 by chance); SALib's documentation uses N = {SOBOL_RECOMMENDED} "
            f"(samples {SOBOL_RECOMMENDED})"
        )
    if design in ("sobol", "morris"):
        two = [f.key for f in factors if f.categories is not None and len(f.categories) == 2]
        if two:
            notes.append(
                f"{', '.join(two)}: two values only; {design} indices of a two-valued factor say "
                "whether switching it matters, not how much of the variance it explains"
            )
    if design == "lhs" and samples < PAWN_MIN_POINTS:
        notes.append(
            f"{samples} Latin hypercube points: too few for PAWN sensitivity indices (at least "
            f"{PAWN_MIN_POINTS}); the report shows the outcomes against each parameter only"
        )
    if design == "factorial":
        notes.append(
            "a factorial design gives no sensitivity indices; the report shows the outcomes "
            "against each parameter (use the lhs, sobol or morris design for indices)"
        )
    return notes


def sensitivity(
    design: str, problem: dict, x: np.ndarray | None, table: pd.DataFrame, outcomes: list[str]
) -> pd.DataFrame:
    """Sensitivity indices of each outcome (its mean over replications at each design point):
    first-order and total Sobol indices with 95% intervals (sobol), Morris mu* and sigma (morris),
    or PAWN indices, which need no particular sample (lhs: median, minimum and maximum over the
    conditioning slices of the Kolmogorov-Smirnov distance, 0 to 1). Factorial designs get none."""
    if design not in ("sobol", "morris", "lhs") or x is None:
        return pd.DataFrame()
    if design == "lhs" and len(x) < PAWN_MIN_POINTS:
        return pd.DataFrame()
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import pawn as pawn_analyze
    from SALib.analyze import sobol as sobol_analyze

    mean = table.groupby("point")[outcomes].mean().sort_index()
    rows = []
    for outcome in outcomes:
        y = mean[outcome].to_numpy(dtype=float)
        if np.isnan(y).any() or np.allclose(y, y[0]):
            continue  # undefined or constant: no variance to apportion
        if design == "lhs":
            slices = max(2, min(10, len(y) // 10))
            res = pawn_analyze.analyze(problem, x, y, S=slices, seed=0)
            for j, name in enumerate(problem["names"]):
                rows.append(
                    {
                        "outcome": outcome,
                        "parameter": name,
                        "pawn_median": res["median"][j],
                        "pawn_min": res["minimum"][j],
                        "pawn_max": res["maximum"][j],
                    }
                )
        elif design == "sobol":
            res = sobol_analyze.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=0)
            for j, name in enumerate(problem["names"]):
                rows.append(
                    {
                        "outcome": outcome,
                        "parameter": name,
                        "S1": res["S1"][j],
                        "S1_conf": res["S1_conf"][j],
                        "ST": res["ST"][j],
                        "ST_conf": res["ST_conf"][j],
                    }
                )
        else:
            res = morris_analyze.analyze(problem, x, y, conf_level=0.95, seed=0)
            for j, name in enumerate(problem["names"]):
                rows.append(
                    {
                        "outcome": outcome,
                        "parameter": name,
                        "mu_star": res["mu_star"][j],
                        "mu_star_conf": res["mu_star_conf"][j],
                        "sigma": res["sigma"][j],
                    }
                )
    return pd.DataFrame(rows)


@dataclass
class Sweep:
    folder: Path
    table: pd.DataFrame
    indices: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def run_sweep(
    base: Scenario,
    factors: list[Factor],
    design: str,
    samples: int,
    levels: int,
    reps: int,
    seed: int,
    years: int | None,
    folder: Path,
    outcomes: list[str] | None = None,
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
) -> Sweep:
    """Run a sweep in `folder` and write experiments.parquet, sensitivity.parquet and report.html
    (`notify` and `dashboard` as for :func:`pipeline_sim.experiment.execute`).

    With `parameters_from` (a calibration folder), replication i draws the calibrated keys from the
    calibration's good trials, the same draw at every design point; a varied key keeps the
    design's values. The draws are written to parameters.parquet."""
    from pipeline_sim.api import check_counts

    check_counts(
        samples=(samples, 1),
        levels=(levels, 2),
        reps=(reps, 1),
        seed=(seed, 0),
        years=(years, 1),
        workers=(workers, 1),
    )
    try:
        try:
            check_seeds(seed, reps)
        except ValueError as exc:
            raise ExperimentError(f"seed {seed}: {exc}") from None
        return _run_sweep(
            base, factors, design, samples, levels, reps, seed, years, folder, outcomes, workers,
            scheduler, resume, overwrite, on_done, command, notify, dashboard, parameters_from,
        )  # fmt: skip
    except ExperimentError as exc:
        raise (exc if cli else in_python_words(exc)) from None


def _run_sweep(
    base, factors, design, samples, levels, reps, seed, years, folder, outcomes, workers, scheduler,
    resume, overwrite, on_done, command, notify=None, dashboard=False, parameters_from=None,
) -> Sweep:  # fmt: skip
    outcomes = outcomes or list(HEADLINE_OUTCOMES)
    unknown = [o for o in outcomes if o not in HEADLINE_OUTCOMES]
    if unknown:
        raise ExperimentError(
            f"--outcome {', '.join(unknown)}: expected some of {', '.join(HEADLINE_OUTCOMES)}"
        )
    rows, problem, x = design_points(factors, design, samples, levels, seed)
    import warnings as _warnings

    notes = sweep_warnings(design, samples, factors)
    for note in notes:
        _warnings.warn(note, UserWarning, stacklevel=2)
    base_data = base.model_dump(mode="json")
    drawn: list[dict] = [{} for _ in range(reps)]
    draws_frame = None
    if parameters_from is not None:
        from pipeline_sim.calibrate import Draws, parameter_notes

        draws = Draws.load(parameters_from)
        varied = [f.key for f in factors if f.key in draws.keys]
        if varied:
            note = (
                f"{', '.join(varied)}: varied by the sweep and calibrated: the design's values are used, "
                "not the calibration's"
            )
            notes.append(note)
            _warnings.warn(note, UserWarning, stacklevel=2)
        draws_frame = pd.DataFrame(
            [{"rep": r, "seed": seed + r, **draws.draw(seed + r)} for r in range(reps)]
        )
        drawn = [{k: row[k] for k in draws.keys if k not in varied} for row in draws_frame.to_dict("records")]
        notes.append(parameter_notes(draws, reps))
    # every point must be a valid scenario (combinations can break cross-field rules): check first
    points = []
    for i, values in enumerate(rows):
        overrides = dict(zip((f.key for f in factors), values, strict=True))
        try:
            per_rep = [
                load_scenario(base_data, overrides={**d, **overrides}).model_dump(mode="json")
                for d in (drawn if parameters_from is not None else drawn[:1])
            ]
            points.append((overrides, per_rep))
        except ScenarioError as exc:
            raise ExperimentError(f"parameter set {i} ({overrides}) is not a valid scenario: {exc}") from None
    from pipeline_sim import __version__

    manifest = {
        "version": __version__,
        "base": base_data,
        "factors": [f.__dict__ for f in factors],
        "design": design,
        "points": [o for o, _ in points],
        "reps": reps,
        "seed": seed,
        "years": years,
    }
    if draws_frame is not None:
        manifest["parameters_from"] = draws_frame.to_dict(orient="records")
    check_scheduler(scheduler)
    folder = prepare_folder(folder, manifest, "sweep.json", resume, overwrite)
    if draws_frame is not None:
        draws_frame.to_parquet(folder / "parameters.parquet", index=False)
    specs, inputs = [], []
    for i, (overrides, per_rep) in enumerate(points):
        inputs.append({"point": i, **overrides})
        for rep in range(reps):
            data = per_rep[rep] if len(per_rep) > 1 else per_rep[0]
            specs.append(RunSpec(f"p{i:05d}-r{rep:03d}", data, seed + rep, years, {"point": i, "rep": rep}))
    metrics = execute(
        specs,
        folder,
        workers=workers,
        scheduler=scheduler,
        on_done=on_done,
        notify=notify,
        dashboard=dashboard,
    )
    table = run_outcomes(metrics, ["point", "rep", "seed"])[["point", "rep", "seed", *outcomes]]
    table = pd.DataFrame(inputs).merge(table, on="point").sort_values(["point", "rep"]).reset_index(drop=True)
    table.to_parquet(folder / "experiments.parquet", index=False)
    indices = sensitivity(design, problem, x, table, outcomes)
    indices.to_parquet(folder / "sensitivity.parquet", index=False)
    from pipeline_sim.report import write_sweep_report

    write_sweep_report(
        folder / "report.html", base, factors, design, table, indices, outcomes, reps, command, notes
    )
    return Sweep(folder, table, indices, notes)

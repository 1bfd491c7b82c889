"""`pipeline-sim calibrate`: fit estimated scenario keys to real figures with Optuna.

A calibration varies scenario keys (``--vary KEY=LOW:HIGH[:log]``) to bring the model's statistics
(:mod:`pipeline_sim.statistics`) close to the figures of a targets file (:mod:`pipeline_sim.targets`).

- The loss of a trial is the weighted sum, over the targets whose role is ``calibrate``, of each
  target's negative log-likelihood less its smallest possible value, so that a perfect fit scores
  0: for a target with an sd, ``z**2 / 2`` (normal, ``z = (simulated - real) / sd``); for a share
  of a group of known size n, the binomial ``k log(k / (n p)) + (n - k) log((n - k) / (n (1 - p)))``
  with ``k = real share * n`` and ``p`` the simulated share. ``validate`` targets are reported,
  never scored.
- Each trial runs R replications with the seeds seed, seed+1, ... (the same in every trial:
  common random numbers) and scores the mean of their statistics.
- Trials are proposed in batches (``batch``, default 4) and told to the optimiser in trial order
  when the whole batch has run, and the sampler of trial i is seeded by the calibration's seed and
  i: the same seed gives the same trials whatever the number of workers, and a resumed calibration
  continues exactly as an uninterrupted one would.
- The study is kept in an Optuna journal file (``journal.log``) beside the run files
  (``runs/``), so a calibration interrupted by Ctrl-C or killed resumes with ``resume``: finished
  trials are kept, trials that were running are completed from their finished runs, and no
  finished run is computed again.
- The parameter uncertainty: among the finished trials, those whose loss is within noise of the
  best (``loss - best <= 2 sd`` of that difference, the sd from a bootstrap over the replications
  paired across trials) are the *good* trials; ``compare`` and ``sweep`` can draw their values
  (``--parameters-from``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline_sim.experiment import (
    ExperimentError,
    Pool,
    RunSpec,
    check_scheduler,
    execute,
    in_python_words,
    prepare_folder,
)
from pipeline_sim.memory import release_free_memory
from pipeline_sim.scenario import Scenario, ScenarioError, dumps_toml, load_scenario, scenario_to_dict
from pipeline_sim.scenario.loader import structure_size
from pipeline_sim.scenario.schema import check_seeds
from pipeline_sim.statistics import STATISTICS, Outputs, aggregate
from pipeline_sim.targets import Target, TargetError, TargetSet, check_against, load_targets

SAMPLERS = ("tpe", "cmaes")
MARKER = "calibration.json"
JOURNAL = "journal.log"
STUDY = "calibration"
#: columns of a calibration run file (besides the labels trial and rep)
RUN_COLUMNS = frozenset({"run", "seed", "target", "year", "value"})
#: bootstrap resamples of the replications for the noise of a trial's loss
BOOTSTRAP = 200
#: a good trial's loss lies within this many sd (of its difference from the best) of the best
GOOD_SD = 2.0
#: probabilities are kept this far from 0 and 1 in the binomial likelihood (a finite loss)
EPS = 1e-9


# --- parameters ---------------------------------------------------------------------------------


@dataclass
class Parameter:
    """A calibrated scenario key: a range [low, high], integer or not, on a log scale or not."""

    key: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def distribution(self):
        import optuna

        if self.integer:
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def value(self, x: Any) -> int | float:
        return round(x) if self.integer else float(x)

    def record(self) -> dict[str, Any]:
        return {"key": self.key, "low": self.low, "high": self.high, "integer": self.integer, "log": self.log}


def parse_parameters(
    items: list[str], base: str | Path | dict, overrides: dict | None = None
) -> list[Parameter]:
    """Parse ``KEY=LOW:HIGH`` or ``KEY=LOW:HIGH:log``, checking each key and both bounds against
    the scenario's schema (a key that is not a number, bounds outside its range) before any run."""
    from pipeline_sim.scenario import parse_override_value
    from pipeline_sim.sweep import _check

    if not items:
        raise ExperimentError("give at least one --vary KEY=LOW:HIGH (a scenario key to calibrate)")
    out: list[Parameter] = []
    for item in items:
        key, sep, spec = item.partition("=")
        key, spec = key.strip(), spec.strip()
        if not sep or not key or not spec:
            raise ExperimentError(f"--vary {item!r}: expected KEY=LOW:HIGH or KEY=LOW:HIGH:log")
        if any(p.key == key for p in out):
            raise ExperimentError(f"--vary {key}: given twice")
        parts = [x.strip() for x in spec.split(":")]
        log = len(parts) == 3 and parts[2] == "log"
        if "," in spec or len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise ExperimentError(
                f"--vary {item}: calibration varies numbers: expected KEY=LOW:HIGH or KEY=LOW:HIGH:log"
            )
        lo, hi = parse_override_value(parts[0]), parse_override_value(parts[1])
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)):
            raise ExperimentError(f"--vary {item}: a range needs two numbers LOW:HIGH")
        if not all(math.isfinite(v) for v in (lo, hi)):
            raise ExperimentError(f"--vary {item}: LOW and HIGH must be finite numbers")
        if not lo < hi:
            raise ExperimentError(f"--vary {item}: empty range (LOW must be below HIGH)")
        if log and lo <= 0:
            raise ExperimentError(f"--vary {item}: a log range needs LOW above 0")
        checked = [_check(base, overrides, key, v, item) for v in (lo, hi)]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in checked):
            raise ExperimentError(f"--vary {item}: {key} is not a number, so it cannot be calibrated")
        integer = all(isinstance(v, int) and not isinstance(v, bool) for v in checked)
        out.append(Parameter(key, float(lo), float(hi), integer=integer, log=log))
    return out


# --- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationSpec(RunSpec):
    """A run of a trial: its spec, the statistics to compute (target id, statistic, group) and the
    factor that scales each level's counts to the structure the targets describe."""

    requests: tuple = ()
    level_factor: dict[str, float] = field(default_factory=dict)


def run_statistics(spec: CalibrationSpec) -> pd.DataFrame:
    """Run one replication and return every requested statistic by model year:
    ``run, trial, rep, seed, target, year, value``."""
    from pipeline_sim.model import PipelineModel

    scenario = load_scenario(spec.scenario)
    model = PipelineModel(scenario, seed=spec.seed, years=spec.years)
    try:
        model.run()
        out = Outputs.from_model(model, spec.level_factor)
    finally:
        model.close()
    del model
    release_free_memory()
    rows = []
    for tid, name, group in spec.requests:
        s = STATISTICS[name].series(out, group)
        rows += [(tid, int(y), float(v)) for y, v in s.items()]
    frame = pd.DataFrame(rows, columns=["target", "year", "value"])
    frame["year"] = frame["year"].astype(np.int32)
    frame.insert(0, "seed", np.int64(spec.seed))
    frame.insert(0, "run", spec.run_id)
    for i, (key, value) in enumerate(spec.labels.items()):
        frame.insert(1 + i, key, value)
    return frame


# --- the loss -----------------------------------------------------------------------------------


def target_sd(t: Target) -> float:
    """The sd of a target's value: its own, or a binomial share's sqrt(p (1 - p) / n)."""
    if t.n is None:
        return float(t.sd)
    p = min(max(t.value, 0.5 / t.n), 1 - 0.5 / t.n)
    return math.sqrt(p * (1 - p) / t.n)


def nll(t: Target, simulated: float) -> float:
    """Negative log-likelihood of the real value given the simulated one, less its minimum (0 when
    the model hits the target): normal z²/2, or the binomial deviance / 2 for a share of size n."""
    if not math.isfinite(simulated):
        return float("nan")
    if t.n is None:
        z = (simulated - t.value) / t.sd
        return 0.5 * z * z
    n, k = t.n, t.value * t.n
    p = min(max(simulated, EPS), 1 - EPS)
    out = 0.0
    if k > 0:
        out += k * math.log(k / (n * p))
    if n - k > 0:
        out += (n - k) * math.log((n - k) / (n * (1 - p)))
    return out


def loss(targets: list[Target], simulated: dict[str, float]) -> float:
    """The weighted sum of the calibrate targets' negative log-likelihoods (NaN if any is)."""
    return float(sum(t.weight * nll(t, simulated[t.id]) for t in targets if t.role == "calibrate"))


def _values(frame: pd.DataFrame, targets: list[Target], reps: int) -> np.ndarray:
    """One row per replication, one column per target: the target's value in that run."""
    out = np.full((reps, len(targets)), np.nan)
    for rep, part in frame.groupby("rep"):
        for j, t in enumerate(targets):
            s = part[part["target"] == t.id]
            out[int(rep), j] = aggregate(
                t.stat, pd.Series(s["value"].to_numpy(), index=s["year"]), list(t.model_years)
            )
    return out


def _loss_of(targets: list[Target], values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
    return loss(targets, {t.id: float(mean[j]) for j, t in enumerate(targets)})


# --- the study ----------------------------------------------------------------------------------


def _sampler(name: str, seed: int, number: int):
    """The sampler that proposes trial `number`: seeded by the calibration's seed and the number."""
    import optuna

    s = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental options
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=s, warn_independent_sampling=False)
        return optuna.samplers.TPESampler(seed=s, multivariate=True, constant_liar=True)


def _repair_journal(path: Path) -> None:
    """Drop a last line left half-written by a killed process (it was never applied)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(cut)


def open_study(folder: Path):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = folder / JOURNAL
    _repair_journal(path)
    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    return optuna.create_study(storage=storage, study_name=STUDY, direction="minimize", load_if_exists=True)


@dataclass
class Calibration:
    folder: Path
    trials: pd.DataFrame
    fit: pd.DataFrame
    best: dict[str, Any]
    good: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    importance: dict[str, float] | str = field(default_factory=dict)


def plan(
    scenario: str | Path | dict,
    targets_path: str | Path,
    vary: list[str],
    overrides: dict | None = None,
    years: int | None = None,
    label: str = "--set",
) -> tuple[Scenario, Scenario, TargetSet, list[Parameter], int, dict[str, float]]:
    """Everything checked before the first trial: (input scenario, run scenario, targets,
    parameters, years, level factor). The run scenario is the input with `overrides` and the
    outputs the targets need; the level factor scales counts of a reduced structure to the input's.

    Raises:
        ScenarioError, TargetError, ExperimentError: a bad scenario, targets file or --vary.
    """
    base = load_scenario(scenario)
    targets = load_targets(targets_path)
    needs = targets.needs()
    output = {
        "output.event_log": "events" in needs,
        "output.planning_events": False,
    }
    if base.output.holders == "none":
        output["output.holders"] = "key"
    run_overrides = {**(overrides or {}), **output}
    run_scen = load_scenario(scenario, overrides=run_overrides, overrides_label=label)
    sim = run_scen.simulation
    if years is None:
        last = max(targets.model_years(), default=sim.start_year)
        years = max(1, last - sim.start_year + 1)
    check_against(targets, run_scen, sim.start_year, sim.start_year + years - 1)
    if not targets.computable("calibrate"):
        raise TargetError(f'{targets.path}: no computable target has role = "calibrate": nothing to fit')
    params = parse_parameters(vary, scenario, run_overrides)
    return base, run_scen, targets, params, years, level_factor(base, run_scen)


def level_factor(full: Scenario, run: Scenario) -> dict[str, float]:
    """Per level: units of `full` over units of `run` (after `hierarchy.scale`), when the two have
    the same levels; counts of `run` times the factor are counts of `full`."""
    if list(full.hierarchy.levels) != list(run.hierarchy.levels):
        return {}

    def counts(s: Scenario) -> list[int]:
        h = s.hierarchy
        out = [1]
        for lvl in h.levels[1:]:
            out.append(max(out[-1], round(h.units[lvl] * h.scale)))
        return out

    return {
        lvl: a / b
        for lvl, a, b in zip(full.hierarchy.levels, counts(full), counts(run), strict=True)
        if a != b
    }


def run_calibration(
    scenario: str | Path,
    targets_path: str | Path,
    vary: list[str],
    folder: Path,
    trials: int = 50,
    reps: int = 4,
    seed: int = 1,
    years: int | None = None,
    sampler: str = "tpe",
    batch: int = 4,
    overrides: dict | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_progress: Callable[[int, int, float | None], None] | None = None,
    command: str | None = None,
    notify: Callable[[str], None] | None = None,
    dashboard: bool = False,
    cli: bool = False,
    checked: tuple | None = None,
) -> Calibration:
    """Calibrate `scenario` to the targets in `folder` (see the module docstring).

    `on_progress(done_runs, total_runs, best_loss)` is called after each finished run; `checked`
    is the result of :func:`plan` when the caller has already checked the arguments."""
    from pipeline_sim.api import check_counts

    check_counts(
        trials=(trials, 1),
        reps=(reps, 1),
        seed=(seed, 0),
        years=(years, 1),
        workers=(workers, 1),
        batch=(batch, 1),
    )
    try:
        if sampler not in SAMPLERS:
            raise ExperimentError(f"--sampler {sampler!r}: expected one of {', '.join(SAMPLERS)}")
        try:
            check_seeds(seed, reps)
        except ValueError as exc:
            raise ExperimentError(f"seed {seed}: {exc}") from None
        if checked is None:
            try:
                checked = plan(scenario, targets_path, vary, overrides, years, label="overrides")
            except (ScenarioError, TargetError) as exc:
                raise ExperimentError(str(exc)) from None
        return _run(
            checked,
            folder,
            trials,
            reps,
            seed,
            sampler,
            batch,
            overrides,
            workers,
            scheduler,
            resume,
            overwrite,
            on_progress,
            command,
            notify,
            dashboard,
        )
    except ExperimentError as exc:
        raise (exc if cli else in_python_words(exc)) from None


def _manifest(base, run_scen, targets, params, years, factor, reps, seed, sampler, batch, overrides):
    from pipeline_sim import __version__

    return {
        "version": __version__,
        "scenario": base.model_dump(mode="json"),
        "run_scenario": run_scen.model_dump(mode="json"),
        "overrides": overrides or {},
        "targets": [t.record() for t in targets],
        "targets_sha256": hashlib.sha256(Path(targets.path).read_bytes()).hexdigest(),
        "parameters": [p.record() for p in params],
        "years": years,
        "level_factor": factor,
        "reps": reps,
        "seed": seed,
        "sampler": sampler,
        "batch": batch,
    }


def _run(
    checked,
    folder,
    n_trials,
    reps,
    seed,
    sampler,
    batch,
    overrides,
    workers,
    scheduler,
    resume,
    overwrite,
    on_progress,
    command,
    notify,
    dashboard,
) -> Calibration:
    import optuna

    base, run_scen, targets, params, years, factor = checked
    manifest = _manifest(
        base, run_scen, targets, params, years, factor, reps, seed, sampler, batch, overrides
    )
    check_scheduler(scheduler)
    folder = prepare_folder(folder, manifest, MARKER, resume, overwrite)
    if not (folder / "targets.toml").exists():
        (folder / "targets.toml").write_bytes(Path(targets.path).read_bytes())
    study = open_study(folder)
    dists = {p.key: p.distribution() for p in params}
    run_data = run_scen.model_dump(mode="json")
    requests = tuple(t.request() for t in targets.computable())
    computable = targets.computable()

    def specs_of(trial) -> list[CalibrationSpec]:
        values = {p.key: p.value(trial.params[p.key]) for p in params}
        try:
            data = load_scenario(run_data, overrides=values).model_dump(mode="json")
        except ScenarioError as exc:
            raise ExperimentError(f"trial {trial.number} ({values}) is not a valid scenario: {exc}") from None
        return [
            CalibrationSpec(
                f"t{trial.number:05d}-r{rep:03d}",
                data,
                seed + rep,
                years,
                {"trial": trial.number, "rep": rep},
                requests,
                factor,
            )
            for rep in range(reps)
        ]

    def best_loss() -> float | None:
        done = [t.value for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
        return min(done) if done else None

    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    total_runs = n_trials * reps
    with Pool(workers, scheduler, dashboard, notify) as pool:
        while True:
            all_trials = study.get_trials(deepcopy=False)
            done = [t for t in all_trials if t.state in finished_states]
            if len(done) >= n_trials:
                break
            running = [t for t in all_trials if t.state == optuna.trial.TrialState.RUNNING]
            batch_trials = sorted(running, key=lambda t: t.number)
            while len(batch_trials) < min(batch, n_trials - len(done)):
                study.sampler = _sampler(sampler, seed, len(study.get_trials(deepcopy=False)))
                asked = study.ask(dists)
                batch_trials.append(study._storage.get_trial(asked._trial_id))
            specs = [s for t in batch_trials for s in specs_of(t)]
            before = len(done) * reps
            best = best_loss()

            def progress(k: int, _total: int, before=before, best=best) -> None:
                if on_progress is not None:
                    on_progress(min(before + k, total_runs), total_runs, best)

            frame = execute(
                specs,
                folder,
                task=run_statistics,
                columns=RUN_COLUMNS,
                pool=pool,
                on_done=progress,
                notify=notify,
            )
            for t in batch_trials:
                values = _values(frame[frame["trial"] == t.number], computable, reps)
                value = _loss_of(computable, values)
                if math.isfinite(value):
                    study.tell(t.number, value)
                else:
                    study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        if on_progress is not None:
            on_progress(total_runs, total_runs, best_loss())
    result = summarise(folder, study, targets, params, reps, seed, years, base, overrides, command)
    from pipeline_sim.report import write_calibration_report

    write_calibration_report(folder / "report.html", result, targets, params, reps, command, base.name)
    return result


# --- results ------------------------------------------------------------------------------------


def _read_runs(folder: Path, numbers: list[int], reps: int) -> pd.DataFrame:
    frames = []
    for number in numbers:
        for rep in range(reps):
            frames.append(pd.read_parquet(folder / "runs" / f"t{number:05d}-r{rep:03d}.parquet"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(
    folder, study, targets: TargetSet, params, reps, seed, years, base, overrides, command
) -> Calibration:
    """trials.parquet, fit.parquet and calibrated.toml from the finished trials."""
    import optuna

    computable = targets.computable()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    numbers = [t.number for t in complete]
    runs = _read_runs(folder, numbers, reps)
    values = {n: _values(runs[runs["trial"] == n], computable, reps) for n in numbers}
    losses = {n: _loss_of(computable, values[n]) for n in numbers}
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        row = {"trial": t.number, "state": t.state.name.lower(), "loss": losses.get(t.number, np.nan)}
        row.update({p.key: p.value(t.params[p.key]) if p.key in t.params else np.nan for p in params})
        rows.append(row)
    table = pd.DataFrame(rows)
    notes = []
    if not numbers:
        raise ExperimentError(f"{folder}: no trial finished with a defined loss; see the targets' statistics")
    best_n = min(numbers, key=lambda n: (losses[n], n))
    # noise: bootstrap over replications, the same resamples for every trial (paired)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    picks = rng.integers(0, reps, size=(BOOTSTRAP, reps))
    boot = {n: np.array([_loss_of(computable, values[n][idx]) for idx in picks]) for n in numbers}
    loss_sd = {n: float(np.nanstd(boot[n])) for n in numbers}
    diff_sd = {n: float(np.nanstd(boot[n] - boot[best_n])) for n in numbers}
    good = {n for n in numbers if losses[n] - losses[best_n] <= GOOD_SD * diff_sd[n]} | {best_n}
    if reps == 1:
        notes.append(
            "one replication per trial: the noise of the loss cannot be estimated, so the good "
            "trials are the best one (and any of equal loss) only"
        )
    table["loss_sd"] = table["trial"].map(loss_sd)
    table["diff_sd"] = table["trial"].map(diff_sd)
    table["good"] = table["trial"].isin(good)
    table["best"] = table["trial"] == best_n
    for t in computable:
        j = computable.index(t)
        table[f"sim:{t.id}"] = table["trial"].map(
            {
                n: float(np.nanmean(values[n][:, j])) if np.isfinite(values[n][:, j]).any() else np.nan
                for n in numbers
            }
        )
    table.to_parquet(folder / "trials.parquet", index=False)
    fit = fit_table(targets, values[best_n])
    fit.to_parquet(folder / "fit.parquet", index=False)
    best_trial = next(t for t in complete if t.number == best_n)
    best_values = {p.key: p.value(best_trial.params[p.key]) for p in params}
    write_calibrated(
        folder / "calibrated.toml",
        base,
        best_values,
        best_n,
        losses[best_n],
        len(numbers),
        overrides,
        command,
    )
    series = runs[runs["trial"] == best_n]
    best = {"trial": best_n, "loss": losses[best_n], "values": best_values, "series": series}
    result = Calibration(folder, table, fit, best, table[table["good"]].reset_index(drop=True), notes)
    result.importance = importance(study, len(params))
    return result


#: fewest finished trials for parameter importances
IMPORTANCE_MIN_TRIALS = 10


def importance(study, n_params: int) -> dict[str, float] | str:
    """PED-ANOVA importances of the parameters for reaching the best 10% of losses (Optuna; no
    extra dependency), or why there are none."""
    import optuna

    n = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    if n_params < 2:
        return "one calibrated parameter: no importances to compare"
    if n < IMPORTANCE_MIN_TRIALS:
        return f"{n} finished trials: too few for importances (at least {IMPORTANCE_MIN_TRIALS})"
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {
                k: float(v)
                for k, v in get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()).items()
            }
    except (ValueError, RuntimeError) as exc:
        return f"importances could not be computed ({exc})"


def fit_table(targets: TargetSet, best_values: np.ndarray) -> pd.DataFrame:
    """Per target: real value, simulated mean and 90% interval over the best trial's replications,
    z-score, negative log-likelihood, whether within tolerance, role and status."""
    computable = targets.computable()
    rows = []
    for t in targets:
        rec = t.record()
        row = {
            "id": t.id,
            "statistic": t.statistic,
            "group": rec["group"],
            "role": t.role,
            "status": t.status if t.stat.computable else "not_computable",
            "real_years": t.real_years,
            "model_years": t.model_span,
            "real": t.value,
            "sd": target_sd(t),
            "n": t.n,
            "likelihood": t.likelihood,
            "weight": t.weight,
            "simulated": np.nan,
            "sim_p05": np.nan,
            "sim_p95": np.nan,
            "z": np.nan,
            "nll": np.nan,
            "within": None,
            "tolerance": t.tolerance,
            "source": t.source,
            "note": t.note or (t.stat.reason if not t.stat.computable else ""),
        }
        if t in computable:
            v = best_values[:, computable.index(t)]
            v = v[np.isfinite(v)]
            if len(v):
                sim = float(v.mean())
                z = (sim - t.value) / target_sd(t)
                row.update(
                    simulated=sim,
                    sim_p05=float(np.percentile(v, 5)),
                    sim_p95=float(np.percentile(v, 95)),
                    z=z,
                    nll=nll(t, sim),
                    within=bool(abs(sim - t.value) <= t.tolerance * abs(t.value) or abs(z) <= 2),
                )
        rows.append(row)
    out = pd.DataFrame(rows)
    out["within"] = out["within"].astype("boolean")
    return out


def write_calibrated(
    path: Path,
    base: Scenario,
    values: dict[str, Any],
    trial: int,
    value: float,
    n_trials: int,
    overrides: dict | None,
    command: str | None,
) -> None:
    """The input scenario, fully resolved, with the best values of the calibrated keys."""
    scen = load_scenario(base.model_dump(mode="json"), overrides=values)
    lines = [
        "# Calibrated with pipeline-sim calibrate: the input scenario with the best values of the",
        f"# calibrated keys (trial {trial} of {n_trials} finished trials, loss {value:.4g}):",
        *[f"#   {k} = {v!r}" for k, v in values.items()],
    ]
    if overrides:
        lines.append(
            "# The calibration runs also used (not kept here): "
            + ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        )
    if command:
        lines.append(f"# {command}")
    path.write_text("\n".join(lines) + "\n" + dumps_toml(scenario_to_dict(scen)), encoding="utf-8")


# --- parameters drawn from a calibration --------------------------------------------------------


@dataclass
class Draws:
    """The good trials of a calibration, to draw parameter values from per replication."""

    folder: Path
    keys: list[str]
    integer: dict[str, bool]
    good: pd.DataFrame
    #: the calibrated keys' values in the calibration's input scenario (before calibration)
    uncalibrated: dict[str, Any] = field(default_factory=dict)

    def draw(self, seed: int) -> dict[str, Any]:
        """The trial and values drawn for the replication of seed `seed` (the same in every
        scenario of a comparison)."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 104729]))
        row = self.good.iloc[int(rng.integers(len(self.good)))]
        out: dict[str, Any] = {"trial": int(row["trial"])}
        for k in self.keys:
            out[k] = round(float(row[k])) if self.integer[k] else float(row[k])
        return out

    @classmethod
    def load(cls, folder: str | Path) -> Draws:
        """Read a calibration folder (its calibration.json and trials.parquet).

        Raises:
            ExperimentError: not a finished calibration folder.
        """
        folder = Path(folder)
        try:
            manifest = json.loads((folder / MARKER).read_text(encoding="utf-8"))
            table = pd.read_parquet(folder / "trials.parquet")
            params = manifest["parameters"]
            good = table[table["good"]].reset_index(drop=True)
            keys = [p["key"] for p in params]
            good = good[["trial", *keys]]  # every calibrated key has a column
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ExperimentError(
                f"--parameters-from {folder}: not a finished calibration folder (no readable "
                f"{MARKER} and trials.parquet: {why})"
            ) from None
        if not keys or not len(good):
            raise ExperimentError(f"--parameters-from {folder}: the calibration has no good trial")
        from pipeline_sim.sweep import _dotted

        before = {}
        for k in keys:
            with contextlib.suppress(KeyError, TypeError):
                before[k] = _dotted(manifest.get("scenario", {}), k)
        return cls(folder, keys, {p["key"]: bool(p.get("integer")) for p in params}, good, before)


def kept_keys(draws: Draws, scenarios: list[dict]) -> tuple[dict[int, list[str]], list[str]]:
    """Per scenario, the calibrated keys it keeps: those it sets apart both from the first scenario
    (the reference) and from the calibration's input scenario, a policy of its own that the
    comparison is about; and a warning for each such scenario. A scenario that holds the
    uncalibrated values (say, one extending the input scenario, beside a calibrated reference)
    draws them like the others."""
    from pipeline_sim.sweep import _dotted

    ref = scenarios[0]

    def own(s: dict, k: str) -> bool:
        v = _dotted(s, k)
        return v != _dotted(ref, k) and (k not in draws.uncalibrated or v != draws.uncalibrated[k])

    kept = {i: [k for k in draws.keys if i > 0 and own(s, k)] for i, s in enumerate(scenarios)}
    notes = [
        f"{scenarios[i].get('name', i)} sets {', '.join(keys)} apart from {ref.get('name')}: it keeps "
        "its own value(s) there; the other calibrated keys are drawn from the calibration"
        for i, keys in kept.items()
        if keys
    ]
    return kept, notes


def apply_draws(
    draws: Draws, scenarios: list[dict], seed: int, reps: int, keep: dict[int, list[str]] | None = None
) -> tuple[list[list[dict]], pd.DataFrame]:
    """Per scenario and replication, the scenario with the drawn values: replication i draws with
    seed + i, the same in every scenario (paired). Scenario j keeps its own values of the keys
    ``keep[j]`` (default :func:`kept_keys`).

    Returns (scenario data per scenario per replication, the draws: rep, seed, trial, values)."""
    keep = kept_keys(draws, scenarios)[0] if keep is None else keep
    rows = [{"rep": rep, "seed": seed + rep, **draws.draw(seed + rep)} for rep in range(reps)]
    out = []
    for i, s in enumerate(scenarios):
        per = []
        for rep in range(reps):
            values = {k: rows[rep][k] for k in draws.keys if k not in keep.get(i, [])}
            per.append(load_scenario(s, overrides=values).model_dump(mode="json"))
        out.append(per)
    return out, pd.DataFrame(rows)


def parameter_notes(draws: Draws, reps: int) -> str:
    return (
        f"parameter uncertainty: each replication draws {', '.join(draws.keys)} from the "
        f"{len(draws.good)} good trials of the calibration in {draws.folder} (replication i draws the "
        f"same trial in every scenario); {reps} draws are in parameters.parquet"
    )


def structure_note(base: Scenario, run: Scenario) -> str | None:
    """Say so when the calibration runs a smaller structure than the scenario it calibrates."""
    a, b = structure_size(base)[0], structure_size(run)[0]
    if a == b:
        return None
    return (
        f"the calibration runs simulate {b:,} cadres instead of the scenario's {a:,}; counts are "
        "scaled by level to the scenario's structure"
    )

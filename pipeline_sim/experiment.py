"""Experiments: many runs, paired by seed, executed in parallel with checkpoints.

A run is a resolved scenario plus a seed. Every run is written to ``runs/<run id>.parquet`` as soon
as it finishes (atomically: a half-written run is never counted), so an interrupted experiment
resumes where it stopped. Runs are independent and seeded, so results are identical whatever the
number of workers or the order in which runs finish.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline_sim.metrics import ALL
from pipeline_sim.model import PipelineModel
from pipeline_sim.scenario import load_scenario

#: outcomes summarised per run (level and sector 'all'): ratio outcomes are ratios of sums over
#: the years, the others are means over the years
HEADLINE_OUTCOMES: dict[str, tuple[str, str | None]] = {
    "succession_gap_rate": ("succession_gaps", "key_vacancies"),
    "vacant_posts": ("vacant_posts", None),
    "bench_strength": ("bench_strength", None),
    "quality_in_office": ("quality_in_office", None),
    "integrity_problem_share": ("integrity_problem_share", None),
    "women_in_office": ("women_in_office", None),
    "young_in_office": ("young_in_office", None),
    "women_in_planning": ("women_in_planning", None),
    "young_in_planning": ("young_in_planning", None),
    "rotations": ("rotations", None),
}


class ExperimentError(Exception):
    """An experiment cannot start or resume as asked."""


#: command-line words in experiment errors and their Python equivalents
_PYTHON_WORDS = (
    ("run without --resume", "run with resume=False"),
    ("choose another --out", "choose another folder"),
    ("--scheduler needs", "a scheduler needs"),
    ("--scheduler ", "scheduler="),
    ("--samples ", "samples="),
    ("--design ", "design="),
    ("--outcome ", "outcomes: "),
    ("--resume", "resume=True"),
    ("--out", "folder"),
)


def in_python_words(exc: ExperimentError) -> ExperimentError:
    """The same error worded for the Python interface (no command-line flags)."""
    text = str(exc)
    for flag, words in _PYTHON_WORDS:
        text = text.replace(flag, words)
    return ExperimentError(text)


@dataclass(frozen=True)
class RunSpec:
    """One run: a scenario (as plain data), a seed, and labels copied into every result row."""

    run_id: str
    scenario: dict[str, Any]
    seed: int
    years: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)


def prepare_folder(folder: Path, manifest: dict, marker: str, resume: bool, overwrite: bool) -> Path:
    """Check an experiment's folder before any run and record what the experiment is; return the
    folder, resolved.

    A new experiment claims a new or empty folder (or one this process claimed already), or
    replaces, with `overwrite`, an earlier experiment of the same kind holding nothing but what
    pipeline-sim writes; a resumed one needs the same definition (`manifest`) as the interrupted one.
    """
    from pipeline_sim import folders

    path = folder / marker
    manifest = json.loads(json.dumps(manifest))
    kind = marker.split(".")[0]
    if resume:
        if not path.exists():
            raise ExperimentError(f"{folder}: nothing to resume (no {marker}); run without --resume")
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != manifest:
            raise ExperimentError(
                f"{folder}: holds a {kind} with another definition ({_differences(before, manifest)}); "
                "resume it with the same arguments or choose another --out"
            )
        return folder.resolve()
    try:
        target = folders.check_out(folder, overwrite)
        if target.exists() and folders.holds_results(target) and not folders.claimed_by_me(target):
            if not (target / marker).exists():  # overwrite, and check_out found only results
                raise ExperimentError(f"{folder}: holds other results than a {kind}; choose another --out")
            old = target.with_name(f".{target.name[:80]}.old-{secrets.token_hex(4)}")
            target.rename(old)
            if not folders.foreign_entries(old):
                shutil.rmtree(old, ignore_errors=True)
        if not folders.try_claim(target):
            raise ExperimentError(f"{folder}: was just taken by another process; choose another --out")
        (target / marker).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        folders.finish(target)
    except folders.FolderError as exc:
        raise ExperimentError(str(exc)) from None
    except OSError as exc:
        raise ExperimentError(f"{folder}: cannot create the folder ({exc.strerror})") from None
    return target


def _differences(before: dict, now: dict, shown: int = 6) -> str:
    """What differs between two experiment definitions: "reps 20 then, 5 now; ..."."""

    def flat(d, prefix=""):
        out = {}
        if isinstance(d, dict):
            for k, v in d.items():
                out.update(flat(v, f"{prefix}{k}."))
        elif isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
            for i, v in enumerate(d):
                name = v.get("name", i) if isinstance(v, dict) else i
                out.update(flat(v, f"{prefix}{name}."))
        else:
            out[prefix[:-1]] = d
        return out

    a, b = flat(before), flat(now)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k) and k != "version"]
    if not keys and before.get("version") != now.get("version"):
        keys = ["version"]
    parts = [f"{k}: {a.get(k, '(none)')!r} then, {b.get(k, '(none)')!r} now" for k in keys[:shown]]
    more = f"; and {len(keys) - shown} more" if len(keys) > shown else ""
    return "; ".join(parts) + more


def check_scheduler(scheduler: str | None) -> None:
    """Fail before any run if a Dask scheduler is asked for but cannot be used."""
    if scheduler is None:
        return
    try:
        from distributed import Client
    except ImportError:
        raise ExperimentError(
            "--scheduler needs dask.distributed: pip install 'pipeline-sim[cluster]'"
        ) from None
    if scheduler == "local":
        return
    try:
        with Client(scheduler, timeout="10s"):
            pass
    except (OSError, TimeoutError) as exc:
        raise ExperimentError(f"--scheduler {scheduler}: cannot reach the scheduler ({exc})") from None


def simulate_run(spec: RunSpec) -> pd.DataFrame:
    """Run one spec and return its tidy metrics, labelled (run, seed, labels...)."""
    scenario = load_scenario({**spec.scenario, "output": {"event_log": False}})
    model = PipelineModel(scenario, seed=spec.seed, years=spec.years)
    try:
        model.run()
        m = add_rotations(model.metrics_frame())
    finally:
        model.close()  # no reference cycle keeps a finished model alive in a worker
    m.insert(0, "seed", np.int64(spec.seed))
    m.insert(0, "run", spec.run_id)
    for i, (key, value) in enumerate(spec.labels.items()):
        m.insert(1 + i, key, value)
    return m


def add_rotations(metrics: pd.DataFrame) -> pd.DataFrame:
    """Append a 'rotations' metric: all rotation moves of planned cadres in the year."""
    moves = metrics[metrics["metric"].isin([f"rotations_{d}" for d in ("down", "up", "locality", "sector")])]
    if moves.empty:
        return metrics
    total = moves.groupby(["year", "level", "sector"], observed=True, as_index=False)["value"].sum()
    total["metric"] = "rotations"
    out = pd.concat([metrics.astype({"metric": str}), total], ignore_index=True)
    out["metric"] = out["metric"].astype("category")
    return out


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool


def execute(
    specs: list[RunSpec],
    folder: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every spec not already checkpointed in ``folder/runs``; return all runs' metrics.

    Args:
        specs: the runs, with unique run ids.
        folder: where ``runs/`` checkpoints live; finished runs found there are not run again.
        workers: processes for local runs (default: all cores; 1 runs in this process).
        scheduler: a Dask scheduler address ("tcp://host:port"), or "local" for a local Dask
            cluster, instead of local processes.
        on_done: called as ``on_done(done, total)`` after each finished run (progress bars).
    """
    runs_dir = folder / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for stale in runs_dir.glob(".*.tmp"):  # a run killed while being written: not counted
        stale.unlink()
    done = {p.stem for p in runs_dir.glob("*.parquet")}
    todo = [s for s in specs if s.run_id not in done]
    total, finished = len(specs), len(specs) - len(todo)
    if on_done is not None:
        on_done(finished, total)

    def store(spec: RunSpec, frame: pd.DataFrame) -> None:
        nonlocal finished
        _write_atomic(frame, runs_dir / f"{spec.run_id}.parquet")
        finished += 1
        if on_done is not None:
            on_done(finished, total)

    if todo:
        if scheduler is not None:
            _execute_dask(todo, scheduler, store, workers)
        elif (workers or os.cpu_count() or 1) == 1 or len(todo) == 1:
            for spec in todo:
                store(spec, simulate_run(spec))
        else:
            _execute_processes(todo, workers or os.cpu_count() or 1, store)
    return collect(specs, folder)


def _execute_processes(todo: list[RunSpec], workers: int, store) -> None:
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), initializer=_ignore_sigint) as pool:
        pending: dict[Future, RunSpec] = {}
        queue = iter(todo)
        try:
            for spec in queue:  # keep a bounded number of runs in flight
                pending[pool.submit(simulate_run, spec)] = spec
                if len(pending) >= 2 * workers:
                    break
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    spec = pending.pop(fut)
                    store(spec, fut.result())
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(simulate_run, nxt)] = nxt
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def _execute_dask(todo: list[RunSpec], scheduler: str, store, workers: int | None = None) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ExperimentError(
            "--scheduler needs dask.distributed: pip install 'pipeline-sim[cluster]'"
        ) from None
    cluster = (
        LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1) if scheduler == "local" else None
    )
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = {client.submit(simulate_run, spec, pure=False): spec for spec in todo}
            for fut in as_completed(futures):
                store(futures[fut], fut.result())
    finally:
        if cluster is not None:
            cluster.close()


def collect(specs: Iterable[RunSpec], folder: Path) -> pd.DataFrame:
    """All checkpointed runs of `specs`, in spec order (so the result never depends on timing)."""
    frames = [pd.read_parquet(folder / "runs" / f"{s.run_id}.parquet") for s in specs]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    for col in ("level", "sector", "metric"):
        out[col] = out[col].astype("category")
    return out


def run_outcomes(
    metrics: pd.DataFrame,
    keys: list[str],
    level: str = ALL,
    sector: str = ALL,
    extra: dict[str, tuple[str, str | None]] | None = None,
) -> pd.DataFrame:
    """One row per run (by `keys`, e.g. scenario, seed): every headline outcome (and any `extra`
    outcome, given as (metric, denominator metric or None)) as one number over all years."""
    m = metrics[(metrics["level"] == level) & (metrics["sector"] == sector)]
    out = m[keys].drop_duplicates().set_index(keys)
    for name, (num, den) in {**HEADLINE_OUTCOMES, **(extra or {})}.items():
        a = m[m["metric"] == num].groupby(keys, observed=True)["value"]
        if den is None:
            out[name] = a.mean()
        else:
            b = m[m["metric"] == den].groupby(keys, observed=True)["value"].sum()
            out[name] = a.sum() / b.where(b > 0)
    return out.reset_index()


def simulate(
    scenario: str | Path | dict = "scenarios/baseline.toml",
    seed: int = 1,
    years: int | None = None,
    **params: Any,
) -> dict[str, float]:
    """A plain function of named parameters returning named outcomes (EMA Workbench style).

    Parameters are scenario keys, dotted (``**{"planning.mode": "open"}``) or with double
    underscores (``planning__mode="open"``); outcomes are the headline outcomes of
    :data:`HEADLINE_OUTCOMES` over all levels and sectors.
    """
    overrides = {key.replace("__", "."): value for key, value in params.items()}
    base = load_scenario(scenario, overrides=overrides)
    spec = RunSpec("simulate", base.model_dump(mode="json"), seed, years)
    frame = simulate_run(spec)
    row = run_outcomes(frame, ["run"]).iloc[0]
    return {name: float(row[name]) for name in HEADLINE_OUTCOMES}

"""Experiments: many runs, paired by seed, executed in parallel with checkpoints.

A run is a resolved scenario plus a seed. Every run is written to ``runs/<run id>.parquet`` as soon
as it finishes (atomically: a half-written run is never counted), so an interrupted experiment
resumes where it stopped. Runs are independent and seeded, so results are identical whatever the
number of workers or the order in which runs finish.

Each run file carries the run's identity in its Parquet schema metadata (run id, seed, years,
labels, a hash of the scenario and the package version). On resume a run file is used only if it
reads completely and its identity is the run's own; an empty, truncated, damaged or foreign file is
reported and the run is computed again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_sim.memory import release_free_memory
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


class CheckpointWarning(UserWarning):
    """A run file cannot be trusted (empty, damaged or another run's): the run is computed again."""


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
    # metrics only: no event log and no roster (neither changes a metric)
    scenario = load_scenario({**spec.scenario, "output": {"event_log": False, "holders": "none"}})
    model = PipelineModel(scenario, seed=spec.seed, years=spec.years)
    try:
        model.run()
        m = add_rotations(model.metrics_frame())
    finally:
        model.close()  # no reference cycle keeps a finished model alive in a worker
    del model
    release_free_memory()
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


#: key of the run's identity in a run file's Parquet schema metadata
IDENTITY_KEY = b"pipeline_sim.run"


def run_identity(spec: RunSpec) -> dict[str, Any]:
    """What a run file must say about itself to count as this run's result."""
    from pipeline_sim import __version__

    scenario = json.dumps(spec.scenario, sort_keys=True, separators=(",", ":"))
    return {
        "run": spec.run_id,
        "seed": int(spec.seed),
        "years": spec.years,
        "labels": json.loads(json.dumps(spec.labels)),
        "scenario_sha256": hashlib.sha256(scenario.encode("utf-8")).hexdigest(),
        "version": __version__,
    }


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


#: a run file being written: .<run id>.parquet.<host>.<pid>.tmp (host and pid of the writer)
_TMP = re.compile(r"^\.(?P<name>.+\.parquet)(?:\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+))?\.tmp$")


def _write_atomic(frame: pd.DataFrame, path: Path, identity: dict[str, Any]) -> None:
    """Write `frame` with `identity` in its schema metadata; the file appears complete or not at all."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[IDENTITY_KEY] = json.dumps(identity, sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.{_host_tag()}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():  # a recycled pid (e.g. in a container): not a write of this process
        return False
    if os.name != "posix":  # no safe liveness test without extra packages: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def remove_stale_temporaries(runs_dir: Path) -> list[Path]:
    """Remove run files left half-written by a process that is gone; return what was removed.

    A temporary file names its writer (host and pid): it is removed when that process no longer
    runs on this host. Files of another host are left alone (their writer may still be running);
    files from versions that did not name their writer are removed.
    """
    removed = []
    host = _host_tag()
    for tmp in runs_dir.glob(".*.tmp"):
        m = _TMP.match(tmp.name)
        if m is None:
            continue
        if m["pid"] is not None and (m["host"] != host or _pid_alive(int(m["pid"]))):
            continue
        try:
            tmp.unlink()
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed


def check_writable(folder: Path) -> None:
    """Fail unless a file can be created in `folder` (see :func:`pipeline_sim.folders.check_writable`)."""
    from pipeline_sim import folders

    try:
        folders.check_writable(folder)
    except folders.FolderError as exc:
        raise ExperimentError(f"{exc}; nothing was run") from None


#: columns every run file of metrics holds (besides the spec's labels)
METRIC_COLUMNS = frozenset({"run", "seed", "year", "level", "sector", "metric", "value"})


def checkpoint_problem(path: Path, spec: RunSpec, columns: frozenset[str] = METRIC_COLUMNS) -> str | None:
    """Why the run file `path` is not a complete result of `spec` (a table with `columns` and the
    spec's labels), or None if it is."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with pq.ParquetFile(path) as pf:
            meta = pf.schema_arrow.metadata or {}
            table = pf.read()
    except Exception as exc:  # whatever the reason, a file that does not read is not a result
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"unreadable (truncated or damaged: {first})"
    problem = _identity_problem(meta, spec)
    if problem is not None:
        return problem
    missing = {*columns, *spec.labels} - set(table.column_names)
    if missing:
        return f"lacks the columns {', '.join(sorted(missing))}"
    if table.num_rows == 0:
        return "holds no rows"
    return None


def _identity_problem(meta: dict, spec: RunSpec) -> str | None:
    raw = meta.get(IDENTITY_KEY)
    if raw is None:
        return "carries no run identity (not written by this version of pipeline-sim)"
    try:
        found = json.loads(raw)
    except ValueError:
        return "carries an unreadable run identity"
    if not isinstance(found, dict):
        return "carries an unreadable run identity"
    expected = run_identity(spec)
    if found.get("run") != expected["run"]:
        return f"holds run {found.get('run')!r}, not {spec.run_id!r}"
    differ = [key for key in expected if found.get(key) != expected[key]]
    if differ:
        return f"holds another definition of the run ({', '.join(differ)} differ)"
    return None


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool


#: prctl option: the signal a process gets when its parent ends (Linux)
_PR_SET_PDEATHSIG = 1


def _worker_init(parent: int) -> None:
    """Pool worker set-up: leave Ctrl-C to the parent, and end with the parent."""
    _ignore_sigint()
    end_with_parent(parent)


def end_with_parent(parent: int, kernel_signal: bool = True) -> None:
    """End this (worker) process as soon as its parent `parent` ends, even if the parent is killed
    with SIGKILL and cannot stop its workers.

    On Linux the kernel sends SIGKILL when the parent ends (``prctl(PR_SET_PDEATHSIG)``, unless
    `kernel_signal` is false); everywhere a watcher thread ends the process when the parent's
    multiprocessing sentinel closes or, on POSIX, when the process is given another parent.
    """
    if kernel_signal and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.name == "posix" and os.getppid() != parent:  # the parent ended before this was set up
        os._exit(1)
    sentinel = None
    proc = multiprocessing.parent_process()
    if proc is not None and proc.pid == parent:
        sentinel = proc.sentinel
    threading.Thread(target=_watch_parent, args=(parent, sentinel), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int, sentinel: Any) -> None:
    """End this process when the parent ends: its sentinel (closed when it exits, on every
    platform) or, on POSIX, a change of parent pid (the worker was reparented)."""
    from multiprocessing.connection import wait as wait_ready

    while True:
        if sentinel is not None:
            if wait_ready([sentinel], timeout=1.0):
                os._exit(1)
        else:
            threading.Event().wait(1.0)
        if os.name == "posix" and os.getppid() != parent:
            os._exit(1)


def execute(
    specs: list[RunSpec],
    folder: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    on_done: Callable[[int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    dashboard: bool = False,
    task: Callable[[Any], pd.DataFrame] | None = None,
    columns: frozenset[str] = METRIC_COLUMNS,
    pool: Pool | None = None,
) -> pd.DataFrame:
    """Run every spec not already checkpointed in ``folder/runs``; return all runs' metrics.

    Args:
        specs: the runs, with unique run ids.
        folder: where ``runs/`` checkpoints live; finished runs found there are not run again,
            once checked to be complete and to be these runs (any other file is reported through
            `notify` and the run is computed again).
        workers: processes for local runs, or workers of a local Dask cluster (default: all
            cores; 1 runs in this process).
        scheduler: a Dask scheduler address ("tcp://host:port"), or "local" for a local Dask
            cluster (on 127.0.0.1), instead of local processes.
        on_done: called as ``on_done(done, total)`` after each finished run (progress bars).
        notify: called with a message for the user (a run file not trusted, the dashboard's
            address); default: a :class:`CheckpointWarning`.
        dashboard: open the local Dask cluster's dashboard (on 127.0.0.1 only).
        task: what a run computes, a function of its spec returning a table (default
            :func:`simulate_run`, the tidy metrics); `columns` are the columns its table must have
            for a run file to count as complete.
        pool: a :class:`Pool` kept open across several calls (then `workers`, `scheduler` and
            `dashboard` are the pool's).

    Raises:
        ExperimentError: the folder or ``runs/`` cannot be written (found before any run).
    """
    if notify is None:

        def notify(message: str) -> None:
            warnings.warn(message, CheckpointWarning, stacklevel=3)

    runs_dir = folder / "runs"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExperimentError(f"{runs_dir}: cannot create the folder ({exc.strerror or exc})") from None
    check_writable(folder)
    check_writable(runs_dir)
    remove_stale_temporaries(runs_dir)
    todo = []
    for spec in specs:
        path = runs_dir / f"{spec.run_id}.parquet"
        if not path.exists():
            todo.append(spec)
            continue
        problem = checkpoint_problem(path, spec, columns)
        if problem is not None:
            notify(f"warning: {path}: {problem}; the run is computed again")
            todo.append(spec)
    total, finished = len(specs), len(specs) - len(todo)
    if on_done is not None:
        on_done(finished, total)

    def store(spec: RunSpec, frame: pd.DataFrame) -> None:
        nonlocal finished
        path = runs_dir / f"{spec.run_id}.parquet"
        try:
            _write_atomic(frame, path, run_identity(spec))
        except OSError as exc:
            raise ExperimentError(f"{path}: cannot write the run ({exc.strerror or exc})") from None
        finished += 1
        if on_done is not None:
            on_done(finished, total)

    task = task or simulate_run
    if todo:
        if pool is not None:
            pool.run(task, todo, store)
        elif scheduler is not None:
            _execute_dask(todo, scheduler, store, workers, dashboard, notify, task)
        elif (workers or os.cpu_count() or 1) == 1 or len(todo) == 1:
            for spec in todo:
                store(spec, task(spec))
        else:
            _execute_processes(todo, workers or os.cpu_count() or 1, store, task)
    return collect(specs, folder)


def _process_pool(workers: int) -> ProcessPoolExecutor:
    # spawn: fresh workers whatever threads this process runs (and the same on every platform)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )


def _run_on(pool: ProcessPoolExecutor, workers: int, todo: list[RunSpec], store, task) -> None:
    """Run `todo` on a process pool, keeping a bounded number of runs in flight."""
    pending: dict[Future, RunSpec] = {}
    queue = iter(todo)
    try:
        for spec in queue:
            pending[pool.submit(task, spec)] = spec
            if len(pending) >= 2 * workers:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                spec = pending.pop(fut)
                store(spec, fut.result())
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(task, nxt)] = nxt
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise


def _execute_processes(todo: list[RunSpec], workers: int, store, task=simulate_run) -> None:
    with _process_pool(min(workers, len(todo))) as pool:
        _run_on(pool, workers, todo, store, task)


class Pool:
    """Workers kept across several :func:`execute` calls (an experiment that runs in rounds, such
    as a calibration): local processes (spawned, ending with this process), a local Dask cluster
    (``scheduler="local"``, on 127.0.0.1) or a Dask scheduler's address; with one worker and no
    scheduler, runs in this process. Started on first use; use it as a context manager."""

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        dashboard: bool = False,
        notify: Callable[[str], None] | None = None,
    ):
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler
        self.dashboard = dashboard
        self.notify = notify
        self._processes: ProcessPoolExecutor | None = None
        self._cluster = None
        self._client = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, task: Callable[[Any], pd.DataFrame], todo: list[RunSpec], store) -> None:
        if self.scheduler is not None:
            from distributed import as_completed

            client = self._dask()
            futures = {client.submit(task, spec, pure=False): spec for spec in todo}
            try:
                for fut in as_completed(futures):
                    store(futures[fut], fut.result())
            except BaseException:
                client.cancel(list(futures))
                raise
        elif self.workers == 1:
            for spec in todo:
                store(spec, task(spec))
        else:
            if self._processes is None:
                self._processes = _process_pool(self.workers)
            _run_on(self._processes, self.workers, todo, store, task)

    def _dask(self):
        if self._client is None:
            try:
                from distributed import Client
            except ImportError:
                raise ExperimentError(
                    "--scheduler needs dask.distributed: pip install 'pipeline-sim[cluster]'"
                ) from None
            if self.scheduler == "local":
                self._cluster = local_cluster(self.workers, self.dashboard)
                if self.dashboard and self.notify is not None:
                    self.notify(f"Dask dashboard: {self._cluster.dashboard_link}")
            self._client = Client(self._cluster if self._cluster is not None else self.scheduler)
        return self._client

    def close(self) -> None:
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)
            self._processes = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def local_cluster(workers: int | None = None, dashboard: bool = False):
    """The local Dask cluster of ``--scheduler local``: `workers` single-threaded worker
    processes (default: all cores), every server on 127.0.0.1, the dashboard only if asked.

    Without the dashboard the scheduler still serves its small HTTP API (health, metrics), on
    127.0.0.1 and a free port (not 8787, so that experiments side by side do not collide)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:8787" if dashboard else None,
        scheduler_kwargs=None if dashboard else {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )


def _execute_dask(
    todo: list[RunSpec],
    scheduler: str,
    store,
    workers: int | None = None,
    dashboard: bool = False,
    notify: Callable[[str], None] | None = None,
    task=simulate_run,
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ExperimentError(
            "--scheduler needs dask.distributed: pip install 'pipeline-sim[cluster]'"
        ) from None
    cluster = local_cluster(workers, dashboard) if scheduler == "local" else None
    try:
        if cluster is not None and dashboard and notify is not None:
            notify(f"Dask dashboard: {cluster.dashboard_link}")
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = {client.submit(task, spec, pure=False): spec for spec in todo}
            for fut in as_completed(futures):
                store(futures[fut], fut.result())
    finally:
        if cluster is not None:
            cluster.close()


def _read_run(path: Path, schema: pa.Schema) -> pd.DataFrame:
    """One run's checkpoint (of that schema), its text columns as categories (not one string per
    row)."""
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    frame = pq.read_table(path, read_dictionary=text).to_pandas()
    for col in text:  # categories sorted, so that they order as the strings would
        frame[col] = frame[col].cat.set_categories(sorted(frame[col].cat.categories))
    return frame


def collect(specs: Iterable[RunSpec], folder: Path) -> pd.DataFrame:
    """All checkpointed runs of `specs`, in spec order (so the result never depends on timing).

    Raises:
        ExperimentError: a run file is missing or is not the run's own.
    """
    frames = []
    for s in specs:
        path = folder / "runs" / f"{s.run_id}.parquet"
        try:
            schema = pq.read_schema(path)
            problem = _identity_problem(schema.metadata or {}, s)
            frame = _read_run(path, schema) if problem is None else None
        except (OSError, pa.ArrowException, ValueError) as exc:
            problem = f"unreadable ({exc})"
        if problem is not None:
            raise ExperimentError(f"{path}: {problem} (changed while the experiment ran?)")
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    # text columns as categories with one set of categories for all runs: level, sector and
    # metric are stored as categories, run, scenario and text labels as strings (250 MB of
    # strings in 100 national runs). The runs' own categories where they all agree (levels in
    # the structure's order), else the values sorted as plain strings
    for col in frames[0].columns:
        dtypes = [f[col].dtype if col in f else None for f in frames]
        if not all(isinstance(d, pd.CategoricalDtype) for d in dtypes) or all(d == dtypes[0] for d in dtypes):
            continue
        values = sorted(set().union(*(f[col].cat.categories for f in frames)))
        for f in frames:
            f[col] = f[col].cat.set_categories(values)
    return pd.concat(frames, ignore_index=True)


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
    out = out.reset_index()
    for key in keys:  # one row per run: the keys as plain values, whatever the metrics' dtypes
        if isinstance(out[key].dtype, pd.CategoricalDtype):
            out[key] = out[key].astype(out[key].cat.categories.dtype)
    return out


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

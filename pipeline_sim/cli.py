"""The `pipeline-sim` command line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pipeline_sim.scenario import ScenarioError, dumps_toml, load_scenario, parse_override_value
from pipeline_sim.scenario.loader import scenario_to_dict

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate cadre pipelines: planning pools, appointments and succession gaps.",
)
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def parse_sets(items: list[str] | None) -> dict:
    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: expected KEY=VALUE, e.g. --set planning.mode=open")
        overrides[key.strip()] = parse_override_value(value.strip())
    return overrides


def load(path: Path, overrides: dict | None = None):
    try:
        return load_scenario(path, overrides=overrides)
    except ScenarioError as exc:
        fail(str(exc))


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key, e.g. --set planning.mode=open (repeatable)."),
]


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    reps: Annotated[int | None, typer.Option(min=1, help="Replications (default: simulation.reps).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of the first replication.")] = None,
    years: Annotated[int | None, typer.Option(min=1, help="Years to simulate.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Results folder (default results/<name>).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing results folder given by --out.")
    ] = False,
    sets: SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a scenario, print a summary and write the results folder."""
    from pipeline_sim.api import OutputError, claim_out_dir, default_out_dir
    from pipeline_sim.api import run as run_scenario
    from pipeline_sim.folders import release

    scen = load(scenario, parse_sets(sets))
    n_reps = reps or scen.simulation.reps
    n_years = years or scen.simulation.years
    try:  # the folder is claimed now, so that runs started together never share one
        target = default_out_dir(scen) if out_dir is None else claim_out_dir(out_dir, overwrite)
    except OutputError as exc:
        fail(str(exc))
    total = n_reps * (n_years + scen.simulation.burn_in_years)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("years"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task(f"{scen.name}", total=total)

        def on_year(rep: int, year: int) -> None:
            progress.update(task, advance=1, description=f"{scen.name} rep {rep + 1}/{n_reps} {year}")

        try:
            result = run_scenario(scen, reps=n_reps, seed=seed, years=n_years, on_year=on_year)
        except KeyboardInterrupt:
            release(target)
            err.print("interrupted: nothing was written")
            raise typer.Exit(130) from None
        except BaseException:
            release(target)
            raise
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:  # results first: nothing after the simulation may lose them
        path = result.save(target, overwrite=overwrite, command=command)
    except OutputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{target}: cannot write results ({exc.strerror})")
    print_summary(result)
    out.print(f"results written to [bold]{escape(str(shown_path(path)))}[/]")


def shown_path(path: Path) -> Path:
    """A path relative to the working folder when it lies inside it."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def print_summary(result) -> None:
    """Headline outcomes: one row per metric, one column per level (and all)."""
    summary = result.summary()
    years = sorted(result.metrics["year"].unique()) if len(result.metrics) else []
    span = f"{years[0]}-{years[-1]}" if years else "no years"
    table = Table(
        title=f"{result.scenario.name}: {span}, {len(result.seeds)} replication(s)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("metric", no_wrap=True)
    for level in summary.index:
        table.add_column(str(level), justify="right", no_wrap=True)
    has_band = "gap_rate_p10" in summary.columns
    for name, label in SUMMARY_LABELS.items():
        cells = []
        for _, row in summary.iterrows():
            v = row.get(name)
            if v is None or v != v:
                cells.append("-")
            elif name in ("vacant_posts", "ready_successors_per_post", "quality_in_office"):
                cells.append(f"{v:,.2f}")
            else:
                cells.append(f"{v:.1%}")
        table.add_row(label, *cells)
        if name == "succession_gap_rate" and has_band:
            band = [f"{r['gap_rate_p10']:.0%}-{r['gap_rate_p90']:.0%}" for _, r in summary.iterrows()]
            table.add_row("  10-90% over reps", *band)
    out.print(table)
    m = result.scenario.metrics
    out.print(
        "succession gap rate = key-post vacancies with no ready planned successor / all key-post "
        "vacancies"
        + (" [10-90% over replications]" if has_band else "")
        + f"; planning targets: women >= {m.target_women:.0%}, young >= {m.target_young:.0%}",
        style="dim",
    )


SUMMARY_LABELS = {
    "succession_gap_rate": "succession gap rate",
    "vacant_posts": "vacant post-yrs/yr",
    "bench_strength": "bench strength",
    "ready_successors_per_post": "ready per key post",
    "quality_in_office": "quality in office",
    "women_in_office": "women in office",
    "young_in_office": "young in office",
    "women_in_planning": "women in planning",
    "young_in_planning": "young in planning",
}


def claim_default(names: list[str], kind: str) -> Path:
    """Claim the default folder of an experiment (results/compare-A-vs-B, results/sweep-A, ...)."""
    from pipeline_sim.compare import default_folder
    from pipeline_sim.experiment import ExperimentError

    try:
        return default_folder(names, Path("results"), kind)
    except ExperimentError as exc:
        fail(str(exc))


def run_experiment(label: str, total: int, folder: Path, quiet: bool, start):
    """Run `start(on_done)` with a progress bar over runs; clear messages on error or Ctrl-C.
    A folder claimed for the experiment and left empty is given up."""
    from pipeline_sim.experiment import ExperimentError
    from pipeline_sim.folders import release

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    ) as progress:
        task = progress.add_task(label, total=total)

        def on_done(done: int, all_runs: int) -> None:
            progress.update(task, completed=done, total=all_runs)

        try:
            return start(on_done)
        except ExperimentError as exc:
            release(folder.resolve())
            fail(str(exc))
        except KeyboardInterrupt:
            release(folder.resolve())
            err.print(
                f"interrupted: finished runs are kept in {folder}/runs; "
                f"continue with the same command plus --resume --out {folder}"
            )
            raise typer.Exit(130) from None


@app.command()
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files; the first is the reference.")],
    reps: Annotated[int, typer.Option(min=1, help="Replications per scenario.")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first replication.")] = 1,
    years: Annotated[int | None, typer.Option(min=1, help="Years to simulate.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder (default results/compare-...).")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local processes (default: all cores).")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://host:port), or 'local'.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted comparison in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing comparison in --out.")] = False,
    sets: SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run scenarios with the same seeds and report paired differences (HTML report + data)."""
    from pipeline_sim.compare import compare as run_compare
    from pipeline_sim.compare import load_all

    if len(scenarios) < 1:
        fail("give at least one scenario file")
    try:
        scens = load_all(scenarios, parse_sets(sets))
    except ScenarioError as exc:
        fail(str(exc))
    names = [s.name for s in scens]
    if out_dir is None:
        if resume:
            fail("--resume needs --out FOLDER: the folder of the interrupted comparison")
        folder = claim_default(names, "compare")
    else:
        folder = out_dir
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_experiment(
        "compare",
        len(scens) * reps,
        folder,
        quiet,
        lambda on_done: run_compare(
            scens,
            reps,
            seed,
            years,
            folder,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            overwrite=overwrite,
            on_done=on_done,
            command=command,
        ),
    )
    d = result.differences
    if len(d):
        table = Table(
            title=f"difference from {names[0]} over all years (95% interval, paired by seed)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for col in ("scenario", "outcome", "difference", "clear of noise"):
            table.add_column(col, justify="left" if col in ("scenario", "outcome") else "right")
        for _, r in d.iterrows():
            table.add_row(
                str(r["scenario"]),
                str(r["outcome"]),
                f"{r['mean_diff']:+.4g} [{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]",
                "yes" if r["clear"] else "no",
            )
        out.print(table)
    out.print(f"report: [bold]{folder / 'report.html'}[/]; data: {folder / 'data.parquet'}")


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Base scenario file.")],
    vary: Annotated[list[str], typer.Option("--vary", help="KEY=LOW:HIGH or KEY=A,B,C (repeatable).")],
    design: Annotated[str, typer.Option(help="factorial, lhs, sobol or morris.")] = "lhs",
    samples: Annotated[
        int, typer.Option(min=1, help="Base samples (lhs: points; sobol: N; morris: trajectories).")
    ] = 64,
    levels: Annotated[int, typer.Option(min=2, help="Values per numeric factor in a factorial design.")] = 3,
    reps: Annotated[int, typer.Option(min=1, help="Replications per parameter set.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first replication.")] = 1,
    years: Annotated[int | None, typer.Option(min=1, help="Years to simulate.")] = None,
    outcome: Annotated[
        list[str] | None, typer.Option("--outcome", help="Outcome to analyse (repeatable).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder (default results/sweep-<name>).")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local processes (default: all cores).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, or 'local'.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted sweep in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing sweep in --out.")] = False,
    sets: SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Sweep scenario keys over a design; write the experiment table, sensitivity indices and a report."""
    from pipeline_sim.experiment import ExperimentError
    from pipeline_sim.sweep import design_points, parse_vary, run_sweep

    overrides = parse_sets(sets)
    base = load(scenario, overrides)
    try:
        factors = parse_vary(vary, scenario, overrides)
        n_points = len(design_points(factors, design, samples, levels, seed)[0])
    except ExperimentError as exc:
        fail(str(exc))
    if out_dir is None:
        if resume:
            fail("--resume needs --out FOLDER: the folder of the interrupted sweep")
        folder = claim_default([base.name], "sweep")
    else:
        folder = out_dir
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_experiment(
        f"sweep ({n_points} sets x {reps})",
        n_points * reps,
        folder,
        quiet,
        lambda on_done: run_sweep(
            base,
            factors,
            design,
            samples,
            levels,
            reps,
            seed,
            years,
            folder,
            outcome,
            workers,
            scheduler,
            resume,
            overwrite,
            on_done,
            command,
        ),
    )
    if len(result.indices):
        out.print(result.indices.round(3).to_string(index=False))
    out.print(f"report: [bold]{folder / 'report.html'}[/]; table: {folder / 'experiments.parquet'}")


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario TOML files.")],
) -> None:
    """Check scenario files; report every problem with its file and key."""
    bad = 0
    for path in scenarios:
        try:
            load_scenario(path)
            out.print(f"[green]ok[/] {path}")
        except ScenarioError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            bad += 1
    if bad:
        raise typer.Exit(2)


@app.command()
def show(
    scenario: Annotated[Path | None, typer.Argument(help="Scenario TOML file to resolve.")] = None,
    phases: Annotated[bool, typer.Option("--phases", help="List the phases of a year, in order.")] = False,
    schema: Annotated[
        bool, typer.Option("--schema", help="List every scenario key with default and source.")
    ] = False,
    metrics: Annotated[bool, typer.Option("--metrics", help="List every metric with its meaning.")] = False,
    sets: SetOption = None,
) -> None:
    """Print the fully resolved scenario, the phase plan, the scenario keys or the metrics."""
    if phases:
        from pipeline_sim.processes import DEFAULT_PLAN

        table = Table(title="phases of a year", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("phase")
        table.add_column("what it does")
        for i, ph in enumerate(DEFAULT_PLAN, start=1):
            table.add_row(str(i), ph.NAME, ph.SUMMARY)
        out.print(table)
    if schema:
        from pipeline_sim.scenario.reference import schema_rows

        table = Table(title="scenario keys", title_justify="left")
        for col in ("key", "default", "meaning and source"):
            table.add_column(col, overflow="fold")
        for key, default, desc in schema_rows():
            table.add_row(key, default, desc)
        out.print(table)
    if metrics:
        from pipeline_sim.metrics import METRICS

        table = Table(title="metrics", title_justify="left")
        table.add_column("metric")
        table.add_column("meaning")
        for name, meaning in METRICS.items():
            table.add_row(name, meaning)
        out.print(table)
    if scenario is not None:
        scen = load(scenario, parse_sets(sets))
        print(dumps_toml(scenario_to_dict(scen)), end="")
    elif not (phases or schema or metrics):
        fail("give a scenario file, or one of --phases, --schema, --metrics")


DASHBOARD_INSTALL = 'pip install "pipeline-sim[dashboard]"'


@app.command()
def dashboard(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario TOML file (default: scenarios/teaching.toml, or the built-in teaching one)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (only this machine by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    lessons: Annotated[
        Path | None, typer.Option("--lessons", help="Folder of lesson files (default: the shipped lessons).")
    ] = None,
    seeds: Annotated[int, typer.Option(min=0, max=20, help="Extra seeds per side for the noise bands.")] = 3,
) -> None:
    """Open the teaching dashboard: two provinces side by side, live charts, careers and lessons."""
    import importlib.util
    import os

    missing = [m for m in ("solara", "anywidget", "mesa.visualization") if not _importable(importlib.util, m)]
    if missing:
        fail(f"the dashboard needs {', '.join(missing)}: install it with  {escape(DASHBOARD_INSTALL)}")
    if scenario is not None:
        load(scenario)  # report a bad file here, with its key, not in the browser
    if lessons is not None:
        from pipeline_sim.dashboard.lessons import LessonError, load_lessons

        try:
            load_lessons(lessons)
        except LessonError as exc:
            fail(str(exc))
    env = {
        "PIPELINE_SIM_DASHBOARD_SCENARIO": str(scenario.resolve()) if scenario else "",
        "PIPELINE_SIM_DASHBOARD_LESSONS": str(lessons.resolve()) if lessons else "",
        "PIPELINE_SIM_DASHBOARD_SEEDS": str(seeds),
        # everything from this machine: no usage statistics, assets from the local cache only
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    }
    os.environ.update(env)
    from solara.server import settings as solara_settings

    if not (solara_settings.assets.proxy_cache_dir / "@widgetti").is_dir():
        fail(
            f"the page assets (package solara-assets) are missing from "
            f"{solara_settings.assets.proxy_cache_dir}: install them with  {escape(DASHBOARD_INSTALL)}"
        )
    out.print(f"dashboard at [bold]http://{host}:{port}[/] (Ctrl+C to stop)")
    from solara.__main__ import main as solara_main

    sys.argv = [
        "solara",
        "run",
        "pipeline_sim.dashboard.app",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
    ]
    solara_main()


def _importable(util, name: str) -> bool:
    try:
        return util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def main() -> None:
    app()


if __name__ == "__main__":
    main()

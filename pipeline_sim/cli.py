"""The `pipeline-sim` command line."""

from __future__ import annotations

import difflib
import shlex
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from pipeline_sim.scenario import ScenarioError, dumps_toml, load_scenario, parse_override_value
from pipeline_sim.scenario.loader import scenario_to_dict

_display_type = typer.core.TyperOption.display_type_rich


def _flag_display_type(self, ctx):
    """Flags (--help included) show no value type in the help: they take no value."""
    return "" if self.is_flag else _display_type(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_display_type
typer.core.TyperArgument.display_type_rich = lambda self, ctx: ""  # their names say what they are


class SuggestingGroup(typer.core.TyperGroup):
    """Unknown commands get a "did you mean"."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            close = difflib.get_close_matches(args[0], list(self.commands), n=2)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {args[0]!r}.{hint}")
        return super().resolve_command(ctx, args)


def choose(option: str, value: str, choices: list[str]) -> str:
    """`value` if it is one of `choices`; else an error listing them, with a "did you mean"."""
    if value in choices:
        return value
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    fail(f"{option} {value!r}: {hint}expected one of {', '.join(choices)}")
    return value


app = typer.Typer(
    cls=SuggestingGroup,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate cadre pipelines: planning pools, appointments and succession gaps.",
)
out = Console()
err = Console(stderr=True)


def print_error(message: str) -> None:
    """`error: message` on stderr; the message is printed literally (no Rich markup)."""
    err.print(Text.assemble(("error:", "bold red"), " ", str(message)), highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from pipeline_sim import __version__

        out.print(f"pipeline-sim {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar="", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Simulate cadre pipelines: planning pools, appointments and succession gaps."""


def check(**limits: tuple[object, int]) -> None:
    """The argument checks of the Python interface, naming the flags: "--reps must be at least 1"."""
    from pipeline_sim.api import ArgumentError, check_counts

    try:
        check_counts(**limits)
    except ArgumentError as exc:
        fail(f"--{exc}")


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    print_error(message)
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
        return load_scenario(path, overrides=overrides, overrides_label="--set")
    except ScenarioError as exc:
        fail(str(exc))


def override_tag(overrides: dict) -> str:
    """A short tag naming --set overrides in a results folder: {"planning.mode": "open"} ->
    "mode-open"."""
    parts = []
    for key, value in overrides.items():
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{key.rpartition('.')[2]}-{shown}")
    return "_".join(parts)


def tagged(name: str, overrides: dict) -> str:
    from pipeline_sim.folders import folder_name

    tag = override_tag(overrides)
    return folder_name(f"{name}--{tag}" if tag else name)


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a scenario key, e.g. --set planning.mode=open (repeatable).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(metavar="N", help="Local processes, or workers of --scheduler local (default: all cores)."),
]
ParametersFromOption = Annotated[
    Path | None,
    typer.Option(
        "--parameters-from",
        metavar="FOLDER",
        help="A calibration folder: each replication draws the calibrated keys from its good trials.",
    ),
]
DashboardOption = Annotated[
    bool,
    typer.Option(
        "--dashboard",
        help="With --scheduler local: open Dask's dashboard on 127.0.0.1:8787 (off by default).",
    ),
]


def check_dashboard(dashboard: bool, scheduler: str | None) -> None:
    if dashboard and scheduler != "local":
        fail("--dashboard needs --scheduler local (a remote scheduler serves its own dashboard)")


OverwriteFlag = typer.Option(
    "--overwrite", metavar="", help="Replace an existing results folder given by --out."
)
QuietFlag = typer.Option("--quiet", "-q", metavar="", help="No progress bar.")


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")],
    reps: Annotated[
        int | None, typer.Option(metavar="N", help="Replications (default: simulation.reps).")
    ] = None,
    seed: Annotated[int | None, typer.Option(metavar="SEED", help="Seed of the first replication.")] = None,
    years: Annotated[int | None, typer.Option(metavar="N", help="Years to simulate.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", metavar="FOLDER", help="Results folder (default results/<name>).")
    ] = None,
    overwrite: Annotated[bool, OverwriteFlag] = False,
    workers: Annotated[
        int | None,
        typer.Option(metavar="N", help="Processes running replications side by side (default 1)."),
    ] = None,
    sets: SetOption = None,
    quiet: Annotated[bool, QuietFlag] = False,
) -> None:
    """Run a scenario, print a summary and write the results folder."""
    from pipeline_sim.api import OutputError, claim_out_dir, default_out_dir
    from pipeline_sim.api import run as run_scenario
    from pipeline_sim.folders import release
    from pipeline_sim.scenario.schema import check_seeds

    check(reps=(reps, 1), seed=(seed, 0), years=(years, 1), workers=(workers, 1))
    overrides = parse_sets(sets)
    scen = load(scenario, overrides)
    n_reps = reps or scen.simulation.reps
    n_years = years or scen.simulation.years
    try:
        check_seeds(scen.simulation.seed if seed is None else seed, n_reps)
    except ValueError as exc:
        fail(f"--seed: {exc}")
    try:  # the folder is claimed now, so that runs started together never share one
        if out_dir is None:
            target = default_out_dir(scen, name=tagged(scen.name, overrides))
        else:
            target = claim_out_dir(out_dir, overwrite)
    except OutputError as exc:
        fail(str(exc))
    total = n_reps * (n_years + scen.simulation.burn_in_years)
    bar = LazyBar("years", quiet)

    def on_year(rep: int, year: int) -> None:
        bar.update(f"{scen.name} rep {rep + 1}/{n_reps} {year}", total=total, advance=1)

    try:
        result = run_scenario(scen, reps=n_reps, seed=seed, years=n_years, on_year=on_year, workers=workers)
    except KeyboardInterrupt:
        bar.stop(drop=True)
        release(target)
        err.print("interrupted: nothing was written")
        raise typer.Exit(130) from None
    except BaseException:
        bar.stop(drop=True)
        release(target)
        raise
    bar.stop()
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:  # results first: nothing after the simulation may lose them
        path = result.save(target, overwrite=overwrite, command=command)
    except OutputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{target}: cannot write results ({exc.strerror})")
    print_summary(result)
    out.print(f"results written to [bold]{escape(str(shown_path(path)))}[/]")


class LazyBar:
    """A progress bar shown from its first update only: an error before any progress leaves no
    trace of it."""

    def __init__(self, unit: str, quiet: bool):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
        )
        self.task = None

    def update(self, description: str, total: int, advance: int = 0, completed: int | None = None) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(description, total=total)
        kw = {"completed": completed} if completed is not None else {"advance": advance}
        self.progress.update(self.task, description=description, total=total, **kw)

    def stop(self, drop: bool = False) -> None:
        if self.task is None:
            return
        if drop:
            self.progress.remove_task(self.task)
            self.progress.live.transient = True
        self.progress.stop()
        self.task = None


def shown_path(path: Path) -> Path:
    """A path relative to the working folder when it lies inside it."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def print_summary(result) -> None:
    """Headline outcomes: one row per metric, one column per level (and all), with units."""
    from pipeline_sim.api import SUMMARY_METRICS
    from pipeline_sim.formatting import summary_rows, units_note

    summary = result.summary()
    years = sorted(result.metrics["year"].unique()) if len(result.metrics) else []
    span = f"{years[0]}-{years[-1]}" if years else "no years"
    n = len(result.seeds)
    table = Table(
        title=f"{result.scenario.name}: {span}, {n} replication{'s' if n != 1 else ''}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("outcome", no_wrap=True)
    for level in summary.index:
        table.add_column(str(level), justify="right", no_wrap=True)
    has_band = "gap_rate_p10" in summary.columns
    for label, _unit, cells in summary_rows(summary, SUMMARY_METRICS):
        table.add_row(label, *cells)
    out.print(table)
    m = result.scenario.metrics
    out.print(
        "Succession gaps: key-post vacancies with no ready planned successor, as a share of all "
        "key-post vacancies"
        + (" (10-90%: the range over replications)" if has_band else "")
        + f". Planning targets: women at least {m.target_women:.0%}, young at least "
        f"{m.target_young:.0%}. " + units_note(SUMMARY_METRICS, differences=False, short=True),
        style="dim",
        highlight=False,
    )


def claim_default(names: list[str], kind: str, overrides: dict | None = None) -> Path:
    """Claim the default folder of an experiment (results/compare-A-vs-B, results/sweep-A, ...),
    tagged with the --set overrides."""
    from pipeline_sim.compare import default_folder
    from pipeline_sim.experiment import ExperimentError

    try:
        return default_folder(names, Path("results"), kind, tag=override_tag(overrides or {}))
    except ExperimentError as exc:
        fail(str(exc))


def run_experiment(label: str, total: int, folder: Path, quiet: bool, start):
    """Run `start(on_done, notify)` with a progress bar over runs; messages from `notify` (e.g. a
    run file not trusted) are printed on stderr; clear messages on error or Ctrl-C. A folder
    claimed for the experiment and left empty is given up."""
    from pipeline_sim.experiment import ExperimentError
    from pipeline_sim.folders import release

    bar = LazyBar("runs", quiet)

    def on_done(done: int, all_runs: int) -> None:
        bar.update(label, total=all_runs, completed=done)

    def notify(message: str) -> None:
        err.print(Text(message), highlight=False, soft_wrap=True)

    try:
        result = start(on_done, notify)
    except ExperimentError as exc:
        bar.stop(drop=True)
        release(folder.resolve())
        fail(str(exc))
    except KeyboardInterrupt:
        bar.stop(drop=True)
        release(folder.resolve())
        err.print(
            Text(
                f"interrupted: finished runs are kept in {folder}/runs; "
                f"continue with the same command plus --resume --out {folder}"
            ),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except BaseException:
        bar.stop(drop=True)
        raise
    bar.stop()
    return result


@app.command()
def compare(
    scenarios: Annotated[
        list[Path],
        typer.Argument(metavar="SCENARIO", help="Two or more scenario files; the first is the reference."),
    ],
    reps: Annotated[int, typer.Option(metavar="N", help="Replications per scenario.")] = 20,
    seed: Annotated[int, typer.Option(metavar="SEED", help="Seed of the first replication.")] = 1,
    years: Annotated[int | None, typer.Option(metavar="N", help="Years to simulate.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", metavar="FOLDER", help="Folder (default results/compare-...).")
    ] = None,
    workers: WorkersOption = None,
    scheduler: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Dask scheduler address (tcp://host:port), or 'local'."),
    ] = None,
    dashboard: DashboardOption = False,
    resume: Annotated[
        bool, typer.Option("--resume", metavar="", help="Continue an interrupted comparison in --out.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", metavar="", help="Replace an existing comparison in --out.")
    ] = False,
    parameters_from: ParametersFromOption = None,
    sets: SetOption = None,
    quiet: Annotated[bool, QuietFlag] = False,
) -> None:
    """Run scenarios with the same seeds and report paired differences (HTML report + data)."""
    from pipeline_sim.compare import check_comparison, load_all
    from pipeline_sim.compare import compare as run_compare
    from pipeline_sim.experiment import ExperimentError

    check(reps=(reps, 1), seed=(seed, 0), years=(years, 1), workers=(workers, 1))
    if len(scenarios) < 2:
        fail(
            "compare needs at least two scenario files: the reference and one to compare with it "
            "(to run one scenario, use `pipeline-sim run`)"
        )
    check_dashboard(dashboard, scheduler)
    overrides = parse_sets(sets)
    try:
        scens = load_all(scenarios, overrides, overrides_label="--set")
    except ScenarioError as exc:
        fail(str(exc))
    try:
        notes = check_comparison(scens, reps, years)
    except ExperimentError as exc:
        fail(str(exc))
    if parameters_from is not None:
        notes += parameter_warnings(parameters_from, [s.model_dump(mode="json") for s in scens])
    for note in notes:
        warn(
            note.replace("the same number of years", "the same number of years (--years N)").replace(
                "at least 2 replications", "--reps 2 or more"
            )
        )
    names = [s.name for s in scens]
    if out_dir is None:
        if resume:
            fail("--resume needs --out FOLDER: the folder of the interrupted comparison")
        folder = claim_default(names, "compare", overrides)
    else:
        folder = out_dir
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def start(on_done, notify):
        with warnings.catch_warnings():  # already printed above
            warnings.simplefilter("ignore", UserWarning)
            return run_compare(
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
                cli=True,
                notify=notify,
                dashboard=dashboard,
                parameters_from=parameters_from,
            )

    result = run_experiment("compare", len(scens) * reps, folder, quiet, start)
    print_comparison(result, reps)
    out.print(
        f"report: [bold]{escape(str(folder / 'report.html'))}[/]; "
        f"table: {escape(str(folder / 'summary.csv'))}",
        highlight=False,
    )


def parameter_warnings(folder: Path, scenarios: list[dict]) -> list[str]:
    """Check a calibration folder for --parameters-from (fail if it is not one); the scenarios
    that keep their own values of calibrated keys."""
    from pipeline_sim.calibrate import Draws, kept_keys
    from pipeline_sim.experiment import ExperimentError

    try:
        draws = Draws.load(folder)
    except ExperimentError as exc:
        fail(str(exc))
    return kept_keys(draws, scenarios)[1]


def _head(name: str, width: int = 9) -> str:
    return name if len(name) <= width else name[: width - 1] + "\u2026"


def comparison_table(title: str, ref: str, name: str, rows: list[dict], first: str = "outcome") -> Table:
    """The terminal table of a comparison (fits 80 columns for the headline outcomes)."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, 1),
    )
    table.add_column(first, no_wrap=True)
    table.add_column(escape(_head(ref)), justify="right", no_wrap=True)
    table.add_column(escape(_head(name)), justify="right", no_wrap=True)
    table.add_column("difference [95% CI]", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=False)
    for r in rows:
        cells = (r["first"], r["reference"], r["scenario"], r["difference"], r["verdict"])
        table.add_row(*(escape(c) for c in cells))  # "[...]" is text, not markup
    return table


def print_comparison(result, reps: int) -> None:
    """Per scenario: the headline outcomes against the reference, then the effects by level
    where they differ in sign or are large."""
    from pipeline_sim.formatting import comparison_rows, level_effects, level_sentence, units_note

    names = result.names
    ref = names[0]
    for name in names[1:]:
        rows = [{**r, "first": r["short"]} for r in comparison_rows(result.differences, name)]
        if not rows:
            continue
        title = f"{name} vs {ref}, all years, {reps} replication{'s' if reps != 1 else ''} paired by seed"
        out.print(comparison_table(escape(title), ref, name, rows))
        out.print()
        effects = level_effects(result.by_level, name, result.levels)
        if effects:
            level_rows = []
            for e in effects:
                level_rows.append(
                    {
                        "first": e["rows"][0]["short"],
                        "reference": "",
                        "scenario": "",
                        "difference": "",
                        "verdict": "",
                    }
                )
                level_rows += [{**r, "first": f"  {r['level']}"} for r in e["rows"]]
            out.print(
                comparison_table("effects by level (opposite or large)", ref, name, level_rows, "level")
            )
            out.print()
            for e in effects:
                out.print(escape(level_sentence(e)), highlight=False)
        out.print(units_note((r["metric"] for r in rows), short=True), style="dim", highlight=False)


DESIGNS = ["factorial", "lhs", "sobol", "morris"]
OUTCOMES = [
    "succession_gap_rate",
    "vacant_posts",
    "bench_strength",
    "quality_in_office",
    "integrity_problem_share",
    "women_in_office",
    "young_in_office",
    "women_in_planning",
    "young_in_planning",
    "rotations",
]


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Base scenario file.")],
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary", metavar="KEY=LOW:HIGH|KEY=A,B", help="A varied key: a range or values (repeatable)."
        ),
    ],
    design: Annotated[
        str,
        typer.Option(
            metavar="DESIGN",
            help="One of: factorial (every combination), lhs (Latin hypercube; PAWN indices), "
            "sobol (Sobol indices) or morris (Morris screening).",
        ),
    ] = "lhs",
    samples: Annotated[
        int,
        typer.Option(metavar="N", help="Base samples (lhs: points; sobol: N; morris: trajectories)."),
    ] = 64,
    levels: Annotated[
        int, typer.Option(metavar="N", help="Values per numeric factor in a factorial design.")
    ] = 3,
    reps: Annotated[int, typer.Option(metavar="N", help="Replications per parameter set.")] = 5,
    seed: Annotated[int, typer.Option(metavar="SEED", help="Seed of the first replication.")] = 1,
    years: Annotated[int | None, typer.Option(metavar="N", help="Years to simulate.")] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option(
            "--outcome",
            metavar="OUTCOME",
            help="Outcome to analyse (repeatable): " + ", ".join(OUTCOMES) + ".",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", metavar="FOLDER", help="Folder (default results/sweep-<name>).")
    ] = None,
    workers: WorkersOption = None,
    scheduler: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="Dask scheduler address, or 'local'.")
    ] = None,
    dashboard: DashboardOption = False,
    resume: Annotated[
        bool, typer.Option("--resume", metavar="", help="Continue an interrupted sweep in --out.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", metavar="", help="Replace an existing sweep in --out.")
    ] = False,
    parameters_from: ParametersFromOption = None,
    sets: SetOption = None,
    quiet: Annotated[bool, QuietFlag] = False,
) -> None:
    """Sweep scenario keys over a design; write the experiment table, sensitivity indices and a report."""
    from pipeline_sim.experiment import ExperimentError
    from pipeline_sim.sweep import design_points, parse_vary, run_sweep, sweep_warnings

    check(
        samples=(samples, 1),
        levels=(levels, 2),
        reps=(reps, 1),
        seed=(seed, 0),
        years=(years, 1),
        workers=(workers, 1),
    )
    choose("--design", design, DESIGNS)
    for o in outcome or []:
        choose("--outcome", o, OUTCOMES)
    check_dashboard(dashboard, scheduler)
    overrides = parse_sets(sets)
    base = load(scenario, overrides)
    try:
        factors = parse_vary(vary, scenario, overrides)
        with warnings.catch_warnings():  # SALib's own warnings: ours below say what they mean
            warnings.simplefilter("ignore")
            n_points = len(design_points(factors, design, samples, levels, seed)[0])
    except ExperimentError as exc:
        fail(str(exc))
    for note in sweep_warnings(design, samples, factors):
        warn(note.replace("(samples ", "(--samples "))
    if parameters_from is not None:
        from pipeline_sim.calibrate import Draws

        try:
            calibrated = Draws.load(parameters_from).keys
        except ExperimentError as exc:
            fail(str(exc))
        for f in factors:
            if f.key in calibrated:
                warn(f"{f.key}: varied by the sweep and calibrated: the design's values are used")
    if out_dir is None:
        if resume:
            fail("--resume needs --out FOLDER: the folder of the interrupted sweep")
        folder = claim_default([base.name], "sweep", overrides)
    else:
        folder = out_dir
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def start(on_done, notify):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_sweep(
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
                cli=True,
                notify=notify,
                dashboard=dashboard,
                parameters_from=parameters_from,
            )

    result = run_experiment(f"sweep ({n_points} sets x {reps})", n_points * reps, folder, quiet, start)
    if len(result.indices):
        print_indices(result.indices)
    out.print(
        f"report: [bold]{escape(str(folder / 'report.html'))}[/]; "
        f"table: {escape(str(folder / 'experiments.parquet'))}",
        highlight=False,
    )


SAMPLERS = ["tpe", "cmaes"]


@app.command()
def calibrate(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario file to calibrate.")],
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            metavar="KEY=LOW:HIGH[:log]",
            help="A scenario key to calibrate and its range (repeatable); ':log' for a log scale.",
        ),
    ],
    targets: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Targets file (default: the shipped Vietnam targets)."),
    ] = None,
    trials: Annotated[int, typer.Option(metavar="N", help="Trials (parameter sets) in all.")] = 50,
    reps: Annotated[int, typer.Option(metavar="N", help="Replications per trial (the same seeds).")] = 4,
    batch: Annotated[
        int, typer.Option(metavar="N", help="Trials proposed together and run side by side.")
    ] = 4,
    sampler: Annotated[str, typer.Option(metavar="NAME", help="Optuna sampler: tpe or cmaes.")] = "tpe",
    seed: Annotated[int, typer.Option(metavar="SEED", help="Seed of the sampler and first replication.")] = 1,
    years: Annotated[
        int | None, typer.Option(metavar="N", help="Years to simulate (default: up to the last target).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="FOLDER", help="Folder (default results/calibrate-<name>)."),
    ] = None,
    workers: WorkersOption = None,
    scheduler: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="Dask scheduler address, or 'local'.")
    ] = None,
    dashboard: DashboardOption = False,
    resume: Annotated[
        bool, typer.Option("--resume", metavar="", help="Continue an interrupted calibration in --out.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", metavar="", help="Replace an existing calibration in --out.")
    ] = False,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a key in the calibration runs only, e.g. a start year or a smaller "
            "structure (repeatable); calibrated.toml keeps the scenario's own values.",
        ),
    ] = None,
    quiet: Annotated[bool, QuietFlag] = False,
) -> None:
    """Fit scenario keys to real figures (Optuna); write calibrated.toml, the fit and a report."""
    from pipeline_sim.calibrate import plan, run_calibration, structure_note
    from pipeline_sim.experiment import ExperimentError
    from pipeline_sim.folders import release
    from pipeline_sim.targets import TargetError, shipped

    check(
        trials=(trials, 1),
        reps=(reps, 1),
        batch=(batch, 1),
        seed=(seed, 0),
        years=(years, 1),
        workers=(workers, 1),
    )
    choose("--sampler", sampler, SAMPLERS)
    check_dashboard(dashboard, scheduler)
    overrides = parse_sets(sets)
    targets_path = targets if targets is not None else shipped("vietnam")
    try:
        checked = plan(scenario, targets_path, vary, overrides, years)
    except (ScenarioError, TargetError, ExperimentError) as exc:
        fail(str(exc))
    base, run_scen = checked[0], checked[1]
    note = structure_note(base, run_scen)
    if note:
        warn(note)
    if out_dir is None:
        if resume:
            fail("--resume needs --out FOLDER: the folder of the interrupted calibration")
        folder = claim_default([base.name], "calibrate", overrides)
    else:
        folder = out_dir
    command = "pipeline-sim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TextColumn("{task.fields[best]}"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    )
    task = None

    def on_progress(done: int, total: int, best: float | None) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(f"calibrate {base.name}", total=total, best="")
        shown = "best loss -" if best is None else f"best loss {best:.4g}"
        bar.update(task, completed=done, total=total, best=shown)

    def notify(message: str) -> None:
        err.print(Text(message), highlight=False, soft_wrap=True)

    def stop() -> None:
        if task is not None:
            bar.stop()

    try:
        result = run_calibration(
            scenario,
            targets_path,
            vary,
            folder,
            trials=trials,
            reps=reps,
            seed=seed,
            years=checked[4],
            sampler=sampler,
            batch=batch,
            overrides=overrides,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            overwrite=overwrite,
            on_progress=on_progress,
            command=command,
            notify=notify,
            dashboard=dashboard,
            cli=True,
            checked=checked,
        )
    except ExperimentError as exc:
        stop()
        release(folder.resolve())
        fail(str(exc))
    except KeyboardInterrupt:
        stop()
        release(folder.resolve())
        err.print(
            Text(
                f"interrupted: finished trials and runs are kept in {folder}; continue with the "
                f"same command plus --resume --out {folder}"
            ),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except BaseException:
        stop()
        raise
    stop()
    print_fit(result)
    out.print(
        f"report: [bold]{escape(str(folder / 'report.html'))}[/]; calibrated scenario: "
        f"{escape(str(folder / 'calibrated.toml'))}",
        highlight=False,
    )


def print_fit(result) -> None:
    """The best values and the fit per target, calibrate and validate rows apart."""
    table = Table(
        title="calibrated values (good trials: min - max)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for col in ("key", "best", "good trials"):
        table.add_column(col, justify="left" if col == "key" else "right")
    for key, value in result.best["values"].items():
        g = result.good[key].astype(float)
        table.add_row(escape(key), f"{value:.4g}", f"{g.min():.4g} - {g.max():.4g}")
    out.print(table)
    fit = result.fit
    for role in ("calibrate", "validate"):
        rows = fit[(fit["role"] == role) & (fit["status"] == "ok")]
        if not len(rows):
            continue
        t = Table(title=f"{role} targets", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        for col in ("target", "real", "simulated", "z", "within"):
            t.add_column(col, justify="left" if col == "target" else "right", no_wrap=col == "target")
        for _, r in rows.iterrows():
            sim = "-" if pd_isna(r["simulated"]) else f"{r['simulated']:.4g}"
            z = "-" if pd_isna(r["z"]) else f"{r['z']:+.2f}"
            within = "-" if pd_isna(r["within"]) else ("yes" if r["within"] else "no")
            t.add_row(escape(str(r["id"])), f"{r['real']:.4g}", sim, z, within)
        out.print(t)
    off = fit[fit["status"] != "ok"]
    for _, r in off.iterrows():
        out.print(
            f"not computable: {escape(str(r['id']))}: {escape(str(r['note']))}", style="dim", highlight=False
        )


def pd_isna(x) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def print_indices(indices) -> None:
    from pipeline_sim.formatting import INDEX_HEADS as heads
    from pipeline_sim.formatting import SHORT, headline_order

    cols = [c for c in indices.columns if c not in ("outcome", "parameter")]
    table = Table(title="sensitivity indices", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("outcome", no_wrap=True)
    table.add_column("parameter", overflow="fold")
    for c in cols:
        table.add_column(heads.get(c, c), justify="right", no_wrap=True)
    order = {m: i for i, m in enumerate(headline_order(indices["outcome"]))}
    for _, r in indices.sort_values("outcome", key=lambda o: o.map(order), kind="stable").iterrows():
        table.add_row(SHORT.get(r["outcome"], r["outcome"]), r["parameter"], *[f"{r[c]:.2f}" for c in cols])
    out.print(table)


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(metavar="SCENARIO", help="Scenario TOML files.")],
) -> None:
    """Check scenario files; report every problem with its file and key."""
    bad = 0
    for path in scenarios:
        try:
            load_scenario(path)
            out.print(Text.assemble(("ok", "green"), " ", str(path)), highlight=False, soft_wrap=True)
        except ScenarioError as exc:
            print_error(str(exc))
            bad += 1
    if bad:
        raise typer.Exit(2)


@app.command()
def show(
    scenario: Annotated[
        Path | None, typer.Argument(metavar="SCENARIO", help="Scenario TOML file to resolve.")
    ] = None,
    phases: Annotated[
        bool, typer.Option("--phases", metavar="", help="List the phases of a year, in order.")
    ] = False,
    schema: Annotated[
        bool, typer.Option("--schema", metavar="", help="List every scenario key with default and source.")
    ] = False,
    metrics: Annotated[
        bool, typer.Option("--metrics", metavar="", help="List every metric with its meaning.")
    ] = False,
    sets: SetOption = None,
) -> None:
    """Print a resolved scenario, the phases of a year, the scenario keys or the metrics.

    With a file and --phases: the phases of that scenario, each on or off."""
    scen = load(scenario, parse_sets(sets)) if scenario is not None else None
    if phases:
        from pipeline_sim.processes import DEFAULT_PLAN

        title = "phases of a year" + (f" in {scen.name}" if scen is not None else "")
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("phase")
        if scen is not None:
            table.add_column("in this scenario")
        table.add_column("what it does")
        for i, ph in enumerate(DEFAULT_PLAN, start=1):
            if scen is None:
                table.add_row(str(i), ph.NAME, ph.SUMMARY)
            else:
                section = getattr(scen, ph.NAME, None)
                on = getattr(section, "enabled", True) is not False
                table.add_row(str(i), ph.NAME, "on" if on else f"off ({ph.NAME}.enabled = false)", ph.SUMMARY)
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
        from pipeline_sim.metrics import RANK_METRICS

        table = Table(title="metrics by rank (ranks.parquet)", title_justify="left")
        table.add_column("metric")
        table.add_column("meaning")
        for name, meaning in RANK_METRICS.items():
            table.add_row(name, meaning)
        out.print(table)
    if scen is not None and not (phases or schema or metrics):
        print(dumps_toml(scenario_to_dict(scen)), end="")
    elif scen is None and not (phases or schema or metrics):
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
        fail(f"the dashboard needs {', '.join(missing)}: install it with  {DASHBOARD_INSTALL}")
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
            f"{solara_settings.assets.proxy_cache_dir}: install them with  {DASHBOARD_INSTALL}"
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

"""What a user sees: formatted numbers, the comparison table, the report's legends, errors and
warnings before any run, and the checks of the Python interface."""

from __future__ import annotations

import json
import re
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from cli_helper import cli

from pipeline_sim import ArgumentError, ScenarioError, load_scenario, run
from pipeline_sim import formatting as fmt
from pipeline_sim.compare import check_comparison
from pipeline_sim.compare import compare as run_compare
from pipeline_sim.experiment import ExperimentError, prepare_folder
from pipeline_sim.sweep import Factor, design_points, sensitivity, sweep_warnings

TEACH = {"name": "teach", "simulation": {"years": 3}, "hierarchy": {"preset": "teaching"}}


def cli80(cwd, *args, timeout=600) -> subprocess.CompletedProcess:
    """The command line in an 80-column terminal, without colours."""
    return cli(cwd, *args, timeout=timeout, columns=80)


# ----------------------------------------------------------------------------------------------
# numbers


def test_a_difference_of_shares_is_in_percentage_points():
    assert fmt.fmt_diff("succession_gap_rate", -0.1018, -0.1058, -0.09778) == "-10.2 pp [-10.6, -9.8]"
    assert fmt.fmt_value("succession_gap_rate", 0.1257) == "12.6%"


def test_an_interval_keeps_the_sign_and_the_decimals_of_its_value():
    text = fmt.fmt_diff("women_in_office", 0.0005, -0.0003, 0.0013)
    assert text == "+0.05 pp [-0.03, +0.13]"
    tiny = fmt.fmt_diff("bench_strength", -1.814e-05, -3.0e-05, -0.6e-05)
    assert "e-0" not in tiny and tiny.endswith("pp [-0.003, -0.001]") and tiny.startswith("-0.002")
    # not a share: no pp, same decimals in value and interval
    assert fmt.fmt_diff("quality_in_office", 0.1, 0.05, 0.15) == "+0.10 [+0.05, +0.15]"


def test_relative_changes_are_labelled_and_verdicts_are_plain_words():
    assert fmt.fmt_relative(-0.093) == "-9.3% relative"
    assert fmt.verdict("succession_gap_rate", -0.1, -0.12, -0.08) == "lower (better)"
    assert fmt.verdict("bench_strength", -0.1, -0.12, -0.08) == "lower (worse)"
    assert fmt.verdict("women_in_office", 0.01, -0.01, 0.03) == "no clear change"


def test_opposite_effects_by_level_are_found():
    rows = []
    for level, d in (("provincial", 0.03), ("district", 0.0), ("commune", -0.11), ("all", -0.09)):
        rows.append(
            {
                "scenario": "b",
                "outcome": "succession_gap_rate",
                "level": level,
                "mean": 0.2 + d,
                "base_mean": 0.2,
                "mean_diff": d,
                "ci_low": d - 0.01,
                "ci_high": d + 0.01,
                "n_pairs": 10,
            }
        )
    effects = fmt.level_effects(pd.DataFrame(rows), "b", ["provincial", "district", "commune", "all"])
    assert [e["reason"] for e in effects] == ["opposite"]
    line = fmt.level_sentence(effects[0])
    assert "provincial +3.0 pp" in line and "commune -11.0 pp" in line and "opposite" in line


# ----------------------------------------------------------------------------------------------
# the comparison a user reads


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cmp")
    (cwd / "teach.toml").write_text(
        'name = "teach"\ndescription = "Teaching province."\n[simulation]\nyears = 3\n'
        '[hierarchy]\npreset = "teaching"\n',
        encoding="utf-8",
    )
    (cwd / "open.toml").write_text(
        'extends = "teach.toml"\n[planning]\nmode = "open"\n[fast_track]\nenabled = true\n',
        encoding="utf-8",
    )
    proc = cli80(cwd, "compare", "teach.toml", "open.toml", "--reps", "4", "--workers", "1", "-q")
    return cwd, proc


def test_the_comparison_table_fits_80_columns_in_headline_order(comparison):
    _, proc = comparison
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if re.search(r"\[[-+0-9., ]+\]", line)]
    assert rows[0].startswith("Succession gaps") and rows[1].startswith("Bench strength")
    gaps = rows[0]
    assert re.search(r"\d+\.\d%\s+\d+\.\d%\s+[-+]?\d+\.\d+ pp \[[-+]?\d+\.\d+, [-+]?\d+\.\d+\]", gaps), gaps
    assert any(v in gaps for v in ("lower", "higher", "no clear change")), "verdict on the same line"
    assert "succession_gap_rate" not in proc.stdout and "e-0" not in proc.stdout


def test_the_report_opens_with_the_table_and_every_band_and_error_bar_is_in_a_legend(comparison):
    cwd, proc = comparison
    assert proc.returncode == 0, proc.stderr
    folder = cwd / "results" / "compare-teach-vs-open"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.index("Results over all years") < page.index("The scenarios") < page.index("Year by year")
    assert " pp [" in page and "% relative" in page
    assert "No description of its own; extends teach." in page
    figures = _plotly_figures(page)
    assert figures
    bands = errors = 0
    for data, layout in figures:
        for trace in data:
            if trace.get("fill") == "toself":
                bands += 1
                assert trace.get("showlegend") is not False and "10-90%" in trace["name"], trace["name"]
            if trace.get("error_y"):
                errors += 1
                groups = [t for t in data if t.get("legendgroup") == trace.get("legendgroup")]
                named = [t for t in groups if t.get("showlegend") is not False and t.get("error_y")]
                assert named and "95% interval" in named[0]["name"]
        for key, axis in layout.items():
            if re.fullmatch(r"[xy]axis\d*", key) and "anchor" in axis:
                assert axis.get("title", {}).get("text"), f"{key} has no title"
    assert bands and errors
    summary = pd.read_csv(folder / "summary.csv")
    first = summary.iloc[0]
    assert first["outcome"] == "Succession gap rate" and " pp [" in first["difference [95% interval]"]


def _plotly_figures(page: str) -> list[tuple[list, dict]]:
    decoder = json.JSONDecoder()
    out = []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, end = decoder.raw_decode(page, m.end())
        rest = page[end:].lstrip()[1:].lstrip()
        layout, _ = decoder.raw_decode(rest)
        out.append((data, layout))
    return out


# ----------------------------------------------------------------------------------------------
# errors and warnings before any run


def test_compare_with_one_scenario_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli80(tmp_path, "compare", "a.toml", "-q")
    assert proc.returncode == 2 and "at least two scenario" in proc.stderr
    assert not (tmp_path / "results").exists()
    with pytest.raises(ExperimentError, match="at least two scenarios"):
        run_compare([load_scenario(TEACH)], 2, 1, None, tmp_path / "x")


def test_one_replication_other_structures_and_lengths_are_warned_about():
    a = load_scenario(TEACH)
    b = load_scenario({**TEACH, "name": "b", "simulation": {"years": 5}, "hierarchy": {"preset": "historic"}})
    notes = check_comparison([a, b], 1, None)
    text = " ".join(notes)
    assert "no interval" in text and "cannot be told from chance" in text
    assert "another structure" in text and "hierarchy keys differ" in text
    assert "runs 5 years and teach 3" in text
    assert check_comparison([a, b], 3, 4)[-1:] and not any(
        "years and" in n for n in check_comparison([a, b], 3, 4)
    )


def test_the_cli_warns_before_running_one_replication(tmp_path):
    (tmp_path / "a.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n[planning]\nmode = "open"\n', encoding="utf-8")
    proc = cli80(
        tmp_path, "compare", "a.toml", "b.toml", "--reps", "1", "--years", "1", "--workers", "1", "-q"
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "--reps 2 or more" in proc.stderr
    assert "nan" not in proc.stdout and " pp [no interval]" in proc.stdout


def test_sobol_with_too_few_samples_and_a_two_valued_factor_gets_warnings():
    notes = sweep_warnings("sobol", 4, [Factor("planning.mode", categories=["open", "closed"])])
    assert any("1024" in n for n in notes) and any("two values" in n for n in notes)


def test_lhs_sweeps_get_pawn_indices_or_say_why_not():
    factors = [Factor("a", 0.0, 1.0), Factor("b", 0.0, 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _rows, problem, x = design_points(factors, "lhs", 40, 3, 1)
    y = 3 * x[:, 0] + 0.01 * np.random.default_rng(0).standard_normal(len(x))
    table = pd.DataFrame({"point": range(len(x)), "succession_gap_rate": y})
    idx = sensitivity("lhs", problem, x, table, ["succession_gap_rate"])
    by = idx.set_index("parameter")["pawn_median"]
    assert by["a"] > by["b"]
    assert sensitivity("lhs", problem, x[:8], table.iloc[:8], ["succession_gap_rate"]).empty
    assert any("too few for PAWN" in n for n in sweep_warnings("lhs", 8, factors))


def test_a_refused_resume_lists_what_differs(tmp_path):
    folder = tmp_path / "exp"
    prepare_folder(folder, {"reps": 20, "seed": 1}, "comparison.json", False, False)
    with pytest.raises(ExperimentError, match=r"reps: 20 then, 5 now"):
        prepare_folder(folder, {"reps": 5, "seed": 1}, "comparison.json", True, False)


# ----------------------------------------------------------------------------------------------
# the Python interface


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reps": 0}, "reps must be at least 1 (got 0)"),
        ({"years": -1}, "years must be at least 1 (got -1)"),
        ({"seed": -3}, "seed must be at least 0 (got -3)"),
        ({"reps": 2.5}, "reps must be a whole number"),
        ({"workers": 0}, "workers must be at least 1"),
    ],
)
def test_run_checks_its_arguments_before_running(kwargs, message):
    with pytest.raises(ArgumentError, match=re.escape(message)):
        run(TEACH, **kwargs)


def test_python_errors_name_no_flags():
    with pytest.raises(ScenarioError) as exc:
        run(TEACH, overrides={"planning.mdoe": "open"})
    assert str(exc.value).startswith("overrides: planning.mdoe") and "--set" not in str(exc.value)
    assert "did you mean planning.mode" in str(exc.value)


# ----------------------------------------------------------------------------------------------
# the command line


def test_version_help_and_did_you_mean(tmp_path):
    from pipeline_sim import __version__

    assert cli80(tmp_path, "--version").stdout.strip() == f"pipeline-sim {__version__}"
    typo = cli80(tmp_path, "comapre", "a", "b")
    assert typo.returncode == 2 and "Did you mean 'compare'" in typo.stderr
    design = cli80(tmp_path, "sweep", "x.toml", "--vary", "a=1:2", "--design", "lsh")
    assert "did you mean 'lhs'" in design.stderr and "factorial, lhs, sobol, morris" in design.stderr
    helptext = cli80(tmp_path, "sweep", "--help").stdout
    assert "--no-overwrite" not in helptext and "<bool>" not in helptext and "KEY=VALUE" in helptext
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", helptext).split())
    assert all(d in flat for d in ("factorial (every", "lhs (Latin", "sobol (Sobol", "morris (Morris"))


def test_run_names_the_folder_after_its_overrides_and_counts_replications(tmp_path):
    (tmp_path / "teach.toml").write_text(
        'name = "teach"\n[simulation]\nyears = 1\n[hierarchy]\npreset = "teaching"\n', encoding="utf-8"
    )
    proc = cli80(tmp_path, "run", "teach.toml", "--set", "planning.mode=open", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results" / "teach--mode-open" / "manifest.json").exists()
    assert "1 replication" in proc.stdout and "replication(s)" not in proc.stdout
    assert "Vacant posts" in proc.stdout and "posts vacant at year end" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80


def test_no_progress_bar_after_an_error(tmp_path):
    (tmp_path / "a.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    proc = cli80(tmp_path, "compare", "a.toml", "a.toml", "--reps", "2", "--out", "file")
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: file:") and proc.stderr.count("\n") == 1, repr(proc.stderr)


def test_python_experiment_errors_name_no_flags(tmp_path):
    scens = [load_scenario(TEACH), load_scenario({**TEACH, "name": "b"})]
    with pytest.raises(ExperimentError) as exc:
        run_compare(scens, 2, 1, 1, tmp_path / "none", resume=True)
    assert "--" not in str(exc.value) and "resume=False" in str(exc.value)
    with pytest.raises(ArgumentError, match="reps must be at least 1"):
        run_compare(scens, 0, 1, 1, tmp_path / "x")

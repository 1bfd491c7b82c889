"""Calibration: the statistics, the targets file, the loss, the study (seeds, determinism, resume
after a kill), the outputs and report, and parameters drawn from a calibration in comparisons.

Every calibration here runs the teaching province for a few years (about 0.1 s a run)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helper import cli

from pipeline_sim import PipelineModel, load_scenario, run
from pipeline_sim.calibrate import (
    Draws,
    apply_draws,
    kept_keys,
    loss,
    nll,
    parse_parameters,
    run_calibration,
)
from pipeline_sim.experiment import ExperimentError
from pipeline_sim.statistics import STATISTICS, Outputs, aggregate
from pipeline_sim.targets import Target, TargetError, check_against, load_targets, shipped

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "scenarios" / "teaching.toml"
YEARS = 6  # 2021-2026: the congress of 2025 and a year of the new term

TARGETS = """
[[target]]
id = "standing_age"
statistic = "mean_age_at_election"
body = "provincial_standing"
year = 2026
model_year = 2025
value = 50.0
sd = 1.0
role = "calibrate"
source = "made up for the tests"

[[target]]
id = "women_heads"
statistic = "women_share_at_election"
posts = "*.*.head"
year = 2026
model_year = 2025
value = 0.2
n = 55
role = "calibrate"
source = "made up for the tests"

[[target]]
id = "disciplined"
statistic = "disciplined_share"
period = [2021, 2026]
value = 0.004
sd = 0.001
role = "calibrate"
source = "made up for the tests"

[[target]]
id = "rotations_later"
statistic = "rotations"
period = [2021, 2026]
value = 30.0
sd = 10.0
role = "validate"
source = "made up for the tests"

[[target]]
id = "members"
statistic = "party_members_disciplined"
year = 2022
value = 17000.0
sd = 2000.0
role = "calibrate"
source = "made up for the tests"
"""

VARY = ["integrity.p_violation=0.001:0.016:log", "appointment.female_score_gap=0:20"]
VARY_ARGS = [arg for v in VARY for arg in ("--vary", v)]


@pytest.fixture
def targets_file(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(TARGETS, encoding="utf-8")
    return path


def calibrate(folder, targets_file, trials=6, reps=2, seed=1, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("years", YEARS)
    return run_calibration(
        TEACHING, targets_file, kw.pop("vary", VARY), folder, trials=trials, reps=reps, seed=seed, **kw
    )


# --- statistics ---------------------------------------------------------------------------------


def test_statistics_from_a_model_and_from_its_results_folder_agree(tmp_path):
    scen = load_scenario(TEACHING, overrides={"simulation.years": YEARS})
    model = PipelineModel(scen, seed=3)
    model.run()
    from_model = Outputs.from_model(model)
    folder = run(scen, reps=1, seed=3).save(tmp_path / "res")
    (from_folder,) = Outputs.from_folder(folder)
    cases = [
        ("mean_age_at_election", {"body": "provincial_standing"}),
        ("women_share", {"posts": "provincial.party.head"}),
        ("reelected_share", {"posts": "*.*.head"}),
        ("nonlocal_share_at_election", {"posts": "district.*.head"}),
        ("disciplined_share", {}),
        ("rotations", {"level": "commune"}),
        ("post_rotations", {"posts": "district.party.head"}),
        ("lost_over_term_share", {"body": "provincial_standing"}),
    ]
    for name, group in cases:
        a = STATISTICS[name].series(from_model, group)
        b = STATISTICS[name].series(from_folder, group)
        assert len(a), name
        pd.testing.assert_series_equal(a, b, check_names=False, obj=name)
    assert list(
        STATISTICS["mean_age_at_election"].series(from_model, {"body": "provincial_standing"}).index
    ) == [2025]  # a congress statistic exists at congress years only


def test_statistics_mean_what_they_say():
    model = PipelineModel(TEACHING, seed=2, years=YEARS)
    model.run()
    out = Outputs.from_model(model)
    after = out.holders[(out.holders["moment"] == "after_congress") & (out.holders["level"] == "district")]
    heads = after[(after["sector"] == "party") & (after["rank"] == "head")]
    group = {"posts": "district.party.head"}
    assert STATISTICS["mean_age_at_election"].series(out, group)[2025] == pytest.approx(
        heads["age"].mean() + 0.5
    )
    share = STATISTICS["under_age_share_at_election"].series(out, {**group, "age": 50.0})[2025]
    assert share == pytest.approx(((heads["age"] + 0.5) < 50).mean())
    before = out.holders[(out.holders["moment"] == "before_congress")]
    before = before[
        (before["level"] == "district") & (before["sector"] == "party") & (before["rank"] == "head")
    ]
    first = STATISTICS["first_time_share"].series(out, group)[2025]
    assert first == pytest.approx((~heads["cadre"].isin(before["cadre"])).mean())
    m = out.metrics
    tot = m[(m["level"] == "all") & (m["sector"] == "all")].pivot_table(
        index="year", columns="metric", values="value"
    )
    disc = tot[[f"disciplined_{f}" for f in ("reprimand", "warning", "removal_from_post", "expulsion")]].sum(
        axis=1
    )
    np.testing.assert_allclose(STATISTICS["disciplined_share"].series(out, {}), disc / tot["cadres"])
    # counts of a level are scaled by its factor (a reduced structure standing for a fuller one)
    out.level_factor = {"commune": 10.0}
    base = STATISTICS["rotations"].series(Outputs.from_model(model), {"level": "commune"})
    np.testing.assert_allclose(STATISTICS["rotations"].series(out, {"level": "commune"}), 10 * base)
    assert aggregate(STATISTICS["rotations"], base, [2021, 2022]) == base[2021] + base[2022]


# --- targets file -------------------------------------------------------------------------------


def test_the_shipped_vietnam_targets_load_and_cite_their_sources():
    ts = load_targets(shipped("vietnam"))
    assert len(ts) >= 20
    for t in ts:
        assert "rules.md §" in t.source, t.id
    ids = {t.id for t in ts}
    for needed in (
        "cc_mean_age_12th",
        "cc_mean_age_13th",
        "cc_mean_age_14th",
        "cc_women_13th",
        "cc_women_14th",
        "cc_reelected_14th",
        "cc_lost_13th_term",
        "cc_over_60_end_13th",
        "ps_mean_age_2020",
        "ps_under_50_2020",
        "ps_women_2020",
        "ps_first_time_2020",
        "ps_mean_age_2025",
        "ps_women_2025",
        "members_disciplined_12th_term",
        "centrally_managed_disciplined",
        "rotations_2011_16",
        "ps_rotations_2016_21",
        "ps_nonlocal_2020",
    ):
        assert needed in ids
    # the 2025-26 figures test the fit and never feed it
    for t in ts:
        if max(t.years) >= 2025 and t.statistic != "party_members_disciplined":
            assert t.role == "validate", t.id
    assert not next(t for t in ts if t.id == "members_disciplined_12th_term").computable
    # the model years of the congress figures are the model's congresses of a run from 2011
    scen = load_scenario(ROOT / "scenarios" / "baseline.toml", overrides={"simulation.start_year": 2011})
    check_against(ts, scen, 2011, 2025)
    with pytest.raises(TargetError, match="outside the run"):
        check_against(ts, load_scenario(ROOT / "scenarios" / "baseline.toml"), 2021, 2025)


BAD_TARGETS = [
    (
        'statistic = "mean_age_at_elektion"',
        "statistic: unknown statistic; did you mean 'mean_age_at_election'",
    ),
    ('role = "fit"', "role: expected one of calibrate, validate"),
    ("sd = -1.0", "sd: must be a positive number"),
    ('source = ""', "source: expected the source"),
    ("valeu = 3", "valeu: unknown field; did you mean value?"),
    ('age = "old"', "age: mean_age_at_election does not take this field"),
    ("n = 20", "sd: give exactly one uncertainty"),
    ('posts = "x.y"', "posts: 'x.y' is not 'level.sector.rank'"),
    ('body = "politburo"\nposts = "x.y.z"', "posts: give a body or posts, not both"),
    ("year = 2025.5", "year: expected a year (an integer)"),
    ("period = [2025, 2021]\nmodel_period = [2021, 2025]", "year: give either year or period"),
]


@pytest.mark.parametrize(("line", "message"), BAD_TARGETS)
def test_a_bad_target_names_the_file_the_row_and_the_field(tmp_path, line, message):
    row = {
        "id": '"t1"',
        "statistic": '"mean_age_at_election"',
        "body": '"provincial_standing"',
        "year": "2025",
        "value": "50.0",
        "sd": "1.0",
        "role": '"calibrate"',
        "source": '"made up"',
    }
    key = line.split("=")[0].strip()
    lines = [f"{k} = {v}" for k, v in row.items() if k != key]
    text = "[[target]]\n" + "\n".join([*lines, line]) + "\n"
    if key in ("body", "posts"):  # the group fields go together
        text = text.replace('body = "provincial_standing"\n', "")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TargetError) as err:
        load_targets(path)
    assert str(err.value).startswith(f"{path}: target 1 (t1): ")
    assert message in str(err.value)


def test_targets_are_checked_against_the_run(targets_file, tmp_path):
    scen = load_scenario(TEACHING)
    check_against(load_targets(targets_file), scen, 2021, 2026)
    for old, new, message in (
        (
            'body = "provincial_standing"',
            'body = "central_committee"',
            "body: 'central_committee' is not a body",
        ),
        ("model_year = 2025", "model_year = 2024", "model_year: 2024 is not a congress year"),
        ('posts = "*.*.head"', 'posts = "central.*.head"', "posts: 'central.*.head': level 'central'"),
    ):
        path = tmp_path / "t.toml"
        path.write_text(TARGETS.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(TargetError, match=message):
            check_against(load_targets(path), scen, 2021, 2026)
    with pytest.raises(TargetError, match="model_period: model year 2026 lies outside the run"):
        check_against(load_targets(targets_file), scen, 2021, 2025)


# --- the loss -----------------------------------------------------------------------------------


def _target(**kw) -> Target:
    base = {
        "id": "x",
        "statistic": "mean_age",
        "group": {},
        "value": 50.0,
        "role": "calibrate",
        "source": "s",
        "years": (2021,),
        "model_years": (2021,),
        "sd": 2.0,
    }
    return Target(**{**base, **kw})


def test_a_perfect_fit_scores_the_minimum_and_the_loss_grows_with_the_miss():
    normal = _target()
    assert nll(normal, 50.0) == 0.0
    assert nll(normal, 52.0) == pytest.approx(0.5)  # z = 1
    assert nll(normal, 46.0) == pytest.approx(2.0)  # z = -2: symmetric, quadratic
    share = _target(statistic="women_share", value=0.1, sd=None, n=200.0)
    assert nll(share, 0.1) == pytest.approx(0.0, abs=1e-12)
    grid = np.linspace(0.01, 0.4, 400)
    values = [nll(share, p) for p in grid]
    assert grid[int(np.argmin(values))] == pytest.approx(0.1, abs=0.001)
    assert min(values) >= 0
    assert math.isfinite(nll(share, 0.0)) and nll(share, 0.0) > nll(share, 0.02)


def test_binomial_and_normal_likelihoods_differ_where_they_should():
    small = _target(statistic="women_share", value=0.1, sd=None, n=20.0)
    big = _target(statistic="women_share", value=0.1, sd=None, n=2000.0)
    # a larger real group pins the share down more tightly
    assert nll(big, 0.15) > 50 * nll(small, 0.15)
    # for a large group the binomial is close to the normal of its sd, sqrt(p (1 - p) / n) ...
    as_normal = _target(statistic="women_share", value=0.1, sd=math.sqrt(0.1 * 0.9 / 2000))
    assert nll(big, 0.105) == pytest.approx(nll(as_normal, 0.105), rel=0.05)
    # ... but for a small share of a small group it is skewed: missing towards 0 costs more
    assert nll(small, 0.0) > nll(small, 0.2)
    # only calibrate rows count, with their weights
    val = _target(id="v", role="validate")
    heavy = _target(id="h", weight=3.0)
    assert loss([normal_t := _target(), val], {"x": 52.0, "v": 80.0}) == pytest.approx(nll(normal_t, 52.0))
    assert loss([heavy], {"h": 52.0}) == pytest.approx(1.5)


# --- the study ----------------------------------------------------------------------------------


def test_every_trial_runs_the_same_replication_seeds(tmp_path, targets_file):
    calibrate(tmp_path / "c", targets_file, trials=5, reps=3, seed=11)
    runs = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "c" / "runs").glob("*.parquet")))
    seeds = runs.groupby(["trial", "rep"])["seed"].first().unstack()
    assert len(seeds) == 5
    assert (seeds.to_numpy() == np.array([11, 12, 13])).all()


def test_a_key_that_changes_nothing_gives_identical_statistics_in_every_trial(tmp_path, targets_file):
    # fast_track is off, so its bonus never acts: with common seeds every trial is the same run
    calibrate(tmp_path / "c", targets_file, trials=4, reps=2, vary=["fast_track.planning_bonus=0:50"])
    t = pd.read_parquet(tmp_path / "c" / "trials.parquet")
    assert t["fast_track.planning_bonus"].nunique() == 4
    assert t["loss"].nunique() == 1
    assert t["good"].all()  # no trial is told apart from the best


def test_the_same_seed_gives_the_same_trials_and_another_seed_others(tmp_path, targets_file):
    a = calibrate(tmp_path / "a", targets_file, trials=6, seed=5).trials
    b = calibrate(tmp_path / "b", targets_file, trials=6, seed=5, workers=2, batch=4).trials
    c = calibrate(tmp_path / "c", targets_file, trials=6, seed=6).trials
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["integrity.p_violation"], c["integrity.p_violation"])


def test_a_calibration_recovers_parameters_from_the_models_own_figures(tmp_path):
    """Targets made by the model at p_violation 0.004 (other seeds than the calibration's): the
    best trial lies within 30% of it, and the good trials hold it."""
    true = {"integrity.p_violation": 0.004}
    values = []
    for seed in (101, 102, 103, 104):
        model = PipelineModel(TEACHING, seed=seed, years=YEARS, **true)
        model.run()
        out = Outputs.from_model(model)
        values.append(
            aggregate(
                STATISTICS["disciplined_share"],
                STATISTICS["disciplined_share"].series(out, {}),
                list(range(2021, 2027)),
            )
        )
    path = tmp_path / "own.toml"
    path.write_text(
        f'[[target]]\nstatistic = "disciplined_share"\nperiod = [2021, 2026]\nvalue = {np.mean(values)}\n'
        f'sd = 0.0005\nrole = "calibrate"\nsource = "the model itself"\n',
        encoding="utf-8",
    )
    result = calibrate(
        tmp_path / "c", path, trials=16, reps=3, vary=["integrity.p_violation=0.001:0.016:log"]
    )
    best = result.best["values"]["integrity.p_violation"]
    assert best == pytest.approx(0.004, rel=0.3)
    good = result.good["integrity.p_violation"]
    assert good.min() <= 0.004 * 1.3 and good.max() >= 0.004 / 1.3


KILL_SCRIPT = """
import sys
from pathlib import Path
from pipeline_sim.calibrate import run_calibration
from pipeline_sim import calibrate as c

real = c.run_statistics
def slow(spec):
    import time
    time.sleep(0.4)
    return real(spec)
c.run_statistics = slow
run_calibration(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[4:], Path(sys.argv[3]), trials=10, reps=2,
                seed=3, years=6, workers=1, batch=2, resume=Path(sys.argv[3], "calibration.json").exists())
"""


def test_resume_after_a_kill_continues_the_same_study_and_repeats_nothing(tmp_path, targets_file):
    folder = tmp_path / "killed"
    script = tmp_path / "go.py"
    script.write_text(KILL_SCRIPT, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(TEACHING), str(targets_file), str(folder), *VARY]
    )
    runs = folder / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("t*.parquet"))) < 7:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in runs.glob("t*.parquet")}
    assert 7 <= len(before) < 20, "killed in the middle"
    journal = (folder / "journal.log").read_text(encoding="utf-8")
    told = journal.count('"op_code":6')  # trials whose state was set (complete or failed)
    assert told >= 2
    result = run_calibration(
        TEACHING,
        targets_file,
        VARY,
        folder,
        trials=10,
        reps=2,
        seed=3,
        years=6,
        workers=1,
        batch=2,
        resume=True,
    )
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("t*.parquet")}
    assert len(after) == 20
    assert all(after[name] == mtime for name, mtime in before.items())  # no finished run again
    assert sorted(result.trials["trial"]) == list(range(10))  # no trial repeated or lost
    straight = calibrate(tmp_path / "straight", targets_file, trials=10, reps=2, seed=3, batch=2).trials
    pd.testing.assert_frame_equal(result.trials, straight)


# --- outputs ------------------------------------------------------------------------------------


def test_the_outputs_and_the_report(tmp_path, targets_file):
    result = calibrate(tmp_path / "c", targets_file, trials=6, reps=2)
    folder = tmp_path / "c"
    for name in (
        "calibrated.toml",
        "trials.parquet",
        "fit.parquet",
        "journal.log",
        "report.html",
        "targets.toml",
    ):
        assert (folder / name).is_file(), name
    fit = pd.read_parquet(folder / "fit.parquet")
    assert list(fit["id"]) == ["standing_age", "women_heads", "disciplined", "rotations_later", "members"]
    row = fit.set_index("id").loc["standing_age"]
    assert row["sim_p05"] <= row["simulated"] <= row["sim_p95"]
    assert row["z"] == pytest.approx((row["simulated"] - 50.0) / 1.0)
    assert fit.set_index("id").loc["members", "status"] == "not_computable"
    assert pd.isna(fit.set_index("id").loc["members", "simulated"])
    assert set(fit["role"]) == {"calibrate", "validate"}
    trials = pd.read_parquet(folder / "trials.parquet")
    assert trials["best"].sum() == 1 and trials.loc[trials["best"], "loss"].item() == trials["loss"].min()
    assert trials["good"].sum() >= 1
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert "<script src" not in report and "plotly" in report.split("<body>")[0]  # plotly inlined
    cal = report[report.index("id='calibrate'") : report.index("id='validate'")]
    val = report[report.index("id='validate'") : report.index("id='not-computable'")]
    for tid in ("standing_age", "women_heads", "disciplined"):
        assert tid in cal and f"<td>{tid}</td>" not in val
    assert "<td>rotations_later</td>" in val and "<td>rotations_later</td>" not in cal
    assert "members" in report[report.index("id='not-computable'") :]
    for heading in (
        "Calibrated values",
        "Loss over trials",
        "Parameter importance",
        "Parameter uncertainty",
        "Targets over time",
    ):
        assert heading in report
    assert result.best["trial"] == int(trials.loc[trials["best"], "trial"].item())


def test_calibrated_toml_runs_as_is_with_the_best_values(tmp_path, targets_file):
    result = calibrate(tmp_path / "c", targets_file, trials=4, reps=1)
    path = tmp_path / "c" / "calibrated.toml"
    scen = load_scenario(path)
    for key, value in result.best["values"].items():
        section, name = key.split(".")
        assert getattr(getattr(scen, section), name) == value
    assert scen.simulation.years == load_scenario(TEACHING).simulation.years  # the scenario's own
    proc = cli(tmp_path, "run", str(path), "--years", "2", "--out", "ran", "-q")
    assert proc.returncode == 0, proc.stderr
    proc = cli(
        tmp_path,
        "compare",
        str(TEACHING),
        str(path),
        "--reps",
        "2",
        "--years",
        "2",
        "--workers",
        "1",
        "--out",
        "cmp",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr


# --- parameters from a calibration ----------------------------------------------------------------


def test_parameters_from_a_calibration_are_drawn_per_replication_and_paired(tmp_path, targets_file):
    calibrate(tmp_path / "c", targets_file, trials=6, reps=2)
    draws = Draws.load(tmp_path / "c")
    draws.good = pd.concat([draws.good] * 3, ignore_index=True)  # several to draw from
    draws.good["integrity.p_violation"] = np.linspace(0.002, 0.01, len(draws.good))
    ref = load_scenario(TEACHING).model_dump(mode="json")
    same = load_scenario(TEACHING, overrides={"rotation.rate": 0.1}).model_dump(mode="json")
    own = load_scenario(TEACHING, overrides={"appointment.female_score_gap": 15.0}).model_dump(mode="json")
    keep, notes = kept_keys(draws, [ref, same, own])
    assert keep == {0: [], 1: [], 2: ["appointment.female_score_gap"]} and len(notes) == 1
    # beside a calibrated reference, a scenario with the input's uncalibrated values draws them
    calibrated = load_scenario(tmp_path / "c" / "calibrated.toml").model_dump(mode="json")
    assert kept_keys(draws, [calibrated, ref, own])[0] == {0: [], 1: [], 2: ["appointment.female_score_gap"]}
    data, table = apply_draws(draws, [ref, same, own], seed=4, reps=6)
    assert list(table["seed"]) == [4, 5, 6, 7, 8, 9]
    assert table["integrity.p_violation"].nunique() > 1  # replications draw different values
    for rep in range(6):
        drawn = table.loc[rep, "integrity.p_violation"]
        assert {d[rep]["integrity"]["p_violation"] for d in data} == {drawn}  # the same in every scenario
        assert data[2][rep]["appointment"]["female_score_gap"] == 15.0  # its own policy
        assert (
            data[0][rep]["appointment"]["female_score_gap"] == table.loc[rep, "appointment.female_score_gap"]
        )
    # a replication's draw does not depend on how many replications there are
    pd.testing.assert_frame_equal(apply_draws(draws, [ref], seed=4, reps=2)[1], table.iloc[:2])


def test_compare_and_sweep_record_the_drawn_values(tmp_path, targets_file):
    calibrate(tmp_path / "c", targets_file, trials=4, reps=1)
    other = tmp_path / "other.toml"
    other.write_text(f'extends = "{TEACHING}"\n[rotation]\nrate = 0.1\n', encoding="utf-8")
    proc = cli(
        tmp_path,
        "compare",
        str(TEACHING),
        str(other),
        "--reps",
        "3",
        "--years",
        "2",
        "--workers",
        "1",
        "--out",
        "cmp",
        "--parameters-from",
        "c",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    drawn = pd.read_parquet(tmp_path / "cmp" / "parameters.parquet")
    assert list(drawn["rep"]) == [0, 1, 2] and {"trial", *VARY_KEYS} <= set(drawn.columns)
    assert "parameter uncertainty" in (tmp_path / "cmp" / "report.html").read_text(encoding="utf-8")
    proc = cli(
        tmp_path,
        "sweep",
        str(TEACHING),
        "--vary",
        "rotation.rate=0:0.1",
        "--design",
        "factorial",
        "--levels",
        "2",
        "--reps",
        "2",
        "--years",
        "2",
        "--workers",
        "1",
        "--out",
        "sw",
        "--parameters-from",
        "c",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(tmp_path / "sw" / "parameters.parquet")) == 2
    proc = cli(tmp_path, "compare", str(TEACHING), str(other), "--reps", "2", "--parameters-from", "cmp")
    assert proc.returncode == 2 and "not a finished calibration folder" in proc.stderr
    assert "Traceback" not in proc.stderr


VARY_KEYS = [v.split("=")[0] for v in VARY]


# --- the command line -------------------------------------------------------------------------------


def test_the_command_line_end_to_end(tmp_path, targets_file):
    proc = cli(
        tmp_path,
        "calibrate",
        str(TEACHING),
        "--targets",
        str(targets_file),
        *VARY_ARGS,
        "--trials",
        "4",
        "--reps",
        "2",
        "--years",
        str(YEARS),
        "--workers",
        "1",
        "--out",
        "cal",
    )
    assert proc.returncode == 0, proc.stderr
    assert "calibrate targets" in proc.stdout and "validate targets" in proc.stdout
    assert "not computable: members" in proc.stdout
    assert "report: cal/report.html" in proc.stdout
    manifest = json.loads((tmp_path / "cal" / "calibration.json").read_text(encoding="utf-8"))
    assert [p["key"] for p in manifest["parameters"]] == VARY_KEYS
    again = cli(
        tmp_path,
        "calibrate",
        str(TEACHING),
        "--targets",
        str(targets_file),
        "--vary",
        VARY[0],
        "--out",
        "cal",
    )
    assert again.returncode == 2 and "already holds results" in again.stderr
    more = cli(
        tmp_path,
        "calibrate",
        str(TEACHING),
        "--targets",
        str(targets_file),
        *VARY_ARGS,
        "--trials",
        "6",
        "--reps",
        "2",
        "--years",
        str(YEARS),
        "--workers",
        "1",
        "--out",
        "cal",
        "--resume",
    )
    assert more.returncode == 0, more.stderr
    assert len(pd.read_parquet(tmp_path / "cal" / "trials.parquet")) == 6  # resume adds trials
    other = cli(
        tmp_path,
        "calibrate",
        str(TEACHING),
        "--targets",
        str(targets_file),
        "--vary",
        VARY[0],
        "--trials",
        "6",
        "--reps",
        "2",
        "--years",
        str(YEARS),
        "--out",
        "cal",
        "--resume",
    )
    assert other.returncode == 2 and "another definition" in other.stderr


BAD_ARGS = [
    (["--vary", "integrity.p_violaton=0:0.1"], "did you mean integrity.p_violation"),
    (["--vary", "integrity.p_violation=0.1:0.01"], "empty range (LOW must be below HIGH)"),
    (["--vary", "integrity.p_violation=0:2"], "less than or equal to 1"),
    (["--vary", "planning.mode=0:1"], "planning.mode"),
    (["--vary", "planning.mode=open,closed"], "calibration varies numbers"),
    (["--vary", "integrity.p_violation=0:0.1:log"], "a log range needs LOW above 0"),
    (["--vary", "planning.structure_targets=0:1"], "structure_targets"),
    (
        ["--vary", "integrity.p_violation=0:0.1", "--targets", "nowhere.toml"],
        "nowhere.toml: no such targets file",
    ),
    (["--vary", "integrity.p_violation=0:0.1", "--sampler", "grid"], "--sampler 'grid'"),
    (["--vary", "integrity.p_violation=0:0.1", "--trials", "0"], "--trials must be at least 1"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGS)
def test_bad_arguments_fail_before_any_trial_with_one_clear_line(tmp_path, targets_file, args, message):
    if "--targets" not in args:
        args = [*args, "--targets", str(targets_file)]
    proc = cli(tmp_path, "calibrate", str(TEACHING), "--years", str(YEARS), "--out", "cal", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "cal").exists()


def test_a_bad_targets_file_on_the_command_line_names_file_row_and_field(tmp_path, targets_file):
    bad = tmp_path / "bad.toml"
    bad.write_text(TARGETS.replace("sd = 0.001", "sd = -0.001"), encoding="utf-8")
    proc = cli(tmp_path, "calibrate", str(TEACHING), "--targets", str(bad), "--vary", VARY[0])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}: target 3 (disciplined): sd: must be a positive number (got -0.001)" in proc.stderr
    bad.write_text("[[target]\n", encoding="utf-8")
    proc = cli(tmp_path, "calibrate", str(TEACHING), "--targets", str(bad), "--vary", VARY[0])
    assert proc.returncode == 2 and "malformed TOML" in proc.stderr
    # a year outside the run, with --years too short
    proc = cli(
        tmp_path,
        "calibrate",
        str(TEACHING),
        "--targets",
        str(targets_file),
        "--vary",
        VARY[0],
        "--years",
        "3",
    )
    assert proc.returncode == 2 and "outside the run (2021-2023)" in proc.stderr


def test_python_errors_speak_python(tmp_path, targets_file):
    with pytest.raises(ExperimentError, match="calibration varies numbers"):
        parse_parameters(["planning.mode=open,closed"], TEACHING)
    with pytest.raises(ExperimentError, match="no such targets file"):
        run_calibration(TEACHING, tmp_path / "none.toml", VARY, tmp_path / "x", trials=2)


def test_a_local_dask_cluster_gives_the_same_trials(tmp_path, targets_file):
    pytest.importorskip("distributed")
    a = calibrate(tmp_path / "a", targets_file, trials=4, reps=2).trials
    b = calibrate(tmp_path / "b", targets_file, trials=4, reps=2, workers=2, scheduler="local").trials
    pd.testing.assert_frame_equal(a, b)


def test_ctrl_c_keeps_the_finished_trials_and_says_how_to_resume(tmp_path, targets_file):
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    env.update(NO_COLOR="1", TERM="dumb")
    args = [
        sys.executable,
        "-m",
        "pipeline_sim.cli",
        "calibrate",
        str(TEACHING),
        "--targets",
        str(targets_file),
        *VARY_ARGS,
        "--trials",
        "40",
        "--reps",
        "2",
        "--years",
        str(YEARS),
        "--workers",
        "1",
        "--out",
        "cal",
        "-q",
    ]
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    runs = tmp_path / "cal" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("t*.parquet"))) < 6:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume --out cal" in stderr and "Traceback" not in stderr
    kept = len(list(runs.glob("t*.parquet")))
    assert kept >= 6
    resumed = cli(tmp_path, "calibrate", *args[4:-1], "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert len(pd.read_parquet(tmp_path / "cal" / "trials.parquet")) == 40


def test_integer_keys_get_integer_values_and_log_ranges_stay_inside(tmp_path, targets_file):
    params = parse_parameters(
        ["planning.max_candidates=1:4", "integrity.p_violation=0.001:0.01:log"], TEACHING
    )
    assert [(p.integer, p.log) for p in params] == [(True, False), (False, True)]
    result = calibrate(
        tmp_path / "c",
        targets_file,
        trials=5,
        reps=1,
        vary=["planning.max_candidates=1:4", "integrity.p_violation=0.001:0.01:log"],
    )
    t = result.trials
    assert all(float(v).is_integer() and 1 <= v <= 4 for v in t["planning.max_candidates"])
    assert t["integrity.p_violation"].between(0.001, 0.01).all()
    scen = load_scenario(tmp_path / "c" / "calibrated.toml")
    assert isinstance(scen.planning.max_candidates, int)

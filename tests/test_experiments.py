"""Comparisons: paired statistics on known inputs, common random numbers, checkpoints and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from cli_helper import cli
from scipy import stats

from pipeline_sim import PipelineModel
from pipeline_sim.analysis import bands, paired_differences, scenario_diff
from pipeline_sim.compare import compare, load_all
from pipeline_sim.experiment import RunSpec, execute, simulate

TEACH = {"name": "teach", "hierarchy": {"preset": "teaching"}, "simulation": {"years": 4}}


# ---------------------------------------------------------------------------------------------
# statistics on hand-made inputs


def test_bands_are_median_and_10_90_percentiles():
    frame = pd.DataFrame({"year": [1] * 11, "value": np.arange(11.0)})
    b = bands(frame, ["year"]).iloc[0]
    assert (b["median"], b["low"], b["high"], b["n"]) == (5.0, 1.0, 9.0, 11)


def test_paired_differences_pair_by_seed_with_a_t_interval():
    seeds = [1, 2, 3, 4]
    base = [10.0, 20.0, 30.0, 40.0]
    other = [11.0, 23.0, 30.0, 42.0]  # differences 1, 3, 0, 2 (unpaired, the spread would hide them)
    frame = pd.DataFrame(
        {"scenario": ["a"] * 4 + ["b"] * 4, "seed": seeds * 2, "metric": "m", "value": base + other}
    )
    d = paired_differences(frame, "a", ["metric"]).iloc[0]
    diffs = np.array([1.0, 3.0, 0.0, 2.0])
    se = diffs.std(ddof=1) / 2
    half = stats.t.ppf(0.975, 3) * se
    assert d["mean_diff"] == pytest.approx(1.5)
    assert d["se"] == pytest.approx(se)
    assert (d["ci_low"], d["ci_high"]) == (pytest.approx(1.5 - half), pytest.approx(1.5 + half))
    assert d["n_pairs"] == 4
    assert d["clear"] == bool(1.5 - half > 0)
    # pairs follow the seed, not the row order
    shuffled = frame.sample(frac=1.0, random_state=0)
    assert paired_differences(shuffled, "a", ["metric"]).iloc[0]["mean_diff"] == pytest.approx(1.5)


def test_identical_values_give_exactly_zero_and_not_clear():
    frame = pd.DataFrame(
        {"scenario": ["a", "a", "b", "b"], "seed": [1, 2, 1, 2], "g": 0, "value": [3.0, 5.0, 3.0, 5.0]}
    )
    d = paired_differences(frame, "a", ["g"]).iloc[0]
    assert d["mean_diff"] == 0.0 and d["ci_low"] == 0.0 and d["ci_high"] == 0.0
    assert not d["clear"]


def test_scenario_diff_lists_changed_keys():
    a = {"name": "a", "planning": {"mode": "closed", "max_candidates": 3}}
    b = {"name": "b", "planning": {"mode": "open", "max_candidates": 3}}
    assert scenario_diff(a, b) == [("planning.mode", "closed", "open")]


# ---------------------------------------------------------------------------------------------
# common random numbers


def test_a_policy_that_never_triggers_gives_exactly_zero_difference(tmp_path):
    # patronage strength only matters under patronage selection, which the scenario does not use
    scens = load_all(
        [
            _write(tmp_path, "a.toml", ""),
            _write(tmp_path, "b.toml", "[appointment]\npatronage_strength = 99.0\n"),
        ]
    )
    result = compare(scens, reps=3, seed=5, years=4, folder=tmp_path / "cmp", workers=1)
    assert len(result.differences) > 0
    assert (result.differences["mean_diff"] == 0).all()
    data = pd.read_parquet(tmp_path / "cmp" / "data.parquet")
    a = data[data["scenario"] == "a"].drop(columns=["scenario", "run"]).reset_index(drop=True)
    b = data[data["scenario"] == "b"].drop(columns=["scenario", "run"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_a_change_to_one_mechanism_leaves_the_other_streams_untouched():
    # the confidence vote first happens in the third year: the first two years are identical
    a = PipelineModel(TEACH, seed=9, years=4)
    b = PipelineModel(
        TEACH, seed=9, years=4, **{"confidence.p_resign_above_half": 1.0, "confidence.dismiss_at": 0.55}
    )
    a.run()
    b.run()
    ma, mb = a.metrics_frame(), b.metrics_frame()
    early = [a.first_year, a.first_year + 1]
    pd.testing.assert_frame_equal(
        ma[ma["year"].isin(early)].reset_index(drop=True), mb[mb["year"].isin(early)].reset_index(drop=True)
    )
    assert not ma.equals(mb)  # and the policy does act once the vote comes


# ---------------------------------------------------------------------------------------------
# execution


def _write(folder, name, body):
    path = folder / name
    path.write_text('extends = "base.toml"\n' + body, encoding="utf-8")
    (folder / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    return path


def _specs(n):
    return [RunSpec(f"r{i}", TEACH, seed=100 + i, years=3, labels={"scenario": "teach"}) for i in range(n)]


def test_results_do_not_depend_on_the_number_of_workers(tmp_path):
    specs = _specs(4)
    one = execute(specs, tmp_path / "one", workers=1)
    two = execute(specs, tmp_path / "two", workers=2)
    pd.testing.assert_frame_equal(one, two)


def test_collected_runs_keep_every_value_with_text_as_categories(tmp_path):
    """The runs of an experiment, read back as one frame: every value of every run file, in spec
    order; text as categories with one set for all runs (the structure's order of levels kept
    where every run has it, else the values sorted as strings)."""
    other = {**TEACH, "hierarchy": {"preset": "reform2025", "scale": 0.005}}  # other levels
    specs = [*_specs(2), RunSpec("x0", other, seed=7, years=3, labels={"scenario": "other"})]
    for spec, arm in zip(specs, ("b", "a", "b"), strict=True):  # a text label of the runs
        spec.labels["arm"] = arm
    out = execute(specs, tmp_path / "exp", workers=1)
    plain = pd.concat(
        [pd.read_parquet(tmp_path / "exp" / "runs" / f"{s.run_id}.parquet") for s in specs], ignore_index=True
    )
    assert list(out.columns) == list(plain.columns) and len(out) == len(plain)
    for col in out.columns:
        if col in ("run", "scenario", "arm", "level", "sector", "metric"):
            assert isinstance(out[col].dtype, pd.CategoricalDtype), col
            assert list(out[col].astype(str)) == list(plain[col].astype(str)), col
        else:
            pd.testing.assert_series_equal(out[col], plain[col])
    # levels of two structures: sorted as strings; one structure: its own order
    assert list(out["level"].cat.categories) == sorted(set(plain["level"].astype(str)))
    assert list(out["scenario"].cat.categories) == ["other", "teach"]
    assert list(out["arm"].cat.categories) == ["a", "b"]
    one = execute(_specs(2), tmp_path / "one", workers=1)
    assert list(one["level"].cat.categories) == list(
        pd.read_parquet(tmp_path / "one" / "runs" / "r0.parquet")["level"].cat.categories
    )


def test_the_function_interface_returns_named_outcomes():
    out = simulate(TEACH, seed=3, years=3, planning__mode="open")
    assert set(out) >= {"succession_gap_rate", "bench_strength", "quality_in_office"}
    assert all(isinstance(v, float) for v in out.values())
    assert out == simulate(TEACH, seed=3, years=3, **{"planning.mode": "open"})


def test_a_killed_comparison_resumes_without_recomputing_finished_runs(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    open_ = tmp_path / "open.toml"
    open_.write_text('extends = "base.toml"\nname = "open"\n[planning]\nmode = "open"\n', encoding="utf-8")
    out = tmp_path / "cmp"
    cmd = [
        sys.executable,
        "-m",
        "pipeline_sim.cli",
        "compare",
        str(base),
        str(open_),
        "--reps",
        "8",
        "--years",
        "6",
        "--workers",
        "1",
        "--out",
        str(out),
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("*.parquet")) if runs.exists() else []) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert 3 <= len(done_before) < 16, "the comparison should have been killed mid-way"
    assert not (out / "report.html").exists()
    resumed = subprocess.run([*cmd, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert len(after) == 16
    assert all(after[name] == mtime for name, mtime in done_before.items()), "a finished run was recomputed"
    # the resumed result equals an uninterrupted one
    fresh = subprocess.run(
        [*cmd[:-3], "--out", str(tmp_path / "fresh"), "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "data.parquet"), pd.read_parquet(tmp_path / "fresh" / "data.parquet")
    )


def test_compare_report_is_self_contained_and_the_data_is_tidy(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    other = tmp_path / "worst.toml"
    other.write_text(
        'extends = "base.toml"\nname = "worst"\n[simulation]\nyears = 7\n'
        '[appointment]\nselection = "worst_first"\n',
        encoding="utf-8",
    )
    proc = cli(
        tmp_path, "compare", "base.toml", "worst.toml", "--reps", "3", "--years", "3", "--workers", "1", "-q"
    )
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "results" / "compare-base-vs-worst"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<script src" not in page and "Plotly" in page
    assert "appointment.selection" in page and "worst_first" in page  # what the scenario changes
    assert "simulation.years" not in page  # --years ran both for 3 years: not a difference
    data = pd.read_parquet(folder / "data.parquet")
    assert list(data.columns) == [
        "run",
        "scenario",
        "seed",
        "rep",
        "year",
        "level",
        "sector",
        "metric",
        "value",
    ]
    assert sorted(data["seed"].unique()) == [1, 2, 3]
    assert (folder / "scenarios" / "worst.toml").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.toml"], "no such scenario file"),
        (["base.toml", "--set", "planning.max_candidate=2"], "planning.max_candidate"),
        (["base.toml", "--out", "base.toml"], "not a folder"),
        (["base.toml", "--out", "base.toml/inside"], "cannot create a folder"),
    ],
)
def test_bad_compare_input_fails_before_any_run(tmp_path, args, message):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(tmp_path, "compare", "base.toml", *args, "-q")
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.parquet"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder_fails_before_any_run(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(tmp_path, "compare", "base.toml", "base.toml", "--out", str(locked / "x"), "-q")
    assert proc.returncode != 0 and "not writable" in proc.stderr


def test_scenario_names_are_made_unique_without_colliding(tmp_path):
    (tmp_path / "base.toml").write_text('name = "base"\n[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    (tmp_path / "b2.toml").write_text(
        'extends = "base.toml"\nname = "base-2"\n[planning]\nmode = "open"\n', encoding="utf-8"
    )
    scens = load_all([tmp_path / "base.toml", tmp_path / "b2.toml", tmp_path / "base.toml"])
    names = [s.name for s in scens]
    assert len(set(names)) == 3 and names[:2] == ["base", "base-2"]
    assert scens[1].planning.mode == "open" and scens[2].planning.mode == "closed"


def test_each_process_stream_depends_only_on_seed_process_and_year():
    a = PipelineModel(TEACH, seed=9, years=4)
    b = PipelineModel(TEACH, seed=9, years=4, **{"rotation.rate": 0.5, "integrity.p_violation": 0.1})
    for _ in range(3):
        a.step()
        b.step()
    a._streams.clear()
    b._streams.clear()
    for name in ("demography", "work", "assessment", "planning", "filling"):
        assert (a.stream(name).random(8) == b.stream(name).random(8)).all(), name
    assert not (a.stream("work").random(8) == a.stream("assessment").random(8)).all()

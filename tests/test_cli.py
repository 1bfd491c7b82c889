"""The `pipeline-sim` command end to end, as a user runs it (a subprocess in a scratch folder)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from cli_helper import cli

from pipeline_sim import load_scenario
from pipeline_sim.processes import DEFAULT_PLAN

TEACHING = 'name = "teach"\n\n[simulation]\nyears = 2\n\n[hierarchy]\npreset = "teaching"\n'
RESULT_FILES = {
    "metrics.parquet",
    "events.parquet",
    "holders.parquet",
    "posts.parquet",
    "units.parquet",
    "bodies.parquet",
    "ranks.parquet",
    "scenario.toml",
    "manifest.json",
    "summary.csv",
}
METRIC_COLUMNS = ["scenario", "rep", "seed", "year", "level", "sector", "metric", "value"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "teach.toml").write_text(TEACHING, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def first_run(workdir):
    return cli(workdir, "run", "teach.toml")


def test_run_exits_zero_and_prints_the_summary(first_run):
    assert first_run.returncode == 0, first_run.stderr
    assert "Succession gaps" in first_run.stdout and "1 replication" in first_run.stdout
    for level in ("provincial", "district", "commune", "all"):
        assert level in first_run.stdout
    assert "Traceback" not in first_run.stderr


def test_run_writes_the_results_folder(workdir, first_run):
    assert first_run.returncode == 0, first_run.stderr
    out = workdir / "results" / "teach"
    assert {p.name for p in out.iterdir()} == RESULT_FILES
    assert str(Path("results") / "teach") in first_run.stdout


def test_results_metrics_are_tidy(workdir, first_run):
    assert first_run.returncode == 0, first_run.stderr
    metrics = pd.read_parquet(workdir / "results" / "teach" / "metrics.parquet")
    assert list(metrics.columns) == METRIC_COLUMNS
    assert set(metrics["scenario"]) == {"teach"}
    assert sorted(metrics["year"].unique()) == [2021, 2022]
    assert {"provincial", "district", "commune", "all"} <= set(metrics["level"].astype(str))
    assert "succession_gap_rate" in set(metrics["metric"].astype(str))
    assert metrics["value"].notna().all(), "undefined values have no row"


def test_results_scenario_manifest_and_summary(workdir, first_run):
    assert first_run.returncode == 0, first_run.stderr
    out = workdir / "results" / "teach"
    resolved = load_scenario(out / "scenario.toml")
    assert resolved == load_scenario(workdir / "teach.toml")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenario"] == "teach"
    assert manifest["seeds"] == [1]
    assert manifest["years"] == [2021, 2022]
    # what identical results across machines depend on
    assert manifest["numpy"] and manifest["cpu_features"], "numpy's loops run on some processor features"
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["outcome", "unit", "provincial", "district", "commune", "all"]
    gaps = summary.set_index("outcome").loc["Succession gaps"]
    assert gaps["unit"] == "% of key-post vacancies" and gaps["all"].endswith("%")
    events = pd.read_parquet(out / "events.parquet")
    assert {"year", "kind", "cause", "cadre", "post", "chain"} <= set(events.columns)


def test_second_run_does_not_overwrite_the_first(workdir, first_run):
    assert first_run.returncode == 0, first_run.stderr
    before = snapshot(workdir / "results" / "teach")
    second = cli(workdir, "run", "teach.toml", "--quiet")
    assert second.returncode == 0, second.stderr
    assert {p.name for p in (workdir / "results" / "teach-2").iterdir()} == RESULT_FILES
    assert snapshot(workdir / "results" / "teach") == before


def test_out_onto_a_folder_with_results_fails_and_leaves_it_alone(workdir, first_run):
    assert first_run.returncode == 0, first_run.stderr
    target = workdir / "results" / "teach"
    before = snapshot(target)
    proc = cli(workdir, "run", "teach.toml", "--out", str(target))
    assert proc.returncode != 0
    assert "already holds results" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(target) == before
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "no half-written temporary folders"


def test_set_override_reaches_the_run(workdir):
    out = workdir / "open"
    proc = cli(
        workdir,
        "run",
        "teach.toml",
        "--set",
        "planning.mode=open",
        "--reps",
        "2",
        "--seed",
        "5",
        "--years",
        "1",
        "--out",
        str(out),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    resolved = tomllib.loads((out / "scenario.toml").read_text(encoding="utf-8"))
    assert resolved["planning"]["mode"] == "open"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seeds"] == [5, 6]
    assert manifest["years"] == [2021]


def test_bad_set_value_fails_cleanly(workdir):
    proc = cli(workdir, "run", "teach.toml", "--set", "planning.mode=sideways", "--out", "never")
    assert proc.returncode != 0
    assert "planning.mode" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "never").exists()


BAD = {
    "unknown_key.toml": ('extends = "base.toml"\n[planning]\nmax_candidate = 3\n', "planning.max_candidate"),
    "wrong_type.toml": (
        'extends = "base.toml"\n[planning]\nmax_candidates = "three"\n',
        "planning.max_candidates",
    ),
    "negative.toml": ('extends = "base.toml"\n[hierarchy.units]\ncommune = -1\n', "hierarchy.units.commune"),
    "share.toml": ('extends = "base.toml"\n[recruitment]\nfemale_share = 1.5\n', "recruitment.female_share"),
    "missing_parent.toml": ('extends = "nowhere.toml"\n', "extends"),
    "malformed.toml": ('extends = "base.toml"\n[planning\n', "malformed TOML"),
    "circular.toml": ('extends = "circular.toml"\n', "extends"),
    "child_of_bad.toml": ('extends = "share.toml"\nname = "child"\n', "recruitment.female_share"),
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "base.toml").write_text('name = "base"\n[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    for name, (text, _) in BAD.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_validate_reports_every_bad_file_with_its_key(bad_dir):
    proc = cli(bad_dir, "validate", "base.toml", *BAD)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "ok base.toml" in proc.stdout
    errors = proc.stderr.splitlines()
    for name, (_, key) in BAD.items():
        assert f"ok {name}" not in proc.stdout
        if name == "child_of_bad.toml":
            continue
        lines = [line for line in errors if f"{name}:" in line]
        assert lines, f"{name} not reported"
        assert any(key in line for line in lines), f"{name}: key {key} not named"
    # the error inherited by child_of_bad.toml names the parent that set the key, and the child
    assert sum("share.toml: recruitment.female_share" in line for line in errors) == 1
    assert (
        sum("share.toml (extended by child_of_bad.toml): recruitment.female_share" in line for line in errors)
        == 1
    )


@pytest.mark.parametrize("name", ["unknown_key.toml", "malformed.toml"])
def test_validate_one_bad_file_exits_non_zero_without_traceback(bad_dir, name):
    proc = cli(bad_dir, "validate", name)
    assert proc.returncode != 0
    assert name in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_accepts_a_good_file(workdir):
    proc = cli(workdir, "validate", "teach.toml")
    assert proc.returncode == 0, proc.stderr
    assert "ok teach.toml" in proc.stdout


def test_show_phases_lists_the_thirteen_phases_in_order(workdir):
    proc = cli(workdir, "show", "--phases")
    assert proc.returncode == 0, proc.stderr
    names = "calendar demography work integrity assessment confidence planning rotation filling"
    names = [*names.split(), "restructure", "recruitment", "congress", "record"]
    assert [ph.NAME for ph in DEFAULT_PLAN] == names
    # table rows start with the phase number, then the phase name
    rows = [re.match(r"^\W*(\d+)\W+([a-z_]+)\b", line) for line in proc.stdout.splitlines()]
    listed = [(int(m.group(1)), m.group(2)) for m in rows if m]
    assert listed == list(enumerate(names, start=1))


def test_show_file_prints_the_resolved_scenario_as_toml(workdir):
    proc = cli(workdir, "show", "teach.toml")
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads(proc.stdout)
    assert data["hierarchy"]["units"] == {"provincial": 1, "district": 6, "commune": 48}
    assert data["planning"]["max_candidates"] == 3  # a default, filled in
    assert load_scenario(data) == load_scenario(workdir / "teach.toml")


def test_overwrite_never_deletes_the_working_folder_or_other_files(teaching_file):
    folder = teaching_file.parent
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    (folder / "other").mkdir()
    (folder / "other" / "keep.txt").write_text("mine", encoding="utf-8")
    for target in (".", "other"):
        proc = cli(folder, "run", teaching_file.name, "--years", "1", "--out", target, "--overwrite", "-q")
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (folder / "other" / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert teaching_file.exists()
    # an earlier results folder is replaced, only with --overwrite
    assert cli(folder, "run", teaching_file.name, "--years", "1", "--out", "res", "-q").returncode == 0
    assert cli(folder, "run", teaching_file.name, "--years", "1", "--out", "res", "-q").returncode != 0
    assert (
        cli(folder, "run", teaching_file.name, "--years", "1", "--out", "res", "--overwrite", "-q").returncode
        == 0
    )
    assert {p.name for p in (folder / "res").iterdir()} == RESULT_FILES

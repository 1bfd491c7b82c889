"""Results folders never escape, clobber or lose anything: hostile names, concurrent runs, killed
runs and overwrites, all in scratch folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helper import cli

from pipeline_sim import folders
from pipeline_sim.api import RUN_FILES

TEACHING = '[simulation]\nyears = 1\n\n[hierarchy]\npreset = "teaching"\n'


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A working folder with a scenario and files of the user's own, and no results/ yet."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "base.toml").write_text(TEACHING, encoding="utf-8")
    (work / "notes.txt").write_text("mine", encoding="utf-8")
    (work / "data").mkdir()
    (work / "data" / "keep.csv").write_text("1,2\n", encoding="utf-8")
    return work


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "a\\b", ".hidden", "x" * 101, "tab\there", "é"])
def test_an_unsafe_name_is_refused_and_nothing_is_touched(scratch, name):
    before = tree(scratch.parent)
    evil = scratch / "evil.toml"
    evil.write_text(f"name = {json.dumps(name)}\n" + TEACHING, encoding="utf-8")
    after_write = tree(scratch.parent)
    for args in (["run", "evil.toml"], ["run", "base.toml", "--set", f"name={name}"]):
        proc = cli(scratch, *args, "-q")
        assert proc.returncode == 2, proc.stdout
        assert "name" in proc.stderr and "Traceback" not in proc.stderr
        assert tree(scratch.parent) == after_write
    assert {k: v for k, v in after_write.items() if "evil" not in k} == before
    assert not (scratch / "results").exists()


@pytest.mark.parametrize("out", ["results/..", ".", "data/..", "..", "results/../.."])
def test_out_resolving_to_the_working_folder_or_a_parent_is_refused(scratch, out):
    before = tree(scratch.parent)
    proc = cli(scratch, "run", "base.toml", "--out", out, "--overwrite", "-q")
    assert proc.returncode == 2 and "working folder" in proc.stderr, proc.stderr
    assert tree(scratch.parent) == before


def test_out_through_a_link_to_the_working_folder_is_refused(scratch):
    (scratch / "link").symlink_to(scratch, target_is_directory=True)
    before = tree(scratch)
    proc = cli(scratch, "run", "base.toml", "--out", "link", "--overwrite", "-q")
    assert proc.returncode == 2 and "working folder" in proc.stderr, proc.stderr
    assert tree(scratch) == before


def _start(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline_sim.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_concurrent_runs_into_the_default_folder_keep_every_result(scratch):
    seeds = [11, 12, 13, 14]
    procs = [_start(scratch, "run", "base.toml", "--seed", str(s), "-q") for s in seeds]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(seeds), [e for _, e in outs]
    found = {}
    for folder in (scratch / "results").iterdir():
        assert not folder.name.startswith("."), f"leftover {folder.name}"
        assert not (folder / folders.OWNER_FILE).exists()
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert (folder / "metrics.parquet").exists() and (folder / "events.parquet").exists()
        found[manifest["seeds"][0]] = folder.name
    assert sorted(found) == seeds, "each run kept its own results"
    assert sorted(found.values()) == ["base", "base-2", "base-3", "base-4"]


def test_concurrent_runs_into_one_new_out_folder_never_mix(scratch):
    procs = [_start(scratch, "run", "base.toml", "--seed", str(s), "--out", "res", "-q") for s in (1, 2, 3)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes.count(0) >= 1, outs
    winner = json.loads((scratch / "res" / "manifest.json").read_text(encoding="utf-8"))["seeds"][0]
    for (_, stderr), code, seed in zip(outs, codes, (1, 2, 3), strict=True):
        if code != 0:  # the others were refused before computing, with a clear message
            assert code == 2 and "Traceback" not in stderr
            assert "another" in stderr or "already holds results" in stderr, stderr
        else:
            assert seed == winner
    assert codes.count(0) == 1
    assert {p.name for p in (scratch / "res").iterdir()} == set(RUN_FILES)


def test_a_killed_run_leaves_a_claim_that_the_next_run_removes(scratch):
    proc = _start(scratch, "run", "base.toml", "--years", "100", "-q")
    claimed = scratch / "results" / "base"
    deadline = time.monotonic() + 60
    while not (claimed / folders.OWNER_FILE).exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert claimed.exists(), "the claim of the killed run is still there"
    # a folder with a dead owner but a file of the user's is never removed
    other = scratch / "results" / "other"
    other.mkdir()
    (other / folders.OWNER_FILE).write_text((claimed / folders.OWNER_FILE).read_text(), encoding="utf-8")
    (other / "mine.txt").write_text("mine", encoding="utf-8")
    done = cli(scratch, "run", "base.toml", "-q")
    assert done.returncode == 0, done.stderr
    assert (scratch / "results" / "base" / "manifest.json").exists()  # the name was freed and reused
    assert (other / "mine.txt").read_text(encoding="utf-8") == "mine"


def test_a_claim_by_a_live_process_is_respected(scratch):
    results = scratch / "results"
    results.mkdir()
    busy = results / "base"
    busy.mkdir()
    (busy / folders.OWNER_FILE).write_text(
        json.dumps({"pid": os.getppid(), "host": os.uname().nodename, "start": None}), encoding="utf-8"
    )
    proc = cli(scratch, "run", "base.toml", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (results / "base-2" / "manifest.json").exists()
    assert busy.exists() and [p.name for p in busy.iterdir()] == [folders.OWNER_FILE]
    refused = cli(scratch, "run", "base.toml", "--out", "results/base", "--overwrite", "-q")
    assert refused.returncode == 2 and "another pipeline-sim process" in refused.stderr


def test_overwrite_replaces_only_a_folder_of_pipeline_sim_results(scratch):
    assert cli(scratch, "run", "base.toml", "--out", "res", "-q").returncode == 0
    (scratch / "res" / "my_notes.txt").write_text("mine", encoding="utf-8")
    before = tree(scratch / "res")
    proc = cli(scratch, "run", "base.toml", "--out", "res", "--overwrite", "-q")
    assert proc.returncode == 2 and "other files" in proc.stderr
    assert tree(scratch / "res") == before
    (scratch / "res" / "my_notes.txt").unlink()
    # a leftover from an earlier interrupted replacement does not get in the way
    (scratch / ".res.old").mkdir()
    (scratch / ".res.old" / "x").write_text("x", encoding="utf-8")
    proc = cli(scratch, "run", "base.toml", "--out", "res", "--overwrite", "--seed", "9", "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((scratch / "res" / "manifest.json").read_text(encoding="utf-8"))["seeds"] == [9]
    hidden = sorted(p.name for p in scratch.iterdir() if p.name.startswith("."))
    assert hidden == [".res.old"], "no staging or set-aside folders left, and nothing else removed"


def test_compare_overwrite_with_a_leftover_old_folder(scratch):
    args = ["compare", "base.toml", "base.toml", "--reps", "1", "--years", "1", "--workers", "1", "-q"]
    assert cli(scratch, *args, "--out", "cmp").returncode == 0
    (scratch / ".cmp.old").mkdir()
    (scratch / ".cmp.old" / "x").write_text("x", encoding="utf-8")
    proc = cli(scratch, *args, "--out", "cmp", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert (scratch / "cmp" / "report.html").exists()
    assert (scratch / ".cmp.old" / "x").exists()


def test_concurrent_comparisons_into_the_default_folder_keep_both(scratch):
    args = ["compare", "base.toml", "base.toml", "--reps", "1", "--years", "1", "--workers", "1", "-q"]
    procs = [_start(scratch, *args, "--seed", str(s)) for s in (3, 4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    made = sorted(p.name for p in (scratch / "results").iterdir())
    assert made == ["compare-base-vs-base-2", "compare-base-vs-base-2-2"]
    seeds = {json.loads((scratch / "results" / m / "comparison.json").read_text())["seed"] for m in made}
    assert seeds == {3, 4}


def test_the_api_refuses_to_write_over_the_working_folder(scratch, monkeypatch):
    from pipeline_sim import run
    from pipeline_sim.api import OutputError

    monkeypatch.chdir(scratch)
    result = run(str(scratch / "base.toml"), years=1)
    before = tree(scratch.parent)
    for out in ("results/..", ".", str(scratch.parent)):
        with pytest.raises(OutputError, match="working folder"):
            result.save(out, overwrite=True)
    assert tree(scratch.parent) == before
    assert result.save("fresh").name == "fresh"
    assert not (scratch / "fresh" / folders.OWNER_FILE).exists()


def test_folder_names_made_from_scenario_names_are_safe():
    assert folders.folder_name("compare-a-vs-b") == "compare-a-vs-b"
    long = folders.folder_name("compare-" + "-vs-".join(["x" * 60] * 3))
    assert len(long) <= 100 and folders.check_name(long)
    assert folders.folder_name("..") != ".." and not folders.folder_name("../a").startswith(".")


def test_a_staging_folder_of_a_dead_run_is_removed_but_complete_results_are_kept(scratch):
    results = scratch / "results"
    results.mkdir()
    dead = {"pid": 2**22 + 12345, "host": os.uname().nodename, "start": None}
    for name in (".base.new-0000", "kept"):
        folder = results / name
        folder.mkdir()
        (folder / folders.OWNER_FILE).write_text(json.dumps(dead), encoding="utf-8")
        (folder / "manifest.json").write_text("{}", encoding="utf-8")
    assert cli(scratch, "run", "base.toml", "-q").returncode == 0
    assert not (results / ".base.new-0000").exists()
    assert (results / "kept" / "manifest.json").exists()


def test_spool_folders_of_killed_runs_are_removed_at_the_next_run(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = {"pid": 2**22 + 4321, "host": os.uname().nodename, "start": None}
    stale = tmp_path / "pipeline-sim-run-old"
    stale.mkdir()
    (stale / folders.OWNER_FILE).write_text(json.dumps(dead), encoding="utf-8")
    (stale / "events-0000.parquet").write_bytes(b"x")
    other = tmp_path / "pipeline-sim-run-mine"
    other.mkdir()
    (other / folders.OWNER_FILE).write_text(json.dumps(dead), encoding="utf-8")
    (other / "notes.txt").write_text("not ours", encoding="utf-8")
    new = folders.spool_folder()
    assert not stale.exists() and other.exists(), "only folders holding spooled tables are removed"
    assert new.exists() and folders.claimed_by_me(new)

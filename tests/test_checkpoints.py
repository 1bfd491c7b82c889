"""Checkpoints: run files carry their run's identity, and a resume uses only files that read
completely and are the run's own; folders that cannot be written are refused before any run."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from cli_helper import cli

from pipeline_sim import experiment, folders
from pipeline_sim.compare import compare, load_all
from pipeline_sim.experiment import (
    IDENTITY_KEY,
    ExperimentError,
    RunSpec,
    check_writable,
    execute,
    remove_stale_temporaries,
    run_identity,
)

TEACH = {"name": "teach", "hierarchy": {"preset": "teaching"}}


def _scenarios(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    (tmp_path / "open.toml").write_text(
        'extends = "base.toml"\nname = "open"\n[planning]\nmode = "open"\n', encoding="utf-8"
    )
    return load_all([tmp_path / "base.toml", tmp_path / "open.toml"])


def _specs(n):
    return [RunSpec(f"r{i}", TEACH, seed=100 + i, years=2, labels={"scenario": "teach"}) for i in range(n)]


def test_a_run_file_carries_the_run_identity(tmp_path):
    spec = _specs(1)[0]
    execute([spec], tmp_path, workers=1)
    meta = pq.read_schema(tmp_path / "runs" / "r0.parquet").metadata
    found = json.loads(meta[IDENTITY_KEY])
    assert found == run_identity(spec)
    assert set(found) >= {"run", "seed", "years", "scenario_sha256", "version"}
    assert found["run"] == "r0" and found["seed"] == 100
    other = RunSpec("r0", {**TEACH, "planning": {"mode": "open"}}, seed=100, years=2, labels=spec.labels)
    assert run_identity(other)["scenario_sha256"] != found["scenario_sha256"]


def test_damaged_and_foreign_run_files_are_recomputed_on_resume(tmp_path):
    scens = _scenarios(tmp_path)
    fresh = tmp_path / "fresh"
    compare(scens, reps=3, seed=1, years=3, folder=fresh, workers=1)
    folder = tmp_path / "resumed"
    shutil.copytree(fresh, folder)
    runs = folder / "runs"
    (runs / "base-r0000.parquet").write_bytes(b"")  # empty
    whole = (runs / "base-r0001.parquet").read_bytes()
    (runs / "base-r0001.parquet").write_bytes(whole[: len(whole) // 2])  # truncated
    shutil.copy(runs / "open-r0000.parquet", runs / "base-r0002.parquet")  # another run's valid file
    old = pd.read_parquet(runs / "open-r0001.parquet")
    old.to_parquet(runs / "open-r0001.parquet", index=False)  # the right data, but no identity
    (runs / "open-r0002.parquet").write_bytes(b"PAR1" + bytes(2000) + b"PAR1")  # garbage
    kept = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet") if p.name == "open-r0000.parquet"}

    messages: list[str] = []
    compare(scens, reps=3, seed=1, years=3, folder=folder, workers=1, resume=True, notify=messages.append)

    text = "\n".join(messages)
    assert len(messages) == 5, text
    for name, why in [
        ("base-r0000.parquet", "empty file"),
        ("base-r0001.parquet", "unreadable"),
        ("base-r0002.parquet", "holds run 'open-r0000', not 'base-r0002'"),
        ("open-r0001.parquet", "no run identity"),
        ("open-r0002.parquet", "unreadable"),
    ]:
        line = next(m for m in messages if name in m)
        assert why in line and "computed again" in line, line
    assert {p.name: p.stat().st_mtime_ns for p in runs.glob("open-r0000.parquet")} == kept
    pd.testing.assert_frame_equal(
        pd.read_parquet(folder / "data.parquet"), pd.read_parquet(fresh / "data.parquet")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(folder / "outcomes.parquet"), pd.read_parquet(fresh / "outcomes.parquet")
    )


def test_a_file_of_the_same_run_id_but_another_definition_is_not_trusted(tmp_path):
    spec = _specs(1)[0]
    execute([spec], tmp_path / "a", workers=1)
    other = RunSpec("r0", TEACH, seed=999, years=2, labels=spec.labels)
    messages: list[str] = []
    data = execute([other], tmp_path / "a", workers=1, notify=messages.append)
    assert len(messages) == 1 and "another definition" in messages[0] and "seed" in messages[0]
    assert set(data["seed"]) == {999}


def test_an_untrusted_file_is_a_warning_by_default(tmp_path):
    spec = _specs(1)[0]
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "r0.parquet").write_bytes(b"")
    with pytest.warns(experiment.CheckpointWarning, match=r"r0\.parquet: empty file"):
        execute([spec], tmp_path, workers=1)


def test_the_command_line_names_a_damaged_run_file_and_recomputes_it(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    args = ["compare", "base.toml", "base.toml", "--reps", "2", "--years", "3", "--workers", "1", "-q"]
    first = cli(tmp_path, *args, "--out", "a")
    assert first.returncode == 0, first.stderr
    damaged = tmp_path / "a" / "runs" / "base-r0001.parquet"
    damaged.write_bytes(damaged.read_bytes()[:100])
    again = cli(tmp_path, *args, "--out", "a", "--resume")
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert "warning:" in again.stderr and "base-r0001.parquet" in again.stderr
    assert "unreadable" in again.stderr
    assert pq.read_schema(damaged).metadata[IDENTITY_KEY]


# ---------------------------------------------------------------------------------------------
# half-written files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_half_written_files_are_removed_only_when_their_writer_is_gone(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    host = experiment._host_tag()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = runs / f".r0.parquet.{host}.{_dead_pid()}.tmp"
        running = runs / f".r1.parquet.{host}.{live.pid}.tmp"
        elsewhere = runs / f".r2.parquet.other-host.{_dead_pid()}.tmp"
        unnamed = runs / ".r3.parquet.tmp"  # written before files named their writer
        for p in (dead, running, elsewhere, unnamed):
            p.write_bytes(b"half")
        execute(_specs(1), tmp_path, workers=1)
        assert not dead.exists() and not unnamed.exists()
        assert running.exists(), "the file of a running writer was removed"
        assert elsewhere.exists(), "the file of a writer on another host was removed"
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temporaries(runs) == [running]


# ---------------------------------------------------------------------------------------------
# folders that cannot be written


def _no_runs(monkeypatch):
    def refuse(spec):
        raise AssertionError("a run was computed")

    monkeypatch.setattr(experiment, "simulate_run", refuse)


@pytest.mark.parametrize("where", ["runs", "folder"])
def test_a_folder_where_no_file_can_be_created_is_refused_before_any_run(tmp_path, monkeypatch, where):
    folder = tmp_path / "exp"
    (folder / "runs").mkdir(parents=True)
    locked = folder / "runs" if where == "runs" else folder
    real = folders.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):
        if Path(dir) == locked:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kw)

    # permission bits say yes (as for root, or on a read-only mount): only creating a file tells
    assert os.access(locked, os.W_OK)
    monkeypatch.setattr(folders.tempfile, "mkstemp", mkstemp)
    _no_runs(monkeypatch)
    with pytest.raises(ExperimentError, match=rf"{locked.name}: not writable \(Permission denied\)"):
        execute(_specs(2), folder, workers=1)


def test_the_write_probe_creates_and_removes_a_file(tmp_path):
    check_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExperimentError, match="not writable"):
        check_writable(tmp_path / "missing")


PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1


def _without_override() -> None:
    """In the child, before exec: as root, give up the right to write where permissions say no."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE")


def _run_unprivileged(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="120")
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=_without_override,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drops a Linux capability when root")
@pytest.mark.parametrize("where", ["runs", "folder"])
def test_a_read_only_folder_is_refused_on_resume_before_any_run(tmp_path, where):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    args = [
        "compare",
        "base.toml",
        "base.toml",
        "--reps",
        "2",
        "--years",
        "2",
        "--workers",
        "1",
        "--out",
        "a",
        "-q",
    ]
    first = cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    runs = tmp_path / "a" / "runs"
    (runs / "base-r0001.parquet").unlink()
    locked = runs if where == "runs" else tmp_path / "a"
    locked.chmod(0o555)
    try:
        try:
            probe = _run_unprivileged(tmp_path, "-c", f"open({str(locked / 'probe')!r}, 'w')")
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"cannot run a process that obeys permissions: {exc}")
        if probe.returncode == 0:
            pytest.skip("cannot make a folder read-only for this user")
        proc = _run_unprivileged(tmp_path, "-m", "pipeline_sim.cli", *args, "--resume")
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert f"{locked.name}: not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "base-r0001.parquet").exists()

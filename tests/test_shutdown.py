"""Clean shutdown: no worker process (nor multiprocessing's resource tracker) outlives a killed
`compare` or `sweep`, whether the kernel or the workers' own watcher ends them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every live descendant of `root`: pid -> start time."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents[int(entry)] = st
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        for pid, (state, ppid, start) in parents.items():
            if ppid == p and pid not in out and state != "Z":
                out[pid] = start
                todo.append(pid)
    return out


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start  # a zombie or a new process: gone


def _wait_gone(procs: dict[int, int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [pid for pid, start in procs.items() if _alive(pid, start)]
        if not left:
            return []
        time.sleep(0.1)
    return left


def _kill_all(procs: dict[int, int]) -> None:
    for pid, start in procs.items():
        if _alive(pid, start):
            os.kill(pid, signal.SIGKILL)


def test_workers_and_resource_tracker_end_when_compare_is_killed(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    out = tmp_path / "cmp"
    cmd = [
        sys.executable,
        "-m",
        "pipeline_sim.cli",
        "compare",
        "base.toml",
        "base.toml",
        "--reps",
        "60",
        "--years",
        "6",
    ]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--out", str(out), "-q"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((out / "runs").glob("*.parquet")):
            assert proc.poll() is None, "the comparison ended before it could be killed"
            time.sleep(0.05)
        children = _descendants(proc.pid)
        assert len(children) >= 2, f"expected two worker processes, found {children}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = _wait_gone(children, 10)
        assert not left, f"processes still alive 10 s after the parent was killed: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(children)


CHILD = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from pathlib import Path

    from pipeline_sim.experiment import end_with_parent

    def child(parent, ready):
        end_with_parent(parent, kernel_signal=False)
        Path(ready).touch()
        while True:  # busy, as a worker in a run
            sum(range(1000))

    if __name__ == "__main__":
        ready = sys.argv[2]
        p = multiprocessing.get_context(sys.argv[1]).Process(target=child, args=(os.getpid(), ready))
        p.start()
        time.sleep(600)
    """
)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_without_the_kernel_signal_a_worker_still_ends_with_its_parent(tmp_path, method):
    script = tmp_path / "parent.py"
    script.write_text(CHILD, encoding="utf-8")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(script), method, str(ready)], cwd=tmp_path)
    children: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ready.exists():
            assert proc.poll() is None
            time.sleep(0.05)
        assert ready.exists()
        children = _descendants(proc.pid)
        assert children
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not _wait_gone(children, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(children)

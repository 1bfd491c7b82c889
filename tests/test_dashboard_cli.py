"""`pipeline-sim dashboard`: its options, its errors, and the server it starts on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from cli_helper import cli
from typer.testing import CliRunner

from pipeline_sim import cli as cli_module

GOOD = 'title = "T"\n[[steps]]\ntitle = "S"\na = { planning_mode = "open" }\n'


def test_help_names_the_defaults(tmp_path):
    res = cli(tmp_path, "dashboard", "--help")
    assert res.returncode == 0
    assert "127.0.0.1" in res.stdout and "--lessons" in res.stdout and "--port" in res.stdout


def test_a_bad_lesson_is_reported_before_the_server_starts(tmp_path):
    (tmp_path / "bad.toml").write_text(GOOD.replace("planning_mode", "planing_mode"), encoding="utf-8")
    res = cli(tmp_path, "dashboard", "--lessons", str(tmp_path))
    assert res.returncode == 2
    assert "bad.toml: steps.0.a: planing_mode: unknown control" in res.stderr


def test_a_bad_scenario_is_reported_before_the_server_starts(tmp_path):
    (tmp_path / "s.toml").write_text('[planning]\nmode = "sideways"\n', encoding="utf-8")
    res = cli(tmp_path, "dashboard", "s.toml")
    assert res.returncode == 2 and "planning.mode" in res.stderr


def test_without_solara_it_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "solara" else real(name, *a)
    )
    res = CliRunner().invoke(cli_module.app, ["dashboard"])
    assert res.exit_code == 2
    assert 'pip install "pipeline-sim[dashboard]"' in res.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_server_listens_on_127_0_0_1_only(tmp_path):
    pytest.importorskip("solara")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline_sim.cli", "dashboard", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        body, end = None, time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, "the dashboard did not answer on 127.0.0.1"
        assert "solara" in body.lower()
        assert "cdn.jsdelivr" not in body and "unpkg.com" not in body  # assets from this server
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        if listening.returncode == 0 and listening.stdout.strip():
            assert f"127.0.0.1:{port}" in listening.stdout
            assert f"0.0.0.0:{port}" not in listening.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_without_the_local_assets_it_says_how_to_install_them(tmp_path):
    pytest.importorskip("solara")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    env.update(NO_COLOR="1", TERM="dumb", SOLARA_ASSETS_PROXY_CACHE_DIR=str(tmp_path / "none"))
    res = subprocess.run(
        [sys.executable, "-m", "pipeline_sim.cli", "dashboard", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "solara-assets" in res.stderr and 'pip install "pipeline-sim[dashboard]"' in res.stderr

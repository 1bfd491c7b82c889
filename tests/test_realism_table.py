"""The real-vs-simulated table is rebuilt from a results folder alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline_sim import load_scenario, run

SCRIPT = Path(__file__).resolve().parent.parent / "experiments" / "realism" / "table.py"


def test_the_table_is_rebuilt_from_the_outputs(tmp_path):
    scen = load_scenario({"hierarchy": {"preset": "teaching"}, "simulation": {"years": 6}})
    folder = run(scen, reps=1, seed=2).save(tmp_path / "res")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| what | real | simulated |")
    row = next(line for line in lines if line.startswith("| women among provincial party secretaries"))
    assert "(2021)" in row and "%" in row
    grades = next(line for line in lines if line.startswith("| assessment grades"))
    assert grades.count(" / ") >= 3
    age = next(line for line in lines if line.startswith("| mean age of provincial secretaries at election"))
    assert "(2026)" in age  # the congress at the end of the first term


def test_a_folder_without_the_outputs_gets_a_clear_message(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "metrics.parquet" in proc.stderr and "Traceback" not in proc.stderr

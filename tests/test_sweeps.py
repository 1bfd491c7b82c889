"""Sweeps: parsing --vary, design sizes, the experiment table, sensitivity, Dask execution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cli_helper import cli

from pipeline_sim.experiment import ExperimentError, RunSpec, execute
from pipeline_sim.sweep import Factor, design_points, parse_vary, sensitivity

TEACH = {"name": "teach", "hierarchy": {"preset": "teaching"}}


def test_vary_parses_ranges_integers_and_categories():
    f = parse_vary(["planning.max_candidates=1:3", "rotation.rate=0:0.3", "planning.mode=open,closed"], TEACH)
    assert (f[0].key, f[0].low, f[0].high, f[0].integer) == ("planning.max_candidates", 1.0, 3.0, True)
    assert (f[1].integer, f[1].high) == (False, 0.3)
    assert f[2].categories == ["open", "closed"]
    assert f[0].values(5) == [1, 2, 3]


@pytest.mark.parametrize(
    "item, message",
    [
        ("planning.max_candidate=1:3", "planning.max_candidate"),  # unknown key
        ("planning.max_candidates=3:1", "empty range"),
        ("planning.max_candidates=2:2", "empty range"),
        ("planning.mode=open", "at least two values"),
        ("planning.mode=open,sideways", "planning.mode"),  # not an allowed value
        ("rotation.rate=0:1.5", "rotation.rate"),  # a share above 1
        ("planning.max_candidates", "KEY=LOW:HIGH"),
    ],
)
def test_bad_vary_is_an_error_naming_the_key(item, message):
    with pytest.raises(ExperimentError, match=message.replace(".", r"\.")):
        parse_vary([item], TEACH)


def test_design_sizes():
    factors = [Factor("a", 0.0, 1.0), Factor("b", categories=["x", "y"])]
    assert len(design_points(factors, "factorial", 0, 3, 1)[0]) == 6
    assert len(design_points(factors, "lhs", 10, 3, 1)[0]) == 10
    assert len(design_points(factors, "sobol", 8, 3, 1)[0]) == 8 * (2 + 2)
    assert len(design_points(factors, "morris", 5, 3, 1)[0]) == 5 * (2 + 1)
    rows = design_points(factors, "sobol", 8, 3, 1)[0]
    assert {r[1] for r in rows} <= {"x", "y"} and all(0 <= r[0] <= 1 for r in rows)


def test_sobol_indices_find_the_parameter_that_matters():
    factors = [Factor("a", 0.0, 1.0), Factor("b", 0.0, 1.0)]
    rows, problem, x = design_points(factors, "sobol", 256, 3, 1)
    table = pd.DataFrame({"point": np.arange(len(rows)), "y": [4 * r[0] ** 2 + 0.01 * r[1] for r in rows]})
    idx = sensitivity("sobol", problem, x, table, ["y"]).set_index("parameter")
    assert idx.loc["a", "ST"] > 0.9 and idx.loc["b", "ST"] < 0.05
    assert idx.loc["a", "S1"] > idx.loc["b", "S1"]


def test_sweep_writes_one_row_per_run_with_inputs_seed_and_outcomes(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(
        tmp_path,
        "sweep",
        "base.toml",
        "--vary",
        "planning.mode=open,closed",
        "--vary",
        "planning.max_candidates=1:3",
        "--design",
        "factorial",
        "--levels",
        "2",
        "--reps",
        "2",
        "--years",
        "3",
        "--workers",
        "2",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "results" / "sweep-base"
    table = pd.read_parquet(folder / "experiments.parquet")
    assert len(table) == 4 * 2
    assert {"point", "rep", "seed", "planning.mode", "planning.max_candidates", "succession_gap_rate"} <= set(
        table
    )
    # common random numbers: every point uses the same replication seeds
    assert table.groupby("point")["seed"].apply(tuple).nunique() == 1
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<script src" not in page


def test_bad_sweep_input_fails_before_any_run(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(tmp_path, "sweep", "base.toml", "--vary", "planning.nope=1:2", "-q")
    assert proc.returncode != 0 and "planning.nope" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


def test_runs_on_a_local_dask_cluster_give_the_same_results(tmp_path):
    pytest.importorskip("distributed")
    specs = [RunSpec(f"r{i}", TEACH, seed=40 + i, years=2, labels={"scenario": "teach"}) for i in range(3)]
    local = execute(specs, tmp_path / "local", workers=1)
    dask = execute(specs, tmp_path / "dask", scheduler="local")
    pd.testing.assert_frame_equal(local, dask)


def test_sobol_needs_a_power_of_two():
    with pytest.raises(ExperimentError, match="power of 2"):
        design_points([Factor("a", 0.0, 1.0)], "sobol", 100, 3, 1)


def test_an_invalid_combination_of_values_fails_before_any_run(tmp_path):
    (tmp_path / "base.toml").write_text('[hierarchy]\npreset = "teaching"\n', encoding="utf-8")
    proc = cli(
        tmp_path,
        "sweep",
        "base.toml",
        "--vary",
        "assessment.band_good=60:85",
        "--vary",
        "assessment.band_excellent=75:95",
        "--design",
        "factorial",
        "--levels",
        "2",
        "--years",
        "2",
        "--out",
        "sw",
        "-q",
    )
    assert proc.returncode != 0 and "not a valid scenario" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "sw").exists()

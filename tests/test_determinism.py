"""Reproducibility: same seed, same bytes; different seeds, different runs; Mesa's batch runner."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

from pipeline_sim import PipelineModel, load_scenario, run
from pipeline_sim.model import HEADLINE


def test_same_seed_writes_byte_identical_metrics_and_events(teaching, tmp_path):
    scenario = load_scenario(teaching)
    first = run(scenario, reps=2, seed=4).save(tmp_path / "first")
    second = run(scenario, reps=2, seed=4).save(tmp_path / "second")
    for name in ("metrics.parquet", "events.parquet", "holders.parquet", "posts.parquet", "units.parquet"):
        a, b = (first / name).read_bytes(), (second / name).read_bytes()
        assert len(a) > 0
        assert a == b, f"{name} differs between two runs with the same seed"


def test_same_seed_gives_the_same_model_state(teaching):
    a = PipelineModel(teaching, seed=9, years=3).run()
    b = PipelineModel(teaching, seed=9, years=3).run()
    for name in ("uid", "birth", "competence", "post", "grades", "t_retire"):
        np.testing.assert_array_equal(a.cadres.columns[name], b.cadres.columns[name])
    np.testing.assert_array_equal(a.pools, b.pools)


def test_different_seeds_give_different_metrics(teaching):
    result = run(load_scenario(teaching), reps=2, seed=1)
    by_seed = {
        s: f.drop(columns=["rep", "seed"]).reset_index(drop=True) for s, f in result.metrics.groupby("seed")
    }
    assert sorted(by_seed) == [1, 2]
    a, b = by_seed[1], by_seed[2]
    assert not (len(a) == len(b) and np.array_equal(a["value"].to_numpy(), b["value"].to_numpy()))


def test_replication_i_uses_seed_plus_i(teaching):
    result = run(load_scenario(teaching), reps=3, seed=10)
    assert result.seeds == [10, 11, 12]
    assert sorted(result.metrics["seed"].unique()) == [10, 11, 12]
    assert sorted(result.metrics["rep"].unique()) == [0, 1, 2]
    alone = PipelineModel(load_scenario(teaching), seed=11, years=3).run().metrics_frame()
    rep1 = result.metrics[result.metrics["rep"] == 1]
    np.testing.assert_array_equal(rep1["value"].to_numpy(), alone["value"].to_numpy())


def test_switching_off_the_event_log_changes_no_metric(teaching):
    """Common random numbers: a setting that only changes what is written changes no outcome."""
    base = PipelineModel(teaching, seed=3, years=3).run()
    quiet = PipelineModel(
        teaching, seed=3, years=3, **{"output.event_log": False, "output.planning_events": False}
    ).run()
    assert len(base.events_frame()) > 0 and len(quiet.events_frame()) == 0
    pd.testing.assert_frame_equal(base.metrics_frame(), quiet.metrics_frame())


def test_a_reporting_weight_changes_only_its_metric(teaching):
    base = PipelineModel(teaching, seed=3, years=3).run().metrics_frame()
    weights = {"head": 1.0, "deputy": 1.0, "member": 1.0}
    other = (
        PipelineModel(teaching, seed=3, years=3, **{"metrics.rank_weights": weights}).run().metrics_frame()
    )
    same = base["metric"] != "org_performance"
    pd.testing.assert_frame_equal(
        base[same].reset_index(drop=True), other[other["metric"] != "org_performance"].reset_index(drop=True)
    )
    assert not np.allclose(base.loc[~same, "value"], other.loc[other["metric"] == "org_performance", "value"])


def test_a_policy_change_leaves_the_initial_population_alone(teaching):
    """Common random numbers: two policies start from the same cadres."""
    closed = PipelineModel(teaching, seed=3, years=3)
    open_ = PipelineModel(teaching, seed=3, years=3, **{"planning.mode": "open"})
    for name in ("uid", "birth", "female", "competence", "integrity", "unit", "post"):
        np.testing.assert_array_equal(closed.cadres.columns[name], open_.cadres.columns[name])


def test_batch_run_sweeps_policies_and_seeds(teaching_file):
    rows = mesa.batch_run(
        PipelineModel,
        parameters={
            "scenario": str(teaching_file),
            "seed": [1, 2],
            "planning.mode": ["open", "closed"],
            "years": 3,
        },
        iterations=1,
        max_steps=100,
        display_progress=False,
    )
    frame = pd.DataFrame(rows)
    assert len(frame) == 4
    assert set(zip(frame["seed"], frame["planning.mode"], strict=True)) == {
        (1, "open"),
        (1, "closed"),
        (2, "open"),
        (2, "closed"),
    }
    for column in ("year", *HEADLINE):
        assert column in frame.columns, f"DataCollector reporter {column} missing"
    assert (frame["year"] == 2023).all(), "the last recorded year is reported"
    assert frame["cadres"].gt(1000).all()
    # the policy lever reached the model: open planning fills pools from a wider field
    wide = frame.pivot(index="seed", columns="planning.mode", values="ready_successors_per_post")
    assert (wide["open"] != wide["closed"]).all()


def test_batch_run_rows_match_a_direct_run(teaching_file):
    rows = mesa.batch_run(
        PipelineModel,
        parameters={"scenario": str(teaching_file), "seed": 5, "years": 3},
        iterations=1,
        max_steps=100,
        display_progress=False,
    )
    model = PipelineModel(str(teaching_file), seed=5, years=3).run()
    direct = model.datacollector.get_model_vars_dataframe().iloc[-1]
    assert len(rows) == 1
    for name in HEADLINE:
        assert rows[0][name] == pytest.approx(direct[name], nan_ok=True)


def test_batch_run_works_with_burn_in_years(teaching_file):
    rows = mesa.batch_run(
        PipelineModel,
        parameters={"scenario": str(teaching_file), "seed": 1, "years": 3, "simulation.burn_in_years": 2},
        iterations=1,
        max_steps=100,
        display_progress=False,
    )
    assert rows[-1]["year"] == 2023


def test_the_sort_used_changes_no_result(monkeypatch):
    """Machines with and without numpy's AVX-512 sort take different sorts (`kernels.SIMD_SORT`)
    for the same orders: every metric and event the same, on a structure large enough for the
    sorts of tens of thousands of cadres."""
    from pipeline_sim import kernels
    from pipeline_sim import model as model_module

    frames = {}
    for simd in (True, False):
        monkeypatch.setattr(kernels, "SIMD_SORT", simd)
        monkeypatch.setattr(model_module, "SIMD_SORT", simd)
        m = PipelineModel("scenarios/baseline.toml", seed=2, years=4, **{"hierarchy.scale": 0.05}).run()
        assert m.cadres.n > 4 * kernels._QUICK_FROM
        frames[simd] = (m.metrics_frame(), m.events_frame())
    pd.testing.assert_frame_equal(frames[True][0], frames[False][0])
    pd.testing.assert_frame_equal(frames[True][1], frames[False][1])

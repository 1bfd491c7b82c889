"""Metrics by level, sector and rank (ranks.parquet): head counts, ages, appointments, grades and
exits by cause for each rank of post and for the staff pool, adding up to the metrics by level and
sector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline_sim import PipelineModel, load_scenario, run
from pipeline_sim.metrics import RANK_METRICS, RANK_PLACES
from pipeline_sim.world.cadres import ACTIVE, EXIT_CAUSES

TEACHING = {"name": "t", "hierarchy": {"preset": "teaching"}}


@pytest.fixture(scope="module")
def model():
    return PipelineModel(TEACHING, seed=7, years=6).run()


def _wide(frame: pd.DataFrame, **at) -> pd.DataFrame:
    sel = np.ones(len(frame), dtype=bool)
    for col, value in at.items():
        sel &= frame[col].astype(str) == value
    return frame[sel]


def test_ranks_add_up_to_the_metrics_by_level_and_sector(model):
    ranks, metrics = model.ranks_frame(), model.metrics_frame()
    by_rank = ranks.groupby(["year", "level", "sector", "rank", "metric"], observed=True)["value"].sum()
    flat = metrics.set_index(["year", "level", "sector", "metric"])["value"]
    for at in ((y, lv, sc) for y in (2021, 2026) for lv in ("district", "all") for sc in ("party", "all")):

        def r(metric, ranks=RANK_PLACES, at=at):
            return sum(by_rank.get((*at, k, metric), 0.0) for k in ranks)

        def m(metric, at=at):
            return flat.get((*at, metric), 0.0)

        assert r("cadres") == m("cadres")
        assert r("cadres", RANK_PLACES[:3]) == m("holders")
        assert r("cadres", ("staff",)) == m("staff")
        assert r("appointments") == m("appointments")
        for cause in EXIT_CAUSES:
            assert r(f"exits_{cause}") == m(f"exits_{cause}")
            assert r(f"exits_{cause}", ("staff",)) == m(f"exits_{cause}_staff")


def test_head_counts_ages_and_grades_by_rank_are_those_of_the_cadres(model):
    c = model.cadres
    ranks = _wide(model.ranks_frame(), year=str(model.year), level="all", sector="all")
    rank = np.where(c.post >= 0, c.grade % 4, 3)
    active = c.status == ACTIVE
    for code, name in enumerate(RANK_PLACES):
        rows = active & (rank == code)
        at = ranks[ranks["rank"].astype(str) == name].set_index("metric")["value"]
        assert at["cadres"] == rows.sum()
        assert at["age_mean"] == pytest.approx((model.year + 0.5 - c.birth[rows]).mean())
        shares = [at[f"grade_{g}_share"] for g in ("excellent", "good", "completed", "not_completed")]
        assert sum(shares) == pytest.approx(1.0)


def test_run_writes_the_rank_table(tmp_path):
    result = run(load_scenario({**TEACHING, "simulation": {"years": 2}}), reps=2, seed=3)
    assert set(result.ranks["rep"]) == {0, 1} and set(result.ranks["metric"].astype(str)) <= set(RANK_METRICS)
    folder = result.save(tmp_path / "res")
    written = pd.read_parquet(folder / "ranks.parquet")
    assert list(written.columns) == [
        "scenario",
        "rep",
        "seed",
        "year",
        "level",
        "sector",
        "rank",
        "metric",
        "value",
    ]
    assert len(written) == len(result.ranks)

"""Selection beyond assessed merit: the score gap of women and the weight of experience act where
planning and appointments rank candidates, never in the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import PipelineModel, load_scenario
from pipeline_sim.world.rules import selection_score


def _model(**appointment) -> PipelineModel:
    return PipelineModel(
        {"hierarchy": {"preset": "teaching"}, "simulation": {"years": 1}, "appointment": appointment}, seed=2
    )


@pytest.mark.parametrize("rule", ["merit", "seniority", "worst_first"])
def test_a_woman_with_the_same_record_ranks_below_a_man_by_the_gap(rule):
    m = _model(female_score_gap=5.0)
    c = m.cadres
    a, b = np.flatnonzero(c.status == 0)[:2]
    for col in ("merit", "entry_year", "lead_years"):
        c.columns[col][b] = c.columns[col][a]
    c.female[a], c.female[b] = True, False
    rows = np.array([a, b])
    score = selection_score(m, rows, rule, "selection")
    expected = -5.0 if rule != "worst_first" else 5.0
    assert score[0] - score[1] == pytest.approx(expected)


def test_experience_adds_points_by_year_of_service_and_of_leadership():
    m = _model(service_weight=0.5, leadership_weight=2.0)
    c = m.cadres
    a, b = np.flatnonzero(c.status == 0)[:2]
    c.merit[b] = c.merit[a]
    c.female[b] = c.female[a]
    c.entry_year[a], c.entry_year[b] = m.year - 10, m.year - 4
    c.lead_years[a], c.lead_years[b] = 3, 1
    score = selection_score(m, np.array([a, b]), "merit", "selection")
    assert score[0] - score[1] == pytest.approx(0.5 * 6 + 2.0 * 2)


def test_leadership_years_count_the_years_in_posts():
    m = PipelineModel({"hierarchy": {"preset": "teaching"}, "simulation": {"years": 3}}, seed=1)
    c = m.cadres
    held = np.flatnonzero(c.post >= 0)
    before = c.lead_years[held].copy()
    uid = c.uid[held]
    m.step()
    still = np.isin(c.uid, uid) & (c.post >= 0)
    rows = np.flatnonzero(still)
    start = dict(zip(uid, before, strict=True))
    gained = c.lead_years[rows] - np.array([start[u] for u in c.uid[rows]])
    assert (gained == 1).all()
    staff = np.flatnonzero((c.status == 0) & (c.post < 0) & (c.lead_years == 0))
    assert len(staff) > 0


def test_the_gap_lowers_the_share_of_women_in_office_under_the_same_seeds():
    base = {"hierarchy": {"preset": "teaching"}, "simulation": {"years": 10}}
    shares = {}
    for gap in (0.0, 30.0):
        values = []
        for seed in (1, 2, 3):
            scen = load_scenario({**base, "appointment": {"female_score_gap": gap}})
            m = PipelineModel(scen, seed=seed).run()
            values.append(m.headline("women_in_office"))
        shares[gap] = np.mean(values)
    assert shares[30.0] < shares[0.0] - 0.02


def test_no_gap_and_no_weights_leave_results_as_they_were():
    plain = PipelineModel({"hierarchy": {"preset": "teaching"}, "simulation": {"years": 4}}, seed=5).run()
    zero = PipelineModel(
        {
            "hierarchy": {"preset": "teaching"},
            "simulation": {"years": 4},
            "appointment": {"female_score_gap": 0.0, "service_weight": 0.0, "leadership_weight": 0.0},
        },
        seed=5,
    ).run()
    assert plain.metrics_frame().equals(zero.metrics_frame())


@pytest.mark.parametrize(
    "key, value", [("female_score_gap", 101.0), ("service_weight", -1.0), ("leadership_weight", float("nan"))]
)
def test_bad_preferences_are_refused(key, value):
    from pipeline_sim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=f"appointment.{key}"):
        load_scenario({"hierarchy": {"preset": "teaching"}, "appointment": {key: value}})

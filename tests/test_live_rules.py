"""change_rules: a running model's rules changed between years, from the next year on."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import PipelineModel
from pipeline_sim.live import change_rules
from pipeline_sim.scenario import ScenarioError


def _run(model: PipelineModel, years: int) -> list[float]:
    out = []
    for _ in range(years):
        model.step()
        out.append(model.headline("bench_strength"))
    return out


def test_a_change_to_the_same_value_changes_nothing(teaching):
    a, b = PipelineModel(teaching, seed=3, years=6), PipelineModel(teaching, seed=3, years=6)
    _run(a, 2), _run(b, 2)
    change_rules(b, {"planning.mode": "closed", "planning.max_candidates": 3})
    assert _run(a, 4) == _run(b, 4)
    assert a.metrics_frame().equals(b.metrics_frame())


def test_a_change_applies_from_the_next_year_only(teaching):
    a, b = PipelineModel(teaching, seed=3, years=6), PipelineModel(teaching, seed=3, years=6)
    before_a, before_b = _run(a, 2), _run(b, 2)
    assert before_a == before_b
    change_rules(b, {"planning.selection": "worst_first", "appointment.selection": "worst_first"})
    assert b.scenario.planning.selection == "worst_first"
    assert a.scenario.planning.selection == "merit"
    frame_a, frame_b = a.metrics_frame(), b.metrics_frame()
    assert frame_a.equals(frame_b)  # the years already run are untouched
    _run(a, 4), _run(b, 4)
    qa = [a.metrics_frame().query("metric == 'quality_in_office' and level == 'all' and sector == 'all'")]
    qb = [b.metrics_frame().query("metric == 'quality_in_office' and level == 'all' and sector == 'all'")]
    assert not qa[0]["value"].reset_index(drop=True).equals(qb[0]["value"].reset_index(drop=True))


def test_fixed_sections_and_bad_values_are_refused(teaching):
    m = PipelineModel(teaching, seed=1, years=2)
    with pytest.raises(ScenarioError, match=r"hierarchy\.scale: cannot change"):
        change_rules(m, {"hierarchy.scale": 0.5})
    with pytest.raises(ScenarioError, match=r"simulation\.years"):
        change_rules(m, {"simulation.years": 3})
    with pytest.raises(ScenarioError, match=r"planning\.mode"):
        change_rules(m, {"planning.mode": "sideways"})
    assert m.scenario.planning.mode == "closed"


def _consistent_pools(model: PipelineModel) -> None:
    entries = model.pools[model.pools >= 0]
    counts = np.bincount(entries, minlength=model.cadres.n)
    assert (counts == model.cadres.n_planned).all()


def test_a_smaller_pool_drops_the_entries_beyond_it(teaching):
    m = PipelineModel(teaching, seed=2, years=5)
    _run(m, 2)
    full = int((m.pools >= 0).sum())
    change_rules(m, {"planning.max_candidates": 1})
    assert m.pools.shape[1] == 1
    _consistent_pools(m)
    dropped = m.events_frame().query("kind == 'plan_drop' and cause == 'pool_size'")
    assert len(dropped) == full - int((m.pools >= 0).sum()) > 0
    _run(m, 2)
    _consistent_pools(m)


def test_a_larger_pool_has_room_for_more(teaching):
    m = PipelineModel(teaching, seed=2, years=5)
    _run(m, 1)
    change_rules(m, {"planning.max_candidates": 5})
    assert m.pools.shape[1] == 5
    _run(m, 2)
    _consistent_pools(m)
    assert (m.pools >= 0).sum(axis=1).max() > 3


def test_the_nonlocal_rule_follows_the_scenario(teaching):
    m = PipelineModel(teaching, seed=2, years=3)
    assert not m.nonlocal_post.any()
    change_rules(m, {"rotation.nonlocal_posts": ["provincial.party.head"]})
    assert m.nonlocal_post.sum() == 1
    _run(m, 2)
    change_rules(m, {"rotation.nonlocal_posts": []})
    assert not m.nonlocal_post.any()

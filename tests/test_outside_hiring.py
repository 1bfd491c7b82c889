"""Outside hiring (appointment.outside_share and outside_share_by_level): a share of vacancies, of
any rank, filled by new entrants from outside the pipeline, logged with cause "outside" and counted
in outside_hires (and in appointments and entrants)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import PipelineModel, ScenarioError, load_scenario
from pipeline_sim.world.operations import fill_vacancies, vacate

TOP, LOW = 0, 1


def _model(custom, make_eligible, set_pools, **appointment):
    scenario = custom(
        ["top", "low"],
        {"top": {"head": 1, "deputy": 2}, "low": {"head": 2, "member": 2}},
        {"low": 4},
        appointment={"entry_ranks": ["deputy", "member"], **appointment},
    )
    model = PipelineModel(scenario, seed=2, years=2)
    make_eligible(model)
    model.new_year()
    p = model.posts
    head = int(np.flatnonzero((p.level == TOP) & (p.rank == 0))[0])
    deputy = int(p.holder[np.flatnonzero((p.level == TOP) & (p.rank == 1))[0]])
    set_pools(model, {head: [deputy]})  # a ready planned successor
    vacate(model, p.holder[[head]])
    return model, head, deputy


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_vacancy_is_filled_from_outside(share, custom, make_eligible, set_pools):
    model, head, deputy = _model(custom, make_eligible, set_pools, outside_share=share)
    c, p = model.cadres, model.posts
    uids_before = set(c.uid[c.status == 0])
    model.tally.reset()
    fill_vacancies(model)
    row = int(p.holder[head])
    ev = model.events_frame()
    if share == 0:
        assert row == deputy
        assert not (ev["cause"] == "outside").any()
        return
    # a new entrant, not the planned successor, not anyone inside
    assert row != deputy and int(c.uid[row]) not in uids_before
    outside = ev[ev["cause"] == "outside"]
    assert set(outside["kind"]) >= {"entry", "appointment"}
    assert head in set(outside["post"])
    assert c.entry_year[row] == model.year and c.n_planned[row] == 0
    assert c.t_retire[row] - model.year >= model.scenario.appointment.min_service_left_years
    sums = model.tally.sums
    assert sums["outside_hires"].sum() == 1 and sums["entrants"].sum() == 1
    assert sums["appointments"].sum() == 1 and sums["promotions"].sum() == 0
    # the ready planned successor was passed over: the bench was there, no succession gap
    assert sums["key_vacancies"].sum() == 1 and sums["succession_gaps"].sum() == 0


def test_the_share_by_level_replaces_the_share_of_the_levels_named(custom, make_eligible, set_pools):
    model, head, _ = _model(
        custom, make_eligible, set_pools, outside_share=1.0, outside_share_by_level={"top": 0.0}
    )
    p = model.posts
    low_member = int(np.flatnonzero((p.level == LOW) & (p.rank == 2))[0])
    vacate(model, p.holder[[low_member]])
    model.tally.reset()
    fill_vacancies(model)
    outside = model.events_frame().query("kind == 'appointment' and cause == 'outside'")
    assert head not in set(outside["post"]) and low_member in set(outside["post"])


def test_outside_hires_are_of_the_age_of_the_holders_of_their_grade():
    scen = {"name": "t", "hierarchy": {"preset": "teaching"}}
    model = PipelineModel(scen, seed=3, years=8, **{"appointment.outside_share": 0.5}).run()
    ev = model.events_frame()
    hired = ev[(ev["kind"] == "appointment") & (ev["cause"] == "outside")]
    inside = ev[ev["kind"].isin(["appointment", "promotion"]) & (ev["cause"] != "outside")]
    assert len(hired) > 30
    assert hired["age"].mean() > inside["age"].mean() - 8  # not entrants of 27
    assert hired["age"].mean() > 35
    frame = model.metrics_frame()
    total = frame[(frame["level"] == "all") & (frame["sector"] == "all")]
    n = total[total["metric"] == "outside_hires"]["value"].sum()
    assert n == len(hired)


def test_bad_shares_are_refused():
    with pytest.raises(ScenarioError, match="outside_share"):
        load_scenario({"hierarchy": {"preset": "teaching"}, "appointment": {"outside_share": 1.2}})
    with pytest.raises(ScenarioError, match="outside_share_by_level"):
        load_scenario(
            {"hierarchy": {"preset": "teaching"}, "appointment": {"outside_share_by_level": {"nowhere": 0.1}}}
        )

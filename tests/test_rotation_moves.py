"""Rotation as planned moves: into posts freed at the congress, into posts designated a year ahead,
vertical exchanges, and who may be rotated; each on a hand-made case where it must act, and off by
default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline_sim import PipelineModel, ScenarioError, load_scenario
from pipeline_sim.processes import calendar, congress, rotation
from pipeline_sim.world.operations import vacate

PROVINCE, DISTRICT = 0, 1
HEAD, DEPUTY, MEMBER = 0, 1, 2
DOWN_ONLY = {"down": 1.0, "up": 0.0, "locality": 0.0, "sector": 0.0}


def _model(custom, make_eligible, rotation_keys: dict, **sections) -> PipelineModel:
    """A province (head, deputy, two members) over one district (head, deputy)."""
    scenario = custom(
        ["province", "district"],
        {"province": {"head": 1, "deputy": 1, "member": 2}, "district": {"head": 1, "deputy": 1}},
        {"district": 3},
        rotation={"enabled": True, "rate": 0.0, "directions": DOWN_ONLY, **rotation_keys},
        **sections,
    )
    model = PipelineModel(scenario, seed=3, years=4)
    make_eligible(model)
    return model


def _post(model, level, rank, nth=0) -> int:
    p = model.posts
    return int(np.flatnonzero((p.level == level) & (p.rank == rank))[nth])


def _events(model, kind="rotation"):
    ev = model.events_frame()
    return ev[ev["kind"] == kind]


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_rotated_cadres_take_the_posts_freed_at_the_congress(share, custom, make_eligible):
    model = _model(
        custom,
        make_eligible,
        {"congress_share": share, "candidates": "eligible"},
        congress={"enabled": True},
    )
    c, p = model.cadres, model.posts
    district_head = _post(model, DISTRICT, HEAD)
    calendar.run(model)
    model.is_congress_year = True
    c.t_retire[p.holder[district_head]] = model.year + 3.0  # less than a term left: steps down
    members = [int(p.holder[_post(model, PROVINCE, MEMBER, k)]) for k in range(2)]
    model.phase = "congress"
    congress.run(model)

    moved = _events(model)
    if share == 0:
        assert len(moved) == 0
        assert p.holder[district_head] not in members  # the ordinary appointment
        return
    assert len(moved) == 1
    row = int(p.holder[district_head])
    assert row in members, "a provincial member rotated down into the freed district head post"
    assert moved["cause"].tolist() == ["down"] and moved["at_congress"].all()
    assert c.rotated[row] and c.rotation_until[row] == model.year + 1 + 3 - 1  # three years of the new term
    assert p.term_start[district_head] == model.year + 1
    # the member's post left behind is filled by the congress's elections (a vacancy chain)
    assert (p.holder >= 0).all()


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_cadre_designated_a_year_ahead_takes_the_post_when_its_holder_retires(share, custom, make_eligible):
    model = _model(custom, make_eligible, {"ahead_share": share, "candidates": "eligible"})
    c, p = model.cadres, model.posts
    district_head = _post(model, DISTRICT, HEAD)
    leaving = int(p.holder[district_head])
    leaving_uid = int(c.uid[leaving])
    c.t_retire[leaving] = model.year + 2.5  # retires in the second simulated year
    model.step()
    assert p.holder[district_head] == leaving
    planned = model.rotation_ahead
    if share:
        assert planned["post"].tolist() == [district_head]
        chosen = int(planned["row"][0])
        assert c.level[chosen] == PROVINCE and c.post[chosen] >= 0
    else:
        assert planned is None
    model.step()

    exits = _events(model, "exit")
    assert leaving_uid in set(exits[exits["cause"] == "retired"]["cadre"])
    moved = _events(model)
    if share:
        assert p.holder[district_head] == chosen
        assert moved["cause"].tolist() == ["down"] and not moved["at_congress"].any()
        assert moved["year"].tolist() == [model.year]
    else:
        assert len(moved) == 0
        assert c.level[p.holder[district_head]] == DISTRICT  # promoted from the district


def test_a_designation_lapses_when_the_cadre_no_longer_qualifies(custom, make_eligible):
    model = _model(custom, make_eligible, {"ahead_share": 1.0, "candidates": "eligible"})
    c, p = model.cadres, model.posts
    district_head = _post(model, DISTRICT, HEAD)
    c.t_retire[p.holder[district_head]] = model.year + 2.5
    model.step()
    chosen = int(model.rotation_ahead["row"][0])
    c.ban_until[chosen] = model.year + 3  # disciplined meanwhile
    model.step()
    assert p.holder[district_head] != chosen
    assert len(_events(model)) == 0


@pytest.mark.parametrize("exchanges", [False, True])
def test_vertical_exchanges_move_down_and_up_without_a_vacancy(exchanges, custom, make_eligible):
    model = _model(
        custom, make_eligible, {"rate": 1.0, "vertical_exchanges": exchanges, "candidates": "eligible"}
    )
    p = model.posts
    model.new_year()
    assert (p.holder >= 0).all()
    n_posts = p.n
    rotation._rotate(model)

    moved = _events(model)
    if not exchanges:
        assert len(moved) == 0
        return
    assert sorted(moved["cause"]) == ["down", "up"]
    down = moved[moved["cause"] == "down"]
    up = moved[moved["cause"] == "up"]
    assert down["from_level"].astype(str).tolist() == ["province"]
    assert up["from_level"].astype(str).tolist() == ["district"]
    # an exchange: the two posts changed hands, none left vacant, none created
    assert (p.holder >= 0).all() and p.n == n_posts
    assert set(down["post"]) == set(up["from_post"]) and set(up["post"]) == set(down["from_post"])
    assert p.rank[int(up["post"].iloc[0])] >= DEPUTY and p.rank[int(down["post"].iloc[0])] <= DEPUTY


@pytest.mark.parametrize("who", ["planned", "eligible"])
def test_eligible_unplanned_holders_are_rotated_only_when_the_scenario_says_so(who, custom, make_eligible):
    model = _model(custom, make_eligible, {"rate": 1.0, "candidates": who})
    c, p = model.cadres, model.posts
    model.new_year()
    model.pools[:] = -1
    c.n_planned[:] = 0
    district_deputy = _post(model, DISTRICT, DEPUTY)
    vacate(model, p.holder[[district_deputy]])
    rotation._rotate(model)
    moved = _events(model)
    assert (len(moved) > 0) == (who == "eligible")
    if who == "eligible":
        assert moved["post"].tolist() == [district_deputy]
        assert moved["from_level"].astype(str).tolist() == ["province"]


def test_the_mechanisms_are_off_by_default():
    rot = load_scenario({"hierarchy": {"preset": "teaching"}}).rotation
    assert rot.congress_share == 0 and rot.ahead_share == 0
    assert not rot.vertical_exchanges and rot.candidates == "planned"


def test_moves_at_a_congress_need_a_congress():
    with pytest.raises(ScenarioError, match=r"rotation\.congress_share"):
        load_scenario(
            {
                "hierarchy": {"preset": "teaching"},
                "rotation": {"congress_share": 0.5},
                "congress": {"enabled": False},
            }
        )


def test_rotation_at_real_volumes_runs_and_creates_no_post():
    keys = {
        "rotation.rate": 0.3,
        "rotation.candidates": "eligible",
        "rotation.congress_share": 0.5,
        "rotation.ahead_share": 0.5,
        "rotation.vertical_exchanges": True,
    }
    model = PipelineModel({"name": "t", "hierarchy": {"preset": "teaching"}}, seed=4, years=6, **keys)
    base = PipelineModel({"name": "t", "hierarchy": {"preset": "teaching"}}, seed=4, years=6).run()
    n_posts = model.posts.n
    model.run()
    assert model.posts.n == n_posts
    held = model.posts.holder[model.posts.holder >= 0]
    assert len(np.unique(held)) == len(held)
    moves, base_moves = (
        m.metrics_frame().query("level == 'all' and sector == 'all' and metric in @DIRS")["value"].sum()
        for m in (model, base)
    )
    assert moves > 3 * base_moves


DIRS = ["rotations_down", "rotations_up", "rotations_locality", "rotations_sector"]


def test_moves_at_the_congress_draw_from_their_own_stream():
    """Common random numbers: the years before the first congress are the same with and without
    moves at the congress."""
    scen = {"name": "t", "hierarchy": {"preset": "teaching"}}
    base = PipelineModel(scen, seed=6, years=6).run().metrics_frame()
    moved = PipelineModel(scen, seed=6, years=6, **{"rotation.congress_share": 0.8}).run().metrics_frame()
    first_congress = 2025
    before = [f[f["year"] < first_congress].reset_index(drop=True) for f in (base, moved)]
    pd.testing.assert_frame_equal(*before)
    after = [f[f["year"] >= first_congress]["value"].to_numpy() for f in (base, moved)]
    assert len(after[0]) != len(after[1]) or not np.array_equal(*after)

"""Bodies elected at congress: which posts they hold, their age rules, and what is measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import custom_scenario, merge

from pipeline_sim import PipelineModel, load_scenario
from pipeline_sim.processes import congress
from pipeline_sim.scenario import ScenarioError
from pipeline_sim.world.bodies import select_posts
from pipeline_sim.world.cadres import EXIT_CAUSES

TWO_LEVELS = {
    "hierarchy": {
        "preset": "custom",
        "levels": ["top", "local"],
        "sectors": ["party", "state"],
        "units": {"top": 1, "local": 4},
        "staff": {"top": 5, "local": 5},
        "posts": {
            "top": {"party": {"head": 1, "deputy": 2, "member": 5}, "state": {"head": 1, "deputy": 1}},
            "local": {"party": {"head": 1, "deputy": 1}, "state": {"head": 1}},
        },
    },
    "simulation": {"years": 1},
}


def model_with(bodies: dict, **sections) -> PipelineModel:
    return PipelineModel(merge(merge(TWO_LEVELS, {"bodies": bodies}), sections), seed=2, years=1)


def test_selectors_name_posts_by_level_sector_rank_with_per_unit_and_unit_limits():
    m = model_with({"b": {"posts": ["top.party.member:2", "local.state.head@3", "top.*.head"]}})
    p = m.posts
    chosen = np.flatnonzero(select_posts(m, m.scenario.bodies["b"].posts))
    members = np.flatnonzero((p.level == 0) & (p.sector == 0) & (p.rank == 2))[:2]
    local_heads = np.flatnonzero((p.level == 1) & (p.sector == 1) & (p.rank == 0))[:3]
    top_heads = np.flatnonzero((p.level == 0) & (p.rank == 0))
    assert sorted(chosen) == sorted([*members, *local_heads, *top_heads])
    assert int(m.bodies.member[0].sum()) == 2 + 3 + 2


def test_the_historic_central_committee_has_109_central_and_71_local_seats():
    m = PipelineModel("scenarios/baseline.toml", years=0)
    cc = m.bodies.member[m.bodies.names.index("central_committee")]
    level = m.posts.level[cc]
    assert (level == 0).sum() == 109 and (level == 1).sum() == 71
    assert int(m.bodies.member[m.bodies.names.index("politburo")].sum()) == 18
    assert (m.posts.rank[cc & (m.posts.level == 1) & (m.posts.sector == 0)] == 0).sum() == 63


def test_the_2025_central_committee_has_123_central_and_57_local_seats():
    m = PipelineModel("scenarios/reform2025.toml", years=0)
    cc = m.bodies.member[m.bodies.names.index("central_committee")]
    assert (m.posts.level[cc] == 0).sum() == 123 and (m.posts.level[cc] == 1).sum() == 57


@pytest.mark.parametrize(
    "bodies, message",
    [
        ({"b": {"posts": ["top.party"]}}, "bodies.b.posts"),
        ({"b": {"posts": ["nowhere.party.head"]}}, "level 'nowhere'"),
        ({"b": {"posts": ["top.party.chief"]}}, "rank 'chief'"),
        ({"b": {"posts": ["top.party.head:0"]}}, "at least 1"),
        ({"b": {"posts": ["top.party.head"], "first_time_max_age": 61.0, "reelect_max_age": 60.0}}, "above"),
        ({"b": {"posts": ["top.party.head"], "reelect_max_age": float("nan")}}, "reelect_max_age"),
        ({"b": {"posts": ["top.party.head"], "special_cases": -1}}, "special_cases"),
        ({"b-x": {"posts": ["top.party.head"]}}, "bodies"),
    ],
)
def test_bad_bodies_get_clear_errors(bodies, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(merge(TWO_LEVELS, {"bodies": bodies}))


def test_presets_bring_their_bodies_and_a_file_can_change_or_drop_them():
    base = load_scenario({"hierarchy": {"preset": "historic"}})
    assert set(base.bodies) == {"central_committee", "politburo", "provincial_standing"}
    changed = load_scenario(
        {
            "hierarchy": {"preset": "historic"},
            "bodies": {"politburo": {"posts": []}, "central_committee": {"special_cases": 0}},
        }
    )
    assert changed.bodies["central_committee"].special_cases == 0
    assert changed.bodies["central_committee"].reelect_max_age == 60.0
    m_bodies = PipelineModel({"hierarchy": {"preset": "teaching"}}, years=0).bodies.names
    assert m_bodies == ["provincial_standing"]


def ladder_with_body(**body) -> PipelineModel:
    scen = custom_scenario(
        ["top", "mid", "low"],
        {"top": {"head": 1, "member": 3}, "mid": {"head": 1, "member": 3}, "low": {"head": 1}},
        {"low": 6},
        congress={"enabled": True, "reelect_min_service_years": 0.0, "first_time_min_service_years": 0.0},
        appointment={"max_level_gap": 2, "entry_ranks": ["head", "member"]},
        bodies={"council": {"posts": ["top.party.*"], **body}},
    )
    return PipelineModel(scen, seed=4, years=5)


def _ages(model, rows, ages, new_term):
    model.cadres.birth[rows] = new_term - np.asarray(ages, dtype=float)


def test_over_age_members_step_down_at_congress_except_special_cases(make_eligible):
    m = ladder_with_body(reelect_max_age=60.0, special_cases=1)
    m.year = m.first_year  # a recorded year
    make_eligible(m)
    p = m.posts
    top = np.flatnonzero(p.level == 0)  # head, 3 members
    rows = p.holder[top]
    new_term = m.year + 1
    _ages(m, rows, [64, 61, 62, 59], new_term)  # the head (best placed) is kept as a special case
    m.is_congress_year = True
    congress.run(m)
    c = m.cadres
    assert c.post[rows[0]] == top[0], "the special case keeps the head post"
    assert c.post[rows[1]] != top[1] and c.post[rows[2]] != top[2], "over-age members stepped down"
    assert c.post[rows[3]] == top[3], "a member under the age limit is re-elected"
    ev = m.events_frame()
    stepped = ev[(ev["kind"] == "step_down") & (ev["cause"] == "body_age_limit")]
    assert sorted(stepped["cadre"]) == sorted(c.uid[rows[1:3]])
    b = m.bodies_frame()
    kept = b[(b["metric"] == "over_age_kept")]["value"]
    assert kept.tolist() == [1.0]


def test_first_time_members_must_be_young_enough(make_eligible):
    m = ladder_with_body(first_time_max_age=55.0)
    make_eligible(m)
    p, c = m.posts, m.cadres
    new_term = m.year + 1
    top_member = np.flatnonzero((p.level == 0) & (p.rank == 2))[0]
    old = p.holder[top_member]
    m.cadres.status[old] = 5  # dismissed: the seat is free
    from pipeline_sim.world.operations import vacate

    vacate(m, np.array([old]))
    # every candidate below is too old for a first election, except one
    below = np.flatnonzero((c.status == 0) & (c.level > 0))
    _ages(m, below, np.full(len(below), 58.0), new_term)
    young = p.holder[np.flatnonzero((p.level == 2) & (p.rank == 0))[0]]
    c.birth[young] = new_term - 50.0
    m.is_congress_year = True
    congress.run(m)
    winner = p.holder[top_member]
    assert winner == young, "only the candidate within the first-time age limit is elected"
    assert new_term - c.birth[winner] <= 55.0


def test_reelection_and_losses_are_measured_against_the_members_before_the_congress():
    m = PipelineModel({"hierarchy": {"preset": "teaching"}, "simulation": {"years": 5}}, seed=1).run()
    b = m.bodies_frame()
    at = b[b["year"] == m.first_year + 4].set_index("metric")["value"]
    h = m.holders_frame()
    body_posts = np.flatnonzero(m.bodies.member[0])
    y = m.first_year + 4

    def members(moment):
        rows = h[(h["year"] == y) & (h["moment"] == moment) & h["post"].isin(body_posts)]
        return set(rows["cadre"])

    before, after = members("before_congress"), members("after_congress")
    assert at["elected"] == len(after)
    assert at["reelected_share"] == pytest.approx(len(after & before) / len(after))
    start = set(
        h[(h["year"] == m.first_year) & (h["moment"] == "year_end") & h["post"].isin(body_posts)]["cadre"]
    )
    # members at the start of the first recorded year are the term's starting members; losses by
    # cause add up to the share lost
    causes = [k for k in at.index if k.startswith("lost_") and k != "lost_share"]
    assert at[causes].sum() == pytest.approx(at["lost_share"])
    assert at["term_start_members"] == pytest.approx(len(m.bodies.member[0].nonzero()[0]))
    assert 0 < at["lost_share"] < 1 and len(start) > 0


def test_members_may_stay_past_the_retirement_date_by_the_bodies_extension(make_eligible):
    from pipeline_sim.processes import demography

    for extension, stays in ((0.0, False), (3.0, True)):
        m = ladder_with_body(retirement_extension_years=extension)
        make_eligible(m)
        p, c = m.posts, m.cadres
        member = p.holder[np.flatnonzero(p.level == 0)[1]]
        other = p.holder[np.flatnonzero(p.level == 1)[1]]  # not in the body
        m.year += 1
        c.t_retire[[member, other]] = m.year + 0.5  # statutory date this year
        demography.run(m)
        assert bool(c.status[member] == 0) is stays
        assert c.status[other] != 0, "a holder outside the body retires on the statutory date"
        if stays:
            m.year += 3
            demography.run(m)
            assert c.status[member] != 0, "and retires when the extension ends"


@pytest.mark.parametrize("seed", [1, 2])
def test_members_lost_over_the_term_are_counted_by_how_they_left(seed):
    """Each starting member missing before the congress counts under the cause of their exit in
    the event log, or as moved if still in service; some of them left years before, so they are
    found in the archive of rows already reused."""
    m = PipelineModel(
        {"hierarchy": {"preset": "historic", "scale": 0.05}, "simulation": {"years": 5}}, seed=seed
    ).run()
    b, h, ev = m.bodies_frame(), m.holders_frame(), m.events_frame()
    y = m.first_year + 4
    exits = ev[ev["kind"].astype(str) == "exit"].set_index("cadre")["cause"].astype(str)
    checked = 0
    for body in m.bodies.names:
        at = b[(b["year"] == y) & (b["body"] == body)].set_index("metric")["value"]
        posts = np.flatnonzero(m.bodies.member[m.bodies.names.index(body)])

        def members(year, moment, posts=posts):
            rows = h[(h["year"] == year) & (h["moment"] == moment) & h["post"].isin(posts)]
            return set(rows["cadre"])

        start = members(m.first_year, "start")
        lost = start - members(y, "before_congress")
        assert at["term_start_members"] == len(start)
        causes = pd.Series([exits.get(uid, "moved") for uid in lost], dtype=object)
        for cause in ["moved", *EXIT_CAUSES]:
            want = (causes == cause).sum() / len(start)
            assert at[f"lost_{cause}_share"] == pytest.approx(want), (body, cause)
        checked += len(lost)
    assert checked > 20

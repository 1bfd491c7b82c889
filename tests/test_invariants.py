"""Properties that must hold after every simulated year, on random small hierarchies and seeds."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_sim import PipelineModel
from pipeline_sim.world.cadres import ACTIVE, EXIT_CAUSES
from pipeline_sim.world.hierarchy import STAFF_RANK

SECTORS = ["party", "state", "front"]
# no example database: the suite leaves nothing behind in the working folder
FEW = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(FEW, max_examples=10)


@st.composite
def hierarchy_tables(draw, n_levels=(2, 4), spread: int = 3, min_units: int = 1, max_heads: int = 3) -> dict:
    """The [hierarchy] table of a random custom structure: `n_levels` levels, each level at least
    `min_units` units and 1 to `spread` children per parent, 1-3 sectors, 0-3 posts per rank (at
    most `max_heads` heads), a head in every unit, staff at the bottom level."""
    n_levels = draw(st.integers(*n_levels))
    levels = [f"level{i}" for i in range(n_levels)]
    sectors = SECTORS[: draw(st.integers(1, 3))]
    units = {levels[0]: 1}
    n = 1
    for lvl in levels[1:]:
        n = draw(st.integers(max(n, min_units), spread * n))  # split evenly among the parents
        units[lvl] = n
    posts = {}
    for lvl in levels:
        with_head = draw(st.sampled_from(sectors))
        posts[lvl] = {
            sec: {
                "head": draw(st.integers(1 if sec == with_head else 0, max_heads)),
                "deputy": draw(st.integers(0, 3)),
                "member": draw(st.integers(0, 3)),
            }
            for sec in sectors
        }
    staff = {lvl: draw(st.integers(0, 6)) for lvl in levels}
    staff[levels[-1]] = draw(st.integers(1, 6))  # someone to recruit, so the service never dies out
    return {
        "preset": "custom",
        "levels": levels,
        "sectors": sectors,
        "units": units,
        "staff": staff,
        "posts": posts,
    }


@st.composite
def small_hierarchies(draw) -> dict:
    """2-4 levels, 1-3 children per unit, 1-3 sectors, 0-3 posts per rank, a head in every unit."""
    hierarchy = draw(hierarchy_tables())
    hierarchy["key_ranks"] = draw(st.sampled_from([["head"], ["head"], ["head", "deputy"]]))
    return {
        "name": "random",
        "hierarchy": hierarchy,
        "planning": {
            "max_candidates": draw(st.integers(1, 4)),
            "max_posts_per_cadre": draw(st.integers(1, 3)),
        },
        # more turnover than the defaults, so that vacancies, chains and pool changes happen
        "demography": {"p_leave_leader": 0.05, "p_leave_staff": 0.05},
    }


def assert_invariants(model: PipelineModel) -> None:
    c, p, pools = model.cadres, model.posts, model.pools
    year = model.year
    active = c.status == ACTIVE

    # one holder per post, and the two records agree
    held = np.flatnonzero(p.holder >= 0)
    rows = p.holder[held].astype(np.int64)
    assert (rows < c.n).all(), f"{year}: a post holder row is outside the cadre table"
    assert len(np.unique(rows)) == len(rows), f"{year}: a cadre holds two posts"
    assert (c.post[rows] == held).all(), f"{year}: posts.holder[p] == i but cadres.post[i] != p"
    in_post = np.flatnonzero(c.post >= 0)
    assert (p.holder[c.post[in_post]] == in_post).all(), f"{year}: cadres.post[i] == p but holder[p] != i"

    # only cadres in service hold posts or sit in pools
    assert active[rows].all(), f"{year}: a cadre who left service holds a post"
    entries = pools[pools >= 0]
    assert (entries < c.n).all(), f"{year}: a pool entry is outside the cadre table"
    assert active[entries].all(), f"{year}: a cadre who left service sits in a planning pool"

    # the holder stands where the post is
    assert (c.grade[rows] == p.grade[held]).all(), f"{year}: holder grade != post grade"
    assert (c.level[rows] == p.level[held]).all(), f"{year}: holder level != post level"
    assert (c.unit[rows] == p.unit[held]).all(), f"{year}: holder unit != post unit"
    assert (c.sector[rows] == p.sector[held]).all(), f"{year}: holder sector != post sector"
    # cadres without a post are in their unit's staff pool
    staff = active & (c.post < 0)
    assert (c.grade[staff] == 4 * c.level[staff] + STAFF_RANK).all(), f"{year}: staff grade"
    assert (c.level[active] == model.units.level[c.unit[active]]).all(), f"{year}: level != unit's level"
    place = model.place_key(c.unit[active].astype(np.int64), c.sector[active], c.grade[active] % 4)
    assert (c.place[active] == place).all(), f"{year}: place key out of date"
    # a post is vacant exactly when it has an open vacancy date
    assert ((p.holder < 0) == (p.vacant_since >= 0)).all(), f"{year}: vacant_since out of step"

    # planning: at most K pools per cadre, n_planned counts the entries, no duplicates in a pool
    count = np.bincount(entries, minlength=c.n)
    k_max = model.scenario.planning.max_posts_per_cadre
    assert count.max(initial=0) <= k_max, f"{year}: a cadre is in more than {k_max} pools"
    assert (c.n_planned[active] == count[active]).all(), f"{year}: n_planned != pool entries"
    for k, pool in enumerate(pools):
        members = pool[pool >= 0]
        assert len(np.unique(members)) == len(members), f"{year}: cadre listed twice in pool {k}"
    # only for higher posts, never for the post one holds
    k_idx, slot = np.nonzero(pools >= 0)
    post = p.key_posts[k_idx]
    cand = pools[k_idx, slot]
    assert (c.post[cand] != post).all(), f"{year}: a holder is planned for their own post"
    assert (c.grade[cand] > p.grade[post]).all(), f"{year}: a cadre is planned for a post not above them"


def run_checked(model: PipelineModel, years: int) -> None:
    assert_invariants(model)
    for _ in range(years):
        c = model.cadres
        before = int((c.status == ACTIVE).sum())
        model.step()
        assert_invariants(model)
        m = model.last_metrics
        after = int((model.cadres.status == ACTIVE).sum())
        exits = sum(m[f"exits_{cause}"][-1, -1] for cause in EXIT_CAUSES)
        assert after == before + m["entrants"][-1, -1] - exits, f"{model.year}: head count does not add up"
        assert m["cadres"][-1, -1] == after
        assert m["holders"][-1, -1] == (model.posts.holder >= 0).sum()
        assert m["vacant_posts"][-1, -1] == (model.posts.holder < 0).sum()
        assert m["succession_gaps"][-1, -1] <= m["key_vacancies"][-1, -1]


@FEW
@given(scenario=small_hierarchies(), seed=st.integers(0, 2**31 - 1), years=st.integers(6, 12))
def test_records_stay_consistent_every_year(scenario, seed, years):
    model = PipelineModel(scenario, seed=seed, years=years)
    run_checked(model, years)


@FEWER
@given(scenario=small_hierarchies(), seed=st.integers(0, 2**31 - 1), years=st.integers(6, 12))
def test_records_stay_consistent_with_open_rigid_planning_and_no_unplanned(scenario, seed, years):
    model = PipelineModel(
        scenario,
        seed=seed,
        years=years,
        **{
            "planning.mode": "open",
            "planning.review": "rigid",
            "appointment.allow_unplanned": False,
        },
    )
    run_checked(model, years)


def test_records_stay_consistent_in_the_teaching_province_under_open_planning(teaching):
    model = PipelineModel(
        teaching,
        seed=11,
        years=7,
        **{"planning.mode": "open", "planning.review": "rigid", "appointment.allow_unplanned": False},
    )
    run_checked(model, 7)
    assert model.year == model.last_year
    assert not model.running


@FEWER
@given(scenario=small_hierarchies(), seed=st.integers(0, 2**31 - 1), years=st.integers(6, 12))
def test_records_stay_consistent_with_every_mechanism_on(scenario, seed, years):
    levels = scenario["hierarchy"]["levels"]
    switched_on = {
        "integrity.enabled": True,
        "integrity.p_violation": 0.05,  # enough discipline to matter in a tiny hierarchy
        "confidence.enabled": True,
        "rotation.enabled": True,
        "rotation.rate": 0.4,
        "rotation.two_term_rule": True,
        "rotation.nonlocal_posts": [f"{levels[1]}.party.head"],
        "rotation.candidates": "eligible_and_staff",
        "rotation.congress_share": 0.5,
        "rotation.ahead_share": 0.5,
        "rotation.vertical_exchanges": True,
        "rotation.level_weights": {levels[-1]: 0.5},
        "appointment.outside_share": 0.2,
        "appointment.competence_carry": 0.5,
        "integrity.dismiss_below_competence": -1.0,
        "fast_track.enabled": True,
        "planning.selection": "patronage",
        "appointment.selection": "best_worst_mix",
    }
    model = PipelineModel(scenario, seed=seed, years=years, **switched_on)
    run_checked(model, years)


def test_a_service_without_recruitment_dies_out_without_crashing():
    scenario = {
        "name": "no-staff",
        "hierarchy": {
            "preset": "custom",
            "levels": ["top", "bottom"],
            "sectors": ["party"],
            "units": {"top": 1, "bottom": 1},
            "staff": {"top": 0, "bottom": 0},
            "posts": {
                "top": {"party": {"head": 1}},
                "bottom": {"party": {"head": 1, "deputy": 1, "member": 1}},
            },
        },
    }
    model = PipelineModel(scenario, seed=0, years=60).run()  # every initial cadre retires by then
    assert model.headline("cadres") == 0
    assert model.headline("vacant_posts") == model.posts.n

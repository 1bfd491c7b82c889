"""Each policy mechanism's rule on a small hand-made case (rotation, discipline, votes, targets...)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import PipelineModel
from pipeline_sim.scenario.schema import BAN_PRESETS
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.rules import pair_scores

ALL_OFF = {
    "integrity.enabled": False,
    "confidence.enabled": False,
    "rotation.enabled": False,
    "rotation.two_term_rule": False,
    "fast_track.enabled": False,
}


def teaching(seed: int = 7, years: int = 12, **overrides) -> PipelineModel:
    return PipelineModel(
        {"name": "t", "hierarchy": {"preset": "teaching"}}, seed=seed, years=years, **{**ALL_OFF, **overrides}
    )


def events_of(model: PipelineModel, kind: str):
    ev = model.events_frame()
    return ev[ev["kind"] == kind]


def rows_of(model: PipelineModel, uids) -> np.ndarray:
    """Rows of cadres still in the table (rows of cadres who left are reused for entrants)."""
    uids = np.asarray(uids)
    order = np.argsort(model.cadres.uid)
    pos = np.minimum(np.searchsorted(model.cadres.uid[order], uids), len(order) - 1)
    rows = order[pos]
    assert (model.cadres.uid[rows] == uids).all(), "a cadre has left the table"
    return rows


def exits_of(model: PipelineModel, uids) -> dict[int, str]:
    """Exit cause of each of these cadres who left service, from the event log."""
    ev = events_of(model, "exit")
    ev = ev[ev["cadre"].isin(np.asarray(uids))]
    return {int(u): str(cause) for u, cause in zip(ev["cadre"], ev["cause"], strict=True)}


# ---------------------------------------------------------------------------------------------
# rotation


ROTATE_A_LOT = {
    "rotation.enabled": True,
    "rotation.rate": 0.8,
    "demography.p_leave_leader": 0.05,  # vacancies to rotate into
}


@pytest.mark.parametrize("years_left, rotations_expected", [(9.5, False), (25.0, True)])
def test_rotation_only_with_ten_years_of_service_left(years_left, rotations_expected):
    model = teaching(**ROTATE_A_LOT)
    c = model.cadres
    active = c.status == ACTIVE
    c.t_retire[active] = model.year + 1 + years_left  # years left when next year's phases run
    model.step()
    moves = events_of(model, "rotation")
    planned = moves[moves["cause"].isin(["down", "up", "locality", "sector"])]
    assert (len(planned) > 0) == rotations_expected


def test_rotated_cadres_are_marked_and_return_or_stay_after_the_rotation():
    model = teaching(**ROTATE_A_LOT, **{"rotation.p_return": 1.0, "rotation.duration_years": 3})
    model.step()
    moves = events_of(model, "rotation")
    started = moves[moves["cause"].isin(["down", "up", "locality", "sector"])]
    assert len(started) > 0
    rows = rows_of(model, started["cadre"].unique())
    c = model.cadres
    assert c.rotated[rows].all()
    assert (c.rotation_until[rows] == model.year + 2).all()


def test_rotation_creates_no_post():
    model = teaching(**ROTATE_A_LOT)
    n_posts = model.posts.n
    for _ in range(4):
        model.step()
        held = model.posts.holder[model.posts.holder >= 0]
        assert len(np.unique(held)) == len(held)
    assert model.posts.n == n_posts


def test_two_term_rule_means_no_third_consecutive_term_in_one_head_post():
    for rule, third_terms_expected in ((True, False), (False, True)):
        model = teaching(years=16, **{"rotation.two_term_rule": rule, "demography.p_leave_leader": 0.0})
        sim = model.scenario.simulation
        seen_third = False
        while model.running:
            model.step()
            if not model.is_congress_year:
                continue
            p = model.posts
            heads = np.flatnonzero((p.rank == 0) & (p.holder >= 0))
            first_term = (p.term_start[heads] - sim.start_year) // sim.term_years
            terms_next = model.term_index + 1 - first_term + 1  # counting the term about to start
            seen_third |= bool((terms_next > 2).any())
        assert seen_third == third_terms_expected, f"two_term_rule={rule}"


def test_nonlocal_posts_are_held_by_non_locals_after_the_congress():
    model = teaching(years=6, **{"rotation.nonlocal_posts": ["district.party.head"]})
    p, c = model.posts, model.cadres
    target = np.flatnonzero(model.nonlocal_post)
    assert len(target) == 6
    while model.running:
        model.step()
        if model.year >= model.first_year + 4:  # after the first congress
            held = target[p.holder[target] >= 0]
            rows = p.holder[held]
            assert (c.home[rows] != p.locality[held]).all()


def test_nonlocal_post_vacancy_is_filled_by_a_non_local():
    model = teaching(years=3, **{"rotation.nonlocal_posts": ["district.party.head"]})
    p, c = model.posts, model.cadres
    target = np.flatnonzero(model.nonlocal_post)
    c.t_retire[p.holder[target]] = model.year + 1.2  # every district secretary retires next year
    model.step()
    ev = model.events_frame()
    appointed = ev[ev["kind"].isin(["appointment", "promotion"]) & ev["post"].isin(target)]
    assert len(appointed) == len(target)
    rows = rows_of(model, appointed["cadre"].to_numpy())
    assert (c.home[rows] != p.locality[appointed["post"].to_numpy()]).all()


# ---------------------------------------------------------------------------------------------
# integrity and discipline


def _disciplined_model(form: str, **overrides) -> PipelineModel:
    forms = {f: 0.0 for f in ("reprimand", "warning", "removal_from_post", "expulsion")}
    forms[form] = 1.0
    return teaching(
        **{
            "integrity.enabled": True,
            "integrity.p_violation": 0.0,
            "integrity.inspection_intensity": 1.0,
            "integrity.forms": forms,
            "demography.mortality_at_40": 0.0,  # nobody leaves for other reasons
            "demography.p_leave_leader": 0.0,
            **overrides,
        }
    )


def test_reprimand_removes_from_every_pool_and_blocks_promotion_until_the_ban_ends():
    model = _disciplined_model("reprimand", **{"integrity.replace_from": "removal_from_post"})
    c = model.cadres
    planned = np.flatnonzero((c.n_planned > 0) & (c.post >= 0) & (c.t_retire > model.year + 10))
    culprits = planned[:5]
    uids = c.uid[culprits].copy()
    c.violation[culprits] = True
    model.step()
    year = model.year
    rows = rows_of(model, uids)
    assert (c.disciplined_year[rows] == year).all()
    assert (c.n_planned[rows] == 0).all()
    assert not np.isin(model.pools, rows).any()
    ban_years = int(np.ceil(BAN_PRESETS["2022"]["reprimand"] / 12))
    assert (c.ban_until[rows] == year + ban_years).all()
    # disciplined in the year: graded "not completed" (Reg. 124)
    assert (c.grades[rows, year % c.grades.shape[1]] == 3).all()
    while model.year < year + ban_years:
        model.step()
        rows = rows_of(model, uids)
        in_service = c.status[rows] == ACTIVE
        assert not np.isin(model.pools, rows[in_service]).any()
    promoted = events_of(model, "promotion")
    promoted = promoted[(promoted["cadre"].isin(uids)) & (promoted["year"] < year + ban_years)]
    assert len(promoted) == 0


@pytest.mark.parametrize("rules, months", [("2022", (12, 30, 60)), ("2025", (24, 36, 60))])
def test_ban_lengths_follow_the_2022_or_2025_rules(rules, months):
    for form, month in zip(("reprimand", "warning", "removal_from_post"), months, strict=True):
        model = _disciplined_model(
            form, **{"integrity.ban_rules": rules, "integrity.removal": "lenient", "integrity.p_resign": 0.0}
        )
        c = model.cadres
        culprits = np.flatnonzero((c.post >= 0) & (c.t_retire > model.year + 10))[:200]
        uids = c.uid[culprits].copy()
        c.violation[culprits] = True
        model.step()
        years = c.ban_until[rows_of(model, uids)] - model.year
        # whole years of the ban, and one more year with the chance of the remaining months
        assert set(np.unique(years)) <= {month // 12, month // 12 + 1}, form
        assert years.mean() == pytest.approx(month / 12, abs=0.12), form


@pytest.mark.parametrize("removal", ["strict", "lenient"])
def test_strict_removal_leaves_no_detected_violator_in_office(removal):
    model = teaching(
        seed=3,
        years=8,
        **{
            "integrity.enabled": True,
            "integrity.p_violation": 0.05,
            "integrity.inspection_intensity": 0.5,
            "integrity.removal": removal,
            "integrity.p_resign": 0.0,
        },
    )
    c = model.cadres
    lingering = 0
    while model.running:
        model.step()
        holders = c.post >= 0
        detected_in_office = holders & (c.detected | c.pending_removal | (c.disciplined_year == model.year))
        if removal == "strict":
            assert not detected_in_office.any(), f"year {model.year}"
        lingering += int(detected_in_office.sum())
    if removal == "lenient":
        assert lingering > 0  # the contrast: lenient removal keeps them until the congress


def test_lenient_removal_replaces_at_the_congress():
    model = _disciplined_model("warning", **{"integrity.removal": "lenient", "integrity.p_resign": 0.0})
    c = model.cadres
    culprits = np.flatnonzero((c.post >= 0) & (c.t_retire > model.year + 10))[:4]
    uids = c.uid[culprits].copy()
    c.violation[culprits] = True
    model.step()  # found in the first year of the term: stays
    rows = rows_of(model, uids)
    assert (c.post[rows] >= 0).all() and c.pending_removal[rows].all()
    while not model.is_congress_year:
        model.step()
        assert exits_of(model, uids) == {} or model.is_congress_year  # not before the congress
    exits = events_of(model, "exit")
    exits = exits[exits["cadre"].isin(uids)]
    assert exits_of(model, uids) == {int(u): "dismissed" for u in uids}
    assert (exits["year"] == model.year).all()


def test_two_not_completed_years_are_grounds_for_dismissal():
    model = teaching(**{"integrity.enabled": True, "integrity.p_violation": 0.0})
    c = model.cadres
    victim = np.flatnonzero((c.post >= 0) & (c.t_retire > model.year + 10))[0]
    uid = c.uid[victim]
    c.grades[victim, :] = 3  # not completed in every recorded year
    model.step()
    assert exits_of(model, [uid]) == {int(uid): "dismissed"}


# ---------------------------------------------------------------------------------------------
# confidence vote


def test_confidence_vote_thresholds():
    model = teaching(
        **{
            "confidence.enabled": True,
            "confidence.mean_low_share": 0.1,
            "confidence.prestige_weight": 1.0,
            "confidence.performance_weight": 0.0,
            "confidence.noise_sd": 0.0,
            "confidence.p_resign_above_half": 0.0,
            # nobody leaves or dies before the vote
            "demography.p_leave_leader": 0.0,
            "demography.mortality_at_40": 0.0,
        }
    )
    c = model.cadres
    base = np.log(0.1 / 0.9)
    holders = np.flatnonzero((c.post >= 0) & (c.t_retire > model.year + 10))
    c.prestige[:] = 0.0
    half, dismissed = holders[:3], holders[3:6]  # the other holders keep a low share
    # low share = sigmoid(base - prestige): 0.6 and 0.8
    c.prestige[half] = base - np.log(0.6 / 0.4)
    c.prestige[dismissed] = base - np.log(0.8 / 0.2)
    uids = {name: c.uid[rows].copy() for name, rows in (("half", half), ("dismissed", dismissed))}
    while not model.is_midterm or model.year < model.first_year:
        model.step()
    half = rows_of(model, uids["half"])
    assert np.allclose(c.low_confidence[half], 0.6, atol=1e-4)
    assert (c.status[half] == ACTIVE).all() and (c.n_planned[half] == 0).all()
    assert (c.ban_until[half] > model.year).all()
    assert exits_of(model, uids["dismissed"]) == {int(u): "dismissed" for u in uids["dismissed"]}
    assert model.headline("confidence_dismissed") >= 3


# ---------------------------------------------------------------------------------------------
# selection and structure


def test_patronage_adds_the_network_bonus_weakened_by_control_of_power():
    model = teaching(**{"appointment.patronage_strength": 10.0, "integrity.control_of_power": 0.25})
    c, p = model.cadres, model.posts
    post = int(np.flatnonzero((p.rank == 0) & (p.level == 1))[0])
    head = p.holder[post]
    staff = np.flatnonzero(c.post < 0)[:2]
    c.network[staff[0]] = c.network[head]
    c.network[staff[1]] = c.network[head] + 1
    score = np.zeros(c.n)
    s = pair_scores(model, "patronage", np.array([post]), np.zeros(2, np.int64), staff, score, "planning")
    assert s[0] - s[1] == pytest.approx(10.0 * 0.75)
    s = pair_scores(model, "merit", np.array([post]), np.zeros(2, np.int64), staff, score, "planning")
    assert s[0] == s[1]


def test_worst_first_selection_lowers_quality_in_office():
    best = teaching(seed=4, years=10)
    worst = teaching(
        seed=4, years=10, **{"planning.selection": "worst_first", "appointment.selection": "worst_first"}
    )
    best.run()
    worst.run()
    assert worst.headline("quality_in_office") < best.headline("quality_in_office")


def test_structure_targets_fill_pools_toward_the_target_when_candidates_are_scarce():
    few_women = {"recruitment.female_share": 0.12, "initial.female_share_holders": 0.08}
    gains = []
    for seed in (1, 2, 3):  # a pool of three holds few women: one seed alone is noisy
        on = teaching(seed=seed, years=4, **few_women, **{"planning.structure_targets": True}).run()
        off = teaching(seed=seed, years=4, **few_women, **{"planning.structure_targets": False}).run()
        assert off.headline("women_in_planning") < 0.2  # the natural supply is short of the target
        gains.append(on.headline("women_in_planning") - off.headline("women_in_planning"))
    assert min(gains) > 0 and np.mean(gains) > 0.02, gains


def test_structure_targets_do_not_overshoot_when_the_supply_is_ample():
    # a quota of one woman in every pool of three would give at least a third
    model = teaching(
        seed=2, years=4, **{"recruitment.female_share": 0.0, "initial.female_share_holders": 0.0}
    )
    model.run()
    assert model.headline("women_in_planning") == 0.0
    model = teaching(seed=2, years=4, **{"metrics.target_women": 0.1, "initial.female_share_holders": 0.2})
    model.run()
    assert model.headline("women_in_planning") < 0.33


def test_fast_track_sends_young_cadres_to_grassroots_deputy_posts():
    model = teaching(years=3, **{"fast_track.enabled": True, "fast_track.yearly_intake": 20})
    model.run()
    moves = events_of(model, "rotation")
    moves = moves[moves["cause"] == "fast_track"]
    assert len(moves) > 0
    p, c = model.posts, model.cadres
    assert (p.level[moves["post"].to_numpy()] == model.units.n_levels - 1).all()
    assert (p.rank[moves["post"].to_numpy()] == 1).all()
    rows = rows_of(model, moves["cadre"].unique())
    assert c.fast_track[rows].all()
    assert (model.year + 0.5 - c.birth[rows] < 35 + 3).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"planning.selection": "best_worst_mix"},
        {"rotation.nonlocal_posts": ["provincial.party.head", "district.party.head"]},
    ],
)
def test_local_planning_pairs_repeat_only_where_the_selector_says_they_may(overrides):
    """Planning skips removing repeated (post, cadre) pairs when `Selector.may_repeat` says the
    local pairs cannot repeat: they must then be distinct."""
    from pipeline_sim.world.operations import Selector
    from pipeline_sim.world.rules import planning_eligible

    settings = {"hierarchy.scale": 0.05, **overrides}
    model = PipelineModel("scenarios/baseline.toml", seed=2, years=3, **settings)
    model.step()
    model.step()
    plan = model.scenario.planning
    sel = Selector(model, planning_eligible(model), plan.selection, "planning")
    posts = model.posts.key_posts
    owner, rows, _ = sel.local_pairs(posts, plan.max_level_gap, [2], plan.max_candidates + 3)
    assert sel.may_repeat(posts) == ("rotation.nonlocal_posts" in overrides)
    if not sel.may_repeat(posts):
        key = owner * (model.cadres.n + 1) + rows
        assert len(np.unique(key)) == len(key)

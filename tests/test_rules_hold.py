"""Rules that must hold over whole runs with the mechanisms on (each once broke)."""

from __future__ import annotations

import numpy as np

from pipeline_sim import PipelineModel
from pipeline_sim.processes.assessment import EXCELLENT, GOOD, grades_from_scores
from pipeline_sim.scenario.schema import Assessment


def teaching(seed=4, years=12, **overrides) -> PipelineModel:
    return PipelineModel(
        {"name": "t", "hierarchy": {"preset": "teaching"}}, seed=seed, years=years, **overrides
    )


def test_a_head_elected_at_a_congress_serves_two_full_terms_before_the_rule_moves_them():
    # only heads limited by the rule step down for it (exchange partners are merely moved)
    model = teaching(years=16)
    p = model.posts
    seated_last_congress: set[int] = set()
    limited_seen = 0
    while model.running:
        model.step()
        if not model.is_congress_year:
            continue
        ev = model.events_frame()
        limited = ev[(ev["year"] == model.year) & (ev["kind"] == "step_down") & (ev["cause"] == "term_limit")]
        limited_seen += len(limited)
        assert not set(limited["cadre"]) & seated_last_congress, "limited after one term"
        heads = np.flatnonzero((p.rank == 0) & (p.holder >= 0) & (p.term_start == model.year + 1))
        seated_last_congress = set(model.cadres.uid[p.holder[heads]].tolist())
        assert len(seated_last_congress) > 0, "heads elected at a congress serve from the new term"
    assert limited_seen > 0


def test_rotation_never_puts_a_local_into_a_post_reserved_for_non_locals():
    model = teaching(years=10, **{"rotation.rate": 0.9, "rotation.nonlocal_posts": ["commune.party.head"]})
    p, c = model.posts, model.cadres
    target = np.flatnonzero(model.nonlocal_post)
    while model.running:
        model.step()
        ev = model.events_frame()
        moves = ev[(ev["year"] == model.year) & (ev["kind"] == "rotation") & ev["post"].isin(target)]
        uids = moves["cadre"].to_numpy()
        order = np.argsort(c.uid)
        rows = order[np.searchsorted(c.uid[order], uids)]
        assert (c.home[rows] != p.locality[moves["post"].to_numpy()]).all()


def test_every_cadre_moved_by_planned_rotation_had_ten_years_left():
    model = teaching(years=10, **{"rotation.rate": 0.5})
    c = model.cadres
    while model.running:
        left = c.t_retire - (model.year + 1)
        uids = c.uid.copy()
        model.step()
        ev = model.events_frame()
        moves = ev[(ev["year"] == model.year) & (ev["kind"] == "rotation")]
        moves = moves[moves["cause"].isin(["down", "up", "locality", "sector"])]
        order = np.argsort(uids)
        before = order[np.searchsorted(uids[order], moves["cadre"].to_numpy())]
        assert (left[before] >= 10).all(), "rotated with less than 10 years of service left"


def test_one_violation_is_disciplined_once():
    model = teaching(years=5, **{"integrity.p_violation": 0.0, "integrity.inspection_intensity": 1.0})
    c = model.cadres
    staff = np.flatnonzero((c.post < 0) & (c.t_retire > model.year + 10))[:30]
    c.violation[staff] = True
    uids = set(c.uid[staff].tolist())
    model.run()
    ev = model.events_frame()
    disciplined = ev[(ev["kind"] == "discipline") & ev["cadre"].isin(uids)]
    assert len(disciplined) == len(uids)
    assert disciplined["year"].nunique() == 1


def test_holders_awaiting_removal_are_neither_planned_nor_promoted():
    model = teaching(
        years=12,
        **{
            "integrity.removal": "lenient",
            "integrity.p_violation": 0.03,
            "integrity.inspection_intensity": 0.6,
        },
    )
    c = model.cadres
    seen = 0
    while model.running:
        pending_before = set(c.uid[c.pending_removal & (c.post >= 0)].tolist())
        model.step()
        pools = model.pools[model.pools >= 0]
        assert not c.pending_removal[pools].any(), "a cadre awaiting removal is in a planning pool"
        ev = model.events_frame()
        promoted = ev[(ev["year"] == model.year) & (ev["kind"] == "promotion")]
        assert not set(promoted["cadre"]) & pending_before
        seen += len(pending_before)
    assert seen > 0  # the case did arise


def test_the_excellent_cap_holds_after_disciplined_cadres_are_graded_not_completed():
    a = Assessment()
    score = np.array([95.0] * 4 + [80.0] * 20)  # 4 excellent candidates, 20 good
    unit = np.zeros(24, dtype=np.int64)
    forced = np.zeros(24, dtype=bool)
    forced[4:14] = True  # ten good cadres disciplined: not completed
    grade = grades_from_scores(score, unit, a, np.ones(24, bool), not_completed=forced)
    n_exc, n_good = (grade == EXCELLENT).sum(), (grade == GOOD).sum()
    assert n_exc <= 0.2 * n_good


def test_a_return_home_does_not_start_a_new_rotation():
    model = teaching(years=14, **{"rotation.rate": 0.5, "rotation.p_return": 1.0})
    c = model.cadres
    returned = 0
    while model.running:
        model.step()
        ev = model.events_frame()
        back = ev[(ev["year"] == model.year) & (ev["cause"] == "return")]
        if len(back):
            order = np.argsort(c.uid)
            rows = order[np.searchsorted(c.uid[order], back["cadre"].to_numpy())]
            assert (c.rotation_until[rows] < model.year).all()
            returned += len(back)
    assert returned > 0


def test_rotation_metrics_count_both_sides_of_an_exchange():
    model = teaching(years=6, **{"rotation.rate": 0.5})
    model.run()
    ev = model.events_frame()
    m = model.metrics_frame()
    swaps = ev[(ev["kind"] == "rotation") & ev["cause"].isin(["locality", "sector"])]
    counted = m[
        (m["metric"].isin(["rotations_locality", "rotations_sector"]))
        & (m["level"] == "all")
        & (m["sector"] == "all")
    ]["value"].sum()
    assert len(swaps) > 0
    assert counted == len(swaps)


def test_the_assessment_record_counts_only_years_with_a_grade():
    """record_ok: the last `years` grades at least the minimum; a year without a grade (e.g. a
    new entrant's) does not count against."""
    from pipeline_sim.world.cadres import HISTORY, NO_GRADE
    from pipeline_sim.world.rules import record_ok

    model = teaching(years=1)
    c = model.cadres
    rows = np.arange(6)
    last, before = model.last_assessed_year % HISTORY, (model.last_assessed_year - 1) % HISTORY
    # excellent 0, good 1, completed 2, not completed 3
    c.grades[rows, last] = [0, 1, 2, NO_GRADE, 1, NO_GRADE]
    c.grades[rows, before] = [1, 1, 1, 1, 3, NO_GRADE]
    model.year_cache.clear()
    assert record_ok(model, "good", 1)[rows].tolist() == [True, True, False, True, True, True]
    assert record_ok(model, "good", 2)[rows].tolist() == [True, True, False, True, False, True]
    assert record_ok(model, "excellent", 1)[rows].tolist() == [True, False, False, True, False, True]
    assert record_ok(model, "not_completed", 2)[rows].all()

"""The population at the start is consistent and stationary (DESIGN.md, "Credibility").

Consistent: each cadre's age is drawn with their own sex, so nobody starts past their own
retirement date. Stationary: the first simulated year looks like the years after it (exits by
cause, discipline), so that no burn-in is needed. Posts held at the start are in the event log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline_sim import PipelineModel
from pipeline_sim.scenario.schema import RANKS
from pipeline_sim.world.cadres import ACTIVE

#: a twentieth of the national structure: ~50,000 cadres, two terms in a few seconds
SMALL = {"hierarchy.scale": 0.05}
SEEDS = (1, 2)


@pytest.fixture(scope="module")
def small_runs() -> list[PipelineModel]:
    return [PipelineModel("scenarios/baseline.toml", seed=s, years=10, **SMALL).run() for s in SEEDS]


def _totals(model: PipelineModel) -> pd.DataFrame:
    """year x metric, all levels and sectors."""
    f = model.metrics_frame()
    f = f[(f["level"] == "all") & (f["sector"] == "all")]
    return f.pivot(index="year", columns="metric", values="value")


def _holder_exits(model: PipelineModel) -> pd.DataFrame:
    """year x cause: exits of post holders, from the event log."""
    ev = model.events_frame()
    ex = ev[(ev["kind"] == "exit") & (ev["post"] >= 0)]
    return ex.groupby(["year", ex["cause"].astype(str)]).size().unstack(fill_value=0)


def test_nobody_starts_past_their_own_retirement_date():
    model = PipelineModel("scenarios/baseline.toml", seed=1, years=1, **SMALL)
    c = model.cadres
    first = model.first_year
    assert (c.status == ACTIVE).all()
    # the set-up ends with the year before the first: everybody retires in the first year or later
    assert (c.t_retire >= first).all()
    # women, with the earlier retirement age, are younger in the staff pool than men
    age = first + 0.5 - c.birth
    staff = c.post < 0
    assert age[staff & c.female].max() < age[staff & ~c.female].max()


def test_initial_holders_meet_the_age_rule_of_the_congress_that_seated_them():
    """The run starts with a term: holders were re-elected with 48 months left, or first elected."""
    model = PipelineModel("scenarios/baseline.toml", seed=1, years=1, **SMALL)
    c, p = model.cadres, model.posts
    rows = p.holder[p.holder >= 0]
    cg = model.scenario.congress
    assert (c.t_retire[rows] - model.first_year >= cg.reelect_min_service_years).all()


def test_exits_by_cause_in_the_first_year_are_within_the_range_of_later_years(small_runs):
    causes = ("retired", "died", "left", "resigned", "dismissed")
    for model in small_runs:
        t = _totals(model)
        for cause in causes:
            col = t[f"exits_{cause}"]
            first, later = col.iloc[0], col.iloc[1:]
            # three Poisson standard deviations of slack on either side of the later years' range
            low, high = later.min(), later.max()
            assert low - 3 * np.sqrt(low) - 1 <= first <= high + 3 * np.sqrt(high) + 1, (
                cause,
                first,
                later.tolist(),
            )


def test_holders_retire_in_the_first_term_as_in_the_second(small_runs):
    """Under the congress age rules holders retire only in a term's last year; the first term too."""
    term = small_runs[0].scenario.simulation.term_years
    for model in small_runs:
        retired = _holder_exits(model).get("retired", pd.Series(dtype=float))
        by_year = retired.reindex(range(model.first_year, model.first_year + 2 * term), fill_value=0)
        first, second = by_year.iloc[:term].to_numpy(), by_year.iloc[term:].to_numpy()
        assert (first[:-1] == 0).all() and (second[:-1] == 0).all(), by_year.tolist()


def test_initial_holders_keep_the_mean_age_of_the_scenario():
    """Truncating ages at the congress rules does not pull the holders' mean age down."""
    model = PipelineModel("scenarios/baseline.toml", seed=1, years=1, **SMALL)
    c, p = model.cadres, model.posts
    age = model.first_year + 0.5 - c.birth
    means = model.scenario.initial.holder_age_mean
    # ~1,500 commune heads and ~800 district members: sampling error about 0.2 years
    commune_heads = p.holder[(p.level == 3) & (p.rank == 0)]
    district_members = p.holder[(p.level == 2) & (p.rank == 2)]
    assert age[commune_heads].mean() == pytest.approx(means["commune"], abs=0.6)
    assert age[district_members].mean() == pytest.approx(means["district"] - 4.0, abs=0.6)


def test_discipline_does_not_climb_through_the_first_term(small_runs):
    for model in small_runs:
        t = _totals(model)
        disciplined = t[[c for c in t.columns if c.startswith("disciplined_")]].sum(axis=1)
        first, later = disciplined.iloc[0], disciplined.iloc[5:].mean()
        assert 0.75 * later <= first <= later / 0.75, disciplined.tolist()
    # the share of holders with an undetected violation: about 100 holders at this scale, so the
    # seeds are pooled (one seed's year varies by about 10%)
    share = pd.concat([_totals(m)["undetected_violation_share"] for m in small_runs], axis=1).mean(axis=1)
    assert 0.75 * share.iloc[5:].mean() <= share.iloc[0] <= share.iloc[5:].mean() / 0.75, share.tolist()


def test_initial_violations_are_the_steady_state_of_the_violation_process():
    """With every cadre alike, the initial share is p(1-d) / (d + p(1-d)) after a long service."""
    p, d = 0.05, 0.3
    model = PipelineModel(
        "scenarios/baseline.toml",
        seed=1,
        years=1,
        **SMALL,
        **{
            "integrity.p_violation": p,
            "integrity.integrity_effect": 0.0,
            "integrity.power_effect_per_level": 0.0,
            "integrity.head_effect": 0.0,
            "integrity.tenure_effect": 0.0,
            "integrity.inspection_intensity": d,
        },
    )
    c = model.cadres
    steady = p * (1 - d) / (d + p * (1 - d))
    served = model.year - c.entry_year  # years of service at the start
    old = served >= 20  # long enough for the geometric approach to be complete
    assert c.violation[old].mean() == pytest.approx(steady, rel=0.05)
    assert not c.detected.any()


# ---------------------------------------------------------------------------------------------
# the start in the event log


def test_every_post_held_at_the_start_is_in_the_event_log():
    model = PipelineModel("scenarios/teaching.toml", seed=2, years=2)
    p = model.posts
    held = np.flatnonzero(p.holder >= 0)
    uids = model.cadres.uid[p.holder[held]]
    model.run()
    ev = model.events_frame()
    start = ev[ev["kind"] == "start"]
    assert (start["year"] == model.first_year).all()
    assert sorted(zip(start["post"], start["cadre"], strict=True)) == sorted(
        zip(held.tolist(), uids.tolist(), strict=True)
    )
    # a career starts with the post held at the start
    career = model.cadre(int(uids[0])).career()
    assert career.iloc[0]["kind"] == "start" and career.iloc[0]["post"] == held[0]


def test_start_records_do_not_count_as_appointments():
    model = PipelineModel("scenarios/teaching.toml", seed=2, years=3).run()
    ev = model.events_frame()
    t = _totals(model)
    moves = ev[ev["kind"].isin(["appointment", "promotion"])].groupby("year").size()
    np.testing.assert_array_equal(
        moves.reindex(t.index, fill_value=0).to_numpy(), t["appointments"].to_numpy()
    )


def test_start_records_come_after_the_burn_in():
    model = PipelineModel("scenarios/teaching.toml", seed=2, years=2, **{"simulation.burn_in_years": 2})
    held = int((model.posts.holder >= 0).sum())
    ev = model.run().events_frame()
    assert ev["year"].min() == model.first_year
    assert (ev["kind"] == "start").sum() == held


@pytest.mark.xfail(
    strict=True,
    reason="known remaining transient: the model's own steady state holds older post holders than "
    "initial.holder_age_mean (an estimate below the provincial level), so the step-downs at the "
    "congress age rule climb over the first terms",
)
def test_step_downs_at_the_first_congress_match_the_second(small_runs):
    for model in small_runs:
        t = _totals(model)["step_downs"]
        first, second = t.iloc[4], t.iloc[9]
        assert 0.6 * second <= first <= second / 0.6, t.tolist()


def test_competence_of_the_service_starts_at_the_level_it_keeps():
    """Competence grows with each year of work: the years served before the start count too."""
    model = PipelineModel("scenarios/baseline.toml", seed=1, years=25, **SMALL)

    def mean_competence() -> float:
        c = model.cadres
        return float(c.competence[c.status == ACTIVE].mean())

    model.step()
    first = mean_competence()
    model.run()
    assert first == pytest.approx(mean_competence(), abs=0.1)


@pytest.mark.parametrize("steady", [True, False])
def test_quality_in_office_starts_at_its_steady_state(steady):
    """Merit selection sorts the start within two or three terms; starting each group of holders
    and staff at the steady-state mean (pipeline_sim/data/steady_start.toml) removes the climb
    (about 1.0 to 1.9 over 20 years from the grade bonus alone)."""
    model = PipelineModel(
        "scenarios/baseline.toml", seed=1, years=25, **SMALL, **{"initial.steady_competence": steady}
    ).run()
    q = _totals(model)["quality_in_office"]
    first, later = q.iloc[0], q.iloc[15:].mean()
    if steady:
        assert first == pytest.approx(later, rel=0.15), q.round(2).tolist()
    else:
        assert later > 1.4 * first, q.round(2).tolist()


def test_steady_competence_means_are_given_for_every_group_of_the_presets():
    from pipeline_sim import load_scenario

    for path in ("scenarios/baseline.toml", "scenarios/reform2025.toml", "scenarios/teaching.toml"):
        s = load_scenario(path)
        levels = s.hierarchy.levels
        assert set(s.initial.holder_competence_mean) == {f"{lvl}.{r}" for lvl in levels for r in RANKS}
        assert set(s.initial.staff_competence_mean) == set(levels)

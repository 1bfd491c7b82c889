"""Metrics mean what DESIGN.md says: hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import PipelineModel, load_scenario
from pipeline_sim.metrics import year_metrics
from pipeline_sim.processes.assessment import COMPLETED, EXCELLENT, GOOD, NOT_COMPLETED, grades_from_scores
from pipeline_sim.scenario.schema import Assessment, Demography
from pipeline_sim.world.cadres import EXIT_CAUSES
from pipeline_sim.world.operations import exit_service, fill_vacancies
from pipeline_sim.world.rules import retirement_age, retirement_dates

PROVINCE, DISTRICT = 0, 1
HEAD, DEPUTY = 0, 1


# ---------------------------------------------------------------------------------------------
# succession gaps


@pytest.fixture
def two_levels(custom, make_eligible, holder_of):
    """A province head above a district with a head and a deputy (and district staff).

    Planning needs 10 years of service left, an appointment 5, so a cadre with 7 years left can
    be appointed but not planned. Everyone else is eligible for everything.
    """

    def build(seed: int = 3) -> tuple[PipelineModel, int, int, int]:
        """The model and the rows of the province head, the district head and the deputy."""
        scenario = custom(
            ["province", "district"],
            {"province": {"head": 1}, "district": {"head": 1, "deputy": 1}},
            {"district": 3},
            planning={"min_service_left_years": 10.0},
        )
        model = PipelineModel(scenario, seed=seed, years=3)
        make_eligible(model)
        roles = (
            holder_of(model, PROVINCE),
            holder_of(model, DISTRICT, HEAD),
            holder_of(model, DISTRICT, DEPUTY),
        )
        return model, *roles

    return build


def appointments_to(model: PipelineModel, post: int):
    ev = model.events_frame()
    ev = ev[(ev["year"] == model.year) & (ev["post"] == post)]
    return ev[ev["kind"].isin(["appointment", "promotion"])]


def test_vacancy_whose_only_planned_successor_retires_the_same_year_is_a_gap(two_levels, set_pools, post_of):
    model, top, successor, deputy = two_levels()
    year = model.year + 1  # the year the next step simulates
    c = model.cadres
    c.t_retire[top] = year + 0.5  # the province head retires this year ...
    c.t_retire[successor] = year + 0.5  # ... and so does the one planned successor
    c.t_retire[deputy] = year + 7.0  # appointable, too old to be planned
    set_pools(model, {post_of(model, PROVINCE): [successor]})
    deputy_uid = int(c.uid[deputy])

    model.step()

    assert model.year == year
    assert model.headline("key_vacancies", "province") == 1
    assert model.headline("succession_gaps", "province") == 1
    assert model.headline("succession_gap_rate", "province") == 1.0
    # the post was still filled, from outside the pool: a gap is about the pool, not the vacancy
    filled = appointments_to(model, post_of(model, PROVINCE))
    assert list(filled["cadre"]) == [deputy_uid]
    assert list(filled["cause"]) == ["unplanned"]


def test_vacancy_filled_by_a_ready_planned_successor_is_not_a_gap(two_levels, set_pools, post_of):
    model, top, successor, deputy = two_levels()
    year = model.year + 1
    c = model.cadres
    c.t_retire[top] = year + 0.5
    c.t_retire[deputy] = year + 7.0
    set_pools(model, {post_of(model, PROVINCE): [successor]})
    successor_uid = int(c.uid[successor])

    model.step()

    assert model.headline("key_vacancies", "province") == 1
    assert model.headline("succession_gaps", "province") == 0
    filled = appointments_to(model, post_of(model, PROVINCE))
    assert list(filled["cadre"]) == [successor_uid]
    assert list(filled["cause"]) == ["planned"]
    # the promotion opened the district head post, whose pool had nobody: one gap out of two
    assert model.headline("key_vacancies", "district") == 1
    assert model.headline("succession_gaps", "district") == 1
    assert model.headline("succession_gap_rate") == 0.5


def test_planned_successor_who_is_not_ready_does_not_prevent_a_gap(two_levels, set_pools, post_of):
    model, top, successor, deputy = two_levels()
    year = model.year + 1
    c = model.cadres
    c.t_retire[top] = year + 0.5
    c.t_retire[deputy] = year + 7.0
    c.post_start[successor] = year - 1  # one year in post: planned, but short of the 2-year tenure
    set_pools(model, {post_of(model, PROVINCE): [successor]})

    model.step()

    assert model.headline("key_vacancies", "province") == 1
    assert model.headline("succession_gaps", "province") == 1


def test_a_vacancy_is_assessed_once_and_its_duration_counts_when_filled(two_levels, set_pools, post_of):
    model, top, successor, deputy = two_levels()
    year = model.year + 1
    c = model.cadres
    c.t_retire[top] = year + 0.5
    # nobody may take the province post this year: both district cadres are banned until next year
    c.ban_until[[successor, deputy]] = year + 1
    set_pools(model, {})
    province_head = post_of(model, PROVINCE)

    model.step()  # the vacancy opens and stays open
    assert model.posts.holder[province_head] < 0
    assert model.headline("key_vacancies", "province") == 1
    assert model.headline("succession_gaps", "province") == 1
    assert model.headline("vacant_key_posts", "province") == 1

    model.step()  # the bans have lapsed: the post is filled, one year after it fell vacant
    assert model.posts.holder[province_head] >= 0
    assert model.headline("key_vacancies", "province") == 0  # not assessed a second time
    assert model.headline("vacancy_duration_mean", "province") == 1.0
    assert model.headline("vacant_key_posts", "province") == 0


def test_promoting_an_initial_key_post_holder_is_not_a_first_key_appointment(two_levels, set_pools, post_of):
    model, top, successor, deputy = two_levels()
    year = model.year + 1
    c = model.cadres
    c.t_retire[top] = year + 0.5
    c.t_retire[deputy] = year + 7.0
    set_pools(model, {post_of(model, PROVINCE): [successor]})
    assert model.posts.key[post_of(model, DISTRICT)]  # the successor holds a key post already
    successor_uid = int(c.uid[successor])  # rows may move when the table is compacted

    model.step()

    assert int(model.cadres.uid[model.posts.holder[post_of(model, PROVINCE)]]) == successor_uid
    # the only key appointment at province level went to someone who already held a key post
    assert np.isnan(model.headline("first_key_age_mean", "province"))


# ---------------------------------------------------------------------------------------------
# vacancy chains


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_vacancy_chain_on_a_strict_ladder_has_one_move_per_level_below(
    level, build_ladder, make_eligible, holder_of
):
    model = build_ladder(n_levels=4)
    make_eligible(model)
    year = model.year + 1
    model.cadres.t_retire[holder_of(model, level)] = year + 0.5

    model.step()

    expected_moves = 4 - level
    chains = model.last_metrics["vacancy_chains"][:, -1]  # sector 'all'
    lengths = model.last_metrics["vacancy_chain_length_mean"][:, -1]
    assert chains[level] == 1 and chains[-1] == 1, "exactly one chain, started at the vacated level"
    assert lengths[level] == expected_moves
    assert model.headline("vacancy_chain_length_mean", model.levels[level]) == expected_moves
    # the event log tells the same story: one appointment per move, the last one from the staff pool
    ev = model.events_frame()
    moves = ev[(ev["year"] == year) & ev["kind"].isin(["appointment", "promotion"])]
    assert len(moves) == expected_moves
    assert moves["chain"].nunique() == 1
    assert (moves["from_post"] == -1).sum() == 1
    assert (model.posts.holder >= 0).all(), "every post is filled again"


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_vacancy_chain_built_from_operations_counts_each_move(level, build_ladder, make_eligible, holder_of):
    model = build_ladder(n_levels=4)
    make_eligible(model)
    model.new_year()  # fresh yearly caches after the state was rearranged
    leaving = holder_of(model, level)
    post = int(model.cadres.post[leaving])
    exit_service(model, np.array([leaving]), "retired")
    chain = int(model.posts.vacancy_chain[post])
    assert chain >= 0 and model.posts.holder[post] == -1

    fill_vacancies(model)

    assert model.chains.moves[chain] == 4 - level
    assert model.chains.closed_year[chain] == model.year
    assert (model.posts.holder >= 0).all()


# ---------------------------------------------------------------------------------------------
# bench strength


def test_bench_strength_and_ready_successors_on_a_hand_made_pool(custom, make_eligible, set_pools, post_of):
    scenario = custom(
        ["province", "district"],
        {"province": {"head": 1}, "district": {"head": 1, "deputy": 2}},
        {"district": 2},
    )
    model = PipelineModel(scenario, seed=4, years=2)
    make_eligible(model)
    p = model.posts
    head, dep1, dep2 = (int(p.holder[post_of(model, DISTRICT, r, n)]) for r, n in ((0, 0), (1, 0), (1, 1)))
    model.cadres.t_retire[dep2] = model.year + 4.0  # only 3 years left next year: not ready
    set_pools(model, {post_of(model, PROVINCE): [head, dep1, dep2]})  # district head: empty pool

    m = year_metrics(model)
    province, district, total = 0, 1, -1
    bench, ready, planned = (
        m["bench_strength"][:, -1],
        m["ready_successors_per_post"][:, -1],
        m["planned_per_post"][:, -1],
    )
    assert bench[province] == 1.0 and bench[district] == 0.0 and bench[total] == 0.5
    assert ready[province] == 2.0 and ready[district] == 0.0 and ready[total] == 1.0
    assert planned[province] == 3.0 and planned[total] == 1.5

    # readiness is judged at the start of next year: a ban ending next year does not count against
    model.cadres.ban_until[dep1] = model.year + 2
    assert year_metrics(model)["ready_successors_per_post"][province, -1] == 1.0
    model.cadres.ban_until[dep1] = model.year + 1
    assert year_metrics(model)["ready_successors_per_post"][province, -1] == 2.0


# ---------------------------------------------------------------------------------------------
# the metrics table


COUNTS = (
    "key_vacancies",
    "succession_gaps",
    "vacant_posts",
    "vacant_key_posts",
    "key_posts",
    "appointments",
    "promotions",
    "step_downs",
    "planning_additions",
    "planning_removals",
    "entrants",
    "cadres",
    "holders",
    "staff",
    "exits_retired",
    "exits_died",
    "exits_left",
)


@pytest.fixture(scope="module")
def teaching_frame():
    scenario = {"name": "teach", "hierarchy": {"preset": "teaching"}}
    model = PipelineModel(scenario, seed=2, years=6)  # spans a congress year (2025)
    model.run()
    frame = model.metrics_frame()
    assert frame["year"].nunique() == 6
    return frame


def test_gap_rate_is_gaps_over_key_vacancies_in_every_row(teaching_frame):
    wide = teaching_frame.pivot_table(
        index=["year", "level", "sector"], columns="metric", values="value", observed=True
    )
    both = wide[["succession_gaps", "key_vacancies"]].dropna()
    defined = both[both["key_vacancies"] > 0]
    assert len(defined) > 10
    rate = wide.loc[defined.index, "succession_gap_rate"]
    np.testing.assert_allclose(rate, defined["succession_gaps"] / defined["key_vacancies"])
    # no rate where there was no vacancy
    none = both[both["key_vacancies"] == 0].index
    assert wide.loc[none, "succession_gap_rate"].isna().all()
    assert wide["succession_gap_rate"].dropna().between(0, 1).all()


@pytest.mark.parametrize("metric", COUNTS)
def test_all_rows_are_sums_of_their_parts_for_counts(teaching_frame, metric):
    f = teaching_frame[teaching_frame["metric"] == metric]
    t = f.pivot_table(index=["year", "level"], columns="sector", values="value", observed=True)
    sectors = [s for s in t.columns if s != "all"]
    np.testing.assert_allclose(t["all"], t[sectors].sum(axis=1))
    t = f.pivot_table(index=["year", "sector"], columns="level", values="value", observed=True)
    levels = [lv for lv in t.columns if lv != "all"]
    np.testing.assert_allclose(t["all"], t[levels].sum(axis=1))


def test_all_rows_of_shares_are_weighted_by_their_denominators(teaching_frame):
    f = teaching_frame[teaching_frame["sector"] == "all"]
    wide = f.pivot_table(index=["year", "level"], columns="metric", values="value", observed=True)
    for year in f["year"].unique():
        parts = wide.loc[year].drop(index="all")
        total = wide.loc[(year, "all")]
        expected = (parts["bench_strength"] * parts["key_posts"]).sum() / parts["key_posts"].sum()
        assert total["bench_strength"] == pytest.approx(expected)


def test_head_count_follows_entrants_and_exits(teaching_frame):
    f = teaching_frame[(teaching_frame["level"] == "all") & (teaching_frame["sector"] == "all")]
    wide = f.pivot(index="year", columns="metric", values="value")
    exits = wide[[f"exits_{cause}" for cause in EXIT_CAUSES]].sum(axis=1)
    expected = wide["cadres"].shift(1) + wide["entrants"] - exits
    np.testing.assert_allclose(wide["cadres"].iloc[1:], expected.iloc[1:])


# ---------------------------------------------------------------------------------------------
# assessment


def cap_check(good: int, excellent: int) -> tuple[int, int]:
    """Grades of one unit with `good` scores in the good band and `excellent` in the top band."""
    a = Assessment()
    score = np.r_[np.full(good, 80.0), 90.0 + np.arange(excellent, dtype=float)]
    grade = grades_from_scores(score, np.zeros(len(score), np.int64), a, np.ones(len(score), bool))
    return int((grade == GOOD).sum()), int((grade == EXCELLENT).sum())


@pytest.mark.parametrize(
    ("good", "excellent", "kept"),
    [
        (10, 2, 2),  # 2 = 20% of 10: exactly at the cap
        (5, 1, 1),  # 1 = 20% of 5
        (4, 1, 0),  # 1 > 20% of 4 (and of 5 after demotion)
        (9, 3, 2),  # one demoted: 2 = 20% of 10
        (10, 3, 2),  # 3 > 20% of 10, 2 <= 20% of 11
        (20, 5, 4),  # 5 > 20% of 20, 4 <= 20% of 21
        (24, 6, 5),  # one demoted: 5 = 20% of 25
        (25, 5, 5),  # 5 = 20% of 25
        (0, 3, 0),
        (100, 0, 0),
    ],
)
def test_excellent_is_capped_at_a_fifth_of_good_within_a_unit(good, excellent, kept):
    n_good, n_exc = cap_check(good, excellent)
    assert n_exc == kept
    assert n_good + n_exc == good + excellent, "demoted excellents become good"
    assert n_exc <= 0.2 * n_good


def test_cap_demotes_the_lowest_scoring_excellents_and_counts_units_apart():
    a = Assessment()
    # unit 0: 5 good + 3 excellent (keeps 1); unit 1: 10 good + 2 excellent (keeps 2)
    score = np.array([80.0] * 5 + [95.0, 99.0, 91.0] + [75.0] * 10 + [92.0, 93.0])
    unit = np.array([0] * 8 + [1] * 12)
    grade = grades_from_scores(score, unit, a, np.ones(len(score), bool))
    assert list(np.flatnonzero(grade == EXCELLENT)) == [6, 18, 19]


def test_rows_not_counted_take_no_part_in_the_cap():
    a = Assessment()
    score = np.array([80.0] * 5 + [95.0, 96.0])
    counted = np.array([True] * 5 + [True, False])
    grade = grades_from_scores(score, np.zeros(7, np.int64), a, counted)
    assert grade[5] == EXCELLENT  # 1 counted excellent against 5 good: allowed


def test_score_bands_include_their_lower_bound():
    a = Assessment()
    score = np.array([90.0, 89.99, 70.0, 69.99, 50.0, 49.99], dtype=np.float32)
    grade = grades_from_scores(score, np.arange(6), a, np.zeros(6, bool))
    assert list(grade) == [EXCELLENT, GOOD, GOOD, COMPLETED, COMPLETED, NOT_COMPLETED]


def test_excellent_never_exceeds_a_fifth_of_good_in_a_simulated_year(teaching):
    model = PipelineModel(teaching, seed=7, years=2)
    for phase in model.plan:  # stop right after the assessment (appointments later move cadres)
        phase.run(model)
        if phase.NAME == "assessment":
            break
    c = model.cadres
    active = c.status == 0
    grade = c.grades[active, model.year % c.grades.shape[1]]
    unit = c.unit[active]
    n_units = model.units.n
    exc = np.bincount(unit[grade == EXCELLENT], minlength=n_units)
    good = np.bincount(unit[grade == GOOD], minlength=n_units)
    assert exc.sum() > 0
    assert (exc <= 0.2 * good + 1e-9).all()


# ---------------------------------------------------------------------------------------------
# retirement


MONTH = 1.0 / 12.0


def statutory_date(birth: float, female: bool) -> float:
    """The date of retirement by the statutory schedule, worked out by calendar year.

    Men: 60 before 2021, 60y3m in 2021, +3 months a year to 62 in 2028 and after. Women: 55 before
    2021, 55y4m in 2021, +4 months a year to 60 in 2035 and after. A cadre retires in the first
    calendar year Y whose age A(Y) they reach within Y.
    """
    for year in range(1950, 2100):
        if female:
            age = 55.0 if year < 2021 else min(60.0, 55.0 + 4 * (year - 2020) / 12)
        else:
            age = 60.0 if year < 2021 else min(62.0, 60.0 + 3 * (year - 2020) / 12)
        if birth + age < year + 1:
            return max(birth + age, float(year))
    raise AssertionError("no retirement year found")


def test_retirement_age_in_force_by_calendar_year():
    d = Demography()
    male, female = d.retirement_male, d.retirement_female
    assert retirement_age(male, 2020) == 60.0
    assert retirement_age(male, 2021) == pytest.approx(60.25)
    assert retirement_age(male, 2026) == pytest.approx(61.5)  # rules.md: 61y6m in 2026
    assert retirement_age(male, 2028) == pytest.approx(62.0)
    assert retirement_age(male, 2040) == pytest.approx(62.0)
    assert retirement_age(female, 2020) == 55.0
    assert retirement_age(female, 2021) == pytest.approx(55 + 4 / 12)
    assert retirement_age(female, 2026) == pytest.approx(57.0)  # rules.md: 57 in 2026
    assert retirement_age(female, 2035) == pytest.approx(60.0)
    assert retirement_age(female, 2050) == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("birth", "female", "expected"),
    [
        (1950.0, False, 2010.0),  # before the reform: 60
        (1960.5, False, 2020.5),
        (1961.0, False, 2021.25),  # 60y3m in 2021
        (1970.0, False, 2032.0),  # after the ramp: 62
        (1955.0, True, 2010.0),  # before the reform: 55
        (1976.0, True, 2036.0),  # 60 from 2035 on
        (1980.0, True, 2040.0),
    ],
)
def test_retirement_dates_match_the_schedule_at_its_ends(birth, female, expected):
    got = retirement_dates(np.array([birth]), np.array([female]), Demography())[0]
    assert statutory_date(birth, female) == pytest.approx(expected)
    assert got == pytest.approx(expected, abs=MONTH + 1e-6)


@pytest.mark.parametrize(
    ("birth", "female", "expected"),
    [
        (1966.0, False, 2027.75),  # 61y9m, the age in force in 2027, reached in October 2027
        (1963.0, False, 2023.75),  # 60y9m in 2023
        (1966.0, True, 2021.0 + 4 / 12),  # 55y4m in 2021
        (1970.0, True, 2027.0 + 4 / 12),  # 57y4m in 2027
        (1975.0, True, 2034.0 + 8 / 12),  # 59y8m in 2034, reached in September 2034
    ],
)
def test_retirement_dates_follow_the_age_in_force_in_the_calendar_year(birth, female, expected):
    assert statutory_date(birth, female) == pytest.approx(expected)
    got = retirement_dates(np.array([birth]), np.array([female]), Demography())[0]
    assert got == pytest.approx(expected, abs=MONTH)


def test_retirement_extension_delays_retirement_by_its_length():
    d = Demography(retirement_extension_years=2.0)
    births, female = np.array([1950.0, 1980.0]), np.array([False, True])
    base = retirement_dates(births, female, Demography())
    np.testing.assert_allclose(retirement_dates(births, female, d), base + 2.0)


def test_cadres_retire_in_the_year_they_reach_retirement(custom, make_eligible, holder_of):
    scenario = custom(
        ["province", "district"], {"province": {"head": 1}, "district": {"head": 1}}, {"district": 2}
    )
    model = PipelineModel(scenario, seed=1, years=3)
    make_eligible(model)
    year = model.year + 1
    c = model.cadres
    leaving, staying = holder_of(model, PROVINCE), holder_of(model, DISTRICT)
    c.t_retire[leaving] = year + 0.99
    c.t_retire[staying] = year + 1.0
    leaving_uid = int(c.uid[leaving])
    model.step()
    assert model.headline("exits_retired") == 1
    ev = model.events_frame()
    retired = ev[(ev["kind"] == "exit") & (ev["cause"] == "retired")]
    assert list(retired["cadre"]) == [leaving_uid]


def test_default_retirement_ramps_end_at_62_for_men_and_60_for_women():
    scenario = load_scenario({"hierarchy": {"preset": "teaching"}})
    assert scenario.demography.retirement_male.final_age == 62.0
    assert scenario.demography.retirement_female.final_age == 60.0

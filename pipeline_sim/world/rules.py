"""Eligibility rules shared by several phases (planning, filling, congress, rotation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.scenario.schema import GRADES, RetirementSchedule
from pipeline_sim.world.cadres import ACTIVE, HISTORY

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel


def retirement_age(schedule: RetirementSchedule, year: np.ndarray) -> np.ndarray:
    """Statutory retirement age for people who reach it in calendar `year`.

    The age is fixed for a whole calendar year and steps up at the turn of the year (Labour Code
    2019 Art. 169; Decree 135/2020: men 60y3m in 2021, 60y6m in 2022, ...).
    """
    year = np.floor(np.asarray(year, dtype=np.float64))
    ramp = schedule.base_age + schedule.annual_step * (year - schedule.base_year)
    ramp = np.minimum(ramp, schedule.final_age)
    return np.where(year < schedule.base_year, schedule.age_before, ramp)


def retirement_dates(birth: np.ndarray, female: np.ndarray, demography) -> np.ndarray:
    """Date each cadre retires: the first date birth + age(Y) that falls within calendar year Y.

    Exactly one year Y qualifies, because birth + age(Y) - Y falls by 1 - annual_step (between 0.1
    and 1) a year; it lies between the years in which the cadre turns the lowest and the highest
    age of the schedule. Extensions (special cases) are added on top.
    """
    birth = np.asarray(birth, dtype=np.float64)
    out = np.full(len(birth), np.nan)
    for is_female, schedule in (
        (False, demography.retirement_male),
        (True, demography.retirement_female),
    ):
        rows = np.flatnonzero(np.asarray(female) == is_female)
        if not len(rows):
            continue
        b = birth[rows]
        lowest = min(schedule.age_before, schedule.base_age)
        first = np.floor(b + lowest)
        found = np.full(len(rows), np.nan)
        span = int(np.ceil(max(schedule.final_age, schedule.age_before) - lowest)) + 2
        for offset in range(span):
            year = first + offset
            date = b + retirement_age(schedule, year)
            hit = np.isnan(found) & (np.floor(date) == year)
            found[hit] = date[hit]
        out[rows] = found
    return out + demography.retirement_extension_years


def grade_code(name: str) -> int:
    return GRADES.index(name)


def recent_grade(model: PipelineModel, k: int = 0) -> np.ndarray:
    """Each cadre's grade k years before the last assessment (NO_GRADE if none)."""
    return model.cadres.grades[:, (model.last_assessed_year - k) % HISTORY]


def record_ok(model: PipelineModel, min_grade: str, years: int) -> np.ndarray:
    """The last `years` grades are all at least `min_grade` (a missing year does not count against)."""
    key = (min_grade, years, model.last_assessed_year, model.cadres.n)
    cache = model.year_cache.setdefault("record_ok", {})
    if key not in cache:
        code = grade_code(min_grade)
        ok = np.ones(model.cadres.n, dtype=bool)
        for k in range(years):
            # a missing year (NO_GRADE, -1, below every grade code) passes
            ok &= recent_grade(model, k) <= code
        if len(cache) >= 4:  # planning's and appointments' conditions alternate within a year
            cache.clear()
        cache[key] = ok
    return cache[key]


def years_left(model: PipelineModel, at_year: float | None = None) -> np.ndarray:
    year = model.year if at_year is None else at_year
    return model.cadres.t_retire - year


def planning_eligible(model: PipelineModel) -> np.ndarray:
    """Cadres who may be in a planning pool this year (any post; the post-specific part is scope)."""
    c, p = model.cadres, model.scenario.planning
    return (
        (c.status == ACTIVE)
        & (years_left(model) >= p.min_service_left_years)
        & record_ok(model, p.min_grade, p.record_years)
        & (c.ban_until <= model.year)
        & (model.year - c.post_start >= p.min_tenure_years)
        & ~c.pending_removal
    )


def tenure_ok(model: PipelineModel, year: float, min_years: float) -> np.ndarray:
    """Long enough in the current post (fast-track cadres need only fast_track.min_tenure_years)."""
    c = model.cadres
    in_post = year - c.post_start
    ok = in_post >= min_years
    ft = model.scenario.fast_track
    if ft.enabled:
        ok |= c.fast_track & (in_post >= min(min_years, ft.min_tenure_years))
    return ok


def appointment_eligible(
    model: PipelineModel,
    at_year: float | None = None,
    exclude_moved: bool = True,
    min_service: float | None = None,
) -> np.ndarray:
    """Cadres who meet every condition of an appointment at `at_year` (default: now).

    A planned cadre who meets them is a *ready* successor. With `exclude_moved`, cadres already
    appointed this year are not eligible again.
    """
    c, a = model.cadres, model.scenario.appointment
    year = model.year if at_year is None else at_year
    min_service = a.min_service_left_years if min_service is None else min_service
    ok = (
        (c.status == ACTIVE)
        & (c.t_retire - year >= min_service)
        & record_ok(model, a.min_grade, 1)
        & (c.ban_until <= year)
        & tenure_ok(model, year, a.min_tenure_years)
        & ~c.pending_removal
    )
    if exclude_moved:
        ok &= c.moved_year < model.year
    return ok


#: the order a selection index is sorted by, for each selection rule
INDEX_RULE = {
    "merit": "merit",
    "seniority": "seniority",
    "random": "random",
    "patronage": "merit",
    "worst_first": "worst_first",
    "best_worst_mix": "merit",
}


def selection_score(model: PipelineModel, rows: np.ndarray, rule: str, stream: str) -> np.ndarray:
    """How strongly each cadre in `rows` is preferred by an index rule (higher is better).

    Merit is the smoothed assessed score, plus the fast-track bonus for cadres on the track. Exact
    ties are broken by the (deterministic) sort that uses the score.
    """
    c = model.cadres
    if rule == "random":
        return model.stream(stream).random(len(rows))
    if rule in ("merit", "worst_first"):
        merit = c.merit[rows].astype(np.float64)
        ft = model.scenario.fast_track
        if ft.enabled:
            merit = merit + ft.planning_bonus * c.fast_track[rows]
        return merit + _preference(model, rows) if rule == "merit" else -merit - _preference(model, rows)
    if rule == "seniority":
        # earlier entry first; among equals, the better assessed
        score = (model.year - c.entry_year[rows]).astype(np.float64) + 1e-3 * c.merit[rows]
        return score + _preference(model, rows)
    raise ValueError(f"unknown selection rule {rule!r}")


def _preference(model: PipelineModel, rows: np.ndarray) -> np.ndarray | float:
    """Points of the selection score beyond assessed merit: experience (years of service and in
    leadership, by their weights) and the score gap of women (appointment.* keys)."""
    app, c = model.scenario.appointment, model.cadres
    if not (app.female_score_gap or app.service_weight or app.leadership_weight):
        return 0.0
    return (
        app.service_weight * (model.year - c.entry_year[rows])
        + app.leadership_weight * c.lead_years[rows]
        - app.female_score_gap * c.female[rows]
    )


def unit_head_network(model: PipelineModel) -> np.ndarray:
    """Network of the head of each unit (the first sector's head, else any head); -2 if none."""
    p, c = model.posts, model.cadres
    out = np.full(model.units.n, -2, dtype=np.int64)
    heads = np.flatnonzero((p.rank == 0) & (p.holder >= 0))
    # later sectors first, so the first sector's head wins
    heads = heads[np.argsort(-p.sector[heads].astype(np.int64), kind="stable")]
    out[p.unit[heads]] = c.network[p.holder[heads]]
    return out


def pair_scores(
    model: PipelineModel,
    rule: str,
    posts: np.ndarray,
    owner: np.ndarray,
    rows: np.ndarray,
    score: np.ndarray,
    stream: str,
) -> np.ndarray:
    """Score of candidate rows[i] for post posts[owner[i]] under a selection rule.

    'patronage' adds a bonus to candidates in the network of the head of the post's unit (weakened
    by integrity.control_of_power); 'best_worst_mix' reverses the order for a share of posts.
    """
    s = score[rows]
    if rule == "patronage":
        app = model.scenario.appointment
        strength = app.patronage_strength * (1.0 - model.scenario.integrity.control_of_power)
        head_net = unit_head_network(model)[model.posts.unit[posts[owner]]]
        s = s + strength * (model.cadres.network[rows] == head_net)
    elif rule == "best_worst_mix":
        best = model.stream(stream).random(len(posts)) < model.scenario.appointment.best_share
        s = np.where(best[owner], s, -s)
    return s

"""Eligibility rules shared by several phases (planning, filling, congress, rotation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.scenario.schema import GRADES, RetirementSchedule
from pipeline_sim.world.cadres import ACTIVE, HISTORY, NO_GRADE

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel


def retirement_age(schedule: RetirementSchedule, year: np.ndarray) -> np.ndarray:
    """Statutory retirement age in force in calendar `year` (fractional years allowed)."""
    year = np.asarray(year, dtype=np.float64)
    ramp = schedule.base_age + schedule.annual_step * (year - schedule.base_year)
    ramp = np.minimum(ramp, schedule.final_age)
    return np.where(year < schedule.base_year, schedule.age_before, ramp)


def retirement_dates(birth: np.ndarray, female: np.ndarray, demography) -> np.ndarray:
    """Date each cadre reaches the retirement age in force at that date (plus any extension).

    Solves ``date - birth = age(date)``; ``date - age(date)`` is increasing, so the root is found
    by interpolating on a fine grid of dates.
    """
    grid = np.arange(1850.0, 2250.0, 1.0 / 12.0)
    out = np.empty(len(birth), dtype=np.float64)
    for is_female, schedule in (
        (False, demography.retirement_male),
        (True, demography.retirement_female),
    ):
        rows = np.flatnonzero(female == is_female)
        if len(rows):
            born_at = grid - retirement_age(schedule, grid)
            out[rows] = np.interp(birth[rows], born_at, grid)
    return out + demography.retirement_extension_years


def grade_code(name: str) -> int:
    return GRADES.index(name)


def recent_grade(model: PipelineModel, k: int = 0) -> np.ndarray:
    """Each cadre's grade k years before the last assessment (NO_GRADE if none)."""
    return model.cadres.grades[:, (model.last_assessed_year - k) % HISTORY]


def record_ok(model: PipelineModel, min_grade: str, years: int) -> np.ndarray:
    """The last `years` grades are all at least `min_grade` (a missing year does not count against)."""
    code = grade_code(min_grade)
    ok = np.ones(model.cadres.n, dtype=bool)
    for k in range(years):
        g = recent_grade(model, k)
        ok &= (g <= code) | (g == NO_GRADE)
    return ok


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
    )


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
        & (year - c.post_start >= a.min_tenure_years)
    )
    if exclude_moved:
        ok &= c.moved_year < model.year
    return ok


def selection_score(model: PipelineModel, rows: np.ndarray, rule: str, stream: str) -> np.ndarray:
    """How strongly each cadre in `rows` is preferred under a selection rule (higher is better)."""
    c = model.cadres
    rng = model.stream(stream)
    jitter = rng.random(len(rows)) * 1e-6
    if rule == "merit":
        return c.merit[rows].astype(np.float64) + jitter
    if rule == "seniority":
        return (model.year - c.entry_year[rows]).astype(np.float64) + jitter
    if rule == "random":
        return rng.random(len(rows))
    raise ValueError(f"unknown selection rule {rule!r}")

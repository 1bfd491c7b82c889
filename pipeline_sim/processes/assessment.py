"""Annual assessment in four grades with the cap on "excellent" (Reg. 124/2023, Reg. 366/2025)."""

from __future__ import annotations

import numpy as np

from pipeline_sim.kernels import group_rank
from pipeline_sim.world.cadres import ACTIVE, HISTORY, NO_GRADE

NAME = "assessment"
SUMMARY = (
    "100-point score from performance, noise and inflation; four grades; excellent <= 20% of good per unit"
)

EXCELLENT, GOOD, COMPLETED, NOT_COMPLETED = 0, 1, 2, 3


def grades_from_scores(
    score: np.ndarray, unit: np.ndarray, a, counted: np.ndarray, not_completed: np.ndarray | None = None
) -> np.ndarray:
    """Grades by score band, then the excellent cap applied within each unit.

    Only rows in `counted` take part in the cap. With e kept excellent out of E candidates and G
    rated good, demoted excellents become good, so e <= share * (G + E - e) gives
    e <= share * (G + E) / (1 + share).
    """
    grade = np.full(len(score), NOT_COMPLETED, dtype=np.int8)
    for band in (a.band_completed, a.band_good, a.band_excellent):
        grade -= score >= band
    if not_completed is not None:  # e.g. disciplined in the year (Reg. 124), before the cap counts
        grade[not_completed] = NOT_COMPLETED
    exc = np.flatnonzero((grade == EXCELLENT) & counted)
    if len(exc):
        n_units = int(unit.max()) + 1
        good_or_exc = np.bincount(unit[(grade <= GOOD) & counted], minlength=n_units)
        cap = np.floor(a.excellent_cap_vs_good * good_or_exc / (1.0 + a.excellent_cap_vs_good) + 1e-9)
        # only units with more excellents than their cap need ranking
        over = np.bincount(unit[exc], minlength=n_units) > cap
        exc = exc[over[unit[exc]]]
        rank = group_rank(unit[exc], score[exc])
        grade[exc[rank >= cap[unit[exc]]]] = GOOD
    return grade


def run(model) -> None:
    c, a = model.cadres, model.scenario.assessment
    active = c.status == ACTIVE
    if not active.any():
        return
    noise = model.stream("assessment").standard_normal(c.n, dtype=np.float32)
    perf = c.performance
    mean = float(perf[active].mean())
    sd = float(perf[active].std())
    z = (perf - np.float32(mean)) / np.float32(sd if sd > 0 else 1.0)
    score = np.float32(a.score_mean + a.inflation) + np.float32(a.score_sd) * z
    score += np.float32(a.noise_sd) * noise
    score += np.float32(a.satisfaction_weight) * c.prestige
    grade = grades_from_scores(score, c.unit, a, active, not_completed=c.disciplined_year == model.year)
    # rows of cadres who left service are never read again, so they are written without masking
    slot = model.year % HISTORY
    fresh = c.grades[:, (model.year - 1) % HISTORY] == NO_GRADE  # no earlier grade: merit starts here
    c.grades[:, slot] = grade
    model.last_assessed_year = model.year
    model.year_cache.pop("record_ok", None)
    c.score = score
    c.merit = np.where(fresh, score, np.float32(0.5) * (c.merit + score))

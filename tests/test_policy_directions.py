"""Directional checks a user expects, over replications paired by seed, clear of noise.

Each compares a policy with the baseline on the baseline structure (the historic four levels,
shrunk with hierarchy.scale to keep the suite fast) with every mechanism on.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import run

SCALE = {"hierarchy.scale": 0.03}
REPS, YEARS = 5, 12


def per_rep(result, numerator: str, denominator: str | None = None) -> np.ndarray:
    m = result.metrics
    m = m[(m["level"] == "all") & (m["sector"] == "all")]
    num = m[m["metric"] == numerator].groupby("rep")["value"]
    if denominator is None:
        return num.mean().to_numpy()
    return (num.sum() / m[m["metric"] == denominator].groupby("rep")["value"].sum()).to_numpy()


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean paired difference b - a and its standard error."""
    d = b - a
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


@pytest.fixture(scope="module")
def baseline():
    return run("scenarios/baseline.toml", reps=REPS, years=YEARS, overrides=SCALE)


def test_open_planning_lowers_the_succession_gap_rate(baseline):
    open_ = run("scenarios/open_planning.toml", reps=REPS, years=YEARS, overrides=SCALE)
    assert baseline.seeds == open_.seeds
    diff, se = paired(
        per_rep(baseline, "succession_gaps", "key_vacancies"),
        per_rep(open_, "succession_gaps", "key_vacancies"),
    )
    assert diff + 3 * se < 0, f"open - closed gap rate = {diff:.4f} +- {se:.4f}"


def test_strict_removal_lowers_integrity_problems_in_office(baseline):
    lenient = run("scenarios/lenient_removal.toml", reps=REPS, years=YEARS, overrides=SCALE)
    diff, se = paired(
        per_rep(baseline, "integrity_problem_share"), per_rep(lenient, "integrity_problem_share")
    )
    assert diff - 3 * se > 0, f"lenient - strict integrity problems = {diff:.4f} +- {se:.4f}"


def test_no_rotation_means_no_planned_rotations_and_less_varied_experience(baseline):
    none = run("scenarios/no_rotation.toml", reps=REPS, years=YEARS, overrides=SCALE)
    moved = sum(per_rep(none, f"rotations_{d}").sum() for d in ("down", "up", "locality", "sector"))
    assert moved == 0
    diff, se = paired(per_rep(baseline, "multi_sector_share"), per_rep(none, "multi_sector_share"))
    assert diff + 3 * se < 0, f"no rotation - baseline multi-sector share = {diff:.4f} +- {se:.4f}"

"""Every shipped scenario loads, says what it represents, and runs for a few years."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_sim import load_scenario, run

SCENARIOS = sorted(Path("scenarios").glob("*.toml"))


def test_there_is_a_scenario_for_every_policy_contrast():
    names = {p.stem for p in SCENARIOS}
    assert {
        "baseline",
        "open_planning",
        "rigid_planning",
        "lenient_removal",
        "no_rotation",
        "intensive_rotation",
        "no_term_limit",
        "nonlocal_rule",
        "high_patronage",
        "control_of_power",
        "fast_track",
        "discipline_2025",
    } <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_runs_for_a_few_years(path):
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("#"), "a scenario file starts with a comment saying what it represents"
    scenario = load_scenario(path)
    assert scenario.description
    result = run(path, reps=1, years=3, overrides={"hierarchy.scale": 0.01})
    m = result.metrics
    assert sorted(m["year"].unique()) == [scenario.simulation.start_year + i for i in range(3)]
    assert (m[(m["metric"] == "cadres") & (m["level"] == "all") & (m["sector"] == "all")]["value"] > 0).all()

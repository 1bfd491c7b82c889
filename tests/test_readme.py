"""The README stays true: its scenario reference is the schema's."""

from __future__ import annotations

from pathlib import Path

from pipeline_sim.scenario.reference import readme_with_reference

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_scenario_reference_matches_the_schema():
    text = README.read_text(encoding="utf-8")
    assert readme_with_reference(text) == text, (
        "regenerate it: python -m pipeline_sim.scenario.reference --readme README.md"
    )

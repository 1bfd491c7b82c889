"""Scenarios: the validated schema, built-in hierarchy presets and the TOML loader."""

from pipeline_sim.scenario.loader import (
    ScenarioError,
    dumps_toml,
    load_scenario,
    parse_override_value,
    scenario_to_dict,
)
from pipeline_sim.scenario.schema import Scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "dumps_toml",
    "load_scenario",
    "parse_override_value",
    "scenario_to_dict",
]

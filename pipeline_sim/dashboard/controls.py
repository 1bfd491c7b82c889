"""The policy controls of one side of the dashboard and the scenario keys each one sets.

Every control has a name (used in lesson files), a label, its allowed values and a function from
its value to scenario keys. ``read`` gives a control's value in a scenario, so that a side's
controls always show what its model actually runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline_sim.scenario import Scenario

SELECTIONS = ("merit", "seniority", "patronage", "worst_first", "random")


@dataclass(frozen=True)
class Control:
    name: str
    label: str
    kind: str  # "choice", "bool", "int" or "float"
    keys: tuple[str, ...]
    options: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 1.0
    step: float = 1.0
    to_keys: Callable[[Any], dict[str, Any]] | None = None
    from_scenario: Callable[[Scenario], Any] | None = None
    help: str = ""
    option_labels: dict[Any, str] = field(default_factory=dict)

    def changes(self, value: Any) -> dict[str, Any]:
        """Scenario keys set by this control at `value`."""
        value = self.check(value)
        if self.to_keys is not None:
            return self.to_keys(value)
        return {key: value for key in self.keys}

    def read(self, scenario: Scenario) -> Any:
        if self.from_scenario is not None:
            return self.from_scenario(scenario)
        section, _, key = self.keys[0].partition(".")
        return getattr(getattr(scenario, section), key)

    def check(self, value: Any) -> Any:
        """The value in the control's type, or ValueError saying what is expected."""
        if self.kind == "choice":
            if value not in self.options:
                raise ValueError(f"expected one of {list(self.options)}, got {value!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number from {self.low:g} to {self.high:g}, got {value!r}")
        if self.kind == "int" and int(value) != value:
            raise ValueError(f"expected a whole number from {self.low:g} to {self.high:g}, got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"expected a number from {self.low:g} to {self.high:g}, got {value!r}")
        return int(value) if self.kind == "int" else float(value)


#: the posts that must go to non-locals under the non-local rule (2025-30 practice, rules.md §2)
NONLOCAL_POSTS = ["provincial.party.head", "provincial.state.head", "district.party.head"]


def _nonlocal_keys(on: bool) -> dict[str, Any]:
    return {"rotation.nonlocal_posts": list(NONLOCAL_POSTS) if on else []}


def _nonlocal_read(scenario: Scenario) -> bool:
    return bool(scenario.rotation.nonlocal_posts)


CONTROLS: dict[str, Control] = {
    c.name: c
    for c in (
        Control(
            "planning_mode",
            "Planning",
            "choice",
            ("planning.mode",),
            options=("closed", "open"),
            help="closed: candidates from the post's own unit and those below; open: from anywhere",
        ),
        Control(
            "planning_review",
            "Review of pools",
            "choice",
            ("planning.review",),
            options=("flexible", "rigid"),
            help="flexible: every year; rigid: only at the congress",
        ),
        Control(
            "pool_size",
            "Pool size",
            "int",
            ("planning.max_candidates",),
            low=1,
            high=6,
            step=1,
        ),
        Control(
            "removal",
            "Removal",
            "choice",
            ("integrity.removal",),
            options=("strict", "lenient"),
            help="strict: replaced at once; lenient: at the end of the term",
        ),
        Control(
            "rotation_rate",
            "Rotation rate",
            "float",
            ("rotation.rate",),
            low=0.0,
            high=0.2,
            step=0.01,
        ),
        Control(
            "two_term_rule",
            "Two-term rule",
            "bool",
            ("rotation.two_term_rule",),
        ),
        Control(
            "nonlocal_rule",
            "Non-local rule",
            "bool",
            ("rotation.nonlocal_posts",),
            to_keys=_nonlocal_keys,
            from_scenario=_nonlocal_read,
        ),
        Control(
            "selection",
            "Selection rule",
            "choice",
            ("planning.selection", "appointment.selection"),
            options=SELECTIONS,
            option_labels={"worst_first": "worst first"},
            help="how pool candidates and unplanned appointees are ranked",
        ),
        Control("fast_track", "Fast track", "bool", ("fast_track.enabled",)),
        Control(
            "structure_targets",
            "Structure targets",
            "bool",
            ("planning.structure_targets",),
        ),
        Control(
            "control_of_power",
            "Control of power",
            "float",
            ("integrity.control_of_power",),
            low=0.0,
            high=1.0,
            step=0.1,
        ),
    )
}


def control_values(scenario: Scenario) -> dict[str, Any]:
    """The value of every control in a scenario."""
    return {name: c.read(scenario) for name, c in CONTROLS.items()}


def scenario_changes(values: dict[str, Any]) -> dict[str, Any]:
    """Scenario keys for control values (unknown names raise KeyError)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        out.update(CONTROLS[name].changes(value))
    return out


def describe(name: str, value: Any) -> str:
    """'Planning: open' and the like, for chart marks and lesson text."""
    c = CONTROLS[name]
    if c.kind == "bool":
        shown = "on" if value else "off"
    elif c.kind == "float":
        shown = f"{value:g}"
    else:
        shown = c.option_labels.get(value, str(value))
    return f"{c.label}: {shown}"

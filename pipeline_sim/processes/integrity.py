"""Integrity: violations, inspection and discipline.

The place is kept in the plan so that violations, inspection, discipline by severity and strict
or lenient removal slot in between work and assessment without touching other phases.
"""

from __future__ import annotations

NAME = "integrity"
SUMMARY = "violations, inspection and discipline (off unless integrity.enabled)"


def run(model) -> None:
    if not model.scenario.integrity.enabled:
        return

"""The phases of a year, one module each, in the order the README gives (`pipeline-sim show --phases`).

Each module has ``NAME``, ``SUMMARY`` and ``run(model)``. Phases never import each other: they
read and change the model's tables, using the shared operations of ``pipeline_sim.world``.
"""

from pipeline_sim.processes import (
    assessment,
    calendar,
    confidence,
    congress,
    demography,
    filling,
    integrity,
    planning,
    record,
    recruitment,
    restructure,
    rotation,
    work,
)

#: the default plan of a year, in order
DEFAULT_PLAN = (
    calendar,
    demography,
    work,
    integrity,
    assessment,
    confidence,
    planning,
    rotation,
    filling,
    restructure,
    recruitment,
    congress,
    record,
)

__all__ = ["DEFAULT_PLAN"]

"""Restructuring: the scenario's events of the year (units merged, a level abolished, posts per
unit changed), then the yearly reduction of any surplus above the quotas (Concl. 150; Decree
178/2024). See pipeline_sim.world.restructuring for the rules."""

from __future__ import annotations

from pipeline_sim.world.restructuring import apply_event, compact, reduce_surplus

NAME = "restructure"
SUMMARY = (
    "restructuring events of the year (merge units, abolish a level, change posts per unit); "
    "surplus above the quotas reduced; vacant posts above them removed"
)


def run(model) -> None:
    for year, month, steps in model.restructuring.due(model.year):
        apply_event(model, year, month, steps)
    if model.posts.quota is not None:
        reduce_surplus(model)
    if model.posts.closed.any():
        compact(model)

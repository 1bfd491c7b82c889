"""Vacancy filling, top grade first, so that each promotion opens a post below (a vacancy chain)."""

from __future__ import annotations

from pipeline_sim.world.operations import fill_vacancies

NAME = "filling"
SUMMARY = "fill vacancies top first: ready planned successor, else unplanned eligible cadre, else vacant"


def run(model) -> None:
    fill_vacancies(model)

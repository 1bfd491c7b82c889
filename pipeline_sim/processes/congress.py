"""Congress at the end of each term: age rules for the new term, then elections to fill posts."""

from __future__ import annotations

import numpy as np

from pipeline_sim.world.operations import fill_vacancies, step_down

NAME = "congress"
SUMMARY = "last year of a term: holders without 48 months left step down; posts filled for the new term"


def run(model) -> None:
    cg = model.scenario.congress
    if not cg.enabled or not model.is_congress_year:
        return
    c = model.cadres
    new_term = model.year + 1
    holders = np.flatnonzero(c.post >= 0)
    short = c.t_retire[holders] - new_term < cg.reelect_min_service_years
    step_down(model, holders[short], "age_limit")
    fill_vacancies(model, at_year=new_term, min_service=cg.first_time_min_service_years)

"""Recruitment: the staff pool of every unit and sector is brought back to its size with entrants.

Rows of cadres who left service are archived here and reused for the entrants.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.world.cadres import ACTIVE

NAME = "recruitment"
SUMMARY = "entrants (sex and minority mix from the scenario) refill each unit's staff pool"


def run(model) -> None:
    c = model.cadres
    n_sec = len(model.scenario.hierarchy.sectors)
    staff = (c.status == ACTIVE) & (c.post < 0)
    have = np.bincount((c.unit * n_sec + c.sector)[staff], minlength=model.units.n * n_sec)
    deficit = np.maximum(model.staff_target.ravel() - have, 0)
    slots = np.repeat(np.arange(len(deficit)), deficit)
    block = model.new_cadres(slots // n_sec, (slots % n_sec).astype(np.int8), stream="recruitment")
    new_rows = c.recycle_and_append(block, model.year)
    model.year_cache.clear()  # rows were rewritten
    if len(new_rows):
        model.tally.add_entrants(c.level[new_rows], c.sector[new_rows])
        model.events.log("entry", "recruitment", model, new_rows, np.full(len(new_rows), -1))

"""Recruitment: the staff pool of every unit and sector is brought back to its size with entrants.

Rows of cadres who left service are archived here once they are a sizeable share of the table.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.world.cadres import ACTIVE

NAME = "recruitment"
SUMMARY = "entrants (sex and minority mix from the scenario) refill each unit's staff pool"


def run(model) -> None:
    c = model.cadres
    n_sec = len(model.scenario.hierarchy.sectors)
    keep = c.status == ACTIVE
    staff = keep & (c.post < 0)
    have = np.bincount((c.unit * n_sec + c.sector)[staff], minlength=model.units.n * n_sec)
    deficit = np.maximum(model.staff_target.ravel() - have, 0)
    slots = np.repeat(np.arange(len(deficit)), deficit)
    block = model.new_cadres(slots // n_sec, (slots % n_sec).astype(np.int8), stream="recruitment")
    remap = c.compact_and_append(keep, block, model.year)
    if remap is not None:
        model.remap_rows(remap)
    if len(slots):
        new_rows = np.arange(c.n - len(slots), c.n)
        model.tally.add_entrants(c.level[new_rows], c.sector[new_rows])
        model.events.log("entry", "recruitment", model, new_rows, np.full(len(slots), -1))

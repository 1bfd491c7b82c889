"""Demography: statutory retirement by sex and year, deaths and voluntary leaving."""

from __future__ import annotations

import numpy as np

from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.operations import exit_service

NAME = "demography"
SUMMARY = "retire cadres reaching the statutory age this year; deaths (Gompertz); voluntary exits"


def run(model) -> None:
    c, d = model.cadres, model.scenario.demography
    year = model.year
    active = c.status == ACTIVE
    # one uniform per row, drawn whether or not it is used, so streams stay aligned
    u = model.stream("demography").random(c.n, dtype=np.float32)
    retire = active & (c.t_retire < year + 1)
    age = (year + 0.5 - c.birth).astype(np.float32)
    p_die = np.float32(d.mortality_at_40) * np.exp2(
        (age - np.float32(40.0)) / np.float32(d.mortality_doubling_years)
    )
    np.minimum(p_die, 1.0, out=p_die)
    p_leave = np.where(c.post >= 0, np.float32(d.p_leave_leader), np.float32(d.p_leave_staff))
    alive = active & ~retire
    die = alive & (u < p_die)
    leave = alive & ~die & (u < p_die + p_leave)
    exit_service(model, np.flatnonzero(retire), "retired")
    exit_service(model, np.flatnonzero(die), "died")
    exit_service(model, np.flatnonzero(leave), "left")

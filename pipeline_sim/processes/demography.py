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
    # holders of a body's posts may stay past the statutory date by the body's extension
    retire = active & (c.t_retire + model.bodies.retirement_extension(model) < year + 1)
    # exact probabilities only where the draw falls below the largest possible one
    oldest = float(year + 0.5 - c.birth[active].min()) if active.any() else 0.0
    p_die_max = min(1.0, d.mortality_at_40 * 2.0 ** ((oldest - 40.0) / d.mortality_doubling_years))
    bound = np.float32(p_die_max + max(d.p_leave_leader, d.p_leave_staff))
    rows = np.flatnonzero(active & ~retire & (u < bound))
    age = year + 0.5 - c.birth[rows]
    p_die = np.minimum(1.0, d.mortality_at_40 * np.exp2((age - 40.0) / d.mortality_doubling_years))
    p_leave = np.where(c.post[rows] >= 0, d.p_leave_leader, d.p_leave_staff)
    ur = u[rows]
    die = np.zeros(c.n, dtype=bool)
    leave = np.zeros(c.n, dtype=bool)
    die[rows] = ur < p_die
    leave[rows] = (ur >= p_die) & (ur < p_die + p_leave)
    exit_service(model, np.flatnonzero(retire), "retired")
    exit_service(model, np.flatnonzero(die), "died")
    exit_service(model, np.flatnonzero(leave), "left")

"""Confidence vote in the mid-term (3rd) year (Reg. 262/2014, Reg. 96/2023, Reg. 41/2021).

Every post holder faces a vote, except those appointed this year and those retiring within the
year. The share of low-confidence votes is logistic in low prestige and low performance, plus
noise. Above one half: out of planning for higher posts until the end of the term, and may resign;
two thirds or more: dismissed without waiting for the end of the term.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.operations import dismiss, drop_cadres_from_pools, exit_service

NAME = "confidence"
SUMMARY = "mid-term vote: >1/2 low -> out of planning, may resign; >=2/3 low -> dismissed"


def run(model) -> None:
    cf = model.scenario.confidence
    if not cf.enabled or not model.is_midterm:
        return
    c = model.cadres
    rng = model.stream("confidence")
    noise = rng.standard_normal(c.n, dtype=np.float32)
    u_resign = rng.random(c.n, dtype=np.float32)
    voters = np.flatnonzero(
        (c.status == ACTIVE) & (c.post >= 0) & (c.post_start < model.year) & (c.t_retire >= model.year + 1)
    )
    if not len(voters):
        return
    perf = c.performance[voters]
    z = (perf - perf.mean()) / (perf.std() or 1.0)
    base = np.log(cf.mean_low_share / (1 - cf.mean_low_share)) if 0 < cf.mean_low_share < 1 else 0.0
    lin = (
        base
        - cf.prestige_weight * c.prestige[voters]
        - cf.performance_weight * z
        + cf.noise_sd * noise[voters]
    )
    share = (1.0 / (1.0 + np.exp(-lin))).astype(np.float32)
    c.low_confidence[voters] = share
    model.tally.add_cadres("confidence_votes", voters)
    low = voters[share > cf.out_of_planning_above]
    model.tally.add_cadres("confidence_low_half", low)
    worst = voters[share >= cf.dismiss_at]
    model.tally.add_cadres("confidence_dismissed", worst)
    # out of planning for higher posts, and no promotion, until the next term
    drop_cadres_from_pools(model, low, "confidence")
    end_of_term = model.year + (model.scenario.simulation.term_years - model.year_in_term)
    c.ban_until[low] = np.maximum(c.ban_until[low], end_of_term)
    dismiss(model, worst)
    may_resign = low[(share[np.searchsorted(voters, low)] < cf.dismiss_at)]
    exit_service(model, may_resign[u_resign[may_resign] < cf.p_resign_above_half], "resigned")

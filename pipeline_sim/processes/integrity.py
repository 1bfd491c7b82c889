"""Integrity: violations, inspection and discipline (Reg. 69/2022, Reg. 41/2021, Res. 28/2022).

Violations occur with a probability that rises with low latent integrity, with power (level, head
post) and with long tenure in one post; `control_of_power` weakens the power and tenure effects.
Inspection finds a share of the standing violations each year. A found violation is disciplined
by form (reprimand < warning < removal from post < expulsion): every form removes the cadre from
planning and bans planning and promotion for the form's period (Reg. 80/2022 or Reg. 377/2025);
the year's grade becomes "not completed" (Reg. 124/2023). A holder disciplined at `replace_from`
or above may resign; otherwise *strict* removal replaces them now, *lenient* removal at the end of
the term. Two consecutive "not completed" years, or two reprimands in one term, are grounds for
dismissal (Reg. 41/2021), on the same strict or lenient timing; so, with
`dismiss_below_competence`, is a latent competence below that line.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.scenario.schema import BAN_PRESETS, DISCIPLINE_FORMS
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.operations import dismiss, drop_cadres_from_pools, exit_service, step_down
from pipeline_sim.world.rules import recent_grade

NAME = "integrity"
SUMMARY = "violations (integrity, power, tenure); inspection; discipline by form with bans; removals"

NOT_COMPLETED = 3


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def violation_log_odds(model) -> np.ndarray:
    """Log-odds of a new violation this year, for every row of the cadre table (float32)."""
    ig, c = model.scenario.integrity, model.cadres
    power = 1.0 - ig.control_of_power
    depth = model.units.depth  # levels with units above each level (a level may be abolished)
    bottom = depth[model.units.n_levels - 1]
    is_head = (c.post >= 0) & (c.grade & 3 == 0)  # grades are 4 * level + rank, never negative
    f32 = np.float32
    lin = f32(_logit(ig.p_violation)) - f32(ig.integrity_effect) * c.integrity
    # the power term of each level, looked up (the same float32 products as row by row)
    lin += (f32(power * ig.power_effect_per_level) * (bottom - depth).astype(f32))[c.level]
    lin += f32(power * ig.head_effect) * is_head
    tenure = np.minimum(model.year - c.post_start, 20) * (c.post >= 0)
    lin += f32(power * ig.tenure_effect) * tenure.astype(f32)
    return lin


def initial_violations(model) -> None:
    """The stock of undetected violations at the start: the steady state of this process.

    Each year a cadre without a violation commits one with probability p, and inspection then
    finds each standing violation with probability d (``inspection_intensity``), so the chance
    q of carrying an undetected violation at a year's end follows q' = (1 - d) (q + (1 - q) p).
    From a clean entry, after n years of service, q = s (1 - r^n) with r = (1 - d)(1 - p) and the
    geometric steady state s = p (1 - d) / (d + p (1 - d)). p is each cadre's probability now
    (integrity, level, head post, tenure), n their years of service. Called at the end of the
    set-up (the year before the first simulated year), with that year's integrity stream.
    Nobody starts with a found violation awaiting removal: the run starts with a term.
    """
    ig, c = model.scenario.integrity, model.cadres
    if not ig.enabled or c.n == 0:
        return
    u = model.stream("integrity").random(c.n)
    p = 1.0 / (1.0 + np.exp(-violation_log_odds(model).astype(np.float64)))
    d = ig.inspection_intensity
    with np.errstate(invalid="ignore", divide="ignore"):
        steady = np.where(p > 0, p * (1 - d) / (d + p * (1 - d)), 0.0)
    served = np.maximum(model.year - c.entry_year, 0)
    q = steady * (1.0 - ((1 - d) * (1 - p)) ** served)
    c.violation[:] = (c.status == ACTIVE) & (u < q)
    c.detected[:] = False


def run(model) -> None:
    ig = model.scenario.integrity
    if not ig.enabled:
        return
    c = model.cadres
    rng = model.stream("integrity")
    u_new = rng.random(c.n, dtype=np.float32)
    active = c.status == ACTIVE
    year = model.year

    # new violations
    f32 = np.float32
    lin = violation_log_odds(model)
    # u < p  <=>  logit(u) < lin: no exponentials over the whole table
    with np.errstate(divide="ignore"):
        new = active & ~c.violation & (lin > np.log(u_new / (f32(1.0) - u_new)))
    c.violation |= new
    model.tally.add_cadres("violations", np.flatnonzero(new))

    # inspection finds a share of the standing violations (not those already awaiting removal)
    standing = np.flatnonzero(active & c.violation & ~c.detected)
    found = standing[rng.random(len(standing)) < ig.inspection_intensity]
    shares = np.cumsum([getattr(ig.forms, f) for f in DISCIPLINE_FORMS])
    form = np.searchsorted(shares, rng.random(len(found)), side="right").clip(0, 3)
    holder = c.post[found] >= 0
    form = np.where((form == 2) & ~holder, 1, form)  # removal from post needs a post: a warning
    bans = BAN_PRESETS[ig.ban_rules]
    for f, name in enumerate(DISCIPLINE_FORMS):
        rows = found[form == f]
        if not len(rows):
            continue
        model.tally.add_cadres(f"disciplined_{name}", rows)
        model.events.log("discipline", name, model, rows, c.post[rows].copy())
        if name != "expulsion":
            # a ban of m months lasts m // 12 decision years, one more with chance (m % 12) / 12
            months = bans[name]
            years = months // 12 + (rng.random(len(rows)) < (months % 12) / 12)
            c.ban_until[rows] = np.maximum(c.ban_until[rows], year + years)
    c.disciplined_year[found] = year
    c.prestige[found] -= np.float32(0.5)
    drop_cadres_from_pools(model, found, "discipline")
    # reprimands counted per term
    rep = found[form == 0]
    fresh_term = c.reprimand_term[rep] != model.term_index
    c.reprimands[rep] = np.where(fresh_term, 0, c.reprimands[rep]) + 1
    c.reprimand_term[rep] = model.term_index

    # the forms' own consequences
    exit_service(model, found[form == 3], "expelled")
    step_down(model, found[(form == 2) & holder], "removal_from_post")
    # the violation is dealt with, except for holders who are to be replaced (below)
    c.violation[found] = False
    # a holder disciplined at replace_from or above: resigns, or is replaced now or at term end
    first_replaced = DISCIPLINE_FORMS.index(ig.replace_from)
    held = found[(form >= first_replaced) & (form < 2) & (c.post[found] >= 0)]
    p_resign = ig.p_resign if ig.encourage_resignation else ig.p_resign / 5.0
    resign = held[rng.random(len(held)) < p_resign]
    exit_service(model, resign, "resigned")
    to_replace = held[c.status[held] == ACTIVE]
    c.detected[to_replace] = True
    c.violation[to_replace] = True  # in office with a known violation until replaced

    # grounds for dismissal (Reg. 41): two "not completed" years; two reprimands in one term
    holders = (c.post >= 0) & (c.status == ACTIVE)
    incapable = np.zeros(c.n, dtype=bool)
    if ig.dismiss_after_not_completed_years:
        run_nc = np.ones(c.n, dtype=bool)
        for back in range(ig.dismiss_after_not_completed_years):
            run_nc &= recent_grade(model, back) == NOT_COMPLETED
        incapable |= run_nc
    if ig.dismiss_after_reprimands_in_term:
        incapable |= (c.reprimand_term == model.term_index) & (
            c.reprimands >= ig.dismiss_after_reprimands_in_term
        )
    if ig.dismiss_below_competence is not None:  # an absolute line instead of relative grades
        below = holders & (c.competence < np.float32(ig.dismiss_below_competence))
        model.tally.add_cadres("competence_dismissals", np.flatnonzero(below & ~c.pending_removal))
        incapable |= below
    to_remove = np.union1d(to_replace, np.flatnonzero(holders & incapable))
    if ig.removal == "strict":
        dismiss(model, to_remove)
    else:
        c.pending_removal[to_remove] = True

"""Congress at the end of each term: removals, age rules for the new term, then elections.

Holders marked for removal during the term (lenient removal) are dismissed; holders who cannot
serve `reelect_min_service_years` of the new term step down (Directive 45/2025: 48 months), and so
do members of a body above its re-election age (bar its special cases); rotated cadres from
elsewhere take a share of the posts freed (rotation.congress_share); the posts are then filled
for the new term, first-time holders needing `first_time_min_service_years` and, for a body's
posts, first-time members at most its `first_time_max_age` (see pipeline_sim.world.bodies).
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.world import moves
from pipeline_sim.world.operations import dismiss, fill_vacancies, step_down

NAME = "congress"
SUMMARY = (
    "last year of a term: pending (lenient) removals; holders without 48 months left step down; "
    "posts filled for the new term"
)


def run(model) -> None:
    cg = model.scenario.congress
    if not cg.enabled or not model.is_congress_year:
        return
    c = model.cadres
    new_term = model.year + 1
    model.rosters.take(model, "before_congress")
    model.bodies.before_congress(model)
    # lenient removal: holders found unfit during the term are replaced now
    dismiss(model, np.flatnonzero(c.pending_removal & (c.post >= 0)))
    holders = np.flatnonzero(c.post >= 0)
    short = c.t_retire[holders] - new_term < cg.reelect_min_service_years
    step_down(model, holders[short], "age_limit")
    over_age, _ = model.bodies.over_age(model, new_term)
    step_down(model, over_age, "body_age_limit")
    model.at_term_boundary = True
    try:
        moves.at_congress(model)  # rotated cadres into a share of the freed posts
        fill_vacancies(model, at_year=new_term, min_service=cg.first_time_min_service_years)
    finally:
        model.at_term_boundary = False
    model.bodies.after_congress(model, new_term)
    model.rosters.take(model, "after_congress")

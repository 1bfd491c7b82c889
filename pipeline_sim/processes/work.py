"""Work: competence grows with experience (more with varied experience); post skill; performance."""

from __future__ import annotations

import numpy as np

NAME = "work"
SUMMARY = "competence growth (varied experience adds), post-specific skill, yearly performance"


def run(model) -> None:
    c, w = model.cadres, model.scenario.work
    c.competence += np.float32(w.competence_growth) + np.float32(w.varied_experience_bonus) * c.breadth
    c.post_skill += np.float32(w.post_skill_learning_rate) * (1.0 - c.post_skill)
    c.lead_years += (c.post >= 0).astype(np.int16)  # a year in a leadership post
    noise = model.stream("work").standard_normal(c.n, dtype=np.float32)
    weak = model.units.weak[c.unit]
    c.performance = (
        c.competence
        + np.float32(w.post_skill_weight) * c.post_skill
        + np.float32(w.weak_unit_effect) * weak
        + np.float32(w.performance_noise_sd) * noise
    )

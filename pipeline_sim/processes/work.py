"""Work: competence grows with experience (more with varied experience); post skill; performance."""

from __future__ import annotations

import numpy as np

from pipeline_sim.kernels import POPCOUNT

NAME = "work"
SUMMARY = "competence growth (varied experience adds), post-specific skill, yearly performance"


def run(model) -> None:
    c, w = model.cadres, model.scenario.work
    bottom = model.units.n_levels - 1
    n_sectors = POPCOUNT[c.sectors_mask]
    breadth = (
        np.maximum(n_sectors - 1, 0) + np.maximum(c.n_localities - 1, 0) + (c.grassroots & (c.level < bottom))
    ).astype(np.float32)
    c.competence += np.float32(w.competence_growth) + np.float32(w.varied_experience_bonus) * breadth
    c.post_skill += np.float32(w.post_skill_learning_rate) * (1.0 - c.post_skill)
    noise = model.stream("work").standard_normal(c.n, dtype=np.float32)
    weak = model.units.weak[c.unit]
    c.performance = (
        c.competence
        + np.float32(w.post_skill_weight) * c.post_skill
        + np.float32(w.weak_unit_effect) * weak
        + np.float32(w.performance_noise_sd) * noise
    )

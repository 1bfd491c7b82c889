"""The plain-Mesa reference of benchmarks/mesa_reference.py runs the stated rules correctly, so the
speed ratio it prints compares like with like (the figures themselves come from the script)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
mesa_reference = pytest.importorskip("mesa_reference")


def test_the_mesa_reference_keeps_posts_held_and_pools_full():
    start = mesa_reference.start_model(0.005, 3)
    m = mesa_reference.MesaPipeline(start)
    n0 = len(m.agents)
    for _ in range(3):
        m.step()
    held = [h for h in m.holder if h is not None]
    assert len(held) == len({id(h) for h in held}), "no cadre holds two posts"
    assert all(h.post == i for i, h in enumerate(m.holder) if h is not None)
    assert all(h.grade == m.post_grade[h.post] for h in held)
    # every exit was replaced: staff pools back at their targets, and nearly every post held
    assert np.array_equal(m.staff_count, m.staff_target)
    assert sum(h is None for h in m.holder) <= 0.02 * len(m.holder)
    assert abs(len(m.agents) - n0) <= 0.02 * n0
    staff = sum(1 for a in m.agents if a.post is None)
    assert staff == int(m.staff_count.sum())


def test_the_restricted_pipeline_sim_runs_only_the_stated_phases():
    model = mesa_reference.start_model(0.005, 2)
    assert [ph.NAME for ph in model.plan] == ["calendar", "demography", "filling", "recruitment", "record"]
    model.run()
    f = model.metrics_frame()
    tot = f[(f["level"] == "all") & (f["sector"] == "all")].pivot(
        index="year", columns="metric", values="value"
    )
    assert (tot["appointments"] > 0).all()
    assert (tot["disciplined_reprimand"] == 0).all() and (tot["rotations_down"] == 0).all()

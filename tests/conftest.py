"""Shared fixtures: small scenarios, a strict ladder builder and helpers to arrange model state.

Every scenario here is tiny (the 'teaching' province or a hand-made custom hierarchy) so that the
whole suite runs in seconds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest

from pipeline_sim import PipelineModel
from pipeline_sim.world.cadres import ACTIVE

GOOD = 1  # grade code of "good" (see pipeline_sim.scenario.schema.GRADES)

TEACHING = {
    "name": "teach",
    "simulation": {"years": 3},
    "hierarchy": {"preset": "teaching"},
}

#: settings that remove every source of chance that could upset a hand-arranged case: nobody
#: dies or leaves, everybody is assessed exactly "good", no congress, no discipline, no
#: confidence vote, no rotation, no weak units
QUIET = {
    "demography": {"mortality_at_40": 0.0, "p_leave_staff": 0.0, "p_leave_leader": 0.0},
    "assessment": {"score_sd": 0.0, "noise_sd": 0.0},
    "congress": {"enabled": False},
    "integrity": {"enabled": False},
    "confidence": {"enabled": False},
    "rotation": {"enabled": False, "two_term_rule": False},
}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def custom_scenario(
    levels: list[str],
    posts: dict[str, dict[str, int]],
    staff: dict[str, int],
    quiet: bool = True,
    **sections: dict,
) -> dict:
    """A one-sector ('party') custom hierarchy with one unit per level."""
    scenario = {
        "name": "hand-made",
        "hierarchy": {
            "preset": "custom",
            "levels": levels,
            "sectors": ["party"],
            "units": {lvl: 1 for lvl in levels},
            "staff": staff,
            "posts": {lvl: {"party": counts} for lvl, counts in posts.items()},
            "weak_unit_share": 0.0,
        },
    }
    if quiet:
        scenario = merge(scenario, QUIET)
    return merge(scenario, sections)


@pytest.fixture
def teaching() -> dict:
    """The teaching province (about 2,000 cadres), three recorded years."""
    return copy.deepcopy(TEACHING)


@pytest.fixture
def teaching_file(tmp_path):
    """The teaching scenario written as a TOML file (name 'teach', three years)."""
    path = tmp_path / "teach.toml"
    path.write_text(
        'name = "teach"\n\n[simulation]\nyears = 3\n\n[hierarchy]\npreset = "teaching"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def build_ladder() -> Callable[..., PipelineModel]:
    """Build a strict ladder: one unit per level, one key head post each, staff only at the bottom.

    The bottom head may be filled from the staff pool (appointment.entry_ranks = ["head"]) and
    appointees come from at most one level below, so a vacancy can only travel down the ladder.
    """

    def build(n_levels: int = 4, seed: int = 5, **sections: dict) -> PipelineModel:
        levels = [f"level{i}" for i in range(n_levels)]
        scenario = custom_scenario(
            levels,
            {lvl: {"head": 1} for lvl in levels},
            {levels[-1]: 3},
            appointment={"entry_ranks": ["head"], "max_level_gap": 1},
            planning={"max_level_gap": 1},
        )
        return PipelineModel(merge(scenario, sections), seed=seed, years=5)

    return build


def _make_eligible(model: PipelineModel) -> None:
    """Every cadre in service: 30 years of service left, 5 years in place, good grades, no ban."""
    c = model.cadres
    active = c.status == ACTIVE
    c.t_retire[active] = model.year + 30.0
    c.post_start[active] = model.year - 5
    c.moved_year[active] = -9999
    c.ban_until[active] = -9999
    c.grades[active] = GOOD


def _set_pools(model: PipelineModel, pools: dict[int, list[int]]) -> None:
    """Replace every planning pool: {post id: [cadre rows]}; other pools are emptied."""
    model.pools[:] = -1
    for post, rows in pools.items():
        k = model.posts.key_index[post]
        assert k >= 0, f"post {post} is not a key post"
        model.pools[k, : len(rows)] = rows
    entries = model.pools[model.pools >= 0]
    model.cadres.n_planned[:] = np.bincount(entries, minlength=model.cadres.n)


def _holder(model: PipelineModel, level: int, rank: int = 0, nth: int = 0) -> int:
    """Cadre row holding the nth post of a level and rank."""
    p = model.posts
    post = np.flatnonzero((p.level == level) & (p.rank == rank))[nth]
    row = int(p.holder[post])
    assert row >= 0, "post is vacant"
    return row


def _post(model: PipelineModel, level: int, rank: int = 0, nth: int = 0) -> int:
    p = model.posts
    return int(np.flatnonzero((p.level == level) & (p.rank == rank))[nth])


@pytest.fixture
def make_eligible():
    return _make_eligible


@pytest.fixture
def set_pools():
    return _set_pools


@pytest.fixture
def holder_of():
    return _holder


@pytest.fixture
def post_of():
    return _post


@pytest.fixture
def custom():
    """Builder of one-sector custom hierarchies: custom(levels, posts, staff, quiet=True, **sections)."""
    return custom_scenario

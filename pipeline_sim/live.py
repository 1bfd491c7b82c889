"""Changing a running model's rules between years (for the dashboard and other interactive use).

The model reads ``model.scenario`` afresh every year, except for a few things fixed when it is
built: the non-local posts, the width of the planning pools and the year's caches. The one
function here swaps the scenario and brings those along, so that a change applies from the next
simulated year exactly as if the scenario had said so from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline_sim.scenario import ScenarioError, load_scenario
from pipeline_sim.scenario.schema import FIXED_SECTIONS  # the world and the run: fixed once built
from pipeline_sim.world.operations import drop_from_pools

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel
    from pipeline_sim.scenario import Scenario


def change_rules(model: PipelineModel, changes: dict[str, Any]) -> Scenario:
    """Set dotted scenario keys on a running model, from the next simulated year on.

    Call it between steps. Keys of the world or the run (``hierarchy``, ``simulation``,
    ``initial``, ``name``, ``description``) cannot change and raise :class:`ScenarioError`, as does
    an invalid value (the message names the key). A smaller ``planning.max_candidates`` drops the
    pool entries beyond the new size (logged as ``plan_drop`` with cause ``pool_size``).

    Returns the new scenario (also ``model.scenario``).
    """
    for key in changes:
        if key.split(".")[0] in FIXED_SECTIONS:
            raise ScenarioError(f"{key}: cannot change in a running model (fixed when it is built)")
    if not changes:
        return model.scenario
    new = load_scenario(model.scenario.model_dump(mode="json"), overrides=dict(changes))
    model.scenario = new
    model.nonlocal_post = model._posts_matching(new.rotation.nonlocal_posts)
    _resize_pools(model, new.planning.max_candidates)
    model.events.enabled = new.output.event_log
    model.events.planning = new.output.planning_events
    model._selection.clear()
    model.year_cache.clear()
    return new


def _resize_pools(model: PipelineModel, width: int) -> None:
    pools = model.pools
    old = pools.shape[1]
    if width == old:
        return
    if width > old:
        model.pools = np.hstack([pools, np.full((pools.shape[0], width - old), -1, pools.dtype)])
        return
    # entries first (in their order), free slots last; then drop what no longer fits
    order = np.argsort(pools < 0, axis=1, kind="stable")
    packed = np.take_along_axis(pools, order, axis=1)
    model.pools = packed
    beyond = np.zeros(packed.shape, dtype=bool)
    beyond[:, width:] = packed[:, width:] >= 0
    drop_from_pools(model, beyond, "pool_size")
    model.pools = np.ascontiguousarray(model.pools[:, :width])

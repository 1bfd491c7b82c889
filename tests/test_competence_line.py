"""A competence line for dismissal (integrity.dismiss_below_competence): off by default; a holder
below it is replaced by the path of two 'not completed' years (dismissed now, or at the end of the
term under lenient removal), counted in competence_dismissals and exits_dismissed."""

from __future__ import annotations

import pytest

from pipeline_sim import PipelineModel, ScenarioError, load_scenario
from pipeline_sim.processes import integrity
from pipeline_sim.world.cadres import ACTIVE


def _model(custom, make_eligible, line, removal="strict"):
    scenario = custom(
        ["top", "low"],
        {"top": {"head": 1}, "low": {"head": 2, "member": 2}},
        {"low": 4},
        integrity={
            "enabled": True,
            "p_violation": 0.0,
            "removal": removal,
            "dismiss_below_competence": line,
        },
    )
    model = PipelineModel(scenario, seed=2, years=2)
    make_eligible(model)
    model.new_year()
    c = model.cadres
    c.competence[c.status == ACTIVE] = 2.0
    weak = int(model.posts.holder[1])
    c.competence[weak] = -1.0
    return model, weak


@pytest.mark.parametrize("line", [None, 0.0, -2.0])
def test_a_holder_below_the_line_is_dismissed(line, custom, make_eligible):
    model, weak = _model(custom, make_eligible, line)
    uid = int(model.cadres.uid[weak])
    integrity.run(model)
    exits = model.events_frame().query("kind == 'exit'")
    below = line is not None and line > -1.0
    assert (uid in set(exits["cadre"])) == below
    if below:
        assert exits["cause"].astype(str).tolist() == ["dismissed"]
        assert model.tally.sums["competence_dismissals"].sum() == 1
        assert model.tally.sums["exits_dismissed_holders"].sum() == 1
    else:
        assert model.tally.sums["competence_dismissals"].sum() == 0


def test_under_lenient_removal_the_holder_is_replaced_at_the_end_of_the_term(custom, make_eligible):
    model, weak = _model(custom, make_eligible, 0.0, removal="lenient")
    integrity.run(model)
    c = model.cadres
    assert c.status[weak] == ACTIVE and c.post[weak] >= 0 and c.pending_removal[weak]
    integrity.run(model)  # a second year below the line is not counted again
    assert model.tally.sums["competence_dismissals"].sum() == 1


def test_the_line_lowers_the_share_of_holders_below_it():
    scen = {"name": "t", "hierarchy": {"preset": "teaching"}}
    share = {}
    for line in (None, 0.5):
        model = PipelineModel(scen, seed=4, years=6, **{"integrity.dismiss_below_competence": line})
        frame = model.run().metrics_frame()
        at = frame[(frame["level"] == "all") & (frame["sector"] == "all")]
        share[line] = at[at["metric"] == "below_min_competence_share"]["value"].mean()
        dismissed = at[at["metric"] == "competence_dismissals"]["value"].sum()
        assert (dismissed > 0) == (line is not None)
    assert share[0.5] < share[None]


def test_the_line_is_bounded():
    with pytest.raises(ScenarioError, match="dismiss_below_competence"):
        load_scenario({"hierarchy": {"preset": "teaching"}, "integrity": {"dismiss_below_competence": 50.0}})
    assert load_scenario({"hierarchy": {"preset": "teaching"}}).integrity.dismiss_below_competence is None

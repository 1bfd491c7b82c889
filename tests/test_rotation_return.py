"""A rotation's return goes back to the post held before (or an equivalent one, or the cadre stays),
never to a higher post, and not at all after a promotion during the rotation; a return into a key
vacancy is judged a gap by the filling phase's rule; a rotation up meets the appointment conditions."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline_sim import PipelineModel
from pipeline_sim.processes import rotation
from pipeline_sim.world.operations import appoint, vacate

PROVINCE, DISTRICT, COMMUNE = 0, 1, 2
HEAD, DEPUTY, MEMBER = 0, 1, 2


def _model(custom, make_eligible, key_ranks=("head",)):
    scenario = custom(
        ["province", "district", "commune"],
        {
            "province": {"head": 1},
            "district": {"head": 1, "member": 2},
            "commune": {"head": 1},
        },
        {"commune": 2},
        rotation={"enabled": True, "p_return": 1.0, "rate": 0.0},
        hierarchy={"key_ranks": list(key_ranks)},
    )
    model = PipelineModel(scenario, seed=2, years=3)
    make_eligible(model)
    model.new_year()
    return model


def _rotate_down(model, row: int, into: int) -> None:
    """`row` is rotated into vacant post `into`; the rotation ended last year."""
    rotation._record_rotation(model, np.array([row]), "down")
    appoint(model, np.array([into]), np.array([row]), np.zeros(1, bool), kind="rotation", cause="down")
    model.cadres.rotation_until[row] = model.year - 1
    model.cadres.moved_year[row] = model.year - 3
    model.cadres.post_start[row] = model.year - 3


def _posts(model, level, rank):
    p = model.posts
    return np.flatnonzero((p.level == level) & (p.rank == rank))


@pytest.mark.parametrize("held_before", ["vacant", "taken, an equal post vacant", "taken, none vacant"])
def test_a_member_rotated_down_to_a_commune_head_never_returns_as_district_head(
    held_before, custom, make_eligible
):
    model = _model(custom, make_eligible)
    p = model.posts
    commune_head = _posts(model, COMMUNE, HEAD)[0]
    district_head = _posts(model, DISTRICT, HEAD)[0]
    member_a, member_b = _posts(model, DISTRICT, MEMBER)
    row = int(p.holder[member_a])
    vacate(model, p.holder[[commune_head]])
    _rotate_down(model, row, commune_head)
    # the district head post falls vacant while the member is away
    vacate(model, p.holder[[district_head]])
    if held_before != "vacant":
        other = int(p.holder[member_b])
        vacate(model, np.array([other]))
        appoint(model, np.array([member_a]), np.array([other]), np.zeros(1, bool))  # post held before taken
        if held_before == "taken, none vacant":
            staff = np.flatnonzero((model.cadres.post < 0) & (model.cadres.level == COMMUNE))[0]
            appoint(model, np.array([member_b]), np.array([staff]), np.zeros(1, bool))

    rotation._returns(model)

    post = int(model.cadres.post[row])
    assert post != district_head, "a return is never a promotion over the post held before"
    expected = {
        "vacant": member_a,
        "taken, an equal post vacant": member_b,
        "taken, none vacant": commune_head,
    }[held_before]
    assert post == expected
    assert p.holder[district_head] == -1


@pytest.mark.parametrize("ready", [True, False])
def test_a_return_into_a_key_vacancy_is_a_gap_unless_a_ready_planned_successor(ready, custom, make_eligible):
    """A district head rotated down to a commune head returns to the district head post, for which
    he is planned. He is a ready successor only if he meets every appointment condition."""
    model = _model(custom, make_eligible)
    c, p = model.cadres, model.posts
    commune_head = _posts(model, COMMUNE, HEAD)[0]
    district_head = _posts(model, DISTRICT, HEAD)[0]
    row = int(p.holder[district_head])
    vacate(model, p.holder[[commune_head]])
    _rotate_down(model, row, commune_head)
    assert p.holder[district_head] == -1
    model.pools[:] = -1
    model.pools[p.key_index[district_head], 0] = row
    c.n_planned[:] = 0
    c.n_planned[row] = 1
    if not ready:
        c.ban_until[row] = model.year + 1  # planned, but barred from appointment this year
    model.tally.reset()

    rotation._returns(model)

    assert c.post[row] == district_head
    assert model.tally.sums["key_vacancies"].sum() == 1
    assert model.tally.sums["succession_gaps"].sum() == (0 if ready else 1)


def test_a_cadre_promoted_during_the_rotation_does_not_return(custom, make_eligible):
    """Rotated down from a district member post to a commune head post, then appointed district
    head: when the rotation ends the cadre stays district head, not back to the member post."""
    model = _model(custom, make_eligible)
    p = model.posts
    commune_head = _posts(model, COMMUNE, HEAD)[0]
    district_head = _posts(model, DISTRICT, HEAD)[0]
    member_a = _posts(model, DISTRICT, MEMBER)[0]
    row = int(p.holder[member_a])
    vacate(model, p.holder[[commune_head]])
    _rotate_down(model, row, commune_head)
    vacate(model, p.holder[[district_head]])
    appoint(model, np.array([district_head]), np.array([row]), np.zeros(1, bool))  # promoted
    model.cadres.moved_year[row] = model.year - 1

    rotation._returns(model)

    assert model.cadres.post[row] == district_head
    assert model.cadres.rotation_home[row] == -1


@pytest.mark.parametrize("fails", [None, "grade", "tenure", "ban"])
def test_a_rotation_up_meets_every_appointment_condition(fails, custom, make_eligible, set_pools):
    """A rotation up is a move to a higher post: only for cadres who could be appointed to it."""
    scenario = custom(
        ["province", "district"],
        {"province": {"head": 1, "member": 1}, "district": {"head": 1}},
        {"district": 2},
        rotation={
            "enabled": True,
            "rate": 1.0,
            "directions": {"down": 0.0, "up": 1.0, "locality": 0.0, "sector": 0.0},
        },
    )
    model = PipelineModel(scenario, seed=2, years=3)
    make_eligible(model)
    model.new_year()
    c, p = model.cadres, model.posts
    member = _posts(model, PROVINCE, MEMBER)[0]
    district_head = _posts(model, DISTRICT, HEAD)[0]
    row = int(p.holder[district_head])
    set_pools(model, {int(_posts(model, PROVINCE, HEAD)[0]): [row]})
    vacate(model, p.holder[[member]])
    if fails == "grade":
        c.grades[row, model.last_assessed_year % c.grades.shape[1]] = 2  # only "completed" last year
    elif fails == "tenure":
        c.post_start[row] = model.year - 1  # a year in the post: the appointment needs two
    elif fails == "ban":
        c.ban_until[row] = model.year + 1
    model.year_cache.clear()

    rotation._rotate(model)

    moved = c.post[row] == member
    assert moved == (fails is None)

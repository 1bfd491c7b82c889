"""The event log carries what a check against the record needs (DESIGN.md, "Credibility"):
the mover's age and sex, the level and rank of the place left and whether it was at a congress."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline_sim import PipelineModel


@pytest.fixture(scope="module")
def run() -> tuple[PipelineModel, pd.DataFrame, dict]:
    """The teaching province over one term, with the birth and sex of every cadre ever seen."""
    model = PipelineModel("scenarios/teaching.toml", seed=4, years=5)
    seen = {}

    def note() -> None:
        c = model.cadres
        for uid, birth, female in zip(c.uid.tolist(), c.birth.tolist(), c.female.tolist(), strict=True):
            seen.setdefault(uid, (birth, female))

    note()
    while model.running:
        model.step()
        note()
    return model, model.events_frame(), seen


def test_events_carry_the_age_and_sex_of_the_cadre(run):
    _, ev, seen = run
    birth = np.array([seen[u][0] for u in ev["cadre"]])
    female = np.array([seen[u][1] for u in ev["cadre"]])
    np.testing.assert_array_equal(ev["age"].to_numpy(), np.floor(ev["year"].to_numpy() + 0.5 - birth))
    np.testing.assert_array_equal(ev["female"].to_numpy(), female)


def test_exits_and_step_downs_carry_the_level_and_rank_of_the_post_left(run):
    model, ev, _ = run
    p = model.posts
    left = ev[ev["kind"].isin(["exit", "step_down"]) & (ev["post"] >= 0)]
    assert len(left)
    ranks = np.array(["head", "deputy", "member"])[p.rank[left["post"]]]
    np.testing.assert_array_equal(left["from_rank"].astype(str).to_numpy(), ranks)
    levels = np.array(model.levels)[p.level[left["post"]]]
    np.testing.assert_array_equal(left["from_level"].astype(str).to_numpy(), levels)
    staff_exits = ev[(ev["kind"] == "exit") & (ev["post"] < 0)]
    assert (staff_exits["from_rank"] == "staff").all()


def test_promotions_come_from_a_lower_place(run):
    model, ev, _ = run
    promoted = ev[ev["kind"] == "promotion"]
    assert len(promoted)
    rank = pd.Series(promoted["from_rank"].cat.codes.to_numpy())
    level = pd.Series(promoted["from_level"].cat.codes.to_numpy())
    grade_left = 4 * level + rank
    grade_new = model.posts.grade[promoted["post"].to_numpy()]
    assert (grade_left.to_numpy() > grade_new).all()


def test_start_and_entry_rows_leave_no_place(run):
    _, ev, _ = run
    fresh = ev[ev["kind"].isin(["start", "entry"])]
    assert len(fresh) and fresh["from_level"].isna().all() and fresh["from_rank"].isna().all()


def test_only_moves_made_at_a_congress_are_flagged(run):
    model, ev, _ = run
    congress_year = model.first_year + model.scenario.simulation.term_years - 1
    flagged = ev[ev["at_congress"]]
    assert len(flagged) and (flagged["year"] == congress_year).all()
    age_limit = ev[(ev["kind"] == "step_down") & (ev["cause"] == "age_limit")]
    assert len(age_limit) and age_limit["at_congress"].all()
    assert not ev.loc[ev["kind"].isin(["entry", "start", "discipline"]), "at_congress"].any()


def test_the_new_columns_are_compact(run):
    _, ev, _ = run
    assert ev["age"].dtype == np.int8
    assert ev["female"].dtype == bool and ev["at_congress"].dtype == bool
    assert isinstance(ev["from_level"].dtype, pd.CategoricalDtype)
    assert isinstance(ev["from_rank"].dtype, pd.CategoricalDtype)

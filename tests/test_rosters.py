"""Rosters of post holders, and posts and units with readable names: what a researcher rebuilds
careers, re-election and losses over a term from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline_sim import PipelineModel, load_scenario, run


@pytest.fixture(scope="module")
def model() -> PipelineModel:
    scen = load_scenario({"hierarchy": {"preset": "teaching"}, "simulation": {"years": 7}})
    return PipelineModel(scen, seed=3).run()


def test_the_year_end_roster_is_the_holders_of_the_roster_posts(model):
    h = model.holders_frame()
    last = h[(h["year"] == model.year) & (h["moment"] == "year_end")]
    p, c = model.posts, model.cadres
    posts = model.rosters.posts
    held = posts[p.holder[posts] >= 0]
    assert sorted(last["post"]) == sorted(held)
    expected = pd.Series(c.uid[p.holder[held]], index=held)
    assert (last.set_index("post")["cadre"].sort_index() == expected.sort_index()).all()
    rows = p.holder[last["post"].to_numpy()]
    np.testing.assert_allclose(last["age"], model.year + 0.5 - c.birth[rows], atol=1e-4)
    assert (last["female"].to_numpy() == c.female[rows]).all()


def test_key_posts_and_every_post_of_the_top_levels_are_recorded(model):
    h = model.holders_frame()
    p = model.posts
    top = p.level < model.scenario.output.roster_all_posts_levels
    assert set(h["post"]) <= set(np.flatnonzero(p.key | top))
    assert h["key"].any() and (~h["key"]).any()
    assert set(h.loc[~h["key"], "level"].astype(str)) <= set(model.levels[:2])


def test_congress_moments_only_in_congress_years_and_changes_are_appointments(model):
    h = model.holders_frame()
    congress = sorted(h.loc[h["moment"].isin(["before_congress", "after_congress"]), "year"].unique())
    term = model.scenario.simulation.term_years
    assert congress and all((y - model.first_year) % term == term - 1 for y in congress)
    y = congress[0]
    before = h[(h["year"] == y) & (h["moment"] == "before_congress")].set_index("post")["cadre"]
    after = h[(h["year"] == y) & (h["moment"] == "after_congress")].set_index("post")["cadre"]
    both = before.index.intersection(after.index)
    changed = both[before[both].to_numpy() != after[both].to_numpy()]
    ev = model.events_frame()
    seated = ev[(ev["year"] == y) & ev["kind"].astype(str).isin(["appointment", "promotion", "rotation"])]
    seated_pairs = set(zip(seated["post"], seated["cadre"], strict=True))
    missing = [(p, after[p]) for p in changed if (p, after[p]) not in seated_pairs]
    assert len(changed) > 0 and missing == [], "every new holder at a congress has an event"


def test_posts_and_units_have_unique_readable_names(model):
    posts, units = model.posts_frame(), model.units_frame()
    assert posts["name"].is_unique and units["name"].is_unique
    assert len(posts) == model.posts.n and len(units) == model.units.n
    first_district = units.loc[units["level"] == "district", "name"].iloc[0]
    assert first_district == "District 1"
    commune = units.loc[units["level"] == "commune"].iloc[0]
    assert commune["name"].startswith(first_district + " › Commune 1")
    head = posts[
        (posts["unit"] == commune["unit"]) & (posts["rank"] == "head") & (posts["sector"] == "party")
    ]
    assert head["name"].tolist() == [f"{commune['name']} · party secretary"]
    deputies = posts[(posts["unit"] == 0) & (posts["rank"] == "deputy") & (posts["sector"] == "party")]
    assert deputies["name"].str.endswith(" 1").sum() == 1 and len(deputies) > 1


def test_run_writes_rosters_posts_and_units(tmp_path):
    scen = load_scenario({"hierarchy": {"preset": "teaching"}, "simulation": {"years": 2}})
    result = run(scen, reps=2, seed=1)
    assert set(result.holders["rep"]) == {0, 1} and set(result.units["rep"]) == {0, 1}
    folder = result.save(tmp_path / "out")
    holders = pd.read_parquet(folder / "holders.parquet")
    assert {"year", "moment", "post", "unit", "level", "sector", "rank", "cadre", "age", "female"} <= set(
        holders.columns
    )
    assert {"years_in_post", "years_in_service", "grade", "times_planned", "minority"} <= set(holders.columns)
    posts = pd.read_parquet(folder / "posts.parquet")
    assert set(holders["post"]) <= set(posts["post"])
    none = run(load_scenario({**scen.model_dump(mode="json"), "output": {"holders": "none"}}), reps=1)
    assert none.holders.empty


def test_exits_split_into_holders_and_staff_and_ages_match_the_roster(model):
    f = model.metrics_frame()
    tot = f[(f["level"] == "all") & (f["sector"] == "all")].pivot_table(
        index="year", columns="metric", values="value", observed=True
    )
    for cause in ("retired", "died"):
        np.testing.assert_allclose(
            tot[f"exits_{cause}_holders"] + tot[f"exits_{cause}_staff"], tot[f"exits_{cause}"]
        )
    assert tot["exits_retired_holders"].sum() > 0 and tot["exits_retired_staff"].sum() > 0
    shares = tot[[c for c in tot.columns if c.startswith("grade_") and c.endswith("_share")]]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    h = model.holders_frame()
    last = h[(h["year"] == model.year) & (h["moment"] == "year_end") & h["key"]]
    held = model.posts.key & (model.posts.holder >= 0)
    assert len(last) == held.sum()
    assert tot.loc[model.year, "age_in_office_mean"] == pytest.approx(float(last["age"].mean()), abs=1e-3)

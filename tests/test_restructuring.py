"""Restructuring in the middle of a run: invariants through the event on random hierarchies and
mergers, common random numbers, the surplus policies and the outputs."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_invariants import assert_invariants, hierarchy_tables

from pipeline_sim import PipelineModel, load_scenario
from pipeline_sim.world.cadres import ACTIVE, EXIT_CAUSES
from pipeline_sim.world.restructuring import kind_of_posts
from pipeline_sim.world.structure import largest_remainder, restructuring_events, tree_steps, unit_tree

FEW = settings(
    max_examples=int(__import__("os").environ.get("RESTR_EXAMPLES", 30)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------------------------
# random hierarchies and random restructurings


@st.composite
def hierarchies(draw) -> dict:
    """3-4 levels, at least 2 units and 1-4 children per unit below the top, 1-3 sectors, 0-3 posts
    per rank (at most 2 heads), a head in every unit."""
    return {
        "name": "random",
        "simulation": {"years": 5},
        "hierarchy": draw(hierarchy_tables(n_levels=(3, 4), spread=4, min_units=2, max_heads=2)),
        "demography": {"p_leave_leader": 0.05, "p_leave_staff": 0.05},
    }


def _random_groups(draw, tree, level: int, cross: bool) -> list[list[int]]:
    """A random grouping of the units of `level` (numbers from 1), within parents unless `cross`."""
    members = tree.units_of(level)
    parent = tree.parent[members]
    blocks = [np.arange(len(members))] if cross else [np.flatnonzero(parent == q) for q in np.unique(parent)]
    groups = []
    for block in blocks:
        order = draw(st.permutations(list(block)))
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=len(order))))
        cuts = [c for c in cuts if 0 < c < len(order)]
        for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True):
            groups.append([int(u) + 1 for u in order[a:b]])
    return groups


@st.composite
def restructurings(draw, scenario: dict, folder: Path) -> dict:
    """One event in the second or third year: mergers (by a file or the rule), perhaps a level
    abolished, perhaps new posts per unit; and random surplus policies."""
    h = scenario["hierarchy"]
    levels = h["levels"]
    year = 2021 + draw(st.integers(1, 2))
    month = draw(st.integers(1, 12))
    steps: list[dict] = []
    for lvl in range(1, len(levels)):
        if draw(st.booleans()):
            steps.append({"action": "merge", "level": levels[lvl]})
    if len(levels) == 4 and draw(st.booleans()):
        at = draw(st.integers(0, len(steps)))
        # a level abolished cannot merge later
        steps = [
            *steps[:at],
            {"action": "abolish", "level": levels[2]},
            *(s for s in steps[at:] if s["level"] != levels[2]),
        ]
    if draw(st.booleans()) or not steps:
        lvl = draw(
            st.sampled_from(
                [
                    x
                    for x in levels
                    if not any(s.get("level") == x and s["action"] == "abolish" for s in steps)
                ]
            )
        )
        steps.append(
            {
                "action": "posts",
                "posts": {
                    lvl: {
                        sec: {r: draw(st.integers(0, 3)) for r in ("head", "deputy", "member")}
                        for sec in h["sectors"]
                    }
                },
                "staff": {lvl: draw(st.integers(0, 8))},
            }
        )
        steps[-1]["posts"][lvl][h["sectors"][0]]["head"] = 1
    # grouping files or targets, against the structure at each step
    scen = load_scenario(scenario)
    tree = unit_tree(levels, scen.hierarchy.units, 1.0)
    for k, step in enumerate(steps):
        step.update(year=year, month=month)
        li = levels.index(step.get("level", levels[0]))
        if step["action"] == "merge":
            n = int((tree.level == li).sum())
            parents = len(np.unique(tree.parent[tree.level == li]))
            if draw(st.booleans()):
                cross = draw(st.booleans())
                groups = _random_groups(draw, tree, li, cross)
                path = folder / f"groups{k}.toml"
                path.write_text(f"groups = {groups}\n", encoding="utf-8")
                step.update(groups=str(path), cross_parents=cross)
            else:
                step["target"] = draw(st.integers(parents, n))
        probe = load_scenario(scenario, overrides={"restructuring": [dict(s) for s in steps[: k + 1]]})
        for _i, result in tree_steps(tree, levels, [(k, probe.restructuring[k])], 1.0):
            if result is not None:
                tree = result.tree
    surplus = {
        "years": draw(st.integers(0, 3)),
        "yearly_reduction": draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        "ranks": draw(st.sampled_from([["deputy", "member"], ["deputy"], ["member"], []])),
        "freeze_appointments": draw(st.booleans()),
        "early_retirement": draw(st.booleans()),
        "early_retirement_years": draw(st.sampled_from([2.0, 5.0, 10.0])),
        "early_retirement_take_up": draw(st.sampled_from([0.0, 0.5, 1.0])),
    }
    # the moves that fill vacancies in other ways must not fill a post closed above its quota
    moves = {
        "rotation": {
            "rate": draw(st.sampled_from([0.02, 0.3])),
            "ahead_share": draw(st.sampled_from([0.0, 0.5])),
            "congress_share": draw(st.sampled_from([0.0, 0.5])),
            "vertical_exchanges": draw(st.booleans()),
        },
        "appointment": {"outside_share": draw(st.sampled_from([0.0, 0.2]))},
    }
    return {**scenario, **moves, "restructuring": steps, "surplus": surplus}


# ---------------------------------------------------------------------------------------------
# checks


def _places(model: PipelineModel) -> dict[int, tuple[int, int]]:
    """(post ident or -1, unit ident) of every cadre in service, by uid."""
    c, p, u = model.cadres, model.posts, model.units
    rows = np.flatnonzero(c.status == ACTIVE)
    post = np.where(c.post[rows] >= 0, p.ident[np.maximum(c.post[rows], 0)], -1)
    return dict(
        zip(
            c.uid[rows].tolist(), zip(post.tolist(), u.ident[c.unit[rows]].tolist(), strict=True), strict=True
        )
    )


def _assert_quota_rows(model: PipelineModel) -> None:
    """Every kind has max(quota, holders) open posts after the restructure phase."""
    p = model.posts
    state = model.restructuring
    kind = kind_of_posts(model)
    n_sec = len(model.sectors)
    unit, sector, rank = kind // (3 * n_sec), (kind // 3) % n_sec, kind % 3
    quota = state.quota[model.units.level[unit], sector, rank]
    first = np.r_[True, kind[1:] != kind[:-1]]
    kid = np.cumsum(first) - 1
    rows_k = np.bincount(kid)
    held_k = np.bincount(kid[p.holder >= 0], minlength=len(rows_k))
    assert (rows_k >= quota[first]).all(), "a kind has fewer posts than its quota"
    assert (rows_k <= np.maximum(quota[first], held_k) + (p.quota is not None) * 10**6).all()
    assert not p.closed.any(), "closed posts are removed at the restructure phase"


def step_checked(model: PipelineModel) -> None:
    """One year, phase by phase, checking the restructure phase closely."""
    for phase in model.plan:
        model.phase = phase.NAME
        if phase.NAME != "restructure":
            phase.run(model)
            p = model.posts
            assert (p.holder[p.closed] < 0).all(), f"{model.year} {phase.NAME}: a closed post was filled"
            continue
        before = _places(model)
        n_blocks = len(model.events.blocks)
        exits_before = sum(model.tally.sums[f"exits_{c}"].sum() for c in EXIT_CAUSES)
        due = bool(model.restructuring.due(model.year))
        phase.run(model)
        after = _places(model)
        exits = sum(model.tally.sums[f"exits_{c}"].sum() for c in EXIT_CAUSES) - exits_before
        # head counts add up across the event: before - exits = after; nobody appears
        assert len(after) == len(before) - exits, f"{model.year}: head count across the restructure phase"
        assert set(after) <= set(before), f"{model.year}: a cadre appeared in the restructure phase"
        # every move is in the event log
        blocks = model.events.blocks[n_blocks:]
        logged = set(np.concatenate([b["cadre"] for b in blocks]).tolist()) if blocks else set()
        moved = {uid for uid, place in after.items() if before[uid] != place}
        gone = set(before) - set(after)
        assert moved <= logged, f"{model.year}: {len(moved - logged)} moves not in the event log"
        assert gone <= logged, f"{model.year}: exits not in the event log"
        assert_invariants(model)
        # pools refer only to existing key posts
        assert model.pools.shape[0] == len(model.posts.key_posts)
        assert (model.posts.key[model.posts.key_posts]).all()
        if due:
            _assert_quota_rows(model)
    model.phase = None


@FEW
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_records_stay_consistent_through_random_restructurings(data, seed):
    with tempfile.TemporaryDirectory() as folder:
        scenario = data.draw(hierarchies())
        scenario = data.draw(restructurings(scenario, Path(folder)))
        model = PipelineModel(scenario, seed=seed)
        assert_invariants(model)
        event_year = scenario["restructuring"][0]["year"]
        while model.running:
            step_checked(model)
            if model.year == event_year:
                _assert_structure(model, load_scenario(scenario))
        totals = (
            model.metrics_frame()
            .query("level == 'all' and sector == 'all'")
            .groupby("metric", observed=True)["value"]
            .sum()
        )
        for name in (
            "surplus_holders",
            "surplus_reduced",
            "exits_early_retired",
            *(f"restructure_{x}" for x in ("demoted", "transferred", "moved", "stepped_down")),
        ):
            event(f"{name} > 0: {totals.get(name, 0) > 0}")
        # the outputs name every post and unit the log and the roster mention
        posts, units = model.posts_frame(), model.units_frame()
        events = model.events_frame()
        assert set(events["post"][events["post"] >= 0]) <= set(posts["post"])
        assert set(events["from_post"][events["from_post"] >= 0]) <= set(posts["post"])
        assert set(events["unit"]) <= set(units["unit"])
        assert set(model.holders_frame()["post"]) <= set(posts["post"])
        assert posts["post"].is_unique and units["unit"].is_unique


def _assert_structure(model: PipelineModel, scen) -> None:
    """Units per level after the event are those of the tree steps."""
    h = scen.hierarchy
    tree = unit_tree(list(h.levels), h.units, h.scale)
    for _y, _m, steps in restructuring_events(scen.restructuring):
        for _i, result in tree_steps(tree, list(h.levels), steps, h.scale):
            if result is not None:
                tree = result.tree
    np.testing.assert_array_equal(
        np.bincount(model.units.level, minlength=len(h.levels)),
        np.bincount(tree.level, minlength=len(h.levels)),
    )
    np.testing.assert_array_equal(model.units.parent, tree.parent)


# ---------------------------------------------------------------------------------------------
# common random numbers


def _transition(scale: float = 0.02, **sections) -> dict:
    """The 2025 reform by the rule (no grouping file), two years into the run."""
    steps = [
        {"year": 2023, "month": 7, "action": "merge", "level": "provincial", "target": 34},
        {"year": 2023, "month": 7, "action": "merge", "level": "commune", "target": 3321},
        {"year": 2023, "month": 7, "action": "abolish", "level": "district"},
        {"year": 2023, "month": 7, "action": "posts", "preset": "reform2025"},
    ]
    scenario = {
        "name": "transition",
        "simulation": {"years": 8},
        "hierarchy": {"preset": "historic", "scale": scale},
        "restructuring": steps,
    }
    for key, value in sections.items():
        scenario[key] = value
    return scenario


def test_an_event_after_the_last_year_changes_nothing():
    with_event = _transition()
    for step in with_event["restructuring"]:
        step["year"] = 2028
    without = copy.deepcopy(with_event)
    del without["restructuring"]
    a = PipelineModel(with_event, seed=3, years=5).run()
    b = PipelineModel(without, seed=3, years=5).run()
    pd.testing.assert_frame_equal(a.metrics_frame(), b.metrics_frame())
    pd.testing.assert_frame_equal(a.events_frame(), b.events_frame())
    pd.testing.assert_frame_equal(a.holders_frame(), b.holders_frame())
    pd.testing.assert_frame_equal(a.posts_frame(), b.posts_frame())
    pd.testing.assert_frame_equal(a.bodies_frame(), b.bodies_frame())


def test_the_years_before_the_event_are_those_of_the_run_without_it():
    a = PipelineModel(_transition(), seed=5, years=4).run()
    no_event = _transition()
    del no_event["restructuring"]
    b = PipelineModel(no_event, seed=5, years=4).run()
    ma, mb = a.metrics_frame(), b.metrics_frame()
    pd.testing.assert_frame_equal(
        ma[ma["year"] < 2023].reset_index(drop=True), mb[mb["year"] < 2023].reset_index(drop=True)
    )
    assert (
        not ma[ma["year"] == 2023]["value"]
        .reset_index(drop=True)
        .equals(mb[mb["year"] == 2023]["value"].reset_index(drop=True))
    )


def test_the_same_seed_gives_the_same_restructured_run():
    a = PipelineModel(_transition(), seed=8, years=5).run()
    b = PipelineModel(_transition(), seed=8, years=5).run()
    pd.testing.assert_frame_equal(a.metrics_frame(), b.metrics_frame())
    pd.testing.assert_frame_equal(a.events_frame(), b.events_frame())


# ---------------------------------------------------------------------------------------------
# the 2025 reform and its surplus policies

ROOT = Path(__file__).resolve().parent.parent
TRANSITION = ROOT / "scenarios" / "transition2025.toml"


def _structure_after(scen) -> np.ndarray:
    h = scen.hierarchy
    tree = unit_tree(list(h.levels), h.units, h.scale)
    sizes = []
    for _y, _m, steps in restructuring_events(scen.restructuring):
        for i, result in tree_steps(tree, list(h.levels), steps, h.scale):
            if result is not None:
                if scen.restructuring[i].level == "provincial":
                    members = np.bincount(result.to_new[tree.level == 1])
                    sizes = np.bincount(members[members > 0])
                tree = result.tree
    return np.bincount(tree.level, minlength=len(h.levels)), sizes


def test_the_transition_gives_the_2025_counts_at_national_scale():
    counts, sizes = _structure_after(load_scenario(TRANSITION))
    assert counts.tolist() == [1, 34, 0, 3321]  # 34 provinces, no districts, 3,321 communes (rules.md §7b)
    assert sizes.tolist() == [0, 11, 17, 6]  # provinces from one, two and three (Res. 202/2025)
    counts, _ = _structure_after(load_scenario(TRANSITION, overrides={"hierarchy.scale": 0.1}))
    assert counts.tolist() == [1, 3, 0, 332]  # the rule at a tenth: the targets scaled


def _yearly(model: PipelineModel, *names: str) -> pd.DataFrame:
    m = model.metrics_frame()
    m = m[(m["level"] == "all") & (m["sector"] == "all") & m["metric"].isin(names)]
    return m.pivot_table(index="year", columns="metric", values="value", observed=True)


@pytest.fixture(scope="module")
def transition_runs():
    """The transition at a fiftieth of the nation (event in 2023) under its surplus policies."""
    runs = {}
    for name, surplus in {
        "default": {},
        "fast": {"yearly_reduction": 0.5},
        "none": {"years": 0},
        "no_early": {"early_retirement": False},
        "no_freeze": {"freeze_appointments": False},
    }.items():
        runs[name] = PipelineModel(_transition(surplus=surplus), seed=2, years=8).run()
    return runs


def test_the_surplus_comes_down_to_the_quota_at_its_pace(transition_runs):
    surplus = _yearly(transition_runs["default"], "surplus_holders")["surplus_holders"]
    assert surplus[2022] == 0 and surplus[2023] > 0
    assert (np.diff(surplus.loc[2023:].to_numpy()) <= 0).all()
    assert surplus[2028] == 0 and surplus[2027] > 0  # five years (Concl. 150)
    fast = _yearly(transition_runs["fast"], "surplus_holders")["surplus_holders"]
    assert fast[2025] == 0 and fast[2024] > 0  # half a year: gone in two
    assert _yearly(transition_runs["none"], "surplus_holders")["surplus_holders"].sum() == 0


def test_with_the_freeze_no_vacancy_above_a_quota_stays_open(transition_runs):
    yearly = _yearly(transition_runs["default"], "surplus_holders", "posts_above_quota")
    assert (yearly["posts_above_quota"] == yearly["surplus_holders"]).all()
    without = _yearly(transition_runs["no_freeze"], "surplus_holders")["surplus_holders"]
    default = _yearly(transition_runs["default"], "surplus_holders")["surplus_holders"]
    assert without.loc[2024:2027].sum() > default.loc[2024:2027].sum()  # vacancies refilled


def test_early_retirement_only_where_the_policy_offers_it(transition_runs):
    er = _yearly(transition_runs["default"], "exits_early_retired")["exits_early_retired"]
    assert er[2022] == 0 and er[2023] > 0
    assert _yearly(transition_runs["no_early"], "exits_early_retired")["exits_early_retired"].sum() == 0


def test_a_merged_unit_has_one_head_per_sector_and_keeps_the_others(transition_runs):
    model = transition_runs["default"]
    p = model.posts
    heads = p.rank == 0
    per_unit = np.bincount(p.unit[heads] * len(model.sectors) + p.sector[heads])
    assert per_unit.max() == 1
    flows = _yearly(model, "restructure_demoted", "restructure_merged", "restructure_transferred")
    assert (flows.loc[2023] > 0).all() and (flows.drop(index=2023) == 0).all().all()


def _run_to_phase(model: PipelineModel, name: str) -> None:
    for phase in model.plan:
        if name == phase.NAME:
            return
        model.phase = phase.NAME
        phase.run(model)


def test_early_retirement_is_offered_within_its_years_of_retirement():
    model = PipelineModel(_transition(), seed=4, years=3)  # the event is in the third year
    model.step()
    model.step()
    _run_to_phase(model, "restructure")
    c = model.cadres
    date = 2023 + 6 / 12
    offered = set(c.uid[(c.status == ACTIVE) & (c.t_retire - date <= 5.0) & (c.level >= 1)].tolist())
    n_blocks = len(model.events.blocks)
    next(ph for ph in model.plan if ph.NAME == "restructure").run(model)
    events = pd.concat([pd.DataFrame(b) for b in model.events.blocks[n_blocks:]])
    cause = {v: k for k, v in model.events.vocab["cause"].items()}
    retired = events[events["cause"].map(cause) == "early_retired"]["cadre"]
    assert len(retired) > 0 and set(retired) <= offered
    share = len(retired) / len(offered)
    assert 0.15 < share < 0.45  # take-up 0.29 among those offered (all units merge here)


@pytest.mark.parametrize("up", [0.0, 1.0])
def test_staff_of_an_abolished_level_go_up_or_down_by_their_share(up):
    scenario = _transition()
    scenario["restructuring"][2]["staff_up_share"] = up
    model = PipelineModel(scenario, seed=6, years=3).run()
    ev = model.events_frame()
    moved = ev[(ev["kind"] == "restructure") & (ev["cause"] == "transferred")]
    staff = moved[moved["from_rank"] == "staff"]
    holders = moved[moved["from_rank"] != "staff"]
    assert len(staff) > 0 and (staff["from_level"] == "district").all()
    assert set(staff["level"]) == ({"provincial"} if up == 1.0 else {"commune"})
    assert (holders["level"] == "commune").all() and (holders["from_level"] == "district").all()


def test_every_post_and_unit_ever_is_in_the_outputs(transition_runs):
    model = transition_runs["default"]
    posts, units = model.posts_frame(), model.units_frame()
    gone = units[units["last_year"] < model.year]
    # at a fiftieth the one province stays one: districts and communes go
    assert set(gone["level"]) == {"district", "commune"} and (gone["last_year"] == 2023).all()
    new = units[units["first_year"] == 2023]
    assert len(new) > 0 and (new["unit"] >= gone["unit"].max() - len(gone)).all()
    assert (posts["first_year"] <= posts["last_year"]).all()
    assert posts.loc[posts["last_year"] < model.year, "name"].str.contains("District").any()
    roster = model.holders_frame()
    assert set(roster["post"]) <= set(posts["post"])
    assert set(roster.loc[roster["year"] == 2022, "unit"]) <= set(units["unit"])


@pytest.mark.slow
def test_the_national_transition_matches_the_record():
    """34 provinces, no districts, 3,321 communes after 1 July 2025; early retirements of the order
    of the model's share of Decree 178's 43,207 (about 19,000)."""
    model = PipelineModel(TRANSITION, seed=1, years=5).run()
    assert np.bincount(model.units.level, minlength=4).tolist() == [1, 34, 0, 3321]
    er = _yearly(model, "exits_early_retired")["exits_early_retired"]
    assert 15_000 < er[2025] < 25_000


def test_replications_in_worker_processes_give_the_same_results(tmp_path):
    """Workers receive the resolved scenario as data (grouping files as absolute paths)."""
    from pipeline_sim import run

    folder = tmp_path / "maps"
    folder.mkdir()
    shipped = ROOT / "scenarios" / "groupings" / "provinces_2025.csv"
    (folder / "provinces.csv").write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    scenario = _transition()
    scenario["restructuring"][0] = {
        "year": 2023,
        "month": 7,
        "action": "merge",
        "level": "provincial",
        "groups": str(folder / "provinces.csv"),
    }
    scen = load_scenario(scenario)
    one = run(scen, reps=2, seed=3, years=4, workers=1)
    two = run(scen, reps=2, seed=3, years=4, workers=2)
    pd.testing.assert_frame_equal(one.metrics, two.metrics)
    pd.testing.assert_frame_equal(one.events.reset_index(drop=True), two.events.reset_index(drop=True))


def _largest_remainder_one_at_a_time(target: int, n_kids: np.ndarray) -> np.ndarray:
    """The rule of `largest_remainder`, one step at a time."""
    raw = target * n_kids / n_kids.sum()
    share = np.clip(np.floor(raw).astype(np.int64), 1, n_kids)
    while share.sum() != target:
        if share.sum() < target:
            room = np.flatnonzero(share < n_kids)
            share[room[np.argmax(raw[room] - share[room])]] += 1
        else:
            room = np.flatnonzero(share > 1)
            share[room[np.argmax(share[room] - raw[room])]] -= 1
    return share


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=40), st.floats(0, 1))
def test_merged_units_per_parent_follow_the_largest_remainder_rule(n_kids, where):
    """Each parent's number of merged units: the largest-remainder rule, steps taken at once
    exactly as one at a time (ties to the first parent), whatever the target."""
    kids = np.array(n_kids, np.int64)
    target = len(kids) + round(where * (kids.sum() - len(kids)))
    got = largest_remainder(target, kids, low=1, high=kids)
    assert np.array_equal(got, _largest_remainder_one_at_a_time(target, kids))
    assert got.sum() == target and (got >= 1).all() and (got <= kids).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=8), st.integers(0, 500))
def test_staff_by_sector_follow_the_largest_remainder_rule(weights, total):
    """Unbounded shares (the staff of a level split by the sectors' post counts): the floors, then
    one more to each of the largest remainders, the first on ties."""
    w = np.array(weights)
    raw = total * w / w.sum()
    want = np.floor(raw).astype(np.int64)
    want[np.argsort(-(raw - want), kind="stable")[: total - want.sum()]] += 1
    assert np.array_equal(largest_remainder(total, w), want)

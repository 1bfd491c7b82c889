"""Vacancy filling appoints exactly what the selection rule gives over the full candidate lists.

`reference_fill` below is a plain-Python, agent-by-agent restatement of the filling rule: grades
top first; within a grade, ready planned successors first, then unplanned candidates of each
post's own subtree; each by rounds in which every open post proposes to its best free candidate
(highest score, equal scores by the lower position in the selection index) and a candidate
wanted by several goes to the post of highest priority. It looks at every cadre for every
post. The array engine must give the same holders on random small hierarchies, with several
vacancies of one grade in a unit, groups that compete, ties in merit, stale places and the
patronage, best/worst and non-local rules.
"""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_sim import PipelineModel
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.operations import N_PEERS, fill_vacancies, vacate
from pipeline_sim.world.rules import INDEX_RULE, appointment_eligible

RANKS = ("head", "deputy", "member")


def reference_fill(model: PipelineModel, rng: np.random.Generator) -> list[int]:
    """Holder of every post after filling, from the model's state before it (which is not changed).

    `rng` is a copy of the filling stream, drawn in the engine's order: per grade with vacancies,
    one priority per vacancy, then (best/worst mix) one draw per vacancy for picking the worst,
    then (non-local posts) the peer units of the open non-local posts.
    """
    c, p, u, scen = model.cadres, model.posts, model.units, model.scenario
    app = scen.appointment
    rule = app.selection
    n_sectors = len(model.sectors)
    eligible = [bool(x) for x in appointment_eligible(model)]
    holder = [int(h) for h in p.holder]
    post_of = [int(x) for x in c.post]
    grade_of = [int(x) for x in c.grade]
    place_of = [int(x) for x in c.place]
    home = [int(x) for x in c.home]
    network = [int(x) for x in c.network]

    def index(rule_name):
        rows, keys, score = model.selection(rule_name)
        pos = {int(r): i for i, r in enumerate(rows)}
        at = {int(r): int(k) for r, k in zip(rows, keys, strict=True)}
        return pos, at, [float(s) for s in score], len(rows)

    best_ix = index(INDEX_RULE[rule])
    worst_ix = index("worst_first") if rule == "best_worst_mix" else None
    strength = app.patronage_strength * (1.0 - scen.integrity.control_of_power)
    bonus = strength if rule == "patronage" else 0.0
    staff_ranks = {RANKS.index(r) for r in app.entry_ranks}
    parent = [int(x) for x in u.parent]
    level = [int(x) for x in u.level]
    locality = [int(x) for x in u.locality]

    def depth_below(unit, top):
        """How many levels `unit` lies below `top` (None if not in its subtree)."""
        d = 0
        while unit != top:
            if unit < 0 or level[unit] <= level[top]:
                return None
            unit, d = parent[unit], d + 1
        return d

    def head_network(unit):
        best = None
        for q in range(p.n):
            if int(p.unit[q]) != unit or int(p.rank[q]) != 0 or holder[q] < 0:
                continue
            if best is None or int(p.sector[q]) < int(p.sector[best]):
                best = q
        return network[holder[best]] if best is not None else -2

    def in_groups(row, post, roots):
        """Is cadre `row` (at its current place) in one of the candidate groups of `post`?"""
        place = place_of[row]
        rank, sector, unit = place % 4, (place // 4) % n_sectors, place // 4 // n_sectors
        if sector != int(p.sector[post]):
            return False
        post_rank = int(p.rank[post])
        for root in roots:
            if unit == root:
                if rank == STAFF_RANK:
                    if post_rank in staff_ranks:
                        return True
                elif rank > post_rank:
                    return True
            d = depth_below(unit, root)
            if d is not None and 1 <= d <= app.max_level_gap and rank != STAFF_RANK:
                return True
        return False

    def admissible(row, post):
        if not eligible[row] or grade_of[row] <= int(p.grade[post]):
            return False
        return not (model.nonlocal_post[post] and home[row] == int(p.locality[post]))

    def key(row, post, worst, head_net):
        pos, _, score, n_ix = worst_ix if worst else best_ix
        s = score[row] + (bonus if bonus and network[row] == head_net else 0.0)
        return (-s, pos.get(row, n_ix + row))

    def rounds(lists, prio):
        """lists: {vacancy i: [(key, row)]}. The matching rule, one candidate at a time."""
        for i in lists:
            lists[i].sort()
        matched = {}
        while True:
            proposals = {}
            for i, cands in lists.items():
                if i in matched:
                    continue
                free = [row for _, row in cands if eligible[row]]
                if free:
                    proposals.setdefault(free[0], []).append(i)
            if not proposals:
                return matched
            for row, posts in proposals.items():
                winner = max(posts, key=lambda i: (prio[i], -i))
                matched[winner] = row
                eligible[row] = False

    def appoint(post, row):
        old = post_of[row]
        if old >= 0:
            holder[old] = -1
        holder[post] = row
        post_of[row] = post
        grade_of[row] = int(p.grade[post])
        place_of[row] = model.place_key(int(p.unit[post]), int(p.sector[post]), int(p.rank[post]))

    units_by_level = [[x for x in range(u.n) if level[x] == lvl] for lvl in range(u.n_levels)]
    for g in sorted({int(x) for x in p.grade}):
        vac = [q for q in range(p.n) if holder[q] < 0 and int(p.grade[q]) == g]
        if not vac:
            continue
        prio = list(rng.random(len(vac)))
        worst = [False] * len(vac)
        if rule == "best_worst_mix":
            worst = list(rng.random(len(vac)) >= app.best_share)
        head_net = [head_network(int(p.unit[q])) if bonus else -2 for q in vac]
        # 1. ready planned successors
        lists = {}
        for i, q in enumerate(vac):
            if p.key[q]:
                pool = [int(r) for r in model.pools[p.key_index[q]] if r >= 0]
                lists[i] = [(key(r, q, worst[i], head_net[i]), r) for r in pool if admissible(r, q)]
        done = rounds(lists, prio)
        for i, row in done.items():
            appoint(vac[i], row)
        if not app.allow_unplanned:
            continue
        # 2. unplanned candidates of the post's subtree (and, for a non-local post, of peer units)
        open_ = [i for i in range(len(vac)) if i not in done]
        roots = {i: [int(p.unit[vac[i]])] for i in open_}
        nl = [i for i in open_ if model.nonlocal_post[vac[i]]]
        if nl:
            draws = rng.random(len(nl) * N_PEERS)
            for j, i in enumerate(nl):
                lvl = level[int(p.unit[vac[i]])]
                for d in draws[j * N_PEERS : (j + 1) * N_PEERS]:
                    peer = units_by_level[lvl][int(d * len(units_by_level[lvl]))]
                    if locality[peer] != int(p.locality[vac[i]]):
                        roots[i].append(peer)
        lists = {}
        for i in open_:
            q = vac[i]
            ix_pos, ix_at = (worst_ix if worst[i] else best_ix)[:2]
            lists[i] = [
                (key(r, q, worst[i], head_net[i]), r)
                for r in range(c.n)
                if r in ix_pos
                and ix_at[r] == place_of[r]  # still at the place the index knows
                and in_groups(r, q, roots[i])
                and admissible(r, q)
            ]
        for i, row in rounds(lists, prio).items():
            appoint(vac[i], row)
    return holder


def _scenario(draw) -> dict:
    n_sectors = draw(st.integers(1, 2))
    sectors = ["party", "state"][:n_sectors]
    levels = ["central", "province", "district"]
    units = {"central": 1, "province": draw(st.integers(1, 3))}
    units["district"] = units["province"] * draw(st.integers(1, 3))
    posts = {
        lvl: {
            s: {
                "head": 1,
                "deputy": draw(st.integers(0, 3)),
                "member": draw(st.integers(0, 3)),
            }
            for s in sectors
        }
        for lvl in levels
    }
    staff = {lvl: draw(st.integers(0, 6)) for lvl in levels}
    rules = ["merit", "seniority", "random", "patronage", "worst_first", "best_worst_mix"]
    rule = draw(st.sampled_from(rules))
    nonlocal_posts = draw(st.sampled_from([[], ["province.party.head"], ["district.party.deputy"]]))
    return {
        "name": "exact",
        "hierarchy": {
            "preset": "custom",
            "levels": levels,
            "sectors": sectors,
            "units": units,
            "staff": staff,
            "posts": posts,
            "weak_unit_share": 0.0,
            "key_ranks": draw(st.sampled_from([["head"], ["head", "deputy"]])),
        },
        "appointment": {
            "selection": rule,
            "max_level_gap": draw(st.integers(0, 2)),
            "entry_ranks": draw(st.sampled_from([["member"], ["deputy", "member"], list(RANKS)])),
            "patronage_strength": draw(st.sampled_from([0.5, 2.0])),
            "best_share": 0.5,
        },
        "rotation": {"enabled": False, "two_term_rule": False, "nonlocal_posts": nonlocal_posts},
        "congress": {"enabled": False},
    }


@st.composite
def arranged_models(draw):
    scenario = _scenario(draw)
    seed = draw(st.integers(0, 2**20))
    model = PipelineModel(scenario, seed=seed, years=2)
    rng = np.random.default_rng(seed)
    c, p = model.cadres, model.posts
    active = np.flatnonzero(c.status == ACTIVE)
    n = c.n
    # mostly eligible, a few not; merit on a coarse scale so that ties are common
    c.t_retire[active] = model.year + 30.0
    c.post_start[active] = model.year - 5
    c.moved_year[active] = -9999
    c.grades[active] = 1
    c.ban_until[:] = np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.2])), model.year + 2, -9999)
    c.merit[:] = rng.integers(0, draw(st.sampled_from([3, 1000])), n).astype(np.float32)
    c.network[:] = rng.integers(0, 3, n)
    c.home[:] = np.where(rng.random(n) < 0.3, rng.integers(0, model.units.n, n), c.home)
    model.new_year()
    if draw(st.booleans()):
        model.selection(INDEX_RULE[scenario["appointment"]["selection"]])  # index first: stale places
        model.selection("worst_first")
    # random planning pools of lower-grade cadres; then a share of posts falls vacant
    model.pools[:] = -1
    width = model.pools.shape[1]
    for k, post in enumerate(p.key_posts):
        lower = active[c.grade[active] > p.grade[post]]
        take = rng.permutation(lower)[: rng.integers(0, width + 1)]
        model.pools[k, : len(take)] = take
    entries = model.pools[model.pools >= 0]
    c.n_planned[:] = np.bincount(entries, minlength=n)
    share = draw(st.sampled_from([0.3, 0.6, 0.9]))
    held = np.flatnonzero(p.holder >= 0)
    vacate(model, p.holder[held[rng.random(len(held)) < share]])
    return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=arranged_models())
def test_filling_equals_exhaustive_search(model):
    expected = reference_fill(model, copy.deepcopy(model.stream("filling")))
    fill_vacancies(model)
    assert model.posts.holder.tolist() == expected


def test_several_vacancies_of_one_grade_compete_for_one_group(custom, make_eligible):
    """Four deputy posts of the province fall vacant. The candidates are the holders of the
    district below: its head (99), its deputies (25, 5) and its members (50, 40, 30, 20, 10). The
    four best are the head and the three best members, however deep a first look goes."""
    scenario = custom(
        ["province", "district"],
        {"province": {"head": 1, "deputy": 4}, "district": {"head": 1, "deputy": 2, "member": 5}},
        {"district": 0},
        appointment={"entry_ranks": [], "max_level_gap": 1},
    )
    model = PipelineModel(scenario, seed=3, years=2)
    make_eligible(model)
    c, p = model.cadres, model.posts
    model.pools[:] = -1
    c.n_planned[:] = 0
    in_district = p.level == 1
    head = int(p.holder[in_district & (p.rank == 0)][0])
    deputies = p.holder[in_district & (p.rank == 1)].astype(np.int64)
    members = p.holder[in_district & (p.rank == 2)].astype(np.int64)
    c.merit[head] = 99.0
    c.merit[deputies] = [25.0, 5.0]
    c.merit[members] = [50.0, 40.0, 30.0, 20.0, 10.0]
    model.new_year()
    vacant = np.flatnonzero((p.level == 0) & (p.rank == 1))
    vacate(model, p.holder[vacant])

    fill_vacancies(model)

    assert set(p.holder[vacant].tolist()) == {head, *members[:3].tolist()}

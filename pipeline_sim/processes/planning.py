"""Planning ("quy hoach"): pools of planned successors for every key post.

At most `max_candidates` per post and `max_posts_per_cadre` per cadre, only for a higher post
(Reg. 50/2021, Reg. 377/2025). Candidates come first from the post's own subtree (its unit and the
units below, same sector); *open* planning then fills remaining places from other localities and
sectors. *Flexible* planning reviews pools every year (drop the unfit, add new ones); *rigid*
planning only at the start of a term, after the congress.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.kernels import _rank_in_runs, add_counts, best_first, group_rank, match, stable_argsort
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.operations import Selector, drop_from_pools
from pipeline_sim.world.rules import planning_eligible

NAME = "planning"
SUMMARY = "review pools (yearly if flexible, at term start if rigid): drop the unfit, add candidates"


def run(model, force: bool = False) -> None:
    plan = model.scenario.planning
    if not (force or plan.review == "flexible" or model.is_term_start):
        return
    eligible = planning_eligible(model)
    pools = model.pools
    unfit = (pools >= 0) & ~np.append(eligible, True)[pools]  # empty slots (-1) are never unfit
    drop_from_pools(model, unfit, "unfit")
    add_candidates(model, eligible, local=True)
    if plan.mode == "open":
        add_candidates(model, eligible, local=False)


def _place(model, kidx: np.ndarray, rows: np.ndarray, cause: str) -> None:
    """Put rows into free slots of the pools kidx (a pool may receive several rows)."""
    if len(kidx) == 0:
        return
    pools = model.pools
    order = stable_argsort(kidx)
    kidx, rows = kidx[order], rows[order]
    nth = _rank_in_runs(kidx)  # 0, 1, ... within each pool
    free_first = np.argsort(pools[kidx] >= 0, axis=1, kind="stable")  # free slot positions first
    slot = free_first[np.arange(len(kidx)), nth]
    assert (pools[kidx, slot] < 0).all()
    pools[kidx, slot] = rows
    add_counts(model.cadres.n_planned, rows)
    posts = model.posts.key_posts[kidx]
    model.tally.add_count("planning_additions", posts)
    model.events.log("plan_add", cause, model, rows, posts)


def add_candidates(model, eligible: np.ndarray, local: bool) -> None:
    """Fill free places in the pools: from the post's own subtree (`local`), or from anywhere.

    With structure targets on, pools that lack a group (women, young, ethnic minorities, the
    youngest of the three age groups) first take one of its candidates, in as many pools as the
    group's shortfall from its target share of the level's pool places; then the best of the rest.
    """
    c, p, scen = model.cadres, model.posts, model.scenario
    plan = scen.planning
    pools = model.pools
    free = (pools < 0).sum(axis=1)
    need = np.flatnonzero(free > 0)
    if len(need) == 0:
        return
    cap = np.zeros(c.n, np.int32)  # pools each cadre may still join
    at = np.flatnonzero(eligible)
    cap[at] = np.maximum(plan.max_posts_per_cadre - c.n_planned[at].astype(np.int32), 0)
    sel = Selector(model, cap > 0, plan.selection, "planning")
    staff_ranks = [("head", "deputy", "member").index(r) for r in scen.appointment.entry_ranks]
    posts = p.key_posts[need]
    rng = model.stream("planning")
    if local:
        owner, rows, _ = sel.local_pairs(
            posts, plan.max_level_gap, staff_ranks, plan.max_candidates + plan.max_posts_per_cadre
        )
        cause = "local"
    else:
        owner, rows = _market_pairs(model, posts, free[need], cap, sel.score, staff_ranks, rng)
        cause = "open"
    ok = sel.admissible(posts, owner, rows)
    if (pools[need] >= 0).any():  # (new pools, e.g. after a restructuring, hold no one yet)
        ok &= ~(pools[need[owner]] == rows[:, None]).any(axis=1)  # not already in that pool
    owner, rows = owner[ok], rows[ok]
    if not local or sel.may_repeat(posts):  # a pair listed twice keeps its first copy
        _, first = np.unique(owner * (c.n + 1) + rows, return_index=True)
        first.sort()
        owner, rows = owner[first], rows[first]
    if len(owner) == 0:
        return
    score = sel.scores(posts, owner, rows)
    prio = -p.grade[posts].astype(np.float64) + rng.random(len(posts)) * 0.5
    free_need = free[need].astype(np.int64)
    taken = np.zeros(len(owner), dtype=bool)
    if plan.structure_targets:
        entries = _pool_entries(model)
        for in_group, target in _target_groups(model):
            quota = _target_quota(model, entries, need, free_need, prio, in_group, target)
            if not quota.any():
                continue
            pick = np.flatnonzero(~taken & (quota[owner] > 0))
            pick = pick[in_group(posts[owner[pick]], rows[pick])]
            won = pick[match(owner[pick], rows[pick], score[pick], quota, cap, prio)]
            taken[won] = True
            add_counts(free_need, owner[won], -1)
            add_counts(cap, rows[won], -1)
    rest = np.flatnonzero(~taken)
    won = rest[match(owner[rest], rows[rest], score[rest], free_need, cap, prio)]
    taken[won] = True
    chosen = np.flatnonzero(taken)
    _place(model, need[owner[chosen]], rows[chosen], cause)


def _target_groups(model):
    """(membership test of (post, cadre row), target share) for each structure target: women,
    young (by the post's level), ethnic minorities and the youngest age group (the other two age
    groups are what remains)."""
    c, m = model.cadres, model.scenario.metrics
    young_age = np.array([m.young_age.get(lvl, 40.0) for lvl in model.levels])
    age = model.year + 0.5 - c.birth

    def women(post, row):
        return c.female[row]

    def young(post, row):
        return age[row] < young_age[model.posts.level[post]]

    def minority(post, row):
        return c.minority[row]

    def youngest_group(post, row):
        return age[row] < m.age_group_edges[0]

    return [
        (women, m.target_women),
        (young, m.target_young),
        (minority, m.target_minority),
        (youngest_group, m.target_age_groups[0]),
    ]


def _pool_entries(model):
    """The pools' filled places as (pool index, post, cadre row), with each pool's level and the
    number of places at each level."""
    p, pools = model.posts, model.pools
    level_of = p.level[p.key_posts].astype(np.int64)
    places = np.bincount(level_of, minlength=model.units.n_levels) * pools.shape[1]
    kk, ss = np.nonzero(pools >= 0)
    return kk, p.key_posts[kk], pools[kk, ss], level_of, places


def _target_quota(model, entries, need, free_need, prio, in_group, target: float) -> np.ndarray:
    """Places reserved for a group in the pools `need`, so that at each level the group's share of
    all pool places approaches `target`: one place in each of as many pools lacking the group as
    the level's shortfall, highest-priority pools first. `entries`: `_pool_entries`."""
    p = model.posts
    kk, post, row, level_of, places = entries
    n_levels = model.units.n_levels
    member = in_group(post, row)
    have = np.bincount(level_of[kk[member]], minlength=n_levels)
    shortfall = np.maximum(0, np.ceil(target * places).astype(np.int64) - have)
    has_member = np.zeros(len(p.key_posts), dtype=bool)
    has_member[kk[member]] = True
    lacking = np.flatnonzero(~has_member[need] & (free_need > 0))
    quota = np.zeros(len(need), dtype=np.int64)
    if len(lacking):
        lv = level_of[need[lacking]]
        first = group_rank(lv, prio[lacking]) < shortfall[lv]
        quota[lacking[first]] = 1
    return quota


def _market_pairs(model, posts, free, cap, score, staff_ranks, rng):
    """Open planning: for each grade, the best candidates anywhere, dealt round-robin to posts."""
    c, p, plan = model.cadres, model.posts, model.scenario.planning
    owners, rows_out = [], []
    cand_all = np.flatnonzero(cap > 0)  # ascending rows: equal scores rank by row
    cl, cg = c.level[cand_all], c.grade[cand_all]
    cr = cg % 4
    depth = model.units.depth  # steps between levels (a level may be abolished)
    for g in np.unique(p.grade[posts]):
        sel = np.flatnonzero(p.grade[posts] == g)
        level, rank = int(g) // 4, int(g) % 4
        ok = (cg > g) & (depth[cl] <= depth[level] + plan.max_level_gap)
        ok &= (cr != STAFF_RANK) | ((cl == level) & (rank in staff_ranks))
        cands = cand_all[ok]
        n_slots = int(free[sel].sum())
        if len(cands) == 0 or n_slots == 0:
            continue
        # the best first, as many as slots: enough distinct candidates to fill every slot once
        cands = cands[best_first(score[cands], n_slots)]
        # slots: round j of every post in random order; copies: k-th copy of every candidate, best first
        post_order = sel[rng.permutation(len(sel))]
        rounds = np.arange(int(free[sel].max()))
        slot_post = np.concatenate([post_order[free[post_order] > j] for j in rounds])
        copies = np.concatenate([cands[cap[cands] > k] for k in range(int(cap[cands].max()))])
        m = min(len(slot_post), len(copies))
        owners.append(slot_post[:m])
        rows_out.append(copies[:m])
    if not owners:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(owners), np.concatenate(rows_out)

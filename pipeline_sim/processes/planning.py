"""Planning ("quy hoach"): pools of planned successors for every key post.

At most `max_candidates` per post and `max_posts_per_cadre` per cadre, only for a higher post
(Reg. 50/2021, Reg. 377/2025). Candidates come first from the post's own subtree (its unit and the
units below, same sector); *open* planning then fills remaining places from other localities and
sectors. *Flexible* planning reviews pools every year (drop the unfit, add new ones); *rigid*
planning only at the start of a term, after the congress.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.kernels import group_rank, match
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.operations import CandidateIndex, drop_from_pools, local_pairs
from pipeline_sim.world.rules import planning_eligible

NAME = "planning"
SUMMARY = "review pools (yearly if flexible, at term start if rigid): drop the unfit, add candidates"


def run(model, force: bool = False) -> None:
    plan = model.scenario.planning
    if not (force or plan.review == "flexible" or model.is_term_start):
        return
    c = model.cadres
    eligible = planning_eligible(model)
    pools = model.pools
    filled = pools >= 0
    unfit = filled & ~eligible[np.where(filled, pools, 0)]
    drop_from_pools(model, unfit, "unfit")
    add_candidates(model, eligible, local=True)
    if plan.mode == "open":
        add_candidates(model, eligible, local=False)
    assert (c.n_planned[c.status == ACTIVE] <= plan.max_posts_per_cadre).all()


def _place(model, kidx: np.ndarray, rows: np.ndarray, cause: str) -> None:
    """Put rows into free slots of the pools kidx (a pool may receive several rows)."""
    if len(kidx) == 0:
        return
    pools = model.pools
    order = np.argsort(kidx, kind="stable")
    kidx, rows = kidx[order], rows[order]
    nth = group_rank(kidx, -np.arange(len(kidx), dtype=float))  # 0, 1, ... within each pool
    free_first = np.argsort(pools[kidx] >= 0, axis=1, kind="stable")  # free slot positions first
    slot = free_first[np.arange(len(kidx)), nth]
    assert (pools[kidx, slot] < 0).all()
    pools[kidx, slot] = rows
    np.add.at(model.cadres.n_planned, rows, 1)
    posts = model.posts.key_posts[kidx]
    model.tally.add_count("planning_additions", posts)
    model.events.log("plan_add", cause, model, rows, posts)


def add_candidates(model, eligible: np.ndarray, local: bool) -> None:
    c, p, scen = model.cadres, model.posts, model.scenario
    plan = scen.planning
    pools = model.pools
    free = (pools < 0).sum(axis=1)
    need = np.flatnonzero(free > 0)
    if len(need) == 0:
        return
    cap = np.where(eligible, plan.max_posts_per_cadre - c.n_planned.astype(np.int64), 0)
    cap = np.maximum(cap, 0)
    index = CandidateIndex(model, cap > 0, plan.selection)
    score = index.score
    staff_ranks = [("head", "deputy", "member").index(r) for r in scen.appointment.entry_ranks]
    posts = p.key_posts[need]
    rng = model.stream("planning")
    if local:
        owner, rows = local_pairs(
            model,
            index,
            posts,
            plan.max_level_gap,
            staff_ranks,
            plan.max_candidates + plan.max_posts_per_cadre,
        )
        ok = c.grade[rows] > p.grade[posts[owner]]
        owner, rows = owner[ok], rows[ok]
        cause = "local"
    else:
        owner, rows = _market_pairs(model, posts, free[need], cap, score, staff_ranks, rng)
        cause = "open"
    if len(owner) == 0:
        return
    fresh = ~(pools[need[owner]] == rows[:, None]).any(axis=1)  # not already in that pool
    # a pair listed twice keeps its first copy
    pair_keys = need[owner].astype(np.int64) * (c.n + 1) + rows
    _, first = np.unique(pair_keys, return_index=True)
    once = np.zeros(len(pair_keys), bool)
    once[first] = True
    owner, rows = owner[fresh & once], rows[fresh & once]
    prio = -p.grade[posts].astype(np.float64) + rng.random(len(posts)) * 0.5
    won = match(owner, rows, score[rows], free[need], cap, prio)
    _place(model, need[owner[won]], rows[won], cause)


def _market_pairs(model, posts, free, cap, score, staff_ranks, rng):
    """Open planning: for each grade, the best candidates anywhere, dealt round-robin to posts."""
    c, p, plan = model.cadres, model.posts, model.scenario.planning
    owners, rows_out = [], []
    cand_all = np.flatnonzero(cap > 0)
    cand_all = cand_all[np.argsort(-score[cand_all], kind="stable")]
    for g in np.unique(p.grade[posts]):
        sel = np.flatnonzero(p.grade[posts] == g)
        level, rank = int(g) // 4, int(g) % 4
        cl, cr = c.level[cand_all], c.grade[cand_all] % 4
        ok = (c.grade[cand_all] > g) & (cl <= level + plan.max_level_gap)
        ok &= (cr != STAFF_RANK) | ((cl == level) & (rank in staff_ranks))
        cands = cand_all[ok]
        n_slots = int(free[sel].sum())
        if len(cands) == 0 or n_slots == 0:
            continue
        # slots: round j of every post in random order; copies: k-th copy of every candidate, best first
        post_order = sel[rng.permutation(len(sel))]
        rounds = np.arange(int(free[sel].max()))
        slot_post = np.concatenate([post_order[free[post_order] > j] for j in rounds])
        take = cands[:n_slots]  # enough distinct candidates to fill every slot once
        copies = np.concatenate([take[cap[take] > k] for k in range(int(cap[take].max()))])
        m = min(len(slot_post), len(copies))
        owners.append(slot_post[:m])
        rows_out.append(copies[:m])
    if not owners:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(owners), np.concatenate(rows_out)

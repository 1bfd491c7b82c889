"""State changes shared by several phases: exits, vacating posts, appointments, vacancy filling.

Every change keeps the cadre and post records in agreement (``posts.holder[p] == i`` exactly when
``cadres.post[i] == p``) and writes its event-log rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.kernels import expand_ranges, match
from pipeline_sim.world.cadres import ACTIVE, STATUS
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.rules import appointment_eligible

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel


# ---------------------------------------------------------------------------------------------
# planning pools


def drop_from_pools(model: PipelineModel, entries: np.ndarray, cause: str) -> None:
    """Remove pool entries (a boolean mask over ``model.pools``) and log them."""
    if not entries.any():
        return
    kidx, slot = np.nonzero(entries)
    rows = model.pools[kidx, slot]
    model.pools[kidx, slot] = -1
    np.subtract.at(model.cadres.n_planned, rows, 1)
    model.tally.add_count("planning_removals", model.posts.key_posts[kidx])
    model.events.log("plan_drop", cause, model, rows, model.posts.key_posts[kidx])


def drop_cadres_from_pools(model: PipelineModel, rows: np.ndarray, cause: str) -> None:
    if len(rows) == 0:
        return
    flag = np.zeros(model.cadres.n + 1, dtype=bool)
    flag[rows] = True
    drop_from_pools(model, flag[model.pools], cause)  # pools hold -1 for empty: flag[-1] is False


# ---------------------------------------------------------------------------------------------
# vacating and exits


def vacate(model: PipelineModel, rows: np.ndarray, chain_ids: np.ndarray | None = None) -> np.ndarray:
    """Cadres in `rows` leave their posts (they stay in service in their unit's staff pool).

    A vacated post starts a new vacancy chain unless `chain_ids` continues existing ones.
    Returns the posts vacated, aligned with the rows that held one.
    """
    c, p = model.cadres, model.posts
    rows = np.asarray(rows, dtype=np.int64)
    held = c.post[rows] >= 0
    rows = rows[held]
    posts = c.post[rows].astype(np.int64)
    if len(posts) == 0:
        return posts
    p.holder[posts] = -1
    p.vacant_since[posts] = model.year
    p.vacancy_assessed[posts] = False
    p.term_start[posts] = -1
    if chain_ids is None:
        p.vacancy_chain[posts] = model.chains.open(p.level[posts], model.year)
    else:
        p.vacancy_chain[posts] = np.asarray(chain_ids)[held]
    c.post[rows] = -1
    c.grade[rows] = 4 * c.level[rows] + STAFF_RANK
    return posts


def exit_service(model: PipelineModel, rows: np.ndarray, cause: str) -> None:
    """Cadres leave service for `cause` (a status name): posts vacated, pools cleared, logged."""
    rows = np.asarray(rows, dtype=np.int64)
    rows = rows[model.cadres.status[rows] == ACTIVE]
    if len(rows) == 0:
        return
    c = model.cadres
    posts = c.post[rows].copy()
    model.events.log("exit", cause, model, rows, posts)
    model.tally.add_exits(cause, rows)
    vacate(model, rows)
    drop_cadres_from_pools(model, rows, "exit")
    c.status[rows] = STATUS[cause]


def step_down(model: PipelineModel, rows: np.ndarray, cause: str) -> None:
    """Holders leave their posts but stay in service (e.g. age rules at congress)."""
    rows = np.asarray(rows, dtype=np.int64)
    rows = rows[model.cadres.post[rows] >= 0]
    if len(rows) == 0:
        return
    model.events.log("step_down", cause, model, rows, model.cadres.post[rows].copy())
    model.tally.add_count("step_downs", model.cadres.post[rows])
    vacate(model, rows)


# ---------------------------------------------------------------------------------------------
# appointments


def appoint(model: PipelineModel, posts: np.ndarray, rows: np.ndarray, planned: np.ndarray) -> None:
    """Put cadre rows[i] into vacant post posts[i]; their old posts open as links of the chain."""
    c, p = model.cadres, model.posts
    if len(posts) == 0:
        return
    posts = np.asarray(posts, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    year = model.year
    old_post = c.post[rows].copy()
    old_grade = c.grade[rows].copy()
    chain = p.vacancy_chain[posts].copy()
    # log and tally before the records change
    is_promotion = (old_post >= 0) & (p.grade[posts] < old_grade)
    cause = np.where(planned, "planned", "unplanned")
    model.events.log(
        "appointment",
        cause,
        model,
        rows,
        posts,
        from_post=old_post,
        chain=chain,
        kind_array=np.where(is_promotion, "promotion", "appointment"),
    )
    model.tally.add_appointments(posts, rows, is_promotion)
    model.chains.extend(chain)
    # the appointee's old post continues the chain; a staff appointee closes it
    movers = old_post >= 0
    vacate(model, rows[movers], chain_ids=chain[movers])
    model.chains.close(chain[~movers], year)
    # new place
    p.holder[posts] = rows
    p.vacant_since[posts] = -1
    p.vacancy_chain[posts] = -1
    p.term_start[posts] = year
    new_unit = p.unit[posts]
    new_locality = model.units.locality[new_unit]
    c.n_localities[rows] += (new_locality != c.locality[rows]).astype(np.int16)
    c.locality[rows] = new_locality
    c.post[rows] = posts
    c.unit[rows] = new_unit
    c.sector[rows] = p.sector[posts]
    c.level[rows] = p.level[posts]
    c.grade[rows] = p.grade[posts]
    c.post_start[rows] = year
    c.moved_year[rows] = year
    c.post_skill[rows] *= model.scenario.work.post_skill_carry_share
    c.sectors_mask[rows] |= (1 << p.sector[posts].astype(np.uint8)).astype(np.uint8)
    c.grassroots[rows] |= p.level[posts] == model.units.n_levels - 1
    c.ever_key[rows] |= p.key[posts]
    # planning only for higher posts: drop pools at or below the new place
    flag = np.zeros(c.n + 1, dtype=bool)
    flag[rows] = True
    hit = flag[model.pools]
    kidx, slot = np.nonzero(hit)
    hit[kidx, slot] = p.grade[p.key_posts[kidx]] >= c.grade[model.pools[kidx, slot]]
    drop_from_pools(model, hit, "appointed")


# ---------------------------------------------------------------------------------------------
# candidates by place


class CandidateIndex:
    """Eligible cadres grouped by (unit, sector, rank), best first within each group.

    Built by filtering the model's yearly selection order, so no sorting happens here. Cadres
    whose place changed since that order was made are dropped at look-up.
    """

    def __init__(self, model: PipelineModel, eligible: np.ndarray, rule: str):
        self.model = model
        order, gid, self.score = model.selection(rule)
        keep = eligible[order]
        self.rows = order[keep]
        self.gid = gid[keep]
        # start of every place key's run: group g is rows[starts[g]:starts[g + 1]]
        self.starts = np.searchsorted(self.gid, np.arange(model.n_places + 1))

    def top(self, unit: np.ndarray, sector: np.ndarray, rank: np.ndarray, k: int):
        """For each query i, up to k best members of group (unit[i], sector[i], rank[i])."""
        q = self.model.place_key(np.asarray(unit, np.int64), sector, rank)
        lo = self.starts[q]
        owner, pos = expand_ranges(lo, np.minimum(self.starts[q + 1] - lo, k))
        rows = self.rows[pos]
        c = self.model.cadres
        current = self.model.place_key(c.unit[rows].astype(np.int64), c.sector[rows], c.grade[rows] % 4)
        fresh = current == self.gid[pos]
        return owner[fresh], rows[fresh]


def local_pairs(
    model: PipelineModel,
    index: CandidateIndex,
    posts: np.ndarray,
    max_gap: int,
    staff_ranks: list[int],
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (post i, cadre) from each post's own subtree in its own sector.

    Own unit: lower ranks (and its staff pool when the post's rank is in `staff_ranks`); units
    below, down to `max_gap` levels: holders of any rank.
    """
    p = model.posts
    unit, sector, rank = p.unit[posts], p.sector[posts], p.rank[posts]
    q_owner, q_unit, q_rank = [], [], []
    idx = np.arange(len(posts))
    for r in range(3):
        sel = rank < r
        q_owner.append(idx[sel])
        q_unit.append(unit[sel])
        q_rank.append(np.full(int(sel.sum()), r))
    if staff_ranks:
        sel = np.isin(rank, staff_ranks)
        q_owner.append(idx[sel])
        q_unit.append(unit[sel])
        q_rank.append(np.full(int(sel.sum()), STAFF_RANK))
    frontier_owner, frontier_unit = idx, unit
    for _ in range(max_gap):
        kids_owner, kids_unit = model.children_of(frontier_unit)
        frontier_owner, frontier_unit = frontier_owner[kids_owner], kids_unit
        for r in range(3):
            q_owner.append(frontier_owner)
            q_unit.append(frontier_unit)
            q_rank.append(np.full(len(frontier_unit), r))
    q_owner_a = np.concatenate(q_owner)
    q_unit_a = np.concatenate(q_unit)
    q_rank_a = np.concatenate(q_rank)
    owner, rows = index.top(q_unit_a, sector[q_owner_a], q_rank_a, k)
    return q_owner_a[owner], rows


def fill_vacancies(
    model: PipelineModel, at_year: float | None = None, min_service: float | None = None
) -> None:
    """Fill vacant posts, top grade first so that promotions cascade down as vacancy chains.

    A vacant post takes a ready planned successor if one is available; otherwise (if the policy
    allows) the best eligible unplanned cadre of its own subtree and sector; otherwise it stays
    vacant. A key-post vacancy counts as a succession gap the first time it is to be filled
    without a ready planned successor.
    """
    c, p, scen = model.cadres, model.posts, model.scenario
    app = scen.appointment
    eligible = appointment_eligible(model, at_year, min_service=min_service)
    index = CandidateIndex(model, eligible, app.selection)
    score = index.score
    staff_ranks = [("head", "deputy", "member").index(r) for r in app.entry_ranks]
    rng = model.stream("filling")
    N = model.pools.shape[1]
    for g in np.unique(p.grade):
        vac = np.flatnonzero((p.holder < 0) & (p.grade == g))
        if len(vac) == 0:
            continue
        prio = rng.random(len(vac))
        filled = np.zeros(len(vac), dtype=bool)
        # 1. ready planned successors
        is_key = p.key[vac]
        kv = np.flatnonzero(is_key)
        if len(kv):
            cand = model.pools[p.key_index[vac[kv]]]
            owner = np.repeat(kv, N)
            rows = cand.ravel()
            ok = rows >= 0
            owner, rows = owner[ok], rows[ok]
            ok = eligible[rows] & (c.grade[rows] > g)
            owner, rows = owner[ok], rows[ok]
            won = match(owner, rows, score[rows], 1, 1, prio)
            if len(won):
                appoint(model, vac[owner[won]], rows[won], np.ones(len(won), bool))
                filled[owner[won]] = True
                eligible[rows[won]] = False
            first = is_key & ~p.vacancy_assessed[vac]
            model.tally.add_vacancies(vac[first], gap=~filled[first])
            p.vacancy_assessed[vac[first]] = True
        # 2. unplanned eligible cadres of the post's own subtree
        if not app.allow_unplanned:
            continue
        open_ = np.flatnonzero(~filled)
        for k in (4, 32):
            if len(open_) == 0:
                break
            owner, rows = local_pairs(model, index, vac[open_], app.max_level_gap, staff_ranks, k)
            ok = eligible[rows] & (c.grade[rows] > g)
            owner, rows = open_[owner[ok]], rows[ok]
            won = match(owner, rows, score[rows], 1, 1, prio)
            if len(won):
                appoint(model, vac[owner[won]], rows[won], np.zeros(len(won), bool))
                filled[owner[won]] = True
                eligible[rows[won]] = False
            open_ = np.flatnonzero(~filled)

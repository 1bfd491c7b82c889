"""State changes shared by several phases: exits, vacating posts, appointments, vacancy filling.

Every change keeps the cadre and post records in agreement (``posts.holder[p] == i`` exactly when
``cadres.post[i] == p``) and writes its event-log rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.kernels import POPCOUNT, expand_ranges, match
from pipeline_sim.world.cadres import ACTIVE, STATUS
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.rules import INDEX_RULE, appointment_eligible, pair_scores

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
    c.pending_removal[rows] = False  # out of the post: nothing left to remove them from
    c.detected[rows] = False
    c.place[rows] = model.place_key(c.unit[rows].astype(np.int64), c.sector[rows], STAFF_RANK)
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
    c.exit_year[rows] = model.year


def dismiss(model: PipelineModel, rows: np.ndarray) -> None:
    """Dismiss holders (they leave service); their posts open at once."""
    c = model.cadres
    rows = np.asarray(rows, dtype=np.int64)
    rows = rows[(c.status[rows] == ACTIVE) & (c.post[rows] >= 0)]
    c.violation[rows] = False
    c.detected[rows] = False
    c.pending_removal[rows] = False
    exit_service(model, rows, "dismissed")


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


def experience_breadth(model: PipelineModel, rows: np.ndarray) -> np.ndarray:
    """Varied experience: extra sectors and localities served, plus grassroots service for a
    cadre now above the lowest level."""
    c = model.cadres
    bottom = model.units.n_levels - 1
    return (
        np.maximum(POPCOUNT[c.sectors_mask[rows]] - 1, 0)
        + np.maximum(c.n_localities[rows] - 1, 0)
        + (c.grassroots[rows] & (c.level[rows] < bottom))
    ).astype(np.float32)


def _seat(model: PipelineModel, posts: np.ndarray, rows: np.ndarray) -> None:
    """Record cadre rows[i] as the holder of posts[i] (the posts must be theirs to take)."""
    c, p = model.cadres, model.posts
    year = model.year
    p.holder[posts] = rows
    p.vacant_since[posts] = -1
    p.vacancy_chain[posts] = -1
    # a holder seated at the term boundary (congress moves and elections) serves from the new term
    p.term_start[posts] = year + 1 if model.at_term_boundary else year
    new_unit = p.unit[posts]
    new_locality = model.units.locality[new_unit]
    c.n_localities[rows] += (new_locality != c.locality[rows]).astype(np.int16)
    c.locality[rows] = new_locality
    c.post[rows] = posts
    c.unit[rows] = new_unit
    c.sector[rows] = p.sector[posts]
    c.level[rows] = p.level[posts]
    c.grade[rows] = p.grade[posts]
    c.place[rows] = model.place_key(new_unit.astype(np.int64), p.sector[posts], p.rank[posts])
    c.post_start[rows] = year
    c.moved_year[rows] = year
    c.post_skill[rows] *= model.scenario.work.post_skill_carry_share
    c.sectors_mask[rows] |= (1 << p.sector[posts].astype(np.uint8)).astype(np.uint8)
    c.grassroots[rows] |= p.level[posts] == model.units.n_levels - 1
    c.ever_key[rows] |= p.key[posts]
    c.breadth[rows] = experience_breadth(model, rows)
    # planning only for higher posts: drop pools at or below the new place
    planned = rows[c.n_planned[rows] > 0]
    if len(planned):
        flag = np.zeros(c.n + 1, dtype=bool)  # the last entry answers for empty slots (-1)
        flag[planned] = True
        hit = flag[model.pools]
        kidx, slot = np.nonzero(hit)
        hit[kidx, slot] = p.grade[p.key_posts[kidx]] >= c.grade[model.pools[kidx, slot]]
        drop_from_pools(model, hit, "appointed")


def appoint(
    model: PipelineModel,
    posts: np.ndarray,
    rows: np.ndarray,
    planned: np.ndarray,
    kind: str | None = None,
    cause: str | None = None,
) -> None:
    """Put cadre rows[i] into vacant post posts[i]; their old posts open as links of the chain.

    By default this is an appointment (a promotion when a holder moves to a higher grade), caused by
    a planned or unplanned selection; `kind` and `cause` relabel it (e.g. a rotation into a
    vacancy), in which case it is not counted as an appointment.
    """
    c, p = model.cadres, model.posts
    if len(posts) == 0:
        return
    posts = np.asarray(posts, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    assert (p.holder[posts] < 0).all(), "appointment to a post that is not vacant"
    old_post = c.post[rows].copy()
    chain = p.vacancy_chain[posts].copy()
    # log and tally before the records change
    if kind is None:
        is_promotion = (old_post >= 0) & (p.grade[posts] < c.grade[rows])
        model.events.log(
            "appointment",
            np.where(planned, "planned", "unplanned"),
            model,
            rows,
            posts,
            from_post=old_post,
            chain=chain,
            kind_array=np.where(is_promotion, "promotion", "appointment"),
        )
        model.tally.add_appointments(posts, rows, is_promotion)
    else:
        model.events.log(kind, cause, model, rows, posts, from_post=old_post, chain=chain)
        # a key vacancy filled by a move is assessed now: a gap unless the cadre was planned for it
        first = p.key[posts] & ~p.vacancy_assessed[posts]
        if first.any():
            planned_for = (model.pools[p.key_index[posts[first]]] == rows[first][:, None]).any(axis=1)
            model.tally.add_vacancies(posts[first], gap=~planned_for)
            p.vacancy_assessed[posts[first]] = True
    model.chains.extend(chain)
    # the appointee's old post continues the chain; a staff appointee closes it
    movers = old_post >= 0
    vacate(model, rows[movers], chain_ids=chain[movers])
    model.chains.close(chain[~movers], model.year)
    _seat(model, posts, rows)


def swap(model: PipelineModel, rows_a: np.ndarray, rows_b: np.ndarray, kind: str, cause: str) -> None:
    """Holders rows_a[i] and rows_b[i] exchange posts (no post is left vacant)."""
    c = model.cadres
    rows_a = np.asarray(rows_a, dtype=np.int64)
    rows_b = np.asarray(rows_b, dtype=np.int64)
    if len(rows_a) == 0:
        return
    posts_a, posts_b = c.post[rows_a].astype(np.int64), c.post[rows_b].astype(np.int64)
    assert (posts_a >= 0).all() and (posts_b >= 0).all(), "swap of a cadre without a post"
    model.events.log(kind, cause, model, rows_a, posts_b, from_post=posts_a)
    model.events.log(kind, cause, model, rows_b, posts_a, from_post=posts_b)
    _seat(model, np.concatenate([posts_b, posts_a]), np.concatenate([rows_a, rows_b]))


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
        self.starts = np.r_[0, np.cumsum(np.bincount(self.gid, minlength=model.n_places))]

    def top(self, unit: np.ndarray, sector: np.ndarray, rank: np.ndarray, k: int):
        """For each query i, up to k best members of group (unit[i], sector[i], rank[i]).

        Returns (query index, cadre row) pairs and, per query, whether the group had more than k
        members (so that a deeper look could find more).
        """
        q = self.model.place_key(np.asarray(unit, np.int64), sector, rank)
        lo = self.starts[q]
        size = self.starts[q + 1] - lo
        owner, pos = expand_ranges(lo, np.minimum(size, k))
        rows = self.rows[pos]
        fresh = self.model.cadres.place[rows] == self.gid[pos]
        return owner[fresh], rows[fresh], size > k


def local_pairs(
    model: PipelineModel,
    index: CandidateIndex,
    posts: np.ndarray,
    max_gap: int,
    staff_ranks: list[int],
    k: int,
    units: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (post i, cadre) from each post's own subtree in its own sector.

    Own unit: lower ranks (and its staff pool when the post's rank is in `staff_ranks`); units
    below, down to `max_gap` levels: holders of any rank. `units` replaces each post's own unit
    (to look in another unit's subtree for it). Also returns, per post, whether some group was cut
    at k (a deeper look could find more candidates).
    """
    p = model.posts
    unit = p.unit[posts] if units is None else units
    sector, rank = p.sector[posts], p.rank[posts]
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
    owner, rows, cut = index.top(q_unit_a, sector[q_owner_a], q_rank_a, k)
    more = np.zeros(len(posts), dtype=bool)
    more[q_owner_a[cut]] = True
    return q_owner_a[owner], rows, more


def peer_units(model: PipelineModel, posts: np.ndarray, n_peers: int, stream: str):
    """(post index, unit): `n_peers` random units at each post's level in other localities."""
    u = model.units
    levels = u.level[model.posts.unit[posts]]
    rng = model.stream(stream)
    owner = np.repeat(np.arange(len(posts)), n_peers)
    by_level = [np.flatnonzero(u.level == lvl) for lvl in range(u.n_levels)]
    sizes = np.array([len(b) for b in by_level])
    pick = (rng.random(len(owner)) * sizes[levels[owner]]).astype(np.int64)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    peers = np.concatenate(by_level)[starts[levels[owner]] + pick]
    other = u.locality[peers] != model.posts.locality[posts[owner]]
    return owner[other], peers[other]


N_PEERS = 4  # other-locality units searched for a post that must be held by a non-local


class Selector:
    """Candidates for a set of posts under a selection rule: pairs, admissibility and scores."""

    def __init__(self, model: PipelineModel, eligible: np.ndarray, rule: str, stream: str):
        self.model, self.rule, self.stream = model, rule, stream
        self.eligible = eligible
        self.index = CandidateIndex(model, eligible, INDEX_RULE[rule])
        # the worst candidates too, for rules that sometimes pick them
        self.worst = CandidateIndex(model, eligible, "worst_first") if rule == "best_worst_mix" else None
        # connected candidates may sit below the best few: look deeper
        self.depth = 4 if rule == "patronage" else 1
        self.score = self.index.score

    def local_pairs(self, posts: np.ndarray, max_gap: int, staff_ranks: list[int], k: int):
        """(post index, cadre) pairs from each post's own subtree and sector, and per post whether
        a deeper look could find more (see local_pairs).

        A post that must be held by a non-local looks instead in the subtrees of a few random
        units of its level in other localities (its own subtree is all local).
        """
        owner, rows, more = local_pairs(self.model, self.index, posts, max_gap, staff_ranks, k * self.depth)
        nonlocal_post = self.model.nonlocal_post[posts]
        if nonlocal_post.any():
            which = np.flatnonzero(nonlocal_post)
            o_peer, peers = peer_units(self.model, posts[which], N_PEERS, self.stream)
            o2, r2, m2 = local_pairs(
                self.model, self.index, posts[which[o_peer]], max_gap, staff_ranks, k, units=peers
            )
            owner = np.concatenate([owner, which[o_peer[o2]]])
            rows = np.concatenate([rows, r2])
            more[which[o_peer[m2]]] = True
        if self.worst is not None:
            o2, r2, m2 = local_pairs(self.model, self.worst, posts, max_gap, staff_ranks, k)
            more |= m2
            key = np.concatenate([owner, o2]) * (self.model.cadres.n + 1) + np.concatenate([rows, r2])
            _, first = np.unique(key, return_index=True)
            owner, rows = np.concatenate([owner, o2])[first], np.concatenate([rows, r2])[first]
        return owner, rows, more

    def admissible(self, posts: np.ndarray, owner: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Eligible, from a lower place, and non-local where the post requires it."""
        c, p = self.model.cadres, self.model.posts
        target = posts[owner]
        ok = self.eligible[rows] & (c.grade[rows] > p.grade[target])
        nonlocal_post = self.model.nonlocal_post[target]
        if nonlocal_post.any():
            ok &= ~nonlocal_post | (c.home[rows] != p.locality[target])
        if self.model.at_term_boundary:  # elections: the bodies' first-time age limits
            ok &= self.model.bodies.admissible(self.model, target, rows, self.model.year + 1)
        return ok

    def scores(self, posts: np.ndarray, owner: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return pair_scores(self.model, self.rule, posts, owner, rows, self.score, self.stream)


def fill_vacancies(
    model: PipelineModel, at_year: float | None = None, min_service: float | None = None
) -> None:
    """Fill vacant posts, top grade first so that promotions cascade down as vacancy chains.

    A vacant post takes a ready planned successor if one is available; otherwise (if the policy
    allows) the best eligible unplanned cadre of its own subtree and sector; otherwise it stays
    vacant. A key-post vacancy counts as a succession gap the first time it is to be filled
    without a ready planned successor.
    """
    p, scen = model.posts, model.scenario
    app = scen.appointment
    eligible = appointment_eligible(model, at_year, min_service=min_service)
    sel = Selector(model, eligible, app.selection, "filling")
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
            owner = np.repeat(kv, N)
            rows = model.pools[p.key_index[vac[kv]]].ravel()
            owner, rows = owner[rows >= 0], rows[rows >= 0]
            ok = sel.admissible(vac, owner, rows)
            owner, rows = owner[ok], rows[ok]
            won = match(owner, rows, sel.scores(vac, owner, rows), 1, 1, prio)
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
        for k in (2, 32, None):
            if len(open_) == 0:
                break
            # the best two of every candidate group first; deeper only where that was not enough
            depth = k if k is not None else model.cadres.n
            owner, rows, more = sel.local_pairs(vac[open_], app.max_level_gap, staff_ranks, depth)
            more_of_post = np.zeros(len(vac), dtype=bool)
            more_of_post[open_[more]] = True
            owner = open_[owner]
            ok = sel.admissible(vac, owner, rows)
            owner, rows = owner[ok], rows[ok]
            won = match(owner, rows, sel.scores(vac, owner, rows), 1, 1, prio)
            if len(won):
                appoint(model, vac[owner[won]], rows[won], np.zeros(len(won), bool))
                filled[owner[won]] = True
                eligible[rows[won]] = False
            open_ = np.flatnonzero(~filled & more_of_post)

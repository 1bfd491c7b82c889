"""State changes shared by several phases: exits, vacating posts, appointments, vacancy filling.

Every change keeps the cadre and post records in agreement (``posts.holder[p] == i`` exactly when
``cadres.post[i] == p``) and writes its event-log rows.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.kernels import POPCOUNT, add_counts, expand_ranges, lex_order, match_lazy, stable_argsort
from pipeline_sim.world.cadres import ACTIVE, STATUS
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.rules import (
    INDEX_RULE,
    appointment_eligible,
    pair_scores,
    retirement_dates,
    unit_head_network,
)

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel


# ---------------------------------------------------------------------------------------------
# planning pools


def drop_from_pools(model: PipelineModel, entries: np.ndarray, cause: str) -> None:
    """Remove pool entries (a boolean mask over ``model.pools``) and log them."""
    flat = np.flatnonzero(entries)
    if len(flat):
        _drop_entries(model, *np.divmod(flat, model.pools.shape[1]), cause)


def _drop_entries(model: PipelineModel, kidx: np.ndarray, slot: np.ndarray, cause: str) -> None:
    """Remove the pool entries (kidx[i], slot[i]), in that (row-major) order, and log them."""
    rows = model.pools[kidx, slot]
    model.pools[kidx, slot] = -1
    add_counts(model.cadres.n_planned, rows, -1)
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
    if p.quota is not None:  # a restructuring left some post kinds above their quota
        from pipeline_sim.world.restructuring import close_vacancies_above_quota

        close_vacancies_above_quota(model, posts)
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


def competence_by_grade(model: PipelineModel) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of the latent competence of the holders of each grade's posts (once a year; a
    grade with fewer than two holders takes the entrants' distribution)."""
    cache = model.year_cache.setdefault("competence_by_grade", {})
    if "stats" not in cache:
        c, p, rec = model.cadres, model.posts, model.scenario.recruitment
        held = np.flatnonzero(p.holder >= 0)
        g = p.grade[held].astype(np.int64)
        x = c.competence[p.holder[held]].astype(np.float64)
        size = int(p.grade.max()) + 1
        n = np.bincount(g, minlength=size)
        s1 = np.bincount(g, weights=x, minlength=size)
        s2 = np.bincount(g, weights=x * x, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n
            sd = np.sqrt(np.maximum(s2 / n - mean**2, 0.0) * n / np.maximum(n - 1, 1))
        few = n < 2
        mean[few], sd[few] = rec.competence_mean, rec.competence_sd
        cache["stats"] = (mean, sd)
    return cache["stats"]


def carry_competence(model: PipelineModel, posts: np.ndarray, rows: np.ndarray) -> None:
    """Competence of cadres moving into a higher post (appointment.competence_carry = k).

    c' = m + k (c - m) + sqrt(1 - k^2) s z, with m and s the mean and SD of competence among the
    holders of the new post's grade and z standard normal: k = 1 keeps all of it (the cadre is
    as competent in the higher post as before), k = 0 draws it anew from the holders of that
    grade, independent of the competence shown below (the Peter principle; Pluchino, Rapisarda
    & Garofalo 2010). Moves to an equal or lower post keep their competence.
    """
    k = model.scenario.appointment.competence_carry
    if k >= 1.0 or len(rows) == 0:
        return
    c, p = model.cadres, model.posts
    up = c.grade[rows] > p.grade[posts]
    if not up.any():
        return
    rows, posts = rows[up], posts[up]
    mean, sd = competence_by_grade(model)
    m, s = mean[p.grade[posts]], sd[p.grade[posts]]
    z = model.stream("competence").standard_normal(len(rows))
    new = m + k * (c.competence[rows] - m) + np.sqrt(1.0 - k * k) * s * z
    c.competence[rows] = new.astype(np.float32)


def _seat(model: PipelineModel, posts: np.ndarray, rows: np.ndarray, carry: bool = True) -> None:
    """Record cadre rows[i] as the holder of posts[i] (the posts must be theirs to take).

    With `carry`, a cadre moving to a higher post takes competence by appointment.competence_carry
    (not for a return from a rotation to the post held before)."""
    c, p = model.cadres, model.posts
    year = model.year
    if carry:
        carry_competence(model, posts, rows)
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
        kidx, slot = np.divmod(np.flatnonzero(flag[model.pools]), model.pools.shape[1])
        low = p.grade[p.key_posts[kidx]] >= c.grade[model.pools[kidx, slot]]
        if low.any():
            _drop_entries(model, kidx[low], slot[low], "appointed")


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
    a planned or unplanned selection (or `cause`, e.g. "outside"); `kind` relabels it (e.g. a
    rotation into a vacancy), in which case it is not counted as an appointment.
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
            np.where(planned, "planned", "unplanned") if cause is None else cause,
            model,
            rows,
            posts,
            from_post=old_post,
            chain=chain,
            kind_array=np.where(is_promotion, "promotion", "appointment"),
        )
        model.tally.add_appointments(posts, rows, is_promotion)
        # a cadre appointed during a rotation stays where the appointment put them: no return
        c.rotation_home[rows] = -1
    else:
        model.events.log(kind, cause, model, rows, posts, from_post=old_post, chain=chain)
        # a key vacancy filled by a move is assessed now, by the rule of the filling phase: a gap
        # unless the cadre is a ready planned successor for it (in its pool, from a lower place and
        # meeting every appointment condition)
        first = p.key[posts] & ~p.vacancy_assessed[posts]
        if first.any():
            fp, fr = posts[first], rows[first]
            ready = (model.pools[p.key_index[fp]] == fr[:, None]).any(axis=1) & (c.grade[fr] > p.grade[fp])
            if ready.any():
                ready[ready] = appointment_eligible(model)[fr[ready]]
            model.tally.add_vacancies(fp, gap=~ready)
            p.vacancy_assessed[fp] = True
    model.chains.extend(chain)
    # the appointee's old post continues the chain; a staff appointee closes it
    movers = old_post >= 0
    vacate(model, rows[movers], chain_ids=chain[movers])
    model.chains.close(chain[~movers], model.year)
    _seat(model, posts, rows, carry=cause not in ("return", "outside"))


def swap(
    model: PipelineModel,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    kind: str,
    cause: str,
    cause_b: str | None = None,
) -> None:
    """Holders rows_a[i] and rows_b[i] exchange posts (no post is left vacant); rows_b's moves are
    logged with `cause_b` (default: the same cause)."""
    c = model.cadres
    rows_a = np.asarray(rows_a, dtype=np.int64)
    rows_b = np.asarray(rows_b, dtype=np.int64)
    if len(rows_a) == 0:
        return
    posts_a, posts_b = c.post[rows_a].astype(np.int64), c.post[rows_b].astype(np.int64)
    assert (posts_a >= 0).all() and (posts_b >= 0).all(), "swap of a cadre without a post"
    model.events.log(kind, cause, model, rows_a, posts_b, from_post=posts_a)
    model.events.log(kind, cause if cause_b is None else cause_b, model, rows_b, posts_a, from_post=posts_b)
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
        self._position: np.ndarray | None = None

    def top(self, unit: np.ndarray, sector: np.ndarray, rank: np.ndarray, k: int):
        """For each query i, up to k best members of group (unit[i], sector[i], rank[i]).

        Returns (query index, cadre row) pairs and, per query, whether the group had more than k
        members (so that a deeper look could find more).
        """
        return self.top_of_places(self.model.place_key(np.asarray(unit, np.int64), sector, rank), k)

    def top_of_places(self, q: np.ndarray, k: int):
        """As `top`, for groups given by their place keys."""
        lo = self.starts[q]
        size = self.starts[q + 1] - lo
        owner, pos = expand_ranges(lo, np.minimum(size, k))
        rows = self.rows[pos]
        fresh = self.model.cadres.place[rows] == self.gid[pos]
        return owner[fresh], rows[fresh], size > k

    def take(self, q: np.ndarray, k: np.ndarray):
        """For each place key q[i], the first k[i] members of its group (those still in that place).

        Returns (query index, cadre row, position in the index) of every member taken and, per
        query, the position of the last member taken where the group is longer (else -1): every
        member left out comes after it in the index, so it scores no higher.
        """
        lo = self.starts[q]
        size = self.starts[q + 1] - lo
        k = np.minimum(size, k)
        owner, pos = expand_ranges(lo, k)
        rows = self.rows[pos]
        fresh = self.model.cadres.place[rows] == self.gid[pos]
        last = np.where(size > k, lo + k - 1, -1)
        return owner[fresh], rows[fresh], pos[fresh], last

    def position(self, rows: np.ndarray) -> np.ndarray:
        """Position of each row in the index; rows not in it come after all that are."""
        if self._position is None:
            self._position = len(self.rows) + np.arange(self.model.cadres.n, dtype=np.int64)
            self._position[self.rows] = np.arange(len(self.rows))
        return self._position[rows]


def local_queries(
    model: PipelineModel,
    posts: np.ndarray,
    max_gap: int,
    staff_ranks: list[int],
    units: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate groups of each post: (post index, place key) pairs.

    Own unit: lower ranks (and its staff pool when the post's rank is in `staff_ranks`); units
    below, down to `max_gap` levels: holders of any rank; all in the post's own sector. `units`
    replaces each post's own unit (to look in another unit's subtree for it).
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
    q_unit_a = np.concatenate(q_unit).astype(np.int64)
    q_rank_a = np.concatenate(q_rank)
    return q_owner_a, model.place_key(q_unit_a, sector[q_owner_a], q_rank_a)


def local_pairs(
    model: PipelineModel,
    index: CandidateIndex,
    posts: np.ndarray,
    max_gap: int,
    staff_ranks: list[int],
    k: int,
    units: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (post i, cadre) from each post's own subtree in its own sector (up to k
    best of every group; see local_queries). Also returns, per post, whether some group was cut
    at k (a deeper look could find more candidates).
    """
    q_owner, q_key = local_queries(model, posts, max_gap, staff_ranks, units)
    owner, rows, cut = index.top_of_places(q_key, k)
    more = np.zeros(len(posts), dtype=bool)
    more[q_owner[cut]] = True
    return q_owner[owner], rows, more


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


def admissible_pairs(
    model: PipelineModel, eligible: np.ndarray, target: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Pairs (post, cadre row) allowed: the cadre is eligible, comes from a lower place, is
    non-local where the post requires it and, at a congress, meets the first-election age of the
    post's bodies."""
    c, p = model.cadres, model.posts
    ok = eligible[rows] & (c.grade[rows] > p.grade[target])
    nonlocal_post = model.nonlocal_post[target]
    if nonlocal_post.any():
        ok &= ~nonlocal_post | (c.home[rows] != p.locality[target])
    if model.at_term_boundary:
        ok &= model.bodies.admissible(model, target, rows, model.year + 1)
    return ok


class Selector:
    """Candidates for a set of posts under a selection rule: pairs, admissibility and scores."""

    def __init__(self, model: PipelineModel, eligible: np.ndarray, rule: str, stream: str):
        self.model, self.rule, self.stream = model, rule, stream
        self.eligible = eligible
        # the year's selection orders now (the indexes below are built from them when first used:
        # open planning's candidates from anywhere need only the scores)
        self.score = model.selection(INDEX_RULE[rule])[2]
        self._mixed = rule == "best_worst_mix"
        if self._mixed:
            model.selection("worst_first")
        # connected candidates may sit below the best few: look deeper
        self.depth = 4 if rule == "patronage" else 1

    @functools.cached_property
    def index(self) -> CandidateIndex:
        return CandidateIndex(self.model, self.eligible, INDEX_RULE[self.rule])

    @functools.cached_property
    def worst(self) -> CandidateIndex | None:
        """The worst candidates too, for rules that sometimes pick them."""
        return CandidateIndex(self.model, self.eligible, "worst_first") if self._mixed else None

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

    def may_repeat(self, posts: np.ndarray) -> bool:
        """Whether `local_pairs` of these posts can list a pair twice: only through the peer
        units of posts that must be held by non-locals (a post's own groups are distinct places,
        each cadre is in one place, and the union with the worst-first pairs drops repeats)."""
        return not self._mixed and bool(self.model.nonlocal_post[posts].any())

    def admissible(self, posts: np.ndarray, owner: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return admissible_pairs(self.model, self.eligible, posts[owner], rows)

    def scores(self, posts: np.ndarray, owner: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return pair_scores(self.model, self.rule, posts, owner, rows, self.score, self.stream)


class _Candidates:
    """Candidates for the vacancies of one grade under the appointment rule, best first.

    Every candidate pair gets a key in the rule's order: a score (the index score of the cadre,
    plus the patronage bonus for a cadre in the network of the head of the post's unit) and a tie
    key (the cadre's position in the index), lower first among equal scores. Under
    'best_worst_mix' a post that picks the worst looks in the index sorted worst first.
    """

    def __init__(self, model: PipelineModel, eligible: np.ndarray, rule: str):
        self.model, self.eligible = model, eligible
        self.best = CandidateIndex(model, eligible, INDEX_RULE[rule])
        self.worst = CandidateIndex(model, eligible, "worst_first") if rule == "best_worst_mix" else None
        app = model.scenario.appointment
        strength = app.patronage_strength * (1.0 - model.scenario.integrity.control_of_power)
        self.bonus = strength if rule == "patronage" else 0.0

    def for_grade(self, vac: np.ndarray, rng: np.random.Generator) -> None:
        """Set the vacancies of one grade: which pick the worst, and their units' head networks."""
        self.vac = vac
        n = len(vac)
        if self.worst is not None:
            self.picks_worst = rng.random(n) >= self.model.scenario.appointment.best_share
        else:
            self.picks_worst = np.zeros(n, dtype=bool)
        self.head_net = unit_head_network(self.model)[self.model.posts.unit[vac]] if self.bonus else None

    def admissible(self, owner: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return admissible_pairs(self.model, self.eligible, self.vac[owner], rows)

    def keys(self, owner: np.ndarray, rows: np.ndarray, pos: np.ndarray | None = None):
        """(score, tie key) of candidate rows[i] for vacancy owner[i]."""
        worst = self.picks_worst[owner]
        score = np.where(worst, self._index_score(self.worst, rows), self.best.score[rows]).astype(np.float64)
        if self.bonus:
            score = score + self.bonus * (self.model.cadres.network[rows] == self.head_net[owner])
        if pos is None:
            pos = np.where(worst, self._index_position(self.worst, rows), self.best.position(rows))
        return score, pos

    @staticmethod
    def _index_score(index: CandidateIndex | None, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows)) if index is None else index.score[rows]

    @staticmethod
    def _index_position(index: CandidateIndex | None, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows), dtype=np.int64) if index is None else index.position(rows)

    def planned(self, kv: np.ndarray):
        """fetch() for match_lazy over the planning pools of the key vacancies vac[kv] (complete)."""
        pools = self.model.pools
        N = pools.shape[1]
        owner = np.repeat(kv, N)
        rows = pools[self.model.posts.key_index[self.vac[kv]]].ravel().astype(np.int64)
        owner, rows = owner[rows >= 0], rows[rows >= 0]
        ok = self.admissible(owner, rows)
        owner, rows = owner[ok], rows[ok]
        score, tie = self.keys(owner, rows)

        def fetch(a: np.ndarray, depth: np.ndarray):
            want = np.zeros(len(self.vac), dtype=bool)
            want[a] = True
            sel = want[owner]
            none = np.full(len(a), -np.inf)
            return owner[sel], rows[sel], score[sel], tie[sel], none, np.zeros(len(a))

        return fetch

    def unplanned(self, open_: np.ndarray, max_gap: int, staff_ranks: list[int], stream: str):
        """fetch() for match_lazy over the subtrees of the vacancies vac[open_] (a = index into open_).

        A post that must be held by a non-local also looks in the subtrees of a few random units
        of its level in other localities (drawn once here).
        """
        model = self.model
        posts = self.vac[open_]
        q_owner, q_key = local_queries(model, posts, max_gap, staff_ranks)
        nonlocal_post = model.nonlocal_post[posts]
        if nonlocal_post.any():
            which = np.flatnonzero(nonlocal_post)
            o_peer, peers = peer_units(model, posts[which], N_PEERS, stream)
            o2, k2 = local_queries(model, posts[which[o_peer]], max_gap, staff_ranks, units=peers)
            q_owner = np.concatenate([q_owner, which[o_peer[o2]]])
            q_key = np.concatenate([q_key, k2])
            both = np.unique(q_owner * model.n_places + q_key)  # a peer drawn twice is one group
            q_owner, q_key = both // model.n_places, both % model.n_places
        order = stable_argsort(q_owner)
        q_owner, q_key = q_owner[order], q_key[order]
        q_count = np.bincount(q_owner, minlength=len(open_))
        q_start = np.r_[0, np.cumsum(q_count)[:-1]]
        worst_q = self.picks_worst[open_][q_owner]

        def fetch(a: np.ndarray, depth: np.ndarray):
            qa, qi = expand_ranges(q_start[a], q_count[a])  # qa indexes a
            parts = []
            for index, use in ((self.best, ~worst_q[qi]), (self.worst, worst_q[qi])):
                if index is None or not use.any():
                    continue
                qa_i, qi_i = qa[use], qi[use]
                o, rows, pos, last = index.take(q_key[qi_i], depth[qa_i])
                parts.append((a[qa_i[o]], rows, pos, qa_i[last >= 0], index, last[last >= 0]))
            owner = np.concatenate([x[0] for x in parts]) if parts else np.zeros(0, np.int64)
            rows = np.concatenate([x[1] for x in parts]) if parts else np.zeros(0, np.int64)
            pos = np.concatenate([x[2] for x in parts]) if parts else np.zeros(0, np.int64)
            ok = self.admissible(open_[owner], rows)
            owner, rows, pos = owner[ok], rows[ok], pos[ok]
            score, tie = self.keys(open_[owner], rows, pos)
            # bound on what was left out: the last member taken from every cut group, plus any bonus
            b_owner = np.concatenate([x[3] for x in parts]) if parts else np.zeros(0, np.int64)
            b_score = (
                np.concatenate([x[4].score[x[4].rows[x[5]]] for x in parts]) if parts else np.zeros(0)
            ).astype(np.float64) + self.bonus
            b_tie = np.concatenate([x[5] for x in parts]) if parts else np.zeros(0, np.int64)
            bound_s = np.full(len(a), -np.inf)
            bound_t = np.zeros(len(a))
            if len(b_owner):
                first = lex_order((b_tie, -b_score, b_owner))
                bo = b_owner[first]
                lead = first[np.r_[True, bo[1:] != bo[:-1]]]
                bound_s[b_owner[lead]] = b_score[lead]
                bound_t[b_owner[lead]] = b_tie[lead]
            return owner, rows, score, tie, bound_s, bound_t

        return fetch


def holder_ages_by_grade(model: PipelineModel) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of the ages of the holders of each grade's posts (once a year; a grade with
    fewer than two holders takes those of every holder)."""
    cache = model.year_cache.setdefault("ages_by_grade", {})
    if "stats" not in cache:
        c, p = model.cadres, model.posts
        held = np.flatnonzero(p.holder >= 0)
        g = p.grade[held].astype(np.int64)
        age = model.year + 0.5 - c.birth[p.holder[held]]
        size = int(p.grade.max()) + 1
        n = np.bincount(g, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(g, weights=age, minlength=size) / n
            var = np.bincount(g, weights=age * age, minlength=size) / n - mean**2
        sd = np.sqrt(np.maximum(var, 0.0))
        few = n < 2
        mean[few] = age.mean() if len(age) else model.scenario.recruitment.entry_age_mean
        sd[few] = age.std() if len(age) else model.scenario.recruitment.entry_age_sd
        cache["stats"] = (mean, sd)
    return cache["stats"]


def outside_share(model: PipelineModel, posts: np.ndarray) -> np.ndarray | float:
    """Share of vacancies filled from outside the pipeline, by each post's level."""
    app = model.scenario.appointment
    if not app.outside_share_by_level:
        return app.outside_share
    table = np.array([app.outside_share_by_level.get(lvl, app.outside_share) for lvl in model.levels])
    return table[model.posts.level[posts]]


def hire_outside(model: PipelineModel, vac: np.ndarray, at_year: float, min_service: float) -> np.ndarray:
    """Fill a share of the vacancies `vac` from outside the pipeline (appointment.outside_share).

    Each chosen vacancy takes a new entrant to the service, of the age of the holders of its
    grade (drawn again, up to a few times, until the appointment's years of service left and,
    at a congress, the first-election age of the post's bodies hold; else the post is left to
    the ordinary filling): not planned, not from inside. Competence is an entrant's plus the
    yearly growth for the years since the mean entry age (work outside counts as work). Posts
    that must be held by non-locals are not filled from outside. Logged as an entry and an
    appointment, both with cause "outside"; counted in `outside_hires` and `entrants`. A key
    vacancy so filled is a succession gap unless a ready planned successor was passed over.
    Returns which of `vac` were filled.
    """
    c, p, scen = model.cadres, model.posts, model.scenario
    share = outside_share(model, vac)
    rng = model.stream("outside")
    pick = np.flatnonzero((rng.random(len(vac)) < share) & ~model.nonlocal_post[vac])
    filled = np.zeros(len(vac), dtype=bool)
    if not len(pick):
        return filled
    posts = vac[pick]
    mean, sd = holder_ages_by_grade(model)
    rec = scen.recruitment
    n = len(posts)
    age = np.zeros(n)
    female = np.zeros(n, dtype=bool)
    ok = np.zeros(n, dtype=bool)
    first_max = model.bodies.first_max[posts] if model.at_term_boundary else np.full(n, np.nan)
    for _ in range(8):
        todo = np.flatnonzero(~ok)
        if not len(todo):
            break
        g = p.grade[posts[todo]]
        a = np.maximum(rec.entry_age_min, rng.normal(mean[g], sd[g]))
        f = rng.random(len(todo)) < rec.female_share
        birth = model.year + 0.5 - a
        good = retirement_dates(birth, f, scen.demography) - at_year >= min_service
        limit = first_max[todo]
        good &= np.isnan(limit) | (model.year + 1 - birth <= limit)
        age[todo], female[todo], ok[todo] = a, f, good
    posts, age, female = posts[ok], age[ok], female[ok]
    if not len(posts):
        return filled
    experience = np.maximum(age - rec.entry_age_mean, 0.0)
    block = model.new_cadres(
        p.unit[posts],
        p.sector[posts].astype(np.int8),
        "outside",
        age=age,
        female=female,
        competence_shift=scen.work.competence_growth * experience,
    )
    block["entry_year"][:] = model.year  # new to the service
    block["post_start"][:] = model.year
    rows = c.append(block)  # appended, never a reused row: this year's indexes stay valid
    model.tally.add_entrants(c.level[rows], c.sector[rows])
    model.events.log("entry", "outside", model, rows, np.full(len(rows), -1))
    # a key vacancy: a gap unless a ready planned successor was passed over
    key = p.key[posts] & ~p.vacancy_assessed[posts]
    if key.any():
        kp = posts[key]
        pool = model.pools[p.key_index[kp]].astype(np.int64)
        eligible = appointment_eligible(model, at_year, min_service=min_service)
        owner = np.repeat(np.arange(len(kp)), pool.shape[1])
        cand = pool.ravel()
        ready = np.zeros(len(kp), dtype=bool)
        has = cand >= 0
        ok_pair = np.zeros(len(cand), dtype=bool)
        ok_pair[has] = admissible_pairs(model, eligible, kp[owner[has]], cand[has])
        ready[owner[ok_pair]] = True
        model.tally.add_vacancies(kp, gap=~ready)
        p.vacancy_assessed[kp] = True
    model.tally.add_count("outside_hires", posts)
    appoint(model, posts, rows, np.zeros(len(rows), bool), cause="outside")
    filled[pick[ok]] = True
    return filled


def fill_vacancies(
    model: PipelineModel, at_year: float | None = None, min_service: float | None = None
) -> None:
    """Fill vacant posts, top grade first so that promotions cascade down as vacancy chains.

    A vacant post takes a ready planned successor if one is available; otherwise (if the policy
    allows) the best eligible unplanned cadre of its own subtree and sector; otherwise it stays
    vacant. A key-post vacancy counts as a succession gap the first time it is to be filled
    without a ready planned successor.

    Within a grade, the vacancies are matched to candidates by the rule of
    `kernels.match_lazy` (each proposes to its best free candidate under the selection rule; a
    candidate wanted by several goes to the vacancy drawn first), exactly as over the full
    candidate lists: first among the planning pools, then among the posts' subtrees.
    """
    p, scen = model.posts, model.scenario
    app = scen.appointment
    eligible = appointment_eligible(model, at_year, min_service=min_service)
    cand = _Candidates(model, eligible, app.selection)
    staff_ranks = [("head", "deputy", "member").index(r) for r in app.entry_ranks]
    rng = model.stream("filling")
    outside = app.outside_share > 0 or any(v > 0 for v in app.outside_share_by_level.values())
    for g in np.unique(p.grade):
        vac = np.flatnonzero((p.holder < 0) & (p.grade == g) & ~p.closed)
        if len(vac) == 0:
            continue
        prio = rng.random(len(vac))
        cand.for_grade(vac, rng)
        filled = np.zeros(len(vac), dtype=bool)
        # 0. a share from outside the pipeline
        if outside:
            year = model.year if at_year is None else at_year
            left = app.min_service_left_years if min_service is None else min_service
            filled |= hire_outside(model, vac, year, left)
        # 1. ready planned successors
        is_key = p.key[vac] & ~filled
        kv = np.flatnonzero(is_key)
        if len(kv):
            won, rows = match_lazy(len(vac), cand.planned(kv), prio, eligible)
            if len(won):
                appoint(model, vac[won], rows, np.ones(len(won), bool))
                filled[won] = True
            first = is_key & ~p.vacancy_assessed[vac]
            model.tally.add_vacancies(vac[first], gap=~filled[first])
            p.vacancy_assessed[vac[first]] = True
        # 2. unplanned eligible cadres of the post's own subtree
        open_ = np.flatnonzero(~filled)
        if not app.allow_unplanned or len(open_) == 0:
            continue
        fetch = cand.unplanned(open_, app.max_level_gap, staff_ranks, "filling")
        won, rows = match_lazy(len(open_), fetch, prio[open_], eligible)
        if len(won):
            appoint(model, vac[open_[won]], rows, np.zeros(len(won), bool))

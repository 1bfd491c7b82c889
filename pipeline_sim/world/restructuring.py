"""Restructuring a running model: units merged, a level abolished, posts per unit changed, and the
surplus of leaders that follows (the 2025 reform as an event; rules.md §7b, §7c, §8).

An event is the set of a scenario's `[[restructuring]]` steps with one date. It is applied in the
restructure phase of its year (after filling, before recruitment and the congress), in this order:

1. **The unit tree** changes step by step (pipeline_sim.world.structure): a merger makes one unit of
   each group (by a grouping file, or by the rule that keeps units within their parent); an
   abolished level's units disappear and their children attach to the level above. A unit that is
   neither merged nor abolished keeps its number in the outputs (`ident`); merged units are new.
2. **Early retirement** (surplus.early_retirement; Decree 178/2024): every cadre in service of a
   unit the event merges or abolishes with at most `early_retirement_years` to retirement, counted
   from the event's date, takes it with probability `early_retirement_take_up`.
3. **Everyone else keeps a place.** Staff follow their unit into the merged unit; staff of an
   abolished unit go to its parent with probability `staff_up_share`, else to its children in turn.
   Holders follow their unit too; holders of an abolished unit go to its children in turn (heads
   first, so that each child receives one), at their own rank and sector.
4. **Posts are assigned** in every unit and sector, rank by rank, by the selection rule
   (appointment.selection, computed afresh): the best holders of a rank take its quota (the posts
   per unit from the event on). A merged unit keeps one head per sector: the other heads become
   deputies. Holders beyond the quota of a rank that may be held above it (surplus.ranks, while
   surplus.years > 0) first move into a vacant post of the same level, sector and rank in their
   locality if there is one, else stay as holders above the quota; beyond the quota of any other
   rank they go down a rank, and beyond the members' quota they move or step down to the staff
   pool of their unit.
5. **Pools** of posts that disappear (every post of a merged or abolished unit) are dissolved, and
   the new key posts' pools are filled as the planning phase fills pools.
6. The bodies, rosters, non-local posts, staff targets and every index over units and posts are
   rebuilt; the event log records every move (kind `restructure`, causes `merged`, `demoted`,
   `transferred`, `moved`; `step_down` with cause `restructure`; `exit` with cause `early_retired`).

**Surplus.** A post kind (unit, sector, rank) held above its quota is reduced each year in the
restructure phase: k years after its event at most surplus x (1 - k x `yearly_reduction`) holders
above the quota may stay, none after `years`. The excess leave worst first by the selection rule,
each taking early retirement if offered and accepted, else moving into a vacant post of the same
level, sector and rank in the locality, else stepping down. With `freeze_appointments`, a post of
a kind above its quota that falls vacant is closed (never filled) and removed at the next
restructure phase.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline_sim.kernels import (
    _rank_in_runs,
    expand_ranges,
    group_rank,
    order_within_groups_hinted,
    stable_argsort,
    subset_hint,
)
from pipeline_sim.scenario.presets import default_bodies, preset_table
from pipeline_sim.scenario.schema import RANKS, Body, RankCounts
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.hierarchy import STAFF_RANK, Posts, derive_units, grade_of, make_posts, staff_targets
from pipeline_sim.world.operations import (
    appoint,
    drop_from_pools,
    exit_service,
    experience_breadth,
    step_down,
)
from pipeline_sim.world.rules import INDEX_RULE, selection_score
from pipeline_sim.world.structure import Tree, restructuring_events, tree_steps

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel

#: event-log causes of the moves an event makes (kind "restructure")
MOVE_CAUSES = ("merged", "demoted", "transferred", "moved")


class Restructuring:
    """A model's restructuring events, the current structure's posts and staff per unit, and the
    posts and units that no longer exist (so that the outputs can name every post and unit ever)."""

    def __init__(self, model: PipelineModel):
        scen = model.scenario
        h = scen.hierarchy
        self.events = restructuring_events(scen.restructuring)
        self.applied: set[tuple[int, int]] = set()
        self.levels = list(h.levels)
        self.sectors = list(h.sectors)
        #: posts per unit [level, sector, rank] and staff per unit by level, from the last event
        self.quota = np.zeros((len(h.levels), len(h.sectors), 3), dtype=np.int64)
        for li, lvl in enumerate(h.levels):
            for si, sec in enumerate(h.sectors):
                rc = h.posts.get(lvl, {}).get(sec)
                if rc is not None:
                    self.quota[li, si] = [rc.head, rc.deputy, rc.member]
        self.staff = {lvl: int(h.staff.get(lvl, 0)) for lvl in h.levels}
        self.next_post_ident = model.posts.n
        self.next_unit_ident = model.units.n
        #: first year of every post and unit, by ident
        self.post_first_year = np.full(model.posts.n, model.first_year, np.int32)
        self.unit_first_year = np.full(model.units.n, model.first_year, np.int32)
        #: posts and units removed by restructuring: blocks of their output columns, with what
        #: names them (the parts of post names; the units table they were part of)
        self.retired_posts: list[tuple[pd.DataFrame, dict]] = []
        self.retired_units: list[tuple[dict, Any, np.ndarray]] = []  # (columns, units table, rows)
        #: changes by one each time the posts or units change (for tables derived from them)
        self.version = 0

    def due(self, year: int) -> list[tuple[int, int, list]]:
        """The events of `year` not applied yet, by date."""
        return [e for e in self.events if e[0] == year and (e[0], e[1]) not in self.applied]

    def hierarchy_spec(self):
        """The current posts and staff per unit as a hierarchy-like object (for staff targets)."""
        posts = {
            lvl: {
                sec: RankCounts(**dict(zip(RANKS, map(int, self.quota[li, si]), strict=True)))
                for si, sec in enumerate(self.sectors)
            }
            for li, lvl in enumerate(self.levels)
        }
        return SimpleNamespace(levels=self.levels, sectors=self.sectors, staff=self.staff, posts=posts)


# ---------------------------------------------------------------------------------------------
# helpers


def _posts_of(model: PipelineModel, unit, sector, rank, holder, ident, term_start) -> Posts:
    """A Posts table (ordered by unit, sector and rank) with its derived columns."""
    return make_posts(
        model.units, model.scenario.hierarchy.key_ranks, unit, sector, rank, holder, term_start, ident
    )


def kind_of_posts(model: PipelineModel, posts: Posts | None = None) -> np.ndarray:
    """Kind (unit, sector, rank) of every post as one ascending number (posts are ordered so)."""
    p = model.posts if posts is None else posts
    return (p.unit.astype(np.int64) * len(model.sectors) + p.sector) * 3 + p.rank


def _position_in_kind(kind: np.ndarray) -> np.ndarray:
    """0, 1, ... within each run of equal kinds (posts are ordered by kind)."""
    return _rank_in_runs(kind)


def match_in_groups(cand_key: np.ndarray, cand_score: np.ndarray, slot_key: np.ndarray, hint=None):
    """Candidates into slots of the same key, the best candidates (by score) first, slots in order
    (`hint`: a hint to the candidates' sort, see `order_within_groups_hinted`).

    Returns (index of each matched candidate, index of its slot).
    """
    if not len(cand_key) or not len(slot_key):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s_order = np.argsort(slot_key, kind="stable")
    s_key = slot_key[s_order]
    s_nth = _rank_in_runs(s_key)
    c_nth = group_rank(cand_key, cand_score, hint)
    width = max(len(cand_key), len(slot_key)) + 1
    composite = s_key * width + s_nth
    want = cand_key * width + c_nth
    at = np.minimum(np.searchsorted(composite, want), len(composite) - 1)
    hit = composite[at] == want
    return np.flatnonzero(hit), s_order[at[hit]]


def _retire_rows(model: PipelineModel, posts_gone: np.ndarray, units_gone: np.ndarray) -> None:
    """Keep the output columns of posts and units about to disappear, with their last year (names
    are put together when the outputs are written)."""
    from pipeline_sim.rosters import post_name_parts

    state = model.restructuring
    if not (len(units_gone) or len(posts_gone)):
        return
    units = model.units  # replaced, not changed, by the event: named from it when written
    if len(posts_gone):
        cols = _post_columns(model, posts_gone)
        cols["last_year"] = np.full(len(posts_gone), model.year, np.int32)
        state.retired_posts.append((cols, post_name_parts(model, posts_gone, units)))
    if len(units_gone):
        cols = _unit_columns(model, units_gone)
        cols["last_year"] = np.full(len(units_gone), model.year, np.int32)
        state.retired_units.append((cols, units, units_gone))


def _post_columns(model: PipelineModel, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The output columns of posts `rows` but their names (posts.parquet)."""
    from pipeline_sim.rosters import post_body_codes

    p, u = model.posts, model.units
    unit = p.unit[rows]
    parent = u.parent[unit]
    codes, labels = post_body_codes(model)
    loc = p.locality[rows]
    return {
        "post": p.ident[rows].astype(np.int32),
        "unit": u.ident[unit].astype(np.int32),
        "parent": np.where(parent >= 0, u.ident[np.maximum(parent, 0)], -1).astype(np.int32),
        "locality": np.where(loc >= 0, u.ident[np.maximum(loc, 0)], -1).astype(np.int32),
        "level": p.level[rows].astype(np.int8),
        "sector": p.sector[rows].astype(np.int8),
        "rank": p.rank[rows].astype(np.int8),
        "key": p.key[rows],
        "bodies": np.array(labels, dtype=object)[codes[rows]],
        "first_year": model.restructuring.post_first_year[p.ident[rows]],
    }


def _unit_columns(model: PipelineModel, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The output columns of units `rows` but their names (units.parquet)."""
    u = model.units
    parent, loc = u.parent[rows], u.locality[rows]
    return {
        "unit": u.ident[rows].astype(np.int32),
        "parent": np.where(parent >= 0, u.ident[np.maximum(parent, 0)], -1).astype(np.int32),
        "locality": np.where(loc >= 0, u.ident[np.maximum(loc, 0)], -1).astype(np.int32),
        "level": u.level[rows].astype(np.int8),
        "weak": u.weak[rows].copy(),
        "first_year": model.restructuring.unit_first_year[u.ident[rows]],
    }


def rebuild_indexes(model: PipelineModel) -> None:
    """Every index derived from the units and posts, after they changed."""
    from pipeline_sim.rosters import roster_posts

    u, p = model.units, model.posts
    model.restructuring.version += 1
    model.n_places = model.count_places()
    model.nonlocal_post = model._posts_matching(model.scenario.rotation.nonlocal_posts)
    model.unit_post_count = np.bincount(p.unit, minlength=u.n)
    model.unit_post_start = np.r_[0, np.cumsum(model.unit_post_count)[:-1]]
    kids = np.argsort(u.parent, kind="stable")[1:]
    model._child_list = kids
    model._child_count = np.bincount(u.parent[kids], minlength=u.n)
    model._child_start = np.r_[0, np.cumsum(model._child_count)[:-1]]
    model.staff_target = staff_targets(model.restructuring.hierarchy_spec(), u)
    model.rosters.posts = roster_posts(model)
    model._selection.clear()
    kept = model.year_cache.get("record_ok")  # records of the cadres, not of the structure
    model.year_cache.clear()
    if kept is not None:
        model.year_cache["record_ok"] = kept
    if model._unit_agents is not None:
        for agent in model._unit_agents:
            agent.remove()
        model._unit_agents = None


def _rebuild_bodies(model: PipelineModel) -> None:
    """The bodies over the new posts, keeping their records and term bookkeeping."""
    from pipeline_sim.world.bodies import Bodies

    old = model.bodies
    new = Bodies(model)
    for b, name in enumerate(new.names):
        if name in old.names:
            k = old.names.index(name)
            new.term_start[b] = old.term_start[k]
            new.before[b] = old.before[k]
    new.rows = old.rows
    model.bodies = new


def _remap_posts_of_cadres(model: PipelineModel, old_to_new: np.ndarray) -> None:
    """Posts remembered across years point to the new posts: those held before a rotation (-1
    where the post is gone), and the posts of moves planned a year ahead (dropped where gone)."""
    c = model.cadres
    home = c.rotation_home
    has = home >= 0
    home[has] = old_to_new[home[has]]
    plan = getattr(model, "rotation_ahead", None)
    if plan and len(plan["post"]):
        post = old_to_new[plan["post"]]
        keep = post >= 0
        model.rotation_ahead = {k: (post if k == "post" else v)[keep] for k, v in plan.items()}


# ---------------------------------------------------------------------------------------------
# closing vacant posts above the quota


def close_vacancies_above_quota(model: PipelineModel, posts: np.ndarray) -> None:
    """Called as `posts` fall vacant: those of a kind still held at or above its quota close.

    A kind with R open posts, h holders and quota q keeps max(h, q) posts open.
    """
    p = model.posts
    if p.quota is None or not model.scenario.surplus.freeze_appointments or len(posts) == 0:
        return
    posts = np.asarray(posts, dtype=np.int64)
    posts = posts[p.quota[posts] >= 0]
    if len(posts) == 0:
        return
    kind = kind_of_posts(model)
    touched = np.unique(kind[posts])
    lo = np.searchsorted(kind, touched, side="left")
    hi = np.searchsorted(kind, touched, side="right")
    owner, rows = expand_ranges(lo, hi - lo)
    open_ = ~p.closed[rows]
    n_open = np.bincount(owner[open_], minlength=len(touched))
    held = np.bincount(owner[open_ & (p.holder[rows] >= 0)], minlength=len(touched))
    n_close = n_open - np.maximum(held, p.quota[rows[np.r_[0, np.cumsum(hi - lo)[:-1]]]])
    vac = open_ & (p.holder[rows] < 0)
    vo, vr = owner[vac], rows[vac]
    nth = _rank_in_runs(vo)
    shut = vr[nth < n_close[vo]]
    p.closed[shut] = True


# ---------------------------------------------------------------------------------------------
# the event


def apply_event(model: PipelineModel, year: int, month: int, steps: list) -> None:
    """Apply one restructuring event (see the module docstring)."""
    state = model.restructuring
    state.applied.add((year, month))
    scen = model.scenario
    c, p, u = model.cadres, model.posts, model.units
    rng = model.stream("restructure")
    date = year + (month - 1) / 12.0
    levels, n_sec = model.levels, len(model.sectors)
    n_levels = u.n_levels

    # 1. the unit tree, step by step; where every unit goes
    tree = Tree(u.level.copy(), u.parent.astype(np.int64), n_levels)
    trail: list[tuple[Any, Tree, Any]] = []  # (step, tree before it, result)
    bodies_spec: dict[str, Any] = {}
    rules: dict[str, Any] = {}
    for i, result in tree_steps(tree, levels, steps, scen.hierarchy.scale):
        step = scen.restructuring[i]
        if result is None:
            _apply_posts_step(state, step, bodies_spec, rules)
            continue
        trail.append((step, tree, result))
        tree = result.tree
    image = np.arange(u.n, dtype=np.int64)  # each old unit's image (an abolished one: its parent's)
    affected = np.zeros(u.n, dtype=bool)
    alive = np.ones(u.n, dtype=bool)
    for _step, _before, res in trail:
        gone = res.to_new[image] < 0
        alive &= ~gone
        affected |= gone
        image = np.where(gone, res.up[image], res.to_new[image])
        affected |= res.merged[image] & alive
    kept_unit = alive & ~affected  # keeps its ident
    n_new = tree.n
    new_ident = np.full(n_new, -1, np.int64)
    new_ident[image[kept_unit]] = u.ident[kept_unit]
    fresh = np.flatnonzero(new_ident < 0)
    new_ident[fresh] = np.arange(state.next_unit_ident, state.next_unit_ident + len(fresh))
    state.next_unit_ident += len(fresh)
    state.unit_first_year = np.r_[state.unit_first_year, np.full(len(fresh), year, np.int32)]
    weak_sum = np.bincount(image[alive], weights=u.weak[alive], minlength=n_new)
    weak_n = np.bincount(image[alive], minlength=n_new)
    new_weak = (weak_n > 0) & (weak_sum >= 0.5 * np.maximum(weak_n, 1))

    # 2. early retirement in the units the event merges or abolishes
    sp = scen.surplus
    if sp.early_retirement and sp.early_retirement_take_up > 0:
        offer = c.status == ACTIVE  # over the whole table: cheaper than gathering the service's rows
        offer &= affected[c.unit]
        offer &= c.t_retire - date <= sp.early_retirement_years
        offer = np.flatnonzero(offer)
        exit_service(model, offer[rng.random(len(offer)) < sp.early_retirement_take_up], "early_retired")

    # 3. every cadre in service follows their unit
    rows = np.flatnonzero(c.status == ACTIVE)
    old_unit = c.unit[rows]
    cur = old_unit.astype(np.int64)
    old_post = c.post[rows]
    is_holder = old_post >= 0
    old_rank = (c.grade[rows] % 4).astype(np.int8)  # small types for the whole service's arrays;
    sector = c.sector[rows]  # the holders' copies below are int64
    score = np.zeros(len(rows))  # holders compete by the selection rule; staff need no score
    score[is_holder] = selection_score(
        model, rows[is_holder], INDEX_RULE[scen.appointment.selection], "restructure"
    )
    transferred = np.zeros(len(rows), dtype=bool)
    for step, before, res in trail:
        new = res.to_new[cur]
        gone = np.flatnonzero(new < 0)
        if len(gone):
            new[gone] = _route_from_abolished(
                rng,
                before,
                res,
                cur[gone],
                is_holder[gone],
                old_rank[gone],
                sector[gone],
                score[gone],
                step.staff_up_share,
            )
            transferred[gone] = True
        cur = new

    # 4. posts of the new structure, rank by rank
    new_level = tree.level
    q = state.quota[new_level]  # [unit, sector, rank]
    h_idx = np.flatnonzero(is_holder)
    h_unit, h_sec, h_score = cur[h_idx], sector[h_idx].astype(np.int64), score[h_idx]
    del score
    claim = old_rank[h_idx].astype(np.int64)
    placed = np.full(len(h_idx), -1, np.int64)  # rank taken
    surplus_cand = np.zeros(len(h_idx), dtype=bool)
    leftover = np.zeros(len(h_idx), dtype=bool)
    allowed = {RANKS.index(r) for r in sp.ranks} if sp.years > 0 else set()
    grp = h_unit * n_sec + h_sec
    # the holders listed by their old post (posts are ordered by unit, sector and rank): a hint
    # that makes the holders' sorts below run over input almost in order
    by_post = np.full(p.n, -1, np.int64)
    by_post[old_post[h_idx]] = np.arange(len(h_idx))
    by_post = by_post[by_post >= 0]
    for r in range(3):
        sel = np.flatnonzero((claim == r) & (placed < 0) & ~surplus_cand & ~leftover)
        if not len(sel):
            continue
        pos = group_rank(grp[sel], h_score[sel], subset_hint(by_post, sel, len(h_idx)))
        inside = pos < q[h_unit[sel], h_sec[sel], r]
        placed[sel[inside]] = r
        excess = sel[~inside]
        if r == 0:
            claim[excess] = 1
        elif r in allowed:
            surplus_cand[excess] = True
        elif r == 1:
            claim[excess] = 2
        else:
            leftover[excess] = True
    # vacancies left within the quota; the excess move into them within their locality
    K = n_new * n_sec * 3
    kind_quota = q.reshape(-1)
    in_quota = np.bincount(((h_unit * n_sec + h_sec) * 3 + placed)[placed >= 0], minlength=K)
    movers = np.flatnonzero(surplus_cand | leftover)
    dest_unit = h_unit.copy()
    moved_h = np.zeros(len(h_idx), dtype=bool)
    if len(movers):
        locality_new = _localities(tree)
        vac_kind = np.flatnonzero(kind_quota > in_quota)
        slot_kind = np.repeat(vac_kind, (kind_quota - in_quota)[vac_kind])
        slot_unit = slot_kind // (n_sec * 3)
        slot_key = _move_key(
            locality_new, new_level, slot_unit, (slot_kind // 3) % n_sec, slot_kind % 3, n_sec, n_levels
        )
        m_key = _move_key(
            locality_new, new_level, h_unit[movers], h_sec[movers], claim[movers], n_sec, n_levels
        )
        got, slot = match_in_groups(
            m_key, h_score[movers], slot_key, subset_hint(by_post, movers, len(h_idx))
        )
        got = movers[got]
        dest_unit[got] = slot_unit[slot]
        placed[got] = claim[got]
        moved_h[got] = True
        left_over = np.zeros(len(h_idx), dtype=bool)
        left_over[movers] = True
        left_over[got] = False
        rest = np.flatnonzero(left_over)
        stay_above = rest[surplus_cand[rest]]
        placed[stay_above] = claim[stay_above]
    stepped = placed < 0  # leftover that found no vacancy: to the staff pool of their unit
    cur[h_idx] = dest_unit

    # 5. the new posts: max(quota, holders) per kind, ordered by unit, sector and rank
    h_kind = (dest_unit * n_sec + h_sec) * 3 + np.maximum(placed, 0)
    n_placed = np.bincount(h_kind[~stepped], minlength=K)
    n_rows = np.maximum(kind_quota, n_placed)
    post_kind = np.repeat(np.arange(K), n_rows)
    kind_start = np.r_[0, np.cumsum(n_rows)[:-1]]
    n_posts = len(post_kind)
    # posts of units that keep their ident keep theirs (position by position within the kind)
    old_kind_pos = _position_in_kind(kind_of_posts(model))
    o_unit = p.unit.astype(np.int64)
    o_kept = kept_unit[o_unit]
    o_new_kind = (image[o_unit] * n_sec + p.sector) * 3 + p.rank
    carry = o_kept & (old_kind_pos < n_rows[o_new_kind])
    old_to_new = np.full(p.n, -1, np.int64)
    old_to_new[carry] = kind_start[o_new_kind[carry]] + old_kind_pos[carry]
    ident = np.full(n_posts, -1, np.int64)
    ident[old_to_new[carry]] = p.ident[carry]
    fresh = np.flatnonzero(ident < 0)
    ident[fresh] = np.arange(state.next_post_ident, state.next_post_ident + len(fresh))
    state.next_post_ident += len(fresh)
    state.post_first_year = np.r_[state.post_first_year, np.full(len(fresh), year, np.int32)]
    # seats: a holder whose own post carries over keeps it; the others take free posts of their kind
    seat = np.full(len(h_idx), -1, np.int64)
    h_old_post = old_post[h_idx]
    stay = ~stepped & (old_to_new[h_old_post] >= 0) & (h_kind == o_new_kind[h_old_post])
    seat[stay] = old_to_new[h_old_post[stay]]
    taken = np.zeros(n_posts, dtype=bool)
    taken[seat[stay]] = True
    free = np.flatnonzero(~taken)
    free_nth = _rank_in_runs(post_kind[free])
    others = np.flatnonzero(~stepped & ~stay)
    o_order = others[
        order_within_groups_hinted(h_kind[others], h_score[others], subset_hint(by_post, others, len(h_idx)))
    ]
    o_nth = _rank_in_runs(h_kind[o_order])
    width = int(n_rows.max(initial=0)) + 1
    where = np.searchsorted(post_kind[free] * width + free_nth, h_kind[o_order] * width + o_nth)
    seat[o_order] = free[where]

    # 6. the event log and the tallies (before the records change)
    _log_and_tally(
        model,
        rows,
        h_idx,
        cur,
        new_level,
        image,
        new_ident,
        ident,
        seat,
        placed,
        old_rank,
        stepped,
        moved_h,
        transferred,
        old_post,
        old_unit,
        c.level[rows].astype(np.int16) * n_sec + sector,  # level x sector groups fit
    )

    # 7. pools of posts that do not carry over are dissolved
    kp = p.key_posts
    carried_key = old_to_new[kp] >= 0
    drop_from_pools(model, (model.pools >= 0) & ~carried_key[:, None], "restructure")
    old_pools = model.pools

    # 8. the new structure
    posts_gone = np.flatnonzero(old_to_new < 0)
    units_gone = np.flatnonzero(~kept_unit)
    _retire_rows(model, posts_gone, units_gone)
    has_units = np.bincount(new_level, minlength=n_levels) > 0
    depth = np.cumsum(has_units) - has_units
    old_locality_image = image  # old unit -> new unit (localities are never abolished)
    model.units = derive_units(new_level, tree.parent, new_weak, n_levels, ident=new_ident, depth=depth)
    holder = np.full(n_posts, -1, np.int64)
    holder[seat[~stepped]] = rows[h_idx[~stepped]]
    term = np.full(n_posts, -1, np.int64)
    same_run = ~stepped & (placed == old_rank[h_idx]) & ~transferred[h_idx] & ~moved_h
    term[seat[same_run]] = p.term_start[h_old_post[same_run]]
    term[seat[~stepped & ~same_run]] = year
    new_posts = _posts_of(
        model, post_kind // (n_sec * 3), (post_kind // 3) % n_sec, post_kind % 3, holder, ident, term
    )
    # vacancies: carried ones keep their state, the others open now
    vac = holder < 0
    was_vac = np.zeros(n_posts, dtype=bool)
    src = np.flatnonzero(carry)
    was_vac[old_to_new[src]] = p.holder[src] < 0
    keep_vac = np.zeros(n_posts, dtype=bool)
    keep_vac[old_to_new[src]] = True
    keep_vac &= vac & was_vac
    back = np.full(n_posts, -1, np.int64)
    back[old_to_new[src]] = src
    for name in ("vacant_since", "vacancy_assessed", "vacancy_chain"):
        getattr(new_posts, name)[keep_vac] = getattr(p, name)[back[keep_vac]]
    opened = np.flatnonzero(vac & ~keep_vac)
    new_posts.vacant_since[opened] = year
    new_posts.vacancy_chain[opened] = model.chains.open(new_posts.level[opened], year)
    _set_quota(new_posts, kind_quota, n_rows, post_kind, p, back, year)
    # pools of carried key posts move to their new rows
    pools = np.full((len(new_posts.key_posts), old_pools.shape[1]), -1, np.int32)
    new_key = new_posts.key_index[old_to_new[kp[carried_key]]]
    pools[new_key] = old_pools[carried_key]
    model.posts = new_posts
    model.pools = pools

    # 9. cadres
    _move_cadres(model, rows, h_idx, cur, seat, stepped, same_run)
    del rows, cur, old_post, is_holder, old_rank, sector, transferred  # not needed below
    _remap_posts_of_cadres(model, old_to_new)
    others_rows = np.flatnonzero(c.status != ACTIVE)  # rows of those who left point at units too
    c.unit[others_rows] = image[c.unit[others_rows]]
    c.level[others_rows] = model.units.level[c.unit[others_rows]]
    n_net = scen.appointment.n_networks
    homed = np.flatnonzero((c.status == ACTIVE) & (c.home >= 0))
    home = old_locality_image[c.home[homed]].astype(np.int32)  # the columns' type
    c.home[homed] = home
    c.network[homed] = home * n_net + c.network[homed] % n_net
    # planning only for higher posts: entries no longer below their post are dropped
    if (pools >= 0).any():
        kk, ss = np.nonzero(pools >= 0)
        low = c.grade[pools[kk, ss]] <= new_posts.grade[new_posts.key_posts[kk]]
        mask = np.zeros(pools.shape, dtype=bool)
        mask[kk[low], ss[low]] = True
        drop_from_pools(model, mask, "restructure")

    # 10. indexes, bodies, rules; then the new key posts' pools
    if bodies_spec:  # each replaces the body of that name; the others stay
        bodies = dict(model.scenario.bodies)
        bodies.update({name: Body.model_validate(given) for name, given in bodies_spec.items()})
        model.scenario = model.scenario.model_copy(update={"bodies": bodies})
    if rules:
        from pipeline_sim.live import change_rules

        change_rules(model, rules)
    rebuild_indexes(model)
    _rebuild_bodies(model)
    new_keys = np.flatnonzero(~np.isin(model.posts.ident[model.posts.key_posts], p.ident[kp[carried_key]]))
    _fill_new_pools(model, new_keys)


def _apply_posts_step(state: Restructuring, step, bodies: dict, rules: dict) -> None:
    """A 'posts' step: posts and staff per unit (over a preset), bodies and rules from then on."""
    if step.preset is not None:
        table = preset_table(step.preset)
        for lvl, by_sector in table["posts"].items():
            if lvl in state.levels:
                li = state.levels.index(lvl)
                state.quota[li] = 0
                for sec, counts in by_sector.items():
                    state.quota[li, state.sectors.index(sec)] = [counts[r] for r in RANKS]
        for lvl, n in table["staff"].items():
            if lvl in state.levels:
                state.staff[lvl] = int(n)
        for name, body in default_bodies(step.preset).items():
            bodies[name] = Body.model_validate(body).model_dump(mode="json")  # every field: replaces
    for lvl, by_sector in step.posts.items():
        li = state.levels.index(lvl)
        for sec, rc in by_sector.items():
            state.quota[li, state.sectors.index(sec)] = [rc.head, rc.deputy, rc.member]
    for lvl, n in step.staff.items():
        state.staff[lvl] = int(n)
    for name, body in step.bodies.items():  # a full definition: replaces the preset's
        bodies[name] = body.model_dump(mode="json")
    rules.update(step.rules)


def _localities(tree: Tree) -> np.ndarray:
    """Ancestor at the second level of every unit of a tree (-1 for the top)."""
    loc = np.full(tree.n, -1, np.int64)
    for lvl in range(1, tree.n_levels):
        rows = tree.units_of(lvl)
        loc[rows] = rows if lvl == 1 else loc[tree.parent[rows]]
    return loc


def _move_key(locality, level, unit, sector, rank, n_sec, n_levels) -> np.ndarray:
    return (((locality[unit] + 1) * n_levels + level[unit]) * n_sec + sector) * 3 + rank


def _route_from_abolished(
    rng, before: Tree, res, units, is_holder, rank, sector, score, up_share
) -> np.ndarray:
    """New unit of each cadre of an abolished unit: staff go up with probability `up_share`, else
    (and holders always) down to its children in turn, heads first; with no children, up."""
    n = len(units)
    par = before.parent
    kid = np.flatnonzero((par >= 0) & (res.to_new[np.maximum(par, 0)] < 0))
    kid = kid[np.argsort(par[kid], kind="stable")]
    n_kids = np.bincount(par[kid], minlength=before.n)
    kid_start = np.r_[0, np.cumsum(n_kids)[:-1]]
    up = (~is_holder & (rng.random(n) < up_share)) | (n_kids[units] == 0)
    dest = res.up[units].copy()
    down = np.flatnonzero(~up)
    if len(down):
        # holders by rank then sector, best first, then staff: each child in turn
        h = down[is_holder[down]]
        h = h[np.lexsort((-score[h], sector[h], rank[h]))]
        both = np.concatenate([h, down[~is_holder[down]]])
        order = both[stable_argsort(units[both])]
        a = units[order]
        nth = _rank_in_runs(a)
        dest[order] = res.to_new[kid[kid_start[a] + nth % n_kids[a]]]
    return dest


def _set_quota(new_posts: Posts, kind_quota, n_rows, post_kind, old: Posts, back, year: int) -> None:
    """Quota bookkeeping of the kinds above their quota: the quota, the surplus at the event and
    its year (a kind carried over with the same quota keeps those of its own event)."""
    above = n_rows > kind_quota
    if not above[post_kind].any():
        return
    surplus_k = (n_rows - kind_quota).astype(np.int64)
    since_k = np.full(len(n_rows), year, np.int32)
    if old.quota is not None:
        carried = np.flatnonzero(back >= 0)
        src = back[carried]
        k = post_kind[carried]
        same = (old.quota[src] >= 0) & (old.quota[src] == kind_quota[k])
        surplus_k[k[same]] = old.surplus_start[src[same]]
        since_k[k[same]] = old.quota_year[src[same]]
    tracked = above[post_kind]
    new_posts.quota = np.where(tracked, kind_quota[post_kind], -1).astype(np.int64)
    new_posts.surplus_start = np.where(tracked, surplus_k[post_kind], 0).astype(np.int64)
    new_posts.quota_year = np.where(tracked, since_k[post_kind], year).astype(np.int32)


def _move_cadres(model: PipelineModel, rows, h_idx, cur, seat, stepped, same_run) -> None:
    """Write every cadre's new place: holders into their seats, the others into staff pools."""
    c, p, u = model.cadres, model.posts, model.units
    year = model.year
    unit = cur.astype(np.int32)  # the unit and place columns' type (units and places fit)
    old_level = c.level[rows]
    level = u.level[unit]
    c.unit[rows] = unit
    c.level[rows] = level
    c.locality[rows] = u.locality[unit]
    post = np.full(len(rows), -1, np.int32)
    post[h_idx[~stepped]] = seat[~stepped]
    c.post[rows] = post
    held = post >= 0
    grade = grade_of(level, STAFF_RANK)
    grade[held] = p.grade[post[held]]
    c.grade[rows] = grade
    c.place[rows] = model.place_key(unit, c.sector[rows], grade % 4)
    # a holder who lost the post is in the staff pool, with nothing left to remove them from
    out = rows[h_idx[stepped]]
    c.pending_removal[out] = False
    c.detected[out] = False
    # a new post (another rank or unit) starts a new tenure; post skill partly carries
    new_post = rows[h_idx[~stepped & ~same_run]]
    c.post_start[new_post] = year
    c.post_skill[new_post] *= np.float32(model.scenario.work.post_skill_carry_share)
    c.ever_key[rows[held]] |= p.key[post[held]]
    # experience: service at the bottom level, and its breadth, change only with the level
    moved = rows[level != old_level]
    c.grassroots[moved] |= c.level[moved] == u.n_levels - 1
    c.breadth[moved] = experience_breadth(model, moved)


def _log_and_tally(
    model,
    rows,
    h_idx,
    cur,
    new_level,
    image,
    new_ident,
    ident,
    seat,
    placed,
    old_rank,
    stepped,
    moved_h,
    transferred,
    old_post,
    old_unit,
    group_left,
) -> None:
    """Event-log rows (one block, in row order) and tallies of every move of the event, by the
    place left (`group_left`: level x sector group of each row of `rows`)."""
    c, p, u = model.cadres, model.posts, model.units
    # holders who keep a post: cause by rank and unit, logged when the post's number changes
    kept = h_idx[~stepped]
    k_rows = rows[kept]
    k_post = ident[seat[~stepped]]
    k_old = p.ident[old_post[kept]]
    elsewhere = transferred[kept] | (cur[kept] != image[old_unit[kept]])
    demoted = placed[~stepped] > old_rank[kept]
    k_code = np.where(moved_h[~stepped], 4, np.where(elsewhere, 3, np.where(demoted, 2, 1)))
    k_code[k_post == k_old] = 0
    # staff whose unit changed (codes 1 and 3, as for holders); one row per move, in row order
    # (staff not transferred follow their unit: theirs changes if the unit's number does)
    renamed = (new_ident[image] != u.ident).astype(np.int8)
    code = np.where(transferred, np.int8(3), renamed[old_unit])
    code[h_idx] = 0
    staff_moved = code > 0
    code[kept] = k_code
    moves = np.flatnonzero(code)
    r = rows[moves]
    # the logged holders' posts at their places among the rows logged (in the log's own types,
    # as the unit and level below: no copies in `append`)
    k_logged = k_code > 0
    # (a row's place among those logged: its own index less the rows before it not logged, few
    # when most units merge)
    at = kept[k_logged]
    at -= np.searchsorted(np.flatnonzero(code == 0), at)
    post = np.full(len(r), -1, np.int32)
    post[at] = k_post[k_logged]
    from_post = np.full(len(r), -1, np.int32)
    from_post[at] = k_old[k_logged]
    cur_logged = cur[moves]
    model.events.append(
        model,
        year=model.year,
        kind="restructure",
        cause=(MOVE_CAUSES, code[moves] - 1),
        rows=r,
        post=post,
        unit=np.take(new_ident.astype(np.int32), cur_logged),
        level=np.take(new_level.astype(np.int8), cur_logged),
        sector=c.sector[r],
        from_post=from_post,
        chain=np.int64(-1),
        left=c.grade[r],
    )
    for k, cause in enumerate(MOVE_CAUSES, start=1):
        model.tally.add_cadres(f"restructure_{cause}", k_rows[k_code == k])
    model.tally.add_groups("restructure_staff_moved", group_left[staff_moved])
    # holders who lose their post
    out = h_idx[stepped]
    if len(out):
        r = rows[out]
        model.events.log("step_down", "restructure", model, r, old_post[out])
        model.tally.add_cadres("restructure_stepped_down", r)
        model.tally.add_count("step_downs", old_post[out])


def _fill_new_pools(model: PipelineModel, key_idx: np.ndarray) -> None:
    """Fill the pools of the new key posts `key_idx` as the plan's planning phase fills pools, with
    random numbers from the restructure stream (the other processes' streams do not move).

    When none of these posts can take staff (their rank is not an entry rank), every candidate holds
    a post, and the selection order the planning phase ranks candidates by is made over post holders
    only: the same candidates in the same order, without sorting the whole service.
    """
    phase = next((ph for ph in model.plan if ph.NAME == "planning"), None)
    if phase is None or not len(key_idx) or not hasattr(phase, "add_candidates"):
        return
    from pipeline_sim.world.rules import planning_eligible

    p, c, scen = model.posts, model.cadres, model.scenario
    parent = model.stream("restructure")
    saved_streams = dict(model._streams)
    for name in ("planning", "selection"):
        model._streams[name] = np.random.Generator(np.random.PCG64(parent.integers(0, 2**63)))
    all_pools, all_keys = model.pools, p.key_posts
    entry = [RANKS.index(r) for r in scen.appointment.entry_ranks]
    holders_only = not np.isin(p.rank[all_keys[key_idx]], entry).any()
    model._selection.clear()
    try:
        model.pools = all_pools[key_idx].copy()
        p.key_posts = all_keys[key_idx]
        eligible = planning_eligible(model)
        if holders_only:
            eligible &= c.post >= 0  # the only candidates: capacities for them alone
            rules = {INDEX_RULE[scen.planning.selection]}
            if scen.planning.selection == "best_worst_mix":
                rules.add("worst_first")
            rows = np.flatnonzero(eligible)
            # the holders listed by post (posts are ordered by place): a hint to the sort
            hint = subset_hint(p.holder[p.holder >= 0], rows, c.n)
            for rule in sorted(rules):
                score = np.zeros(c.n)
                score[rows] = selection_score(model, rows, rule, "selection")
                key = c.place[rows]
                order = order_within_groups_hinted(key, score[rows], hint)
                model._selection[rule] = (rows[order], key[order], score)
        phase.add_candidates(model, eligible, local=True)
        if scen.planning.mode == "open":
            phase.add_candidates(model, eligible, local=False)
        all_pools[key_idx] = model.pools
    finally:
        model.pools, p.key_posts = all_pools, all_keys
        model._streams.clear()
        model._streams.update(saved_streams)
        if holders_only:
            model._selection.clear()  # made over holders only: not for the rest of the year
        # else the selection order made here stays for the rest of the year, as the planning phase's


# ---------------------------------------------------------------------------------------------
# the surplus over the years


def _kinds(model: PipelineModel):
    """Per post its kind's dense number, and per kind its first post."""
    kind = kind_of_posts(model)
    first = np.r_[True, kind[1:] != kind[:-1]] if len(kind) else np.zeros(0, dtype=bool)
    return np.cumsum(first) - 1, np.flatnonzero(first)


def _allowed_surplus(model: PipelineModel, first: np.ndarray) -> np.ndarray:
    """Holders above the quota each kind may keep this year."""
    p, sp = model.posts, model.scenario.surplus
    start = p.surplus_start[first].astype(np.float64)
    elapsed = model.year - p.quota_year[first]
    left = np.floor(start * np.maximum(0.0, 1.0 - sp.yearly_reduction * elapsed) + 1e-9)
    allowed = np.where(elapsed >= sp.years, 0.0, left)
    return np.where(elapsed <= 0, start, allowed).astype(np.int64)


def _close_beyond(model: PipelineModel, kid: np.ndarray, limit: np.ndarray) -> None:
    """Close vacant open posts of each kind beyond max(holders, limit[kind]) (limit < 0: none)."""
    p = model.posts
    open_ = ~p.closed
    n_k = len(limit)
    n_open = np.bincount(kid[open_], minlength=n_k)
    held = np.bincount(kid[open_ & (p.holder >= 0)], minlength=n_k)
    n_close = np.where(limit >= 0, n_open - np.maximum(held, limit), 0)
    vac = np.flatnonzero(open_ & (p.holder < 0) & (n_close[kid] > 0))
    if len(vac):
        nth = _rank_in_runs(kid[vac])
        p.closed[vac[nth < n_close[kid[vac]]]] = True


def reduce_surplus(model: PipelineModel) -> None:
    """The yearly reduction of every kind held above its quota (see the module docstring)."""
    p, c, scen = model.posts, model.cadres, model.scenario
    sp = scen.surplus
    if p.quota is None:
        return
    kid, first = _kinds(model)
    quota = p.quota[first]
    tracked = quota >= 0
    limit = np.where(tracked, quota + _allowed_surplus(model, first), -1)
    _close_beyond(model, kid, limit)
    held = np.flatnonzero((p.holder >= 0) & ~p.closed & tracked[kid])
    n_held = np.bincount(kid[held], minlength=len(first))
    excess = np.maximum(n_held - limit, 0) * tracked
    held = held[excess[kid[held]] > 0]
    if not len(held):
        return
    rows = p.holder[held].astype(np.int64)
    rng = model.stream("restructure")
    draw = rng.random(len(rows))
    retire = (
        sp.early_retirement
        & (c.t_retire[rows] - model.year <= sp.early_retirement_years)
        & (draw < sp.early_retirement_take_up)
    )
    score = selection_score(model, rows, INDEX_RULE[scen.appointment.selection], "restructure")
    # those who retire early first, then the worst by the selection rule
    order = np.lexsort((score, ~retire, kid[held]))
    nth = _rank_in_runs(kid[held][order])
    chosen = order[nth < excess[kid[held][order]]]
    out_rows, out_posts = rows[chosen], held[chosen]
    model.tally.add_cadres("surplus_reduced", out_rows)
    exit_service(model, out_rows[retire[chosen]], "early_retired")
    rest, rest_posts = out_rows[~retire[chosen]], out_posts[~retire[chosen]]
    # a vacant post of the same level, sector and rank in the locality, in a kind not above its quota
    open_vac = np.flatnonzero((p.holder < 0) & ~p.closed & ~tracked[kid])
    level = p.level.astype(np.int64)

    def key(posts):
        return _move_key(
            p.locality.astype(np.int64),
            level,
            posts,
            p.sector[posts].astype(np.int64),
            p.rank[posts].astype(np.int64),
            len(model.sectors),
            model.units.n_levels,
        )

    got, slot = match_in_groups(key(rest_posts), score[chosen][~retire[chosen]], key(open_vac))
    if len(got):
        model.tally.add_cadres("restructure_moved", rest[got])
        appoint(model, open_vac[slot], rest[got], np.zeros(len(got), bool), kind="restructure", cause="moved")
    down = np.setdiff1d(np.arange(len(rest)), got)
    if len(down):
        model.tally.add_cadres("restructure_stepped_down", rest[down])
        step_down(model, rest[down], "surplus")
    _close_beyond(model, kid, limit)


def compact(model: PipelineModel) -> None:
    """Remove the closed posts (vacant posts above their kind's quota) from the structure."""
    p = model.posts
    keep = ~p.closed
    if keep.all():
        return
    old_to_new = np.full(p.n, -1, np.int64)
    old_to_new[keep] = np.arange(int(keep.sum()))
    _retire_rows(model, np.flatnonzero(~keep), np.zeros(0, np.int64))
    new = _posts_of(
        model, p.unit[keep], p.sector[keep], p.rank[keep], p.holder[keep], p.ident[keep], p.term_start[keep]
    )
    for name in ("vacant_since", "vacancy_assessed", "vacancy_chain"):
        getattr(new, name)[:] = getattr(p, name)[keep]
    if p.quota is not None:
        quota, surplus, since = p.quota[keep], p.surplus_start[keep], p.quota_year[keep]
        model.posts = new
        kid, first = _kinds(model)
        rows_k = np.bincount(kid, minlength=len(first))
        done = rows_k <= np.maximum(quota[first], 0)  # back at the quota: no longer tracked
        quota = np.where(done[kid], -1, quota)
        if (quota >= 0).any():
            new.quota, new.surplus_start, new.quota_year = quota, surplus, since
    c = model.cadres
    held = c.post >= 0
    c.post[held] = old_to_new[c.post[held]]
    _remap_posts_of_cadres(model, old_to_new)
    # closed posts are never key posts: the pools keep their rows
    model.posts = new
    rebuild_indexes(model)
    _rebuild_bodies(model)


def quota_metrics(model: PipelineModel) -> dict[str, np.ndarray]:
    """Posts and holders above their kind's quota at year end, by level and sector (flat)."""
    p = model.posts
    n_sec = len(model.sectors)
    size = model.units.n_levels * n_sec
    out = {"posts_above_quota": np.zeros(size), "surplus_holders": np.zeros(size)}
    if p.quota is None:
        return out
    kid, first = _kinds(model)
    quota = p.quota[first]
    open_ = ~p.closed
    n_open = np.bincount(kid[open_], minlength=len(first))
    n_held = np.bincount(kid[open_ & (p.holder >= 0)], minlength=len(first))
    group = p.level[first].astype(np.int64) * n_sec + p.sector[first]
    tracked = quota >= 0
    out["posts_above_quota"] = np.bincount(
        group, weights=np.maximum(n_open - quota, 0) * tracked, minlength=size
    )
    out["surplus_holders"] = np.bincount(
        group, weights=np.maximum(n_held - quota, 0) * tracked, minlength=size
    )
    return out


# ---------------------------------------------------------------------------------------------
# every post and unit ever, for the outputs


def post_table(model: PipelineModel, names: bool = True) -> pd.DataFrame:
    """Every post that existed in the recorded years, by ident: the current ones, then those a
    restructuring removed (with their last year); `names=False` leaves them unnamed."""
    from pipeline_sim.rosters import names_of_posts, post_names, unit_names

    state = model.restructuring
    p = model.posts
    cols = _post_columns(model, np.arange(p.n))
    cols["last_year"] = np.full(p.n, model.year, np.int32)
    parts = [(cols, post_names(model, unit_names(model)) if names else None)]
    for gone, name_parts in state.retired_posts:
        parts.append((gone, names_of_posts(name_parts, model.sectors, model) if names else None))
    return _table(parts, "post")


def unit_table(model: PipelineModel) -> pd.DataFrame:
    """Every unit that existed in the recorded years, by ident (see post_table)."""
    from pipeline_sim.rosters import unit_names

    u = model.units
    cols = _unit_columns(model, np.arange(u.n))
    cols["last_year"] = np.full(u.n, model.year, np.int32)
    parts = [(cols, unit_names(model))]
    for gone, units, rows in model.restructuring.retired_units:
        parts.append((gone, unit_names(model, units)[rows]))
    return _table(parts, "unit")


def _table(parts: list[tuple[dict[str, np.ndarray], np.ndarray | None]], by: str) -> pd.DataFrame:
    """One frame of column blocks (with their names, or ''), ordered by `by`."""
    cols = {k: np.concatenate([c[k] for c, _ in parts]) for k in parts[0][0]}
    n = len(cols[by])
    names = [
        np.full(len(c[by]), "", dtype=object) if nm is None else np.asarray(nm, dtype=object)
        for c, nm in parts
    ]
    order = np.argsort(cols[by], kind="stable")
    frame = pd.DataFrame({by: cols[by][order], "name": np.concatenate(names)[order] if n else []})
    for k, v in cols.items():
        if k != by:
            frame[k] = v[order]
    return frame

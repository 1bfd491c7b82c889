"""Rotation ("luan chuyen", Reg. 65-QD/TW 2022), the two-term and non-local rules, the fast track.

- Planned post holders with at least `min_service_left_years` left are rotated at yearly rates by
  direction: *down* into a vacant head or deputy post of a unit directly below (preferably a weak
  unit, "to fill gaps"), *up* into a vacant deputy or member post of the unit above (a higher post:
  only for cadres who meet every condition of an appointment to it), *locality*
  by exchanging posts with a holder of the same grade and sector in another locality, *sector* by
  exchanging with a holder of the same rank in another sector of the same unit. No post is created
  for a rotated cadre. After `duration_years` a rotated cadre returns with probability `p_return`
  to the post held before (or, if that is taken, a vacant post of the same unit, sector and rank),
  otherwise stays; a cadre appointed during the rotation stays where the appointment put them.
  With `vertical_exchanges`, a down or up rotation that finds no vacancy exchanges posts across
  one level instead. `candidates` widens who may be rotated; `level_weights` scales the moves into
  each level's posts.
- Planned ahead (`ahead_share`, see pipeline_sim.world.moves): posts whose holder retires within
  the next year get a rotated cadre designated now, who takes the post when it falls vacant.
  (Moves into the posts freed at a congress, `congress_share`, are made by the congress phase.)
- Two-term rule (independent of `enabled`; applied at the congress): in a congress year a head
  who has held the same head post for `max_consecutive_terms` terms (a partly served term counts)
  is moved: exchanged with another such head of the same grade and sector in another locality, or
  else steps down (also when less than one term of service is left); `term_limit_levels` limits
  the rule to some levels.
- Non-local rule: in a congress year, local holders of `nonlocal_posts` are exchanged across
  localities, or step down; appointments to those posts only take non-locals.
- A weak unit led by a rotated head recovers with probability `weak_unit_recovery` a year.
- Fast track (seed 002): each year young high-merit staff are sent to vacant grassroots deputy
  posts and get a selection bonus and a shorter tenure requirement.
"""

from __future__ import annotations

import numpy as np

from pipeline_sim.kernels import expand_ranges, match, stable_argsort
from pipeline_sim.world import moves
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.operations import appoint, step_down, swap
from pipeline_sim.world.rules import appointment_eligible

NAME = "rotation"
SUMMARY = (
    "rotation by direction (down/up/locality/sector) and return; two-term and non-local rules; fast track"
)

HEAD, DEPUTY, MEMBER = 0, 1, 2


def run(model) -> None:
    scen = model.scenario
    rot = scen.rotation
    if rot.enabled:
        _returns(model)
        moves.arrive_ahead(model)
        _rotate(model)
        moves.designate_ahead(model)
    if model.is_congress_year and scen.congress.enabled:
        model.at_term_boundary = True  # those moved now serve the new term
        try:
            if rot.two_term_rule:
                _two_term(model)
            if model.nonlocal_post.any():
                _nonlocal(model)
        finally:
            model.at_term_boundary = False
    if rot.enabled:
        _recover_weak_units(model)
    if scen.fast_track.enabled:
        _fast_track(model)


# ---------------------------------------------------------------------------------------------
# helpers


_movable = moves.movable
_record_rotation = moves.record_rotation


def _posts_of_units(model, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query index, post) for every post of every unit in `units`."""
    owner, pos = expand_ranges(model.unit_post_start[units], model.unit_post_count[units])
    return owner, pos


def _into_vacancies(model, rows, owner, posts, weight, cause) -> np.ndarray:
    """Match cadres rows[owner[i]] to vacant posts[i] (preferring high `weight`), move them.

    A post that must be held by a non-local only takes a cadre from another locality.
    """
    c, p = model.cadres, model.posts
    ok = (~model.nonlocal_post[posts] | (c.home[rows[owner]] != p.locality[posts])) & ~p.closed[posts]
    owner, posts, weight = owner[ok], posts[ok], np.asarray(weight)[ok]
    if len(owner) == 0:
        return np.zeros(0, dtype=np.int64)
    rng = model.stream("rotation")
    score = weight + rng.random(len(owner))
    won = match(posts, rows[owner], score, 1, 1, np.zeros(int(posts.max()) + 1))
    _record_rotation(model, rows[owner[won]], cause, start=cause != "return")
    appoint(model, posts[won], rows[owner[won]], np.zeros(len(won), bool), kind="rotation", cause=cause)
    return rows[owner[won]]


def _random_partners(
    model,
    rows: np.ndarray,
    pool: np.ndarray,
    group_of,
    differ,
    tries: int = 5,
    pool_group_of=None,
    stream: str = "rotation",
) -> tuple:
    """Pair each of `rows` with a random member of `pool` in the same group where differ() holds.

    The group of a pool member is `pool_group_of` (default: `group_of`, as for rows). Unpaired
    rows draw again (up to `tries` times) among the pool members still free. Returns (rows,
    partners), each cadre used at most once on either side.
    """
    out_a, out_b = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    used = np.zeros(model.cadres.n, dtype=bool)
    rows = np.asarray(rows, dtype=np.int64)
    for _ in range(tries):
        rows = rows[~used[rows]]
        free = pool[~used[pool]]
        if len(rows) == 0 or len(free) == 0:
            break
        a, b = _draw_partners(model, rows, free, group_of, differ, pool_group_of or group_of, stream)
        if len(a) == 0:
            continue
        used[a] = used[b] = True
        out_a.append(a)
        out_b.append(b)
    return np.concatenate(out_a), np.concatenate(out_b)


def _draw_partners(model, rows, pool, group_of, differ, pool_group_of=None, stream: str = "rotation"):
    """One draw of a random partner per row; conflicting pairs are dropped."""
    rng = model.stream(stream)
    g_pool = (pool_group_of or group_of)(pool)
    order = stable_argsort(g_pool)
    pool, g_pool = pool[order], g_pool[order]
    g_rows = group_of(rows)
    lo = np.searchsorted(g_pool, g_rows, side="left")
    hi = np.searchsorted(g_pool, g_rows, side="right")
    has = hi > lo
    rows, lo, hi = rows[has], lo[has], hi[has]
    pick = pool[lo + (rng.random(len(rows)) * (hi - lo)).astype(np.int64)]
    ok = differ(rows, pick) & (rows != pick)
    rows, pick = rows[ok], pick[ok]
    # each cadre in at most one exchange
    both = np.concatenate([rows, pick])
    _, first_idx, counts = np.unique(both, return_index=True, return_counts=True)
    once = np.zeros(len(both), dtype=bool)
    once[first_idx[counts == 1]] = True
    keep = once[: len(rows)] & once[len(rows) :]
    return rows[keep], pick[keep]


# ---------------------------------------------------------------------------------------------
# rotation of planned cadres


def _rotate(model) -> None:
    c, p, rot = model.cadres, model.posts, model.scenario.rotation
    bottom = model.units.n_levels - 1
    candidates = np.flatnonzero(moves.candidates(model, model.year, staff=True))
    u = model.stream("rotation").random(len(candidates))
    d = rot.directions
    rates = rot.rate * np.cumsum([d.down, d.up, d.locality, d.sector])
    direction = np.searchsorted(rates, u, side="right")  # 0 down, 1 up, 2 locality, 3 sector, 4 none
    if rot.level_weights:  # each direction's rate times the weight of the level it moves into
        lvl = c.level[candidates].astype(np.int64)
        into = np.clip(np.stack([lvl + 1, lvl - 1, lvl, lvl], axis=1), 0, model.units.n_levels - 1)
        by_dir = rot.rate * np.array([d.down, d.up, d.locality, d.sector]) * moves.level_weight(model, into)
        direction = (u[:, None] >= np.cumsum(by_dir, axis=1)).sum(axis=1)
    # staff-pool cadres (rotation.candidates 'eligible_and_staff') only move down into a vacancy
    direction[(c.post[candidates] < 0) & (direction > 0)] = 4
    weak = model.units.weak

    # down: a vacant head or deputy post of a unit directly below, same sector
    rows = candidates[(direction == 0) & (c.level[candidates] < bottom)]
    down_all = rows
    # only cadres of a unit with such a vacancy below can move (the same pairs, fewer to expand)
    n_sec = len(model.sectors)
    vac = np.flatnonzero((p.holder < 0) & (p.rank <= DEPUTY) & (p.level > 0))
    below = np.zeros(model.units.n * n_sec, dtype=bool)
    below[model.units.parent[p.unit[vac]].astype(np.int64) * n_sec + p.sector[vac]] = True
    rows = rows[below[c.unit[rows].astype(np.int64) * n_sec + c.sector[rows]]]
    kid_owner, kids = model.children_of(c.unit[rows])
    o2, posts = _posts_of_units(model, kids)
    owner = kid_owner[o2]
    ok = (p.holder[posts] < 0) & (p.sector[posts] == c.sector[rows[owner]]) & (p.rank[posts] <= DEPUTY)
    owner, posts = owner[ok], posts[ok]
    moved = _into_vacancies(model, rows, owner, posts, rot.to_weak_share * 2.0 * weak[p.unit[posts]], "down")
    down_left = np.setdiff1d(down_all, moved) if rot.vertical_exchanges else None

    # up: a vacant deputy or member post of the unit above, same sector; a move to a higher post,
    # so only for cadres who meet every condition of an appointment to it
    rows = candidates[(direction == 1) & (c.level[candidates] > 0)]
    rows = rows[appointment_eligible(model)[rows]]
    parents = model.units.parent[c.unit[rows]]
    owner, posts = _posts_of_units(model, parents)
    ok = (p.holder[posts] < 0) & (p.sector[posts] == c.sector[rows[owner]]) & (p.rank[posts] >= DEPUTY)
    moved = _into_vacancies(model, rows, owner[ok], posts[ok], np.zeros(int(ok.sum())), "up")
    if rot.vertical_exchanges:
        _vertical_exchanges(model, down_left, np.setdiff1d(rows, moved), candidates)

    # exchanges: a partner is rotated too, so it must meet the same conditions (planned, 10+
    # years of service left, no ban) and not have moved this year
    eligible = np.zeros(c.n, dtype=bool)
    eligible[candidates] = True
    eligible &= (c.moved_year < model.year) & (c.post >= 0)  # an exchange is between holders
    # across localities: exchange with a holder of the same grade and sector elsewhere
    rows = candidates[(direction == 2) & (c.locality[candidates] >= 0)]
    pool = np.flatnonzero(eligible & (c.locality >= 0))
    a, b = _random_partners(
        model,
        rows,
        pool,
        group_of=lambda r: c.grade[r].astype(np.int64) * 16 + c.sector[r],
        differ=lambda r, q: (c.locality[r] != c.locality[q]) & _fits(model, r, q),
    )
    _exchange(model, a, b, "locality")
    eligible[a] = eligible[b] = False

    # across sectors: exchange with a holder of the same rank in another sector of the unit
    rows = candidates[direction == 3]
    rows = rows[eligible[rows]]
    a, b = _random_partners(
        model,
        rows,
        np.flatnonzero(eligible),
        group_of=lambda r: c.unit[r].astype(np.int64) * 4 + c.grade[r] % 4,
        differ=lambda r, q: (c.sector[r] != c.sector[q]) & _fits(model, r, q),
    )
    _exchange(model, a, b, "sector")


def _exchange(model, a: np.ndarray, b: np.ndarray, cause: str, cause_b: str | None = None) -> None:
    """Rotate cadres a[i] and b[i] by exchanging their posts; both count as rotated (b by
    `cause_b`, default the same cause)."""
    if cause_b is None:
        _record_rotation(model, np.concatenate([a, b]), cause)
    else:
        _record_rotation(model, a, cause)
        _record_rotation(model, b, cause_b)
    swap(model, a, b, "rotation", cause, cause_b=cause_b)


def _vertical_exchanges(model, down: np.ndarray, up: np.ndarray, candidates: np.ndarray) -> None:
    """Down and up rotations that found no vacant post exchange posts across one level instead
    (rotation.vertical_exchanges): a deputy or member of a unit with a head or deputy of a unit
    directly below it, same sector, both free to be rotated; the one moving up meets every
    appointment condition (a higher post). Each side keeps its direction: down and up."""
    c, u = model.cadres, model.units
    eligible = np.zeros(c.n, dtype=bool)
    eligible[candidates] = True
    eligible &= (c.moved_year < model.year) & (c.post >= 0)  # an exchange is between holders
    ready = eligible & appointment_eligible(model)  # may move up
    rank = c.grade % 4
    n_sec = len(model.sectors)

    def own(r):
        return c.unit[r].astype(np.int64) * n_sec + c.sector[r]

    def parent(r):
        return u.parent[c.unit[r]].astype(np.int64) * n_sec + c.sector[r]

    def fits(r, q):
        return _fits(model, r, q)

    def into(pool, shift):
        """Pool members whose move, into the level `shift` from theirs, its weight lets happen."""
        if not model.scenario.rotation.level_weights:
            return pool
        level = np.clip(c.level[pool].astype(np.int64) + shift, 0, u.n_levels - 1)
        w = moves.level_weight(model, level)
        return pool[model.stream(moves.STREAM).random(len(pool)) < w]

    # a unit's deputy or member going down, with a head or deputy of a unit below going up
    rows = down[eligible[down] & (rank[down] >= DEPUTY)]
    pool = into(np.flatnonzero(ready & (rank <= DEPUTY) & (c.level > 0)), -1)
    a, b = _random_partners(model, rows, pool, own, fits, pool_group_of=parent, stream=moves.STREAM)
    _exchange(model, a, b, "down", "up")
    eligible[a] = eligible[b] = ready[a] = ready[b] = False
    # a head or deputy going up, with a deputy or member of the unit above going down
    rows = up[ready[up] & (rank[up] <= DEPUTY) & (c.level[up] > 0)]
    pool = into(np.flatnonzero(eligible & (rank >= DEPUTY)), +1)
    a, b = _random_partners(model, rows, pool, parent, fits, pool_group_of=own, stream=moves.STREAM)
    _exchange(model, a, b, "up", "down")


def _returns(model) -> None:
    """Rotations that ended last year: with p_return, back to the post held before the rotation if
    it is vacant, else to a vacant post of the same unit, sector and rank (so of the same level
    and grade), else the cadre stays. A return is never a promotion over the post held before."""
    c, p, rot = model.cadres, model.posts, model.scenario.rotation
    ended = np.flatnonzero(
        (c.rotation_until == model.year - 1) & (c.status == ACTIVE) & (c.post >= 0) & (c.rotation_home >= 0)
    )
    rows = ended[model.stream("rotation").random(len(ended)) < rot.p_return]
    home = c.post[rows] == c.rotation_home[rows]  # back in that post already (exchanged back)
    c.rotation_home[rows[home]] = -1
    rows = rows[~home]
    before = c.rotation_home[rows].astype(np.int64)
    # the post held before, where it is vacant (two returnees may have held the same one)
    own = np.flatnonzero(p.holder[before] < 0)
    moved = _into_vacancies(model, rows, own, before[own], np.zeros(len(own)), "return")
    c.rotation_home[moved] = -1
    # else an equivalent post: same unit, sector and rank as the post held before
    rows = rows[c.rotation_home[rows] >= 0]
    before = c.rotation_home[rows].astype(np.int64)
    owner, posts = _posts_of_units(model, p.unit[before])
    ok = (
        (p.holder[posts] < 0)
        & (p.rank[posts] == p.rank[before[owner]])
        & (p.sector[posts] == p.sector[before[owner]])
    )
    moved = _into_vacancies(model, rows, owner[ok], posts[ok], np.zeros(int(ok.sum())), "return")
    c.rotation_home[moved] = -1


# ---------------------------------------------------------------------------------------------
# rules applied at congress


def _exchange_or_step_down(model, rows: np.ndarray, cause: str) -> None:
    """Move holders out of their posts by exchanging each with a holder of the same grade and sector
    in another locality (one term of service left on both sides, the non-local rule respected);
    those who cannot be exchanged step down."""
    c, rot = model.cadres, model.scenario.rotation
    movers = rows[c.t_retire[rows] - model.year >= rot.special_min_service_left_years]
    pool = np.flatnonzero(_movable(model, rot.special_min_service_left_years))
    a, b = _random_partners(
        model,
        movers,
        pool,
        group_of=lambda r: c.grade[r].astype(np.int64) * 16 + c.sector[r],
        differ=lambda r, q: (c.locality[r] != c.locality[q]) & _fits(model, r, q),
    )
    both = np.concatenate([a, b])
    model.tally.add_cadres(f"rotations_{cause}", both)
    c.rotated[both] = True
    swap(model, a, b, "rotation", cause)
    moved = np.zeros(c.n, dtype=bool)
    moved[both] = True
    step_down(model, rows[~moved[rows]], cause)


def _fits(model, r: np.ndarray, q: np.ndarray) -> np.ndarray:
    """After an exchange, each cadre is non-local where the post requires it."""
    c, p = model.cadres, model.posts
    post_r, post_q = c.post[r], c.post[q]
    ok_r = ~model.nonlocal_post[post_q] | (c.home[r] != p.locality[post_q])
    ok_q = ~model.nonlocal_post[post_r] | (c.home[q] != p.locality[post_r])
    return ok_r & ok_q


def _two_term(model) -> None:
    c, p, scen = model.cadres, model.posts, model.scenario
    sim = scen.simulation
    held = np.flatnonzero((p.holder >= 0) & (p.rank == HEAD))
    if scen.rotation.term_limit_levels:
        held = held[
            np.isin(p.level[held], [model.levels.index(lv) for lv in scen.rotation.term_limit_levels])
        ]
    first_term = (p.term_start[held] - sim.start_year) // sim.term_years
    terms = model.term_index - first_term + 1
    limited = p.holder[held[terms >= scen.rotation.max_consecutive_terms]].astype(np.int64)
    limited = limited[c.status[limited] == ACTIVE]
    _exchange_or_step_down(model, limited, "term_limit")


def _nonlocal(model) -> None:
    c, p = model.cadres, model.posts
    held = np.flatnonzero(model.nonlocal_post & (p.holder >= 0))
    rows = p.holder[held].astype(np.int64)
    local = rows[c.home[rows] == p.locality[held]]
    _exchange_or_step_down(model, local, "nonlocal")


# ---------------------------------------------------------------------------------------------
# effects and the fast track


def _recover_weak_units(model) -> None:
    c, p, u = model.cadres, model.posts, model.units
    heads = np.flatnonzero((p.rank == HEAD) & (p.holder >= 0) & u.weak[p.unit])
    rotated = c.rotation_until[p.holder[heads]] >= model.year
    units = np.unique(p.unit[heads[rotated]])
    draw = model.stream("rotation").random(u.n)
    u.weak[units[draw[units] < model.scenario.rotation.weak_unit_recovery]] = False


def _fast_track(model) -> None:
    c, p, ft = model.cadres, model.posts, model.scenario.fast_track
    rng = model.stream("rotation")
    n_take = round(ft.yearly_intake * len(p.key_posts) / 1000)
    age = model.year + 0.5 - c.birth
    young = np.flatnonzero((c.status == ACTIVE) & (c.post < 0) & ~c.fast_track & (age < ft.max_age))
    if n_take == 0 or len(young) == 0:
        return
    cut = np.quantile(c.merit[young], 1.0 - ft.top_share)
    pool = young[c.merit[young] >= cut]
    chosen = pool[rng.permutation(len(pool))[:n_take]]
    bottom = model.units.n_levels - 1
    vacant = np.flatnonzero(
        (p.holder < 0) & (p.level == bottom) & (p.rank == DEPUTY) & ~model.nonlocal_post & ~p.closed
    )
    vacant = vacant[rng.permutation(len(vacant))]
    m = min(len(chosen), len(vacant))
    chosen, posts = chosen[:m], vacant[:m]
    c.fast_track[chosen] = True
    model.tally.add_cadres("rotations_fast_track", chosen)
    appoint(model, posts, chosen, np.zeros(m, bool), kind="rotation", cause="fast_track")

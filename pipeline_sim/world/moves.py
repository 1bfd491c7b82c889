"""Rotation moves shared by the rotation and congress phases (Reg. 65-QD/TW 2022).

Who may be rotated, how a rotation is recorded, and moves of rotated cadres *into posts*: a post
falls vacant (at the congress, or because its holder retires) and a rotated cadre from elsewhere
takes it, by one of the four directions of Reg. 65 Art. 4:

- *down*: a head or deputy post, taken by a deputy or member of the unit directly above, same
  sector (or by a cadre of its staff pool, with rotation.candidates 'eligible_and_staff');
- *up*: a deputy or member post, taken by a holder of a unit directly below, same sector: a move
  to a higher post, so only for a cadre who meets every condition of an appointment to it;
- *locality*: any post, taken by a holder of the same rank and sector in a unit of the same level
  in another locality (a few such units are searched);
- *sector*: any post, taken by a holder of the same rank in another sector of the same unit.

No post is created (rules.md §2): a rotated cadre takes a post that is vacant, and the post left
behind opens as the next link of the vacancy chain, filled by the ordinary appointment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.kernels import expand_ranges, match, stable_argsort
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.hierarchy import STAFF_RANK
from pipeline_sim.world.operations import N_PEERS, appoint, peer_units
from pipeline_sim.world.rules import appointment_eligible, planning_eligible

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel

HEAD, DEPUTY, MEMBER = 0, 1, 2
#: directions of a rotation into a post, in the order of rotation.directions
DIRECTIONS = ("down", "up", "locality", "sector")
#: candidates taken from each place (unit, sector, rank), in random order, for a post
PER_PLACE = 8
#: the random stream of the moves into posts (separate from the yearly rotation's)
STREAM = "rotation_moves"


def movable(model: PipelineModel, min_left: float) -> np.ndarray:
    """Holders free to be moved this year with at least `min_left` years of service left."""
    c = model.cadres
    return (
        (c.status == ACTIVE)
        & (c.post >= 0)
        & (c.moved_year < model.year)
        & (c.rotation_until < model.year)
        & (c.t_retire - model.year >= min_left)
        & ~c.pending_removal
    )


def candidates(model: PipelineModel, at_year: float, staff: bool = False) -> np.ndarray:
    """Cadres who may be rotated for a move taking effect at `at_year`.

    Holders free to move, with `rotation.min_service_left_years` of service left then and no ban,
    who are planned (in a planning pool) or, with ``rotation.candidates`` 'eligible', meet the
    planning conditions (standing for the planning of posts the model keeps no pools for). With
    'eligible_and_staff' and `staff`, also staff-pool cadres who meet them (for moves down into a
    vacant post: they hold no post to exchange).
    """
    c, rot = model.cadres, model.scenario.rotation
    chosen = c.n_planned > 0
    if rot.candidates != "planned":
        chosen = chosen | planning_eligible(model)
    ok = movable(model, 0.0)
    if staff and rot.candidates == "eligible_and_staff":
        ok = ok | (
            (c.status == ACTIVE)
            & (c.post < 0)
            & (c.moved_year < model.year)
            & (c.rotation_until < model.year)
            & ~c.pending_removal
        )
    ok &= (c.t_retire - at_year >= rot.min_service_left_years) & chosen
    return ok & (c.ban_until <= at_year)


def level_weight(model: PipelineModel, levels: np.ndarray) -> np.ndarray | float:
    """rotation.level_weights for each level code in `levels` (1 for levels not named)."""
    weights = model.scenario.rotation.level_weights
    if not weights:
        return 1.0
    table = np.array([weights.get(name, 1.0) for name in model.levels])
    return table[levels]


def record_rotation(
    model: PipelineModel, rows: np.ndarray, cause: str, start: bool = True, first_year: int | None = None
) -> None:
    """Count rotation moves by direction; a move that starts a rotation marks the cadre as rotated
    until `duration_years` after `first_year` (default: this year) and remembers the post held
    before, for the return."""
    c = model.cadres
    model.tally.add_cadres(f"rotations_{cause}", rows)
    if start:
        first = model.year if first_year is None else first_year
        c.rotated[rows] = True
        c.rotation_home[rows] = c.post[rows]  # the post held before: a return goes back to it
        c.rotation_until[rows] = first + model.scenario.rotation.duration_years - 1


def draw_directions(model: PipelineModel, n: int, rng: np.random.Generator) -> np.ndarray:
    """Directions (0 down, 1 up, 2 locality, 3 sector) by the shares of rotation.directions."""
    d = model.scenario.rotation.directions
    shares = np.cumsum([d.down, d.up, d.locality, d.sector])
    return np.minimum(np.searchsorted(shares / shares[-1], rng.random(n), side="right"), 3)


def _queries(model: PipelineModel, posts: np.ndarray, direction: np.ndarray):
    """(post index, place key, direction) of every place whose holders may rotate into each post."""
    p, u = model.posts, model.units
    bottom = u.n_levels - 1
    unit, sector, rank = p.unit[posts].astype(np.int64), p.sector[posts], p.rank[posts]
    idx = np.arange(len(posts))
    owners, keys, dirs = [], [], []

    def add(owner: np.ndarray, key: np.ndarray, d: int) -> None:
        owners.append(owner)
        keys.append(key)
        dirs.append(np.full(len(owner), d, dtype=np.int8))

    # down: holders (and staff, if they may be rotated) of the unit above
    down = idx[(direction == 0) & (p.level[posts] > 0) & (rank <= DEPUTY)]
    parent = u.parent[unit[down]].astype(np.int64)
    for r in (DEPUTY, MEMBER, STAFF_RANK):  # the head of a unit is not sent down
        add(down, model.place_key(parent, sector[down], r), 0)
    # up: holders of the units below
    up = idx[(direction == 1) & (p.level[posts] < bottom) & (rank >= DEPUTY)]
    kid_owner, kids = model.children_of(unit[up])
    for r in (HEAD, DEPUTY, MEMBER):
        add(up[kid_owner], model.place_key(kids.astype(np.int64), sector[up[kid_owner]], r), 1)
    # locality: the same rank and sector in a few units of the level in other localities
    loc = idx[direction == 2]
    if len(loc):
        peer_owner, peers = peer_units(model, posts[loc], N_PEERS, STREAM)
        add(
            loc[peer_owner],
            model.place_key(peers.astype(np.int64), sector[loc[peer_owner]], rank[loc[peer_owner]]),
            2,
        )
    # sector: the same rank in the other sectors of the unit
    sec = idx[direction == 3]
    for s in range(len(model.sectors)):
        other = sec[sector[sec] != s]
        add(other, model.place_key(unit[other], np.full(len(other), s), rank[other]), 3)
    return np.concatenate(owners), np.concatenate(keys), np.concatenate(dirs)


def pair_ok(
    model: PipelineModel, posts: np.ndarray, rows: np.ndarray, direction: np.ndarray, at_year: float
) -> np.ndarray:
    """Pairs (post, cadre row) allowed: non-local where the post requires it, the first-election
    age of the post's bodies at a congress, and for a move up every appointment condition."""
    c, p = model.cadres, model.posts
    ok = ~model.nonlocal_post[posts] | (c.home[rows] != p.locality[posts])
    if model.at_term_boundary:
        ok &= model.bodies.admissible(model, posts, rows, model.year + 1)
    up = direction == 1
    if up.any():
        eligible = appointment_eligible(model, at_year)
        ok[up] &= eligible[rows[up]] & (c.grade[rows[up]] > p.grade[posts[up]])
    return ok


def choose(
    model: PipelineModel, posts: np.ndarray, at_year: float, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rotated cadre from elsewhere for each of `posts`, where one can be found.

    Each post draws a direction; candidates are looked for in the places of that direction (up to
    PER_PLACE of each, in random order); down moves prefer weak units (rotation.to_weak_share).
    Returns (post index, cadre row, direction) of the pairs chosen, each post and cadre at most once.
    """
    c, p = model.cadres, model.posts
    rot = model.scenario.rotation
    rng = model.stream(STREAM)
    n = len(posts)
    direction = draw_directions(model, n, rng)
    prio = rng.random(n)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8))
    free = candidates(model, at_year, staff=True)
    if exclude is not None:
        free[exclude] = False
    pool = np.flatnonzero(free)
    if n == 0 or len(pool) == 0:
        return empty
    pool = pool[rng.permutation(len(pool))]
    key = c.place[pool]
    order = stable_argsort(key)
    pool, key = pool[order], key[order]
    q_owner, q_key, q_dir = _queries(model, posts, direction)
    lo = np.searchsorted(key, q_key, side="left")
    hi = np.searchsorted(key, q_key, side="right")
    pos_owner, pos = expand_ranges(lo, np.minimum(hi - lo, PER_PLACE))
    owner, rows, dirs = q_owner[pos_owner], pool[pos], q_dir[pos_owner]
    ok = pair_ok(model, posts[owner], rows, dirs, at_year)
    owner, rows, dirs = owner[ok], rows[ok], dirs[ok]
    if len(owner) == 0:
        return empty
    weak = model.units.weak[p.unit[posts[owner]]] & (dirs == 0)
    score = rng.random(len(owner)) + rot.to_weak_share * 2.0 * weak
    won = match(owner, rows, score, 1, 1, prio)
    return owner[won], rows[won], dirs[won]


def move_in(
    model: PipelineModel, posts: np.ndarray, rows: np.ndarray, direction: np.ndarray, first_year: int
) -> None:
    """Rotate cadre rows[i] into vacant post posts[i] by direction[i]; rotations counted by direction."""
    for d, cause in enumerate(DIRECTIONS):
        sel = direction == d
        if not sel.any():
            continue
        record_rotation(model, rows[sel], cause, first_year=first_year)
        appoint(model, posts[sel], rows[sel], np.zeros(int(sel.sum()), bool), kind="rotation", cause=cause)


def rotate_into(model: PipelineModel, posts: np.ndarray, at_year: float, first_year: int) -> int:
    """Rotated cadres from elsewhere into vacant `posts` (see `choose`); returns the moves made."""
    owner, rows, direction = choose(model, posts, at_year)
    move_in(model, posts[owner], rows, direction, first_year)
    return len(rows)


def at_congress(model: PipelineModel) -> None:
    """At the congress, after the age rules and before the elections: a share
    (rotation.congress_share) of the posts vacant then is taken by rotated cadres from elsewhere,
    for the new term."""
    rot = model.scenario.rotation
    if not rot.enabled or rot.congress_share <= 0:
        return
    vacant = np.flatnonzero((model.posts.holder < 0) & ~model.posts.closed)  # closed: above a quota
    share = rot.congress_share * level_weight(model, model.posts.level[vacant])
    chosen = vacant[model.stream(STREAM).random(len(vacant)) < share]
    rotate_into(model, chosen, at_year=model.year + 1, first_year=model.year + 1)


def designate_ahead(model: PipelineModel) -> None:
    """Plan moves a year ahead: a share (rotation.ahead_share) of the posts whose holder reaches
    retirement before next year's rotation each get a rotated cadre from elsewhere, designated now
    (under the conditions that will hold next year) to take the post when it falls vacant.

    Not in a congress year: the holders who would retire next year step down at this congress
    (less than a term of service left), and moves into the posts freed there are the congress's.
    """
    rot, scen = model.scenario.rotation, model.scenario
    model.rotation_ahead = None
    if rot.ahead_share <= 0 or (model.is_congress_year and scen.congress.enabled):
        return
    c, p = model.cadres, model.posts
    held = np.flatnonzero(p.holder >= 0)
    h = p.holder[held].astype(np.int64)
    ext = model.bodies.retirement_extension(model)
    ext = ext[h] if np.ndim(ext) else ext
    leaving = held[(c.status[h] == ACTIVE) & (c.t_retire[h] + ext < model.year + 2)]
    rng = model.stream(STREAM)
    share = rot.ahead_share * level_weight(model, p.level[leaving])
    chosen = leaving[rng.random(len(leaving)) < share]
    owner, rows, direction = choose(model, chosen, at_year=model.year + 1)
    model.rotation_ahead = {
        "post": chosen[owner],
        "row": rows,
        "uid": c.uid[rows].copy(),
        "place": c.place[rows].copy(),
        "direction": direction,
    }


def arrive_ahead(model: PipelineModel) -> None:
    """Cadres designated last year move into their posts, now vacant, if they still qualify (in
    service, in the same place, still free to be rotated and admissible); else the post is left
    to the ordinary appointment."""
    plan = getattr(model, "rotation_ahead", None)
    model.rotation_ahead = None
    if not plan or not len(plan["row"]):
        return
    c, p = model.cadres, model.posts
    post, row, direction = plan["post"], plan["row"], plan["direction"]
    ok = row < c.n
    row_ok = np.where(ok, row, 0)
    ok &= (c.uid[row_ok] == plan["uid"]) & (c.place[row_ok] == plan["place"]) & (p.holder[post] < 0)
    ok &= ~p.closed[post]  # a post above its kind's quota that fell vacant is not filled
    ok &= candidates(model, model.year, staff=True)[row_ok]
    idx = np.flatnonzero(ok)
    idx = idx[pair_ok(model, post[idx], row[idx], direction[idx], model.year)]
    move_in(model, post[idx], row[idx], direction[idx], model.year)

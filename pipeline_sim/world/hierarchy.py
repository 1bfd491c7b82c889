"""Units and posts: the fixed structure of the world, as arrays.

Grades order every place a cadre can stand: ``grade = 4 * level + rank`` with rank 0 head,
1 deputy, 2 member and 3 the staff pool, so a smaller grade is a higher place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline_sim.scenario.schema import RANKS, Hierarchy
from pipeline_sim.world.structure import largest_remainder, unit_tree

STAFF_RANK = 3


def grade_of(level: np.ndarray | int, rank: np.ndarray | int):
    """The grade of a place: smaller is higher."""
    return 4 * np.asarray(level, dtype=np.int16) + np.asarray(rank, dtype=np.int16)


@dataclass
class Units:
    level: np.ndarray  # int8
    parent: np.ndarray  # int32, -1 at the top
    locality: np.ndarray  # int32: ancestor at the second level (a province); -1 for the top unit
    weak: np.ndarray  # bool: weak or stagnant condition
    ancestor: np.ndarray  # int32 [n_units, n_levels]: ancestor at each level (-1 below own level)
    n_levels: int
    #: permanent number of each unit, as the outputs name it (its row until a restructuring)
    ident: np.ndarray = field(default=None)  # type: ignore[assignment]
    #: per level: the levels with units above it (its index until a level is abolished); level
    #: differences that mean steps up the hierarchy are differences of depth
    depth: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.ident is None:
            self.ident = np.arange(len(self.level), dtype=np.int64)
        if self.depth is None:
            self.depth = np.arange(self.n_levels, dtype=np.int64)

    @property
    def n(self) -> int:
        return len(self.level)


@dataclass
class Posts:
    unit: np.ndarray  # int32
    level: np.ndarray  # int8
    sector: np.ndarray  # int8
    rank: np.ndarray  # int8
    key: np.ndarray  # bool
    grade: np.ndarray  # int16
    locality: np.ndarray  # int32 (the unit's)
    key_index: np.ndarray  # int32: row in the planning pools, -1 if not a key post
    key_posts: np.ndarray  # int64: post id of each key index
    # state
    holder: np.ndarray  # int32 row in the cadre table, -1 vacant
    vacant_since: np.ndarray  # int32 year the current vacancy opened, -1 if held
    vacancy_assessed: np.ndarray  # bool: the current vacancy was already assessed for a gap
    vacancy_chain: np.ndarray  # int64 chain id of the current vacancy, -1 none
    term_start: np.ndarray  # int32 first year of the holder's current run in this post
    #: permanent number of each post, as the outputs name it (its row until a restructuring)
    ident: np.ndarray = field(default=None)  # type: ignore[assignment]
    #: a post above its kind's quota that fell vacant: never filled, removed at the next
    #: restructure phase (pipeline_sim.world.restructuring)
    closed: np.ndarray = field(default=None)  # type: ignore[assignment]
    #: per post, the quota of its kind (unit, sector, rank) where a restructuring left the kind
    #: above it, else -1; None when no kind is above its quota
    quota: np.ndarray | None = None
    #: per post, the surplus of its kind at the restructuring (holders above the quota)
    surplus_start: np.ndarray | None = None
    #: per post, the year of the restructuring that set its kind's quota
    quota_year: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.ident is None:
            self.ident = np.arange(len(self.unit), dtype=np.int64)
        if self.closed is None:
            self.closed = np.zeros(len(self.unit), dtype=bool)

    @property
    def n(self) -> int:
        return len(self.unit)


def build_units(h: Hierarchy, rng: np.random.Generator) -> Units:
    """The unit tree of a hierarchy, with `scale` applied below the top level."""
    tree = unit_tree(list(h.levels), h.units, h.scale)
    n_levels = len(h.levels)
    level, parent = tree.level, tree.parent.astype(np.int32)
    weak = rng.random(len(level)) < h.weak_unit_share
    weak[0] = False
    return derive_units(level, parent, weak, n_levels)


def derive_units(level: np.ndarray, parent: np.ndarray, weak: np.ndarray, n_levels: int, **more) -> Units:
    """Units with their ancestors and localities (the ancestor at the second level) derived from
    the tree (units numbered top-down, so every parent comes before its children)."""
    level = np.asarray(level, dtype=np.int8)
    parent = np.asarray(parent, dtype=np.int32)
    n = len(level)
    ancestor = np.full((n, n_levels), -1, dtype=np.int32)
    ancestor[np.arange(n), level] = np.arange(n)
    for li in range(1, n_levels):
        rows = np.flatnonzero(level == li)
        ancestor[rows, :li] = ancestor[parent[rows], :li]
    locality = ancestor[:, 1].copy() if n_levels > 1 else np.full(n, -1, np.int32)
    return Units(
        level=level,
        parent=parent,
        locality=locality,
        weak=np.asarray(weak, dtype=bool),
        ancestor=ancestor,
        n_levels=n_levels,
        **more,
    )


def build_posts(h: Hierarchy, units: Units) -> Posts:
    """Posts of every unit by sector and rank, ordered by unit, sector and rank."""
    per_unit_rows = []  # (level, sector, rank, count)
    for li, lvl in enumerate(h.levels):
        for si, sec in enumerate(h.sectors):
            rc = h.posts.get(lvl, {}).get(sec)
            if rc is None:
                continue
            for ri, rank in enumerate(RANKS):
                c = getattr(rc, rank)
                if c:
                    per_unit_rows.append((li, si, ri, c))
    unit_parts, sector_parts, rank_parts = [], [], []
    for li, si, ri, c in per_unit_rows:
        units_here = np.flatnonzero(units.level == li)
        unit_parts.append(np.repeat(units_here, c))
        sector_parts.append(np.full(len(units_here) * c, si, np.int8))
        rank_parts.append(np.full(len(units_here) * c, ri, np.int8))
    unit = np.concatenate(unit_parts).astype(np.int32)
    sector = np.concatenate(sector_parts)
    rank = np.concatenate(rank_parts)
    order = np.lexsort((rank, sector, unit))
    return make_posts(units, h.key_ranks, unit[order], sector[order], rank[order])


def make_posts(
    units: Units, key_ranks: list[str], unit, sector, rank, holder=None, term_start=None, ident=None
) -> Posts:
    """A Posts table of posts ordered by unit, sector and rank, with its derived columns; posts
    vacant and numbered by their rows unless `holder`, `term_start` and `ident` are given."""
    unit = np.asarray(unit, dtype=np.int32)
    rank = np.asarray(rank, dtype=np.int8)
    n = len(unit)
    level = units.level[unit]
    key = np.isin(rank, [RANKS.index(r) for r in key_ranks])
    key_posts = np.flatnonzero(key)
    key_index = np.full(n, -1, np.int32)
    key_index[key_posts] = np.arange(len(key_posts))
    return Posts(
        unit=unit,
        level=level,
        sector=np.asarray(sector, dtype=np.int8),
        rank=rank,
        key=key,
        grade=grade_of(level, rank),
        locality=units.locality[unit],
        key_index=key_index,
        key_posts=key_posts,
        holder=np.full(n, -1, np.int32) if holder is None else np.asarray(holder, dtype=np.int32),
        vacant_since=np.full(n, -1, np.int32),
        vacancy_assessed=np.zeros(n, bool),
        vacancy_chain=np.full(n, -1, np.int64),
        term_start=np.full(n, -1, np.int32) if term_start is None else np.asarray(term_start, np.int32),
        ident=None if ident is None else np.asarray(ident, dtype=np.int64),
    )


def staff_targets(h: Hierarchy, units: Units) -> np.ndarray:
    """Staff-pool size per unit and sector [n_units, n_sectors], split by the sector's post count."""
    n_sec = len(h.sectors)
    out = np.zeros((units.n, n_sec), dtype=np.int64)
    for li, lvl in enumerate(h.levels):
        total = h.staff.get(lvl, 0)
        if total == 0:
            continue
        weights = np.array(
            [
                sum(
                    getattr(h.posts.get(lvl, {}).get(sec), r, 0) if h.posts.get(lvl, {}).get(sec) else 0
                    for r in RANKS
                )
                for sec in h.sectors
            ],
            dtype=float,
        )
        if weights.sum() == 0:
            weights = np.ones(n_sec)
        out[units.level == li] = largest_remainder(total, weights)
    return out

"""Changes to the unit tree by a restructuring: merging the units of a level, abolishing a level.

Pure functions over the level and parent of every unit, used by the loader (to check a scenario's
restructuring against the full-scale structure) and by the model (to apply it). Units are always
numbered top-down, level by level, and within a level by their parent's number and then by the
number of their first member, as the set-up numbers them (pipeline_sim.world.hierarchy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def split_evenly(n_children: int, n_parents: int) -> np.ndarray:
    """Children per parent, as equal as possible, larger shares first."""
    base, extra = divmod(n_children, n_parents)
    return np.full(n_parents, base, dtype=np.int64) + (np.arange(n_parents) < extra)


def level_counts(levels: list[str], units: dict[str, int], scale: float) -> list[int]:
    """Units per level after `scale` (below the top level; at least as many as the level above)."""
    counts = [1]
    for lvl in levels[1:]:
        counts.append(max(counts[-1], round(units[lvl] * scale)))
    return counts


@dataclass
class Tree:
    """The unit tree: level and parent of every unit (parent -1 at the top)."""

    level: np.ndarray  # int8
    parent: np.ndarray  # int64
    n_levels: int

    @property
    def n(self) -> int:
        return len(self.level)

    def units_of(self, level: int) -> np.ndarray:
        return np.flatnonzero(self.level == level)


def unit_tree(levels: list[str], units: dict[str, int], scale: float) -> Tree:
    """The tree the set-up builds: each level's units shared out evenly over the level above."""
    counts = level_counts(levels, units, scale)
    level_parts, parent_parts = [np.zeros(1, np.int8)], [np.full(1, -1, np.int64)]
    first = [0]
    for li in range(1, len(levels)):
        per_parent = split_evenly(counts[li], counts[li - 1])
        parents = first[li - 1] + np.repeat(np.arange(counts[li - 1]), per_parent)
        first.append(first[li - 1] + counts[li - 1])
        level_parts.append(np.full(counts[li], li, np.int8))
        parent_parts.append(parents.astype(np.int64))
    return Tree(np.concatenate(level_parts), np.concatenate(parent_parts), len(levels))


@dataclass
class Step:
    """One change of the tree: the new tree and where each unit of the old one went."""

    tree: Tree
    #: new unit of each old unit (-1: abolished)
    to_new: np.ndarray
    #: for each old unit abolished, the new unit of its parent (else -1)
    up: np.ndarray
    #: new units made of two or more old units
    merged: np.ndarray


def _renumber(level: np.ndarray, parent: np.ndarray, key: np.ndarray) -> np.ndarray:
    """New number of each unit: top-down by level, then by the parent's new number, then by key."""
    n = len(level)
    pos = np.full(n, -1, np.int64)
    nxt = 0
    for lvl in np.unique(level):
        rows = np.flatnonzero(level == lvl)
        par = parent[rows]
        par_pos = np.where(par >= 0, pos[np.maximum(par, 0)], -1)
        rows = rows[np.lexsort((key[rows], par_pos))]
        pos[rows] = np.arange(nxt, nxt + len(rows))
        nxt += len(rows)
    return pos


def merge(tree: Tree, level: int, group: np.ndarray) -> Step:
    """Merge the units of `level` by `group` (a group number 0..G-1 for each of them, in order):
    each group becomes one unit, under the parent of its first member; children follow."""
    n = tree.n
    members = tree.units_of(level)
    group = np.asarray(group, dtype=np.int64)
    n_groups = int(group.max()) + 1 if len(group) else 0
    first = np.full(n_groups, n, np.int64)
    np.minimum.at(first, group, members)
    size = np.bincount(group, minlength=n_groups)
    # proto units: the old ones (those of `level` dropped), then one per group
    proto_of = np.arange(n, dtype=np.int64)
    proto_of[members] = n + group
    keep = np.ones(n + n_groups, dtype=bool)
    keep[members] = False
    p_level = np.r_[tree.level, np.full(n_groups, level, np.int8)]
    old_parent = np.r_[tree.parent, tree.parent[first]]
    p_parent = np.where(old_parent >= 0, proto_of[np.maximum(old_parent, 0)], -1)
    p_key = np.r_[np.arange(n), first]
    kept = np.flatnonzero(keep)
    # renumber the kept protos
    local = np.full(n + n_groups, -1, np.int64)
    local[kept] = np.arange(len(kept))
    par_local = np.where(p_parent[kept] >= 0, local[np.maximum(p_parent[kept], 0)], -1)
    pos = _renumber(p_level[kept], par_local, p_key[kept])
    new_of_proto = np.full(n + n_groups, -1, np.int64)
    new_of_proto[kept] = pos
    to_new = new_of_proto[proto_of]
    new_level = np.empty(len(kept), np.int8)
    new_level[pos] = p_level[kept]
    new_parent = np.empty(len(kept), np.int64)
    new_parent[pos] = np.where(par_local >= 0, pos[np.maximum(par_local, 0)], -1)
    merged = np.zeros(len(kept), dtype=bool)
    merged[new_of_proto[n + np.flatnonzero(size >= 2)]] = True
    return Step(Tree(new_level, new_parent, tree.n_levels), to_new, np.full(n, -1, np.int64), merged)


def abolish(tree: Tree, level: int) -> Step:
    """Abolish `level`: its units disappear and their children attach to their parent."""
    n = tree.n
    gone = tree.level == level
    parent = tree.parent.copy()
    # children of abolished units take the abolished unit's parent
    child = np.flatnonzero((parent >= 0) & gone[np.maximum(parent, 0)])
    parent[child] = tree.parent[parent[child]]
    kept = np.flatnonzero(~gone)
    local = np.full(n, -1, np.int64)
    local[kept] = np.arange(len(kept))
    par_local = np.where(parent[kept] >= 0, local[np.maximum(parent[kept], 0)], -1)
    pos = _renumber(tree.level[kept], par_local, kept)
    to_new = np.full(n, -1, np.int64)
    to_new[kept] = pos
    new_level = np.empty(len(kept), np.int8)
    new_level[pos] = tree.level[kept]
    new_parent = np.empty(len(kept), np.int64)
    new_parent[pos] = np.where(par_local >= 0, pos[np.maximum(par_local, 0)], -1)
    up = np.full(n, -1, np.int64)
    up[gone] = to_new[tree.parent[gone]]
    return Step(Tree(new_level, new_parent, tree.n_levels), to_new, up, np.zeros(len(kept), dtype=bool))


def rule_groups(tree: Tree, level: int, target: int) -> np.ndarray:
    """Groups of the units of `level` when no grouping file is given: each parent keeps a share of
    `target` proportional to its number of children (at least one, at most all of them), and
    merges its children, in order, into that many groups of sizes as equal as possible."""
    members = tree.units_of(level)
    parent = tree.parent[members]
    parents, n_kids = np.unique(parent, return_counts=True)
    target = int(min(max(target, len(parents)), len(members)))
    share = largest_remainder(target, n_kids, low=1, high=n_kids)  # at least one, at most all
    # each member's position among its parent's children, then its group within the parent
    which = np.searchsorted(parents, parent)
    order = np.argsort(parent, kind="stable")  # children of a parent, in unit order
    starts = np.r_[0, np.cumsum(n_kids)[:-1]]
    j = np.empty(len(members), np.int64)
    j[order] = np.arange(len(members)) - starts[which[order]]
    n_k, s_k = n_kids[which], share[which]
    base, extra = n_k // s_k, n_k % s_k
    big = extra * (base + 1)  # the first `extra` groups have one more member
    within = np.where(j < big, j // (base + 1), extra + (j - big) // np.maximum(base, 1))
    g0 = np.r_[0, np.cumsum(share)[:-1]]
    return g0[which] + within


def largest_remainder(total: int, weights: np.ndarray, low=0, high=None) -> np.ndarray:
    """Integer shares of `total` proportional to `weights`, each between `low` and `high` (scalars
    or arrays; `high` none: no bound), that add up to `total` (which the bounds must allow): the
    floors, then one more at a time to the largest remainder (one less to the largest excess),
    the first on ties.

    One step at a time, a share's next remainder is one less than its last, so the steps are the
    largest of all the remainders to come: they are taken at once, in that order."""
    raw = total * weights / weights.sum()
    share = np.clip(np.floor(raw).astype(np.int64), low, high)
    short = int(total - share.sum())
    if short == 0:
        return share
    if short < 0:
        room = share - low
    elif high is None:
        room = np.full(len(share), short)
    else:
        room = high - share
    steps = np.minimum(room, abs(short))  # none takes more steps than are short
    who = np.repeat(np.arange(len(share)), steps)
    k = np.arange(len(who)) - np.repeat(np.cumsum(steps) - steps, steps)  # its k-th step
    # the remainder before a share's k-th step up, or its excess before its k-th step down
    value = raw[who] - (share[who] + k) if short > 0 else (share[who] - k) - raw[who]
    taken = who[np.lexsort((who, -value))[: abs(short)]]
    return share + np.sign(short) * np.bincount(taken, minlength=len(share))


def scaled_target(target: int, scale: float) -> int:
    """A full-scale number of units at `scale` (at least one)."""
    return max(1, round(target * scale))


def merge_groups(
    tree: Tree, level: int, groups_file: str, target: int | None, cross_parents: bool, scale: float
):
    """The groups of a merger of `level` in `tree`: from the grouping file at full scale (the file
    describes the full-scale structure), else by the rule (`rule_groups`) with `target`, or the
    file's number of groups, scaled. Raises GroupingError for a file that cannot be used."""
    from pipeline_sim.scenario.groupings import groups_for_level, read_rows

    members = tree.units_of(level)
    if groups_file and scale == 1.0:
        parent = None if cross_parents else tree.parent[members]
        return groups_for_level(Path(groups_file), len(members), parent)
    if target is None:  # a file at another scale: as many groups as it has, scaled
        target = len({label for _, _, label in read_rows(Path(groups_file))})
    return rule_groups(tree, level, scaled_target(target, scale))


def tree_steps(tree: Tree, levels: list[str], steps, scale: float):
    """Apply the merge and abolish steps of one event to a tree, in order: yields (step index,
    Step) for each, and (step index, None) for a 'posts' step (the tree is unchanged).

    `steps` are (index, RestructuringStep) pairs.
    """
    for i, step in steps:
        if step.action == "merge":
            li = levels.index(step.level)
            group = merge_groups(tree, li, step.groups, step.target, step.cross_parents, scale)
            result = merge(tree, li, group)
        elif step.action == "abolish":
            result = abolish(tree, levels.index(step.level))
        else:
            yield i, None
            continue
        tree = result.tree
        yield i, result


def restructuring_events(steps) -> list[tuple[int, int, list]]:
    """The events of a scenario's restructuring steps: (year, month, [(index, step), ...]) by date,
    the steps of one date in the order given."""
    by_date: dict[tuple[int, int], list] = {}
    for i, step in enumerate(steps):
        by_date.setdefault((step.year, step.month), []).append((i, step))
    return [(y, m, items) for (y, m), items in sorted(by_date.items())]

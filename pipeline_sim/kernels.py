"""Array primitives used by the yearly phases: pure functions over numpy arrays, no model state."""

from __future__ import annotations

import numpy as np


def order_within_groups(groups: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices ordering elements by group (ascending), then by score (highest first).

    Uses one sort of a composite float key when groups are small enough for it to be exact
    (ties between equal scores then fall in an arbitrary but deterministic order); otherwise a
    two-key lexsort.
    """
    groups = np.asarray(groups)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = float(scores.min()), float(scores.max())
    if int(groups.max()) < (1 << 24) and int(groups.min()) >= 0 and np.isfinite(lo + hi):
        frac = (scores - lo) / (hi - lo if hi > lo else 1.0)
        return np.argsort(groups + (1.0 - frac) * 0.999)
    return np.lexsort((-scores, groups))


def group_rank(groups: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Rank of each element within its group by score, highest first (0 = best)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = order_within_groups(groups, scores)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = _rank_in_runs(np.asarray(groups)[order])
    return ranks


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [starts[i], starts[i] + counts[i]), return (owner i, position) of every element."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    pos = np.arange(total) - np.repeat(offsets, counts) + np.repeat(np.asarray(starts, np.int64), counts)
    return owner, pos


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal consecutive keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def match(
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    score: np.ndarray,
    cap_a: np.ndarray,
    cap_b: np.ndarray,
    prio_a: np.ndarray,
    max_rounds: int = 1000,
) -> np.ndarray:
    """Greedy many-to-many matching of posts (a) and candidates (b) by rounds.

    Each round, every a proposes to its best remaining candidates (by `score`, up to its remaining
    capacity); every b accepts the proposals of the a with the highest `prio_a`, up to its own
    remaining capacity. Matched and saturated pairs drop out; rounds repeat until no pair is left.
    Each (a, b) pair should appear at most once. Ties keep input order (deterministic).

    Args:
        pair_a, pair_b: indices of the two sides of every admissible pair.
        score: how much a wants b (higher is better).
        cap_a, cap_b: capacity of each a and each b (arrays indexed by a and b, not modified), or
            one number for all.
        prio_a: priority of each a when several compete for one b (higher wins).

    Returns:
        Indices into the pair arrays of the matched pairs, sorted.
    """
    pair_a = np.asarray(pair_a, dtype=np.int64)
    pair_b = np.asarray(pair_b, dtype=np.int64)
    if len(pair_a) == 0:
        return np.zeros(0, dtype=np.int64)
    prio_of_pair = np.asarray(prio_a, dtype=np.float64)[pair_a]
    # renumber each side densely: capacities are then small local arrays
    ua, pair_a = np.unique(pair_a, return_inverse=True)
    ub, pair_b = np.unique(pair_b, return_inverse=True)
    cap_a = (
        np.full(len(ua), int(cap_a), np.int64)
        if np.ndim(cap_a) == 0
        else np.asarray(cap_a)[ua].astype(np.int64)
    )
    cap_b = (
        np.full(len(ub), int(cap_b), np.int64)
        if np.ndim(cap_b) == 0
        else np.asarray(cap_b)[ub].astype(np.int64)
    )
    # sort once: pairs by (a, best score first); the b-side order by (b, highest priority first)
    by_a = order_within_groups(pair_a, score)
    by_b = order_within_groups(pair_b, prio_of_pair)
    pos_b = np.empty(len(pair_b), dtype=np.int64)
    pos_b[by_b] = np.arange(len(by_b))
    alive = by_a[(cap_a[pair_a[by_a]] > 0) & (cap_b[pair_b[by_a]] > 0)]
    chosen: list[np.ndarray] = []
    for _ in range(max_rounds):
        if len(alive) == 0:
            break
        a = pair_a[alive]
        prop = alive[_rank_in_runs(a) < cap_a[a]]
        prop = prop[np.argsort(pos_b[prop], kind="stable")]
        b = pair_b[prop]
        won = prop[_rank_in_runs(b) < cap_b[b]]
        if len(won) == 0:
            break
        chosen.append(won)
        np.subtract.at(cap_a, pair_a[won], 1)
        np.subtract.at(cap_b, pair_b[won], 1)
        taken = np.zeros(len(pair_a), dtype=bool)
        taken[won] = True
        alive = alive[~taken[alive] & (cap_a[pair_a[alive]] > 0) & (cap_b[pair_b[alive]] > 0)]
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen))


POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int16)

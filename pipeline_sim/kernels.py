"""Array primitives used by the yearly phases: pure functions over numpy arrays, no model state."""

from __future__ import annotations

import numpy as np


def _simd_sort() -> bool:
    """Whether numpy's default sort of 64-bit numbers runs on AVX-512 here (x86-simd-sort): then
    several times faster than its stable sort, even on input largely in order."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return False
    return bool(__cpu_features__.get("AVX512_SKX"))


#: see `_simd_sort`; only the speed of the sorts below depends on it, never their result
SIMD_SORT = _simd_sort()


def order_within_groups(groups: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices ordering elements by group (ascending), then by score (highest first).

    Uses one sort of a composite float key when the groups are below 2**24; the key resolves
    scores to about 1e-8 of their range (at most 2**-28 per group step), so scores closer than that
    count as equal. Otherwise a two-key lexsort. Equal keys keep their input order, so the order
    does not depend on the machine (numpy's default sort leaves ties in an order that differs
    between processors with and without AVX-512): a stable sort on small inputs and on inputs
    already partly in order; on other large ones, numpy's faster default sort, with every run of
    equal keys then put back in input order. Either way the same order.
    """
    groups = np.asarray(groups)
    scores = np.asarray(scores, dtype=np.float64)
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    key = _composite_key(groups, scores)
    if key is None:
        return np.lexsort((-scores, groups))
    if len(key) < _QUICK_FROM or np.count_nonzero(key[1:] < key[:-1]) < _stable_below() * len(key):
        # small inputs, and inputs partly in order (e.g. pairs listed post by post, best first
        # within each group they come from), which numpy's stable sort (timsort) merges as runs
        return np.argsort(key, kind="stable")
    # numpy's default sort is faster on large inputs in no order; its order of equal keys, which
    # differs between processors, is then replaced by their input order: the stable sort's result
    return _ties_in_input_order(np.argsort(key), key)


#: from this many elements, `order_within_groups` may sort with numpy's default sort (see there)
_QUICK_FROM = 10_000
#: ... when at least this share of neighbouring keys descend (0.5: no order at all). Below it the
#: stable sort was faster on the model's own inputs (2-core machine: 105 ms against 212 ms over the
#: large sorts of six national years; above it, 45 ms against 27 ms)
_STABLE_BELOW = 0.48
#: the same with numpy's AVX-512 sort (`SIMD_SORT`), faster from about a fifth of descents on (2-core
#: machine, the large sorts of six national years: 224 ms against 595 ms with the share above)
_STABLE_BELOW_SIMD = 0.2


def _stable_below() -> float:
    return _STABLE_BELOW_SIMD if SIMD_SORT else _STABLE_BELOW


def _ties_in_input_order(order: np.ndarray, key: np.ndarray) -> np.ndarray:
    """`order` (a permutation sorting `key`) with every run of equal keys put in input order."""
    ordered = key[order]
    tie = ordered[1:] == ordered[:-1]
    if tie.any():
        at = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])
        tied = order[at]
        order[at] = tied[np.lexsort((tied, key[tied]))]
    return order


def _composite_key(groups: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
    """One float per element ordering by group, then by score highest first (see
    `order_within_groups`), or None where it would not be exact (groups from 2**24 on, negative
    groups, scores not finite). `groups` is not empty."""
    lo, hi = float(scores.min()), float(scores.max())
    if not (int(groups.max()) < (1 << 24) and int(groups.min()) >= 0 and np.isfinite(lo + hi)):
        return None
    # groups + (1 - (scores - lo) / range) * 0.999, computed in place (the same floats)
    key = np.subtract(scores, lo)
    key /= hi - lo if hi > lo else 1.0
    np.subtract(1.0, key, out=key)
    key *= 0.999
    key += groups
    return key


def order_within_groups_hinted(groups: np.ndarray, scores: np.ndarray, hint: np.ndarray | None) -> np.ndarray:
    """The order `order_within_groups` gives, found faster when `hint` (a permutation of the
    elements) is close to it, e.g. last year's order of the same cadres.

    The hinted elements are sorted with a stable sort, which runs in near-linear time on input that
    is almost in order; elements with equal keys are then put back in their input order, as
    `order_within_groups` leaves them. With numpy's AVX-512 sort (`SIMD_SORT`), a large input the
    hint leaves much out of order is sorted by it instead. The result never depends on the hint.
    """
    groups = np.asarray(groups)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(groups)
    if hint is None or n == 0 or len(hint) != n or not _is_permutation(hint):
        return order_within_groups(groups, scores)
    key = _composite_key(groups, scores)
    if key is None:
        return order_within_groups(groups, scores)
    hinted = key[hint]
    if (
        SIMD_SORT
        and n >= _QUICK_FROM
        and np.count_nonzero(hinted[1:] < hinted[:-1]) >= _STABLE_BELOW_SIMD * n
    ):
        # the hint leaves too much out of order for the stable sort to beat the AVX-512 sort
        return _ties_in_input_order(np.argsort(key), key)
    return _ties_in_input_order(hint[np.argsort(hinted, kind="stable")], key)


def subset_hint(order: np.ndarray, subset: np.ndarray, n: int) -> np.ndarray:
    """Positions within `subset` (indices into n elements) of its elements in the order `order`
    (distinct indices into the n, every element of `subset` among them for a complete hint): a
    hint for sorting the subset as `order` sorts the whole."""
    at = np.full(n, -1, np.int64)
    at[subset] = np.arange(len(subset))
    hint = at[order]
    return hint[hint >= 0]


def _is_permutation(order: np.ndarray) -> bool:
    n = len(order)
    if n == 0:
        return True
    if order.min() < 0 or order.max() >= n:
        return False
    return bool((np.bincount(order, minlength=n) == 1).all())


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for integer keys; by numpy's radix sort (many times
    faster) when they are non-negative and below 2**16, e.g. pool, vacancy or group numbers."""
    keys = np.asarray(keys)
    if len(keys) > 256 and keys.dtype.kind in "iu" and keys.min() >= 0 and keys.max() < (1 << 16):
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def best_first(score: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(-score, kind="stable")[:k]``: the positions of the k highest scores, highest
    first, equal scores in input order. Without sorting the whole array when k is small beside
    it (a partition finds the k-th score; only what comes before it is sorted)."""
    score = np.asarray(score, dtype=np.float64)
    n = len(score)
    k = max(0, min(int(k), n))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k * 4 > n or n < 4096 or np.isnan(score).any():
        return np.argsort(-score, kind="stable")[:k]
    neg = -score
    cut = np.partition(neg, k - 1)[k - 1]  # the k-th lowest of -score
    below = np.flatnonzero(neg < cut)
    at_cut = np.flatnonzero(neg == cut)[: k - len(below)]  # equal to the k-th: first in input order
    chosen = np.concatenate([below, at_cut])
    chosen.sort()  # input order, so that the stable sort keeps equal scores in it
    return chosen[np.argsort(neg[chosen], kind="stable")]


def lex_order(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` (the last key primary; equal keys in input order), by one sort of the
    keys' ranks packed into a 64-bit integer where they fit (many times faster than lexsort's
    merge sort of each key in turn with numpy's AVX-512 sort). An integer key in a range up to a
    64 times its length enters as its offset from its minimum, any other as its rank among its
    distinct values (``np.unique``); where they take more than 63 bits in all, ``np.lexsort``."""
    keys = tuple(np.asarray(k) for k in keys)
    n = len(keys[0]) if keys else 0
    if not SIMD_SORT or n < 4096 or any(k.dtype.kind == "f" and np.isnan(k).any() for k in keys):
        return np.lexsort(keys)
    packed = np.zeros(n, dtype=np.int64)
    shift = 0
    for k in keys:  # the first key in the lowest bits
        if k.dtype.kind == "b":
            k = k.view(np.uint8)
        if k.dtype.kind in "iu" and int(k.max()) - int(k.min()) <= 64 * n:
            code = (k - k.min()).astype(np.int64)  # its offset stands in for its rank: no sort
        else:
            code = np.unique(k, return_inverse=True)[1].astype(np.int64, copy=False)
        width = max(1, int(code.max()).bit_length())
        if shift + width > 63:
            return np.lexsort(keys)
        packed |= code << shift
        shift += width
    return _ties_in_input_order(np.argsort(packed), packed)


def _as_int_if_whole(x: np.ndarray) -> np.ndarray:
    """`x` as int64 where all its values are whole numbers that int64 holds (e.g. positions kept
    as floats), else `x`: the same order, and a cheaper key for `lex_order`."""
    if (
        x.dtype.kind == "f"
        and len(x)
        and np.isfinite(x).all()
        and np.abs(x).max() < 2**53
        and (x == np.floor(x)).all()
    ):
        return x.astype(np.int64)
    return x


def add_counts(target: np.ndarray, index: np.ndarray, delta: int = 1) -> None:
    """``np.add.at(target, index, delta)`` for a 1-d integer `target`: `delta` added once per
    occurrence of each position in `index`, in place. Through ``np.bincount`` when `index` is not
    tiny beside `target` (``ufunc.at`` costs about 60 ns an element; a count over the whole target
    about 0.2 ns a position)."""
    index = np.asarray(index)
    if len(index) == 0:
        return
    if len(index) * 128 >= len(target):
        counts = np.bincount(index, minlength=len(target))
        if delta != 1:
            counts *= delta
        target += counts.astype(target.dtype, copy=False)
    else:
        np.add.at(target, index, delta)


def group_rank(groups: np.ndarray, scores: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """Rank of each element within its group by score, highest first (0 = best); `hint` as for
    `order_within_groups_hinted` (the ranks never depend on it)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = order_within_groups_hinted(groups, scores, hint)
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


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative integers: the distinct values
    ascending and each value's position among them. Without a sort when the values' range is at
    most about a hundred times their number (e.g. the cadre rows of the 100,000 candidate pairs of
    a national planning phase): a table over the range is then cheaper than sorting, as only its
    entries at the values are written."""
    values = np.asarray(values)
    n = len(values)
    if n == 0 or values.min() < 0 or values.max() > 128 * n + 4096:
        return np.unique(values, return_inverse=True)
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    distinct = np.flatnonzero(present)
    # read only where present; int32 (positions fit): the table's pages touched at the values
    # are most of this function's cost
    code = np.empty(len(present), dtype=np.int32 if n < 2**31 else np.int64)
    code[distinct] = np.arange(len(distinct))
    return distinct, code[values]


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
    ua, pair_a = dense_codes(pair_a)
    ub, pair_b = dense_codes(pair_b)
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
    # b-side: the pairs grouped by b (a radix sort) are a good hint: within a group, the order of
    # the a's priorities is all that is left to sort
    by_b = order_within_groups_hinted(
        pair_b, prio_of_pair, stable_argsort(pair_b) if len(ub) <= 1 << 16 else None
    )
    pos_b = np.empty(len(pair_b), dtype=np.int64)
    pos_b[by_b] = np.arange(len(by_b))
    alive = by_a[(cap_a[pair_a[by_a]] > 0) & (cap_b[pair_b[by_a]] > 0)]
    chosen: list[np.ndarray] = []
    for _ in range(max_rounds):
        if len(alive) == 0:
            break
        a = pair_a[alive]
        prop = alive[_rank_in_runs(a) < cap_a[a]]
        prop = prop[stable_argsort(pos_b[prop])]
        b = pair_b[prop]
        won = prop[_rank_in_runs(b) < cap_b[b]]
        if len(won) == 0:
            break
        chosen.append(won)
        add_counts(cap_a, pair_a[won], -1)
        add_counts(cap_b, pair_b[won], -1)
        taken = np.zeros(len(pair_a), dtype=bool)
        taken[won] = True
        alive = alive[~taken[alive] & (cap_a[pair_a[alive]] > 0) & (cap_b[pair_b[alive]] > 0)]
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen))


def match_lazy(
    n_a: int,
    fetch,
    prio_a: np.ndarray,
    free_b: np.ndarray,
    depth0: int = 4,
    grow: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching by rounds, capacity one on both sides, over candidate lists fetched lazily.

    The rule: each round, every unmatched a proposes to its best candidate b that is still free;
    every b proposed to takes the proposer of highest `prio_a` (equal priorities: the lower a);
    matches are final and rounds repeat until no a has a free candidate left. "Best" is the
    highest score, equal scores broken by the lower tie key: a total order, so the outcome is
    the one this rule gives on the full candidate lists.

    The lists are fetched a few candidates deep at first (``fetch(a, depth)``) and deeper only
    for an a whose best fetched candidate could be beaten by one not yet fetched. ``fetch`` returns
    (pair_a, pair_b, score, tie, bound_score, bound_tie): every candidate pair of the requested a's
    down to their depth, and per requested a (aligned with it) a bound on the candidates left out:
    none of them has a (score, tie) key before (bound_score, -bound_tie) in the order above;
    bound_score = -inf when nothing was left out. A deeper fetch for an a replaces its pairs.

    Args:
        n_a: number of a's (0 .. n_a - 1).
        fetch: see above; depth is depth0 * grow**j after j deepenings of that a.
        prio_a: priority of every a.
        free_b: boolean array over b: candidates still free. Matched b's are set False in it.

    Returns:
        (a, b) of the matched pairs, a ascending.
    """
    prio_a = np.asarray(prio_a, dtype=np.float64)
    result = np.full(n_a, -1, dtype=np.int64)
    if n_a == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    depth = np.full(n_a, depth0, dtype=np.float64)
    bound_s = np.full(n_a, -np.inf)
    bound_t = np.zeros(n_a, dtype=np.float64)

    def fetched(a: np.ndarray):
        """Pairs of the a's fetched at their depth, sorted by (a, best first); their bounds set."""
        pa, pb, ps, pt, bs, bt = fetch(a, np.minimum(depth[a], 2**62).astype(np.int64))
        bound_s[a], bound_t[a] = bs, bt
        pa, pb = np.asarray(pa, np.int64), np.asarray(pb, np.int64)
        ps, pt = np.asarray(ps, np.float64), np.asarray(pt, np.float64)
        o = lex_order((_as_int_if_whole(pt), -ps, pa))
        return pa[o], pb[o], ps[o], pt[o]

    # the pairs of every a: a block sorted best first, pairs[at[a]:end[a]], at[a] the pair it
    # would propose to now (the first whose b is free: b's are only ever taken, so a pointer moving
    # forward finds it). A deeper fetch appends the a's new block and points it there.
    everyone = np.arange(n_a)
    pa, pb, ps, pt = fetched(everyone)
    at = np.searchsorted(pa, everyone)
    end = np.searchsorted(pa, everyone, side="right")
    todo = everyone  # a's not matched and not out of candidates, ascending
    while len(todo):
        p, e = at[todo], end[todo]
        move = np.arange(len(todo))
        while len(move):  # past candidates taken since
            move = move[p[move] < e[move]]
            move = move[~free_b[pb[p[move]]]]
            p[move] += 1
        at[todo] = p
        has = p < e
        # an a with something left out is sure of its best only if that comes before the bound
        bs, bt = bound_s[todo], bound_t[todo]
        sure = np.zeros(len(todo), dtype=bool)
        h = np.flatnonzero(has)
        sh, th = ps[p[h]], pt[p[h]]
        sure[h] = (sh > bs[h]) | ((sh == bs[h]) & (th < bt[h]))
        deeper = todo[(bs > -np.inf) & ~sure]
        if len(deeper):
            depth[deeper] *= grow
            na, nb, ns, nt = fetched(deeper)
            at[deeper] = len(pb) + np.searchsorted(na, deeper)
            end[deeper] = len(pb) + np.searchsorted(na, deeper, side="right")
            pb = np.concatenate([pb, nb])
            ps = np.concatenate([ps, ns])
            pt = np.concatenate([pt, nt])
            continue
        todo = todo[has]  # the others have no candidate left
        if len(todo) == 0:
            break
        # every b takes its proposer of highest priority
        b = pb[at[todo]]
        order = lex_order((todo, -prio_a[todo], b))
        ordered_b = b[order]
        lead = order[np.r_[True, ordered_b[1:] != ordered_b[:-1]]]
        free_b[b[lead]] = False
        result[todo[lead]] = b[lead]
        todo = todo[result[todo] < 0]
    a_won = np.flatnonzero(result >= 0)
    return a_won, result[a_won]


POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int16)

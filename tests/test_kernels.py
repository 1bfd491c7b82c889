"""The array kernels the phases are built on, against plain Python versions of their rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_sim.kernels import (
    add_counts,
    best_first,
    dense_codes,
    group_rank,
    lex_order,
    match,
    match_lazy,
    order_within_groups,
    order_within_groups_hinted,
    stable_argsort,
    subset_hint,
)


@given(st.lists(st.integers(0, 5000), max_size=300), st.integers(0, 10**9))
def test_dense_codes_are_numpys_unique_with_inverse(values, offset):
    for x in (np.array(values, np.int64), np.array(values, np.int64) + offset):
        distinct, code = dense_codes(x)
        want_distinct, want_code = np.unique(x, return_inverse=True)
        assert np.array_equal(distinct, want_distinct)
        assert np.array_equal(code, want_code)


def _reference_match(pa, pb, score, cap_a, cap_b, prio):
    """The rule of `match`, one pair at a time: rounds of proposals by each a to its best
    remaining candidates, and acceptance by each b of its proposers of highest priority."""
    cap_a, cap_b = dict(cap_a), dict(cap_b)
    alive = set(range(len(pa)))
    chosen = []
    while True:
        alive = {i for i in alive if cap_a[pa[i]] > 0 and cap_b[pb[i]] > 0}
        proposals = []
        for a in {pa[i] for i in alive}:
            mine = sorted((i for i in alive if pa[i] == a), key=lambda i: -score[i])
            proposals += mine[: cap_a[a]]
        won = []
        for b in {pb[i] for i in proposals}:
            to_b = sorted((i for i in proposals if pb[i] == b), key=lambda i: -prio[pa[i]])
            won += to_b[: cap_b[b]]
        if not won:
            return sorted(chosen)
        for i in won:
            cap_a[pa[i]] -= 1
            cap_b[pb[i]] -= 1
            alive.discard(i)
        chosen += won


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_match_follows_its_rule(data):
    n_a = data.draw(st.integers(1, 6))
    n_b = data.draw(st.integers(1, 8))
    pairs = data.draw(
        st.lists(st.tuples(st.integers(0, n_a - 1), st.integers(0, n_b - 1)), unique=True, max_size=30)
    )
    pa = np.array([a for a, _ in pairs], np.int64)
    pb = np.array([b for _, b in pairs], np.int64) * 1000  # sparse numbers on one side
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    score = rng.random(len(pairs))  # distinct: the rule leaves ties to the implementation
    prio = rng.random(n_a)
    cap_a = rng.integers(0, 3, n_a)
    cap_b_small = rng.integers(0, 3, n_b)
    cap_b = np.zeros(n_b * 1000, np.int64)
    cap_b[np.arange(n_b) * 1000] = cap_b_small
    got = match(pa, pb, score, cap_a, cap_b, prio)
    want = _reference_match(
        pa.tolist(),
        pb.tolist(),
        score.tolist(),
        enumerate(cap_a.tolist()),
        {b * 1000: int(c) for b, c in enumerate(cap_b_small)}.items(),
        prio.tolist(),
    )
    assert got.tolist() == want
    one = match(pa, pb, score, 1, 1, prio)  # scalar capacities
    assert one.tolist() == _reference_match(
        pa.tolist(),
        pb.tolist(),
        score.tolist(),
        ((a, 1) for a in range(n_a)),
        ((b * 1000, 1) for b in range(n_b)),
        prio.tolist(),
    )


@given(st.lists(st.tuples(st.integers(0, 20), st.floats(-1e6, 1e6)), max_size=200))
def test_order_within_groups_sorts_by_group_then_best_score(items):
    groups = np.array([g for g, _ in items], np.int64)
    scores = np.array([s for _, s in items], np.float64)
    order = order_within_groups(groups, scores)
    assert sorted(order.tolist()) == list(range(len(items)))
    g, s = groups[order], scores[order]
    assert (np.diff(g) >= 0).all()
    resolution = 1e-8 * (np.ptp(scores) if len(scores) else 0.0)  # of the composite sort key
    same = g[1:] == g[:-1]
    assert (np.diff(s)[same] <= resolution).all()  # best first, up to the key's resolution
    ranks = group_rank(groups, scores)
    for g in set(groups.tolist()):
        mine = np.flatnonzero(groups == g)
        assert sorted(ranks[mine].tolist()) == list(range(len(mine)))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_hinted_order_is_the_unhinted_order_whatever_the_hint(data):
    n = data.draw(st.integers(0, 60))
    groups = np.array(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.int64)
    scores = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, -1.0]), min_size=n, max_size=n))
    )
    hint = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).permutation(n)
    want = order_within_groups(groups, scores)
    assert np.array_equal(order_within_groups_hinted(groups, scores, hint), want)
    assert np.array_equal(order_within_groups_hinted(groups, scores, None), want)
    # equal keys keep their input order: a stable sort, the same on every machine
    assert np.array_equal(want, np.lexsort((np.arange(n), -scores, groups)))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([3, 50, 5000]),
    st.sampled_from([2, 40, 10**6]),
    st.booleans(),
    st.booleans(),
)
def test_large_inputs_keep_ties_in_input_order(seed, n_groups, n_scores, grouped, simd):
    """From `_QUICK_FROM` elements on, an input in no order is sorted by numpy's default sort and
    its ties are then put back in input order, one partly in order (many ties, or some inputs
    listed group by group) by the stable sort: either way the order of a stable sort, with the
    thresholds of an AVX-512 machine or of another (`SIMD_SORT`), with a hint close to the order,
    one far from it or none."""
    from pipeline_sim import kernels

    rng = np.random.default_rng(seed)
    n = kernels._QUICK_FROM + int(rng.integers(0, 5000))
    groups = rng.integers(0, n_groups, n)
    if grouped:
        groups.sort()
    scores = rng.integers(0, n_scores, n) / 7.0
    want = np.lexsort((np.arange(n), -scores, groups))
    near = want.copy()
    swap = 2 * np.unique(rng.integers(0, n // 2 - 1, n // 50))  # disjoint neighbour pairs
    near[swap], near[swap + 1] = want[swap + 1], want[swap]
    assert np.array_equal(np.sort(near), np.arange(n))  # a permutation: the hint is used
    saved = kernels.SIMD_SORT
    kernels.SIMD_SORT = simd
    try:
        order = order_within_groups(groups, scores)
        assert np.array_equal(order, want)
        for hint in (near, rng.permutation(n), None):
            assert np.array_equal(order_within_groups_hinted(groups, scores, hint), want)
        assert np.array_equal(group_rank(groups, scores)[order], _runs(groups[order]))
    finally:
        kernels.SIMD_SORT = saved


def _runs(sorted_groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values."""
    start = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    return np.arange(len(sorted_groups)) - np.repeat(start, np.diff(np.r_[start, len(sorted_groups)]))


def test_a_hint_that_is_not_a_permutation_is_not_used():
    groups, scores = np.array([0, 0, 1]), np.array([1.0, 2.0, 0.5])
    want = order_within_groups(groups, scores)
    for hint in (np.array([0, 0, 1]), np.array([0, 1, 3]), np.array([0, 1])):
        assert np.array_equal(order_within_groups_hinted(groups, scores, hint), want)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 3000),
    st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32]),
    st.sampled_from([(0, 3), (0, 65535), (0, 65536), (-5, 5), (60000, 70000)]),
    st.integers(0, 2**32 - 1),
)
def test_stable_argsort_is_numpys_stable_argsort(n, dtype, bounds, seed):
    lo, hi = bounds
    info = np.iinfo(dtype)
    lo = min(max(lo, info.min), info.max)
    hi = max(min(hi, info.max), lo)
    keys = np.random.default_rng(seed).integers(lo, hi, n, endpoint=True).astype(dtype)
    assert np.array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5000),
    st.integers(0, 6000),
    st.sampled_from([np.int8, np.int32, np.int64]),
    st.sampled_from([1, -1, 3]),
    st.integers(0, 2**32 - 1),
)
def test_add_counts_is_ufunc_at(size, n, dtype, delta, seed):
    """Both ways (a count over the target for many positions, ``ufunc.at`` for a few) add `delta`
    once per occurrence, repeated positions included."""
    rng = np.random.default_rng(seed)
    target = rng.integers(-20, 20, size).astype(dtype)
    index = rng.integers(0, size, n)
    if n and rng.random() < 0.5:
        index[: n // 2] = index[0]  # many repeats of one position
    want = target.copy()
    np.add.at(want, index, delta)
    add_counts(target, index, delta)
    assert target.dtype == want.dtype
    assert np.array_equal(target, want)


def test_add_counts_adds_once_per_repeat_for_a_few_positions_too():
    """A few positions in a long target take ``ufunc.at``: a position listed three times gets
    three deltas, as through the count."""
    for size in (5000, 10):
        target = np.zeros(size, np.int32)
        add_counts(target, np.array([7, 7, 7, 2]), -2)
        want = np.zeros(size, np.int32)
        want[7], want[2] = -6, -2
        assert np.array_equal(target, want)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 20000),
    st.sampled_from([0.0, 0.0001, 0.01, 0.1, 0.24, 0.5, 1.0, 1.5]),
    st.sampled_from(["distinct", "few values", "infinite"]),
    st.integers(0, 2**32 - 1),
)
def test_best_first_is_the_head_of_a_stable_sort_of_the_negated_scores(n, share, kind, seed):
    """The k best, highest first, equal scores in input order: the head of the full stable sort,
    by the partition path (large inputs, small k) and by the full sort alike."""
    rng = np.random.default_rng(seed)
    k = int(n * share) + 1
    if kind == "distinct":
        score = rng.random(n)
    elif kind == "few values":  # many ties, also across the k-th score
        score = rng.integers(0, 5, n).astype(np.float64)
    else:
        score = rng.choice([-np.inf, 0.0, 1.0, np.inf], n)
    want = np.argsort(-score, kind="stable")[:k]
    assert np.array_equal(best_first(score, k), want)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 20000),
    st.lists(
        st.sampled_from(["small ints", "wide ints", "floats", "few floats", "bools"]), min_size=1, max_size=4
    ),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_lex_order_is_numpys_lexsort(n, kinds, simd, seed):
    """The packed sort gives lexsort's order, equal keys in input order, whatever the keys: those
    that fit in 64 bits and those that do not (then lexsort itself), with or without `SIMD_SORT`."""
    from pipeline_sim import kernels

    rng = np.random.default_rng(seed)
    make = {
        "small ints": lambda: rng.integers(-3, 40, n),
        "wide ints": lambda: rng.integers(0, 2**40, n),
        "floats": lambda: rng.normal(size=n),
        "few floats": lambda: rng.choice([-np.inf, -0.0, 0.0, 0.5, np.inf], n),
        "bools": lambda: rng.random(n) < 0.5,
    }
    keys = tuple(make[k]() for k in kinds)
    saved = kernels.SIMD_SORT
    kernels.SIMD_SORT = simd
    try:
        assert np.array_equal(lex_order(keys), np.lexsort(keys))
    finally:
        kernels.SIMD_SORT = saved


@given(st.integers(0, 300), st.integers(0, 2**32 - 1))
def test_subset_hint_lists_the_subset_in_the_given_order(n, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    subset = np.flatnonzero(rng.random(n) < 0.4)
    hint = subset_hint(order, subset, n)
    assert sorted(hint.tolist()) == list(range(len(subset)))  # a permutation: usable as a hint
    assert subset[hint].tolist() == [i for i in order.tolist() if i in set(subset.tolist())]


def test_whole_float_keys_become_integers_and_others_stay():
    """The matching passes its tie keys (positions held as floats) to `lex_order` as integers
    when they are whole numbers: same order, the cheap path; any other floats are left alone."""
    from pipeline_sim.kernels import _as_int_if_whole

    whole = np.array([3.0, -0.0, 7.0, 2.0**52])
    out = _as_int_if_whole(whole)
    assert out.dtype == np.int64 and np.array_equal(out, whole)
    for other in (
        np.array([1.0, 2.5]),
        np.array([1.0, np.inf]),
        np.array([1.0, np.nan]),
        np.array([2.0**60]),
    ):
        assert _as_int_if_whole(other) is other


def _rounds_on_full_lists(lists, prio, free):
    """The rule of `match_lazy`, stated plainly: each round every unmatched a proposes to its best
    free candidate; each b takes its proposer of highest priority (the lower a among equals)."""
    free = list(free)
    result = {}
    while True:
        proposals = {}
        for a, cands in enumerate(lists):
            if a in result:
                continue
            best = next((b for _, _, b in cands if free[b]), None)
            if best is not None:
                proposals.setdefault(best, []).append(a)
        if not proposals:
            return result
        for b, who in proposals.items():
            winner = min(who, key=lambda a: (-prio[a], a))
            result[winner] = b
            free[b] = False


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_lazy_matching_is_the_round_rule_on_the_full_lists(data):
    """`match_lazy` over lists fetched a few deep (and deeper where the bound says so) matches as
    the round rule does over every candidate at once; ties in score, tie keys and priority."""
    n_a = data.draw(st.integers(1, 25))
    n_b = data.draw(st.integers(1, 30))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lists = []
    for _ in range(n_a):
        bs = rng.permutation(n_b)[: rng.integers(0, n_b + 1)]
        score = rng.integers(0, 4, len(bs)).astype(float)  # few values: ties in score
        tie = rng.integers(0, 3, len(bs)).astype(float)  # ties in the tie key too
        # best first: score high, then tie low, then input order (the kernel's sort is stable)
        lists.append(sorted(zip(-score, tie, bs, strict=True), key=lambda x: (x[0], x[1])))
    lists = [[(-s, t, int(b)) for s, t, b in cands] for cands in lists]
    prio = rng.integers(0, 3, n_a).astype(float)
    free = rng.random(n_b) < 0.8

    def fetch(a, depth):
        pa, pb, ps, pt, bound_s, bound_t = [], [], [], [], [], []
        for i, d in zip(a, depth, strict=True):
            cands = lists[i]
            for s, t, b in cands[:d]:
                pa.append(i)
                pb.append(b)
                ps.append(s)
                pt.append(t)
            left = cands[d:]
            bound_s.append(left[0][0] if left else -np.inf)
            bound_t.append(left[0][1] if left else 0.0)
        return (
            np.array(pa, np.int64),
            np.array(pb, np.int64),
            np.array(ps),
            np.array(pt),
            np.array(bound_s),
            np.array(bound_t),
        )

    expected = _rounds_on_full_lists(lists, prio, free)
    free_b = free.copy()
    a, b = match_lazy(n_a, fetch, prio, free_b, depth0=data.draw(st.integers(1, 3)), grow=2)
    assert dict(zip(a.tolist(), b.tolist(), strict=True)) == expected
    assert free_b.tolist() == [f and i not in expected.values() for i, f in enumerate(free)]

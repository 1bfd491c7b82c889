"""Holders at the start drawn to a recorded profile (``initial.groups``).

A group is a set of posts (a body's, or given by selectors) whose holders at the start have the
recorded share of women, share in a second consecutive term, mean age and, optionally, share under
an age (rules.md §8 gives these for the provincial secretaries and the Central Committee).

Groups are drawn from the smallest to the largest. A group's figures hold for the whole group:
the posts that a smaller group inside it has drawn already count towards them, and its other posts
make up the rest. Counts are exact up to one (stochastic rounding of share x posts), so that a body
of 63 starts with 9 women, as the record says, not with a binomial draw around 9.

Ages are drawn from one normal per group, truncated for each post at its own limits (the congress
rules on service left and the age rules of its bodies, by the holder's sex and whether re-elected),
and placed so that the group's expected mean age is the recorded one. With ``share_below_age``,
that share of the group's holders (exactly, up to one) is drawn younger than ``below_age`` and the
others older, each from the same normal truncated to its band: the record's profiles are often
two-humped (young planned cadres and older ones near the age limit), which no single truncated
normal has. Where the limits make a figure unattainable, the nearest is used and a warning says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri


@dataclass
class GroupDraw:
    """What a group's draws attained (expected values), for the record and the tests."""

    name: str
    posts: int
    age_mean: float | None
    age_sd: float | None


def exact_count(rng: np.random.Generator, want: float, n: int) -> int:
    """`want` rounded stochastically to an integer in [0, n]."""
    want = min(max(want, 0.0), float(n))
    base = int(np.floor(want))
    return min(n, base + int(rng.random() < want - base))


def pick(rng: np.random.Generator, rows: np.ndarray, k: int) -> np.ndarray:
    """A boolean mask over `rows` with `k` of them chosen at random."""
    out = np.zeros(len(rows), dtype=bool)
    out[rng.permutation(len(rows))[:k]] = True
    return out


def truncated_means(loc: float, sd: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Means of normals (loc, sd) truncated to [lo, hi], per post."""
    alpha, beta = (lo - loc) / sd, (hi - loc) / sd
    z = np.maximum(ndtr(beta) - ndtr(alpha), 1e-300)
    phi = np.exp(-0.5 * alpha**2) - np.exp(-0.5 * beta**2)
    mean = loc + sd * phi / np.sqrt(2.0 * np.pi) / z
    return np.where(hi - lo < 1e-9, lo, mean)


def locate(mean: float, sd: float, lo: np.ndarray, hi: np.ndarray) -> float:
    """The location of a normal with `sd` whose truncations to each [lo_i, hi_i] have `mean` as
    their average mean (the nearest attainable if `mean` is not)."""
    left, right = float(lo.min()) - 6.0 * sd - 10.0, float(hi.max()) + 6.0 * sd + 10.0
    for _ in range(80):
        mid = 0.5 * (left + right)
        got = truncated_means(mid, sd, lo, hi).mean()
        left, right = (mid, right) if got < mean else (left, mid)
    return 0.5 * (left + right)


def draw_ages(rng: np.random.Generator, loc: float, sd: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Ages from normals (loc, sd) truncated to [lo_i, hi_i], by inversion."""
    a, b = ndtr((lo - loc) / sd), ndtr((hi - loc) / sd)
    u = a + rng.random(len(lo)) * (b - a)
    age = loc + sd * ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))
    return np.clip(age, lo, hi)


def warn_unattainable(name: str, what: str, asked: float, got: float) -> None:
    warnings.warn(
        f"initial.groups.{name}: {what} {asked:g} cannot be reached within the age rules of its "
        f"posts; the start has {got:.3g}",
        stacklevel=3,
    )

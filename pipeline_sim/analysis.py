"""Comparisons with uncertainty: bands over replications and differences paired by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pipeline_sim.scenario.loader import flatten

BAND = (10, 90)  # percentiles of the band over replications


def bands(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Median and 10-90% band of `value` over replications, for each group of `by`."""
    g = frame.groupby(by, observed=True)[value]
    out = pd.DataFrame(
        {
            "median": g.median(),
            "low": g.quantile(BAND[0] / 100),
            "high": g.quantile(BAND[1] / 100),
            "n": g.size(),
        }
    )
    return out.reset_index()


def paired_differences(
    frame: pd.DataFrame,
    baseline: str,
    by: list[str],
    scenario: str = "scenario",
    seed: str = "seed",
    value: str = "value",
    level: float = 0.95,
) -> pd.DataFrame:
    """Differences scenario - baseline, paired by seed, summarised for each group of `by`.

    Returns, per scenario other than the baseline and per group: the means of the scenario and of
    the baseline over the paired seeds (`mean`, `base_mean`), the mean paired difference, its
    standard error, a `level` confidence interval (Student t over the paired replications), the
    10-90% band of the differences, the number of pairs and whether the interval excludes zero
    ("clear of noise"). A scenario identical to the baseline gives differences of exactly 0.
    """
    keys = [*by, seed]
    base = frame[frame[scenario] == baseline].set_index(keys)[value]
    rows = []
    for name, part in frame[frame[scenario] != baseline].groupby(scenario, observed=True, sort=False):
        own = part.set_index(keys)[value]
        ref = base.reindex(own.index)
        pairs = pd.DataFrame({"diff": own - ref, "own": own, "ref": ref}).dropna().reset_index()
        for group, d in pairs.groupby(by, observed=True):
            x = d["diff"].to_numpy(dtype=float)
            n = len(x)
            mean = float(x.mean()) if n else np.nan
            se = float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
            if n > 1 and se > 0:
                half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
            elif n > 1:
                half = 0.0
            else:
                half = np.nan
            rows.append(
                {
                    scenario: name,
                    **dict(zip(by, group if isinstance(group, tuple) else (group,), strict=True)),
                    "mean": float(d["own"].mean()) if n else np.nan,
                    "base_mean": float(d["ref"].mean()) if n else np.nan,
                    "mean_diff": mean,
                    "se": se,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                    "band_low": float(np.percentile(x, BAND[0])) if n else np.nan,
                    "band_high": float(np.percentile(x, BAND[1])) if n else np.nan,
                    "n_pairs": n,
                    "clear": bool(n > 1 and (mean - half > 0 or mean + half < 0)),
                }
            )
    return pd.DataFrame(rows)


def scenario_diff(base: dict, other: dict) -> list[tuple[str, object, object]]:
    """(key, baseline value, scenario value) for every setting that differs (name aside)."""
    a, b = flatten(base), flatten(other)
    keys = sorted(set(a) | set(b))
    return [
        (k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k) and k not in ("name", "description")
    ]

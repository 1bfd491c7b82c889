"""Real vs simulated: the figures a researcher checks the baseline against, rebuilt from a results
folder alone (metrics, holders, bodies, events and posts Parquet files).

    pipeline-sim run scenarios/baseline.toml --out results/realism
    python experiments/realism/table.py results/realism [--year 2026]

Every real figure carries its source (docs/sources.md lists them in full). The figures of bodies
and provincial secretaries are the statistics calibration uses (pipeline_sim.statistics), here
averaged over the folder's replications.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from pipeline_sim.statistics import STATISTICS, Outputs

#: (row, real figure, source)
REAL = {
    "at the start: Central Committee mean age / women": (
        "53.8 / 9.5% (13th, January 2021); 55.4 / 11.7% of full members (14th, 2026)",
        "znews.vn; thanhnien.vn",
    ),
    "at the start: provincial secretaries mean age / under 50 / women": (
        "52.3 / 42.6% / 14.3% (2020-25); 54 / 14.7% / 2.9% (2025-30)",
        "thanhnien.vn; baotintuc.vn; baoxuan.vov.vn; vietnamnet.vn",
    ),
    "women among provincial party secretaries": (
        "14.3% (9 of 63, 2020-25); 2.9% (1 of 34, 2025-30)",
        "thanhnien.vn; baotintuc.vn; baoxuan.vov.vn",
    ),
    "women in the Central Committee": ("9.5% (2021); 10.5% (2026)", "znews.vn; thanhnien.vn"),
    "mean age of provincial secretaries at election": (
        "52.3 (2020); 54 (2025)",
        "thanhnien.vn; vietnamnet.vn",
    ),
    "mean age of the Central Committee at election": ("53.8 (13th, 2021); 54.4 (14th, 2026)", "znews.vn"),
    "Central Committee members over 60 at the end of the term": (
        "37% (61 of 163, Jan 2026)",
        "vnexpress.net",
    ),
    "Central Committee re-elected at the congress": ("61% (109 of 180 full members, 2026)", "vnexpress.net"),
    "Central Committee lost over the term": (
        "18.5% (200 to 163, 2021-26; net)",
        "vnexpress; kienthuc.net.vn",
    ),
    "retirements in the first year: central party posts": ("a normal year (no wave)", "-"),
    "retirements in the first year: provincial secretaries": ("a normal year (no wave)", "-"),
    "retirements in the first year / mean of later years (all cadres)": ("about 1", "-"),
    "assessment grades (excellent / good / completed / not)": (
        "not published; planning default 12 / 70 / 15 / 3 [E]",
        "no observed distribution found (docs/sources.md)",
    ),
    "province-level rotation per province per term (prov->district / district->prov / cross-sector)": (
        "41 / 46 / 52 (Nghe An, 2011-16, one province of 21 districts)",
        "baonghean.vn (2016); not confirmed elsewhere",
    ),
    "rotation moves nationwide per term": ("18,840 (2011-16)", "docnhanh.vn (2017-10-10)"),
    "provincial secretaries rotated per term": (
        "39 of 63 (2016-21, rotated or transferred)",
        "baomoi.com (Zing)",
    ),
    "quality in office (mean latent competence of key-post holders), first -> last year": (
        "no reason to trend",
        "-",
    ),
}


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.exists():
        sys.exit(f"{folder}: no {name}.parquet (write it with `pipeline-sim run`)")
    return pd.read_parquet(path)


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.1f}%"


def simulated(folder: Path, year: int | None = None) -> dict[str, str]:
    metrics = _read(folder, "metrics")
    holders = _read(folder, "holders")
    bodies = _read(folder, "bodies")
    events = _read(folder, "events")
    posts = _read(folder, "posts")
    years = sorted(metrics["year"].unique())
    first, last = years[0], years[-1]
    year = year or min(first + 5, last)
    out: dict[str, str] = {}

    h = holders
    at_start = h[(h["moment"] == "start") & (h["year"] == first)]
    is_secretary = (h["level"] == "provincial") & (h["sector"] == "party") & (h["rank"] == "head")
    sec0 = at_start[is_secretary.loc[at_start.index]]
    if len(sec0):
        out["at the start: provincial secretaries mean age / under 50 / women"] = (
            f"{sec0['age'].mean():.1f} / {_pct((sec0['age'] < 50).mean())} / {_pct(sec0['female'].mean())}"
            f" ({first})"
        )
    cc0 = at_start[at_start["bodies"].astype(str).str.contains("central_committee")]
    if len(cc0):
        out["at the start: Central Committee mean age / women"] = (
            f"{cc0['age'].mean():.1f} / {_pct(cc0['female'].mean())} ({first})"
        )
    runs = Outputs.from_folder(folder)

    def stat(name: str, **group) -> pd.Series:
        """A statistic by model year, the mean over the replications."""
        per_rep = [STATISTICS[name].series(o, group) for o in runs]
        return pd.concat(per_rep, axis=1).mean(axis=1) if per_rep else pd.Series(dtype=float)

    secretaries = {"posts": "provincial.party.head"}
    by_year = stat("women_share", **secretaries)
    out["women among provincial party secretaries"] = " -> ".join(
        f"{_pct(by_year.get(y))} ({y})" for y in (first, year, last)
    )
    if "central_committee" in set(bodies["body"].astype(str)):
        cc = {"body": "central_committee"}
        women = stat("women_share", **cc)
        out["women in the Central Committee"] = (
            f"{_pct(women.get(first))} ({first}) -> {_pct(women.get(year))} ({year})"
        )
        at = stat("mean_age_at_election", **cc)
        out["mean age of the Central Committee at election"] = (
            "; ".join(f"{v:.1f} ({y})" for y, v in at.items()) or "no congress in the run"
        )
        re = stat("reelected_share", **cc)
        out["Central Committee re-elected at the congress"] = "; ".join(
            f"{_pct(v)} ({y})" for y, v in re.items()
        )
        lost = stat("lost_over_term_share", **cc)
        out["Central Committee lost over the term"] = (
            "; ".join(f"{_pct(v)} (term to {y})" for y, v in lost.items())
            + " (seats are refilled during a term, unlike the real CC)"
        )
        over = stat("over_age_share_before_congress", age=61.0, **cc)
        out["Central Committee members over 60 at the end of the term"] = "; ".join(
            f"{_pct(v)} ({y})" for y, v in over.items()
        )
    ages = stat("mean_age_at_election", **secretaries)  # at the start of the new term
    out["mean age of provincial secretaries at election"] = (
        "; ".join(f"{v:.1f} ({y + 1})" for y, v in ages.items()) or "no congress in the run"
    )

    # retirements: exits of post holders, by the post left
    ex = events[(events["kind"] == "exit") & (events["cause"] == "retired") & (events["post"] >= 0)]
    ex = ex.merge(
        posts[["post", "level", "sector", "rank"]].rename(
            columns={"level": "level_post", "sector": "sector_post", "rank": "rank_post"}
        ),
        on="post",
    )
    n_reps = max(1, metrics["rep"].nunique())

    def yearly_share(level: str, sector: str, rank: str | None) -> str:
        sel = (ex["level_post"] == level) & (ex["sector_post"] == sector)
        pp = (posts["level"] == level) & (posts["sector"] == sector)
        if rank is not None:
            sel &= ex["rank_post"] == rank
            pp &= posts["rank"] == rank
        n_posts = int(pp.sum())
        if not n_posts:
            return "-"
        per_year = ex[sel].groupby("year").size().reindex(years, fill_value=0) / (n_posts * n_reps)
        later = per_year.iloc[1:6].mean() if len(per_year) > 1 else float("nan")
        return f"{_pct(per_year.iloc[0])} in {first}; {_pct(later)} a year in the next five"

    if "central" in set(posts["level"].astype(str)):
        out["retirements in the first year: central party posts"] = yearly_share("central", "party", None)
    out["retirements in the first year: provincial secretaries"] = yearly_share("provincial", "party", "head")
    tot = metrics[(metrics["level"] == "all") & (metrics["sector"] == "all")]
    wide = tot.pivot_table(index="year", columns="metric", values="value", observed=True)
    if "exits_retired" in wide and len(wide) > 1:
        ratio = wide["exits_retired"].iloc[0] / wide["exits_retired"].iloc[1:6].mean()
        out["retirements in the first year / mean of later years (all cadres)"] = f"{ratio:.2f}"
    grades = [f"grade_{g}_share" for g in ("excellent", "good", "completed", "not_completed")]
    if all(g in wide for g in grades):
        out["assessment grades (excellent / good / completed / not)"] = " / ".join(
            f"{100 * wide[g].mean():.1f}" for g in grades
        )
    # rotation moves (returns from a rotation are not new rotations), per term
    rot = events[(events["kind"] == "rotation") & (events["cause"] != "return")]
    # `level`: the post moved to; `from_level`: the place left
    rot = rot.assign(to_level=rot["level"].astype(str), from_level=rot["from_level"].astype(str))
    rank_of = posts.set_index("post")["rank"].astype(str)
    to_rank = rot["post"].map(rank_of)
    n_prov = int((posts.drop_duplicates("unit")["level"] == "provincial").sum())
    terms = max(1.0, len(years) / 5) * n_reps
    down = ((rot["from_level"] == "provincial") & (rot["to_level"] == "district")).sum()
    up = ((rot["from_level"] == "district") & (rot["to_level"] == "provincial")).sum()
    # between sectors, among the cadres a province manages: its own posts and district key posts
    managed = (rot["to_level"] == "provincial") | (
        (rot["to_level"] == "district") & to_rank.isin(["head", "deputy"])
    )
    cross = ((rot["cause"] == "sector") & managed).sum()
    if n_prov:
        out[
            "province-level rotation per province per term (prov->district / district->prov / cross-sector)"
        ] = f"{down / n_prov / terms:.2f} / {up / n_prov / terms:.2f} / {cross / n_prov / terms:.2f}"
    limit = rot["cause"].isin(["term_limit", "nonlocal"]).sum()
    out["rotation moves nationwide per term"] = (
        f"{len(rot) / terms:,.0f} (two-term and non-local rules {limit / terms:,.0f})"
    )
    secretary = posts.loc[
        (posts["level"] == "provincial") & (posts["sector"] == "party") & (posts["rank"] == "head"), "post"
    ]
    if len(secretary):
        touched = rot["post"].isin(secretary) | rot["from_post"].isin(secretary)
        out["provincial secretaries rotated per term"] = (
            f"{touched.sum() / terms:.1f} of {len(secretary)} (moves into or out of the post)"
        )
    if "quality_in_office" in wide:
        q = wide["quality_in_office"]
        picks = [q.index[0], q.index[len(q) // 2], q.index[-1]]
        out["quality in office (mean latent competence of key-post holders), first -> last year"] = (
            " -> ".join(f"{q[y]:.2f} ({y})" for y in picks)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a results folder written by `pipeline-sim run`")
    parser.add_argument("--year", type=int, default=None, help="a middle year to show (default: sixth)")
    args = parser.parse_args()
    sim = simulated(args.folder, args.year)
    rows = [(what, real, sim.get(what, "-"), source) for what, (real, source) in REAL.items()]
    print("| what | real | simulated | source of the real figure |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

"""Statistics of a finished run that can be set beside the public record: ages, women, re-election
and losses of bodies and groups of post holders at each congress, discipline and rotation volumes.

Each statistic is a function of a run's outputs (:class:`Outputs`), built either from a finished
:class:`~pipeline_sim.model.PipelineModel` or from a results folder written by ``pipeline-sim run``
(one :class:`Outputs` per replication): the same code serves calibration
(:mod:`pipeline_sim.calibrate`) and the real-vs-simulated table of ``experiments/realism``.

A statistic returns a series indexed by model year. Congress statistics are defined only in the
years the model holds a congress: the last year of each term, after that year's filling, so the
model's congress at the end of 2025 stands for the real congresses of late 2025 (provinces) and
January 2026 (the 14th Party Congress). Their ages are ages at the start of the new term (1 January
of the next year). Yearly statistics are defined in every recorded year.

A statistic's group says whose figure it is: a ``body`` (a scenario's body, e.g.
``central_committee``) or ``posts``, one or more post selectors ``level.sector.rank`` (each part a
name or ``*``), e.g. ``provincial.party.head`` for the provincial party secretaries; some take an
``age`` or a ``level``.

Counts (discipline, rotation moves) can be scaled to a fuller structure than the one simulated:
:attr:`Outputs.level_factor` multiplies each level's counts (calibration runs cheaper structures
with fewer districts or communes and compares national figures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline_sim.metrics import ALL

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel

#: rotation moves counted as rotations: every direction but the return at the end of a rotation
#: and the fast track (which sends young staff to grassroots deputy posts)
ROTATION_MOVES = ("down", "up", "locality", "sector", "term_limit", "nonlocal")
DISCIPLINE_FORMS = ("reprimand", "warning", "removal_from_post", "expulsion")


@dataclass
class Outputs:
    """One replication's outputs: the frames a statistic reads, and the run's calendar.

    `metrics`, `holders`, `bodies`, `events` and `posts` are the tables of the same names that a
    run writes (``events`` may be empty when the event log is off); `level_factor` scales the
    counts of each level (default 1)."""

    metrics: pd.DataFrame
    holders: pd.DataFrame
    bodies: pd.DataFrame
    events: pd.DataFrame
    posts: pd.DataFrame
    levels: list[str]
    sectors: list[str]
    start_year: int
    first_year: int
    last_year: int
    term_years: int
    level_factor: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: PipelineModel, level_factor: dict[str, float] | None = None) -> Outputs:
        sim = model.scenario.simulation
        return cls(
            metrics=model.metrics_frame(),
            holders=model.holders_frame(),
            bodies=model.bodies_frame(),
            events=model.events_frame() if model.scenario.output.event_log else pd.DataFrame(),
            posts=model.posts_frame(),
            levels=list(model.levels),
            sectors=list(model.sectors),
            start_year=sim.start_year,
            first_year=model.first_year,
            last_year=model.last_year,
            term_years=sim.term_years,
            level_factor=dict(level_factor or {}),
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> list[Outputs]:
        """One :class:`Outputs` per replication of a results folder written by ``pipeline-sim run``.

        Raises:
            FileNotFoundError: the folder lacks metrics.parquet, posts.parquet or scenario.toml.
        """
        from pipeline_sim.scenario import load_scenario

        folder = Path(folder)
        for name in ("metrics.parquet", "posts.parquet", "scenario.toml"):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder}: no {name} (write it with `pipeline-sim run`)")
        scen = load_scenario(folder / "scenario.toml")

        def read(name: str) -> pd.DataFrame:
            path = folder / f"{name}.parquet"
            return pd.read_parquet(path) if path.exists() else pd.DataFrame()

        tables = {n: read(n) for n in ("metrics", "holders", "bodies", "events")}
        posts = read("posts")
        metrics = tables["metrics"]
        reps = sorted(metrics["rep"].unique()) if "rep" in metrics else [0]
        years = sorted(metrics["year"].unique())
        out = []
        for rep in reps:
            part = {
                n: (t[t["rep"] == rep].reset_index(drop=True) if "rep" in t else t) for n, t in tables.items()
            }
            out.append(
                cls(
                    posts=posts,
                    levels=list(scen.hierarchy.levels),
                    sectors=list(scen.hierarchy.sectors),
                    start_year=scen.simulation.start_year,
                    first_year=int(years[0]) if years else scen.simulation.start_year,
                    last_year=int(years[-1]) if years else scen.simulation.start_year - 1,
                    term_years=scen.simulation.term_years,
                    **part,
                )
            )
        return out

    # calendar --------------------------------------------------------------------------------

    def congress_years(self) -> list[int]:
        """Recorded years in which the model holds a congress (the last year of each term)."""
        return [
            y
            for y in range(self.first_year, self.last_year + 1)
            if (y - self.start_year) % self.term_years == self.term_years - 1
        ]

    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    # groups ----------------------------------------------------------------------------------

    def post_mask(self, selectors: list[str]) -> pd.Series:
        """Boolean mask over `posts` of the posts named by `selectors` ('level.sector.rank', '*')."""
        from pipeline_sim.world.bodies import parse_selector

        p = self.posts
        hit = pd.Series(False, index=p.index)
        for item in selectors:
            sel = parse_selector(item)
            if sel is None:
                raise ValueError(f"{item!r} is not a post selector 'level.sector.rank'")
            part = pd.Series(True, index=p.index)
            for col in ("level", "sector", "rank"):
                if sel[col] != "*":
                    part &= p[col].astype(str) == sel[col]
            hit |= part
        return hit

    def group_rows(self, moment: str, group: dict[str, Any]) -> pd.DataFrame:
        """Roster rows at `moment` of the group's posts: a body's, or those the selectors name."""
        h = self.holders
        if not len(h):
            return h
        h = h[h["moment"] == moment]
        if "body" in group:
            tags = h["bodies"]
            if not isinstance(tags.dtype, pd.CategoricalDtype):
                tags = tags.astype(str).astype("category")
            inside = np.array([group["body"] in str(c).split("|") for c in tags.cat.categories], bool)
            if not inside.any():
                return h.iloc[:0]
            codes = tags.cat.codes.to_numpy()
            return h[(codes >= 0) & inside[np.maximum(codes, 0)]]
        posts = self.posts.loc[self.post_mask(_selectors(group)), "post"]
        return h[h["post"].isin(posts)]

    def factor(self, level: object) -> float:
        return float(self.level_factor.get(str(level), 1.0))


def _selectors(group: dict[str, Any]) -> list[str]:
    posts = group.get("posts", [])
    return [posts] if isinstance(posts, str) else list(posts)


# --- the statistics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """A statistic: what it means, whose figure it is, when it is defined and how it is computed.

    `kind` is "mean", "share" or "count": a share is a fraction of a group (a binomial target
    when the real group's size is known), a count a number of events (summed over a period), a
    mean a mean (averaged over a period, like a share). `groups` lists the group fields it takes
    (one of "body" or "posts"; "level"; "age"); `required` those it needs. `moment` is "congress"
    (defined in congress years only) or "year". `needs` names the tables it reads beyond metrics
    (so that a calibration turns the event log on only when needed). A statistic without a
    `compute` is kept for the record but is not computable from the model (`reason` says why)."""

    name: str
    meaning: str
    kind: str
    moment: str
    groups: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    compute: Callable[[Outputs, dict[str, Any]], pd.Series] | None = None
    reason: str = ""

    @property
    def computable(self) -> bool:
        return self.compute is not None

    def series(self, out: Outputs, group: dict[str, Any]) -> pd.Series:
        """Values by model year (float; a year where the statistic is undefined is left out)."""
        if self.compute is None:
            raise ValueError(f"{self.name}: not computable from the model ({self.reason})")
        s = self.compute(out, group)
        return pd.Series(s, dtype=float).dropna().sort_index()


def _by_year(frame: pd.DataFrame, fn: Callable[[pd.DataFrame], float], years: list[int]) -> pd.Series:
    values = {}
    for y in years:
        rows = frame[frame["year"] == y]
        if len(rows):
            values[y] = fn(rows)
    return pd.Series(values, dtype=float)


def _congress_rows(out: Outputs, group: dict[str, Any], moment: str, fn) -> pd.Series:
    return _by_year(out.group_rows(moment, group), fn, out.congress_years())


def _age_at_congress(rows: pd.DataFrame) -> pd.Series:
    """Age at the start of the new term: roster ages are at mid-year, the congress closes it."""
    return rows["age"].astype(float) + 0.5


def _mean_age_at_election(out: Outputs, group: dict[str, Any]) -> pd.Series:
    if "body" in group:  # the body's own record (ages to the day of the new term)
        s = _body_metric(out, group["body"], "mean_age_at_election")
        if len(s):
            return s
    return _congress_rows(out, group, "after_congress", lambda r: _age_at_congress(r).mean())


def _women_at_election(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return _congress_rows(out, group, "after_congress", lambda r: r["female"].astype(float).mean())


def _under_age_at_election(out: Outputs, group: dict[str, Any]) -> pd.Series:
    age = float(group["age"])
    return _congress_rows(out, group, "after_congress", lambda r: (_age_at_congress(r) < age).mean())


def _nonlocal_at_election(out: Outputs, group: dict[str, Any]) -> pd.Series:
    def share(rows: pd.DataFrame) -> float:
        if "local" not in rows:
            return float("nan")
        return float((~rows["local"].astype(bool)).mean())

    return _congress_rows(out, group, "after_congress", share)


def _reelected(out: Outputs, group: dict[str, Any]) -> pd.Series:
    after = out.group_rows("after_congress", group)
    before = out.group_rows("before_congress", group)
    values = {}
    for y in out.congress_years():
        a = after[after["year"] == y]
        if len(a):
            values[y] = float(a["cadre"].isin(before.loc[before["year"] == y, "cadre"]).mean())
    return pd.Series(values, dtype=float)


def _first_time(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return 1.0 - _reelected(out, group)


def _over_age_before_congress(out: Outputs, group: dict[str, Any]) -> pd.Series:
    age = float(group["age"])
    return _congress_rows(out, group, "before_congress", lambda r: (_age_at_congress(r) >= age).mean())


def _body_metric(out: Outputs, body: str, metric: str) -> pd.Series:
    b = out.bodies
    if not len(b):
        return pd.Series(dtype=float)
    rows = b[(b["body"].astype(str) == body) & (b["metric"].astype(str) == metric)]
    return pd.Series(rows["value"].to_numpy(float), index=rows["year"].to_numpy(int))


def _lost_over_term(out: Outputs, group: dict[str, Any]) -> pd.Series:
    s = _body_metric(out, group["body"], "lost_share")
    return s[s.index.isin(out.congress_years())]


def _women_year_end(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return _by_year(
        out.group_rows("year_end", group), lambda r: r["female"].astype(float).mean(), out.years()
    )


def _mean_age_year_end(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return _by_year(out.group_rows("year_end", group), lambda r: r["age"].astype(float).mean(), out.years())


def _metric_by_level(out: Outputs, names: list[str], level: str | None) -> pd.Series:
    """Yearly sum of metrics over the levels (or one level), each level's counts scaled by its
    factor; sector 'all'."""
    m = out.metrics
    rows = m[(m["metric"].astype(str).isin(names)) & (m["sector"].astype(str) == ALL)]
    rows = rows[rows["level"].astype(str) != ALL]
    if level is not None:
        rows = rows[rows["level"].astype(str) == level]
    if not len(rows):
        return pd.Series(0.0, index=out.years())
    weight = rows["level"].astype(str).map(out.factor).astype(float)
    total = (rows["value"].astype(float) * weight).groupby(rows["year"].to_numpy()).sum()
    return total.reindex(out.years(), fill_value=0.0)


def _disciplined(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return _metric_by_level(out, [f"disciplined_{f}" for f in DISCIPLINE_FORMS], group.get("level"))


def _disciplined_share(out: Outputs, group: dict[str, Any]) -> pd.Series:
    cadres = _metric_by_level(out, ["cadres"], group.get("level"))
    return _disciplined(out, group) / cadres.where(cadres > 0)


def _early_retirements(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return _metric_by_level(out, ["exits_early_retired"], group.get("level"))


def _rotations(out: Outputs, group: dict[str, Any]) -> pd.Series:
    return _metric_by_level(out, [f"rotations_{d}" for d in ROTATION_MOVES], group.get("level"))


def _event_posts(out: Outputs, group: dict[str, Any]) -> tuple[pd.DataFrame, pd.Series]:
    ev = out.events
    posts = out.posts
    chosen = posts.loc[out.post_mask(_selectors(group)), ["post", "level"]]
    level_of = dict(zip(chosen["post"].to_numpy(), chosen["level"].astype(str), strict=True))
    return ev, pd.Series(level_of, dtype=object)


def _disciplined_holders(out: Outputs, group: dict[str, Any]) -> pd.Series:
    ev, level_of = _event_posts(out, group)
    if not len(ev):
        return pd.Series(0.0, index=out.years())
    d = ev[(ev["kind"].astype(str) == "discipline") & ev["post"].isin(level_of.index)]
    w = d["post"].map(level_of).map(out.factor).astype(float)
    return w.groupby(d["year"].to_numpy()).sum().reindex(out.years(), fill_value=0.0)


def _rotations_of_posts(out: Outputs, group: dict[str, Any]) -> pd.Series:
    ev, level_of = _event_posts(out, group)
    if not len(ev):
        return pd.Series(0.0, index=out.years())
    r = ev[(ev["kind"].astype(str) == "rotation") & ev["cause"].astype(str).isin(ROTATION_MOVES)]
    r = r[r["post"].isin(level_of.index) | r["from_post"].isin(level_of.index)]
    post = r["post"].where(r["post"].isin(level_of.index), r["from_post"])
    w = post.map(level_of).map(out.factor).astype(float)
    return w.groupby(r["year"].to_numpy()).sum().reindex(out.years(), fill_value=0.0)


_GROUP = ("body", "posts")

STATISTICS: dict[str, Statistic] = {
    s.name: s
    for s in (
        Statistic(
            "mean_age_at_election",
            "mean age of the group just after the congress, at the start of the new term",
            "mean",
            "congress",
            _GROUP,
            compute=_mean_age_at_election,
        ),
        Statistic(
            "women_share_at_election",
            "share of women in the group just after the congress",
            "share",
            "congress",
            _GROUP,
            compute=_women_at_election,
        ),
        Statistic(
            "under_age_share_at_election",
            "share of the group just after the congress younger than `age` at the start of the new term",
            "share",
            "congress",
            (*_GROUP, "age"),
            ("age",),
            compute=_under_age_at_election,
        ),
        Statistic(
            "nonlocal_share_at_election",
            "share of the group just after the congress holding a post outside their home locality",
            "share",
            "congress",
            _GROUP,
            compute=_nonlocal_at_election,
        ),
        Statistic(
            "reelected_share",
            "share of the group just after the congress who were in it just before (re-elected)",
            "share",
            "congress",
            _GROUP,
            compute=_reelected,
        ),
        Statistic(
            "first_time_share",
            "share of the group just after the congress who were not in it just before",
            "share",
            "congress",
            _GROUP,
            compute=_first_time,
        ),
        Statistic(
            "over_age_share_before_congress",
            "share of the group just before the congress aged `age` or more at the congress (the end "
            "of the term)",
            "share",
            "congress",
            (*_GROUP, "age"),
            ("age",),
            compute=_over_age_before_congress,
        ),
        Statistic(
            "lost_over_term_share",
            "share of a body's members at the start of the term who were no longer members just "
            "before the congress that ends it",
            "share",
            "congress",
            ("body",),
            ("body",),
            compute=_lost_over_term,
        ),
        Statistic(
            "women_share",
            "share of women in the group at year end",
            "share",
            "year",
            _GROUP,
            compute=_women_year_end,
        ),
        Statistic(
            "mean_age",
            "mean age of the group at year end",
            "mean",
            "year",
            _GROUP,
            compute=_mean_age_year_end,
        ),
        Statistic(
            "disciplined",
            "cadres disciplined in the year (any form), at a level or all levels",
            "count",
            "year",
            ("level",),
            compute=_disciplined,
        ),
        Statistic(
            "disciplined_share",
            "cadres disciplined in the year over cadres in service, at a level or all levels",
            "share",
            "year",
            ("level",),
            compute=_disciplined_share,
        ),
        Statistic(
            "disciplined_holders",
            "holders of the group's posts disciplined in the year (from the event log)",
            "count",
            "year",
            ("posts",),
            ("posts",),
            ("events",),
            compute=_disciplined_holders,
        ),
        Statistic(
            "rotations",
            "rotation moves in the year (down, up, to another locality or sector, at the two-term "
            "limit, to a non-local post; not returns or the fast track), at a level or all levels",
            "count",
            "year",
            ("level",),
            compute=_rotations,
        ),
        Statistic(
            "post_rotations",
            "rotation moves in the year (as for `rotations`) into or out of the group's posts (from "
            "the event log)",
            "count",
            "year",
            ("posts",),
            ("posts",),
            ("events",),
            compute=_rotations_of_posts,
        ),
        Statistic(
            "early_retirements",
            "cadres who took early retirement in the year (at a restructuring and as its surplus "
            "above the quotas is reduced, Decree 178/2024), at a level or all levels",
            "count",
            "year",
            ("level",),
            compute=_early_retirements,
        ),
        Statistic(
            "party_members_disciplined",
            "party members disciplined in the year",
            "count",
            "year",
            reason="the model's population is the cadres of the political system (about a million: "
            "post holders and the staff pools below them, DESIGN.md), not the 5.3 million party "
            "members; see disciplined_share for a rate",
        ),
    )
}


def statistic(name: str) -> Statistic:
    """The statistic named `name` (KeyError with the known names if there is none)."""
    try:
        return STATISTICS[name]
    except KeyError:
        raise KeyError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}") from None


def aggregate(stat: Statistic, series: pd.Series, years: list[int]) -> float:
    """One number for `years` (one year, or a period): counts are summed, shares and means
    averaged over the years where they are defined; NaN when defined in none of them."""
    values = series.reindex(years)
    if stat.kind == "count":
        return float(values.fillna(0.0).sum()) if values.notna().any() else float("nan")
    values = values.dropna()
    return float(values.mean()) if len(values) else float("nan")

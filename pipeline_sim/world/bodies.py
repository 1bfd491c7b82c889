"""Bodies: named sets of posts elected at each congress (the Central Committee, the Politburo,
the provincial standing committees), with their own age rules, measured as a whole.

A body's posts are given by selectors ``level.sector.rank``, each part a name or ``*``, with two
optional limits: ``:k`` keeps the first k posts of that kind in each unit and ``@n`` keeps the
posts of the first n units of the level (e.g. ``provincial.state.head@8``: the people's committee
chairs of the first eight provinces). A cadre is a member while holding one of its posts.

At a congress (the last year of a term), before the posts are filled for the new term:
- a member whose age at the start of the new term is above the body's ``reelect_max_age`` steps
  down, except for the body's ``special_cases`` best placed over-age members (highest post, then
  best assessed), as the 13th Congress kept 10 (rules.md §6);
- a cadre who is not a member may take one of its posts only at or below ``first_time_max_age``.
A post in several bodies follows the most permissive of their limits (a Politburo member is
re-elected to the Central Committee up to 65). A member may stay in a body's post
``retirement_extension_years`` past the statutory retirement date (then retires).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline_sim.scenario.schema import RANKS
from pipeline_sim.world.cadres import ACTIVE, EXIT_CAUSES

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel
    from pipeline_sim.scenario.schema import Body

SELECTOR = re.compile(
    r"^(?P<level>[^.:@]+)\.(?P<sector>[^.:@]+)\.(?P<rank>[^.:@]+)(:(?P<k>\d+))?(@(?P<n>\d+))?$"
)

#: metrics per body: (moment, name) -> meaning
BODY_METRICS = {
    "members": "members at year end (holders of the body's posts)",
    "seats": "posts of the body",
    "mean_age": "mean age of members at year end",
    "women_share": "share of women among members at year end",
    "minority_share": "share of ethnic-minority members at year end",
    "elected": "members just after the congress",
    "mean_age_at_election": "mean age of members just after the congress, at the start of the new term",
    "women_share_elected": "share of women among members just after the congress",
    "reelected_share": "share of members just after the congress who were members just before it",
    "first_time_share": "share of members just after the congress who were not members just before it",
    "over_age_kept": "members above the re-election age kept as special cases at the congress",
    "term_start_members": "members at the start of the term just ending",
    "lost_share": "share of the term's starting members who were no longer members just before the congress",
    **{
        f"lost_{cause}_share": "share of the term's starting members who left service during the "
        f"term: {cause}"
        for cause in EXIT_CAUSES
    },
    "lost_moved_share": "share of the term's starting members still in service but out of the body's "
    "posts just before the congress",
}


def parse_selector(item: str) -> dict[str, str | int | None] | None:
    m = SELECTOR.match(item)
    if m is None:
        return None
    return {
        "level": m["level"],
        "sector": m["sector"],
        "rank": m["rank"],
        "k": int(m["k"]) if m["k"] else None,
        "n": int(m["n"]) if m["n"] else None,
    }


def selector_problem(item: str, levels: list[str], sectors: list[str]) -> str | None:
    """Why `item` is not a valid post selector for this hierarchy (None if it is)."""
    sel = parse_selector(item)
    if sel is None:
        return f"{item!r} is not 'level.sector.rank' with optional ':k' (posts per unit) and '@n' (units)"
    for part, allowed in (("level", levels), ("sector", sectors), ("rank", list(RANKS))):
        if sel[part] != "*" and sel[part] not in allowed:
            return f"{item!r}: {part} {sel[part]!r} is not one of {[*allowed, '*']}"
    if sel["k"] == 0 or sel["n"] == 0:
        return f"{item!r}: ':k' and '@n' must be at least 1"
    return None


def select_posts(model: PipelineModel, selectors: list[str]) -> np.ndarray:
    """Boolean mask of the posts named by `selectors`."""
    p = model.posts
    out = np.zeros(p.n, dtype=bool)
    for item in selectors:
        sel = parse_selector(item)
        assert sel is not None, item  # validated with the scenario
        hit = np.ones(p.n, dtype=bool)
        if sel["level"] != "*":
            hit &= p.level == model.levels.index(str(sel["level"]))
        if sel["sector"] != "*":
            hit &= p.sector == model.sectors.index(str(sel["sector"]))
        if sel["rank"] != "*":
            hit &= p.rank == RANKS.index(str(sel["rank"]))
        if sel["n"] is not None:  # the first n units of each level
            u = model.units
            nth = np.zeros(u.n, np.int64)
            for lvl in range(u.n_levels):
                rows = np.flatnonzero(u.level == lvl)
                nth[rows] = np.arange(len(rows))
            hit &= nth[p.unit] < sel["n"]
        if sel["k"] is not None:  # the first k posts of that kind in each unit
            idx = np.flatnonzero(hit)
            group = model.place_key(p.unit[idx].astype(np.int64), p.sector[idx], p.rank[idx])
            first = np.r_[True, group[1:] != group[:-1]]
            starts = np.maximum.accumulate(np.where(first, np.arange(len(idx)), 0))
            hit[idx[(np.arange(len(idx)) - starts) >= sel["k"]]] = False
        out |= hit
    return out


class Bodies:
    """The scenario's bodies over the model's posts, and their yearly and congress records."""

    def __init__(self, model: PipelineModel):
        specs: dict[str, Body] = dict(model.scenario.bodies)
        self.names = [name for name, b in specs.items() if b.posts]
        self.specs = [specs[n] for n in self.names]
        self.member = np.array([select_posts(model, b.posts) for b in self.specs]).reshape(
            len(self.names), model.posts.n
        )
        nan = np.full(model.posts.n, np.nan)
        self.first_max, self.reelect_max = nan.copy(), nan.copy()
        self.governing = np.full(model.posts.n, -1, np.int64)  # body whose re-election limit applies
        for b, spec in enumerate(self.specs):
            for limit, attr in (
                (self.first_max, "first_time_max_age"),
                (self.reelect_max, "reelect_max_age"),
            ):
                value = getattr(spec, attr)
                if value is None:
                    continue
                wider = self.member[b] & ~(limit >= value)  # nan or lower: this body is more permissive
                limit[wider] = value
                if attr == "reelect_max_age":
                    self.governing[wider] = b
        #: years past the statutory date a holder of the post may stay (the largest of its bodies)
        self.extension = np.zeros(model.posts.n)
        for b, spec in enumerate(self.specs):
            self.extension[self.member[b]] = np.maximum(
                self.extension[self.member[b]], spec.retirement_extension_years
            )
        self.term_start: list[np.ndarray] = [np.zeros(0, np.int64) for _ in self.names]
        self.before: list[np.ndarray] = [np.zeros(0, np.int64) for _ in self.names]
        self.rows: list[tuple[int, str, str, float]] = []  # year, body, metric, value

    # membership ------------------------------------------------------------------------------

    def members(self, model: PipelineModel, b: int) -> np.ndarray:
        """Cadre rows holding the body's posts."""
        holders = model.posts.holder[self.member[b]]
        return holders[holders >= 0]

    def _record(self, model: PipelineModel, body: int, values: dict[str, float]) -> None:
        if model.year >= model.first_year:
            self.rows.extend((model.year, self.names[body], k, float(v)) for k, v in values.items())

    def start(self, model: PipelineModel) -> None:
        """The first recorded year begins: its members are the term's starting members."""
        for b in range(len(self.names)):
            self.term_start[b] = model.cadres.uid[self.members(model, b)]

    def retirement_extension(self, model: PipelineModel) -> np.ndarray | float:
        """Per cadre row: years past the statutory date they may stay, as holders of body posts."""
        if not self.extension.any():
            return 0.0
        c = model.cadres
        out = np.zeros(c.n)
        held = c.post >= 0
        out[held] = self.extension[c.post[held]]
        return out

    # congress --------------------------------------------------------------------------------

    def before_congress(self, model: PipelineModel) -> None:
        """Members just before the congress, and the term's losses by cause."""
        c = model.cadres
        lost = {}
        for b in range(len(self.names)):
            now = c.uid[self.members(model, b)]
            self.before[b] = now
            if len(self.term_start[b]):
                lost[b] = np.setdiff1d(self.term_start[b], now)
        if not lost:
            return
        # where the members lost went: one look through the archive for all the bodies
        every = _status_of(model, np.concatenate(list(lost.values())))
        parts = np.split(every, np.cumsum([len(v) for v in lost.values()])[:-1])
        for (b, gone), status in zip(lost.items(), parts, strict=True):
            start = self.term_start[b]
            values = {"term_start_members": len(start), "lost_share": len(gone) / len(start)}
            for i, cause in enumerate(EXIT_CAUSES):
                values[f"lost_{cause}_share"] = np.count_nonzero(status == i + 1) / len(start)
            values["lost_moved_share"] = np.count_nonzero(status == ACTIVE) / len(start)
            self._record(model, b, values)

    def over_age(self, model: PipelineModel, new_term: int) -> tuple[np.ndarray, int]:
        """Holders who must step down at this congress under the bodies' re-election ages, and
        the number kept as special cases."""
        c, p = model.cadres, model.posts
        holders = p.holder[p.holder >= 0]
        limit = self.reelect_max[c.post[holders]]
        over = holders[new_term - c.birth[holders] > limit]
        if not len(over):
            for b in range(len(self.names)):
                self._record(model, b, {"over_age_kept": 0})
            return over, 0
        body = self.governing[c.post[over]]
        # best placed first: highest post (smallest grade), then best assessed
        order = np.lexsort((-c.merit[over], c.grade[over], body))
        over, body = over[order], body[order]
        first = np.r_[True, body[1:] != body[:-1]]
        rank_in_body = np.arange(len(over)) - np.maximum.accumulate(np.where(first, np.arange(len(over)), 0))
        special = np.array([self.specs[b].special_cases for b in range(len(self.names))], np.int64)
        kept = rank_in_body < special[body]
        for b in range(len(self.names)):
            self._record(model, b, {"over_age_kept": np.count_nonzero(kept & (body == b))})
        return over[~kept], int(np.count_nonzero(kept))

    def admissible(
        self, model: PipelineModel, target: np.ndarray, rows: np.ndarray, year: float
    ) -> np.ndarray:
        """Pairs (target post, cadre row) allowed by the first-time age limits of the target's bodies."""
        limit = self.first_max[target]
        check = ~np.isnan(limit)
        if not check.any():
            return np.ones(len(target), dtype=bool)
        c = model.cadres
        ok = np.ones(len(target), dtype=bool)
        idx = np.flatnonzero(check)
        young = year - c.birth[rows[idx]] <= limit[idx]
        cur = c.post[rows[idx]]
        # already a member of a body the target belongs to: re-election, not a first election
        member = np.zeros(len(idx), dtype=bool)
        for b in range(len(self.names)):
            member |= self.member[b][target[idx]] & (cur >= 0) & self.member[b][np.maximum(cur, 0)]
        ok[idx] = young | member
        return ok

    def after_congress(self, model: PipelineModel, new_term: int) -> None:
        c = model.cadres
        for b in range(len(self.names)):
            rows = self.members(model, b)
            uid = c.uid[rows]
            n = len(rows)
            if n:
                re_elected = np.isin(uid, self.before[b])
                self._record(
                    model,
                    b,
                    {
                        "elected": n,
                        "mean_age_at_election": float(np.mean(new_term - c.birth[rows])),
                        "women_share_elected": float(np.mean(c.female[rows])),
                        "reelected_share": float(np.mean(re_elected)),
                        "first_time_share": float(np.mean(~re_elected)),
                    },
                )
            self.term_start[b] = uid

    # year end --------------------------------------------------------------------------------

    def year_end(self, model: PipelineModel) -> None:
        c = model.cadres
        for b in range(len(self.names)):
            rows = self.members(model, b)
            values = {"members": len(rows), "seats": int((self.member[b] & ~model.posts.closed).sum())}
            if len(rows):
                values.update(
                    mean_age=float(np.mean(model.year + 0.5 - c.birth[rows])),
                    women_share=float(np.mean(c.female[rows])),
                    minority_share=float(np.mean(c.minority[rows])),
                )
            self._record(model, b, values)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["year", "body", "metric", "value"])
        df["year"] = df["year"].astype(np.int32)
        # a restructuring may have dropped a body: its earlier rows keep their name
        names = list(dict.fromkeys([*self.names, *df["body"].unique()]))
        df["body"] = pd.Categorical(df["body"], categories=names)
        df["metric"] = pd.Categorical(df["metric"], categories=list(BODY_METRICS))
        return df


def _status_of(model: PipelineModel, uids: np.ndarray) -> np.ndarray:
    """Status code of each cadre (in service, or the cause they left by), found among the rows in
    use and the archive of those who left (`uids` may repeat)."""
    c = model.cadres
    out = np.full(len(uids), ACTIVE, dtype=np.int8)
    if not len(uids):
        return out
    uids = np.asarray(uids, dtype=np.int64)
    # position of each wanted uid in a table over every uid issued (uids are 0 .. next_uid - 1)
    at = np.full(c.next_uid, -1, dtype=np.int32)
    at[uids] = np.arange(len(uids), dtype=np.int32)
    first = at[uids]  # a repeated uid: the position its copies share

    def fill(uid: np.ndarray, status: np.ndarray) -> None:
        pos = at[uid]
        hit = pos >= 0
        out[pos[hit]] = status[hit]

    for uid, status in zip(c.archive["uid"], c.archive["status"], strict=True):
        fill(uid, status)
    fill(c.uid, c.status)  # rows in use last: a row not yet reused still holds its cadre
    return out[first]

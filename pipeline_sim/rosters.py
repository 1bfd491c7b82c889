"""Rosters of post holders, and the posts and units with readable names.

A roster row is one post holder at one moment: at each year end, and just before and just after
each congress, so that a researcher can rebuild who held what, their ages and sexes, re-election at
a congress and losses over a term from the outputs alone. By default every post of the top
``output.roster_all_posts_levels`` levels and the key posts below them are recorded
(``output.holders``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline_sim.scenario.schema import GRADES, RANKS
from pipeline_sim.world.cadres import HISTORY, NO_GRADE

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel

#: "start": the holders as the first recorded year begins (ages as in that year, like the others)
MOMENTS = ("year_end", "before_congress", "after_congress", "start")

#: readable names of units by level name (other levels: the level name, capitalised)
UNIT_WORDS = {"central": "Centre", "provincial": "Province", "district": "District", "commune": "Commune"}
#: readable names of posts by sector and rank (other sectors: "<sector> head" and so on)
POST_WORDS = {
    ("party", "head"): "party secretary",
    ("party", "deputy"): "deputy party secretary",
    ("party", "member"): "party committee member",
    ("state", "head"): "people's committee chair",
    ("state", "deputy"): "people's committee vice chair",
    ("state", "member"): "people's committee member",
    ("front", "head"): "Front chair",
    ("front", "deputy"): "Front vice chair",
    ("front", "member"): "Front committee member",
}


class Rosters:
    """Collects roster snapshots as blocks of arrays during a run."""

    def __init__(self, model: PipelineModel):
        out = model.scenario.output
        p = model.posts
        if out.holders == "none":
            self.posts = np.zeros(0, dtype=np.int64)
        elif out.holders == "all":
            self.posts = np.arange(p.n)
        else:
            self.posts = np.flatnonzero(p.key | (p.level < out.roster_all_posts_levels))
        self.blocks: list[dict[str, np.ndarray]] = []
        self._spool: tuple | None = None  # (path, constant columns)
        self._writer = None

    def spool_to(self, path, **constant) -> None:
        """Write the roster to `path` as the run goes (`flush` after each year, `finish` at the
        end; with `constant` columns first) instead of keeping it in memory."""
        self._spool = (path, constant)

    def flush(self, model: PipelineModel, force: bool = False) -> None:
        """Append the rows recorded so far to the spool file and forget them."""
        if self._spool is None or not (self.blocks or force):
            return
        import pyarrow as pa

        from pipeline_sim.parquet import writer

        path, constant = self._spool
        frame = self.frame(model)
        for i, (name, value) in enumerate(constant.items()):
            frame.insert(i, name, pd.Categorical([value] * len(frame)) if isinstance(value, str) else value)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = writer(path, table.schema)
        self._writer.write_table(table)
        self.blocks.clear()

    def finish(self, model: PipelineModel) -> None:
        """Flush and close the spool file (written even when empty)."""
        if self._spool is None:
            return
        self.flush(model, force=self._writer is None)
        self._writer.close()
        self._writer = None

    def take(self, model: PipelineModel, moment: str, year: int | None = None) -> None:
        """Record the holders of the roster's posts now (recorded years only), as in `year`
        (default: the model's year)."""
        year = model.year if year is None else year
        if not len(self.posts) or year < model.first_year:
            return
        p, c = model.posts, model.cadres
        held = self.posts[p.holder[self.posts] >= 0]
        rows = p.holder[held]
        last = c.grades[rows, model.last_assessed_year % HISTORY]
        self.blocks.append(
            {
                "year": np.full(len(held), year, np.int16),
                "moment": np.full(len(held), MOMENTS.index(moment), np.int8),
                "post": held.astype(np.int32),
                "cadre": c.uid[rows],
                "age": (year + 0.5 - c.birth[rows]).astype(np.float32),
                "female": c.female[rows],
                "minority": c.minority[rows],
                "local": c.home[rows] == p.locality[held],
                "years_in_post": (year - c.post_start[rows]).astype(np.int16),
                "years_in_service": (year - c.entry_year[rows]).astype(np.int16),
                "grade": np.where(last == NO_GRADE, len(GRADES), last).astype(np.int8),
                "times_planned": c.n_planned[rows],
            }
        )

    def frame(self, model: PipelineModel) -> pd.DataFrame:
        """The roster as a tidy table, with each post's unit, level, sector, rank and key flag."""
        cols = (
            "year",
            "moment",
            "post",
            "cadre",
            "age",
            "female",
            "minority",
            "local",
            "years_in_post",
            "years_in_service",
            "grade",
            "times_planned",
        )
        if self.blocks:
            data = {k: np.concatenate([b[k] for b in self.blocks]) for k in cols}
        else:
            data = {k: np.zeros(0, np.int32) for k in cols}
        p = model.posts
        post = data["post"].astype(np.int64)
        df = pd.DataFrame({"year": data["year"].astype(np.int16)})
        df["moment"] = pd.Categorical.from_codes(data["moment"].astype(np.int64), categories=MOMENTS)
        df["post"] = data["post"]
        df["unit"] = p.unit[post]
        df["level"] = pd.Categorical.from_codes(p.level[post].astype(np.int64), categories=model.levels)
        df["sector"] = pd.Categorical.from_codes(p.sector[post].astype(np.int64), categories=model.sectors)
        df["rank"] = pd.Categorical.from_codes(p.rank[post].astype(np.int64), categories=list(RANKS))
        df["key"] = p.key[post]
        for k in cols[3:]:
            df[k] = data[k]
        df["grade"] = pd.Categorical.from_codes(data["grade"].astype(np.int64), categories=[*GRADES, "none"])
        df["bodies"] = post_bodies(model)[post]
        return df


def post_bodies(model: PipelineModel) -> pd.Categorical:
    """The bodies each post belongs to, as 'central_committee|politburo' ('' for none)."""
    b = model.bodies
    code = np.zeros(model.posts.n, np.int64)
    for i in range(len(b.names)):
        code |= b.member[i].astype(np.int64) << i
    uniq, inv = np.unique(code, return_inverse=True)
    labels = ["|".join(n for i, n in enumerate(b.names) if (u >> i) & 1) for u in uniq]
    return pd.Categorical.from_codes(inv, categories=labels)


def unit_names(model: PipelineModel) -> np.ndarray:
    """'Province 12 › District 3 › Commune 2' for every unit (numbered from 1 within the parent)."""
    u = model.units
    words = np.array([UNIT_WORDS.get(lvl, lvl.replace("_", " ").capitalize()) for lvl in model.levels])
    order = np.lexsort((np.arange(u.n), u.parent))
    within = np.empty(u.n, np.int64)
    first = np.r_[True, u.parent[order][1:] != u.parent[order][:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(u.n), 0))
    within[order] = np.arange(u.n) - starts + 1
    own = pd.Series(words[u.level]).str.cat(pd.Series(within.astype(str)), sep=" ")
    own[u.parent < 0] = words[u.level[u.parent < 0]]  # the top unit has no number
    names = own.to_numpy(dtype=object)
    for lvl in range(1, u.n_levels):  # parents first, so each name extends its parent's
        rows = np.flatnonzero(u.level == lvl)
        par = u.parent[rows]
        below_top = u.level[par] > 0
        names[rows] = np.where(
            below_top, pd.Series(names[par]).str.cat(pd.Series(names[rows]), sep=" › "), names[rows]
        )
    return names.astype(str)


def post_names(model: PipelineModel, units: np.ndarray | None = None) -> np.ndarray:
    """'Province 12 › District 3 · deputy party secretary 2' for every post."""
    p = model.posts
    units = unit_names(model) if units is None else units
    kinds = np.array(
        [
            [POST_WORDS.get((sec, rank), f"{sec.replace('_', ' ')} {rank}") for rank in RANKS]
            for sec in model.sectors
        ]
    )
    word = kinds[p.sector, p.rank]
    # number posts of one kind within a unit when there are several (posts are ordered by unit,
    # sector and rank)
    group = model.place_key(p.unit.astype(np.int64), p.sector, p.rank)
    first = np.r_[True, group[1:] != group[:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(p.n), 0))
    nth = np.arange(p.n) - starts + 1
    size = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    label = pd.Series(word).where(size == 1, pd.Series(word).str.cat(pd.Series(nth.astype(str)), sep=" "))
    return pd.Series(units[p.unit]).str.cat(label, sep=" · ").to_numpy(dtype=str)


def units_frame(model: PipelineModel) -> pd.DataFrame:
    u = model.units
    return pd.DataFrame(
        {
            "unit": np.arange(u.n, dtype=np.int32),
            "name": unit_names(model),
            "parent": u.parent,
            "locality": u.locality,
            "level": pd.Categorical.from_codes(u.level.astype(np.int64), categories=model.levels),
            "weak": u.weak,
        }
    )


def posts_frame(model: PipelineModel) -> pd.DataFrame:
    p = model.posts
    return pd.DataFrame(
        {
            "post": np.arange(p.n, dtype=np.int32),
            "name": post_names(model),
            "unit": p.unit,
            "parent": model.units.parent[p.unit],
            "locality": p.locality,
            "level": pd.Categorical.from_codes(p.level.astype(np.int64), categories=model.levels),
            "sector": pd.Categorical.from_codes(p.sector.astype(np.int64), categories=model.sectors),
            "rank": pd.Categorical.from_codes(p.rank.astype(np.int64), categories=list(RANKS)),
            "key": p.key,
            "bodies": post_bodies(model),
        }
    )

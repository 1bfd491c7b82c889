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
    import pyarrow as pa

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
        self.posts = roster_posts(model)
        self.blocks: list[dict[str, np.ndarray]] = []
        self._posts_table: tuple[int, dict] | None = None
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
        from pipeline_sim.parquet import writer

        path, constant = self._spool
        table = self.table(model, **constant)
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
                "post": p.ident[held].astype(np.int32),
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
        return self.table(model).to_pandas()

    def table(self, model: PipelineModel, **constant) -> pa.Table:
        """The roster rows recorded so far as an Arrow table (categories as dictionaries), after
        `constant` columns of one value each (e.g. scenario, rep, seed)."""
        import pyarrow as pa

        from pipeline_sim.parquet import constant_columns, dictionary

        if self.blocks:
            data = {k: np.concatenate([b[k] for b in self.blocks]) for k in ROSTER_COLUMNS}
        else:
            data = {k: np.zeros(0, t) for k, t in ROSTER_TYPES.items()}
        posts = self._post_columns(model)
        at = np.searchsorted(posts["post"], data["post"])
        n = len(at)

        cols = constant_columns(n, constant)
        cols["year"] = pa.array(data["year"].astype(np.int16))
        cols["moment"] = dictionary(data["moment"], MOMENTS)
        cols["post"] = pa.array(data["post"])
        cols["unit"] = pa.array(posts["unit"][at])
        for col, labels in (("level", model.levels), ("sector", model.sectors), ("rank", RANKS)):
            cols[col] = dictionary(posts[col][at], labels)
        cols["key"] = pa.array(posts["key"][at])
        for k in ROSTER_COLUMNS[3:]:
            cols[k] = dictionary(data[k], [*GRADES, "none"]) if k == "grade" else pa.array(data[k])
        cols["bodies"] = dictionary(posts["bodies"][at], posts["body_labels"])
        return pa.table(cols)

    def _post_columns(self, model: PipelineModel) -> dict:
        """The columns of every post the roster joins its rows with (by post number, ascending);
        made once for each version of the structure."""
        version = model.restructuring.version
        if self._posts_table is None or self._posts_table[0] != version:
            table = posts_table(model, names=False)
            cols = {
                "post": table["post"].to_numpy(),
                "unit": table["unit"].to_numpy(),
                "key": table["key"].to_numpy(),
                "bodies": table["bodies"].cat.codes.to_numpy(),
                "body_labels": list(table["bodies"].cat.categories),
            }
            for col in ("level", "sector", "rank"):
                cols[col] = table[col].cat.codes.to_numpy()
            self._posts_table = (version, cols)
        return self._posts_table[1]


#: the columns of a roster block and their types, in the order written (after the post's own
#: columns, from cadre)
ROSTER_TYPES = {
    "year": np.int16,
    "moment": np.int8,
    "post": np.int32,
    "cadre": np.int64,
    "age": np.float32,
    "female": np.bool_,
    "minority": np.bool_,
    "local": np.bool_,
    "years_in_post": np.int16,
    "years_in_service": np.int16,
    "grade": np.int8,
    "times_planned": np.int8,
}
ROSTER_COLUMNS = tuple(ROSTER_TYPES)


def roster_posts(model: PipelineModel) -> np.ndarray:
    """The posts whose holders the roster records (`output.holders`)."""
    out, p = model.scenario.output, model.posts
    if out.holders == "none":
        return np.zeros(0, dtype=np.int64)
    if out.holders == "all":
        return np.arange(p.n)
    return np.flatnonzero(p.key | (p.level < out.roster_all_posts_levels))


def post_body_codes(model: PipelineModel) -> tuple[np.ndarray, list[str]]:
    """For every post a code of the bodies it belongs to, and the label of each code (see
    `post_bodies`)."""
    b = model.bodies
    code = np.zeros(model.posts.n, np.int64)
    for i in range(len(b.names)):
        code |= b.member[i].astype(np.int64) << i
    present = np.flatnonzero(np.bincount(code, minlength=1))  # the codes are small: one bit a body
    lookup = np.zeros(int(present.max(initial=0)) + 1, np.int64)
    lookup[present] = np.arange(len(present))
    labels = ["|".join(n for i, n in enumerate(b.names) if (int(u) >> i) & 1) for u in present]
    return lookup[code], labels


def post_bodies(model: PipelineModel) -> pd.Categorical:
    """The bodies each post belongs to, as 'central_committee|politburo' ('' for none)."""
    codes, labels = post_body_codes(model)
    return pd.Categorical.from_codes(codes, categories=labels)


def unit_names(model: PipelineModel, units=None) -> np.ndarray:
    """'Province 12 › District 3 › Commune 2' for every unit (numbered from 1 within the parent)
    of the model's units, or of `units` (a units table the model had before a restructuring)."""
    u = model.units if units is None else units
    words = np.array([UNIT_WORDS.get(lvl, lvl.replace("_", " ").capitalize()) for lvl in model.levels])
    order = np.lexsort((np.arange(u.n), u.parent))
    within = np.empty(u.n, np.int64)
    first = np.r_[True, u.parent[order][1:] != u.parent[order][:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(u.n), 0))
    within[order] = np.arange(u.n) - starts + 1
    level, parent = u.level.tolist(), u.parent.tolist()
    word, nth = words.tolist(), within.tolist()
    names: list[str] = [""] * u.n
    for i in range(u.n):  # units are numbered top-down: a parent is named before its children
        own = word[level[i]] if parent[i] < 0 else f"{word[level[i]]} {nth[i]}"
        up = parent[i]
        names[i] = f"{names[up]} › {own}" if up >= 0 and level[up] > 0 else own
    return np.array(names, dtype=object)  # Python strings: a fixed-width array would be 4x larger


def post_name_parts(model: PipelineModel, rows: np.ndarray, units) -> dict[str, np.ndarray]:
    """What the names of posts `rows` are made of: their unit (and the names of all units, or the
    units table they are named from on demand), sector, rank, number within their kind in the unit
    and the kind's size (see `names_of_posts`)."""
    p = model.posts
    # number posts of one kind within a unit when there are several (posts are ordered by unit,
    # sector and rank)
    group = model.place_key(p.unit.astype(np.int64), p.sector, p.rank)
    first = np.r_[True, group[1:] != group[:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(p.n), 0))
    nth = np.arange(p.n) - starts + 1
    size = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    return {
        "unit": p.unit[rows],
        "unit_names": units,  # the names of every unit then (indexed when named), or their table
        "sector": p.sector[rows],
        "rank": p.rank[rows],
        "nth": nth[rows],
        "size": size[rows],
    }


def names_of_posts(parts: dict, sectors: list[str], model: PipelineModel | None = None) -> np.ndarray:
    """'Province 12 › District 3 · deputy party secretary 2' from `post_name_parts` (`model`: to
    name the units of a units table kept there)."""
    if not isinstance(parts["unit_names"], np.ndarray):
        if model is None:
            raise ValueError("names_of_posts: parts that keep a units table need the model to name it")
        parts = {**parts, "unit_names": unit_names(model, parts["unit_names"])}
    kinds = np.array(
        [
            [POST_WORDS.get((sec, rank), f"{sec.replace('_', ' ')} {rank}") for rank in RANKS]
            for sec in sectors
        ]
    )
    word = kinds[parts["sector"], parts["rank"]].tolist()
    unit = parts["unit_names"][parts["unit"]].tolist()
    return np.array(
        [
            f"{u} · {w}" if size == 1 else f"{u} · {w} {nth}"
            for u, w, size, nth in zip(unit, word, parts["size"].tolist(), parts["nth"].tolist(), strict=True)
        ],
        dtype=object,
    )


def post_names(model: PipelineModel, units: np.ndarray | None = None) -> np.ndarray:
    """'Province 12 › District 3 · deputy party secretary 2' for every post."""
    units = unit_names(model) if units is None else np.asarray(units)
    return names_of_posts(post_name_parts(model, np.arange(model.posts.n), units), model.sectors)


def units_frame(model: PipelineModel) -> pd.DataFrame:
    """Every unit of the recorded years (those a restructuring removed too), by its number."""
    from pipeline_sim.world.restructuring import unit_table

    frame = unit_table(model)
    frame["level"] = pd.Categorical.from_codes(frame["level"].astype(np.int64), categories=model.levels)
    return frame[["unit", "name", "parent", "locality", "level", "weak", "first_year", "last_year"]]


def posts_table(model: PipelineModel, names: bool = True) -> pd.DataFrame:
    """Every post of the recorded years (those a restructuring removed too), by its number."""
    from pipeline_sim.world.restructuring import post_table

    frame = post_table(model, names)
    frame["level"] = pd.Categorical.from_codes(frame["level"].astype(np.int64), categories=model.levels)
    frame["sector"] = pd.Categorical.from_codes(frame["sector"].astype(np.int64), categories=model.sectors)
    frame["rank"] = pd.Categorical.from_codes(frame["rank"].astype(np.int64), categories=list(RANKS))
    frame["bodies"] = pd.Categorical(frame["bodies"])
    return frame


def posts_frame(model: PipelineModel) -> pd.DataFrame:
    cols = ["post", "name", "unit", "parent", "locality", "level", "sector", "rank", "key", "bodies"]
    return posts_table(model)[[*cols, "first_year", "last_year"]]

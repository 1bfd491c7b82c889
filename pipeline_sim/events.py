"""The event log: one row per appointment, promotion, exit, step-down and planning change.

The log opens with a "start" row (cause "held") for every post held at the start of the first
recorded year, so that careers and rosters can be rebuilt from the log alone. Start rows are
records of a state, not moves: no metric counts them.

Each row also carries the cadre's whole age and sex at the event, the level and rank of the place
the cadre held just before it (for a move or an exit: the place left; rank "staff" for the staff
pool; none for entrants and start rows) and whether it was made at a congress (the congress
phase of a term's last year). Every column is a small integer or a category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

    from pipeline_sim.model import PipelineModel

COLUMNS = (
    "year",
    "kind",
    "cause",
    "cadre",
    "post",
    "unit",
    "level",
    "sector",
    "from_post",
    "chain",
    "age",
    "female",
    "from_level",
    "from_rank",
    "at_congress",
)

#: ranks of a place: the three post ranks, then the staff pool (pipeline_sim.world.hierarchy)
PLACE_RANKS = ("head", "deputy", "member", "staff")
#: kinds of event whose cadre left no place: entrants and the posts held at the start
NO_PLACE_LEFT = ("entry", "start")


class EventLog:
    """Events are stored as blocks of arrays and become one DataFrame on demand."""

    def __init__(self, enabled: bool = True, planning: bool = True):
        self.enabled = enabled
        self.planning = planning
        #: codes of the kinds and of the causes, each in order of first use
        self.vocab: dict[str, dict[str, int]] = {"kind": {}, "cause": {}}
        self.blocks: list[dict[str, np.ndarray]] = []
        self._spool: tuple | None = None  # (path, levels, sectors, constant columns)
        self._writer = None
        self._finished = False  # the spool file is complete and closed

    # spooling to a Parquet file during a run (memory stays flat) ------------------------------

    def spool_to(self, path, levels: list[str], sectors: list[str], **constant) -> None:
        """Write the log to `path` as the run goes (`flush` after each year, `finish` at the end)
        instead of keeping it in memory; `to_frame` reads it back."""
        self._spool = (path, levels, sectors, constant)

    def flush(self, force: bool = False) -> None:
        """Append the events logged so far to the spool file (one row group) and forget them;
        `force`: even when there are none (so that the file has its schema)."""
        if self._spool is None or not (self.blocks or force):
            return
        from pipeline_sim.parquet import writer

        path, levels, sectors, constant = self._spool
        table = self.to_arrow(levels, sectors, drop_unused=False, **constant)
        if self._writer is None:
            self._writer = writer(path, table.schema)
        self._writer.write_table(table)
        self.blocks.clear()

    def finish(self) -> None:
        """Flush and close the spool file (written even when empty)."""
        if self._spool is None:
            return
        self.flush(force=self._writer is None)
        self._writer.close()
        self._writer = None
        self._finished = True

    def _codes(self, values, column: str) -> np.ndarray:
        """Codes of `values`: one name (one code for the block), an array of names, or (names,
        index of each row's name)."""
        vocab = self.vocab[column]
        if isinstance(values, str):
            return np.int16(vocab.setdefault(values, len(vocab)))
        if isinstance(values, tuple):
            names, index = values
            index = np.asarray(index)
            # the names used take codes in the order of `names` (a few names: one pass each)
            used = [i for i in range(len(names)) if (index == i).any()]
            codes = np.full(len(names), -1, dtype=np.int16)
            for i in used:
                codes[i] = vocab.setdefault(names[i], len(vocab))
            return np.take(codes, index)
        uniq, inv = np.unique(np.asarray(values), return_inverse=True)
        codes = np.array([vocab.setdefault(str(u), len(vocab)) for u in uniq], dtype=np.int16)
        return codes[inv]

    def log(
        self,
        kind: str,
        cause,
        model: PipelineModel,
        rows: np.ndarray,
        posts: np.ndarray,
        from_post: np.ndarray | None = None,
        chain: np.ndarray | None = None,
        kind_array: np.ndarray | None = None,
        year: int | None = None,
    ) -> None:
        """Record events for cadre `rows` at `posts` (-1: no post; the cadre's unit is used).

        Called before the records change. `year` defaults to the model's year. Posts and units are
        written by their permanent numbers (`ident`), which a restructuring never reuses.
        """
        if not self.enabled or (kind.startswith("plan_") and not self.planning):
            return
        n = len(rows)
        if n == 0:
            return
        c, p, u = model.cadres, model.posts, model.units
        posts = np.asarray(posts, dtype=np.int64)
        has_post = posts >= 0
        safe = np.where(has_post, posts, 0)
        unit = np.where(has_post, p.unit[safe], c.unit[rows])
        year = model.year if year is None else year
        left = c.grade[rows].astype(np.int16)  # the place held before the event: 4 * level + rank
        if kind in NO_PLACE_LEFT:
            left = np.full(n, -1, dtype=np.int16)
        if from_post is None:
            from_ident = np.int64(-1)  # one value for the block
        else:
            from_post = np.asarray(from_post, dtype=np.int64)
            from_ident = np.where(from_post >= 0, p.ident[np.maximum(from_post, 0)], -1)
        self.append(
            model,
            year=year,
            kind=kind if kind_array is None else kind_array,
            cause=cause,
            rows=rows,
            post=np.where(has_post, p.ident[safe], -1),
            unit=u.ident[unit],
            level=u.level[unit],
            sector=np.where(has_post, p.sector[safe], c.sector[rows]),
            from_post=from_ident,
            chain=np.int64(-1) if chain is None else np.asarray(chain),
            left=left,
        )

    def append(
        self,
        model: PipelineModel,
        *,
        year: int,
        kind,
        cause,
        rows: np.ndarray,
        post: np.ndarray,
        unit: np.ndarray,
        level: np.ndarray,
        sector: np.ndarray,
        from_post: np.ndarray,
        chain: np.ndarray,
        left: np.ndarray,
    ) -> None:
        """Record events of cadre `rows` with the outputs' post and unit numbers given (idents, -1
        for none), the level and sector of the event and the grade of the place left (-1: none)."""
        if not self.enabled:
            return
        n = len(rows)
        if n == 0:
            return
        c = model.cadres
        left = np.asarray(left, dtype=np.int16)
        age = np.take(c.birth, rows)  # a copy: whole years of age at the event, in place
        np.subtract(year + 0.5, age, out=age)
        np.floor(age, out=age)
        np.clip(age, -1, 127, out=age)

        def col(values, dtype):
            return np.asarray(values).astype(dtype, copy=False)

        self.blocks.append(
            {
                "year": np.int32(year),  # one value for the block (see `columns`)
                "kind": self._codes(kind, "kind"),
                "cause": self._codes(cause, "cause"),
                "cadre": col(c.uid[rows], np.int64),
                "post": col(post, np.int32),
                "unit": col(unit, np.int32),
                "level": col(level, np.int8),
                "sector": col(sector, np.int8),
                "from_post": col(from_post, np.int32),
                "chain": col(chain, np.int64),
                "age": age.astype(np.int8),
                "female": c.female[rows],
                "from_level": (left >> 2).astype(np.int8),  # grade // 4; none (-1): -1
                "from_rank": np.where(left >= 0, left & 3, -1).astype(np.int8),  # grade % 4
                "at_congress": np.bool_(getattr(model, "phase", None) == "congress"),
            }
        )

    def columns(self) -> dict[str, np.ndarray]:
        """Every column, blocks in the order logged, and within a block (one call of `log`:
        events of one phase at one moment) by cadre, which also makes the file much smaller."""
        if not self.blocks:
            return {col: np.zeros(0, dtype=np.int64) for col in COLUMNS}
        sizes = [len(b["cadre"]) for b in self.blocks]
        block = np.repeat(np.arange(len(self.blocks)), sizes)
        order = np.lexsort((np.concatenate([b["cadre"] for b in self.blocks]), block))
        del block

        def column(col: str) -> np.ndarray:
            # a column with one value for a block (year, at_congress, often kind) is kept as that
            # value until here
            parts = [np.broadcast_to(b[col], (k,)) for b, k in zip(self.blocks, sizes, strict=True)]
            return np.concatenate(parts)[order]

        return {col: column(col) for col in COLUMNS}

    def to_arrow(
        self, levels: list[str], sectors: list[str], drop_unused: bool = True, **constant
    ) -> pa.Table:
        """The log as an Arrow table, the same columns and types as `to_frame` gives (categories
        as dictionaries), after `constant` columns (e.g. scenario, rep, seed) of one value each;
        written to Parquet without going through pandas."""
        import pyarrow as pa

        from pipeline_sim.parquet import constant_columns, dictionary

        data = self.columns()
        n = len(data["cadre"])

        def categories(codes: np.ndarray, values: list[str], drop_unused: bool = False) -> pa.Array:
            codes = codes.astype(np.int64)
            if drop_unused:
                used = np.unique(codes[codes >= 0])
                remap = np.full(max(len(values), 1), -1, np.int64)
                remap[used] = np.arange(len(used))
                codes, values = (
                    np.where(codes >= 0, remap[np.maximum(codes, 0)], -1),
                    [values[i] for i in used],
                )
            return dictionary(codes, values)

        cols = constant_columns(n, constant)
        for col in COLUMNS:
            v = data[col]
            if col in ("kind", "cause"):
                names = sorted(self.vocab[col], key=self.vocab[col].get)
                cols[col] = categories(v, names, drop_unused=drop_unused)
            elif col in ("level", "sector", "from_level"):
                cols[col] = categories(v, levels if col != "sector" else sectors)
            elif col == "from_rank":
                cols[col] = categories(v, list(PLACE_RANKS))
            else:
                cols[col] = pa.array(v)
        return pa.table(cols)

    def to_frame(self, levels: list[str], sectors: list[str]) -> pd.DataFrame:
        if self._spool is not None:
            return self._spooled_frame(levels, sectors)
        data = self.columns()
        df = pd.DataFrame(data)
        for col in ("kind", "cause"):
            names = sorted(self.vocab[col], key=self.vocab[col].get)
            df[col] = (
                pd.Categorical.from_codes(df[col].astype(np.int64), categories=names)
                if names
                else pd.Categorical([])
            )
            df[col] = df[col].cat.remove_unused_categories()
        df["level"] = pd.Categorical.from_codes(df["level"].astype(np.int64), categories=levels)
        df["sector"] = pd.Categorical.from_codes(df["sector"].astype(np.int64), categories=sectors)
        df["from_level"] = pd.Categorical.from_codes(df["from_level"].astype(np.int64), categories=levels)
        df["from_rank"] = pd.Categorical.from_codes(df["from_rank"].astype(np.int64), categories=PLACE_RANKS)
        for col, dtype in (("age", np.int8), ("female", bool), ("at_congress", bool)):
            df[col] = df[col].astype(dtype)
        return df

    def _spooled_frame(self, levels: list[str], sectors: list[str]) -> pd.DataFrame:
        """The spool file read back, with the events not yet flushed, in the frame's columns."""
        import pyarrow.parquet as pq

        path, _, _, constant = self._spool
        if self._finished:  # everything is in the file
            table = pq.read_table(path)
            return self._frame_of(table, constant)
        parts = []
        if self._writer is not None:
            self._writer.close()  # a closed file can be read; later flushes start a new one
            self._writer = None
            parts.append(pq.read_table(path))
            path.unlink()
        if self.blocks or not parts:
            parts.append(self.to_arrow(levels, sectors, drop_unused=False, **constant))
            self.blocks.clear()
        table = pa_concat(parts)
        from pipeline_sim.parquet import writer  # keep the spool whole for a later finish

        self._writer = writer(path, table.schema)
        self._writer.write_table(table)
        return self._frame_of(table, constant)

    @staticmethod
    def _frame_of(table, constant: dict) -> pd.DataFrame:
        df = table.drop_columns(list(constant)).to_pandas()
        for col in ("kind", "cause"):
            df[col] = df[col].cat.remove_unused_categories()
        return df


def pa_concat(tables: list) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()

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
        self.vocab: dict[str, int] = {}
        self.blocks: list[dict[str, np.ndarray]] = []

    def _codes(self, values, n: int) -> np.ndarray:
        if isinstance(values, str):
            return np.full(n, self.vocab.setdefault(values, len(self.vocab)), dtype=np.int16)
        uniq, inv = np.unique(np.asarray(values), return_inverse=True)
        codes = np.array([self.vocab.setdefault(str(u), len(self.vocab)) for u in uniq], dtype=np.int16)
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

        Called before the records change. `year` defaults to the model's year.
        """
        if not self.enabled or (kind.startswith("plan_") and not self.planning):
            return
        n = len(rows)
        if n == 0:
            return
        c, p = model.cadres, model.posts
        posts = np.asarray(posts, dtype=np.int64)
        has_post = posts >= 0
        safe = np.where(has_post, posts, 0)
        unit = np.where(has_post, p.unit[safe], c.unit[rows])
        year = model.year if year is None else year
        left = c.grade[rows].astype(np.int16)  # the place held before the event: 4 * level + rank
        if kind in NO_PLACE_LEFT:
            left = np.full(n, -1, dtype=np.int16)
        age = np.clip(np.floor(year + 0.5 - c.birth[rows]), -1, 127)
        self.blocks.append(
            {
                "year": np.full(n, year, dtype=np.int32),
                "kind": self._codes(kind if kind_array is None else kind_array, n),
                "cause": self._codes(cause, n),
                "cadre": c.uid[rows].astype(np.int64),
                "post": posts.astype(np.int32),
                "unit": unit.astype(np.int32),
                "level": model.units.level[unit].astype(np.int8),
                "sector": np.where(has_post, p.sector[safe], c.sector[rows]).astype(np.int8),
                "from_post": (np.full(n, -1) if from_post is None else np.asarray(from_post)).astype(
                    np.int32
                ),
                "chain": (np.full(n, -1) if chain is None else np.asarray(chain)).astype(np.int64),
                "age": age.astype(np.int8),
                "female": c.female[rows].copy(),
                "from_level": np.where(left >= 0, left // 4, -1).astype(np.int8),
                "from_rank": np.where(left >= 0, left % 4, -1).astype(np.int8),
                "at_congress": np.full(n, getattr(model, "phase", None) == "congress"),
            }
        )

    def to_frame(self, levels: list[str], sectors: list[str]) -> pd.DataFrame:
        if not self.blocks:
            data = {col: np.zeros(0, dtype=np.int64) for col in COLUMNS}
        else:
            data = {col: np.concatenate([b[col] for b in self.blocks]) for col in COLUMNS}
        names = sorted(self.vocab, key=self.vocab.get)
        df = pd.DataFrame(data)
        for col in ("kind", "cause"):
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

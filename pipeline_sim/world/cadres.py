"""The cadre table: one numpy array per attribute, one row per cadre.

Rows of cadres who left service are archived at the next recruitment and reused for entrants, so
the table stays about the size of the service. A cadre's permanent identity is ``uid``.
"""

from __future__ import annotations

import numpy as np

# status codes: 0 = in service; the others are exits, also used as causes in the event log
ACTIVE = 0
#: "early_retired": early retirement offered at a restructuring (Decree 178/2024)
EXIT_CAUSES = ("retired", "died", "resigned", "left", "dismissed", "expelled", "early_retired")
STATUS = {"active": ACTIVE, **{name: i + 1 for i, name in enumerate(EXIT_CAUSES)}}
HISTORY = 3  # years of assessment grades kept
NO_GRADE = -1  # below every grade code (rules.record_ok relies on it)

FIELDS: dict[str, tuple[type | str, tuple[int, ...], object]] = {
    # identity and demography
    "uid": (np.int64, (), -1),
    "birth": (np.float64, (), 0.0),  # birth date as a fractional year
    "female": (np.bool_, (), False),
    "minority": (np.bool_, (), False),
    "home": (np.int32, (), -1),  # home locality
    "t_retire": (np.float64, (), 0.0),  # date of statutory retirement
    "entry_year": (np.int32, (), 0),
    "status": (np.int8, (), ACTIVE),
    "exit_year": (np.int32, (), -1),
    # latent qualities (true, unobserved)
    "competence": (np.float32, (), 0.0),
    "post_skill": (np.float32, (), 0.0),
    "integrity": (np.float32, (), 0.0),
    "prestige": (np.float32, (), 0.0),
    # place
    "unit": (np.int32, (), -1),
    "sector": (np.int8, (), 0),
    "post": (np.int32, (), -1),  # -1: the staff pool of `unit`
    "grade": (np.int16, (), 0),
    "place": (np.int32, (), 0),  # (unit * n_sectors + sector) * 4 + rank: see PipelineModel.place_key
    "level": (np.int8, (), 0),
    "post_start": (np.int32, (), 0),  # year the cadre took the current post (or entered service)
    "moved_year": (np.int32, (), -9999),  # last year of an appointment
    # history
    "grassroots": (np.bool_, (), False),  # ever served at the lowest level
    "sectors_mask": (np.uint8, (), 0),
    "n_localities": (np.int16, (), 1),
    "locality": (np.int32, (), -1),  # current locality
    "rotated": (np.bool_, (), False),
    "ever_key": (np.bool_, (), False),
    "lead_years": (np.int16, (), 0),  # years spent in leadership posts (counted at each year end)
    "breadth": (np.float32, (), 0.0),  # varied experience (see operations.experience_breadth)
    # assessment
    # grades of the last HISTORY years, 0 excellent .. 3 not completed; year y is in column y % HISTORY
    "grades": (np.int8, (HISTORY,), NO_GRADE),
    "score": (np.float32, (), 0.0),  # last 100-point score
    "merit": (np.float32, (), 0.0),  # smoothed assessed score, used by merit selection
    "performance": (np.float32, (), 0.0),
    # planning and discipline
    "n_planned": (np.int8, (), 0),
    "ban_until": (np.int32, (), -9999),  # no planning or promotion before this year
    "violation": (np.bool_, (), False),  # a violation not yet dealt with (undetected or awaiting removal)
    "detected": (np.bool_, (), False),  # the violation was found and the holder awaits removal
    "disciplined_year": (np.int32, (), -9999),
    "reprimands": (np.int8, (), 0),  # reprimands in the term `reprimand_term`
    "reprimand_term": (np.int16, (), -1),
    "pending_removal": (np.bool_, (), False),  # lenient removal: replaced at the end of the term
    "low_confidence": (np.float32, (), np.nan),  # share of low-confidence votes at the last vote
    # rotation, patronage, fast track
    "rotation_until": (np.int32, (), -9999),  # on rotation until the end of this year
    "rotation_home": (np.int32, (), -1),  # post held before the rotation (-1: none to return to)
    "network": (np.int32, (), -1),  # patronage network
    "fast_track": (np.bool_, (), False),
    "archived": (np.bool_, (), False),  # a row of a cadre who left, already copied to the archive
}

ARCHIVE_FIELDS = (
    "exit_year",
    "uid",
    "birth",
    "female",
    "minority",
    "home",
    "entry_year",
    "status",
    "competence",
    "integrity",
    "grade",
    "unit",
)


class CadreTable:
    """Columns of equal length; attribute access gives the column array (a view of storage).

    Storage has spare capacity so that entrants are appended in place. Rows of cadres who left are
    archived and reused for entrants (see `recycle_and_append`), so a row number stays valid while
    its cadre is in service, and every phase must look at ``status`` rather than assume all rows
    are in service.
    """

    def __init__(self) -> None:
        self._store: dict[str, np.ndarray] = {
            name: np.full((0, *shape), fill, dtype=dtype) for name, (dtype, shape, fill) in FIELDS.items()
        }
        self._n = 0
        self._views: dict[str, np.ndarray] = {}
        self.next_uid = 0
        self.archive: dict[str, list[np.ndarray]] = {name: [] for name in ARCHIVE_FIELDS}

    def _refresh(self) -> None:
        self._views = {name: arr[: self._n] for name, arr in self._store.items()}

    @property
    def columns(self) -> dict[str, np.ndarray]:
        return self._views

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_views"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value) -> None:
        if name in FIELDS:
            col = self._views[name]
            if value is not col:
                col[...] = value
        else:
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return self._n

    def new_rows(self, n: int, at: int | None = None, **values) -> dict[str, np.ndarray]:
        """Blocks for `n` new cadres with defaults, overridden by `values`; uids assigned.

        With `at`, the blocks are storage rows ``at .. at + n`` past the table's end, written in
        place (no copy of the block is made): room for them must be reserved, and `extend_to`
        then takes them into the table.
        """
        if at is not None and not (self._n <= at and at + n <= len(self._store["uid"])):
            raise ValueError(f"rows {at}..{at + n} are not reserved rows past the table's end")
        block = {}
        for name, (dtype, shape, fill) in FIELDS.items():
            if at is None:
                block[name] = np.full((n, *shape), fill, dtype=dtype)
            else:
                block[name] = self._store[name][at : at + n]
                block[name][...] = fill
        for name, value in values.items():
            block[name][...] = value
        block["uid"][...] = np.arange(self.next_uid, self.next_uid + n, dtype=np.int64)
        self.next_uid += n
        return block

    def reserve(self, n: int) -> None:
        """Make room for `n` rows in all, with a quarter spare, at once (no copy on later appends)."""
        if n > len(self._store["uid"]):
            self._grow(int(n * 1.25) + 1024)

    def extend_to(self, n: int) -> None:
        """Take reserved storage rows up to `n` into the table (rows written by ``new_rows(at=)``)."""
        if not (self._n <= n <= len(self._store["uid"])):
            raise ValueError(f"{n} rows: not between the table's {self._n} and its storage")
        self._n = n
        self._refresh()

    def _grow(self, cap: int) -> None:
        for name, (dtype, shape, _fill) in FIELDS.items():
            arr = np.empty((cap, *shape), dtype=dtype)  # rows past n are written before use
            arr[: self._n] = self._store[name][: self._n]
            self._store[name] = arr

    def append(self, block: dict[str, np.ndarray]) -> np.ndarray:
        """Add `block` as new rows at the end (growing storage by a quarter when full)."""
        k = len(block["uid"])
        first, need = self._n, self._n + k
        if need > len(self._store["uid"]):
            self._grow(int(need * 1.25) + 1024)
        for name in FIELDS:
            self._store[name][first:need] = block[name]
        self._n = need
        self._refresh()
        return np.arange(first, need)

    def recycle_and_append(self, block: dict[str, np.ndarray], year: int) -> np.ndarray:
        """Archive the rows of cadres who left and write `block` into them, appending the rest.

        Rows of cadres who left are in no post, pool or selection index, so they can be reused
        without moving any other row (no compaction). Returns the rows written, in block order.
        """
        gone = np.flatnonzero((self._views["status"] != ACTIVE) & ~self._views["archived"])
        if len(gone):
            for name in ARCHIVE_FIELDS:
                self.archive[name].append(self._views[name][gone].copy())
            self._views["archived"][gone] = True
        free = np.flatnonzero(self._views["archived"])
        k = len(block["uid"])
        reuse = min(k, len(free))
        if reuse:
            for name in FIELDS:
                self._store[name][free[:reuse]] = block[name][:reuse]
        appended = self.append({n: b[reuse:] for n, b in block.items()})
        return np.concatenate([free[:reuse], appended])

    def archived(self) -> dict[str, np.ndarray]:
        """Cadres who left service, as archived at the recruitment after they left."""
        return {
            name: np.concatenate(parts) if parts else np.zeros(0, dtype=FIELDS[name][0])
            for name, parts in self.archive.items()
        }

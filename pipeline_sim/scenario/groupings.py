"""Grouping files of a restructuring's merger: which units of a level become one unit.

Two formats, chosen by the file's extension:

- CSV (``.csv``) with a header naming the columns ``unit`` and ``group`` (other columns, such as a
  name for the reader, are ignored): one row per unit of the level, ``unit`` its number in the level
  (1 = the level's first unit in ``units.parquet``), ``group`` any label; units with the same label
  merge. ``#`` starts a comment line.
- TOML (``.toml``): ``groups = [[1, 2], [3], [4, 5, 6]]``, one list of unit numbers per group.

The merged units are numbered in the order of their first (lowest-numbered) members.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import numpy as np

MAX_GROUPING_BYTES = 16 << 20  #: a grouping of every commune of the nation is about 120 KB


class GroupingError(ValueError):
    """A grouping file that cannot be used; the message names the file and, where it can, the row."""


def _text(path: Path) -> str:
    from pipeline_sim.scenario.loader import read_text

    return read_text(
        path,
        "grouping file",
        "a grouping file (CSV or TOML)",
        GroupingError,
        limit=MAX_GROUPING_BYTES,
        where=str(path),
    )


def _unit_number(text: str, where: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise GroupingError(f"{where}: unit {text.strip()[:40]!r} is not a unit number") from None
    return value


def read_rows(path: Path) -> list[tuple[str, int, str]]:
    """(row or group, unit number, group label) of every unit the file names, in file order."""
    text = _text(path)
    rows: list[tuple[str, int, str]] = []
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            raise GroupingError(f"{path}: malformed TOML: {str(exc)[:200]}") from None
        groups = data.get("groups")
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            raise GroupingError(
                f"{path}: expected groups = [[1, 2], [3], ...] (one list of unit numbers per group)"
            )
        for gi, members in enumerate(groups):
            if not members:
                raise GroupingError(f"{path}: groups[{gi}] is empty")
            for u in members:
                if not isinstance(u, int) or isinstance(u, bool):
                    raise GroupingError(f"{path}: groups[{gi}]: {u!r} is not a unit number")
                rows.append((f"groups[{gi}]", u, f"groups[{gi}]"))
        return rows
    if path.suffix.lower() != ".csv":
        raise GroupingError(f"{path}: a grouping file is a .csv or a .toml file")
    numbered = [
        (n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        raise GroupingError(f"{path}: empty grouping file")
    try:
        records = [(n, next(csv.reader([line]))) for n, line in numbered]
    except csv.Error as exc:
        raise GroupingError(f"{path}: not a CSV file ({exc})") from None
    header = [h.strip().lower() for h in records[0][1]]
    if "unit" not in header or "group" not in header:
        raise GroupingError(f"{path}: the header must name the columns 'unit' and 'group' (got {header[:6]})")
    iu, ig = header.index("unit"), header.index("group")
    for n, record in records[1:]:
        where = f"{path} row {n}"
        if len(record) <= max(iu, ig):
            raise GroupingError(f"{where}: expected the columns {header}")
        label = record[ig].strip()
        if not label:
            raise GroupingError(f"{where}: the group is empty")
        rows.append((f"row {n}", _unit_number(record[iu], where), label))
    return rows


def groups_for_level(path: Path, n_units: int, parent: np.ndarray | None) -> np.ndarray:
    """The group number (0, 1, ... in the order of their first members) of each of the `n_units`
    units of a level, from a grouping file. With `parent` (each unit's parent), a group must not
    mix units of different parents."""
    rows = read_rows(path)
    label_of = np.full(n_units, -1, np.int64)
    seen_at: dict[int, str] = {}
    labels: dict[str, int] = {}
    for loc, unit, label in rows:
        where = f"{path} {loc}"
        if not 1 <= unit <= n_units:
            raise GroupingError(f"{where}: unit {unit} is not a unit of the level (1 to {n_units})")
        if unit in seen_at:
            raise GroupingError(f"{where}: unit {unit} is named twice (also in {seen_at[unit]})")
        seen_at[unit] = loc
        label_of[unit - 1] = labels.setdefault(label, len(labels))
    missing = np.flatnonzero(label_of < 0) + 1
    if len(missing):
        shown = ", ".join(str(u) for u in missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise GroupingError(
            f"{path}: leaves out {len(missing)} of the level's {n_units} units ({shown}); every unit must be "
            "in one group"
        )
    # groups numbered by their first members
    first = np.full(len(labels), n_units, np.int64)
    np.minimum.at(first, label_of, np.arange(n_units))
    rank = np.empty(len(labels), np.int64)
    rank[np.argsort(first)] = np.arange(len(labels))
    group = rank[label_of]
    if parent is not None:
        par = np.asarray(parent)
        lo = np.full(len(labels), np.iinfo(np.int64).max)
        hi = np.full(len(labels), np.iinfo(np.int64).min)
        np.minimum.at(lo, group, par)
        np.maximum.at(hi, group, par)
        bad = np.flatnonzero(lo != hi)
        if len(bad):
            g = bad[0]
            units = np.flatnonzero(group == g)
            a = units[0]
            b = units[np.flatnonzero(par[units] != par[a])[0]]
            label = next(lab for lab, i in labels.items() if rank[i] == g)
            shown = label if label.startswith("groups[") else f"group {label!r}"
            raise GroupingError(
                f"{path}: {shown} puts units {a + 1} and {b + 1} of different parents together "
                "(set cross_parents = true to allow it)"
            )
    return group

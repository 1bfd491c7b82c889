"""Calibration targets: real figures with their uncertainty, role and source, in a TOML file.

A targets file holds one ``[[target]]`` table per figure::

    [[target]]
    id = "cc_women_13th"                 # optional; unique (default: statistic-group-year)
    statistic = "women_share_at_election"
    body = "central_committee"           # the group: body = "...", or posts = "level.sector.rank"
    year = 2021                          # the real year of the figure (or period = [2016, 2021])
    model_year = 2020                    # the model year it is read at (default: year)
    value = 0.095
    n = 200                              # a share of a group of known size: binomial likelihood
    role = "calibrate"                   # or "validate": reported, never fitted
    source = "rules.md §8; znews.vn"

Uncertainty is ``sd`` (normal likelihood), ``interval = [low, high]`` (a 95% interval: sd is its
width / 3.92) or, for a share, ``n`` (the real group's size: binomial likelihood). Optional:
``weight`` (default 1), ``tolerance`` (relative, default 0.1), ``status = "not_computable"`` with
a ``note`` (kept for the record, never scored), ``note``. See :mod:`pipeline_sim.statistics` for
the statistics and their group fields (``body``, ``posts``, ``level``, ``age``).

The model holds each congress in the last year of its term, so a congress figure of January 2026
(the 14th Party Congress) is read at the model's congress of 2025: ``model_year = 2025``. Figures
of a period (``period``) are read over ``model_period`` (default: the same years).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline_sim.statistics import STATISTICS, Statistic

ROLES = ("calibrate", "validate")
STATUSES = ("ok", "not_computable")
GROUP_FIELDS = ("body", "posts", "level", "age")
FIELDS = (
    "id",
    "statistic",
    *GROUP_FIELDS,
    "year",
    "period",
    "model_year",
    "model_period",
    "value",
    "sd",
    "interval",
    "n",
    "weight",
    "tolerance",
    "role",
    "status",
    "source",
    "note",
)
#: z of a two-sided 95% interval: an interval [low, high] gives sd = (high - low) / (2 * Z95)
Z95 = 1.959963984540054
MAX_TARGETS = 1000


class TargetError(Exception):
    """A targets file cannot be used; the message names the file, the row and the field."""


@dataclass(frozen=True)
class Target:
    """One real figure to set beside a model statistic."""

    id: str
    statistic: str
    group: dict[str, Any]
    value: float
    role: str
    source: str
    years: tuple[int, ...]  # real years: (year,) or (first, last) of a period
    model_years: tuple[int, ...]  # model years it is read at: (year,) or every year of the period
    sd: float | None = None
    n: float | None = None
    weight: float = 1.0
    tolerance: float = 0.1
    status: str = "ok"
    note: str = ""
    row: int = 0  # 1-based position in the file

    @property
    def stat(self) -> Statistic:
        return STATISTICS[self.statistic]

    @property
    def computable(self) -> bool:
        return self.status == "ok" and self.stat.computable

    @property
    def likelihood(self) -> str:
        return "binomial" if self.n is not None else "normal"

    @property
    def real_years(self) -> str:
        return str(self.years[0]) if len(self.years) == 1 else f"{self.years[0]}-{self.years[1]}"

    @property
    def model_span(self) -> str:
        y = self.model_years
        return str(y[0]) if len(y) == 1 else f"{y[0]}-{y[-1]}"

    def group_label(self) -> str:
        parts = []
        for k in GROUP_FIELDS:
            if k in self.group:
                v = self.group[k]
                parts.append(f"{k}={'+'.join(v) if isinstance(v, list) else v}")
        return ", ".join(parts)

    def request(self) -> tuple[str, str, dict[str, Any]]:
        """(id, statistic, group): what a run computes for this target."""
        return (self.id, self.statistic, dict(self.group))

    def record(self) -> dict[str, Any]:
        """The target as plain data (manifests, reports)."""
        return {
            "id": self.id,
            "statistic": self.statistic,
            "group": self.group_label(),
            "real_years": self.real_years,
            "model_years": self.model_span,
            "value": self.value,
            "sd": self.sd,
            "n": self.n,
            "weight": self.weight,
            "tolerance": self.tolerance,
            "role": self.role,
            "status": self.status,
            "source": self.source,
            "note": self.note,
        }


@dataclass
class TargetSet:
    path: str
    targets: list[Target]
    meta: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def computable(self, role: str | None = None) -> list[Target]:
        return [t for t in self.targets if t.computable and (role is None or t.role == role)]

    def needs(self) -> set[str]:
        return {n for t in self.computable() for n in t.stat.needs}

    def model_years(self) -> list[int]:
        return sorted({y for t in self.computable() for y in t.model_years})


def shipped(name: str = "vietnam") -> Path:
    """The path of a targets file shipped with the package (``pipeline_sim/data/targets``)."""
    return Path(str(resources.files("pipeline_sim") / "data" / "targets" / f"{name}.toml"))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def load_targets(path: str | Path) -> TargetSet:
    """Read and check a targets file (everything that does not depend on a scenario).

    Raises:
        TargetError: naming the file, the row (``target N``, with its id) and the field.
    """
    from pipeline_sim.scenario.loader import read_text, shown, shown_path

    where = shown_path(path)
    text = read_text(Path(path), "targets file", "a TOML targets file", TargetError)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{where}: malformed TOML: {shown(exc, 300)}") from None
    except RecursionError:
        raise TargetError(f"{where}: tables nested too deeply") from None
    unknown = set(raw) - {"meta", "target"}
    if unknown:
        raise TargetError(
            f"{where}: {sorted(unknown)[0]}: unknown table; a targets file has [meta] and [[target]] tables"
        )
    rows = raw.get("target")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise TargetError(f"{where}: no [[target]] tables (one per real figure)")
    if len(rows) > MAX_TARGETS:
        raise TargetError(f"{where}: more than {MAX_TARGETS} targets")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise TargetError(f"{where}: meta: expected a table")
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, start=1):
        t = _target(row, i, where)
        if t.id in seen:
            raise TargetError(f"{where}: target {i} ({t.id}): id: also the id of target {seen[t.id]}")
        seen[t.id] = i
        targets.append(t)
    return TargetSet(str(path), targets, meta)


def _target(row: dict[str, Any], i: int, where: str) -> Target:
    from pipeline_sim.scenario.loader import shown

    label = f"target {i}" + (f" ({shown(row['id'], 60)})" if isinstance(row.get("id"), str) else "")

    def bad(key: str, msg: str) -> TargetError:
        got = f" (got {shown(repr(row[key]), 80)})" if key in row else ""
        return TargetError(f"{where}: {label}: {key}: {msg}{got}")

    for key in row:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise TargetError(
                f"{where}: {label}: {shown(key, 60)}: unknown field; {hint}fields are {', '.join(FIELDS)}"
            )
    for key in ("statistic", "value", "role", "source"):
        if key not in row:
            raise TargetError(f"{where}: {label}: {key}: missing (every target needs {key})")
    name = row["statistic"]
    if not isinstance(name, str) or name not in STATISTICS:
        close = difflib.get_close_matches(str(name), list(STATISTICS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise bad("statistic", f"unknown statistic; {hint}known: {', '.join(STATISTICS)}")
    stat = STATISTICS[name]
    group: dict[str, Any] = {}
    for key in GROUP_FIELDS:
        if key not in row:
            continue
        if key not in stat.groups:
            takes = ", ".join(stat.groups) or "no group fields"
            raise bad(key, f"{name} does not take this field (it takes {takes})")
        v = row[key]
        if key == "posts":
            items = [v] if isinstance(v, str) else v
            if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
                raise bad(key, "expected a post selector 'level.sector.rank' or a list of them")
            from pipeline_sim.world.bodies import parse_selector

            for x in items:
                sel = parse_selector(x)
                if sel is None or sel["k"] is not None or sel["n"] is not None:
                    raise bad(key, f"{shown(x, 80)!r} is not 'level.sector.rank' (each part a name or '*')")
            v = items if isinstance(v, list) else v
        elif key in ("body", "level"):
            if not isinstance(v, str) or not v:
                raise bad(key, "expected a name")
        elif key == "age" and not (_number(v) and 16 <= v <= 80):
            raise bad(key, "expected an age from 16 to 80")
        group[key] = v
    if "body" in group and "posts" in group:
        raise bad("posts", "give a body or posts, not both")
    for key in stat.required:
        if key not in group:
            raise TargetError(f"{where}: {label}: {key}: missing ({name} needs {key})")
    if {"body", "posts"} <= set(stat.groups) and not ({"body", "posts"} & set(group)):
        raise TargetError(f"{where}: {label}: body: missing ({name} needs a body or posts)")
    # years
    if ("year" in row) == ("period" in row):
        raise TargetError(f"{where}: {label}: year: give either year or period = [first, last]")
    if "year" in row:
        if not _int(row["year"]) or not 1900 <= row["year"] <= 2200:
            raise bad("year", "expected a year (an integer)")
        years: tuple[int, ...] = (row["year"],)
        if "model_period" in row:
            raise bad("model_period", "a target of one year takes model_year, not model_period")
        my = row.get("model_year", row["year"])
        if not _int(my) or not 1900 <= my <= 2200:
            raise bad("model_year", "expected a year (an integer)")
        model_years: tuple[int, ...] = (my,)
    else:
        per = row["period"]
        if not (isinstance(per, list) and len(per) == 2 and all(_int(y) for y in per) and per[0] <= per[1]):
            raise bad("period", "expected [first, last] years, first <= last")
        years = (per[0], per[1])
        if "model_year" in row:
            raise bad("model_year", "a target of a period takes model_period, not model_year")
        mp = row.get("model_period", per)
        if not (isinstance(mp, list) and len(mp) == 2 and all(_int(y) for y in mp) and mp[0] <= mp[1]):
            raise bad("model_period", "expected [first, last] years, first <= last")
        model_years = tuple(range(mp[0], mp[1] + 1))
        if stat.moment == "congress":
            raise bad("period", f"{name} is read at a congress: give the year (and model_year) of one")
    # value and uncertainty
    value = row["value"]
    if not _number(value):
        raise bad("value", "expected a finite number")
    if stat.kind == "share" and not 0 <= value <= 1:
        raise bad("value", "a share lies from 0 to 1")
    given = [k for k in ("sd", "interval", "n") if k in row]
    if len(given) != 1:
        raise TargetError(
            f"{where}: {label}: sd: give exactly one uncertainty: sd, interval = [low, high] "
            "(95%) or, for a share of a group of known size, n"
            + (f" (got {', '.join(given)})" if given else "")
        )
    sd = n = None
    if "sd" in row:
        if not _number(row["sd"]) or row["sd"] <= 0:
            raise bad("sd", "must be a positive number")
        sd = float(row["sd"])
    elif "interval" in row:
        iv = row["interval"]
        if not (isinstance(iv, list) and len(iv) == 2 and all(_number(x) for x in iv) and iv[0] < iv[1]):
            raise bad("interval", "expected [low, high] with low < high")
        if not iv[0] <= value <= iv[1]:
            raise bad("interval", f"does not hold the value {value:g}")
        sd = (iv[1] - iv[0]) / (2 * Z95)
    else:
        if stat.kind != "share":
            raise bad("n", f"n (a binomial likelihood) is for shares; {name} is a {stat.kind}: give sd")
        if not _number(row["n"]) or row["n"] < 1:
            raise bad("n", "must be a group size of at least 1")
        n = float(row["n"])
    weight = row.get("weight", 1.0)
    if not _number(weight) or weight < 0:
        raise bad("weight", "must be a number of at least 0")
    tolerance = row.get("tolerance", 0.1)
    if not _number(tolerance) or tolerance < 0:
        raise bad("tolerance", "must be a number of at least 0 (relative: 0.1 = 10%)")
    role = row["role"]
    if role not in ROLES:
        raise bad("role", f"expected one of {', '.join(ROLES)}")
    status = row.get("status", "ok")
    if status not in STATUSES:
        raise bad("status", f"expected one of {', '.join(STATUSES)}")
    source = row["source"]
    if not isinstance(source, str) or not source.strip():
        raise bad("source", "expected the source of the figure (text)")
    note = row.get("note", "")
    if not isinstance(note, str):
        raise bad("note", "expected text")
    if status == "not_computable" and not note.strip():
        raise TargetError(f"{where}: {label}: note: missing (say why the target is not computable)")
    tid = row.get("id")
    if tid is None:
        tid = "-".join(
            [name, *(str(group[k]) for k in GROUP_FIELDS if k in group and k != "posts"), str(years[0])]
        )
    elif not isinstance(tid, str) or not tid.strip() or len(tid) > 100:
        raise bad("id", "expected a name of 1 to 100 characters")
    return Target(
        id=tid,
        statistic=name,
        group=group,
        value=float(value),
        role=role,
        source=source.strip(),
        years=years,
        model_years=model_years,
        sd=sd,
        n=n,
        weight=float(weight),
        tolerance=float(tolerance),
        status=status,
        note=note.strip(),
        row=i,
    )


def check_against(targets: TargetSet, scenario, first_year: int, last_year: int) -> None:
    """Check the targets against a scenario run over model years `first_year` to `last_year`:
    bodies, levels and post selectors exist; every computable target's model years lie in the
    run; congress targets fall on congress years.

    Raises:
        TargetError: naming the file, the row and the field.
    """
    from pipeline_sim.scenario.loader import shown_path
    from pipeline_sim.world.bodies import selector_problem

    where = shown_path(targets.path)
    h = scenario.hierarchy
    bodies = [n for n, b in scenario.bodies.items() if b.posts]
    sim = scenario.simulation
    congresses = [
        y
        for y in range(first_year, last_year + 1)
        if (y - sim.start_year) % sim.term_years == sim.term_years - 1
    ]
    for t in targets:
        label = f"target {t.row} ({t.id})"
        if "body" in t.group and t.group["body"] not in bodies:
            raise TargetError(
                f"{where}: {label}: body: {t.group['body']!r} is not a body of {scenario.name} "
                f"(bodies: {', '.join(bodies) or 'none'})"
            )
        if "level" in t.group and t.group["level"] not in h.levels:
            raise TargetError(
                f"{where}: {label}: level: {t.group['level']!r} is not a level of {scenario.name} "
                f"(levels: {', '.join(h.levels)})"
            )
        if "posts" in t.group:
            items = t.group["posts"]
            for item in [items] if isinstance(items, str) else items:
                problem = selector_problem(item, list(h.levels), list(h.sectors))
                if problem:
                    raise TargetError(f"{where}: {label}: posts: {problem}")
        if not t.computable:
            continue
        key = "model_year" if len(t.model_years) == 1 else "model_period"
        outside = [y for y in t.model_years if not first_year <= y <= last_year]
        if outside:
            raise TargetError(
                f"{where}: {label}: {key}: model year {outside[0]} lies outside the run "
                f"({first_year}-{last_year}); start the run earlier (simulation.start_year), run more "
                'years, or mark the row status = "not_computable" with a note'
            )
        if t.stat.moment == "congress" and t.model_years[0] not in congresses:
            shown_years = ", ".join(map(str, congresses)) or "none"
            raise TargetError(
                f"{where}: {label}: model_year: {t.model_years[0]} is not a congress year of the run "
                f"(the model holds its congresses in the last year of each term: {shown_years})"
            )

"""Readable views of a model for the dashboard: unit and post names, cadre names, the province as
a tree, one unit's posts and pools, and one cadre's career in words. No user interface here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.rules import recent_grade

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel

RANKS = ("head", "deputy", "member")
GRADE_WORDS = ("excellent", "good", "completed", "not completed")

#: post titles by sector and rank; other sectors get "<sector> head" and the like
TITLES = {
    ("party", "head"): "Party secretary",
    ("party", "deputy"): "Deputy party secretary",
    ("party", "member"): "Standing committee member",
    ("state", "head"): "People's Committee chair",
    ("state", "deputy"): "People's Committee vice chair",
    ("state", "member"): "Department director",
    ("front", "head"): "Front chair",
    ("front", "deputy"): "Front vice chair",
    ("front", "member"): "Front committee member",
}

FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
)
MIDDLE_M = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Thành", "Công")
MIDDLE_F = ("Thị", "Thu", "Ngọc", "Thanh", "Hồng", "Kim")
GIVEN_M = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hải",
    "Hùng",
    "Khoa",
    "Long",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Tuấn",
)
GIVEN_F = (
    "Anh",
    "Châu",
    "Diệp",
    "Hà",
    "Hạnh",
    "Hoa",
    "Lan",
    "Linh",
    "Mai",
    "Nga",
    "Phương",
    "Thảo",
    "Trang",
    "Yến",
)

#: how each kind of event reads in a career, by cause where it matters
EXIT_WORDS = {
    "retired": "retired",
    "died": "died in service",
    "left": "left the service",
    "resigned": "resigned",
    "dismissed": "was dismissed",
    "expelled": "was expelled",
}


def cadre_name(uid: int, female: bool) -> str:
    """A readable name, always the same for the same cadre."""
    h = (int(uid) * 2654435761) & 0xFFFFFFFF
    middle, given = (MIDDLE_F, GIVEN_F) if female else (MIDDLE_M, GIVEN_M)
    return (
        f"{FAMILY[h % len(FAMILY)]} {middle[(h // 16) % len(middle)]} "
        f"{given[(h // 256) % len(given)]} (#{uid})"
    )


def unit_names(model: PipelineModel) -> list[str]:
    """'Province', 'District 2', 'Commune 2.5' ...: numbered within their parent."""
    u = model.units
    names: list[str] = [""] * len(u.level)
    counter: dict[int, int] = {}
    for i in range(len(u.level)):
        level = model.levels[u.level[i]].capitalize()
        if level == "Provincial":
            level = "Province"
        elif level == "Central":
            level = "Centre"
        parent = int(u.parent[i])
        if parent < 0:
            names[i] = level
            continue
        counter[parent] = counter.get(parent, 0) + 1
        prefix = names[parent].split(" ", 1)
        number = prefix[1] + "." if len(prefix) > 1 and u.level[parent] > 0 else ""
        names[i] = f"{level} {number}{counter[parent]}"
    return names


def post_title(model: PipelineModel, post: int, names: list[str] | None = None) -> str:
    p = model.posts
    sector, rank = model.sectors[p.sector[post]], RANKS[p.rank[post]]
    title = TITLES.get((sector, rank), f"{sector.capitalize()} {rank}")
    names = names or unit_names(model)
    return f"{title}, {names[p.unit[post]]}"


def unit_table(model: PipelineModel) -> pd.DataFrame:
    """One row per unit: name, parent name, level, posts, vacancies, key vacancies, gaps, bench.

    gaps: key posts vacant with nobody in the pool; bench: share of key posts with a planned successor.
    """
    names = unit_names(model)
    p, u = model.posts, model.units
    n = len(u.level)
    vacant = p.holder < 0
    posts = np.bincount(p.unit, minlength=n)
    vac = np.bincount(p.unit, weights=vacant, minlength=n)
    key_vac = np.bincount(p.unit, weights=vacant & p.key, minlength=n)
    key_posts = np.bincount(p.unit, weights=p.key, minlength=n)
    filled = (model.pools >= 0).sum(axis=1)
    kunit = p.unit[p.key_posts]
    bench_total = np.bincount(kunit, weights=filled > 0, minlength=n)
    empty_pool_vacant = np.bincount(kunit, weights=(filled == 0) & vacant[p.key_posts], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        bench = np.where(key_posts > 0, bench_total / np.maximum(key_posts, 1), np.nan)
    return pd.DataFrame(
        {
            "unit": np.arange(n),
            "name": names,
            "parent": ["" if u.parent[i] < 0 else names[u.parent[i]] for i in range(n)],
            "level": [model.levels[lv] for lv in u.level],
            "posts": posts,
            "vacancies": vac.astype(int),
            "key_vacancies": key_vac.astype(int),
            "gaps": empty_pool_vacant.astype(int),
            "bench": bench,
            "weak": u.weak.astype(bool),
        }
    )


def _age(model: PipelineModel, row: int) -> int:
    return int(model.year + 0.5 - model.cadres.birth[row])


def unit_posts(model: PipelineModel, unit: int) -> pd.DataFrame:
    """The posts of a unit with their holders (name, age) and, for key posts, the planning pool."""
    c, p = model.cadres, model.posts
    names = unit_names(model)
    rows = []
    for post in np.flatnonzero(p.unit == unit):
        h = int(p.holder[post])
        holder = "— vacant —" if h < 0 else cadre_name(c.uid[h], c.female[h])
        age = "" if h < 0 else _age(model, h)
        pool = ""
        if p.key[post]:
            entries = [int(r) for r in model.pools[p.key_index[post]] if r >= 0]
            pool = "; ".join(f"{cadre_name(c.uid[r], c.female[r])}, {_age(model, r)}" for r in entries)
            pool = pool or "(nobody planned)"
        rows.append(
            {
                "post": post_title(model, int(post), names).split(",")[0],
                "key post": "key" if p.key[post] else "",
                "holder": holder,
                "age": age,
                "holder_uid": -1 if h < 0 else int(c.uid[h]),
                "planning pool": pool,
            }
        )
    return pd.DataFrame(rows)


class GradeBook:
    """Assessment grades of every cadre in service, year by year (the model keeps only three)."""

    def __init__(self) -> None:
        self.years: dict[int, dict[int, int]] = {}

    def record(self, model: PipelineModel) -> None:
        c = model.cadres
        active = np.flatnonzero(c.status == ACTIVE)
        grade = recent_grade(model, 0)[active]
        ok = grade < len(GRADE_WORDS)
        self.years[model.year] = dict(zip(c.uid[active][ok].tolist(), grade[ok].tolist(), strict=True))

    def of(self, uid: int) -> dict[int, int]:
        return {y: g[uid] for y, g in self.years.items() if uid in g}


def _kinds(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(kind=events["kind"].astype(str), cause=events["cause"].astype(str))


def interesting_cadres(model: PipelineModel, events: pd.DataFrame | None = None) -> dict[str, list[int]]:
    """uids of cadres with a story, by kind: became the province's party secretary, was rotated,
    was disciplined, was planned but never appointed (most recent first)."""
    ev = _kinds(model.events_frame() if events is None else events)
    p = model.posts
    top = np.flatnonzero((p.level == 0) & (p.rank == 0) & (p.sector == 0))
    seated = ev[ev["kind"].isin(["promotion", "appointment", "rotation"])]
    out = {
        "became provincial secretary": seated[seated["post"].isin(top)]["cadre"],
        "was rotated": ev[ev["kind"] == "rotation"]["cadre"],
        "was disciplined": ev[ev["kind"] == "discipline"]["cadre"],
    }
    planned = set(ev[ev["kind"] == "plan_add"]["cadre"])
    promoted = set(ev[ev["kind"] == "promotion"]["cadre"])
    never = ev[ev["cadre"].isin(planned - promoted) & (ev["kind"] == "plan_add")]["cadre"]
    out["was planned but never appointed"] = never
    return {k: list(dict.fromkeys(reversed(v.tolist()))) for k, v in out.items()}


def career_lines(
    model: PipelineModel, uid: int, grades: GradeBook | None = None, events: pd.DataFrame | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(heading, timeline): the cadre's name and details, and one entry per year and event in words.

    Each entry has year, kind (post, pool, rotation, discipline, exit, grade, entry) and text.
    """
    view = model.cadre(uid)
    a = view.attributes
    names = unit_names(model)
    career = view.career() if events is None else _kinds(events[events["cadre"] == uid])
    career = _kinds(career) if events is None else career
    female = bool(a["female"])
    name = cadre_name(uid, female)
    born = int(a["birth"])
    in_service = a["status"] == ACTIVE
    if in_service:
        now = f"aged {int(model.year + 0.5 - a['birth'])}, "
        now += post_title(model, a["post"], names) if a["post"] >= 0 else f"staff, {names[a['unit']]}"
    else:
        now = f"left the service in {a['exit_year']}"
    heading = f"{name} — {'woman' if female else 'man'}, born {born}, entered {a['entry_year']}; {now}"

    def where(post: int, unit: int) -> str:
        return post_title(model, post, names) if post >= 0 else f"staff, {names[unit]}"

    lines: list[dict[str, Any]] = []
    for e in career.itertuples(index=False):
        kind, cause, post, unit = e.kind, e.cause, int(e.post), int(e.unit)
        if kind == "entry":
            lines.append({"year": e.year, "kind": "entry", "text": f"entered the service: {where(-1, unit)}"})
        elif kind == "promotion":
            how = "as a planned successor" if cause == "planned" else "without being planned"
            lines.append({"year": e.year, "kind": "post", "text": f"promoted to {where(post, unit)} ({how})"})
        elif kind == "appointment":
            lines.append({"year": e.year, "kind": "post", "text": f"appointed {where(post, unit)}"})
        elif kind == "rotation":
            why = {"term_limit": "two-term limit", "nonlocal": "non-local rule"}.get(cause, cause)
            lines.append(
                {"year": e.year, "kind": "rotation", "text": f"rotated ({why}) to {where(post, unit)}"}
            )
        elif kind == "step_down":
            why = cause.replace("_", " ")
            lines.append(
                {"year": e.year, "kind": "post", "text": f"stepped down from {where(post, unit)} ({why})"}
            )
        elif kind == "plan_add":
            lines.append({"year": e.year, "kind": "pool", "text": f"planned for {where(post, unit)}"})
        elif kind == "plan_drop":
            why = {"appointed": "appointed", "unfit": "no longer eligible"}.get(
                cause, cause.replace("_", " ")
            )
            lines.append(
                {"year": e.year, "kind": "pool", "text": f"out of the pool for {where(post, unit)} ({why})"}
            )
        elif kind == "discipline":
            form = cause.replace("_", " ")
            lines.append({"year": e.year, "kind": "discipline", "text": f"disciplined: {form}"})
        elif kind == "exit":
            lines.append({"year": e.year, "kind": "exit", "text": EXIT_WORDS.get(cause, cause)})
        else:
            lines.append({"year": e.year, "kind": kind, "text": f"{kind.replace('_', ' ')} ({cause})"})
    if grades is not None:
        for year, g in grades.of(uid).items():
            lines.append({"year": year, "kind": "grade", "text": f"assessed {GRADE_WORDS[g]}"})
    order = {"entry": 0, "grade": 1, "discipline": 2, "pool": 3, "post": 4, "rotation": 4, "exit": 9}
    lines.sort(key=lambda x: (x["year"], order.get(x["kind"], 5)))
    return heading, lines

"""Outcome definitions (the README, "Metrics"), the yearly tally and vacancy chains.

Every metric is reported per year by level and sector of the post (or of the cadre, for head counts
and exits), with "all" rows for the totals. Ratios are recomputed from the summed parts at every
aggregation level, never averaged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline_sim.kernels import POPCOUNT, add_counts
from pipeline_sim.scenario.schema import GRADES
from pipeline_sim.world.cadres import ACTIVE, EXIT_CAUSES, NO_GRADE
from pipeline_sim.world.restructuring import quota_metrics
from pipeline_sim.world.rules import appointment_eligible, recent_grade

if TYPE_CHECKING:
    from pipeline_sim.model import PipelineModel

ALL = "all"

DISCIPLINE = ("reprimand", "warning", "removal_from_post", "expulsion")
ROTATION_DIRECTIONS = ("down", "up", "locality", "sector", "return", "term_limit", "nonlocal", "fast_track")
#: moves made by restructuring events (pipeline_sim.world.restructuring), counted by the place left
RESTRUCTURE_FLOWS = tuple(
    f"restructure_{x}" for x in ("merged", "demoted", "transferred", "moved", "stepped_down", "staff_moved")
)


#: metric name -> one-line meaning (printed by `pipeline-sim show --metrics` and in the README)
METRICS: dict[str, str] = {
    "key_vacancies": "key-post vacancies assessed for a successor this year (each vacancy once)",
    "succession_gaps": "of those, vacancies with no ready planned successor when they had to be filled",
    "succession_gap_rate": "succession_gaps / key_vacancies",
    "vacant_posts": "posts vacant at year end (= vacant post-years in the year)",
    "vacant_key_posts": "key posts vacant at year end",
    "vacancy_duration_mean": "mean years key-post vacancies filled this year had been open",
    "key_posts": "number of key posts",
    "bench_strength": "share of key posts with at least one ready planned successor (year end)",
    "ready_successors_per_post": "ready planned successors per key post (year end)",
    "planned_per_post": "planned candidates per key post, ready or not (year end)",
    "quality_in_office": "mean latent competence of key-post holders",
    "below_min_competence_share": "share of key-post holders below metrics.min_competence",
    "org_performance": "responsibility-weighted performance over all posts (vacant = min. line)",
    "integrity_problem_share": "share of post holders with a violation not dealt with: undetected, "
    "or found and awaiting removal",
    "undetected_violation_share": "share of post holders with an undetected violation",
    "violations": "new violations committed in the year (all cadres, by their level)",
    **{
        f"disciplined_{f}": f"cadres disciplined in the year with a {f.replace('_', ' ')}" for f in DISCIPLINE
    },
    **{
        f"rotations_{d}": f"rotation moves in the year: {d.replace('_', ' ')} (yearly, at the congress "
        "and designated ahead; by the cadre's level and sector before the move)"
        for d in ROTATION_DIRECTIONS
    },
    "competence_dismissals": "holders found below the competence line (integrity.dismiss_below_competence): "
    "dismissed, or marked for removal at the end of the term",
    "confidence_votes": "holders who faced a confidence vote (mid-term year)",
    "confidence_low_half": "holders with more than half low-confidence votes",
    "confidence_dismissed": "holders dismissed after two thirds or more low-confidence votes",
    "women_in_office": "share of women among key-post holders",
    "minority_in_office": "share of ethnic-minority key-post holders",
    "young_in_office": "share of young key-post holders (metrics.young_age by level)",
    "age_group_1_in_office": "share of key-post holders in the youngest age group",
    "age_group_2_in_office": "share of key-post holders in the middle age group",
    "age_group_3_in_office": "share of key-post holders in the oldest age group",
    "women_in_planning": "share of women among planning-pool entries",
    "minority_in_planning": "share of ethnic minorities among planning-pool entries",
    "young_in_planning": "share of young cadres among planning-pool entries (young age of the post's level)",
    "age_group_1_in_planning": "share of pool entries in the youngest age group",
    "age_group_2_in_planning": "share of pool entries in the middle age group",
    "age_group_3_in_planning": "share of pool entries in the oldest age group",
    "grassroots_share": "share of key-post holders who served at the lowest level",
    "multi_sector_share": "share of key-post holders who served in two or more sectors",
    "rotated_share": "share of key-post holders who were ever rotated",
    "first_key_age_mean": "mean age at first appointment to a key post",
    "first_key_service_left_mean": "mean years of service left at first appointment to a key post",
    "appointments": "appointments to posts (promotions included)",
    "promotions": "appointments of a post holder to a higher post",
    "outside_hires": "appointments of new entrants from outside the pipeline (appointment.outside_share; "
    "they are counted in appointments and entrants too)",
    "step_downs": "holders who left a post but stayed in service (congress age rules)",
    "planning_additions": "cadres added to planning pools",
    "planning_removals": "cadres removed from planning pools",
    **{f"exits_{c}": f"cadres who left service: {c}" for c in EXIT_CAUSES},
    **{f"exits_{c}_holders": f"post holders who left service: {c}" for c in EXIT_CAUSES},
    **{f"exits_{c}_staff": f"staff-pool cadres who left service: {c}" for c in EXIT_CAUSES},
    "age_in_office_mean": "mean age of key-post holders (year end)",
    "holder_age_mean": "mean age of all post holders (year end)",
    "appointment_age_mean": "mean age of cadres appointed to posts in the year (promotions included)",
    **{
        f"grade_{g}_share": "share of cadres in service graded "
        f"'{g.replace('_', ' ')}' at the last assessment"
        for g in GRADES
    },
    "entrants": "cadres recruited into the staff pool",
    "cadres": "cadres in service at year end",
    "holders": "post holders at year end",
    "staff": "cadres in the staff pool at year end",
    "posts_above_quota": "posts beyond the quota of their unit and kind (unit, sector, rank) that a "
    "restructuring left, at year end",
    "surplus_holders": "holders beyond the quota of their unit and kind at year end",
    "surplus_reduced": "holders removed from kinds above their quota by the yearly reduction (early "
    "retirement, a move or stepping down)",
    "restructure_merged": "holders who kept their rank in the unit their own merged into (new post)",
    "restructure_demoted": "holders put at a lower rank by a restructuring (heads of merged units "
    "who became deputies, and those below)",
    "restructure_transferred": "holders sent to another unit by a restructuring (from an abolished "
    "unit to one below)",
    "restructure_moved": "holders above a quota moved into a vacant post of another unit of their locality",
    "restructure_stepped_down": "holders who lost their post in a restructuring or the surplus "
    "reduction (to the staff pool)",
    "restructure_staff_moved": "staff-pool cadres whose unit a restructuring merged or abolished",
    "vacancy_chains": "vacancy chains completed this year, by level of the vacancy that started them",
    "vacancy_chain_length_mean": "mean moves per completed vacancy chain",
    "target_women": "planning target: share of women",
    "target_young": "planning target: share of young cadres",
    "target_minority": "planning target: share of ethnic minorities",
    **{f"target_age_group_{i}": f"planning target: share of age group {i}" for i in (1, 2, 3)},
}

#: the places of the rank table: the three post ranks, then the staff pool
RANK_PLACES = ("head", "deputy", "member", "staff")

#: metrics by level, sector and rank (``ranks.parquet``; `pipeline-sim show --metrics`)
RANK_METRICS: dict[str, str] = {
    "cadres": "cadres in service at year end holding posts of the rank (staff: in the staff pool)",
    "age_mean": "their mean age at year end",
    "appointments": "appointments to posts of the rank in the year (promotions included)",
    "appointment_age_mean": "mean age of the cadres appointed to posts of the rank in the year",
    **{
        f"grade_{g}_share": f"share of them graded '{g.replace('_', ' ')}' at the last assessment"
        for g in GRADES
    },
    **{
        f"exits_{c}": f"cadres who left service from posts of the rank (staff: the staff pool): {c}"
        for c in EXIT_CAUSES
    },
}

#: tallies of the year by level, sector and rank
RANK_TALLY_NAMES = ("appointments", "appointment_age_sum", *(f"exits_{c}" for c in EXIT_CAUSES))

TALLY_NAMES = (
    "violations",
    *(f"disciplined_{f}" for f in DISCIPLINE),
    *(f"rotations_{d}" for d in ROTATION_DIRECTIONS),
    "competence_dismissals",
    "confidence_votes",
    "confidence_low_half",
    "confidence_dismissed",
    "key_vacancies",
    "succession_gaps",
    "vacancy_duration_sum",
    "vacancies_filled_key",
    "appointments",
    "promotions",
    "outside_hires",
    "step_downs",
    "planning_additions",
    "planning_removals",
    "first_key_n",
    "first_key_age_sum",
    "first_key_service_left_sum",
    "entrants",
    *(f"exits_{c}" for c in EXIT_CAUSES),
    *(f"exits_{c}_holders" for c in EXIT_CAUSES),
    "appointment_age_sum",
    "surplus_reduced",
    *RESTRUCTURE_FLOWS,
)


class Tally:
    """Counts accumulated during one year, by level x sector group."""

    def __init__(self, model: PipelineModel):
        self.model = model
        self.n_sectors = len(model.scenario.hierarchy.sectors)
        self.size = model.units.n_levels * self.n_sectors
        self.reset()

    def reset(self) -> None:
        self.sums = {name: np.zeros(self.size) for name in TALLY_NAMES}
        #: by level, sector and rank: index (level * n_sectors + sector) * 4 + rank (3 = staff)
        self.rank_sums = {name: np.zeros(self.size * 4) for name in RANK_TALLY_NAMES}

    def _add_rank(self, name: str, group: np.ndarray, weights: np.ndarray | None = None) -> None:
        if len(group):
            self.rank_sums[name] += np.bincount(group, weights=weights, minlength=self.size * 4)

    def _add(self, name: str, group: np.ndarray, weights: np.ndarray | None = None) -> None:
        if len(group):
            self.sums[name] += np.bincount(group, weights=weights, minlength=self.size)

    def post_group(self, posts: np.ndarray) -> np.ndarray:
        p = self.model.posts
        posts = np.asarray(posts, dtype=np.int64)
        return p.level[posts].astype(np.int64) * self.n_sectors + p.sector[posts]

    def add_count(self, name: str, posts: np.ndarray) -> None:
        """One count per post in `posts` (a post may repeat)."""
        self._add(name, self.post_group(posts))

    def add_cadres(self, name: str, rows: np.ndarray) -> None:
        """One count per cadre row, by the cadre's current level and sector."""
        c = self.model.cadres
        rows = np.asarray(rows, dtype=np.int64)
        self._add(name, c.level[rows].astype(np.int64) * self.n_sectors + c.sector[rows])

    def add_groups(self, name: str, groups: np.ndarray) -> None:
        """One count per element of `groups` (level * n_sectors + sector numbers)."""
        self._add(name, groups)

    def add_exits(self, cause: str, rows: np.ndarray) -> None:
        """Exits by the cadre's level and sector, and separately those who held a post."""
        c = self.model.cadres
        group = c.level[rows].astype(np.int64) * self.n_sectors + c.sector[rows]
        self._add(f"exits_{cause}", group)
        self._add(f"exits_{cause}_holders", group[c.post[rows] >= 0])
        self._add_rank(f"exits_{cause}", group * 4 + c.grade[rows] % 4)

    def add_vacancies(self, posts: np.ndarray, gap: np.ndarray) -> None:
        g = self.post_group(posts)
        self._add("key_vacancies", g)
        self._add("succession_gaps", g[gap])

    def add_appointments(self, posts: np.ndarray, rows: np.ndarray, is_promotion: np.ndarray) -> None:
        model = self.model
        c, p = model.cadres, model.posts
        g = self.post_group(posts)
        age_now = model.year + 0.5 - c.birth[rows]
        self._add("appointments", g)
        self._add("appointment_age_sum", g, age_now)
        gr = g * 4 + p.rank[posts]
        self._add_rank("appointments", gr)
        self._add_rank("appointment_age_sum", gr, age_now)
        self._add("promotions", g[is_promotion])
        key = p.key[posts]
        dur = (model.year - p.vacant_since[posts]).astype(float)
        self._add("vacancy_duration_sum", g[key], dur[key])
        self._add("vacancies_filled_key", g[key])
        first = key & ~c.ever_key[rows]
        age = model.year + 0.5 - c.birth[rows[first]]
        left = c.t_retire[rows[first]] - model.year
        self._add("first_key_n", g[first])
        self._add("first_key_age_sum", g[first], age)
        self._add("first_key_service_left_sum", g[first], left)

    def add_entrants(self, levels: np.ndarray, sectors: np.ndarray) -> None:
        self._add("entrants", levels.astype(np.int64) * self.n_sectors + sectors)


class Chains:
    """Vacancy chains: each starts with a vacancy and grows by one move per appointment."""

    def __init__(self) -> None:
        self.origin_level = np.zeros(0, dtype=np.int8)
        self.moves = np.zeros(0, dtype=np.int32)
        self.closed_year = np.zeros(0, dtype=np.int32)
        self.n = 0

    def _grow(self, need: int) -> None:
        cap = len(self.moves)
        if self.n + need <= cap:
            return
        new_cap = max(1024, 2 * cap, self.n + need)
        for name in ("origin_level", "moves", "closed_year"):
            old = getattr(self, name)
            arr = np.full(new_cap, -1 if name == "closed_year" else 0, dtype=old.dtype)
            arr[: len(old)] = old
            setattr(self, name, arr)

    def open(self, levels: np.ndarray, year: int) -> np.ndarray:
        k = len(levels)
        self._grow(k)
        ids = np.arange(self.n, self.n + k, dtype=np.int64)
        self.origin_level[ids] = levels
        self.moves[ids] = 0
        self.closed_year[ids] = -1
        self.n += k
        return ids

    def extend(self, ids: np.ndarray) -> None:
        ids = ids[ids >= 0]
        add_counts(self.moves, ids)

    def close(self, ids: np.ndarray, year: int) -> None:
        ids = ids[ids >= 0]
        self.closed_year[ids] = year

    def closed_in(self, year: int) -> tuple[np.ndarray, np.ndarray]:
        sel = np.flatnonzero(self.closed_year[: self.n] == year)
        return self.origin_level[sel], self.moves[sel]


def _table(sums: np.ndarray, n_levels: int, n_sectors: int) -> np.ndarray:
    """[n_levels+1, n_sectors+1] with the last row/column holding totals."""
    t = np.zeros((n_levels + 1, n_sectors + 1))
    t[:n_levels, :n_sectors] = sums.reshape(n_levels, n_sectors)
    t[n_levels, :n_sectors] = t[:n_levels, :n_sectors].sum(axis=0)
    t[:, n_sectors] = t[:, :n_sectors].sum(axis=1)
    return t


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def year_metrics(model: PipelineModel) -> dict[str, np.ndarray]:
    """All metrics of the current year as [n_levels+1, n_sectors+1] tables (totals last)."""
    c, p, scen = model.cadres, model.posts, model.scenario
    nL, nS = model.units.n_levels, len(scen.hierarchy.sectors)
    G = nL * nS
    year = model.year

    def count(group, weights=None):
        return _table(np.bincount(group, weights=weights, minlength=G), nL, nS)

    out: dict[str, np.ndarray] = {}
    tally = {k: _table(v, nL, nS) for k, v in model.tally.sums.items()}

    post_group = p.level.astype(np.int64) * nS + p.sector
    vacant = (p.holder < 0) & ~p.closed  # a closed post (above a quota) is no vacancy
    key = p.key
    out["key_posts"] = count(post_group[key])
    out["vacant_posts"] = count(post_group[vacant])
    out["vacant_key_posts"] = count(post_group[key & vacant])
    out["key_vacancies"] = tally["key_vacancies"]
    out["succession_gaps"] = tally["succession_gaps"]
    out["succession_gap_rate"] = _ratio(tally["succession_gaps"], tally["key_vacancies"])
    out["vacancy_duration_mean"] = _ratio(tally["vacancy_duration_sum"], tally["vacancies_filled_key"])

    # bench: pools against readiness at the start of next year
    # a trailing entry answers for empty slots (-1), so empty pools and an empty table work
    ready = np.append(appointment_eligible(model, at_year=year + 1, exclude_moved=False), False)
    grade = np.append(c.grade, -1)
    kp = p.key_posts
    pool = model.pools
    filled_slot = pool >= 0
    slot_ready = ready[pool] & (grade[pool] > p.grade[kp][:, None])
    n_ready = slot_ready.sum(axis=1)
    kgroup = post_group[kp]
    out["bench_strength"] = _ratio(count(kgroup, (n_ready > 0).astype(float)), out["key_posts"])
    out["ready_successors_per_post"] = _ratio(count(kgroup, n_ready.astype(float)), out["key_posts"])
    out["planned_per_post"] = _ratio(count(kgroup, filled_slot.sum(axis=1).astype(float)), out["key_posts"])
    del ready, grade

    # holders of key posts
    held_key = np.flatnonzero(key & (p.holder >= 0))
    hrows = p.holder[held_key]
    hg = post_group[held_key]
    n_held = count(hg)
    age = year + 0.5 - c.birth
    young_age = np.array([scen.metrics.young_age.get(lvl, 40.0) for lvl in scen.hierarchy.levels])
    edges = scen.metrics.age_group_edges

    def shares(prefix: str, rows: np.ndarray, group: np.ndarray, young_at: np.ndarray, den: np.ndarray):
        out[f"women_{prefix}"] = _ratio(count(group, c.female[rows].astype(float)), den)
        out[f"minority_{prefix}"] = _ratio(count(group, c.minority[rows].astype(float)), den)
        out[f"young_{prefix}"] = _ratio(count(group, (age[rows] < young_at).astype(float)), den)
        a = age[rows]
        bands = (a < edges[0], (a >= edges[0]) & (a <= edges[1]), a > edges[1])
        for i, band in enumerate(bands, start=1):
            out[f"age_group_{i}_{prefix}"] = _ratio(count(group, band.astype(float)), den)

    shares("in_office", hrows, hg, young_age[p.level[held_key]], n_held)
    out["quality_in_office"] = _ratio(count(hg, c.competence[hrows].astype(float)), n_held)
    out["below_min_competence_share"] = _ratio(
        count(hg, (c.competence[hrows] < scen.metrics.min_competence).astype(float)), n_held
    )
    # integrity: over every post holder
    held = np.flatnonzero(p.holder >= 0)
    arows, ag = p.holder[held], post_group[held]
    n_all = count(ag)
    out["integrity_problem_share"] = _ratio(count(ag, c.violation[arows].astype(float)), n_all)
    out["undetected_violation_share"] = _ratio(
        count(ag, (c.violation[arows] & ~c.detected[arows]).astype(float)), n_all
    )
    out["grassroots_share"] = _ratio(count(hg, c.grassroots[hrows].astype(float)), n_held)
    multi = POPCOUNT[c.sectors_mask[hrows]] >= 2
    out["multi_sector_share"] = _ratio(count(hg, multi.astype(float)), n_held)
    out["rotated_share"] = _ratio(count(hg, c.rotated[hrows].astype(float)), n_held)

    # planning pools
    kslot, slot = np.nonzero(filled_slot)
    prow = pool[kslot, slot]
    pg = kgroup[kslot]
    shares("in_planning", prow, pg, young_age[p.level[kp[kslot]]], count(pg))

    # organisational performance: weights by rank, vacant posts at the minimum line
    w = np.array([scen.metrics.rank_weights.get(r, 1.0) for r in ("head", "deputy", "member")])[p.rank]
    perf = np.full(p.n, scen.metrics.min_competence, dtype=float)
    filled = p.holder >= 0
    perf[filled] = c.performance[p.holder[filled]]
    w = w * ~p.closed
    out["org_performance"] = _ratio(count(post_group, w * perf), count(post_group, w))

    # flows
    for name in (
        "violations",
        *(f"disciplined_{f}" for f in DISCIPLINE),
        *(f"rotations_{d}" for d in ROTATION_DIRECTIONS),
        "competence_dismissals",
        "confidence_votes",
        "confidence_low_half",
        "confidence_dismissed",
        "appointments",
        "promotions",
        "outside_hires",
        "step_downs",
        "planning_additions",
        "planning_removals",
        "entrants",
        *(f"exits_{x}" for x in EXIT_CAUSES),
        *(f"exits_{x}_holders" for x in EXIT_CAUSES),
        "surplus_reduced",
        *RESTRUCTURE_FLOWS,
    ):
        out[name] = tally[name]
    for name, flat in quota_metrics(model).items():
        out[name] = _table(flat, nL, nS)
    for x in EXIT_CAUSES:
        out[f"exits_{x}_staff"] = tally[f"exits_{x}"] - tally[f"exits_{x}_holders"]
    out["appointment_age_mean"] = _ratio(tally["appointment_age_sum"], tally["appointments"])
    out["age_in_office_mean"] = _ratio(count(hg, age[hrows]), n_held)
    out["holder_age_mean"] = _ratio(count(ag, age[arows]), n_all)
    # cadres in service by their own level, sector and rank (3 = staff) and by the grade of the
    # last assessment (k = none), in one pass; everyone else in a last bin
    # (built in place, in int32: cadre-length arrays are the largest temporaries of the year)
    k = len(GRADES)
    last = recent_grade(model)
    active = c.status == ACTIVE
    place = c.level.astype(np.int32)
    place *= nS
    place += c.sector
    place *= 4
    place += c.grade % 4
    gbin = place * (k + 1)
    gbin += np.where(last == NO_GRADE, k, last)
    gbin[~active] = G * 4 * (k + 1)
    counts = np.bincount(gbin, minlength=G * 4 * (k + 1) + 1)[:-1].reshape(G, 4, k + 1)
    del gbin, last
    # grades of the last assessment, over cadres in service, by their own level and sector
    by_grade = counts[:, :, :k].sum(axis=1).astype(float)
    n_graded = _table(by_grade.sum(axis=1), nL, nS)
    for code, g in enumerate(GRADES):
        out[f"grade_{g}_share"] = _ratio(_table(by_grade[:, code], nL, nS), n_graded)
    out["first_key_age_mean"] = _ratio(tally["first_key_age_sum"], tally["first_key_n"])
    out["first_key_service_left_mean"] = _ratio(tally["first_key_service_left_sum"], tally["first_key_n"])

    # head counts by the cadre's own level and sector
    by_rank = counts.sum(axis=2)
    out["staff"] = _table(by_rank[:, 3].astype(float), nL, nS)
    out["holders"] = _table(by_rank[:, :3].sum(axis=1).astype(float), nL, nS)
    out["cadres"] = out["staff"] + out["holders"]
    place[~active] = G * 4  # a last bin for everyone not in service
    out[RANK_KEY] = _rank_metrics(model, counts, place, age)

    # vacancy chains completed this year, by origin level (sector: all)
    lv, mv = model.chains.closed_in(year)
    chains = np.full((nL + 1, nS + 1), np.nan)
    length = np.full((nL + 1, nS + 1), np.nan)
    n_by = np.bincount(lv, minlength=nL).astype(float)
    s_by = np.bincount(lv, weights=mv, minlength=nL)
    chains[:nL, nS], chains[nL, nS] = n_by, n_by.sum()
    length[:nL, nS] = _ratio(s_by, n_by)
    length[nL, nS] = _ratio(np.array(s_by.sum()), np.array(n_by.sum()))
    out["vacancy_chains"] = chains
    out["vacancy_chain_length_mean"] = length

    targets = {
        f"target_{name}": getattr(scen.metrics, f"target_{name}") for name in ("women", "young", "minority")
    }
    for i, share in enumerate(scen.metrics.target_age_groups, start=1):
        targets[f"target_age_group_{i}"] = share
    for name, share in targets.items():
        t = np.full((nL + 1, nS + 1), np.nan)
        t[nL, nS] = share
        out[name] = t
    return out


#: the key of the rank tables in the dict of a year's metrics (not a metric of metrics.parquet)
RANK_KEY = "_by_rank"


def _rank_metrics(
    model: PipelineModel, counts: np.ndarray, place: np.ndarray, age: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics by level, sector and rank: [n_levels+1, n_sectors+1, 4] tables (totals last on the
    first two axes; ranks head, deputy, member, staff). `place` is each row's (level, sector,
    rank) group, G * 4 for rows not in service."""
    nL, nS = model.units.n_levels, len(model.sectors)
    G = nL * nS
    k = len(GRADES)

    def table(flat: np.ndarray) -> np.ndarray:
        by = np.asarray(flat, dtype=float).reshape(G, 4)
        return np.stack([_table(by[:, r], nL, nS) for r in range(4)], axis=2)

    sums = {name: table(v) for name, v in model.tally.rank_sums.items()}
    out: dict[str, np.ndarray] = {}
    n = table(counts.sum(axis=2).ravel())
    out["cadres"] = n
    ages = np.bincount(place, weights=age, minlength=G * 4 + 1)[: G * 4]
    out["age_mean"] = _ratio(table(ages), n)
    out["appointments"] = sums["appointments"]
    out["appointment_age_mean"] = _ratio(sums["appointment_age_sum"], sums["appointments"])
    graded = table(counts[:, :, :k].sum(axis=2).ravel())
    for code, g in enumerate(GRADES):
        out[f"grade_{g}_share"] = _ratio(table(counts[:, :, code].ravel()), graded)
    for x in EXIT_CAUSES:
        out[f"exits_{x}"] = sums[f"exits_{x}"]
    return out

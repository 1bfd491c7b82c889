"""PipelineModel: the Mesa model that owns the tables and runs the phase plan once a year."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from pipeline_sim import metrics as metric_defs
from pipeline_sim.events import EventLog
from pipeline_sim.kernels import SIMD_SORT, expand_ranges, order_within_groups_hinted
from pipeline_sim.memory import reuse_freed_memory, small_pages
from pipeline_sim.metrics import ALL, Chains, Tally, year_metrics
from pipeline_sim.processes import DEFAULT_PLAN
from pipeline_sim.processes import assessment as assessment_phase
from pipeline_sim.processes import integrity as integrity_phase
from pipeline_sim.processes import planning as planning_phase
from pipeline_sim.processes import work as work_phase
from pipeline_sim.rosters import Rosters, posts_frame, units_frame
from pipeline_sim.scenario import Scenario, load_scenario
from pipeline_sim.scenario.loader import check_memory
from pipeline_sim.scenario.schema import RANKS
from pipeline_sim.world import start
from pipeline_sim.world.bodies import Bodies, select_posts
from pipeline_sim.world.cadres import ACTIVE, CadreTable
from pipeline_sim.world.hierarchy import (
    STAFF_RANK,
    build_posts,
    build_units,
    grade_of,
    staff_targets,
)
from pipeline_sim.world.operations import experience_breadth
from pipeline_sim.world.restructuring import Restructuring
from pipeline_sim.world.rules import record_ok, retirement_dates, selection_score

#: one random stream per process; the numbers are part of the reproducibility contract
STREAMS = {
    "hierarchy": 1,
    "init": 2,
    "demography": 3,
    "work": 4,
    "integrity": 5,
    "assessment": 6,
    "confidence": 7,
    "planning": 8,
    "rotation": 9,
    "filling": 10,
    "recruitment": 11,
    "congress": 12,
    "selection": 13,
    "rotation_moves": 14,
    "competence": 15,
    "outside": 16,
    "init_groups": 21,
    "restructure": 22,
}

HEADLINE = (
    "succession_gap_rate",
    "key_vacancies",
    "vacant_posts",
    "bench_strength",
    "ready_successors_per_post",
    "quality_in_office",
    "women_in_office",
    "young_in_office",
    "women_in_planning",
    "young_in_planning",
    "cadres",
)


class PipelineModel(mesa.Model):
    """A cadre pipeline over a unit hierarchy, one step per year.

    Args:
        scenario: a :class:`Scenario`, a path to a TOML scenario file, or a dict of the same shape.
        seed: the seed of every random stream (default: ``simulation.seed`` of the scenario).
        years: number of recorded years (default: ``simulation.years``).
        **overrides: dotted scenario keys, e.g. ``**{"planning.mode": "open"}``, so that
            ``mesa.batch_run(PipelineModel, parameters={...})`` can vary any setting.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | dict = "scenarios/baseline.toml",
        seed: int | None = None,
        years: int | None = None,
        **overrides: Any,
    ):
        small_pages()
        reuse_freed_memory()
        if overrides or not isinstance(scenario, Scenario):
            base = scenario if not isinstance(scenario, Scenario) else scenario.model_dump(mode="json")
            scenario = load_scenario(base, overrides=overrides)
        else:  # a Scenario made in Python: the loader's memory check has not seen it
            check_memory(scenario)
        seed = scenario.simulation.seed if seed is None else int(seed)
        super().__init__(seed=seed)
        self.scenario = scenario
        self.seed = seed
        sim = scenario.simulation
        self.n_years = sim.years if years is None else int(years)
        self.first_year = sim.start_year
        self.last_year = sim.start_year + self.n_years - 1
        self.plan = list(DEFAULT_PLAN)
        self._streams: dict[str, np.random.Generator] = {}
        self._selection: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._last_order: dict[str, np.ndarray] = {}  # rows of the last selection order by rule
        #: values computed once a year and shared by phases; cleared each year, after assessment
        #: (grades) and after recruitment (rows rewritten). Code that edits grades by hand in
        #: the middle of a year must clear it too.
        self.year_cache: dict[str, dict] = {}

        # world
        self.year = self.first_year - sim.burn_in_years - 3
        h = scenario.hierarchy
        self.levels, self.sectors = list(h.levels), list(h.sectors)
        self.units = build_units(h, self.stream("hierarchy"))
        self.posts = build_posts(h, self.units)
        self.staff_target = staff_targets(h, self.units)
        self.n_places = self.count_places()
        self.nonlocal_post = self._posts_matching(scenario.rotation.nonlocal_posts)
        # posts are ordered by unit: unit u holds posts unit_post_start[u] ... + unit_post_count[u]
        self.unit_post_count = np.bincount(self.posts.unit, minlength=self.units.n)
        self.unit_post_start = np.r_[0, np.cumsum(self.unit_post_count)[:-1]]
        kids = np.argsort(self.units.parent, kind="stable")[1:]
        self._child_list = kids
        self._child_count = np.bincount(self.units.parent[kids], minlength=self.units.n)
        self._child_start = np.r_[0, np.cumsum(self._child_count)[:-1]]
        self.cadres = CadreTable()
        self.pools = np.full((len(self.posts.key_posts), scenario.planning.max_candidates), -1, np.int32)
        self.events = EventLog(scenario.output.event_log, scenario.output.planning_events)
        self.rosters = Rosters(self)
        self.bodies = Bodies(self)
        self.restructuring = Restructuring(self)
        self.chains = Chains()
        self.tally = Tally(self)
        self._metrics: list[tuple[int, dict[str, np.ndarray]]] = []
        self.last_metrics: dict[str, np.ndarray] = {}
        self.last_assessed_year = self.year
        self.term_index = self.year_in_term = -1
        self.is_term_start = self.is_midterm = self.is_congress_year = False
        #: true while the congress's moves and elections run: holders seated then start a new term
        self.at_term_boundary = False
        #: name of the phase running now (None between years and during the set-up)
        self.phase: str | None = None

        #: what the draws of `initial.groups` attained (pipeline_sim.world.start)
        self.start_groups: list[start.GroupDraw] = []
        self._populate()
        self._unit_agents: list[UnitAgent] | None = None
        self.datacollector = mesa.DataCollector(
            model_reporters={"year": "year", **{m: _headline_reporter(m) for m in HEADLINE}}
        )
        self.running = self.n_years > 0
        # burn-in years run now, so that Mesa's step count (and DataCollector rows) covers exactly
        # the recorded years
        for _ in range(sim.burn_in_years):
            self._user_step()
        self.events.blocks.clear()  # the event log covers the recorded years only
        # ... and starts with the posts held at its start, so careers and rosters can be rebuilt
        held = np.flatnonzero(self.posts.holder >= 0)
        self.events.log("start", "held", self, self.posts.holder[held], held, year=self.first_year)
        self.rosters.take(self, "start", year=self.first_year)
        self.bodies.start(self)

    # ------------------------------------------------------------------------------------------
    # random streams

    def stream(self, name: str) -> np.random.Generator:
        """The generator of one process for the current year (common random numbers)."""
        gen = self._streams.get(name)
        if gen is None:
            seq = np.random.SeedSequence([self.seed, STREAMS[name], self.year - 1000])
            gen = self._streams[name] = np.random.Generator(np.random.PCG64(seq))
        return gen

    def new_year(self) -> None:
        """Called by the calendar phase: fresh streams and tallies for the year."""
        self._streams.clear()
        self._selection.clear()
        self.year_cache.clear()
        self.tally.reset()

    def count_places(self) -> int:
        """Places (unit, sector, rank) of the structure; their keys must fit the cadre table's
        int32 column."""
        n = self.units.n * len(self.sectors) * 4
        if n > np.iinfo(np.int32).max:
            raise ValueError(
                f"{self.units.n:,} units x {len(self.sectors)} sectors x 4 ranks are more places "
                "than the model can key; lower hierarchy.scale, units or sectors"
            )
        return n

    def place_key(self, unit: np.ndarray, sector: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """One integer per (unit, sector, rank) place, ordered by unit first."""
        return (unit * len(self.sectors) + sector) * 4 + rank

    def selection(self, rule: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cadre rows ordered by place and, within a place, by the selection rule (best first).

        Returns (rows in that order, their place keys, the score of every row). Computed once a
        year per rule; the year's entrants (recruited after planning and filling) are not in it.
        """
        c = self.cadres
        hit = self._selection.get(rule)
        if hit is not None:
            return hit
        # only cadres who could meet the service and tenure conditions of some appointment
        scen = self.scenario
        min_left = min(
            scen.planning.min_service_left_years,
            scen.appointment.min_service_left_years,
            scen.congress.first_time_min_service_years,
        )
        app = scen.appointment
        min_tenure = min(scen.planning.min_tenure_years, app.min_tenure_years)
        if scen.fast_track.enabled:
            min_tenure = min(min_tenure, scen.fast_track.min_tenure_years)
        could = (
            (c.status == ACTIVE)
            & (c.t_retire - self.year >= min_left - 1.0)
            & (self.year + 1 - c.post_start >= min_tenure)
        )
        if not set(app.entry_ranks) & set(scen.hierarchy.key_ranks):
            # staff are only ever appointed (never planned): keep those who can pass its conditions
            staff_ok = record_ok(self, app.min_grade, 1) & (
                self.year + 1 - c.post_start >= app.min_tenure_years
            )
            could &= (c.post >= 0) | staff_ok
        rows = np.flatnonzero(could)
        score = np.zeros(c.n)
        score[rows] = selection_score(self, rows, rule, "selection")
        key = c.place[rows]
        order = order_within_groups_hinted(key, score[rows], self._order_hint(rule, rows))
        rows, key = rows[order], key[order]
        self._selection[rule] = (rows, key, score)
        if not SIMD_SORT:  # numpy's AVX-512 sort beats the stable sort of last year's order: no hint
            self._last_order[rule] = rows.astype(np.int32)
        return rows, key, score

    def _order_hint(self, rule: str, rows: np.ndarray) -> np.ndarray | None:
        """Positions in `rows` (ascending cadre rows) in the order of the last selection order of
        `rule`, the rows new to it after them: a permutation close to this year's order (cadres
        mostly keep their place and their rank in it). Only a hint to the sort: any permutation
        gives the same order."""
        last = self._last_order.get(rule)
        if last is None:
            return None
        at = np.full(self.cadres.n, -1, np.int32)  # int32: half the memory traffic of the default
        at[rows] = np.arange(len(rows), dtype=np.int32)
        hint = at[last[last < self.cadres.n]]
        hint = hint[hint >= 0]
        seen = np.zeros(len(rows), dtype=bool)
        seen[hint] = True
        return np.concatenate([hint, np.flatnonzero(~seen).astype(np.int32)])

    # ------------------------------------------------------------------------------------------
    # structure helpers

    def children_of(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, child unit) for every child of every unit in `units`."""
        units = np.asarray(units, dtype=np.int64)
        owner, pos = expand_ranges(self._child_start[units], self._child_count[units])
        return owner, self._child_list[pos]

    def _posts_matching(self, selectors: list[str]) -> np.ndarray:
        """Posts named by 'level.sector.rank' selectors."""
        p = self.posts
        out = np.zeros(p.n, dtype=bool)
        for item in selectors:
            level, sector, rank = item.split(".")
            out |= (
                (p.level == self.levels.index(level))
                & (p.sector == self.sectors.index(sector))
                & (p.rank == ("head", "deputy", "member").index(rank))
            )
        return out

    def new_cadres(
        self,
        unit: np.ndarray,
        sector: np.ndarray,
        stream: str,
        age: np.ndarray | None = None,
        female_share: float | None = None,
        minority_share: float | None = None,
        competence_shift: np.ndarray | float = 0.0,
        female: np.ndarray | None = None,
        entry_age: np.ndarray | None = None,
        at: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Rows for new cadres in the staff pools of `unit` x `sector` (entrants by default).

        `female` and `entry_age`, when given, replace the draws (which are made all the same, so
        that the stream stays aligned). With `at`, the rows are written in place into reserved
        storage of the cadre table from row `at` (see `CadreTable.new_rows`).
        """
        rec = self.scenario.recruitment
        rng = self.stream(stream)
        n = len(unit)
        drawn_entry = np.maximum(rec.entry_age_min, rng.normal(rec.entry_age_mean, rec.entry_age_sd, n))
        entry_age = drawn_entry if entry_age is None else np.asarray(entry_age, dtype=np.float64)
        if age is None:
            age = entry_age
        drawn_female = rng.random(n) < (rec.female_share if female_share is None else female_share)
        female = drawn_female if female is None else np.asarray(female, dtype=bool)
        minority = rng.random(n) < (rec.minority_share if minority_share is None else minority_share)
        competence = rng.normal(rec.competence_mean, rec.competence_sd, n) + competence_shift
        integrity = rng.standard_normal(n)
        prestige = rng.standard_normal(n)
        birth = self.year + 0.5 - age
        level = self.units.level[unit]
        locality = self.units.locality[unit]
        n_loc = max(1, int(self.units.locality.max()) + 1)
        home = np.where(locality >= 0, locality, rng.integers(0, n_loc, n))
        n_net = self.scenario.appointment.n_networks
        network = home.astype(np.int64) * n_net + rng.integers(0, n_net, n)
        entry_year = np.minimum(self.year, np.floor(self.year - (age - entry_age))).astype(np.int32)
        return self.cadres.new_rows(
            n,
            at,
            birth=birth,
            female=female,
            minority=minority,
            home=home,
            t_retire=retirement_dates(birth, female, self.scenario.demography),
            entry_year=entry_year,
            competence=competence,
            integrity=integrity,
            prestige=prestige,
            unit=unit,
            sector=sector,
            level=level,
            grade=grade_of(level, STAFF_RANK),
            place=self.place_key(np.asarray(unit, np.int64), sector, STAFF_RANK),
            post_start=entry_year,
            grassroots=level == self.units.n_levels - 1,
            sectors_mask=(1 << sector.astype(np.uint8)).astype(np.uint8),
            locality=locality,
            network=network,
        )

    # ------------------------------------------------------------------------------------------
    # the population at the start

    def _first_step(self) -> tuple[int, int]:
        """(first simulated year, first year of the term it belongs to)."""
        sim = self.scenario.simulation
        first = self.first_year - sim.burn_in_years
        term_start = sim.start_year + sim.term_years * ((first - sim.start_year) // sim.term_years)
        return first, term_start

    def _age_cap(self, female: bool, retire_from: float) -> float:
        """Oldest age in the first simulated year (``year + 0.5 - birth``) of a cadre of that sex
        whose statutory retirement date is `retire_from` or later (retirement dates fall as age
        rises, so this is a bisection on age)."""
        first, _ = self._first_step()
        d = self.scenario.demography
        lo, hi = 0.0, 128.0
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            date = retirement_dates(np.array([first + 0.5 - mid]), np.array([female]), d)[0]
            lo, hi = (mid, hi) if date >= retire_from else (lo, mid)
        return lo

    def _staff_at_start(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Sex, entry age and age in the first simulated year of `n` staff, drawn together.

        The staff pool in a steady state: entrants of the recruitment's sex mix and entry ages
        who have stayed since entry, neither leaving (``demography.p_leave_staff`` a year) nor
        dying (Gompertz), and have not reached their own (sex's) retirement date. The years in
        the pool are drawn from the leaving process (geometric, truncated to a working life); a
        draw is kept with the chance of surviving those years and redrawn, sex included, if the
        cadre would have retired. Promotion out of the pool is left out (it is an outcome of the
        model, not a parameter).
        """
        rec, d = self.scenario.recruitment, self.scenario.demography
        first, _ = self._first_step()
        cap = np.array([self._age_cap(False, first), self._age_cap(True, first)])
        span = max(float(cap.max()) - rec.entry_age_min, 0.0)
        female = np.zeros(n, dtype=bool)
        entry = np.zeros(n)
        age = np.zeros(n)
        todo = np.arange(n)
        ln2 = np.log(2.0)
        rate = -np.log1p(-min(d.p_leave_staff, 1.0 - 1e-12))  # yearly leaving as a hazard
        reach = -np.expm1(-rate * span)  # chance of staying less than `span` years
        for _ in range(200):
            if not len(todo):
                break
            k = len(todo)
            f = rng.random(k) < rec.female_share
            a0 = np.maximum(rec.entry_age_min, rng.normal(rec.entry_age_mean, rec.entry_age_sd, k))
            u = rng.random(k)
            years = -np.log1p(-u * reach) / rate if rate > 0 else u * span
            a = a0 + years
            g0 = np.exp2((a0 - 40.0) / d.mortality_doubling_years)
            g1 = np.exp2((a - 40.0) / d.mortality_doubling_years)
            hazard = d.mortality_at_40 * d.mortality_doubling_years / ln2 * (g1 - g0)
            keep = (rng.random(k) < np.exp(-hazard)) & (a <= cap[f.astype(np.int64)])
            rows = todo[keep]
            female[rows], entry[rows], age[rows] = f[keep], a0[keep], a[keep]
            todo = todo[~keep]
        if len(todo):  # an impossible schedule (entry after retirement): youngest entrants
            female[todo] = rng.random(len(todo)) < rec.female_share
            entry[todo] = age[todo] = rec.entry_age_min
        return female, entry, age

    def _holder_limits(self, female: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Youngest and oldest ages in the first simulated year of the initial holder of each
        post: the congress rules on service left (see `_holder_ages`) and the age rules of the
        bodies the post belongs to, at the start of the term (first or re-election)."""
        rec, cg = self.scenario.recruitment, self.scenario.congress
        first, term_start = self._first_step()
        caps = {}
        for is_female in (False, True):
            for is_second in (False, True):
                if cg.enabled:
                    left = cg.reelect_min_service_years if is_second else cg.first_time_min_service_years
                    retire_from = max(float(first), term_start + left)
                else:
                    retire_from = float(first)
                caps[is_female, is_second] = self._age_cap(is_female, retire_from)
        hi = np.where(
            female,
            np.where(second, caps[True, True], caps[True, False]),
            np.where(second, caps[False, True], caps[False, False]),
        )
        b = self.bodies
        for i, name in enumerate(b.names):
            spec = self.scenario.bodies[name]
            for limit, mask in ((spec.first_time_max_age, ~second), (spec.reelect_max_age, second)):
                if limit is not None:
                    rows = b.member[i] & mask
                    hi[rows] = np.minimum(hi[rows], limit + (first - term_start))
        lo = np.minimum(rec.entry_age_min + 2.0, hi)
        return lo, hi

    def _holder_ages(
        self, mean: np.ndarray, female: np.ndarray, second: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Ages in the first simulated year of the initial post holders.

        Normal by level, rank and sex, truncated (not clipped: no heap of holders at the limit)
        to the ages that the congress that opened the term allowed: re-elected holders
        (`second`) with `congress.reelect_min_service_years` left, first elected ones with
        `congress.first_time_min_service_years` (Directive 45/2025); without congress, those who
        have not reached retirement; and the age rules of the post's bodies. The normal is placed
        so that the holders' own mean age is `initial.holder_age_mean` (a mean of real holders,
        rules.md §8).
        """
        lo, hi = self._holder_limits(female, second)
        sd = max(self.scenario.initial.holder_age_sd, 1e-9)
        loc = _truncnorm_location(mean, sd, lo, hi)
        a, b = ndtr((lo - loc) / sd), ndtr((hi - loc) / sd)
        u = a + rng.random(len(mean)) * (b - a)
        age = loc + sd * ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))
        return np.clip(age, lo, hi)  # only rounding moves it

    def _populate(self) -> None:
        """Initial cadres, as in the first simulated year; then two years of assessments.

        Ages are drawn for the first simulated year and each with the cadre's own sex, so that
        the first year's retirements are those of a steady state (see `_staff_at_start` and
        `_holder_ages`). Every post is held and every staff pool full; the stock of undetected
        violations is the violation process's own (integrity.initial_violations).
        """
        scen, p = self.scenario, self.posts
        init = scen.initial
        rng = self.stream("init")
        n_sec = len(self.sectors)
        first, term_start = self._first_step()
        lead = first - self.year  # the set-up is `lead` years before the first simulated year
        # staff pools
        slots = np.repeat(np.arange(self.staff_target.size), self.staff_target.ravel())
        s_unit, s_sector = slots // n_sec, (slots % n_sec).astype(np.int8)
        s_female, s_entry, s_age = self._staff_at_start(len(slots), rng)
        # holders first (row i holds post i), then the staff: both written in place into storage
        # sized for both (the staff are drawn first)
        n_staff = len(slots)
        self.cadres.reserve(p.n + n_staff)
        self.new_cadres(
            s_unit, s_sector, "init", age=s_age - lead, female=s_female, entry_age=s_entry, at=p.n
        )
        del slots, s_unit, s_sector, s_female, s_entry, s_age
        # post holders: half of the first heads were (re-)elected for a second consecutive term
        # in the post at the congress that opened the term [E]
        second = rng.random(p.n) < 0.5
        h_female = rng.random(p.n) < init.female_share_holders
        mean_age = np.array([init.holder_age_mean[lvl] for lvl in self.levels])[p.level]
        mean_age = mean_age - 2.0 * p.rank
        h_age = self._holder_ages(mean_age, h_female, second, rng)
        if init.groups:
            self.start_groups = self._draw_start_groups(h_female, second, h_age)
        top_grade = 4 * (self.units.n_levels - 1) + STAFF_RANK
        shift = init.competence_bonus_per_grade * (top_grade - p.grade)
        holders = self.new_cadres(
            p.unit,
            p.sector.astype(np.int8),
            "init",
            age=h_age - lead,
            female=h_female,
            minority_share=init.minority_share_holders,
            competence_shift=shift,
            at=0,
        )
        holders["post"][:] = np.arange(p.n)
        holders["grade"][:] = p.grade
        holders["place"][:] = self.place_key(p.unit.astype(np.int64), p.sector, p.rank)
        holders["ever_key"][:] = p.key
        in_post = rng.integers(0, 6, p.n)
        holders["post_start"][:] = self.year - in_post
        holders["lead_years"][:] = in_post  # at least the years in the post held now
        holders["entry_year"][:] = np.minimum(holders["entry_year"], self.year - in_post)
        holders["grassroots"][:] |= rng.random(p.n) < 0.5
        del holders
        self.cadres.extend_to(p.n + n_staff)
        p.holder[:] = np.arange(p.n)
        p.term_start[:] = term_start - np.where(second, scen.simulation.term_years, 0)
        c = self.cadres
        c.breadth[:] = experience_breadth(self, np.arange(c.n))
        # competence grows with every year of work (the work phase): the years served before the
        # set-up count as well, at the yearly growth and the bonus of the experience held now
        w = scen.work
        served = np.maximum(self.year - c.entry_year, 0).astype(np.float32)
        c.competence += served * (
            np.float32(w.competence_growth) + np.float32(w.varied_experience_bonus) * c.breadth
        )
        if init.steady_competence:
            self._steady_competence()
        # two years of assessment history, then the first planning
        for _ in range(2):
            self.year += 1
            self.new_year()
            work_phase.run(self)
            assessment_phase.run(self)
        integrity_phase.initial_violations(self)
        planning_phase.run(self, force=True)
        self.tally.reset()
        self.events.blocks.clear()

    def _steady_competence(self) -> None:
        """Shift the competence of each group of initial holders (level and rank) and staff
        (level) to its steady-state mean (`initial.holder_competence_mean`,
        `initial.staff_competence_mean`), keeping the spread within the group; groups without a
        mean keep the grade bonus."""
        init, c, p = self.scenario.initial, self.cadres, self.posts
        rows = np.flatnonzero(c.status == ACTIVE)
        held = c.post[rows] >= 0
        level = c.level[rows].astype(np.int64)
        rank = np.where(held, p.rank[np.maximum(c.post[rows], 0)], STAFF_RANK).astype(np.int64)
        group = level * (STAFF_RANK + 1) + rank
        target = np.full(self.units.n_levels * (STAFF_RANK + 1), np.nan)
        for key, mean in init.holder_competence_mean.items():
            lvl, rk = key.split(".")
            target[self.levels.index(lvl) * (STAFF_RANK + 1) + RANKS.index(rk)] = mean
        for lvl, mean in init.staff_competence_mean.items():
            target[self.levels.index(lvl) * (STAFF_RANK + 1) + STAFF_RANK] = mean
        n = np.bincount(group, minlength=len(target))
        now = np.bincount(group, weights=c.competence[rows], minlength=len(target)) / np.maximum(n, 1)
        shift = np.where(np.isnan(target), 0.0, target - now)
        c.competence[rows] += shift[group].astype(np.float32)

    def _draw_start_groups(
        self, female: np.ndarray, second: np.ndarray, age: np.ndarray
    ) -> list[start.GroupDraw]:
        """Redraw the sex, second term and age of the holders of `initial.groups`, in place (see
        pipeline_sim.world.start), from a stream of their own."""
        init = self.scenario.initial
        rng = self.stream("init_groups")
        masks = {}
        first, _ = self._first_step()
        for name, g in init.groups.items():
            if g.year is not None and g.year != first:
                continue  # the record of another year
            if g.body is not None:
                b = self.bodies.names.index(g.body) if g.body in self.bodies.names else -1
                mask = self.bodies.member[b].copy() if b >= 0 else np.zeros(self.posts.n, bool)
            else:
                mask = select_posts(self, g.posts) if g.posts else np.zeros(self.posts.n, bool)
            if mask.any():
                masks[name] = mask
        done = np.zeros(self.posts.n, dtype=bool)
        out = []
        for name in sorted(masks, key=lambda k: (int(masks[k].sum()), k)):  # smallest first
            g, mask = init.groups[name], masks[name]
            rows = np.flatnonzero(mask & ~done)
            if not len(rows):
                continue
            n_all = int(mask.sum())
            for share, flag in ((g.female_share, female), (g.reelected_share, second)):
                if share is not None:
                    want = share * n_all - flag[mask & done].sum()
                    flag[rows] = start.pick(rng, rows, start.exact_count(rng, want, len(rows)))
            drawn = start.GroupDraw(name, n_all, None, None)
            if g.age_mean is not None:
                lo, hi = (x[rows] for x in self._holder_limits(female, second))
                mean = (g.age_mean * n_all - age[mask & done].sum()) / len(rows)
                if g.share_below_age is not None:  # two bands, with exact counts
                    below = g.below_age
                    set_below = int((age[mask & done] < below).sum())
                    want = g.share_below_age * n_all - set_below
                    must, can = hi <= below, (lo < below) & (hi > below)
                    young = must.copy()
                    young[can] = start.pick(
                        rng, rows[can], start.exact_count(rng, want - must.sum(), int(can.sum()))
                    )
                    lo, hi = (
                        np.where(young, lo, np.maximum(lo, np.minimum(below, hi))),
                        np.where(young, np.minimum(hi, below), hi),
                    )
                    if abs(young.sum() - want) > 1.0:
                        got = (young.sum() + set_below) / n_all
                        start.warn_unattainable(name, "share_below_age", g.share_below_age, got)
                sd = max(g.age_sd if g.age_sd is not None else init.holder_age_sd, 1e-9)
                loc = start.locate(mean, sd, lo, hi)
                attained = float(start.truncated_means(loc, sd, lo, hi).mean())
                if abs(attained - mean) > 0.25:
                    start.warn_unattainable(name, "age_mean (of its other posts)", mean, attained)
                age[rows] = start.draw_ages(rng, loc, sd, lo, hi)
                drawn = start.GroupDraw(name, n_all, attained, sd)
            done |= mask
            out.append(drawn)
        return out

    @property
    def unit_agents(self) -> list[UnitAgent]:
        """One Mesa agent per unit, made on first use (they are views; the state is in arrays)."""
        if self._unit_agents is None:
            self._unit_agents = [UnitAgent(self, u) for u in range(self.units.n)]
        return self._unit_agents

    # ------------------------------------------------------------------------------------------
    # running

    def step(self) -> None:
        """Simulate one year: every phase of the plan in order."""
        for phase in self.plan:
            self.phase = phase.NAME
            phase.run(self)
        self.phase = None

    def phase_plan(self) -> list[tuple[str, str]]:
        """(name, summary) of every phase of a year, in order."""
        return [(ph.NAME, ph.SUMMARY) for ph in self.plan]

    def run(self) -> PipelineModel:
        """Run burn-in and every recorded year."""
        while self.running:
            self.step()
        return self

    def close(self) -> None:
        """Release a finished model at once: break the reference cycles that would keep its tables
        alive until a full garbage collection (Mesa's step wrapper holds bound methods of the
        model, the tally and any unit agents point back to it, and Mesa keeps every model that made an
        agent in a class-level table). Results stay readable
        (:meth:`metrics_frame`, :meth:`events_frame`); the model cannot step any more."""
        self.running = False
        self.__dict__.pop("step", None)
        self.__dict__.pop("_user_step", None)
        if self._unit_agents is not None:
            self.remove_all_agents()
            self._unit_agents = None
        mesa.Agent._ids.pop(self, None)  # Mesa's agent id counters are keyed by model, strongly
        self.tally.model = None
        self.year_cache.clear()
        self._selection.clear()
        self._last_order.clear()
        self._streams.clear()

    def record_year(self) -> None:
        if self.year >= self.first_year:
            self.last_metrics = year_metrics(self)
            self._metrics.append((self.year, self.last_metrics))
            self.datacollector.collect(self)
            self.rosters.take(self, "year_end")
            self.bodies.year_end(self)
        self.running = self.year < self.last_year

    # ------------------------------------------------------------------------------------------
    # results

    def headline(self, metric: str, level: str = ALL, sector: str = ALL) -> float:
        """The value of one metric this year for a level and sector (or all)."""
        table = self.last_metrics.get(metric)
        if table is None:
            return float("nan")
        li = len(self.levels) if level == ALL else self.levels.index(level)
        si = len(self.sectors) if sector == ALL else self.sectors.index(sector)
        return float(table[li, si])

    def metrics_frame(self) -> pd.DataFrame:
        """Tidy metrics: one row per year, level, sector and metric (undefined values omitted)."""
        return self._tidy(list(metric_defs.METRICS), lambda m: m, [])

    def ranks_frame(self) -> pd.DataFrame:
        """Tidy metrics by level, sector and rank (head, deputy, member, staff): one row per year,
        level, sector, rank and metric of metrics.RANK_METRICS (undefined values omitted)."""
        ranks = ("rank", list(metric_defs.RANK_PLACES))
        return self._tidy(list(metric_defs.RANK_METRICS), lambda m: m[metric_defs.RANK_KEY], [ranks])

    def _tidy(self, names: list[str], table, extra: list[tuple[str, list[str]]]) -> pd.DataFrame:
        """The yearly cubes `table(metrics of a year)[name]` (level x sector x the `extra`
        dimensions) as one tidy frame."""
        dims = [("level", [*self.levels, ALL]), ("sector", [*self.sectors, ALL]), *extra]
        if not self._metrics:
            return pd.DataFrame(columns=["year", *(d for d, _ in dims), "metric", "value"])
        years = np.array([y for y, _ in self._metrics])
        cube = np.stack([np.stack([table(m)[n] for n in names]) for _, m in self._metrics])
        idx = np.indices(cube.shape).reshape(cube.ndim, -1)  # year, metric, level, sector, ...
        vals = cube.reshape(-1)
        keep = ~np.isnan(vals)
        data = {"year": years[idx[0][keep]].astype(np.int32)}
        for i, (dim, categories) in enumerate(dims):
            data[dim] = pd.Categorical.from_codes(idx[2 + i][keep], categories=categories)
        data["metric"] = pd.Categorical.from_codes(idx[1][keep], categories=names)
        data["value"] = vals[keep]
        return pd.DataFrame(data)

    def events_frame(self) -> pd.DataFrame:
        return self.events.to_frame(self.levels, self.sectors)

    def holders_frame(self) -> pd.DataFrame:
        """Post holders at each year end and just before and after each congress (see rosters)."""
        return self.rosters.frame(self)

    def bodies_frame(self) -> pd.DataFrame:
        """Per body and year: size, ages, women, re-election and losses over the term."""
        return self.bodies.frame()

    def posts_frame(self) -> pd.DataFrame:
        """Every post with a readable name, its unit, parent unit, locality, level, sector, rank."""
        return posts_frame(self)

    def units_frame(self) -> pd.DataFrame:
        """Every unit with a readable name, parent, locality, level and weak condition."""
        return units_frame(self)

    def cadre(self, uid: int) -> CadreView:
        """A view of one cadre (in service or not), with their career from the event log."""
        return CadreView(self, int(uid))


def _truncnorm_location(mean: np.ndarray, sd: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Location of a normal with `sd` that, truncated to [lo, hi], has mean `mean` (the mean of
    the holders themselves, as observed); the nearest attainable mean if `mean` is not inside.
    A bisection per distinct (mean, lo, hi), on the monotone mean of the truncated normal."""
    parts = [np.unique(x, return_inverse=True) for x in (mean, lo, hi)]
    code = np.zeros(len(mean), dtype=np.int64)
    for vals, idx in parts:
        code = code * len(vals) + idx.ravel()
    key, inv = np.unique(code, return_inverse=True)
    ends = []
    for vals, _ in reversed(parts):
        ends.append(vals[key % len(vals)])
        key = key // len(vals)
    b, a, m = ends
    left, right = a - 5.0 * sd, b + 5.0 * sd
    for _ in range(60):
        mid = 0.5 * (left + right)
        alpha, beta = (a - mid) / sd, (b - mid) / sd
        z = np.maximum(ndtr(beta) - ndtr(alpha), 1e-300)
        phi = np.exp(-0.5 * alpha**2) - np.exp(-0.5 * beta**2)
        got = mid + sd * phi / np.sqrt(2.0 * np.pi) / z
        low = got < m
        left, right = np.where(low, mid, left), np.where(low, right, mid)
    return (0.5 * (left + right))[inv.ravel()]


def _headline_reporter(metric: str):
    def report(model: PipelineModel) -> float:
        return model.headline(metric)

    report.__name__ = metric
    return report


class UnitAgent(mesa.Agent):
    """One unit of the hierarchy (a commune, district, province or the centre)."""

    def __init__(self, model: PipelineModel, unit: int):
        super().__init__(model)
        self.unit = unit

    @property
    def level(self) -> str:
        return self.model.levels[self.model.units.level[self.unit]]

    @property
    def parent(self) -> int:
        return int(self.model.units.parent[self.unit])

    @property
    def locality(self) -> int:
        return int(self.model.units.locality[self.unit])

    @property
    def weak(self) -> bool:
        return bool(self.model.units.weak[self.unit])

    def posts(self) -> pd.DataFrame:
        """The unit's posts with their holders (uid, -1 if vacant)."""
        m = self.model
        p = m.posts
        ids = np.flatnonzero(p.unit == self.unit)
        holder = p.holder[ids]
        uid = np.append(m.cadres.uid, -1)[holder]  # vacant (-1) -> -1
        return pd.DataFrame(
            {
                "post": ids,
                "sector": [m.sectors[s] for s in p.sector[ids]],
                "rank": [("head", "deputy", "member")[r] for r in p.rank[ids]],
                "key": p.key[ids],
                "holder": uid,
            }
        )


class CadreView(mesa.Agent):
    """A read-only view of one cadre, made on demand (cadres live in arrays, not as agents)."""

    def __init__(self, model: PipelineModel, uid: int):
        super().__init__(model)
        self.uid = uid
        c = model.cadres
        rows = np.flatnonzero(c.uid == uid)
        if len(rows):
            r = rows[0]
            self.attributes = {name: c.columns[name][r].tolist() for name in c.columns}
        else:
            arch = c.archived()
            rows = np.flatnonzero(arch["uid"] == uid)
            if not len(rows):
                raise KeyError(f"no cadre with uid {uid}")
            self.attributes = {name: arr[rows[0]].tolist() for name, arr in arch.items()}
        self.remove()  # a view: not part of the model's agent set

    def career(self) -> pd.DataFrame:
        ev = self.model.events_frame()
        return ev[ev["cadre"] == self.uid].reset_index(drop=True)

    def __repr__(self) -> str:
        return f"CadreView(uid={self.uid})"

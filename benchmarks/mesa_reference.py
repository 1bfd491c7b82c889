"""Why not plain Mesa: the same yearly rules with one `mesa.Agent` per cadre, beside pipeline_sim.

    python benchmarks/mesa_reference.py                       # scales 0.005, 0.01, 0.02; 5 years
    python benchmarks/mesa_reference.py --scales 0.01 0.05 --years 10

The subset of rules both run, from the same start (the historic structure at each scale, its
posts, units, staff pools and initial cadres taken from one pipeline_sim model):

- ageing and retirement at the statutory date of each cadre's sex and birth (Labour Code 2019);
- deaths (Gompertz) and voluntary exits, at the scenario's rates, holders and staff apart;
- top-down vacancy filling: posts by standing, highest first; each vacancy goes to the most
  competent cadre of the same sector and lower standing in the post's unit or the units directly
  below it; the post a promoted cadre leaves is filled in its turn (a vacancy chain);
- recruitment: entrants refill each unit's staff pool to its target.

pipeline_sim runs these as its demography, filling and recruitment phases (with calendar and
record), with integrity, assessment, confidence, planning, rotation, work and congress off. The
Mesa model is written as a Mesa user would write it: an agent per cadre with its own `step`,
`AgentSet.shuffle_do` for the yearly exits, dictionaries from units to their agents for the
candidate search, `Agent.remove` on exit. Its filling is simpler than pipeline_sim's (no pools,
no readiness, no eligibility rules), so the ratio printed is a lower bound of the gap.

Printed per scale: cadres, agent-years per second of each and their ratio.
"""

from __future__ import annotations

import argparse
import time

import mesa
import numpy as np

from pipeline_sim import PipelineModel
from pipeline_sim.processes import calendar, demography, filling, record, recruitment
from pipeline_sim.world.cadres import ACTIVE
from pipeline_sim.world.hierarchy import STAFF_RANK, grade_of
from pipeline_sim.world.rules import retirement_dates

OFF = {
    "integrity.enabled": False,
    "congress.enabled": False,
    "rotation.enabled": False,
    "confidence.enabled": False,
    "fast_track.enabled": False,
    "output.event_log": False,
    "output.holders": "none",
}


def start_model(scale: float, years: int, seed: int = 1) -> PipelineModel:
    model = PipelineModel(
        "scenarios/baseline.toml", seed=seed, years=years, **{"hierarchy.scale": scale, **OFF}
    )
    model.plan = [calendar, demography, filling, recruitment, record]
    return model


class Cadre(mesa.Agent):
    """One cadre: age (birth), sex, competence, unit, sector and the post held (None: staff)."""

    def __init__(
        self, model: MesaPipeline, unit: int, sector: int, birth: float, female: bool, competence: float
    ):
        super().__init__(model)
        self.unit, self.sector, self.birth, self.female = unit, sector, birth, female
        self.competence = competence
        self.post: int | None = None
        self.grade = model.staff_grade[unit]
        self.retire = float(retirement_dates(np.array([birth]), np.array([female]), model.demography)[0])
        model.members[unit, sector].add(self)

    def step(self) -> None:
        """Retire, die or leave."""
        m = self.model
        if self.retire < m.year + 1:
            self.leave()
            return
        age = m.year + 0.5 - self.birth
        d = m.demography
        p_die = min(1.0, d.mortality_at_40 * 2.0 ** ((age - 40.0) / d.mortality_doubling_years))
        p_leave = d.p_leave_leader if self.post is not None else d.p_leave_staff
        if m.random.random() < p_die + p_leave:
            self.leave()

    def leave(self) -> None:
        m = self.model
        if self.post is not None:
            m.holder[self.post] = None
        else:
            m.staff_count[self.unit, self.sector] -= 1
        m.members[self.unit, self.sector].discard(self)
        self.remove()


class MesaPipeline(mesa.Model):
    """The subset of yearly rules over one agent per cadre (see the module's docstring)."""

    def __init__(self, start: PipelineModel, seed: int = 1):
        super().__init__(seed=seed)
        self.year = start.year
        self.demography = start.scenario.demography
        self.entry = start.scenario.recruitment
        u, p, c = start.units, start.posts, start.cadres
        self.parent = u.parent.astype(int)
        self.children: dict[int, list[int]] = {i: [] for i in range(u.n)}
        for i in range(1, u.n):
            self.children[int(self.parent[i])].append(i)
        n_sec = len(start.sectors)
        self.staff_target = start.staff_target.astype(int)
        self.post_unit, self.post_sector = p.unit.astype(int), p.sector.astype(int)
        self.post_grade = p.grade.astype(int)
        self.order = np.argsort(self.post_grade, kind="stable")  # highest standing first
        self.staff_grade = grade_of(u.level.astype(int), STAFF_RANK)  # a unit's staff pool
        self.members = {(i, s): set() for i in range(u.n) for s in range(n_sec)}
        self.staff_count = np.zeros((u.n, n_sec), int)
        self.holder: list[Cadre | None] = [None] * p.n
        rows = np.flatnonzero(c.status == ACTIVE)
        for r in rows:
            a = Cadre(
                self,
                int(c.unit[r]),
                int(c.sector[r]),
                float(c.birth[r]),
                bool(c.female[r]),
                float(c.competence[r]),
            )
            if c.post[r] >= 0:
                a.post, a.grade = int(c.post[r]), int(self.post_grade[c.post[r]])
                self.holder[a.post] = a
            else:
                self.staff_count[a.unit, a.sector] += 1

    def fill(self) -> None:
        for post in self.order:
            if self.holder[post] is not None:
                continue
            unit, sector, grade = self.post_unit[post], self.post_sector[post], self.post_grade[post]
            best = None
            for where in (unit, *self.children[unit]):
                for a in self.members[where, sector]:
                    if a.grade > grade and (best is None or a.competence > best.competence):
                        best = a
            if best is None:
                continue
            if best.post is not None:
                self.holder[best.post] = None  # filled in its turn, further down the order
            else:
                self.staff_count[best.unit, best.sector] -= 1
            self.members[best.unit, best.sector].discard(best)
            best.post, best.grade, best.unit = int(post), int(grade), int(unit)
            self.members[unit, sector].add(best)
            self.holder[post] = best

    def recruit(self) -> None:
        e = self.entry
        for (unit, sector), n in np.ndenumerate(self.staff_target - self.staff_count):
            for _ in range(max(int(n), 0)):
                age = max(e.entry_age_min, self.random.gauss(e.entry_age_mean, e.entry_age_sd))
                female = self.random.random() < e.female_share
                comp = self.random.gauss(e.competence_mean, e.competence_sd)
                Cadre(self, unit, sector, self.year + 0.5 - age, female, comp)
                self.staff_count[unit, sector] += 1

    def step(self) -> None:
        self.year += 1
        self.agents.shuffle_do("step")
        self.fill()
        self.recruit()


def agent_years_per_second(scale: float, years: int) -> tuple[int, float, float]:
    ps = start_model(scale, years)
    cadres = int((ps.cadres.status == ACTIVE).sum())
    mm = MesaPipeline(start_model(scale, years))
    t0 = time.perf_counter()
    ps.run()
    t1 = time.perf_counter()
    for _ in range(years):
        mm.step()
    t2 = time.perf_counter()
    return cadres, cadres * years / (t1 - t0), cadres * years / (t2 - t1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.005, 0.01, 0.02])
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'scale':>6} {'cadres':>9} {'pipeline_sim':>14} {'plain Mesa':>12} {'ratio':>7}   (agent-years/s)"
    )
    for scale in args.scales:
        n, fast, slow = agent_years_per_second(scale, args.years)
        print(f"{scale:>6g} {n:>9,} {fast:>14,.0f} {slow:>12,.0f} {fast / slow:>7.0f}x")


if __name__ == "__main__":
    main()

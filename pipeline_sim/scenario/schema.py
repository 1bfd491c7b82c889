"""The scenario schema: every setting, its default, its bounds and its source.

Empirical defaults cite their source in the field description; the sources are summarised in
``reference/rules.md`` of the project and abbreviated here (Reg. = Party regulation "Quy dinh",
Dir. = Directive, Decree = Government decree). ``[E]`` marks an estimate with no direct source.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline_sim.folders import SAFE_NAME

RANKS = ("head", "deputy", "member")
GRADES = ("excellent", "good", "completed", "not_completed")

# Bounds that keep every run inside what the model's arrays can hold (see the README's scenario
# reference). Every float of a scenario is finite: NaN and infinity are refused everywhere.
MAX_SEED = 2**63 - 1  #: every replication's seed (seed + reps - 1) fits an int64 column
MAX_LEVELS = 10  #: levels are int8 columns, grades 4 * level + rank are int16
MAX_SECTORS = 8  #: a cadre's sector history is an 8-bit set
MAX_UNITS_PER_LEVEL = 100_000  #: the historic structure has 10,035 communes
MAX_STAFF_PER_UNIT = 100_000  #: the historic centre has 5,000
MAX_POSTS_PER_RANK = 1_000  #: posts of one rank in one sector of one unit (central members: 170)
MAX_NAME_LENGTH = 100  #: scenario names become folder and file names
MAX_LABEL_LENGTH = 64  #: level and sector names
GRADE_HISTORY_YEARS = 3  #: years of assessment grades kept for each cadre (world.cadres.HISTORY)
MAX_SERVICE_YEARS = 45.0  #: bound of every service, tenure and term condition in years

Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
#: a span of years in a service condition
Years = Annotated[float, Field(ge=0.0, le=MAX_SERVICE_YEARS)]
#: an age in a plausible range for a working adult
Age = Annotated[float, Field(ge=16.0, le=80.0)]
#: a standard deviation of ages in years
AgeSd = Annotated[float, Field(ge=0.0, le=20.0)]
#: a weight or effect on the log-odds or SD scale
Effect = Annotated[float, Field(ge=-10.0, le=10.0)]
NonNegEffect = Annotated[float, Field(ge=0.0, le=10.0)]
#: points on the 100-point assessment scale
Points = Annotated[float, Field(ge=0.0, le=100.0)]
SignedPoints = Annotated[float, Field(ge=-100.0, le=100.0)]

_BAD_LABEL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029.\[\]]")


def _label(name: str) -> str:
    if not name.strip() or len(name) > MAX_LABEL_LENGTH or _BAD_LABEL.search(name):
        raise ValueError(
            f"{name[:80]!r}: level and sector names are 1 to {MAX_LABEL_LENGTH} characters, not "
            "blank, without '.', '[', ']' or control characters"
        )
    return name


Label = Annotated[str, AfterValidator(_label)]


def check_seeds(seed: int, reps: int) -> None:
    """Refuse a first seed whose replications (seed, ..., seed + reps - 1) would not all fit an int64."""
    if seed < 0 or seed + reps - 1 > MAX_SEED:
        raise ValueError(
            f"replication seeds {seed} to {seed + reps - 1} must lie in 0 to 2^63-1 (= {MAX_SEED}); "
            f"with {reps} replication(s) simulation.seed is at most {MAX_SEED - reps + 1}"
        )


class Section(BaseModel):
    """Base for every table of a scenario file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------------
# simulation


class Simulation(Section):
    start_year: int = Field(
        2021,
        ge=1900,
        le=2200,
        description="First simulated year; the first year of a term (13th Congress, Jan 2021).",
    )
    years: PosInt = Field(30, le=500, description="Number of simulated years (steps).")
    term_years: PosInt = Field(
        5, le=10, description="Length of a term in years (Party Charter; Decree 138/2020 Art. 41)."
    )
    seed: NonNegInt = Field(
        1,
        le=MAX_SEED,
        description="Seed of the first replication; replication i uses seed+i, and the last one "
        "(seed + reps - 1) must not exceed 2^63-1.",
    )
    reps: PosInt = Field(1, le=10_000, description="Replications for `pipeline-sim run`.")
    burn_in_years: NonNegInt = Field(
        0,
        le=200,
        description="Years simulated before metrics are recorded, to let the initial population "
        "settle. Burn-in years are not counted in `years`.",
    )

    @model_validator(mode="after")
    def _seeds_fit(self) -> Simulation:
        check_seeds(self.seed, self.reps)
        return self


# --------------------------------------------------------------------------------------------
# hierarchy


PostCount = Annotated[int, Field(ge=0, le=MAX_POSTS_PER_RANK)]


class RankCounts(Section):
    """Posts of one sector in one unit, by rank (at most 1,000 of each)."""

    head: PostCount = 0
    deputy: PostCount = 0
    member: PostCount = 0


class Hierarchy(Section):
    preset: Literal["historic", "reform2025", "teaching", "custom"] = Field(
        "historic",
        description="Built-in structure: 'historic' = central, 63 provinces, ~696 districts, "
        "~10,035 communes (pre-2025; rules.md §7b); 'reform2025' = central, 34 provinces, 3,321 "
        "communes (NA Res. 202/2025); 'teaching' = one province, 6 districts, 48 communes; 'custom' "
        "= everything below must be given. Keys given in the file override the preset.",
    )
    scale: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Shrinks the number of units below the top level proportionally (at least one "
        "unit per parent); posts and staff per unit are unchanged.",
    )
    levels: list[Label] = Field(
        default_factory=list,
        max_length=MAX_LEVELS,
        description="Level names, top first (from the preset if empty); a name is 1 to 64 characters "
        "without '.', '[', ']' or control characters.",
    )
    sectors: list[Label] = Field(
        default_factory=list,
        max_length=MAX_SECTORS,
        description="Sectors (blocs): Party, State, Front and mass organisations; names as for levels.",
    )
    key_ranks: list[Literal["head", "deputy", "member"]] = Field(
        default_factory=lambda: ["head"],
        max_length=3,
        description="Ranks whose posts are key posts (secretary, PC chair, Front chair): the posts "
        "with planning pools and whose succession is measured.",
    )
    units: dict[str, Annotated[int, Field(ge=1, le=MAX_UNITS_PER_LEVEL)]] = Field(
        default_factory=dict, description="Number of units per level (before `scale`)."
    )
    staff: dict[str, Annotated[int, Field(ge=0, le=MAX_STAFF_PER_UNIT)]] = Field(
        default_factory=dict,
        description="Cadres below leadership (the staff pool) per unit, by level.",
    )
    posts: dict[str, dict[str, RankCounts]] = Field(
        default_factory=dict,
        description="Posts per unit: posts.<level>.<sector> = {head, deputy, member}, each 0 to 1000. "
        "The whole structure must fit in the memory available: the loader estimates it (about 0.7 "
        "KB per cadre) and refuses a structure larger than the machine's available memory.",
    )
    weak_unit_share: Share = Field(
        0.1,
        description="Share of units in weak or stagnant condition ('to fill gaps', seed 003). [E]",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Hierarchy:
        if not self.levels:
            raise ValueError("no levels: give hierarchy.levels or a preset")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("hierarchy.levels has duplicate names")
        if not self.sectors or len(set(self.sectors)) != len(self.sectors):
            raise ValueError("hierarchy.sectors must be a non-empty list of distinct names")
        for table in ("units", "staff", "posts"):
            got = set(getattr(self, table))
            unknown = got - set(self.levels)
            if unknown:
                raise ValueError(
                    f"hierarchy.{table} names unknown level(s) {sorted(unknown)}; levels are {self.levels}"
                )
        missing = [lvl for lvl in self.levels if lvl not in self.units]
        if missing:
            raise ValueError(f"hierarchy.units gives no count for level(s) {missing}")
        if self.units[self.levels[0]] != 1:
            raise ValueError(f"hierarchy.units.{self.levels[0]}: the top level must have exactly 1 unit")
        for upper, lower in zip(self.levels, self.levels[1:], strict=False):
            if self.units[lower] < self.units[upper]:
                raise ValueError(
                    f"hierarchy.units.{lower}: expected at least as many units as level "
                    f"'{upper}' ({self.units[upper]}), got {self.units[lower]}"
                )
        for level, by_sector in self.posts.items():
            unknown = set(by_sector) - set(self.sectors)
            if unknown:
                raise ValueError(
                    f"hierarchy.posts.{level} names unknown sector(s) {sorted(unknown)}; "
                    f"sectors are {self.sectors}"
                )
        n_posts = sum(
            getattr(rc, r) for by_sector in self.posts.values() for rc in by_sector.values() for r in RANKS
        )
        if n_posts == 0:
            raise ValueError("hierarchy.posts defines no posts at all")
        return self


# --------------------------------------------------------------------------------------------
# demography and recruitment


class RetirementSchedule(Section):
    """Statutory retirement age by calendar year: a linear ramp from `base_age` in `base_year`."""

    age_before: float = Field(description="Retirement age before `base_year`.", ge=40, le=80)
    base_year: int = Field(description="First year of the ramp.", ge=1900, le=2200)
    base_age: float = Field(description="Age in `base_year`.", ge=40, le=80)
    annual_step: NonNegFloat = Field(description="Increase per year (years of age).", le=0.9)
    final_age: float = Field(description="Age at which the ramp stops.", ge=40, le=80)

    @model_validator(mode="after")
    def _ordered(self) -> RetirementSchedule:
        if self.final_age < self.base_age:
            raise ValueError(f"final_age ({self.final_age}) is below base_age ({self.base_age})")
        return self


class Demography(Section):
    retirement_male: RetirementSchedule = Field(
        default_factory=lambda: RetirementSchedule(
            age_before=60.0, base_year=2021, base_age=60.25, annual_step=0.25, final_age=62.0
        ),
        description="Men: 60y3m in 2021, +3 months a year to 62 in 2028 (Labour Code 2019 Art. 169; "
        "Decree 135/2020).",
    )
    retirement_female: RetirementSchedule = Field(
        default_factory=lambda: RetirementSchedule(
            age_before=55.0,
            base_year=2021,
            base_age=55 + 4 / 12,
            annual_step=4 / 12,
            final_age=60.0,
        ),
        description="Women: 55y4m in 2021, +4 months a year to 60 in 2035 (Labour Code 2019 Art. 169; "
        "Decree 135/2020).",
    )
    retirement_extension_years: float = Field(
        0.0,
        ge=0.0,
        le=5.0,
        description="Extension for special cases, 0 to 5 years (Decree 135/2020).",
    )
    mortality_at_40: Share = Field(0.0015, description="Annual death probability at age 40. [E]")
    mortality_doubling_years: float = Field(
        8.0, ge=2.0, le=100.0, description="Years for mortality to double (Gompertz). [E]"
    )
    p_leave_staff: Share = Field(0.02, description="Annual voluntary exit, staff pool. [E]")
    p_leave_leader: Share = Field(0.005, description="Annual voluntary exit, post holders. [E]")


class Recruitment(Section):
    female_share: Share = Field(0.45, description="Share of women among entrants to the staff pool. [E]")
    minority_share: Share = Field(
        0.12, description="Share of ethnic-minority entrants. [E] (no figure in rules.md)"
    )
    entry_age_mean: float = Field(27.0, ge=18, le=60, description="Mean entry age. [E]")
    entry_age_sd: AgeSd = Field(3.0, description="SD of entry age. [E]")
    entry_age_min: float = Field(
        21.0, ge=18, le=60, description="Youngest entrant (Party entry age 18-60, rules.md §6)."
    )
    competence_mean: Effect = Field(0.0, description="Mean latent competence of entrants.")
    competence_sd: NonNegEffect = Field(1.0, description="SD of latent competence of entrants.")


class StartGroup(Section):
    """Holders of a set of posts at the start, drawn to match a recorded profile (rules.md §8).

    Groups are drawn from the smallest to the largest; a larger group's figures hold for the whole
    group, counting the holders that a smaller group inside it has already drawn.
    """

    label: str = Field("", max_length=200, description="Readable name, e.g. 'provincial party secretaries'.")
    body: str | None = Field(
        None, max_length=64, description="The posts of this body (a name under [bodies]); or give `posts`."
    )
    posts: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=100,
        description="Post selectors as in [bodies] ('level.sector.rank', ':k', '@n'); or give `body`. "
        "With neither, the group is dropped.",
    )
    female_share: Share | None = Field(None, description="Women among the group's holders at the start.")
    age_mean: Age | None = Field(None, description="Mean age of the group's holders at the start.")
    age_sd: AgeSd | None = Field(
        None,
        description="SD of the normal the group's ages are drawn from before truncation at the age "
        "rules (default: initial.holder_age_sd).",
    )
    below_age: Age | None = Field(None, description="With share_below_age: an age of the recorded profile.")
    share_below_age: Share | None = Field(
        None,
        description="Share of the group's holders younger than below_age at the start (drawn exactly, "
        "the others older).",
    )
    reelected_share: Share | None = Field(
        None,
        description="Share of the group's holders in at least their second consecutive term in the "
        "post (default 0.5 [E]).",
    )
    source: str = Field("", max_length=500, description="Where the figures come from.")
    year: Annotated[int, Field(ge=1900, le=2200)] | None = Field(
        None,
        description="The year the record describes: the group applies only to a run whose first "
        "simulated year it is (none: every run).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StartGroup:
        if self.body is not None and self.posts:
            raise ValueError("give one of `body` and `posts`, not both")
        if (self.below_age is None) != (self.share_below_age is None):
            raise ValueError("below_age and share_below_age go together")
        if self.share_below_age is not None and self.age_mean is None:
            raise ValueError("share_below_age needs age_mean")
        return self


class InitialPopulation(Section):
    """How the first year's cadres are drawn."""

    holder_age_mean: dict[str, Age] = Field(
        default_factory=dict,
        description="Mean age of post holders by level in the first simulated year, heads; "
        "deputies 2 and members 4 years younger (defaults by position in the hierarchy: "
        "provincial secretaries averaged 52.3 in 2020, rules.md §8).",
    )
    holder_age_sd: AgeSd = Field(
        6.0,
        description="SD of the normal that holder ages are drawn from, before it is truncated at "
        "the age rules of the congress that opened the term. [E]",
    )
    female_share_holders: Share = Field(
        0.15,
        description="Women among initial post holders (provincial secretaries 2020-25: 14.3%, rules.md §8).",
    )
    minority_share_holders: Share = Field(0.1, description="Ethnic minorities among initial holders. [E]")
    competence_bonus_per_grade: Annotated[float, Field(ge=-1.0, le=1.0)] = Field(
        0.15, description="Initial competence advantage per rank step up the hierarchy. [E]"
    )
    steady_competence: bool = Field(
        True,
        description="Start the latent competence of holders (by level and rank) and staff (by "
        "level) at the means of the model's own steady state (holder_competence_mean, "
        "staff_competence_mean), so that quality in office does not trend while merit selection "
        "sorts the start; false: the grade bonus alone.",
    )
    holder_competence_mean: dict[str, Annotated[float, Field(ge=-10.0, le=20.0)]] = Field(
        default_factory=dict,
        description="Mean latent competence of initial holders by 'level.rank' (defaults by preset: "
        "the baseline's steady state, years 25-40 of national runs, written by "
        "benchmarks/steady_start.py into pipeline_sim/data/steady_start.toml).",
    )
    staff_competence_mean: dict[str, Annotated[float, Field(ge=-10.0, le=20.0)]] = Field(
        default_factory=dict,
        description="Mean latent competence of initial staff by level (defaults as for "
        "holder_competence_mean).",
    )
    groups: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")], StartGroup] = Field(
        default_factory=dict,
        max_length=64,
        description="Holders of named sets of posts at the start, drawn to a recorded profile "
        "(defaults come with the hierarchy preset: the record of 2021 or 2026, rules.md §8).",
    )


# --------------------------------------------------------------------------------------------
# yearly processes


class Work(Section):
    competence_growth: Annotated[float, Field(ge=-1.0, le=1.0)] = Field(
        0.03, description="Yearly growth of latent competence in work. [E]"
    )
    varied_experience_bonus: Annotated[float, Field(ge=-1.0, le=1.0)] = Field(
        0.01,
        description="Extra yearly growth per extra sector, locality or grassroots service in a "
        "cadre's history (varied experience, seed 000). [E]",
    )
    post_skill_learning_rate: Share = Field(
        0.35, description="Share of the remaining post-specific skill learned each year. [E]"
    )
    post_skill_carry_share: Share = Field(
        0.5, description="Share of post-specific skill that carries into a new post. [E]"
    )
    post_skill_weight: NonNegEffect = Field(
        0.5, description="Weight of post-specific skill in performance. [E]"
    )
    performance_noise_sd: NonNegEffect = Field(0.5, description="Year-to-year performance noise. [E]")
    weak_unit_effect: Effect = Field(-0.5, description="Performance effect of a weak unit. [E]")


class Assessment(Section):
    score_mean: Points = Field(
        80.0,
        description="Mean of the 100-point score (Reg. 366/2025). With score_sd it gives roughly the "
        "[E] distribution of rules.md §9: ~12% excellent, ~70% good, ~15% completed.",
    )
    score_sd: Points = Field(11.5, description="Points per SD of performance. [E]")
    noise_sd: Points = Field(5.0, description="Assessor noise in points. [E]")
    inflation: SignedPoints = Field(0.0, description="Points added to every score ('formalism'). [E]")
    satisfaction_weight: Points = Field(
        0.0, description="Points per SD of prestige (people's satisfaction) added to the score. [E]"
    )
    band_excellent: Points = Field(90.0, description="Excellent: score >= 90 (Reg. 366/2025 Art. 11).")
    band_good: Points = Field(70.0, description="Good: 70 to <90 (Reg. 366/2025).")
    band_completed: Points = Field(
        50.0, description="Completed: 50 to <70; below: not completed (Reg. 366/2025)."
    )
    excellent_cap_vs_good: Share = Field(
        0.2,
        description="Excellent may not exceed this share of 'good' in one unit (Reg. 124/2023 Art. 12; "
        "Decree 335/2025).",
    )

    @model_validator(mode="after")
    def _bands_ordered(self) -> Assessment:
        if not (self.band_excellent > self.band_good > self.band_completed):
            raise ValueError("score bands must satisfy band_excellent > band_good > band_completed")
        return self


Selection = Literal["merit", "seniority", "random", "patronage", "worst_first", "best_worst_mix"]
Grade = Literal["excellent", "good", "completed", "not_completed"]


class Planning(Section):
    mode: Literal["closed", "open"] = Field(
        "closed",
        description="'closed': candidates only from the post's own unit and the units below it in "
        "the same locality and sector; 'open': also from other localities and sectors (Reg. 50/2021, "
        "Reg. 377/2025; seed 000).",
    )
    review: Literal["flexible", "rigid"] = Field(
        "flexible",
        description="'flexible': pools reviewed every year (Reg. 50, Reg. 377: 'dynamic' planning); "
        "'rigid': only at congress.",
    )
    max_candidates: PosInt = Field(
        3, le=20, description="At most 3 planned candidates per post (Reg. 50/2021; Reg. 377/2025)."
    )
    max_posts_per_cadre: PosInt = Field(
        3,
        le=20,
        description="A cadre is planned for at most 3 posts (Reg. 50/2021; Reg. 377/2025).",
    )
    min_service_left_years: Years = Field(
        5.0,
        description="Enough working age for at least one full next term; 10 preferred "
        "(Reg. 50/2021; Reg. 377/2025).",
    )
    min_grade: Grade = Field("good", description="Lowest grade accepted in the assessment record. [E]")
    record_years: PosInt = Field(2, le=3, description="Years of assessment record checked for planning. [E]")
    min_tenure_years: Years = Field(1.0, description="Years in the current post before planning. [E]")
    max_level_gap: NonNegInt = Field(
        1, le=3, description="Candidates come from at most this many levels below the post. [E]"
    )
    selection: Selection = Field(
        "merit",
        description="How pool candidates are ranked: assessed merit, seniority, random, patronage "
        "(merit plus a bonus for the head's network, the 'backyards' of seed 002), worst_first, or "
        "best_worst_mix (a share of decisions picks the worst).",
    )
    structure_targets: bool = Field(
        True,
        description="Fill pools toward the targets (women, young, ethnic minorities; "
        "metrics.target_*) when eligible candidates exist (Reg. 50/2021).",
    )


class Appointment(Section):
    min_service_left_years: Years = Field(
        5.0,
        description="At least 5 years to retirement at appointment (Decree 138/2020 Art. 42; "
        "Guid. 06-HD/BTCTW 2021).",
    )
    min_tenure_years: Years = Field(
        2.0,
        description="Years in the current post before a higher appointment (24-month rule, 2025).",
    )
    min_grade: Grade = Field("good", description="Lowest grade in the last assessment. [E]")
    max_level_gap: NonNegInt = Field(
        1, le=3, description="Appointees come from at most this many levels below the post. [E]"
    )
    allow_unplanned: bool = Field(
        True,
        description="A vacancy with no ready planned successor may take an unplanned eligible "
        "cadre from its own unit or the units below (same sector).",
    )
    entry_ranks: list[Literal["head", "deputy", "member"]] = Field(
        default_factory=lambda: ["deputy", "member"],
        max_length=3,
        description="Ranks that may be filled from the staff pool of the unit. [E]",
    )
    selection: Selection = Field("merit", description="How unplanned appointees are ranked.")
    patronage_strength: Points = Field(
        10.0,
        description="Points added to the score of candidates in the network of the head of the "
        "post's unit, under 'patronage' selection (before control_of_power). [E]",
    )
    best_share: Share = Field(
        0.5, description="Under best_worst_mix: share of decisions that pick the best. [E]"
    )
    n_networks: PosInt = Field(4, le=100, description="Patronage networks per locality (factions). [E]")
    female_score_gap: SignedPoints = Field(
        0.0,
        description="Points taken from a woman's selection score wherever planning and appointments "
        "rank candidates (every rule but random): the lower odds of promotion for women that the "
        "falling share of women at each level up shows (docs/sources.md §8). 0 = none. [E]",
    )
    service_weight: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.0,
        description="Points per year of service added to the selection score (experience counts "
        "beside assessed merit). [E]",
    )
    leadership_weight: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.0, description="Points per year in leadership posts added to the selection score. [E]"
    )
    outside_share: Share = Field(
        0.0,
        description="Share of vacancies, of any rank, filled from outside the pipeline: a new "
        "entrant to the service of the age of the post's holders, neither planned nor from "
        "inside (posts that must be held by non-locals excepted). 0 = none. [E]",
    )
    outside_share_by_level: dict[str, Share] = Field(
        default_factory=dict,
        description="outside_share by the level of the post, for the levels named (the others take "
        "outside_share). [E]",
    )
    competence_carry: Share = Field(
        1.0,
        description="How much of a cadre's latent competence carries into a higher post: 1 = all "
        "of it; 0 = drawn anew from the competence of the holders of that grade, independent of "
        "the competence shown below (the Peter principle: Pluchino, Rapisarda & Garofalo 2010; "
        "Benson, Li & Shue 2019); in between, the share of the cadre's distance from that grade's "
        "mean kept (the correlation of before and after). Every move to a higher post, "
        "appointments and rotations alike. [E]",
    )


class Congress(Section):
    enabled: bool = True
    first_time_min_service_years: Years = Field(
        5.0, description="A first-time holder needs one full term (60 months) left (Dir. 45/2025)."
    )
    reelect_min_service_years: Years = Field(
        4.0,
        description="A holder continuing into the new term needs 48 months left (Dir. 45/2025).",
    )


class Body(Section):
    """A named set of posts elected at each congress (see pipeline_sim.world.bodies)."""

    label: str = Field("", max_length=200, description="Readable name, e.g. 'Central Committee'.")
    posts: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=100,
        description="Post selectors 'level.sector.rank' (each part a name or '*'), optionally "
        "':k' (the first k posts of that kind in each unit) and '@n' (in the first n units of the "
        "level); an empty list drops the body.",
    )
    first_time_max_age: Age | None = Field(
        None, description="Oldest age at the start of the new term for a first election (CC: 55)."
    )
    reelect_max_age: Age | None = Field(
        None, description="Oldest age at the start of the new term for re-election (CC: 60; Politburo: 65)."
    )
    special_cases: Annotated[int, Field(ge=0, le=1000)] = Field(
        0, description="Over-age members kept at each congress as special cases (13th CC: 10)."
    )
    retirement_extension_years: Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)] = Field(
        0.0,
        description="Years past the statutory retirement date that a member may keep a post of the "
        "body (Decree 135/2020 allows up to 5 for highly qualified or special cases). [E]",
    )

    @model_validator(mode="after")
    def _ages(self) -> Body:
        if (
            self.first_time_max_age is not None
            and self.reelect_max_age is not None
            and self.first_time_max_age > self.reelect_max_age
        ):
            raise ValueError(
                f"first_time_max_age ({self.first_time_max_age:g}) is above reelect_max_age "
                f"({self.reelect_max_age:g}): a first election would be allowed where re-election is not"
            )
        return self


DISCIPLINE_FORMS = ("reprimand", "warning", "removal_from_post", "expulsion")
BAN_PRESETS = {
    # months without planning or promotion to a higher post
    "2022": {"reprimand": 12, "warning": 30, "removal_from_post": 60},  # Reg. 80-QD/TW (2022)
    "2025": {"reprimand": 24, "warning": 36, "removal_from_post": 60},  # Reg. 377-QD/TW (2025)
}


class DisciplineShares(Section):
    """How detected violations split by the form of discipline (shares sum to 1). [E]"""

    reprimand: Share = 0.55
    warning: Share = 0.30
    removal_from_post: Share = 0.10
    expulsion: Share = 0.05

    @model_validator(mode="after")
    def _sum_to_one(self) -> DisciplineShares:
        total = self.reprimand + self.warning + self.removal_from_post + self.expulsion
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"discipline shares must sum to 1, got {total:g}")
        return self


class Integrity(Section):
    """Violations, inspection and discipline (Reg. 69/2022, Reg. 41/2021, Res. 28/2022)."""

    enabled: bool = True
    p_violation: Share = Field(
        0.0025,
        description="Yearly probability of a violation for an average cadre at the lowest level; with "
        "inspection_intensity it gives ~0.3% of cadres disciplined a year (87,000 members over "
        "2016-21 of ~5.3 M, rules.md §8). [E]",
    )
    integrity_effect: NonNegEffect = Field(
        0.8, description="Log-odds of a violation per SD of low latent integrity. [E]"
    )
    power_effect_per_level: NonNegEffect = Field(
        0.25, description="Log-odds added per level above the lowest (power). [E]"
    )
    head_effect: NonNegEffect = Field(0.4, description="Log-odds added for the head of a unit. [E]")
    tenure_effect: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.08, description="Log-odds added per year in the same post (long tenure). [E]"
    )
    control_of_power: Share = Field(
        0.0,
        description="Strength of power control (Reg. 41; Res. 28): scales down the power, head and "
        "tenure effects and patronage. [E]",
    )
    inspection_intensity: Share = Field(
        0.3, description="Share of existing undetected violations found each year. [E]"
    )
    forms: DisciplineShares = Field(default_factory=DisciplineShares)
    ban_rules: Literal["2022", "2025"] = Field(
        "2022",
        description="Ban on planning and promotion after discipline: '2022' = 12/30/60 months for "
        "reprimand/warning/removal (Reg. 80/2022); '2025' = 24/36/60 (Reg. 377/2025).",
    )
    removal: Literal["strict", "lenient"] = Field(
        "strict",
        description="'strict': a disciplined or incapable holder is replaced at once (Res. 28/2022: "
        "'without waiting for the end of the term'); 'lenient': at the end of the term.",
    )
    replace_from: Literal["reprimand", "warning", "removal_from_post"] = Field(
        "reprimand",
        description="Lightest discipline form at which a holder is replaced: any discipline "
        "(Res. 28/2022: replace disciplined cadres 'as soon as possible').",
    )
    p_resign: Share = Field(
        0.5,
        description="Probability that a disciplined holder resigns when resignation is encouraged "
        "(Notice 20-TB/TW 2022; p_voluntary_resign_after_warning 0.5, rules.md §9). [E]",
    )
    encourage_resignation: bool = Field(
        True, description="Resignation encouraged (Res. 28/2022); if false p_resign is divided by 5."
    )
    dismiss_after_not_completed_years: NonNegInt = Field(
        2,
        le=GRADE_HISTORY_YEARS,
        description="Consecutive 'not completed' years that are grounds for dismissal (Reg. 41/2021); "
        "0 = never; at most 3, the years of grades kept for each cadre.",
    )
    dismiss_after_reprimands_in_term: NonNegInt = Field(
        2,
        le=10,
        description="Reprimands in one term that are grounds for dismissal (Reg. 41/2021); 0 = never.",
    )
    dismiss_below_competence: Effect | None = Field(
        None,
        description="A competence line: a holder whose latent competence (the scale of "
        "metrics.min_competence: entrants mean 0, SD 1) is below it is replaced, like a holder with "
        "two 'not completed' years (dismissed now under strict removal, at the end of the term "
        "under lenient). An absolute standard instead of the relative grades, with competence "
        "known: the most a competence-based rule can do. null = no line. [E]",
    )


class Confidence(Section):
    """Mid-term confidence vote (Reg. 262/2014, Reg. 96/2023)."""

    enabled: bool = True
    mean_low_share: Share = Field(
        0.08, description="Typical share of low-confidence votes for an average holder. [E]"
    )
    prestige_weight: NonNegEffect = Field(0.8, description="Log-odds per SD of low prestige. [E]")
    performance_weight: NonNegEffect = Field(0.8, description="Log-odds per SD of low performance. [E]")
    noise_sd: NonNegEffect = Field(0.6, description="Vote-to-vote noise in log-odds. [E]")
    out_of_planning_above: Share = Field(
        0.5, description="Above this low share: out of planning for higher posts (Reg. 96/2023)."
    )
    dismiss_at: Share = Field(
        2 / 3, description="At or above this low share: dismissed (Reg. 96/2023; Reg. 41/2021)."
    )
    p_resign_above_half: Share = Field(
        0.3, description="Probability of resigning when above one half (Reg. 41/2021 ground). [E]"
    )


class RotationDirections(Section):
    """Shares of rotations by direction (they sum to 1). [E]: Nghe An 2011-16 moved 41 province ->
    district, 46 district -> province and 52 between branches (seed 003), i.e. roughly 0.3 / 0.33 /
    0.37; the split of the last between localities and sectors is an estimate."""

    down: Share = 0.3
    up: Share = 0.3
    locality: Share = 0.2
    sector: Share = 0.2

    @model_validator(mode="after")
    def _sum_to_one(self) -> RotationDirections:
        total = self.down + self.up + self.locality + self.sector
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"rotation direction shares must sum to 1, got {total:g}")
        return self


class Rotation(Section):
    """Rotation of planned cadres between levels, localities and sectors (Reg. 65-QD/TW 2022)."""

    enabled: bool = True
    min_service_left_years: Years = Field(
        10.0, description="At least 10 years of service left (Reg. 65 Art. 5)."
    )
    special_min_service_left_years: Years = Field(
        5.0, description="For non-local or term-limit moves: one term left (Decree 138/2020 Art. 56)."
    )
    duration_years: PosInt = Field(3, le=10, description="At least 3 years (Reg. 65 Art. 8).")
    rate: Share = Field(
        0.02,
        description="Yearly share of eligible planned holders rotated, all directions together: ~0.1 "
        "a term (rotation_share_planned_cadres_per_term, rules.md §9; the only total found is 18,840 "
        "moves nationally in 2011-16). [E]",
    )
    directions: RotationDirections = Field(
        default_factory=lambda: RotationDirections(),
        description="How rotations split by direction (Reg. 65 Art. 4: top-down, bottom-up, between "
        "localities, between agencies at the same level).",
    )
    to_weak_share: Share = Field(
        0.7, description="Share of top-down moves aimed at weak or stagnant units (seed 003). [E]"
    )
    candidates: Literal["planned", "eligible", "eligible_and_staff"] = Field(
        "planned",
        description="Who may be rotated: 'planned' = post holders in a planning pool (Reg. 65 "
        "Art. 4(1)); 'eligible' = also holders who meet the planning conditions (planning.*), "
        "standing for the planning of the posts that keep no pools in the model (Reg. 50 plans "
        "every leadership post) and for Art. 4(3), other cases decided by the competent level; "
        "'eligible_and_staff' = also staff-pool cadres who meet them, for moves down into a "
        "vacant head or deputy post (provincial department staff sent to district key posts, seed "
        "003); they have no post to return to.",
    )
    level_weights: dict[str, Share] = Field(
        default_factory=dict,
        description="Weight of planned rotation into the posts of each level (levels not named: "
        "1): multiplies the yearly rate of the moves into the level's posts (by direction: down "
        "into the level below, up into the level above, locality and sector exchanges within the "
        "level) and the shares of its posts taken by rotated cadres at a congress and ahead; 0 = "
        "no rotation into that level's posts. [E]",
    )
    congress_share: Share = Field(
        0.0,
        description="Share of the posts vacant at a congress (after its age rules, before the "
        "elections) taken by rotated cadres from elsewhere for the new term: the congress is where "
        "most rotations happen (seed 003: 94 key cadres reassigned at the Do Luong grassroots "
        "congresses). Directions as rotation.directions. 0 = none. [E]",
    )
    ahead_share: Share = Field(
        0.0,
        description="Share of the posts whose holder retires within the next year that get a "
        "rotated cadre from elsewhere designated a year ahead, who takes the post when it falls "
        "vacant (rotation as a plan, seed 003: 'since 2016 a regular plan'). Directions as "
        "rotation.directions. 0 = none. [E]",
    )
    vertical_exchanges: bool = Field(
        False,
        description="A down or up rotation that finds no vacant post exchanges posts across one "
        "level instead: a deputy or member of a unit with a head or deputy of a unit below it, same "
        "sector (the one moving up meets every appointment condition). No post is created either "
        "way (rules.md §2). [E]",
    )
    p_return: Share = Field(
        0.5, description="At the end of a rotation: probability of returning to the home unit. [E]"
    )
    weak_unit_recovery: Share = Field(
        0.2, description="Yearly chance that a weak unit recovers while led by a rotated head. [E]"
    )
    two_term_rule: bool = Field(
        True,
        description="A head may not hold the same head post for more than two consecutive terms "
        "(Reg. 65/2022; Decree 138/2020 Art. 41); the rule moves them at congress.",
    )
    max_consecutive_terms: PosInt = Field(2, le=10, description="Terms allowed in one head post.")
    term_limit_levels: list[Label] = Field(
        default_factory=list,
        max_length=MAX_LEVELS,
        description="Levels whose heads the two-term rule moves; empty = every level. Reg. 65 "
        "Art. 4(2) names the province and district posts (rules.md §2).",
    )
    nonlocal_posts: list[str] = Field(
        default_factory=list,
        max_length=1_000,
        description="Posts that must be held by non-locals, as 'level.sector.rank' (e.g. "
        "'provincial.party.head'). 2025-30: all 34 provincial secretaries non-local (plo.vn, rules.md "
        "§2).",
    )


class FastTrack(Section):
    """'Create the source early and from afar' (seed 002)."""

    enabled: bool = False
    max_age: float = Field(35.0, ge=18, le=60, description="Only cadres younger than this. [E]")
    top_share: Share = Field(
        0.05, description="Share of young staff by merit who are eligible for the track. [E]"
    )
    yearly_intake: NonNegInt = Field(
        20, le=1_000, description="Cadres put on the track each year (per 1,000 key posts). [E]"
    )
    planning_bonus: Points = Field(
        10.0, description="Points added to a fast-track cadre's merit in selection. [E]"
    )
    min_tenure_years: Years = Field(
        1.0, description="Years in a post before a fast-track cadre can be promoted again. [E]"
    )


class Metrics(Section):
    min_competence: Effect = Field(
        0.0, description="Minimum-competence line for 'share below the line' in office. [E]"
    )
    young_age: dict[str, Age] = Field(
        default_factory=dict,
        description="'Young' is under this age, by level: 45 central, 40 provincial and district "
        "(Reg. 50/2021). Levels not named use 40.",
    )
    target_young: Share = Field(0.15, description="Young >= 15% of planning (Reg. 50/2021).")
    target_women: Share = Field(0.25, description="Women >= 25% of planning (Reg. 50/2021).")
    target_minority: Share = Field(
        0.10, description="Ethnic minorities 'appropriate to the locality' (Reg. 50/2021). [E]"
    )
    age_group_edges: Annotated[list[Age], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [40.0, 50.0],
        description="Three age groups: <40, 40-50, >50 (Dir. 35/2019 for provincial and district "
        "committees).",
    )
    target_age_groups: Annotated[list[Share], Field(min_length=3, max_length=3)] = Field(
        default_factory=lambda: [0.10, 0.45, 0.45],
        description="Target shares of the three age groups: <40 >=10%, 40-50 ~40-50% (Dir. 35/2019).",
    )
    rank_weights: dict[Literal["head", "deputy", "member"], Points] = Field(
        default_factory=lambda: {"head": 3.0, "deputy": 2.0, "member": 1.0},
        description="Responsibility weights of ranks for organisational performance. [E]",
    )

    @model_validator(mode="after")
    def _edges_ascending(self) -> Metrics:
        if self.age_group_edges[0] >= self.age_group_edges[1]:
            raise ValueError(f"age_group_edges must be ascending, got {self.age_group_edges}")
        if sum(self.target_age_groups) > 1.0 + 1e-9:
            raise ValueError(
                f"target_age_groups are shares of one whole: they sum to {sum(self.target_age_groups):g}"
            )
        return self


class Output(Section):
    event_log: bool = Field(True, description="Write the event log.")
    planning_events: bool = Field(
        True, description="Include planning additions and removals in the event log."
    )
    holders: Literal["none", "key", "all"] = Field(
        "key",
        description="Posts whose holders holders.parquet records at each year end and around each "
        "congress: 'key' = key posts plus every post of the top `roster_all_posts_levels` levels; "
        "'all' = every post (large at national scale); 'none' = no roster.",
    )
    roster_all_posts_levels: int = Field(
        2, ge=0, le=64, description="With holders = 'key': top levels at which every post is recorded."
    )


# --------------------------------------------------------------------------------------------
# restructuring


class Surplus(Section):
    """Leaders above the quota after a restructuring, and the policies that bring them down
    (rules.md §7c and §9 note 4: Concl. 150-KL/TW 2025; Decree 178/2024 as amended by Decree
    67/2025, rules.md §8)."""

    years: Annotated[int, Field(ge=0, le=20)] = Field(
        5,
        description="Years a merged unit may keep holders above the quota of a post kind: 5 (merged "
        "units keep the numbers appointed at the merger and must reduce them within 5 years, Concl. "
        "150, rules.md §7c). 0 = no surplus: holders beyond the quota move or step down at once.",
    )
    yearly_reduction: Share = Field(
        0.2,
        description="Share of a post kind's surplus at the event removed each year after it (the "
        "allowed surplus k years on is surplus x (1 - k x this), and none after `years`): 0.2 is a "
        "straight line to the quota over the 5 years. [E]",
    )
    ranks: list[Literal["head", "deputy", "member"]] = Field(
        default_factory=lambda: ["deputy", "member"],
        max_length=3,
        description="Ranks that may be held above the quota (Concl. 150: deputies above the quota; "
        "merged committees keep their members). A merged unit always has one head per sector: the "
        "other heads become deputies. Key ranks (hierarchy.key_ranks) cannot be among them.",
    )
    freeze_appointments: bool = Field(
        True,
        description="No new appointment to a post kind while its unit holds it above the quota: a "
        "post of such a kind that falls vacant is abolished, not filled. [E]",
    )
    early_retirement: bool = Field(
        True,
        description="Early retirement offered at a restructuring to cadres of the units it merges or "
        "abolishes, and to surplus holders as the surplus is reduced (Decree 178/2024, in force 1 "
        "January 2025; Decree 67/2025).",
    )
    early_retirement_years: Years = Field(
        5.0,
        description="Offered to cadres with at most this many years to their statutory retirement "
        "date: 5 (60 months, Decree 178/2024, rules.md §8).",
    )
    early_retirement_take_up: Share = Field(
        0.29,
        description="Probability that a cadre offered early retirement takes it. [E]: set so that the "
        "2025 transition at national scale retires about 19,000 early (of 66,500 offered), the model's "
        "share of the 43,207 who had left by 30 June 2025 (rules.md §8): its ~1 million cadres are "
        "~44% of the political system's staffing quota of 2.23 million (rules.md §7a).",
    )


#: what a restructuring step may do
RESTRUCTURING_ACTIONS = ("merge", "abolish", "posts")


class RestructuringStep(Section):
    """One step of a restructuring (`[[restructuring]]`): steps of the same year and month form one
    event, applied in the order given (see pipeline_sim.world.restructuring)."""

    year: int = Field(
        ge=1900,
        le=2200,
        description="Year of the event; one of the run's recorded years (the 2025 reform: 2025).",
    )
    month: Annotated[int, Field(ge=1, le=12)] = Field(
        1,
        description="Month of the event (the 2025 reform: 7, 1 July). Whatever the month, the event is "
        "applied in its year's restructure phase, after filling and before recruitment and the "
        "congress; the month dates it for the years to retirement of the early-retirement offer.",
    )
    action: Literal["merge", "abolish", "posts"] = Field(
        description="'merge': the units of `level` into fewer units (by `groups`, or by `target`); "
        "'abolish': the level `level` (its units' children attach to the level above, its posts "
        "disappear); 'posts': new posts (and staff) per unit by level, and new bodies."
    )
    level: str = Field("", max_length=MAX_LABEL_LENGTH, description="merge, abolish: the level.")
    groups: str = Field(
        "",
        max_length=4096,
        description="merge: a grouping file (CSV with columns `unit` and `group`, or TOML with `groups "
        "= [[1, 2], [3], ...]`), its path relative to the scenario file: every unit of the level, by "
        "its number in the level (1 = the level's first unit in units.parquet), in exactly one group; "
        "each group becomes one unit. It describes the full-scale structure: at another "
        "hierarchy.scale the rule below is used, with `target` (or the file's number of groups) "
        "scaled.",
    )
    target: Annotated[int, Field(ge=1, le=MAX_UNITS_PER_LEVEL)] | None = Field(
        None,
        description="merge without a file: units of the level after the merger, at full scale (scaled "
        "by hierarchy.scale). The rule: each parent keeps a share of the target proportional to its "
        "children (at least one), and merges its children, in order, into that many groups of sizes "
        "as equal as possible; no unit leaves its parent.",
    )
    cross_parents: bool = Field(
        False, description="merge: a grouping file may put units of different parents in one group."
    )
    staff_up_share: Share = Field(
        0.3,
        description="abolish: share of each abolished unit's staff who go to the level above (its "
        "parent); the others go to the units below, shared out in turn. Its post holders go to the "
        "units below at their own rank. [E]",
    )
    preset: Literal["historic", "reform2025", "teaching"] | None = Field(
        None,
        description="posts: take posts and staff per unit of the levels it shares with the run, and "
        "its bodies, from a built-in structure ('reform2025' after the 2025 reform).",
    )
    posts: dict[str, dict[str, RankCounts]] = Field(
        default_factory=dict,
        description="posts: posts per unit from the event on, as hierarchy.posts (over the preset); "
        "levels not named keep theirs.",
        json_schema_extra={"default_text": "{}"},
    )
    staff: dict[str, Annotated[int, Field(ge=0, le=MAX_STAFF_PER_UNIT)]] = Field(
        default_factory=dict,
        description="posts: staff-pool size per unit from the event on, by level (over the preset).",
        json_schema_extra={"default_text": "{}"},
    )
    bodies: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")], Body] = Field(
        default_factory=dict,
        max_length=64,
        description="posts: bodies from the event on: those of `preset`, and those named here (each a "
        "full definition, as in the scenario's bodies, replacing the body of that name); bodies named "
        "in neither keep their definitions, applied to the new structure.",
        json_schema_extra={"default_text": "{}"},
    )
    rules: dict[str, str | int | float | bool | list[str | int | float | bool]] = Field(
        default_factory=dict,
        max_length=100,
        description="Dotted scenario keys set from the event on, e.g. {'integrity.ban_rules' = "
        "'2025'} (any key but hierarchy, simulation, initial, name and description).",
        json_schema_extra={"default_text": "{}"},
    )


class Scenario(Section):
    """A complete, resolved scenario."""

    name: str = Field(
        "scenario",
        description="Names the results folder and the scenario in reports (default: the file name): "
        "1-100 letters, digits, '_', '-' or '.' (not first).",
    )
    description: str = Field("", max_length=10_000, description="One line on what the scenario represents.")
    simulation: Simulation = Field(default_factory=Simulation)
    hierarchy: Hierarchy
    demography: Demography = Field(default_factory=Demography)
    recruitment: Recruitment = Field(default_factory=Recruitment)
    initial: InitialPopulation = Field(default_factory=InitialPopulation)
    work: Work = Field(default_factory=Work)
    assessment: Assessment = Field(default_factory=Assessment)
    planning: Planning = Field(default_factory=Planning)
    appointment: Appointment = Field(default_factory=Appointment)
    congress: Congress = Field(default_factory=Congress)
    integrity: Integrity = Field(default_factory=Integrity)
    confidence: Confidence = Field(default_factory=Confidence)
    rotation: Rotation = Field(default_factory=Rotation)
    fast_track: FastTrack = Field(default_factory=FastTrack)
    metrics: Metrics = Field(default_factory=Metrics)
    output: Output = Field(default_factory=Output)
    bodies: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")], Body] = Field(
        default_factory=dict,
        max_length=64,
        description="Bodies elected at each congress, by name (defaults come with the hierarchy preset).",
    )
    surplus: Surplus = Field(default_factory=Surplus)
    restructuring: list[RestructuringStep] = Field(
        default_factory=list,
        max_length=64,
        description="Restructuring events during the run (`[[restructuring]]`, one table per step): "
        "units merged, levels abolished, posts per unit changed (the 2025 reform: "
        "scenarios/transition2025.toml).",
        json_schema_extra={"default_text": "[]"},
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not re.fullmatch(SAFE_NAME, name):
            raise ValueError(
                "expected 1-100 letters, digits, '_', '-' or '.' (not first): it names the results folder"
            )
        return name

    @model_validator(mode="after")
    def _retirement_after_entry(self) -> Scenario:
        rec = self.recruitment
        for sex in ("male", "female"):
            r = getattr(self.demography, f"retirement_{sex}")
            youngest = min(r.age_before, r.base_age)
            for key in ("entry_age_min", "entry_age_mean"):
                age = getattr(rec, key)
                if age >= youngest:
                    raise ValueError(
                        f"recruitment.{key} ({age:g}) is not below the youngest retirement age of "
                        f"demography.retirement_{sex} ({youngest:g}): cadres would retire on entry"
                    )
        return self

    @model_validator(mode="after")
    def _moves_at_a_congress(self) -> Scenario:
        if self.rotation.congress_share > 0 and not self.congress.enabled:
            raise ValueError(
                f"rotation.congress_share ({self.rotation.congress_share:g}) moves cadres at the "
                "congress, but congress.enabled is false: set the share to 0 or enable the congress"
            )
        return self

    @model_validator(mode="after")
    def _restructuring_fits(self) -> Scenario:
        if not self.restructuring:
            return self
        check_restructuring_steps(self)
        return self

    @model_validator(mode="after")
    def _levels_known(self) -> Scenario:
        levels = set(self.hierarchy.levels)
        for table, mapping in (
            ("initial.holder_age_mean", self.initial.holder_age_mean),
            ("metrics.young_age", self.metrics.young_age),
            ("rotation.level_weights", self.rotation.level_weights),
            ("appointment.outside_share_by_level", self.appointment.outside_share_by_level),
            ("rotation.term_limit_levels", dict.fromkeys(self.rotation.term_limit_levels)),
        ):
            unknown = set(mapping) - levels
            if unknown:
                raise ValueError(f"{table} names unknown level(s) {sorted(unknown)}")
        from pipeline_sim.world.bodies import selector_problem

        for name, body in self.bodies.items():
            for item in body.posts:
                problem = selector_problem(item, self.hierarchy.levels, self.hierarchy.sectors)
                if problem:
                    raise ValueError(f"bodies.{name}.posts: {problem}")
        for key in self.initial.holder_competence_mean:
            parts = key.split(".")
            if len(parts) != 2 or parts[0] not in levels or parts[1] not in RANKS:
                raise ValueError(
                    f"initial.holder_competence_mean: {key!r} is not 'level.rank' with level in "
                    f"{self.hierarchy.levels} and rank in {list(RANKS)}"
                )
        unknown = set(self.initial.staff_competence_mean) - levels
        if unknown:
            raise ValueError(f"initial.staff_competence_mean names unknown level(s) {sorted(unknown)}")
        for name, group in self.initial.groups.items():
            if group.body is not None and group.body not in self.bodies:
                raise ValueError(
                    f"initial.groups.{name}.body: {group.body!r} is not a body of this scenario "
                    f"({sorted(self.bodies) or 'none'})"
                )
            for item in group.posts:
                problem = selector_problem(item, self.hierarchy.levels, self.hierarchy.sectors)
                if problem:
                    raise ValueError(f"initial.groups.{name}.posts: {problem}")
        for item in self.rotation.nonlocal_posts:
            parts = item.split(".")
            if (
                len(parts) != 3
                or parts[0] not in levels
                or parts[1] not in self.hierarchy.sectors
                or parts[2] not in RANKS
            ):
                raise ValueError(
                    f"rotation.nonlocal_posts: {item!r} is not 'level.sector.rank' with level in "
                    f"{self.hierarchy.levels}, sector in {self.hierarchy.sectors}, rank in {list(RANKS)}"
                )
        return self


#: sections of a scenario that a restructuring's `rules` cannot change (see pipeline_sim.live)
FIXED_SECTIONS = ("name", "description", "simulation", "hierarchy", "initial")


def check_restructuring_steps(scen: Scenario) -> None:
    """The restructuring steps fit the run and the hierarchy, in their order (ValueError naming
    the key otherwise). Grouping files and `rules` values are checked by the loader."""
    from pipeline_sim.scenario.presets import default_bodies, preset_table
    from pipeline_sim.world.bodies import selector_problem

    h, sim = scen.hierarchy, scen.simulation
    levels, sectors = list(h.levels), list(h.sectors)
    first, last = sim.start_year, sim.start_year + sim.years - 1
    clash = set(scen.surplus.ranks) & set(h.key_ranks)
    if clash:
        raise ValueError(
            f"surplus.ranks: key ranks {sorted(clash)} (hierarchy.key_ranks) cannot be held above the "
            "quota: a merged unit keeps one holder of each key post"
        )
    abolished: dict[str, int] = {}
    order = sorted(
        range(len(scen.restructuring)),
        key=lambda i: (scen.restructuring[i].year, scen.restructuring[i].month),
    )
    only = {
        "merge": {"groups", "target", "cross_parents"},
        "abolish": {"staff_up_share"},
        "posts": {"preset", "posts", "staff", "bodies", "rules"},
    }
    for i in order:
        step = scen.restructuring[i]
        key = f"restructuring.{i}"
        if not first <= step.year <= last:
            raise ValueError(
                f"{key}.year: {step.year} is outside the run ({first}-{last}, simulation.start_year "
                "and simulation.years)"
            )
        # a key counts as given when it differs from its default (a resolved scenario lists them all)
        defaults = RestructuringStep.model_fields
        given = {
            name
            for name in set(defaults) - {"year", "month", "action", "level"}
            if getattr(step, name) != defaults[name].get_default(call_default_factory=True)
        }
        for name in sorted(given - only[step.action]):
            allowed = [a for a, names in only.items() if name in names]
            raise ValueError(
                f"{key}.{name}: only for action {' or '.join(map(repr, allowed))}, not {step.action!r}"
            )
        if step.action in ("merge", "abolish"):
            if step.level not in levels:
                raise ValueError(f"{key}.level: {step.level!r} is not one of the levels {levels}")
            li = levels.index(step.level)
            if step.level in abolished:
                raise ValueError(
                    f"{key}.level: {step.level!r} was abolished by restructuring.{abolished[step.level]}"
                )
            if step.action == "merge" and li == 0:
                raise ValueError(f"{key}.level: the top level ({step.level!r}) has one unit and cannot merge")
            if step.action == "merge" and not step.groups and step.target is None:
                raise ValueError(
                    f"{key}: a merge needs a grouping file (groups) or a number of units (target)"
                )
            if step.action == "abolish":
                if li < 2 or li == len(levels) - 1:
                    raise ValueError(
                        f"{key}.level: only a level below the second (whose units are the localities) "
                        f"and above the bottom can be abolished; {step.level!r} is level {li + 1} of "
                        f"{len(levels)}"
                    )
                abolished[step.level] = i
        else:
            if step.level:
                raise ValueError(f"{key}.level: not for action 'posts' (posts and staff are given by level)")
            if not given & {"preset", "posts", "staff", "bodies", "rules"}:
                raise ValueError(
                    f"{key}: a 'posts' step changes nothing: give preset, posts, staff, bodies or rules"
                )
            if step.preset is not None:
                table = preset_table(step.preset)
                if list(table["sectors"]) != sectors:
                    raise ValueError(
                        f"{key}.preset: {step.preset!r} has sectors {table['sectors']}, the run has {sectors}"
                    )
                for name, body in default_bodies(step.preset).items():
                    if name in step.bodies:
                        continue  # replaced by the step's own, checked below
                    for item in body["posts"]:
                        if selector_problem(item, levels, sectors):
                            raise ValueError(
                                f"{key}.preset: the bodies of {step.preset!r} name posts the run does not "
                                f"have ({name}: {item!r}); give bodies.{name} in the step"
                            )
            for table_name in ("posts", "staff"):
                for lvl in getattr(step, table_name):
                    if lvl not in levels:
                        raise ValueError(f"{key}.{table_name}.{lvl}: not one of the levels {levels}")
                    if lvl in abolished:
                        raise ValueError(
                            f"{key}.{table_name}.{lvl}: level abolished by restructuring.{abolished[lvl]}"
                        )
            for lvl, by_sector in step.posts.items():
                unknown = set(by_sector) - set(sectors)
                if unknown:
                    raise ValueError(
                        f"{key}.posts.{lvl}: unknown sector(s) {sorted(unknown)}; sectors are {sectors}"
                    )
            for name, body in step.bodies.items():
                for item in body.posts:
                    problem = selector_problem(item, levels, sectors)
                    if problem:
                        raise ValueError(f"{key}.bodies.{name}.posts: {problem}")
            for dotted in step.rules:
                if dotted.split(".")[0] in (*FIXED_SECTIONS, "restructuring", "surplus"):
                    raise ValueError(f"{key}.rules.{dotted}: cannot change during a run")

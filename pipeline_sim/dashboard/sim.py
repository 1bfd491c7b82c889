"""The dashboard's simulation state, without any user interface: two sides, A and B, that run the
same structure with the same seed (common random numbers) and their own rules; the history of
their headline outcomes; the years at which a rule changed; and a few extra seeds per side run in
the background, so that the charts can show a band of what chance alone does.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_sim.dashboard.controls import CONTROLS, control_values, describe, scenario_changes
from pipeline_sim.live import change_rules
from pipeline_sim.model import PipelineModel
from pipeline_sim.scenario import Scenario, load_scenario

#: the outcomes charted, with their labels and whether a higher value is better
OUTCOMES: dict[str, str] = {
    "succession_gap_rate": "Succession gap rate",
    "vacant_key_posts": "Vacant key posts",
    "bench_strength": "Bench strength",
    "quality_in_office": "Quality in office",
    "women_in_office": "Women in office",
    "young_in_office": "Young in office",
}

#: the built-in teaching structure, used when scenarios/teaching.toml is not at hand
TEACHING = {
    "name": "teaching",
    "description": "One province (6 districts, 48 communes) under the baseline rules.",
    "simulation": {"years": 20},
    "hierarchy": {"preset": "teaching"},
}


def teaching_scenario(path: str | Path | None = None) -> Scenario:
    """The scenario at `path`, or scenarios/teaching.toml, or the built-in teaching structure."""
    if path is not None:
        return load_scenario(path)
    local = Path("scenarios/teaching.toml")
    if local.is_file():
        return load_scenario(local)
    return load_scenario(TEACHING)


@dataclass
class Change:
    """A rule change of one side, in force from `year` on."""

    year: int
    control: str
    value: Any

    @property
    def text(self) -> str:
        return describe(self.control, self.value)


@dataclass
class Side:
    """One side of the comparison: its model, the history of its outcomes and its rule changes."""

    name: str
    base: Scenario
    seed: int
    model: PipelineModel = field(init=False)
    start: dict[str, Any] = field(init=False)
    changes: list[Change] = field(init=False, default_factory=list)
    years: list[int] = field(init=False, default_factory=list)
    history: dict[str, list[float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self, controls: dict[str, Any] | None = None) -> None:
        """A fresh model at the first year, under `controls` (default: the current ones)."""
        values = self.controls() if controls is None and hasattr(self, "model") else {}
        values.update(controls or {})
        base = self.base
        if values:
            base = load_scenario(base.model_dump(mode="json"), overrides=scenario_changes(values))
        self.model = PipelineModel(base, seed=self.seed)
        self.start = control_values(self.model.scenario)
        self.changes = []
        self.years = []
        self.history = {m: [] for m in OUTCOMES}

    def controls(self) -> dict[str, Any]:
        return control_values(self.model.scenario)

    @property
    def year(self) -> int:
        """The last simulated year (the year before the first while nothing has run)."""
        return self.model.year

    @property
    def finished(self) -> bool:
        return not self.model.running

    def set_control(self, name: str, value: Any) -> Change | None:
        """Change a rule from the next simulated year on; None if it already has that value."""
        value = CONTROLS[name].check(value)
        if self.controls()[name] == value:
            return None
        change_rules(self.model, CONTROLS[name].changes(value))
        change = Change(self.model.year + 1, name, value)
        self.changes.append(change)
        return change

    def step(self) -> None:
        if self.finished:
            return
        self.model.step()
        if self.model.year >= self.model.first_year:
            self.years.append(self.model.year)
            for m in OUTCOMES:
                self.history[m].append(self.model.headline(m))


class Band:
    """Extra seeds of one side, run in the background with the same rule changes at the same years.

    `values[metric]` is a list per year of the values over the extra seeds (and only years that
    every extra seed has reached).
    """

    def __init__(self, side: Side, n_seeds: int):
        self.models = [PipelineModel(side.model.scenario, seed=side.seed + 1 + i) for i in range(n_seeds)]
        self.values: dict[str, list[list[float]]] = {m: [] for m in OUTCOMES}
        self.years: list[int] = []

    def advance(self, side: Side, stop: threading.Event, idle: threading.Event | None = None) -> bool:
        """Simulate one year of every extra seed, if behind `side`; False if nothing was to do.

        With `idle`, each seed waits for it to be set (the interface is not busy) before it runs.
        """
        if not self.models:
            return False
        target = side.year
        model = self.models[0]
        if model.year >= target or not model.running:
            return False
        year = model.year + 1
        changes = [c for c in list(side.changes) if c.year == year]
        row: dict[str, list[float]] = {m: [] for m in OUTCOMES}
        for m in self.models:
            while idle is not None and not idle.wait(0.1):
                if stop.is_set():
                    return False
            if stop.is_set():
                return False
            for c in changes:
                change_rules(m, CONTROLS[c.control].changes(c.value))
            m.step()
            for k in OUTCOMES:
                row[k].append(m.headline(k))
            time.sleep(0)  # let the interface thread in
        if year >= model.first_year:
            self.years.append(year)
            for k in OUTCOMES:
                self.values[k].append(row[k])
        return True

    def range(self, metric: str) -> tuple[list[int], list[float], list[float]]:
        """(years, low, high) of the extra seeds for a metric (NaN-free values only)."""
        lows, highs = [], []
        for vals in self.values[metric]:
            ok = [v for v in vals if not math.isnan(v)]
            lows.append(min(ok) if ok else math.nan)
            highs.append(max(ok) if ok else math.nan)
        return list(self.years), lows, highs


class Session:
    """Both sides and their background seeds."""

    def __init__(self, scenario: Scenario, seed: int | None = None, extra_seeds: int = 3):
        seed = scenario.simulation.seed if seed is None else seed
        self.scenario = scenario
        self.seed = seed
        self.extra_seeds = extra_seeds
        self.sides = {"A": Side("A", scenario, seed), "B": Side("B", scenario, seed)}
        self.lock = threading.RLock()
        self._bands: dict[str, Band] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: set while the interface is not stepping or redrawing: the background seeds wait for it
        self.idle = threading.Event()
        self.idle.set()
        self._busy = 0
        self._new_bands()

    # -- stepping ---------------------------------------------------------------------------

    @property
    def year(self) -> int:
        return max(s.year for s in self.sides.values())

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.sides.values())

    @property
    def term_years(self) -> int:
        return self.scenario.simulation.term_years

    @contextmanager
    def busy(self):
        """Hold the background seeds back (between their models) while the interface works."""
        with self.lock:
            self._busy += 1
            self.idle.clear()
        try:
            yield
        finally:
            with self.lock:
                self._busy -= 1
                if self._busy == 0:
                    self.idle.set()

    def step(self, years: int = 1) -> None:
        with self.lock:
            for _ in range(years):
                for side in self.sides.values():
                    side.step()

    def step_term(self) -> None:
        """Run to the end of the current term (a full term from its first year)."""
        first = self.scenario.simulation.start_year
        since = self.year + 1 - first
        left = self.term_years - (since % self.term_years)
        self.step(left)

    def set_control(self, side: str, name: str, value: Any) -> Change | None:
        with self.lock:
            return self.sides[side].set_control(name, value)

    def apply(self, a: dict[str, Any], b: dict[str, Any], reset: bool = False) -> None:
        """Set controls of both sides (a lesson step); with `reset`, start both again under them."""
        with self.lock:
            if reset:
                for name, values in (("A", a), ("B", b)):
                    side = self.sides[name]
                    start = dict(control_values(self.scenario))
                    start.update(values)
                    side.reset(start)
                self._new_bands()
                return
            for name, values in (("A", a), ("B", b)):
                for control, value in values.items():
                    self.sides[name].set_control(control, value)

    def reset(self) -> None:
        """Both sides back to the first year, under their current rules."""
        with self.lock:
            for side in self.sides.values():
                side.reset()
            self._new_bands()

    # -- background seeds -------------------------------------------------------------------

    def _new_bands(self) -> None:
        # the old thread stops at its next check; it is not waited for (it may be waiting for the
        # lock that the caller holds)
        running = self._thread is not None
        self._stop.set()
        self._thread = None
        self._stop = threading.Event()
        self._bands = {name: Band(side, self.extra_seeds) for name, side in self.sides.items()}
        if running:
            self.start_background()

    def band(self, side: str) -> Band:
        return self._bands[side]

    def catch_up(self, stop: threading.Event | None = None) -> bool:
        """One year of background seeds for a side that is behind; False if none is behind.

        The extra seeds run outside the lock (they share nothing with the sides but the list of
        rule changes), so the interface never waits for them.
        """
        stop = stop or self._stop
        with self.lock:
            pairs = [(self.sides[name], self._bands[name]) for name in self.sides]
        done = [band.advance(side, stop, self.idle) for side, band in pairs]
        return any(done)

    def start_background(self) -> None:
        """Run the extra seeds in a daemon thread until stop() or the next reset."""
        if self._thread is not None and self._thread.is_alive():
            return
        stop = self._stop

        def loop() -> None:
            while not stop.is_set():
                if not self.catch_up(stop):
                    stop.wait(0.05)

        self._thread = threading.Thread(target=loop, name="pipeline-sim-band", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

"""Time of the 2025 reform as an event against a simulated year (scenarios/transition2025.toml).

    python benchmarks/restructure.py               # national scale, years 2021-2027
    python benchmarks/restructure.py --scale 0.1   # a tenth

Prints the time of every simulated year, of the restructure phase in the event year (the event
itself, with its early retirements, moves, new posts, dissolved and rebuilt pools and indexes) and
the structure just after it. Times are CPU times of this process (wall-clock times on a shared
machine move with the other processes' load); `--wall` gives wall-clock times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pipeline_sim import PipelineModel

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--years", type=int, default=7)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "transition2025.toml"))
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of CPU times")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    model = PipelineModel(args.scenario, years=args.years, **{"hierarchy.scale": args.scale})
    event_year = min(e[0] for e in model.restructuring.events)
    year_times, phase_times = [], {}
    while model.running:
        t0 = clock()
        for phase in model.plan:
            model.phase = phase.NAME
            t = clock()
            phase.run(model)
            if model.year == event_year:
                phase_times[phase.NAME] = clock() - t
        model.phase = None
        year_times.append((model.year, clock() - t0))
        if model.year == event_year:
            counts = np.bincount(model.units.level, minlength=model.units.n_levels)
            structure = ", ".join(f"{n:,} {lvl}" for lvl, n in zip(model.levels, counts, strict=True))
    print(f"{Path(args.scenario).name} at scale {args.scale} ({'wall-clock' if args.wall else 'CPU'} times)")
    for year, t in year_times:
        print(f"  {year}: {t:6.2f} s")
    others = [t for y, t in year_times if y != event_year]
    event = phase_times.get("restructure", float("nan"))
    print(f"restructure phase in {event_year} (the event): {event:.2f} s")
    spread = f"min {min(others):.2f}, max {max(others):.2f}"
    print(f"a year without an event: median {np.median(others):.2f} s ({spread})")
    print(f"{event_year} without the event: {dict(year_times)[event_year] - event:.2f} s")
    print(f"after the event: {structure}")


if __name__ == "__main__":
    main()

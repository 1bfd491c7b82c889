"""Time of the 2025 reform as an event against a simulated year (scenarios/transition2025.toml).

    python benchmarks/restructure.py               # national scale, years 2021-2027
    python benchmarks/restructure.py --scale 0.1   # a tenth

Prints, for every simulated year and for the restructure phase in the event year (the event
itself: early retirements, moves, new posts, dissolved and rebuilt pools, indexes and the event
log's rows), the CPU time of this process in user and system mode (`getrusage`), and
the structure just after the event. On a machine shared with other processes wall-clock times move
with their load; user time much less. System time is mostly the memory first touched: the event
log's rows of the event year (about 900,000 at national scale) are kept until the year's end.
"""

from __future__ import annotations

import argparse
import resource
from pathlib import Path

import numpy as np

from pipeline_sim import PipelineModel

ROOT = Path(__file__).resolve().parent.parent


class _Times:
    """CPU seconds of this process so far, in user and system mode."""

    def __init__(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.user, self.system = usage.ru_utime, usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--years", type=int, default=7)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "transition2025.toml"))
    args = parser.parse_args()
    model = PipelineModel(args.scenario, years=args.years, **{"hierarchy.scale": args.scale})
    event_year = min(e[0] for e in model.restructuring.events)
    years, event = {}, (np.nan, np.nan)
    while model.running:
        y0 = _Times()
        for phase in model.plan:
            model.phase = phase.NAME
            t0 = _Times()
            phase.run(model)
            if model.year == event_year and phase.NAME == "restructure":
                t1 = _Times()
                event = (t1.user - t0.user, t1.system - t0.system)
        model.phase = None
        y1 = _Times()
        years[model.year] = (y1.user - y0.user, y1.system - y0.system)
        if model.year == event_year:
            counts = np.bincount(model.units.level, minlength=model.units.n_levels)
            structure = ", ".join(f"{n:,} {lvl}" for lvl, n in zip(model.levels, counts, strict=True))
    print(f"{Path(args.scenario).name} at scale {args.scale}: CPU seconds, user + system")
    for year, (user, system) in years.items():
        print(f"  {year}: {user:5.2f} + {system:4.2f}")
    others = np.array([t for y, t in years.items() if y != event_year])
    print(f"the event ({event_year}'s restructure phase): {event[0]:.2f} + {event[1]:.2f}")
    user, system = others[:, 0], others[:, 1]
    print(
        f"a year without an event: user median {np.median(user):.2f} (min {user.min():.2f}, max "
        f"{user.max():.2f}), system median {np.median(system):.2f}"
    )
    own = years[event_year]
    print(f"{event_year} without the event: {own[0] - event[0]:.2f} + {own[1] - event[1]:.2f}")
    print(f"after the event: {structure}")


if __name__ == "__main__":
    main()

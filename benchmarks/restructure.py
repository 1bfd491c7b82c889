"""Time of the 2025 reform as an event against a simulated year (scenarios/transition2025.toml).

    python benchmarks/restructure.py               # national scale, years 2021-2027
    python benchmarks/restructure.py --scale 0.1   # a tenth
    python benchmarks/restructure.py --repeat 5    # five runs, each in its own process; the median

Prints, for every simulated year and for the restructure phase in the event year (the event
itself: early retirements, moves, new posts, dissolved and rebuilt pools, indexes and the event
log's rows), the CPU time of this process in user and system mode (`getrusage`), and
the structure just after the event, and the event's time over the median year's (user + system).
On a machine shared with other processes wall-clock times move with their load; user time much
less, but single runs of a fraction of a second still vary by 10-20%: `--repeat` gives the median
ratio of several runs. System time is mostly the memory first touched: the event log's rows of the
event year (about 900,000 at national scale) are kept until the year's end.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
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
    parser.add_argument("--repeat", type=int, default=1, help="runs, each in a fresh process")
    args = parser.parse_args()
    if args.repeat > 1:
        _repeat(args)
        return
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
    year = float(np.median(user + system))
    print(f"event / median year (user + system): {sum(event) / year:.2f}")


def _repeat(args) -> None:
    """The event-to-year ratio of `args.repeat` runs, each in its own process, and its median."""
    ratios = []
    for i in range(args.repeat):
        cmd = [sys.executable, __file__, "--scale", str(args.scale), "--years", str(args.years)]
        out = subprocess.run([*cmd, "--scenario", args.scenario], capture_output=True, text=True, check=True)
        ratio = float(re.search(r"event / median year \(user \+ system\): ([\d.]+)", out.stdout)[1])
        event = re.search(r"the event .*: ([\d.]+) \+ ([\d.]+)", out.stdout)
        print(
            f"run {i + 1}: event {float(event[1]) + float(event[2]):.2f} s, event / median year {ratio:.2f}"
        )
        ratios.append(ratio)
    print(
        f"event / median year over {len(ratios)} runs: median {np.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; below 1 in {sum(r < 1 for r in ratios)})"
    )


if __name__ == "__main__":
    main()

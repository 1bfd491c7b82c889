"""Speed and memory of the engine on the built-in structures, at full scale.

    python benchmarks/benchmark.py                    # teaching, reform2025, historic; 30 years
    python benchmarks/benchmark.py --years 10 --structures historic
    python benchmarks/benchmark.py --json bench.json  # also write the figures as JSON

Each structure runs in its own process (one core), so peak memory is that run's own, `--repeat`
times (default 3); the table gives the best and the median total time (timings on shared virtual
machines vary by 10% or more from run to run). Reported: set-up time, simulation time, total,
agent-years per second (cadres in service x years / simulation time) and peak resident memory,
all from the best run.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time


def measure(structure: str, years: int, sets: list[str]) -> dict:
    """Run one structure in this process and return its figures."""
    from pipeline_sim import PipelineModel
    from pipeline_sim.scenario import parse_override_value

    overrides = {"hierarchy.preset": structure, "hierarchy.scale": 1.0, "output.event_log": True}
    for item in sets:
        key, _, value = item.partition("=")
        overrides[key] = parse_override_value(value)
    t0 = time.perf_counter()
    model = PipelineModel("scenarios/baseline.toml", seed=1, years=years, **overrides)
    t1 = time.perf_counter()
    cadre_years = 0
    while model.running:
        model.step()
        cadre_years += int(model.headline("cadres"))
    t2 = time.perf_counter()
    return {
        "structure": structure,
        "years": years,
        "cadres": int(model.headline("cadres")),
        "posts": int(model.posts.n),
        "key_posts": len(model.posts.key_posts),
        "setup_s": round(t1 - t0, 2),
        "run_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "agent_years_per_s": round(cadre_years / (t2 - t1)),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--structures", nargs="+", default=["teaching", "reform2025", "historic"])
    parser.add_argument("--set", dest="sets", action="append", default=[], help="scenario override KEY=VALUE")
    parser.add_argument("--repeat", type=int, default=3, help="runs per structure (best and median)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one structure
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.years, args.sets)))
        return
    rows = []
    for structure in args.structures:
        cmd = [sys.executable, __file__, "--one", structure, "--years", str(args.years)]
        for s in args.sets:
            cmd += ["--set", s]
        runs = []
        for _ in range(args.repeat):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"benchmark of {structure} failed:\n{done.stderr}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r["total_s"])
        best["median_total_s"] = round(statistics.median(r["total_s"] for r in runs), 2)
        best["peak_mb"] = max(r["peak_mb"] for r in runs)
        best["repeats"] = args.repeat
        rows.append(best)
    head = [
        "structure",
        "cadres",
        "posts",
        "years",
        "setup_s",
        "run_s",
        "total_s",
        "median_total_s",
        "agent_years_per_s",
        "peak_mb",
    ]
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(f"{r[h]:,}" if isinstance(r[h], int) else str(r[h]) for h in head))
    print(
        f"python {platform.python_version()} on {platform.machine()}, one process per structure, "
        f"best of {args.repeat}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

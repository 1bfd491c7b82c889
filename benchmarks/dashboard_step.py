"""Time of one dashboard year on the teaching structure: both sides simulate a year and the page
redraws (every component re-rendered, the chart widgets updated), as when "One year" is pressed.

    python benchmarks/dashboard_step.py                 # 20 years, 3 background seeds per side
    python benchmarks/dashboard_step.py --seeds 0       # without the background seeds

The page is rendered with Solara's test renderer (no browser), so this is the server's share of a
year: simulation plus building the widget updates. The budget is 250 ms. The background seeds run
in their own thread, as in the dashboard, and compete for the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

BUDGET_MS = 250.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--years", type=int, default=20, help="years to step (at most the scenario's)")
    parser.add_argument("--seeds", type=int, default=3, help="background seeds per side")
    args = parser.parse_args()
    os.environ["PIPELINE_SIM_DASHBOARD_SEEDS"] = str(args.seeds)
    warnings.simplefilter("ignore")

    import ipyvuetify as v
    import solara

    from pipeline_sim.dashboard import app

    box, rc = solara.render(app.Page(), handle_error=False)
    session = app.LAST["session"]

    def find(widget, out):
        if isinstance(widget, v.Btn) and "One year" in widget.children:
            out.append(widget)
        for child in getattr(widget, "children", None) or []:
            if hasattr(child, "model_id"):
                find(child, out)
        return out

    button = find(box, [])[0]
    years = min(args.years, session.sides["A"].model.n_years)
    button.click()  # the first year builds the figures' caches: not counted
    totals, sims = [], []
    for _ in range(years - 1):
        start = time.perf_counter()
        button.click()
        totals.append((time.perf_counter() - start) * 1000)
    rc.close()
    session.stop()
    # the simulation alone, on a fresh pair of sides, with no background seeds
    from pipeline_sim.dashboard.sim import Session

    alone = Session(session.scenario, extra_seeds=0)
    alone.step()
    for _ in range(years - 1):
        start = time.perf_counter()
        alone.step()
        sims.append((time.perf_counter() - start) * 1000)

    def line(name: str, values: list[float]) -> str:
        q = statistics.quantiles(values, n=10)
        return (
            f"{name:<38} median {statistics.median(values):6.1f} ms   p90 {q[-1]:6.1f} ms   "
            f"max {max(values):6.1f} ms"
        )

    print(f"teaching structure, {years - 1} years, {args.seeds} background seeds per side")
    print(line("one year of both sides + redraw", totals))
    print(line("same, simulation only, no background", sims))
    verdict = "within" if statistics.median(totals) <= BUDGET_MS else "OVER"
    print(f"budget {BUDGET_MS:.0f} ms: median {verdict} budget")
    sys.exit(0)


if __name__ == "__main__":
    main()

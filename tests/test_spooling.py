"""Events and rosters go to disk year by year during a run (memory stays flat) and come back
exactly as the model holds them; the files are compact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline_sim import PipelineModel, run
from pipeline_sim.api import _run_one
from pipeline_sim.scenario import load_scenario


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        x, y = a[col], b[col]
        if isinstance(x.dtype, pd.CategoricalDtype):
            assert set(x.cat.categories) == set(y.cat.categories), col
            x, y = x.astype(object), y.astype(object)
        assert x.reset_index(drop=True).equals(y.reset_index(drop=True)), col


def test_the_spooled_files_hold_exactly_what_the_model_holds():
    model = PipelineModel("scenarios/teaching.toml", seed=5, years=6).run()
    result = run("scenarios/teaching.toml", seed=5, years=6)
    events = result.events.drop(columns=["scenario", "rep", "seed"])
    _same(model.events_frame(), events)
    holders = result.holders.drop(columns=["scenario", "rep", "seed"])
    _same(model.holders_frame(), holders)


def test_nothing_accumulates_in_memory_while_spooling(tmp_path):
    scenario = load_scenario("scenarios/teaching.toml")
    paths = (tmp_path / "events.parquet", tmp_path / "holders.parquet", tmp_path / "ranks.parquet")
    seen = []

    def on_year(rep, year):
        seen.append(year)

    _run_one(scenario, 0, 3, 4, on_year, paths)
    assert len(seen) == 4
    # one row group per year (and the start rows with the first), written as the run went
    assert pq.ParquetFile(paths[0]).num_row_groups == 4
    assert pq.ParquetFile(paths[1]).num_row_groups == 4


def test_a_model_spooling_its_log_still_gives_its_frame(tmp_path):
    model = PipelineModel("scenarios/teaching.toml", seed=2, years=3)
    model.events.spool_to(tmp_path / "e.parquet", model.levels, model.sectors, rep=np.int32(0))
    model.step()
    model.events.flush()
    assert model.events.blocks == []
    model.step()
    frame = model.events_frame()
    model.step()
    model.events.finish()
    again = pd.read_parquet(tmp_path / "e.parquet").drop(columns=["rep"])
    assert len(again) > len(frame) > 0
    plain = PipelineModel("scenarios/teaching.toml", seed=2, years=3).run().events_frame()
    _same(plain, again)
    # after the end, the frame is read from the finished file, which stays whole
    _same(plain, model.events_frame())
    _same(plain, pd.read_parquet(tmp_path / "e.parquet").drop(columns=["rep"]))


def test_the_event_log_is_compact(tmp_path):
    """A loose floor (the national figure is in the README): under 6 bytes an event on disk."""
    result = run("scenarios/baseline.toml", seed=1, years=4, overrides={"hierarchy.scale": 0.05})
    folder = result.save(tmp_path / "out")
    rows = pq.ParquetFile(folder / "events.parquet").metadata.num_rows
    assert (folder / "events.parquet").stat().st_size / rows < 6.0

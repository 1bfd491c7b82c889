"""Record: the year's metrics (the README, "Metrics") and the Mesa DataCollector."""

from __future__ import annotations

NAME = "record"
SUMMARY = "metrics by level and sector for the year; DataCollector model reporters"


def run(model) -> None:
    model.record_year()

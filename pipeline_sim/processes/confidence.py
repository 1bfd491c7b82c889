"""Confidence vote in the mid-term year (Reg. 96/2023): low-confidence shares and consequences."""

from __future__ import annotations

NAME = "confidence"
SUMMARY = "mid-term confidence vote (off unless confidence.enabled)"


def run(model) -> None:
    if not model.scenario.confidence.enabled or not model.is_midterm:
        return

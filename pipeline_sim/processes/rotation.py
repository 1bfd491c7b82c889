"""Rotation of planned cadres between levels, localities and sectors (Reg. 65/2022)."""

from __future__ import annotations

NAME = "rotation"
SUMMARY = "rotation of planned cadres; two-term and non-local rules (off unless rotation.enabled)"


def run(model) -> None:
    if not model.scenario.rotation.enabled:
        return

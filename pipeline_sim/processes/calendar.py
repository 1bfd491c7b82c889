"""Calendar: the year, the term, and whether this is a congress or mid-term year."""

from __future__ import annotations

NAME = "calendar"
SUMMARY = "advance the year; term index, first year of a term, mid-term (3rd) year, congress year"


def run(model) -> None:
    model.year += 1
    sim = model.scenario.simulation
    since = model.year - sim.start_year
    model.term_index = since // sim.term_years
    model.year_in_term = since % sim.term_years
    model.is_term_start = model.year_in_term == 0
    model.is_midterm = model.year_in_term == min(2, sim.term_years - 1)
    model.is_congress_year = model.year_in_term == sim.term_years - 1
    model.new_year()

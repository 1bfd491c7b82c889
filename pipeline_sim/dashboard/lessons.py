"""Guided lessons: TOML files of steps that set both sides, say what to watch and ask a question.

A lesson file::

    title = "Open or closed planning"
    summary = "One line shown in the list of lessons."
    order = 1                       # optional: place in the list

    [[steps]]
    title = "Two provinces, one rule apart"
    text = "What to set up and what to watch."
    watch = ["bench_strength", "succession_gap_rate"]   # charts to look at
    question = "Which side has more ready successors after ten years? Why?"
    reset = true                    # optional: start both sides again (default false)
    years = 10                      # optional: years to run when the step is played (default 0)
    a = { planning_mode = "closed" }   # controls of side A (names as in controls.py)
    b = { planning_mode = "open" }     # controls of side B

The lessons shipped with the package are in ``pipeline_sim/lessons``; a teacher copies one, edits
it and points ``pipeline-sim dashboard --lessons DIR`` at the folder.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline_sim.dashboard.controls import CONTROLS
from pipeline_sim.metrics import METRICS


class LessonError(Exception):
    """A lesson file is not valid; the message names the file and the key."""


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: str = Field(min_length=1)
    text: str = ""
    watch: list[str] = Field(default_factory=list)
    question: str = ""
    reset: bool = False
    years: int = Field(0, ge=0, le=100)
    a: dict[str, Any] = Field(default_factory=dict)
    b: dict[str, Any] = Field(default_factory=dict)

    @field_validator("watch")
    @classmethod
    def _known_metrics(cls, watch: list[str]) -> list[str]:
        unknown = [m for m in watch if m not in METRICS]
        if unknown:
            raise ValueError(
                f"unknown outcome(s) {unknown}; outcomes are the metrics of `pipeline-sim show --metrics`, "
                "e.g. succession_gap_rate, vacant_key_posts, bench_strength, quality_in_office"
            )
        return watch

    @field_validator("a", "b")
    @classmethod
    def _known_controls(cls, values: dict[str, Any]) -> dict[str, Any]:
        for name, value in values.items():
            if name not in CONTROLS:
                raise ValueError(f"{name}: unknown control; controls are {list(CONTROLS)}")
            try:
                values[name] = CONTROLS[name].check(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return values


class Lesson(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: str = Field(min_length=1)
    summary: str = ""
    order: int = 100
    steps: list[Step] = Field(min_length=1)
    #: where the lesson was read from (set by the loader)
    source: str = ""


def _format(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{source}: {loc}: {msg}")
    return "\n".join(lines)


def parse_lesson(text: str, source: str) -> Lesson:
    """One lesson from TOML text; LessonError names `source` and the key of every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(f"{source}: malformed TOML: {exc}") from None
    raw.pop("source", None)
    try:
        lesson = Lesson.model_validate(raw)
    except ValidationError as exc:
        raise LessonError(_format(exc, source)) from None
    return lesson.model_copy(update={"source": source})


def load_lesson(path: Path) -> Lesson:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(f"{path}: cannot read the lesson file ({exc})") from None
    return parse_lesson(text, str(path))


def load_lessons(folder: Path | None = None) -> list[Lesson]:
    """The lessons of a folder (``*.toml``), or those shipped with the package; sorted by order.

    Every invalid file is reported (all of them, in one LessonError).
    """
    if folder is None:
        files = [
            (f.name, f.read_text(encoding="utf-8"))
            for f in resources.files("pipeline_sim.lessons").iterdir()
            if f.name.endswith(".toml")
        ]
        sources = [(f"pipeline_sim/lessons/{name}", text) for name, text in files]
    else:
        folder = Path(folder)
        if not folder.is_dir():
            raise LessonError(f"{folder}: no such lessons folder")
        sources = []
        for path in sorted(folder.glob("*.toml")):
            try:
                sources.append((str(path), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise LessonError(f"{path}: cannot read the lesson file ({exc})") from None
        if not sources:
            raise LessonError(f"{folder}: no lesson files (*.toml) in this folder")
    lessons, problems = [], []
    for source, text in sorted(sources):
        try:
            lessons.append(parse_lesson(text, source))
        except LessonError as exc:
            problems.append(str(exc))
    if problems:
        raise LessonError("\n".join(problems))
    return sorted(lessons, key=lambda lesson: (lesson.order, lesson.title))

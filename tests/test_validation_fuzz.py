"""Fuzzing the scenario loader: any file, override or dict gives a clean error or a sound run.

For every generated scenario (keys of the schema and some that are not, with wrong types, NaN,
infinity, huge and negative numbers, empty values, unicode, Rich markup, deep nesting and bad
`extends`), loading either raises a ScenarioError whose every line names the file (or `--set`),
or gives a scenario that runs (a tiny structure, one or two years) to finite metrics.

The default run tries ``PIPELINE_SIM_FUZZ_EXAMPLES`` examples per test (200); for a longer
search: ``PIPELINE_SIM_FUZZ_EXAMPLES=5000 python -m pytest tests/test_validation_fuzz.py``.
"""

from __future__ import annotations

import math
import os
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cli_helper import cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pipeline_sim import PipelineModel, ScenarioError, load_scenario
from pipeline_sim.scenario import loader, schema
from pipeline_sim.scenario.loader import flatten, parse_override_value, scenario_to_dict
from pipeline_sim.scenario.reference import schema_rows

EXAMPLES = int(os.environ.get("PIPELINE_SIM_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
#: structures larger than this are loaded but not run (the run would take seconds)
MAX_RUN_CADRES = 6_000

BASE = {"name": "fuzz", "simulation": {"years": 1}, "hierarchy": {"preset": "teaching"}}
DEFAULTS = flatten(scenario_to_dict(load_scenario(BASE)))
KEYS = sorted({key for key, _, _ in schema_rows()} | set(DEFAULTS))
ODD_KEYS = ["bogus", "planning.bogus", "hierarchy.units.ward", "hierarchy.posts.commune.mass", "a.b.c.d.e"]


def _choices(model: type[BaseModel] = schema.Scenario) -> set[str]:
    """Every string a Literal of the schema allows (right for some key, wrong for most)."""
    out: set[str] = set()
    stack = [f.annotation for f in model.model_fields.values()]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            stack.extend(f.annotation for f in ann.model_fields.values())
        elif typing.get_origin(ann) is typing.Literal:
            out.update(str(a) for a in typing.get_args(ann))
        else:
            stack.extend(typing.get_args(ann))
    return out


CHOICES = sorted(_choices())


@dataclass(frozen=True)
class Deep:
    """An array nested `depth` levels deep (written as text, so any depth can be tried)."""

    depth: int

    def value(self) -> list:
        out: list = []
        for _ in range(min(self.depth, 5_000)):
            out = [out]
        return out


NASTY_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0, 1e-9, 1e12]
NASTY_INTS = [0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), 10**12, 10**30]
NASTY_TEXT = ["", " ", "[/x]", "[red]x[/red]", "[bold]", "\x00", "a\nb", "ü" * 300, "x" * 5_000, "."]

scalars = st.one_of(
    st.integers(-5, 200),
    st.sampled_from(NASTY_INTS),
    st.floats(),
    st.sampled_from(NASTY_NUMBERS),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(NASTY_TEXT),
    st.sampled_from(CHOICES),
)
nasty = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(
        st.sampled_from(["head", "commune", "x", "", "[/x]"]) | st.text(max_size=6), scalars, max_size=3
    ),
    st.builds(Deep, st.integers(2, 3_000)),
    st.just([]),
    st.just({}),
)


@st.composite
def plausible(draw, key: str):
    """Near the default of `key`: scaled, shifted or swapped, often still valid."""
    default = DEFAULTS.get(key)
    if isinstance(default, bool):
        return draw(st.booleans())
    if isinstance(default, int):
        return draw(st.sampled_from([default, default + 1, max(default - 1, 0), default * 2, 0, 1, 2, 3]))
    if isinstance(default, float):
        factor = draw(st.sampled_from([1.0, 0.9, 1.1, 0.5, 2.0, 0.0, -1.0]))
        return default * factor
    if isinstance(default, str):
        return draw(st.sampled_from([default, *CHOICES]))
    if isinstance(default, list):
        items = st.sampled_from(default) if default else st.sampled_from(CHOICES)
        return draw(st.just(default) | st.lists(items, max_size=4))
    return draw(nasty)


@st.composite
def settings_for(draw, max_keys: int = 4) -> dict[str, object]:
    keys = draw(st.lists(st.sampled_from(KEYS + ODD_KEYS), min_size=1, max_size=max_keys))
    # mostly near the defaults, so that many scenarios are valid and run; the rest anything
    return {key: draw(st.one_of(plausible(key), plausible(key), plausible(key), nasty)) for key in keys}


# ---------------------------------------------------------------------------------------------
# writing TOML of any value (the loader's own writer refuses some of them, on purpose)


def toml_value(value: object) -> str:
    if isinstance(value, Deep):
        return "[" * value.depth + "]" * value.depth
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_key(key: str) -> str:
    return ".".join(toml_value(part) if not part.isidentifier() else part for part in key.split("."))


def toml_text(entries: dict[str, object]) -> str:
    """Top-level dotted keys, one a line (a key and a table under it collide: malformed TOML)."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in entries.items())


def python_value(value: object) -> object:
    if isinstance(value, Deep):
        return value.value()
    if isinstance(value, list):
        return [python_value(v) for v in value]
    if isinstance(value, dict):
        return {k: python_value(v) for k, v in value.items()}
    return value


def base_entries() -> dict[str, object]:
    return {"name": "fuzz", "simulation.years": 1, "hierarchy.preset": "teaching"}


EXTENDS = (
    st.sampled_from(
        ["parent.toml", "missing.toml", "a\x00b.toml", "x" * 5_000, ".", "sub", "fuzz.toml", "chain.toml", ""]
    )
    | st.integers()
    | st.lists(st.text(max_size=3), max_size=2)
)


def write_chain(folder: Path, length: int) -> None:
    (folder / "chain0.toml").write_text(toml_text(base_entries()), encoding="utf-8")
    for i in range(1, length):
        (folder / f"chain{i}.toml").write_text(f'extends = "chain{i - 1}.toml"\n', encoding="utf-8")
    (folder / "chain.toml").write_text(f'extends = "chain{length - 1}.toml"\n', encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# what every outcome must be


def assert_clean_error(exc: ScenarioError, labels: tuple[str, ...]) -> None:
    message = str(exc)
    event("clean error")
    assert message.strip(), "empty message"
    for line in message.splitlines():
        assert line.startswith(labels) or " (extended by " in line.split(": ")[0], line
        assert ": " in line, line
        assert "\x00" not in line and "Traceback" not in line
        assert len(line) < 2_000, line[:200]


def assert_runs_to_finite_metrics(scen: schema.Scenario) -> None:
    cadres, _ = loader.structure_size(scen)
    assert 0 < loader.memory_estimate(scen) < 2**62
    if cadres > MAX_RUN_CADRES:
        event("valid, too large to run here")
        return
    event("valid, ran")
    sim = scen.simulation.model_copy(update={"burn_in_years": min(scen.simulation.burn_in_years, 1)})
    scen = scen.model_copy(update={"simulation": sim})
    model = PipelineModel(scen, years=min(scen.simulation.years, 2))
    while model.running:
        model.step()
    frame = model.metrics_frame()
    assert len(frame)
    assert np.isfinite(frame["value"].to_numpy()).all()
    metrics = set(frame["metric"].astype(str))
    assert "cadres" in metrics
    if (
        (model.posts.holder >= 0).any()
        and model.posts.key.any()
        and (model.posts.holder[model.posts.key] >= 0).any()
    ):
        assert "quality_in_office" in metrics, "quality of holders vanished from the metrics"


# ---------------------------------------------------------------------------------------------
# the fuzz tests


@FUZZ
@given(
    entries=settings_for(),
    parent=st.none() | settings_for(2),
    extends=st.none() | EXTENDS,
    over=st.none() | settings_for(2),
    tail=st.none() | st.binary(max_size=64),
)
def test_any_scenario_file_loads_cleanly_or_runs(tmp_path_factory, entries, parent, extends, over, tail):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "sub").mkdir()
    write_chain(folder, 20)
    (folder / "parent.toml").write_text(toml_text({**base_entries(), **(parent or {})}), encoding="utf-8")
    own = {**base_entries(), **entries}
    if extends is not None:
        own = {"extends": extends, **entries}
    path = folder / "fuzz.toml"
    path.write_bytes(toml_text(own).encode("utf-8") + (tail or b""))  # any bytes at the end
    overrides = {k: python_value(v) for k, v in (over or {}).items()}
    try:
        scen = load_scenario(path, overrides=overrides)
    except ScenarioError as exc:
        assert_clean_error(exc, (str(path), "overrides", str(folder)))
        return
    assert_runs_to_finite_metrics(scen)


@FUZZ
@given(entries=settings_for(6))
def test_any_scenario_dict_loads_cleanly_or_runs(entries):
    raw: dict = {"name": "fuzz", "simulation": {"years": 1}, "hierarchy": {"preset": "teaching"}}
    try:
        for key, value in entries.items():
            loader.set_dotted(raw, key, python_value(value))
    except ScenarioError:
        return  # a key under a value: the dict cannot be built (the file would be malformed)
    try:
        scen = load_scenario(raw)
    except ScenarioError as exc:
        assert_clean_error(exc, ("<scenario dict>",))
        return
    assert_runs_to_finite_metrics(scen)


@st.composite
def near_defaults(draw) -> dict[str, object]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4))
    return {key: draw(plausible(key)) for key in keys}


@FUZZ
@given(entries=near_defaults())
def test_scenarios_near_the_defaults_load_cleanly_or_run(entries):
    """Values close to the defaults, a few keys at a time: most are valid, and all must run."""
    raw: dict = {"name": "fuzz", "simulation": {"years": 1}, "hierarchy": {"preset": "teaching"}}
    loads_cleanly_or_runs(raw, entries)


def loads_cleanly_or_runs(raw: dict, entries: dict) -> None:
    """Set `entries` (dotted keys; those under `hierarchy` are skipped when the structure is given
    whole) in `raw`, then: a clean error naming the dict and key, or a run to finite metrics."""
    keep_hierarchy = raw["hierarchy"].get("preset") == "custom"
    try:
        for key, value in entries.items():
            if not (keep_hierarchy and key.startswith("hierarchy")):
                loader.set_dotted(raw, key, python_value(value))
    except ScenarioError:
        return
    try:
        scen = load_scenario(raw)
    except ScenarioError as exc:
        assert_clean_error(exc, ("<scenario dict>",))
        return
    assert_runs_to_finite_metrics(scen)


@st.composite
def custom_hierarchy(draw) -> dict:
    """A small custom structure: 1 to 4 levels, 1 to 3 sectors, a few units, posts and staff."""
    n_levels = draw(st.integers(1, 4))
    levels = [f"l{i}" for i in range(n_levels)]
    sectors = [f"s{i}" for i in range(draw(st.integers(1, 3)))]
    units, n = {}, 1
    for lvl in levels:
        units[lvl] = n
        n = n * draw(st.integers(1, 3))
    count = st.integers(0, 3)
    posts = {
        lvl: {sec: {r: draw(count) for r in schema.RANKS} for sec in draw(st.lists(st.sampled_from(sectors)))}
        for lvl in draw(st.lists(st.sampled_from(levels), min_size=1))
    }
    posts[levels[0]] = posts.get(levels[0]) or {sectors[0]: {"head": 1}}
    return {
        "preset": "custom",
        "levels": levels,
        "sectors": sectors,
        "units": units,
        "staff": {lvl: draw(st.integers(0, 30)) for lvl in draw(st.lists(st.sampled_from(levels)))},
        "posts": posts,
        "key_ranks": draw(st.lists(st.sampled_from(schema.RANKS), min_size=1, max_size=3)),
        "weak_unit_share": draw(st.sampled_from([0.0, 0.1, 1.0])),
    }


@FUZZ
@given(hierarchy=custom_hierarchy(), entries=st.none() | near_defaults())
def test_small_custom_structures_load_cleanly_or_run(hierarchy, entries):
    """Custom structures (one level, empty sectors, no staff, no key posts...) run or are refused."""
    raw: dict = {"name": "fuzz", "simulation": {"years": 2}, "hierarchy": hierarchy}
    loads_cleanly_or_runs(raw, entries or {})


@st.composite
def set_options(draw) -> dict[str, str]:
    """`--set` options: dotted keys (some malformed) and value texts (often plausible)."""
    out = {}
    for _ in range(draw(st.integers(1, 3))):
        odd = st.sampled_from([*ODD_KEYS, "", ".", "a..b", "x" * 300]) | st.text(max_size=10)
        key = draw(st.sampled_from(KEYS) | st.sampled_from(KEYS) | odd)
        near = plausible(key).map(toml_value)
        out[key] = draw(st.one_of(near, near, st.text(max_size=20), nasty.map(toml_value)))
    return out


@FUZZ
@given(sets=set_options())
def test_any_set_option_loads_cleanly_or_runs(tmp_path_factory, sets):
    """`--set KEY=VALUE` as the command line reads it: the value is TOML, or else a string."""
    path = tmp_path_factory.mktemp("sets") / "teach.toml"
    path.write_text(toml_text(base_entries()), encoding="utf-8")
    overrides = {key: parse_override_value(text) for key, text in sets.items()}
    try:
        scen = load_scenario(path, overrides=overrides)
    except ScenarioError as exc:
        assert_clean_error(exc, (str(path), "overrides"))
        return
    assert_runs_to_finite_metrics(scen)


@settings(max_examples=max(3, EXAMPLES // 50), deadline=None, database=None)
@given(files=st.lists(settings_for(3), min_size=1, max_size=8))
def test_validate_command_reports_every_file_without_a_traceback(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("cli")
    paths = []
    for i, entries in enumerate(files):
        path = folder / f"s{i}.toml"
        path.write_text(toml_text({**base_entries(), **entries}), encoding="utf-8")
        paths.append(path.name)
    result = cli(folder, "validate", *paths, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 2), result.stderr
    ok = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(ok) + len(errors) >= len(paths)
    assert (result.returncode == 0) == (not errors)
    for line in result.stderr.splitlines():
        assert line.startswith("error: ") or line.startswith(tuple(f"{p}" for p in paths)), line


BAD_FOR_THE_CLI = {
    "nan": "work.competence_growth = nan\n",
    "markup": 'planning.mode = "[/x]"\nplanning.selection = "[red]gone[/red]"\n',
    "deep": "description = " + "[" * 50_000 + "]" * 50_000 + "\n",
    "extends": 'extends = "\\u0000"\n',
}


def test_run_and_show_refuse_bad_files_with_exit_2_and_no_traceback(tmp_path):
    for name, text in BAD_FOR_THE_CLI.items():
        body = text if name == "extends" else toml_text(base_entries()) + text
        (tmp_path / f"{name}.toml").write_text(body, encoding="utf-8")
    result = cli(tmp_path, "validate", *(f"{name}.toml" for name in BAD_FOR_THE_CLI), timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(BAD_FOR_THE_CLI) + 1  # the markup file has two problems
    assert all(line.startswith("error: ") or line.startswith("markup.toml: ") for line in lines)
    assert "(got '[/x]')" in result.stderr and "(got '[red]gone[/red]')" in result.stderr
    result = cli(tmp_path, "run", "nan.toml", "--quiet", timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "error: nan.toml: work.competence_growth: Input should be a finite number"
    )

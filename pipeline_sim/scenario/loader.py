"""Loading scenario files: TOML, `extends` chains, presets, overrides and clear errors."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline_sim.scenario.presets import (
    default_bodies,
    default_holder_age_mean,
    default_start_groups,
    default_young_age,
    preset_table,
    steady_competence,
)
from pipeline_sim.scenario.schema import RANKS, Scenario


class ScenarioError(Exception):
    """A scenario could not be loaded; the message names the file, the key and what was expected."""


MAX_DEPTH = 32  #: nesting of tables and arrays in a scenario (the schema needs 4)
MAX_EXTENDS = 16  #: files in one `extends` chain
MAX_FILE_BYTES = 1 << 20  #: size of one scenario file (the shipped ones are under 4 KiB)
MAX_PATH_CHARS = 4096  #: characters of a path (PATH_MAX on Linux)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: object, limit: int = 120) -> str:
    """User text made safe for a one-line message: control characters escaped, long text cut."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown_path(path: object, limit: int = 300) -> str:
    """A path for a message: control characters escaped; a long path keeps its end (the file name)."""
    text = shown(path, limit=10 * MAX_PATH_CHARS)
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _has_deep_key(text: str) -> bool:
    """Whether a line holds a dotted key of more than MAX_DEPTH parts.

    tomllib's cost grows with the square of the parts of a dotted key, so such keys are refused
    before parsing. A key lies on one line; only lines with enough dots are scanned, in one pass.
    """
    for line in text.splitlines():
        if line.count(".") <= MAX_DEPTH:
            continue
        dots, i, n = 0, 0, len(line)
        while i < n:
            ch = line[i]
            if ch == ".":
                dots += 1
                if dots > MAX_DEPTH:
                    return True
            elif ch in "\"'":  # a quoted key part: skip to its end
                end = i + 1
                while end < n and line[end] != ch:
                    end += 2 if ch == '"' and line[end] == "\\" else 1
                i = end
            elif ch == "#":
                break
            elif not (ch.isalnum() or ch in "_- \t"):
                dots = 0
            i += 1
    return False


def _depth(value: Any) -> int:
    """Nesting depth of tables and arrays (iterative, so any depth is safe to measure)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((child, depth) for child in children)
    return deepest


def _check_depth(value: Any, where: str) -> None:
    if _depth(value) > MAX_DEPTH:
        raise ScenarioError(f"{where}: tables and arrays nested deeper than {MAX_DEPTH} levels")


def _check_path_text(text: str, where: str) -> None:
    """Refuse a path that no file can have (NUL, too long) before the file system sees it."""
    if "\x00" in text:
        raise ScenarioError(f"{where}: the path contains a NUL character")
    if len(text) > MAX_PATH_CHARS or any(len(part.encode()) > 255 for part in re.split(r"[/\\]", text)):
        raise ScenarioError(
            f"{where}: path too long (at most {MAX_PATH_CHARS} characters, 255 bytes per name)"
        )


def read_text(
    path: Path,
    noun: str,
    expected: str,
    error: type[Exception],
    limit: int = MAX_FILE_BYTES,
    where: str | None = None,
) -> str:
    """The text of a small UTF-8 file, or `error` with one line naming the file and what is wrong
    (`noun`: e.g. "scenario file"; `expected`: e.g. "a TOML scenario file")."""
    where = shown_path(path) if where is None else where
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise error(f"{where}: not a regular file, expected {expected}")
        if path.is_file() and path.stat().st_size > limit:
            raise error(f"{where}: larger than {limit >> 20} MiB, not a {noun}")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{where}: no such {noun}") from None
    except IsADirectoryError:
        raise error(f"{where}: is a folder, expected {expected}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise error(f"{where}: cannot read ({exc.strerror})") from None
    except ValueError as exc:  # e.g. a NUL in the path
        raise error(f"{where}: not a usable path ({exc})") from None


def _read_toml(path: Path) -> dict[str, Any]:
    where = shown_path(path)
    text = read_text(path, "scenario file", "a TOML scenario file", ScenarioError)
    if _has_deep_key(text):
        raise ScenarioError(f"{where}: a dotted key has more than {MAX_DEPTH} parts")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: malformed TOML: {shown(exc, 300)}") from None
    except RecursionError:
        raise ScenarioError(f"{where}: tables and arrays nested too deeply") from None
    _check_depth(raw, where)
    return raw


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables -> {dotted key: value} (an empty table stays a value)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in `over` (lists included) replaces the base."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolved(path: Path) -> Path:
    try:
        return path.resolve() if path.exists() else path
    except (OSError, ValueError, RuntimeError) as exc:
        raise ScenarioError(f"{shown_path(path)}: not a usable path ({shown(exc)})") from None


def _load_chain(path: Path, seen: tuple[Path, ...], origin: dict[str, str]) -> dict[str, Any]:
    """Read `path` and everything it extends; record which file set each key in `origin`."""
    path = _resolved(path)
    where = shown_path(path)
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ScenarioError(f"{where}: extends: circular chain ({shown(chain, 1000)})")
    raw = _read_toml(path)
    parent_name = raw.pop("extends", None)
    base: dict[str, Any] = {}
    if parent_name is not None:
        if not isinstance(parent_name, str) or not parent_name:
            got = shown(repr(parent_name))
            raise ScenarioError(f"{where}: extends: expected a file name (string), got {got}")
        _check_path_text(parent_name, f"{where}: extends")
        if len(seen) + 1 >= MAX_EXTENDS:
            first = shown_path(seen[0])
            raise ScenarioError(f"{first}: extends: chain longer than {MAX_EXTENDS} files (at {where})")
        try:
            parent = (path.parent / parent_name).resolve()
            is_dir, is_file = parent.is_dir(), parent.is_file()
        except (OSError, ValueError, RuntimeError) as exc:
            raise ScenarioError(f"{where}: extends: not a usable path ({shown(exc)})") from None
        if is_dir:
            raise ScenarioError(f"{where}: extends: '{shown(parent_name)}' is a folder, not a scenario file")
        if not is_file:
            raise ScenarioError(
                f"{where}: extends: no such file '{shown(parent_name)}' (looked for {shown_path(parent)})"
            )
        base = _load_chain(parent, (*seen, path), origin)
    _resolve_grouping_paths(raw, path.parent)
    for key in flatten(raw):
        origin[key] = str(path)
    merged = deep_merge(base, raw)
    return merged


def _resolve_grouping_paths(raw: dict[str, Any], folder: Path) -> None:
    """Grouping files of restructuring steps are relative to the file that names them: make them
    absolute, so that the resolved scenario can be passed on as data."""
    steps = raw.get("restructuring")
    if not isinstance(steps, list):
        return
    for step in steps:
        groups = step.get("groups") if isinstance(step, dict) else None
        if isinstance(groups, str) and groups and "\x00" not in groups and len(groups) <= MAX_PATH_CHARS:
            # a path that cannot be resolved is left as given: the check of the file names it
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                step["groups"] = str((folder / groups).resolve())


def parse_override_value(text: str) -> Any:
    """Read the value of a `key=value` override as TOML, falling back to a plain string."""
    if _has_deep_key(text):
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def set_dotted(raw: dict[str, Any], key: str, value: Any, label: str = "overrides") -> None:
    """Set `a.b.c = value` in a nested dict, creating tables on the way."""
    parts = key.split(".")
    if not all(parts) or len(parts) > MAX_DEPTH:
        raise ScenarioError(f"{label} {shown(key)}: expected a dotted key such as planning.mode")
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ScenarioError(f"{label} {shown(key)}: '{shown(part)}' is a value, not a table")
        node = nxt
    node[parts[-1]] = value


def _table_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Tables whose default is itself a table (e.g. a retirement schedule) merge key by key too."""
    from pipeline_sim.scenario.schema import Demography, Integrity, Rotation

    for section, model, keys in (
        ("demography", Demography, ("retirement_male", "retirement_female")),
        ("integrity", Integrity, ("forms",)),
        ("rotation", Rotation, ("directions",)),
    ):
        table = raw.get(section)
        if not isinstance(table, dict):
            continue
        defaults = model().model_dump(mode="json")
        for key in keys:
            if isinstance(table.get(key), dict):
                table[key] = deep_merge(defaults[key], table[key])
    return raw


def _expand_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Lay the hierarchy preset under the file's own hierarchy keys and fill level-keyed defaults."""
    raw = _table_defaults(raw)
    hierarchy = raw.get("hierarchy", {})
    if not isinstance(hierarchy, dict):
        return raw
    preset = hierarchy.get("preset", "historic")
    if isinstance(preset, str) and preset in ("historic", "reform2025", "teaching", "custom"):
        raw = dict(raw)
        raw["hierarchy"] = deep_merge(preset_table(preset), hierarchy)
        bodies = raw.get("bodies", {})
        if isinstance(bodies, dict):
            raw["bodies"] = deep_merge(default_bodies(preset), bodies)
        initial = raw.get("initial", {})
        if isinstance(initial, dict) and isinstance(initial.get("groups", {}), dict):
            groups = default_start_groups(preset)
            for name, given in initial.get("groups", {}).items():
                if isinstance(given, dict) and isinstance(groups.get(name), dict):
                    for one, other in (("posts", "body"), ("body", "posts")):
                        if one in given:  # posts given by selectors replace a body, and so on
                            groups[name].pop(other, None)
            raw["initial"] = {**initial, "groups": deep_merge(groups, initial.get("groups", {}))}
            steady = steady_competence(preset)
            for key, part in (("holder_competence_mean", "holders"), ("staff_competence_mean", "staff")):
                given = raw["initial"].get(key, {})
                if isinstance(given, dict):
                    raw["initial"][key] = {**steady.get(part, {}), **given}
        levels = raw["hierarchy"].get("levels")
        if isinstance(levels, list) and all(isinstance(x, str) for x in levels):
            for table, key, factory in (
                ("initial", "holder_age_mean", default_holder_age_mean),
                ("metrics", "young_age", default_young_age),
            ):
                section = raw.get(table, {})
                if isinstance(section, dict):
                    given = section.get(key, {})
                    if isinstance(given, dict):
                        filled = factory(levels)
                        filled.update(given)
                        raw[table] = {**section, key: filled}
    return raw


def _display(path: str) -> str:
    """A path relative to the working folder when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _close_keys(loc: tuple) -> list[str]:
    """Keys of the table holding `loc` that look like its last part (for "did you mean")."""
    import difflib

    from pydantic import BaseModel

    model: Any = Scenario
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return difflib.get_close_matches(str(loc[-1]), list(getattr(model, "model_fields", {})), n=3)


def _format_validation(
    exc: ValidationError, origin: dict[str, str], default_file: str, override_label: str = "overrides"
) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = shown(".".join(str(p) for p in err["loc"]), 200)
        # name the file that set the key (or its closest parent table)
        file = default_file
        probe = loc
        while probe:
            if probe in origin:
                file = origin[probe]
                break
            matches = [k for k in origin if k.startswith(probe + ".")]
            if matches:
                sources = [origin[k] for k in matches]
                file = override_label if override_label in sources else sources[0]
                break
            probe = probe.rpartition(".")[0]
        msg = shown(err["msg"], 400)
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if file in (override_label, "<scenario dict>") or default_file == "<scenario dict>":
            pass
        elif Path(file).resolve() == Path(default_file).resolve():
            file = default_file
        else:
            file = f"{_display(file)} (extended by {default_file})"
        file = shown(file, limit=10 * MAX_PATH_CHARS)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a setting of this table; see `pipeline-sim show --schema`)"
            close = _close_keys(tuple(err["loc"]))
            if close:
                prefix = ".".join(str(p) for p in err["loc"][:-1])
                guesses = [f"{prefix}.{c}" if prefix else c for c in close]
                msg = f"unknown key; did you mean {' or '.join(guesses)}? (see `pipeline-sim show --schema`)"
            lines.append(f"{file}: {loc}: {msg}")
            continue
        got = err.get("input")
        got_text = "" if isinstance(got, dict) or got is None else f" (got {shown(repr(got), 80)})"
        where = f"{loc}: " if loc else ""
        lines.append(f"{file}: {where}{msg}{got_text}")
    return "\n".join(lines)


def load_scenario(
    source: str | Path | dict[str, Any],
    overrides: dict[str, Any] | None = None,
    overrides_label: str = "overrides",
) -> Scenario:
    """Load, resolve and validate a scenario.

    Args:
        source: a path to a TOML file, or a dict with the same structure as a file.
        overrides: dotted keys to set after loading, e.g. ``{"planning.mode": "open"}``.
        overrides_label: how errors name where the overrides came from (the command line
            passes "--set").

    Raises:
        ScenarioError: with a message naming the file, the key and what was expected.
    """
    origin: dict[str, str] = {}
    if isinstance(source, dict):
        label = "<scenario dict>"
        _check_depth(source, label)
        raw = copy.deepcopy(source)
        if "extends" in raw:
            raise ScenarioError(f"{label}: extends: only scenario files may extend other files")
        for key in flatten(raw):
            origin[key] = label
        _resolve_grouping_paths(raw, Path.cwd())
    else:
        _check_path_text(str(source), shown_path(source))
        path = Path(source)
        label = str(path)
        raw = _load_chain(path, (), origin)
        if origin.get("name") != str(_resolved(path)):
            raw["name"] = path.stem  # a file's own name, not one inherited through `extends`
    for key, value in (overrides or {}).items():
        _check_depth(value, f"{overrides_label} {shown(key)}")
        set_dotted(raw, key, value, overrides_label)
        origin[key] = overrides_label
    raw = _expand_defaults(raw)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(exc, origin, label, overrides_label)) from None
    try:
        check_memory(scenario)
    except ValueError as exc:
        raise ScenarioError(f"{label}: hierarchy: {exc}") from None
    if scenario.restructuring:
        _check_restructuring(scenario, label, origin, overrides_label)
    return scenario


def _check_restructuring(
    scenario: Scenario, label: str, origin: dict[str, str], overrides_label: str
) -> None:
    """Grouping files against the full-scale structure at their event, and the `rules` of each step
    as overrides of the scenario (ScenarioError naming the file and the key)."""
    from pipeline_sim.scenario.groupings import GroupingError
    from pipeline_sim.world.structure import restructuring_events, tree_steps, unit_tree

    file = origin.get("restructuring", label)
    if file in (overrides_label, "<scenario dict>") or label == "<scenario dict>":
        pass
    elif Path(file).resolve() == Path(label).resolve():
        file = label
    else:
        file = f"{_display(file)} (extended by {label})"
    h = scenario.hierarchy
    tree = unit_tree(list(h.levels), h.units, 1.0)
    for _year, _month, steps in restructuring_events(scenario.restructuring):
        current = steps[0][0]
        try:
            for i, result in tree_steps(tree, list(h.levels), steps, 1.0):
                current = i
                if result is not None:
                    tree = result.tree
        except GroupingError as exc:
            raise ScenarioError(f"{file}: restructuring.{current}.groups: {shown(exc, 600)}") from None
        except OSError as exc:
            raise ScenarioError(
                f"{file}: restructuring.{current}.groups: cannot read ({shown(exc)})"
            ) from None
    base = scenario.model_dump(mode="json")
    base.pop("restructuring")
    for i, step in enumerate(scenario.restructuring):
        if not step.rules:
            continue
        try:
            load_scenario(base, overrides=dict(step.rules))
        except ScenarioError as exc:
            detail = str(exc).split(": ", 1)[-1].replace("overrides ", "")
            raise ScenarioError(f"{file}: restructuring.{i}.rules: {detail}") from None


#: bytes per cadre at set-up: the cadre table with its spare capacity, posts, pools and the
#: temporary arrays of a year (measured: ~590 B for the historic structure at scale 0.1)
BYTES_PER_CADRE = 650
#: bytes per cadre and simulated year: the archive of those who left, the event log, metrics
BYTES_PER_CADRE_YEAR = 10
#: cadre rows are int32 in posts and pools
MAX_CADRES = 200_000_000


def structure_size(scenario: Scenario) -> tuple[int, int]:
    """(cadres, posts) of the structure a scenario asks for, after `hierarchy.scale`."""
    h = scenario.hierarchy
    counts = [1]
    for lvl in h.levels[1:]:
        counts.append(max(counts[-1], round(h.units[lvl] * h.scale)))
    posts = staff = 0
    for n_units, lvl in zip(counts, h.levels, strict=True):
        per_unit = sum(getattr(rc, r) for rc in h.posts.get(lvl, {}).values() for r in RANKS)
        posts += n_units * per_unit
        staff += n_units * h.staff.get(lvl, 0)
    return posts + staff, posts


def memory_estimate(scenario: Scenario) -> int:
    """Bytes a run of the scenario needs, estimated from its cadres and simulated years."""
    cadres, _ = structure_size(scenario)
    years = scenario.simulation.years + scenario.simulation.burn_in_years + 3
    return cadres * (BYTES_PER_CADRE + BYTES_PER_CADRE_YEAR * years)


def available_memory() -> int | None:
    """Memory available to a new run, in bytes (MemAvailable of /proc/meminfo), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(scenario: Scenario, available: int | None = -1) -> None:
    """Refuse (ValueError) a structure too large for the model or for the memory available.

    `available` is in bytes; by default the machine's (:func:`available_memory`); None skips the
    comparison with memory (the cadre limit of the model still holds).
    """
    cadres, _ = structure_size(scenario)
    need = memory_estimate(scenario)
    if cadres > MAX_CADRES:
        raise ValueError(
            f"the structure holds {cadres:,} cadres, more than the {MAX_CADRES:,} the model can hold; "
            "lower hierarchy.scale, units, staff or posts"
        )
    if available == -1:
        available = available_memory()
    if available is not None and need > available:
        gib = 1 << 30
        raise ValueError(
            f"the structure holds {cadres:,} cadres and needs about {need / gib:.1f} GiB of memory, "
            f"more than the {available / gib:.1f} GiB available on this machine; lower "
            "hierarchy.scale, units, staff or posts"
        )


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The fully resolved scenario as plain data (TOML-compatible)."""
    return scenario.model_dump(mode="json")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + items + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def dumps_toml(data: dict[str, Any]) -> str:
    """Write nested plain data as TOML (tables for sub-dicts at the first two levels)."""
    out: list[str] = []

    def array_of_tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    def emit(table: dict[str, Any], prefix: str, depth: int) -> None:
        # TOML has no null: a key whose value is None is left out (its default is None)
        scalars = {
            k: v
            for k, v in table.items()
            if v is not None
            and not (isinstance(v, dict) and depth < 2)
            and not (depth == 0 and array_of_tables(v))
        }
        tables = {k: v for k, v in table.items() if isinstance(v, dict) and depth < 2}
        if prefix and scalars:
            out.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            out.append(f"{_key(k)} = {_toml_value(v)}")
        for k, v in tables.items():
            emit(v, f"{prefix}.{_key(k)}" if prefix else _key(k), depth + 1)
        if depth == 0:  # e.g. the restructuring steps, as [[restructuring]] tables
            for k, v in table.items():
                if array_of_tables(v):
                    for item in v:
                        out.append(f"\n[[{_key(k)}]]")
                        out.extend(
                            f"{_key(kk)} = {_toml_value(vv)}" for kk, vv in item.items() if vv is not None
                        )

    emit(data, "", 0)
    return "\n".join(out).lstrip("\n") + "\n"

"""Loading scenario files: TOML, `extends` chains, presets, overrides and clear errors."""

from __future__ import annotations

import copy
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline_sim.scenario.presets import default_holder_age_mean, default_young_age, preset_table
from pipeline_sim.scenario.schema import Scenario


class ScenarioError(Exception):
    """A scenario could not be loaded; the message names the file, the key and what was expected."""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a folder, expected a TOML scenario file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: malformed TOML: {exc}") from None


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


def _load_chain(path: Path, seen: tuple[Path, ...], origin: dict[str, str]) -> dict[str, Any]:
    """Read `path` and everything it extends; record which file set each key in `origin`."""
    path = path.resolve() if path.exists() else path
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ScenarioError(f"{path}: extends: circular chain ({chain})")
    raw = _read_toml(path)
    parent_name = raw.pop("extends", None)
    base: dict[str, Any] = {}
    if parent_name is not None:
        if not isinstance(parent_name, str) or not parent_name:
            raise ScenarioError(f"{path}: extends: expected a file name (string), got {parent_name!r}")
        parent = (path.parent / parent_name).resolve()
        if not parent.is_file():
            raise ScenarioError(f"{path}: extends: no such file '{parent_name}' (looked for {parent})")
        base = _load_chain(parent, (*seen, path), origin)
    for key in flatten(raw):
        origin[key] = str(path)
    merged = deep_merge(base, raw)
    return merged


def parse_override_value(text: str) -> Any:
    """Read the value of a `key=value` override as TOML, falling back to a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_dotted(raw: dict[str, Any], key: str, value: Any, label: str = "overrides") -> None:
    """Set `a.b.c = value` in a nested dict, creating tables on the way."""
    parts = key.split(".")
    if not all(parts):
        raise ScenarioError(f"{label} {key}: expected a dotted key such as planning.mode")
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ScenarioError(f"{label} {key}: '{part}' is a value, not a table")
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
        loc = ".".join(str(p) for p in err["loc"])
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
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if file in (override_label, "<scenario dict>") or default_file == "<scenario dict>":
            pass
        elif Path(file).resolve() == Path(default_file).resolve():
            file = default_file
        else:
            file = f"{_display(file)} (extended by {default_file})"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a setting of this table; see `pipeline-sim show --schema`)"
            close = _close_keys(tuple(err["loc"]))
            if close:
                prefix = ".".join(str(p) for p in err["loc"][:-1])
                shown = [f"{prefix}.{c}" if prefix else c for c in close]
                msg = f"unknown key; did you mean {' or '.join(shown)}? (see `pipeline-sim show --schema`)"
            lines.append(f"{file}: {loc}: {msg}")
            continue
        got = err.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        where = f"{loc}: " if loc else ""
        lines.append(f"{file}: {where}{msg}{shown}")
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
        raw = copy.deepcopy(source)
        if "extends" in raw:
            raise ScenarioError(f"{label}: extends: only scenario files may extend other files")
        for key in flatten(raw):
            origin[key] = label
    else:
        path = Path(source)
        label = str(path)
        raw = _load_chain(path, (), origin)
        if origin.get("name") != str(path.resolve() if path.exists() else path):
            raw["name"] = path.stem  # a file's own name, not one inherited through `extends`
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value, overrides_label)
        origin[key] = overrides_label
    raw = _expand_defaults(raw)
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(exc, origin, label, overrides_label)) from None


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
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def dumps_toml(data: dict[str, Any]) -> str:
    """Write nested plain data as TOML (tables for sub-dicts at the first two levels)."""
    out: list[str] = []

    def emit(table: dict[str, Any], prefix: str, depth: int) -> None:
        scalars = {k: v for k, v in table.items() if not (isinstance(v, dict) and depth < 2)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict) and depth < 2}
        if prefix and scalars:
            out.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            out.append(f"{_key(k)} = {_toml_value(v)}")
        for k, v in tables.items():
            emit(v, f"{prefix}.{_key(k)}" if prefix else _key(k), depth + 1)

    emit(data, "", 0)
    return "\n".join(out).lstrip("\n") + "\n"

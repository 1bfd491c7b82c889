"""The scenario reference: every key with its default and description, from the schema."""

from __future__ import annotations

import json
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline_sim.scenario.schema import Scenario


def _default_text(field) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "default_text" in extra:
        return str(extra["default_text"])
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "(required)"
    if isinstance(value, BaseModel):
        return "(table)"
    if isinstance(value, dict) and not value:
        return "(from preset)"
    if isinstance(value, list) and not value:
        return "(from preset)"
    return json.dumps(value)


def _number(v) -> str:
    if isinstance(v, int) and v == 2**63 - 1:
        return "2^63-1"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    return f"{v:g}"


def _range(metadata) -> str:
    """'1 to 500', 'at least 0', '> 0 to 1' from annotated-types constraints."""
    lo = hi = None
    for m in metadata:
        for attr, sign in (("ge", ""), ("gt", "> ")):
            if getattr(m, attr, None) is not None:
                lo = f"{sign}{_number(getattr(m, attr))}"
        for attr, sign in (("le", ""), ("lt", "< ")):
            if getattr(m, attr, None) is not None:
                hi = f"{sign}{_number(getattr(m, attr))}"
    if lo is not None and hi is not None:
        return f"{lo} to {hi}"
    if lo is not None:
        return f"at least {lo}" if not lo.startswith(">") else lo
    if hi is not None:
        return f"at most {hi}" if not hi.startswith("<") else hi
    return ""


def bounds_text(field) -> str:
    """The bounds of a setting, for the reference ('' if it has none)."""
    parts = []
    own = _range(field.metadata)
    if own:
        parts.append(own)
    lengths = {type(m).__name__: m for m in field.metadata}
    if "MaxLen" in lengths:
        n = lengths["MaxLen"].max_length
        n_min = getattr(lengths.get("MinLen"), "min_length", None)
        unit = "characters" if field.annotation is str else "items"
        parts.append(f"exactly {n} {unit}" if n_min == n else f"at most {_number(n)} {unit}")
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            inner = [m for info in typing.get_args(arg)[1:] for m in getattr(info, "metadata", [])]
            each = _range(inner)
            if each:
                parts.append(f"each {each}")
    return "; ".join(parts)


def schema_rows(model: type[BaseModel] = Scenario, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, description) for every setting, tables expanded."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sub = _default_text(field)
            if field.description and sub == "(table)":
                rows.append((key, "(table)", field.description))
            rows.extend(schema_rows(ann, key + "."))
        else:
            desc = field.description or ""
            bounds = bounds_text(field)
            if bounds:
                desc = f"{desc} Bounds: {bounds}." if desc else f"Bounds: {bounds}."
            rows.append((key, _default_text(field), desc))
            value = typing.get_args(ann)[1] if typing.get_origin(ann) is dict else None
            if isinstance(value, type) and issubclass(value, BaseModel):  # a table of named tables
                rows.extend(schema_rows(value, key + ".<name>."))
            item = typing.get_args(ann)[0] if typing.get_origin(ann) is list else None
            if isinstance(item, type) and issubclass(item, BaseModel):  # an array of tables
                rows.extend(schema_rows(item, key + "[]."))
    return rows


def markdown_reference() -> str:
    """The scenario reference as a Markdown table (used for the README)."""
    lines = ["| key | default | meaning and source |", "|---|---|---|"]
    for key, default, desc in schema_rows():
        desc = desc.replace("|", "\\|")
        lines.append(f"| `{key}` | `{default}` | {desc} |")
    return "\n".join(lines)


START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def readme_with_reference(readme: str) -> str:
    """The README text with its scenario reference block regenerated from the schema."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown_reference()}\n{END}{tail}"


def main() -> None:
    """Print the scenario reference as Markdown, or with ``--readme PATH`` update that README.

    ``python -m pipeline_sim.scenario.reference --readme README.md``
    """
    import sys
    from pathlib import Path

    if len(sys.argv) == 3 and sys.argv[1] == "--readme":
        path = Path(sys.argv[2])
        path.write_text(readme_with_reference(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(markdown_reference())


if __name__ == "__main__":
    main()

"""The scenario reference: every key with its default and description, from the schema."""

from __future__ import annotations

import json

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline_sim.scenario.schema import Scenario


def _default_text(field) -> str:
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
            rows.append((key, _default_text(field), field.description or ""))
    return rows


def markdown_reference() -> str:
    """The scenario reference as a Markdown table (used for the README)."""
    lines = ["| key | default | meaning and source |", "|---|---|---|"]
    for key, default, desc in schema_rows():
        desc = desc.replace("|", "\\|")
        lines.append(f"| `{key}` | `{default}` | {desc} |")
    return "\n".join(lines)

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

"""Generate ``schemas/*.schema.json`` from the event models: ``python -m clv_stream.events.schemas``.

``tests/unit/events/test_schemas.py`` fails when the committed files drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from clv_stream.events.topics import TOPICS

__all__ = ["SCHEMAS", "render", "write_all"]

#: File name (in ``schemas/``) -> model, per topic.
SCHEMAS: dict[str, type[BaseModel]] = {t.schema_file: t.model for t in TOPICS}
_INPUTS = frozenset(t.model for t in TOPICS if t.direction == "input")


def render(model: type[BaseModel]) -> str:
    """The model's JSON Schema: what we accept for input, what we emit for output."""
    mode: Literal["validation", "serialization"] = (
        "validation" if model in _INPUTS else "serialization"
    )
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(by_alias=True, mode=mode),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = directory / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas")
    for p in write_all(target):
        print(p)

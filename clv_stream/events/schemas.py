"""Generate ``schemas/*.schema.json`` from the event models, and ``schemas/asyncapi.yaml``
from the topics: ``python -m clv_stream.events.schemas`` (the YAML needs PyYAML, a test
dependency).

``tests/unit/events/test_schemas.py`` fails when the committed files drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from clv_stream.events import topics
from clv_stream.events.asyncapi import ASYNCAPI_FILE, document

__all__ = ["render", "schema_files", "write_all"]


def schema_files() -> dict[str, type[BaseModel]]:
    """File name (in ``schemas/``) -> model, one per registered topic."""
    return {t.schema_file: t.model for t in topics.TOPICS}


def render(model: type[BaseModel]) -> str:
    """The model's JSON Schema: what we accept for input, what we emit for output."""
    inputs = {t.model for t in topics.TOPICS if t.direction == "input"}
    mode: Literal["validation", "serialization"] = (
        "validation" if model in inputs else "serialization"
    )
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(by_alias=True, mode=mode),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in schema_files().items():
        path = directory / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    import yaml  # type: ignore[import-untyped]  # here only: generating is a dev task

    path = directory / ASYNCAPI_FILE
    path.write_text(yaml.safe_dump(document(), sort_keys=False, width=96), encoding="utf-8")
    written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas")
    for p in write_all(target):
        print(p)

"""The committed JSON Schemas are what the models generate, and they accept real events."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from clv_stream.events.schemas import SCHEMAS, render
from tests.corpus import order

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_the_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(SCHEMAS[name]), f"run `make schemas`: {name} drifted"


def test_orders_schema_accepts_a_contract_event() -> None:
    schema = json.loads((SCHEMA_DIR / "orders.schema.json").read_text())
    jsonschema.validate(orjson.loads(orjson.dumps(order(amount=12.5, margin="0.3"))), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(order(event_type="order_shipped"), schema)

"""The committed JSON Schemas are what the models generate, and they accept real events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import orjson
import pytest
import yaml

from clv_stream.events import asyncapi
from clv_stream.events.asyncapi import ASYNCAPI_FILE
from clv_stream.events.schemas import render, schema_files
from clv_stream.events.topics import TOPICS
from clv_stream.settings import Settings
from tests.corpus import order

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"


@pytest.mark.parametrize("name", sorted(schema_files()))
def test_committed_schema_matches_the_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(schema_files()[name]), f"run `make schemas`: {name} drifted"


def test_orders_schema_accepts_a_contract_event() -> None:
    schema = json.loads((SCHEMA_DIR / "orders.schema.json").read_text())
    jsonschema.validate(orjson.loads(orjson.dumps(order(amount=12.5, margin="0.3"))), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(order(event_type="order_shipped"), schema)


def _orders_schema() -> dict[str, object]:
    return json.loads((SCHEMA_DIR / "orders.schema.json").read_text())  # type: ignore[no-any-return]


def _ecma_validator() -> type[jsonschema.protocols.Validator]:
    """Draft 2020-12 with ``pattern`` read as ECMA-262 (regress), as the specification says."""
    import regress

    def pattern(validator: jsonschema.protocols.Validator, pattern: str, instance: object,
                _schema: object) -> Iterator[jsonschema.ValidationError]:
        if isinstance(instance, str) and not regress.Regex(pattern, flags="u").find(instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})


@pytest.mark.parametrize("engine", ["python-re", "ecma-262"])
@pytest.mark.parametrize(("field", "value"), [
    ("amount", "+5"), ("amount", "\u0665"), ("amount", "5\n"), ("amount", "1e2"), ("amount", "1_000"),
    ("amount", " 5"), ("amount", "1000000000"), ("amount", "-0"), ("amount", [0, [1, 2], -2]),
    ("margin", "+0.5"), ("margin", "0.5\n"), ("margin", "\u0660.5"), ("margin", "1.01"),
    ("order_id", "o-1\n"), ("customer_id", "c\n"), ("event_id", "e\n"), ("currency", "USD\n"),
    ("tenant_id", "t\n"), ("tenant_id", ""), ("tenant_id", "a b"), ("tenant_id", "t" * 65),
    ("occurred_at", "2024-03-01T10:00:00Z\n"), ("occurred_at", "\u0662024-03-01T10:00:00Z"),
    ("occurred_at", "2024-03-01T10:00:00"), ("occurred_at", "2024-03-01 10:00:00Z"),
])
def test_orders_schema_rejects_under_python_and_ecma_regexes(engine: str, field: str,
                                                            value: object) -> None:
    cls = jsonschema.Draft202012Validator if engine == "python-re" else _ecma_validator()
    validator = cls(_orders_schema())
    assert validator.is_valid(order())
    assert not validator.is_valid(order(**{field: value}))


@pytest.mark.parametrize("engine", ["python-re", "ecma-262"])
@pytest.mark.parametrize(("field", "value"), [
    ("amount", "0"), ("amount", "007.50"), ("amount", "999999999.999"), ("amount", 12.5),
    ("margin", "1.000"), ("margin", "0.35"), ("margin", "00.5"), ("margin", None),
    ("tenant_id", "Shop-1.eu_2"), ("tenant_id", None), ("event_id", "é" * 128),
    ("occurred_at", "2024-03-01T10:00:00.123456789-05:30"), ("schema_version", 1.0),
])
def test_orders_schema_accepts_under_python_and_ecma_regexes(engine: str, field: str,
                                                            value: object) -> None:
    cls = jsonschema.Draft202012Validator if engine == "python-re" else _ecma_validator()
    assert cls(_orders_schema()).is_valid(order(**{field: value}))


def test_each_topic_s_schema_is_named_after_its_default_topic_name() -> None:
    for topic in TOPICS:
        assert topic.schema == Settings.model_fields[topic.setting].default


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_committed_asyncapi_matches_the_topics_and_every_reference_resolves() -> None:
    committed = yaml.safe_load((SCHEMA_DIR / ASYNCAPI_FILE).read_text(encoding="utf-8"))
    assert committed == asyncapi.document(), f"run `make schemas`: {ASYNCAPI_FILE} drifted"
    assert committed["asyncapi"].startswith("3.")
    assert {c["address"] for c in committed["channels"].values()} == {t.schema for t in TOPICS}
    for ref in _refs(committed):
        if ref.startswith("#/"):
            node: object = committed
            for part in ref[2:].split("/"):
                assert isinstance(node, dict), f"{ref} does not resolve"
                assert part in node, f"{ref} does not resolve"
                node = node[part]
        else:  # a payload: the topic's JSON Schema beside it
            assert (SCHEMA_DIR / ref).is_file(), ref
    actions = {o["action"] for o in committed["operations"].values()}
    assert actions == {"receive", "send"}

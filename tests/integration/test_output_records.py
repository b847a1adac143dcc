"""Output records are the JSON of their published schemas, byte for byte what a JSON encoder
gives, whatever the ids a producer sends hold (the worker splices records from parts)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.pipeline import Pipeline, RawRecord
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order

SCHEMAS = Path(__file__).parents[2] / "schemas"
START = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
ODD_IDS = ['say "hi"', "back\\slash", "ünïcödé-Ω", "emoji-🛒", "tab-less/../x", "{}[],:"]


def _schema(topic: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / f"{topic}.schema.json").read_text()))


@pytest.fixture
async def records(redis_server: EmbeddedRedis) -> list[tuple[str, bytes]]:
    """Two batches for customers with odd ids: orders, a refund, and the time between."""
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    settings = Settings()
    out: list[tuple[str, bytes]] = []
    try:
        with Pipeline(settings, store,
                      wall_clock=lambda: START.timestamp() + 200 * 86400) as pipeline:
            for b in range(2):
                batch = []
                for i, cid in enumerate(ODD_IDS):
                    at = (START + timedelta(days=120 * b, minutes=i)).isoformat()
                    kind = "order_refunded" if b and i % 2 else "order_placed"
                    event = order(event_type=kind, event_id=f'{cid} "{b}"', order_id=f"o-{i}",
                                  customer_id=cid, occurred_at=at, amount="12.34")
                    batch.append(RawRecord("orders", 0, b * 10 + i, cid.encode(),
                                           orjson.dumps(event)))
                outcome = await pipeline.process(batch, (0,), home=True)
                out += [(r.topic, r.value) for r in outcome.records]
                await pipeline.confirm(outcome)
    finally:
        await store.close()
    return out


async def test_records_are_valid_canonical_json_of_their_schema(
        records: list[tuple[str, bytes]]) -> None:
    settings = Settings()
    schemas = {settings.topic_updates: _schema("clv.updates"),
               settings.topic_segments: _schema("clv.segments")}
    assert {topic for topic, _ in records} == set(schemas)  # no dead letters
    for topic, value in records:
        body = orjson.loads(value)
        jsonschema.validate(body, schemas[topic])
        assert orjson.dumps(body) == value  # compact, members in the schema's order


async def test_odd_ids_come_back_as_sent(records: list[tuple[str, bytes]]) -> None:
    settings = Settings()
    bodies = [(topic, orjson.loads(value)) for topic, value in records]
    updates = [b for topic, b in bodies if topic == settings.topic_updates]
    assert {b["customer_id"] for _, b in bodies} == set(ODD_IDS)
    assert {u["source_event_id"] for u in updates} >= {f'{cid} "0"' for cid in ODD_IDS}
    assert {u["cause"] for u in updates} == {"order_placed", "order_refunded"}

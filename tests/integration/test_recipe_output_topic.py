"""Recipe "add an output topic" (docs/architecture.md), exercised end to end.

A toy ``clv.milestones`` topic: one record when a customer's ``total_clv`` first reaches a
threshold. The recipe's steps: a model of its records, a name setting, an entry in
``events.topics.TOPICS`` (its JSON Schema is generated from the model), and an output stage
registered in ``pipeline.stages.STAGES``. The records must be valid, a redelivered batch
must emit them again with the same ids, and a stage that fails must cost only its records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events import topics
from clv_stream.events.records import OutRecord, RawRecord
from clv_stream.events.schemas import write_all
from clv_stream.pipeline import Pipeline, stages
from clv_stream.pipeline.stages import Scored
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.snapshot import Published
from tests.corpus import order

THRESHOLD = Decimal("100")


class Milestone(BaseModel):  # step 1: the model of the topic's records
    event_id: str
    customer_id: str
    total_clv: Decimal


class MilestoneSettings(Settings):  # step 2: its name setting (in the product: in Settings)
    topic_milestones: str = "clv.milestones"


# step 3: the topic's entry (in the product: a line in TOPICS)
MILESTONES = topics.Topic("topic_milestones", Milestone, "output", "clv.milestones")


class Milestones:  # step 4: the stage that emits them
    def __init__(self, settings: Settings) -> None:
        self._topic = MILESTONES.name(settings)

    def records(self, scored: Scored) -> Iterable[OutRecord]:
        for state, value, t in zip(scored.states, scored.values, scored.transitions,
                                   strict=True):
            before = Published.decode(state.pub)
            crossed = Decimal(value["total_clv"]) >= THRESHOLD
            if crossed and (before is None or before.summary.net_minor < 10000):
                body = Milestone(event_id=t.event_id("milestone").decode(),
                                 customer_id=state.customer_id, total_clv=value["total_clv"])
                yield OutRecord(self._topic, state.customer_id.encode(),
                                body.model_dump_json().encode())


class Broken:
    def __init__(self, settings: Settings) -> None:
        pass

    def records(self, scored: Scored) -> Iterable[OutRecord]:
        raise RuntimeError("a bug in a plug-in")


@pytest.fixture
def registered() -> Iterator[None]:
    """Steps 3 and 4's registrations (appended, as in the product), undone after the test."""
    topics.TOPICS.append(MILESTONES)
    stages.STAGES.extend([Broken, Milestones])
    try:
        yield
    finally:
        topics.TOPICS.remove(MILESTONES)
        stages.STAGES.remove(Broken)
        stages.STAGES.remove(Milestones)


def _batch(amounts: list[str]) -> list[RawRecord]:
    return [RawRecord("orders", 0, i, b"m-1", orjson.dumps(order(
        order_id=f"o-{i}", customer_id="m-1", amount=amount,
        occurred_at=f"2024-03-0{i + 1}T10:00:00Z"))) for i, amount in enumerate(amounts)]


@pytest.mark.usefixtures("registered")
async def test_a_registered_topic_gets_a_schema_and_its_stage_emits_alike_on_redelivery(
        redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    written = {p.name: p for p in write_all(tmp_path)}
    assert json.loads(written["clv.milestones.schema.json"].read_text())["title"] == "Milestone"
    assert "clv.milestones" in topics.output_topics(MilestoneSettings())

    settings = MilestoneSettings()
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:
        with Pipeline(settings, store) as pipeline:  # the registered stages
            small = await pipeline.process(_batch(["40.00"]), (0,), home=True)
            await pipeline.confirm(small)
            big = await pipeline.process(_batch(["40.00", "90.00"]), (0,), home=True)
        with Pipeline(settings, store) as again:  # not confirmed: redelivered
            redelivered = await again.process(_batch(["40.00", "90.00"]), (0,), home=True)
    finally:
        await store.close()

    def on(records: list[OutRecord], topic: str) -> list[bytes]:
        return [r.value for r in records if r.topic == topic]

    assert on(small.records, "clv.milestones") == []
    [reached] = [Milestone.model_validate_json(v) for v in on(big.records, "clv.milestones")]
    assert reached.customer_id == "m-1"
    assert reached.total_clv >= THRESHOLD
    assert on(redelivered.records, "clv.milestones") == on(big.records, "clv.milestones")
    # the broken stage cost nothing else: the orders applied, their updates went out
    assert (big.applied, big.invalid) == (1, 0)
    assert len(on(big.records, settings.topic_updates)) == 1

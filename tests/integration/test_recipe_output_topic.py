"""Recipe "add an output topic" (docs/architecture.md), exercised end to end.

A toy ``clv.milestones`` topic: one record when a customer's ``total_clv`` first reaches a
threshold. The recipe's steps: a model of its records, a name setting, a topic entry (its
JSON Schema comes from the model), an output stage registered with the pipeline. The records must be valid,
and a redelivered batch must emit them again with the same ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from decimal import Decimal

import orjson
from pydantic import BaseModel

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events.records import OutRecord, RawRecord
from clv_stream.events.schemas import render
from clv_stream.events.topics import Topic
from clv_stream.pipeline import Pipeline
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


# step 3: the topic's entry (in the product: in clv_stream.events.topics.TOPICS)
MILESTONES = Topic("topic_milestones", Milestone, "output")


class Milestones:  # step 4: the stage that emits them
    def __init__(self, settings: MilestoneSettings) -> None:
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


def _batch(amounts: list[str]) -> list[RawRecord]:
    return [RawRecord("orders", 0, i, b"m-1", orjson.dumps(order(
        order_id=f"o-{i}", customer_id="m-1", amount=amount,
        occurred_at=f"2024-03-0{i + 1}T10:00:00Z"))) for i, amount in enumerate(amounts)]


async def test_a_registered_stage_emits_its_topic_and_again_alike_on_redelivery(
        redis_server: EmbeddedRedis) -> None:
    assert json.loads(render(MILESTONES.model))["title"] == "Milestone"
    settings = MilestoneSettings()
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:  # step 5: registered with the pipeline (in the product: in pipeline.stages.STAGES)
        with Pipeline(settings, store, stages=[Milestones(settings)]) as pipeline:
            small = await pipeline.process(_batch(["40.00"]), (0,), home=True)
            await pipeline.confirm(small)
            big = await pipeline.process(_batch(["40.00", "90.00"]), (0,), home=True)
        with Pipeline(settings, store, stages=[Milestones(settings)]) as again:  # redelivered
            redelivered = await again.process(_batch(["40.00", "90.00"]), (0,), home=True)
    finally:
        await store.close()

    def milestones(records: list[OutRecord]) -> list[Milestone]:
        return [Milestone.model_validate_json(r.value) for r in records
                if r.topic == "clv.milestones"]

    assert milestones(small.records) == []
    [reached] = milestones(big.records)
    assert reached.customer_id == "m-1"
    assert reached.total_clv >= THRESHOLD
    assert milestones(redelivered.records) == [reached]

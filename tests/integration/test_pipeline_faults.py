"""The pipeline survives a record that trips a bug, and an outage propagates for retry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import orjson
import pytest

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.exceptions import StoreUnavailable
from clv_stream.pipeline import Pipeline, RawRecord
from clv_stream.settings import Settings
from clv_stream.store.redis_store import ApplyResult, Positioned, RedisStore
from tests.corpus import order


class PoisonedStore(RedisStore):
    """A real store that fails like a bug would whenever the customer ``poison`` is in a batch."""

    async def apply(self, topic: str, records: Sequence[Positioned]) -> ApplyResult:
        if any(r.order.customer_id == "poison" for r in records):
            raise RuntimeError("boom")
        return await super().apply(topic, records)


@pytest.fixture
async def store(redis_server: EmbeddedRedis) -> AsyncIterator[PoisonedStore]:
    s = PoisonedStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    assert isinstance(s, PoisonedStore)
    yield s
    await s.close()


def _records(customers: list[str]) -> list[RawRecord]:
    return [RawRecord("orders", 0, i, c.encode(), orjson.dumps(order(order_id=f"o{i}", customer_id=c)))
            for i, c in enumerate(customers)]


async def test_a_poison_record_is_dead_lettered_and_the_rest_applied(store: PoisonedStore) -> None:
    pipeline = Pipeline(Settings(), store)
    outcome = await pipeline.process(_records(["a", "poison", "b"]))
    assert (outcome.applied, outcome.invalid) == (2, 1)
    letters = [orjson.loads(r.value) for r in outcome.records if r.topic == "clv.deadletter"]
    assert [(d["offset"], d["error"]["code"]) for d in letters] == [(1, "processing_error")]
    assert {s.customer_id for s in await store.customers(["a", "b", "poison"])} == {"a", "b"}


async def test_an_outage_is_raised_for_the_caller_to_retry(redis_server: EmbeddedRedis) -> None:
    dead = RedisStore.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable):
        await Pipeline(Settings(), dead).process(_records(["a"]))
    await dead.close()

"""The pipeline survives a record that trips a bug, and an outage propagates for retry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
import pytest

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.exceptions import StoreUnavailable
from clv_stream.pipeline import BatchOutcome, Pipeline, RawRecord
from clv_stream.settings import Settings
from clv_stream.store.port import ApplyResult, CustomerState, DueLook, Fence, Positioned
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order


class PoisonedStore(RedisStore):
    """A real store that fails like a bug would when customer ``poison`` is in a batch:
    before writing, or (``late-poison``) after the batch was written."""

    async def apply(self, topic: str, records: Sequence[Positioned], home: bool = False,
                    look: DueLook | None = None, fence: Fence | None = None,
                    positions: Mapping[int, int] | None = None, as_of: int = 0,
                    model_version: str = "") -> ApplyResult:
        ids = {r.order.customer_id for r in records}
        if "poison" in ids:
            raise RuntimeError("boom")
        result = await super().apply(topic, records, home, look, fence, positions,
                                     as_of, model_version)
        if "late-poison" in ids:
            raise RuntimeError("boom after the write")
        return result


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
    with Pipeline(Settings(), store) as pipeline:
        outcome = await pipeline.process(_records(["a", "poison", "b"]))
    assert (outcome.applied, outcome.invalid) == (2, 1)
    letters = [orjson.loads(r.value) for r in outcome.records if r.topic == "clv.deadletter"]
    assert [(d["offset"], d["error"]["code"]) for d in letters] == [(1, "processing_error")]
    assert {s.customer_id for s in await store.customers(["a", "b", "poison"])} == {"a", "b"}


async def test_an_outage_is_raised_for_the_caller_to_retry(redis_server: EmbeddedRedis) -> None:
    dead = RedisStore.from_url("redis://127.0.0.1:1/0")
    with Pipeline(Settings(), dead) as pipeline, pytest.raises(StoreUnavailable):
        await pipeline.process(_records(["a"]))
    await dead.close()


async def test_isolation_after_a_write_emits_once_per_customer(store: PoisonedStore) -> None:
    raws = [RawRecord("orders", 0, i, b"k", orjson.dumps(order(order_id=f"o{i}", customer_id=c)))
            for i, c in enumerate(["a", "late-poison", "a", "b"])]
    with Pipeline(Settings(), store) as pipeline:
        outcome = await pipeline.process(raws)
    updates = [orjson.loads(r.value) for r in outcome.records if r.topic == "clv.updates"]
    segments = [orjson.loads(r.value) for r in outcome.records if r.topic == "clv.segments"]
    assert sorted(u["customer_id"] for u in updates) == ["a", "b"]
    assert next(u for u in updates if u["customer_id"] == "a")["current"]["orders"] == 2
    assert len(segments) == len({(s["customer_id"], s["dimension"]) for s in segments})
    letters = [orjson.loads(r.value) for r in outcome.records if r.topic == "clv.deadletter"]
    assert [d["offset"] for d in letters] == [1]


async def test_cancelling_every_order_moves_segments_to_none(store: PoisonedStore) -> None:
    placed = RawRecord("orders", 0, 0, b"k", orjson.dumps(order(customer_id="c")))
    cancel = RawRecord("orders", 0, 1, b"k", orjson.dumps(order(
        customer_id="c", event_type="order_cancelled", occurred_at="2024-03-02T00:00:00Z")))
    with Pipeline(Settings(), store) as pipeline:
        first = await pipeline.process([placed])
        await pipeline.confirm(first)
        second = await pipeline.process([cancel])
        await pipeline.confirm(second)
    update = next(orjson.loads(r.value) for r in second.records if r.topic == "clv.updates")
    assert (update["current"]["orders"], update["current"]["total_clv"]) == (0, "0.00")
    moves = {orjson.loads(r.value)["dimension"]: orjson.loads(r.value)["to"]
             for r in second.records if r.topic == "clv.segments"}
    assert moves == {"value_tier": "none", "lifecycle": "none", "rfm": "none"}
    state = await store.customer("c")
    assert state is not None
    assert state.segments == "none|none|none|"  # no subscription: no label in it


async def test_redelivery_in_other_batch_boundaries_reuses_event_ids(store: PoisonedStore) -> None:
    raws = [RawRecord("orders", 0, i, b"k", orjson.dumps(order(order_id=f"o{i}", customer_id="r",
            occurred_at=f"2024-03-0{i + 1}T00:00:00Z"))) for i in range(3)]
    with Pipeline(Settings(), store) as crashed:
        first = await crashed.process(raws)  # crash: never confirmed
    with Pipeline(Settings(), store) as again:
        replayed = [await again.process(raws[:1]), await again.process(raws[1:])]
    ids = {r.value for r in first.records}
    assert {orjson.loads(r.value)["event_id"] for r in first.records} == {
        orjson.loads(r.value)["event_id"] for out in replayed for r in out.records}
    assert len(ids) == len(first.records)


class DecayTrips(Pipeline):
    """A real pipeline whose scoring trips, as a bug would, on the time-decay look of
    customer ``poison-due`` (its own orders score fine)."""

    async def _emit(self, states: Sequence[CustomerState], clock: int,
                    causes: dict[tuple[str, str], tuple[str, str]], out: BatchOutcome,
                    scoring: Any = None) -> None:
        if any(s.customer_id == "poison-due" and causes[s.key][0] == "time_decay"
               for s in states):
            raise RuntimeError("boom in scoring")
        await super()._emit(states, clock, causes, out, scoring)


async def test_a_due_customer_that_trips_scoring_is_postponed_and_orders_go_on(
        store: PoisonedStore) -> None:
    january = order(order_id="p1", customer_id="poison-due", occurred_at="2024-01-05T10:00:00+00:00")
    august = order(order_id="k1", customer_id="ok", occurred_at="2024-08-01T10:00:00+00:00")
    later = [RawRecord("orders", 0, 1, b"ok", orjson.dumps(august)),
             RawRecord("orders", 0, 2, b"x", b"{not json")]
    with DecayTrips(Settings(), store) as pipeline:
        first = await pipeline.process(
            [RawRecord("orders", 0, 0, b"poison-due", orjson.dumps(january))], (0,), True)
        await pipeline.confirm(first)
        outcome = await pipeline.process(later, (0,), True)
        await pipeline.confirm(outcome)

    assert (outcome.applied, outcome.invalid, outcome.due) == (1, 1, 0)
    emitted = [(r.topic, orjson.loads(r.value).get("customer_id")) for r in outcome.records]
    assert ("clv.deadletter", None) in emitted
    assert {c for t, c in emitted if t != "clv.deadletter"} == {"ok"}
    clock = outcome.clock
    assert await store.due(until=clock, limit=10, home=0) == []
    assert await store.due(until=clock + 86400, limit=10, home=0) == [("default", "poison-due")]

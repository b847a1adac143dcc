"""``previous`` on ``clv.updates`` is the customer's last published ``current``, whether the
worker still holds it in memory or has to recompute it from the snapshot in Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.pipeline import Pipeline, RawRecord
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order

START = datetime(2023, 1, 2, 9, 30, tzinfo=UTC)


def _batches() -> list[list[RawRecord]]:
    """Eight batches, 20 days of event time apart: customers order again, some get refunds,
    and the time between makes others due for a time-driven look."""
    batches, offset = [], 0
    for b in range(8):
        batch = []
        for c in range(24):
            if (c + b) % 3 == 0:
                continue
            at = (START + timedelta(days=20 * b, minutes=c)).isoformat()
            event = order(order_id=f"o{b}-{c}", customer_id=f"c{c}", occurred_at=at,
                          amount=f"{10 + (c * 7 + b * 13) % 90}.{(c + b) % 100:02d}")
            if b and c % 5 == 0:  # a refund of the customer's previous order instead
                event = order(event_type="order_refunded", event_id=f"r{b}-{c}",
                              order_id=f"o{b - 1}-{c}", customer_id=f"c{c}", occurred_at=at,
                              amount="3.50")
            batch.append(RawRecord("orders", 0, offset, f"c{c}".encode(), orjson.dumps(event)))
            offset += 1
        batches.append(batch)
    return batches


async def _run(redis_server: EmbeddedRedis, cache: int, workers: int = 1) -> list[bytes]:
    """Every output record's bytes; ``workers`` > 1: the batches go to the workers in turn
    (as a partition moves at each rebalance), so what a worker holds goes stale."""
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    pipelines = [Pipeline(Settings(previous_cache=cache), store,
                          wall_clock=lambda: START.timestamp() + 400 * 86400)
                 for _ in range(workers)]
    values: list[bytes] = []
    try:
        for i, batch in enumerate(_batches()):
            pipeline = pipelines[i % workers]
            outcome = await pipeline.process(batch, (0,), home=True)
            values += [r.value for r in outcome.records]
            await pipeline.confirm(outcome)
    finally:
        for pipeline in pipelines:
            pipeline.close()
        await store.close()
    return values


async def test_previous_is_the_last_published_current(redis_server: EmbeddedRedis) -> None:
    records = [orjson.loads(v) for v in await _run(redis_server, cache=100)]
    updates = [r for r in records if "delta_clv" in r]
    last: dict[str, dict[str, Any]] = {}
    for u in updates:
        assert u["previous"] == last.get(u["customer_id"])
        last[u["customer_id"]] = u["current"]
    assert sum(u["previous"] is not None for u in updates) > 50
    assert {u["cause"] for u in updates} >= {"order_placed", "order_refunded", "time_decay"}


async def test_a_worker_that_recomputes_previous_emits_the_same_bytes(
        redis_server: EmbeddedRedis) -> None:
    held = await _run(redis_server, cache=100)
    assert await _run(redis_server, cache=0) == held  # every previous from Redis' snapshot
    assert await _run(redis_server, cache=5) == held  # some held, most not
    assert await _run(redis_server, cache=100, workers=2) == held  # held ones go stale

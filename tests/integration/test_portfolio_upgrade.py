"""A store written before the portfolio totals were kept: its customers have orders and no
share in the totals. Each one's share is added, from all its orders, when its orders next
change (docs/contract.md, "Upgrading"); the others stay out until then."""

from __future__ import annotations

import math
import uuid

import orjson
import redis

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events.validation import OrderValidator
from clv_stream.settings import Settings
from clv_stream.sources import synthetic_orders
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.types import DueLook, Positioned


async def _apply(store: RedisStore, records: list[Positioned]) -> None:
    for i in range(0, len(records), 200):
        await store.apply("orders", records[i:i + 200], True, DueLook([], 0), None, None, 0, "")


async def test_a_customer_stored_before_the_totals_counts_from_its_next_change(
        redis_server: EmbeddedRedis, redis_client: redis.Redis) -> None:
    validator = OrderValidator(Settings())
    events = list(synthetic_orders(120, seed=13))
    half = len(events) // 2
    for e in events[:half]:  # earlier versions kept no channel
        e.pop("channel", None)
    records = [Positioned(0, i, validator.validate(orjson.dumps(e), math.inf))
               for i, e in enumerate(events)]
    assert any("channel" in e for e in events[half:])
    prefix = f"u{uuid.uuid4().hex[:8]}"
    upgraded = RedisStore.from_url(redis_server.url, prefix=prefix)
    fresh = RedisStore.from_url(redis_server.url, prefix=f"f{uuid.uuid4().hex[:8]}")
    try:
        await _apply(upgraded, records[:half])
        # what an earlier version left: the orders, no share of any customer in the totals
        stored = list(redis_client.scan_iter(match=f"{prefix}:c:*"))
        for key in stored:
            redis_client.hdel(key, "ch")
        redis_client.delete(f"{prefix}:{{0}}:pf:default")
        later = records[half:]
        await _apply(upgraded, later)
        touched = {r.order.customer_id for r in later}
        assert 0 < len(touched) < len(stored)  # some customers wait for their next change
        await _apply(fresh, [r for r in records if r.order.customer_id in touched])
        got = await upgraded.portfolio_totals("default")
        want = await fresh.portfolio_totals("default")
        assert got == want
        assert want["n"] == len(touched)
        assert any(f.startswith("g:") and f.count(":") == 2 for f in want)
    finally:
        await upgraded.close()
        await fresh.close()

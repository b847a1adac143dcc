"""A customer's months stored in the first form ("m:count:net:profit,...", as the worker
wrote them before the short form) are read as they were: the tenant's portfolio totals
after more orders equal those of a store that only ever wrote the short form."""

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


def _first_form(text: str) -> str:
    """The short form '~d:count:net[:profit],...' written the first way."""
    parts, month = [], 0
    for entry in text.removeprefix("~").split(","):
        d, n, net, *profit = entry.split(":")
        month += int(d)
        parts.append(f"{month}:{n}:{net}:{profit[0] if profit else net}")
    return ",".join(parts)


async def _apply(store: RedisStore, records: list[Positioned]) -> None:
    for i in range(0, len(records), 200):
        await store.apply("orders", records[i:i + 200], True, DueLook([], 0), None, None, 0, "")


async def test_months_in_the_first_form_count_as_before(redis_server: EmbeddedRedis,
                                                        redis_client: redis.Redis) -> None:
    validator = OrderValidator(Settings())
    records = [Positioned(0, i, validator.validate(orjson.dumps(e), math.inf))
               for i, e in enumerate(synthetic_orders(120, seed=13))]
    half = len(records) // 2
    prefix = f"u{uuid.uuid4().hex[:8]}"
    upgraded = RedisStore.from_url(redis_server.url, prefix=prefix)
    fresh = RedisStore.from_url(redis_server.url, prefix=f"f{uuid.uuid4().hex[:8]}")
    try:
        await _apply(upgraded, records[:half])
        rewritten = 0
        for key in redis_client.scan_iter(match=f"{prefix}:c:*"):
            text = (redis_client.hget(key, "mo") or b"").decode()
            if text.startswith("~"):
                redis_client.hset(key, "mo", _first_form(text))
                rewritten += 1
        assert rewritten > 50
        await _apply(upgraded, records[half:])
        await _apply(fresh, records)
        got = await upgraded.portfolio_totals("default")
        want = await fresh.portfolio_totals("default")
        assert {f: n for f, n in got.items() if n} == {f: n for f, n in want.items() if n}
        assert any(f.startswith("g:") for f in want)  # the months made it into the totals
    finally:
        await upgraded.close()
        await fresh.close()

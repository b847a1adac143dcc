"""A customer's acquisition channel as the store keeps it, one batch per event: each order
keeps its channel (an order stored before its customer's channel changed keeps the one it
came with), so an earlier order delivered late takes the customer over and cancelling it
gives the customer back to the next order's channel."""

from __future__ import annotations

import math
import uuid
from typing import Any

import orjson

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events.validation import OrderValidator
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.types import Positioned
from tests.corpus import order


async def test_each_order_keeps_its_channel_whatever_the_customer_s_becomes(
        redis_server: EmbeddedRedis) -> None:
    validator = OrderValidator(Settings())
    store = RedisStore.from_url(redis_server.url, prefix=f"a{uuid.uuid4().hex[:8]}")
    offset = 0

    async def channel_after(event: dict[str, Any]) -> str:
        nonlocal offset
        offset += 1
        rec = Positioned(0, offset, validator.validate(orjson.dumps(event), math.inf))
        [row] = (await store.apply("orders", [rec], True)).customers
        return row.channel

    try:
        assert await channel_after(order(order_id="o2", customer_id="c", channel="web",
                                         occurred_at="2024-05-02T10:00:00Z")) == "web"
        assert await channel_after(order(order_id="o3", customer_id="c", channel="web",
                                         occurred_at="2024-05-04T10:00:00Z")) == "web"
        assert await channel_after(order(order_id="o1", customer_id="c", channel="app",
                                         occurred_at="2024-05-01T10:00:00Z")) == "app"
        assert await channel_after(order(order_id="o0", customer_id="c",
                                         occurred_at="2024-04-30T10:00:00Z")) == ""
        assert await channel_after(order(event_type="order_cancelled", order_id="o0",
                                         customer_id="c",
                                         occurred_at="2024-05-05T10:00:00Z")) == "app"
        assert await channel_after(order(event_type="order_cancelled", order_id="o1",
                                         customer_id="c",
                                         occurred_at="2024-05-05T11:00:00Z")) == "web"
        assert await channel_after(order(event_type="order_cancelled", order_id="o2",
                                         customer_id="c",
                                         occurred_at="2024-05-05T12:00:00Z")) == "web"
        totals = await store.portfolio_totals("default")
        assert {f: n for f, n in totals.items() if f.startswith("xa:")} == {"xa:24292:web": 1}
    finally:
        await store.close()

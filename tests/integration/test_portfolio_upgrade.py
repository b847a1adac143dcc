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
from clv_stream.store.types import DueLook, Positioned, PublishEntry
from tests.corpus import order


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


def _first_layout(key: bytes, redis_client: redis.Redis) -> None:
    """Rewrite a customer hash as the first version with the totals left it: orders with
    "|#channel" only when they named one (now: when it is not the customer's), the months
    text in ``mo``, the value inputs led by the kind and always with the historic CLV."""
    stored = redis_client.hgetall(key)
    ch = stored.get(b"ch", b"")
    for field, raw in stored.items():
        if field.startswith(b"o:"):
            order, hashed, channel = raw.partition(b"|#")
            channel = channel if hashed else ch
            redis_client.hset(key, field, order + (b"|#" + channel if channel else b""))
    redis_client.hset(key, "mo", "~24000:1:100")  # read by no version since
    if b"pv" in stored:
        orders, net, historic, rest = stored[b"pv"].split(b"|", 3)
        kind = b"s" if rest.split(b"|")[1] == b"" else b"o"
        redis_client.hset(key, "pv", b"|".join([kind, orders, net, historic or net, rest]))


def _values(records: list[Positioned], round_: int) -> list[PublishEntry]:
    """A published value per customer of ``records`` (value inputs as value_inputs writes
    them: historic "" when it is the net, cohort "" for a customer without orders)."""
    entries = []
    for i, cid in enumerate(sorted({r.order.customer_id for r in records})):
        cohort = "" if i % 7 == 0 else str(24_250 + i % 5)
        historic = "" if i % 3 else str(1_000 * round_ + i)
        pv = f"{round_ + i % 4}|{5_000 * round_ + i}|{historic}|{9_000 * round_ + i}|{cohort}|" \
             f"{(i + round_) % 6}|{['web', 'app', 'unknown'][i % 3]}"
        entries.append(PublishEntry(cid, "", f"tier{(i + round_) % 3}", None, portfolio=pv))
    return entries


async def test_a_store_of_the_first_totals_layout_upgrades_in_place(
        redis_server: EmbeddedRedis, redis_client: redis.Redis) -> None:
    validator = OrderValidator(Settings())
    shop = list(synthetic_orders(120, seed=17))
    for i, e in enumerate(shop):  # a mix of orders with and without a channel
        if i % 3 == 0:
            e.pop("channel", None)
    half = len(shop) // 2
    # a customer's channel-less order that becomes its first counting one, once stored as
    # "no channel" and now as "the customer's", and one whose channel a late order changes
    first = [order(order_id="s1", customer_id="switch", channel="web"),
             order(order_id="s2", customer_id="switch", occurred_at="2024-03-09T10:00:00Z"),
             order(order_id="n1", customer_id="late", channel="app"),
             order(order_id="n2", customer_id="late", occurred_at="2024-03-09T10:00:00Z")]
    later = [order(event_type="order_cancelled", order_id="s1", customer_id="switch",
                   occurred_at="2024-03-10T10:00:00Z"),
             order(order_id="n0", customer_id="late", channel="web",
                   occurred_at="2024-02-01T10:00:00Z"),
             order(event_type="order_cancelled", order_id="n0", customer_id="late",
                   occurred_at="2024-03-10T10:00:00Z"),
             order(event_type="order_cancelled", order_id="n1", customer_id="late",
                   occurred_at="2024-03-10T10:00:00Z")]
    events = [*shop[:half], *first, *shop[half:], *later]
    records = [Positioned(0, i, validator.validate(orjson.dumps(e), math.inf))
               for i, e in enumerate(events)]
    half += len(first)
    prefix = f"u{uuid.uuid4().hex[:8]}"
    upgraded = RedisStore.from_url(redis_server.url, prefix=prefix)
    fresh = RedisStore.from_url(redis_server.url, prefix=f"f{uuid.uuid4().hex[:8]}")
    try:
        for store in (upgraded, fresh):
            await _apply(store, records[:half])
            await store.publish(_values(records[:half], 1))
        stored = list(redis_client.scan_iter(match=f"{prefix}:c:*"))
        assert stored
        for key in stored:
            _first_layout(key, redis_client)
        for store in (upgraded, fresh):
            await _apply(store, records[half:])
            await store.publish(_values(records, 2))
        assert await upgraded.portfolio_totals("default") == await fresh.portfolio_totals("default")
        ids = sorted({r.order.customer_id for r in records})
        got = {c.customer_id: c.channel for c in await upgraded.customers(ids)}
        assert got == {c.customer_id: c.channel for c in await fresh.customers(ids)}
        assert got["switch"] in (None, "", "unknown")  # no channel
        assert got["late"] in (None, "", "unknown")
        touched = {r.order.customer_id for r in records[half:]}
        left = {k.decode().rsplit(":", 1)[1] for k in redis_client.scan_iter(match=f"{prefix}:c:*")
                if redis_client.hexists(k, "mo")}
        assert left
        assert not left & touched, "a customer's months text goes at its next change"
    finally:
        await upgraded.close()
        await fresh.close()

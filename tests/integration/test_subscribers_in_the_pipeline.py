"""Subscriptions through the worker's pipeline on a real Redis: a subscriber's value, the
``subscription`` segment (churned with time alone), and the tenant's MRR report."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events.records import RawRecord
from clv_stream.pipeline import CustomerViews, Pipeline
from clv_stream.report import build_report
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order, subscription


@pytest.fixture
async def store(redis_server: EmbeddedRedis) -> AsyncIterator[RedisStore]:
    """A store of its own (a fresh key prefix) on the session's Redis."""
    found = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    yield found
    await found.close()


def _records(events: list[dict[str, Any]], start: int = 0) -> list[RawRecord]:
    return [RawRecord("orders", 0, start + i, str(e["customer_id"]).encode(), orjson.dumps(e))
            for i, e in enumerate(events)]


def _out(outcome: Any, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in outcome.records if r.topic == topic]


async def test_a_subscriber_is_valued_segmented_churned_by_time_and_reported(
        store: RedisStore) -> None:
    settings = Settings()
    with Pipeline(settings, store) as pipeline:
        # a renewal that arrives before its start, and a duplicate of the start
        first = await pipeline.process(_records([
            subscription("subscription_renewed", occurred_at="2024-04-01T10:00:00Z"),
            subscription(occurred_at="2024-03-01T10:00:00Z"),
            subscription(occurred_at="2024-03-01T10:00:00Z"),
            subscription(customer_id="c-2", subscription_id="sub-2", amount="120.00",
                         interval="year", occurred_at="2024-03-15T00:00:00Z"),
        ]), (0,), True)
        await pipeline.confirm(first)
        # c-1 renews no more: its period ends 2024-05-01; time passes by (another
        # customer's order) beyond the grace, with no event of c-1
        later = await pipeline.process(_records(
            [order(customer_id="c-9", occurred_at="2024-05-10T00:00:00Z")], 10), (0,), True)
        await pipeline.confirm(later)
        views = CustomerViews(settings, store)
        c1 = await views.customer_view("c-1")
        c2 = await views.customer_view("c-2")
        report = await build_report(store, views, settings.lifespan_years, tenant="default")

    updates = {u["customer_id"]: u for u in _out(first, settings.topic_updates)}
    value = updates["c-1"]["current"]
    assert value["orders"] == 0
    assert value["subscription_revenue"] == "58.00"  # two payments, the duplicate once
    assert value["subscription"]["active_subscriptions"] == 1
    assert value["subscription"]["mrr"] == "29.00"
    assert value["subscription"]["renewals"] == 1
    assert float(value["subscription"]["predicted_subscription_clv"]) > 0
    assert updates["c-2"]["current"]["subscription"]["mrr"] == "10.00"  # 120 a year
    segments = [(s["customer_id"], s["dimension"], s["from"], s["to"])
                for s in _out(first, settings.topic_segments) + _out(later, settings.topic_segments)]
    assert ("c-1", "subscription", None, "active") in segments
    assert ("c-1", "subscription", "active", "churned") in segments  # time alone
    assert c1 is not None
    assert c1["segments"]["subscription"] == "churned"
    assert c1["value"]["subscription"]["mrr"] == "0.00"
    assert c2 is not None
    assert c2["segments"]["subscription"] == "active"
    subs = report["subscriptions"]
    assert (subs["mrr"], subs["arr"], subs["active_subscribers"]) == ("10.00", "120.00", 1)
    months = {m["month"]: m for m in subs["months"]}
    assert months["2024-03"]["new"] == "39.00"
    assert months["2024-05"]["churned"] == "29.00"
    assert months["2024-04"]["renewal_rate"] == 1.0


async def test_a_restarted_worker_recomputes_a_subscriber_s_previous_value_whole(
        store: RedisStore) -> None:
    settings = Settings()
    with Pipeline(settings, store) as before:
        first = await before.process(_records([subscription()]), (0,), True)
        await before.confirm(first)
    with Pipeline(settings, store) as after:  # nothing remembered of what was published
        renewed = await after.process(_records([subscription(
            "subscription_renewed", occurred_at="2024-04-01T10:00:00Z")], 1), (0,), True)

    [published] = _out(first, settings.topic_updates)
    [update] = _out(renewed, settings.topic_updates)
    assert update["previous"] == published["current"]
    assert update["previous"]["subscription"]["renewals"] == 0
    assert update["current"]["subscription"]["renewals"] == 1

"""The seed's worked example through the store: 2,000 customers x 5 orders of 100.00 and a
3-year lifespan give a traditional CLV of 1,500 when the orders fall in the period, and
less when the same orders are spread over three years (orders per year, not per customer)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.domain.portfolio import portfolio_report
from clv_stream.events.validation import OrderValidator
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.types import DueLook, Positioned
from tests.corpus import order

END = int(datetime(2024, 12, 31, tzinfo=UTC).timestamp())
DAY = 86_400


async def _report(redis_server: EmbeddedRedis, spread_days: int) -> dict[str, object]:
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    validator = OrderValidator(Settings())
    records = []
    for c in range(2000):
        for i in range(5):
            at = END - (i * 2000 + c) * spread_days * DAY // 10_000  # each over the span
            event = order(order_id=f"c{c}-{i}", customer_id=f"c{c}", amount="100.00",
                          occurred_at=datetime.fromtimestamp(at, UTC).isoformat())
            records.append(Positioned(0, len(records),
                                      validator.validate(orjson.dumps(event), math.inf)))
    try:
        for i in range(0, len(records), 1000):
            await store.apply("orders", records[i:i + 1000], True, DueLook([], 0), None,
                              None, 0, "")
        totals = await store.portfolio_totals("default")
    finally:
        await store.close()
    return portfolio_report(totals, {}, END, 12, 2, Decimal(3), lambda _: {})["kpis"]


async def test_orders_within_the_period_give_1500(redis_server: EmbeddedRedis) -> None:
    kpis = await _report(redis_server, spread_days=300)
    assert (kpis["customers"], kpis["active_customers"], kpis["orders"]) == (2000, 2000, 10_000)
    assert kpis["average_order_value"] == "100.00"
    assert kpis["purchase_frequency"] == 5.0
    assert kpis["traditional_clv"] == "1500.00"


async def test_the_same_orders_over_three_years_give_less(redis_server: EmbeddedRedis) -> None:
    kpis = await _report(redis_server, spread_days=3 * 365)
    assert kpis["customers"] == 2000
    # a third of the orders fall in the last 12 months: 5 / 3 a year per customer, not 5
    assert kpis["orders"] == pytest.approx(10_000 / 3, rel=0.01)
    assert kpis["average_order_value"] == "100.00"
    frequency = kpis["orders"] / kpis["active_customers"]
    assert kpis["purchase_frequency"] == pytest.approx(frequency, abs=1e-4)
    assert kpis["traditional_clv"] == str(
        (Decimal(100) * Decimal(str(kpis["purchase_frequency"])) * 3).quantize(Decimal("0.01")))
    assert float(str(kpis["traditional_clv"])) == pytest.approx(500, rel=0.01)

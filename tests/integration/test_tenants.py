"""Tenants (contract v2): a customer is the pair (tenant_id, customer_id).

1,000 tenants of 100 customers each, every tenant using the same customer ids: 100,000
customers, each with its own state, outputs that name their tenant, and the v1 surface
(plain ids) addressing the default tenant's customers only; each tenant's report is its own.
"""

from __future__ import annotations

import uuid

import orjson

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events.records import RawRecord
from clv_stream.pipeline import CustomerViews, Pipeline
from clv_stream.report import build_report
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order

TENANTS, CUSTOMERS, BATCH = 1000, 100, 2000


def _event(tenant: int, customer: int) -> dict[str, object]:
    event = order(order_id=f"o-{customer}", customer_id=f"c-{customer}",
                  amount=f"{tenant + 1}.{customer:02d}", occurred_at="2024-03-01T10:00:00Z")
    if tenant:  # tenant 0 names none: the default tenant
        event["tenant_id"] = f"shop-{tenant}"
    return event


async def test_the_same_customer_id_under_two_tenants_is_two_customers(
        redis_server: EmbeddedRedis) -> None:
    settings = Settings()
    events = [_event(t, c) for t in range(TENANTS) for c in range(CUSTOMERS)]
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    updates: list[dict[str, object]] = []
    try:
        with Pipeline(settings, store) as pipeline:
            for start in range(0, len(events), BATCH):
                batch = [RawRecord("orders", 0, start + i, None, orjson.dumps(e))
                         for i, e in enumerate(events[start:start + BATCH])]
                outcome = await pipeline.process(batch)
                await pipeline.confirm(outcome)
                assert outcome.applied == len(batch)
                updates += [orjson.loads(r.value) for r in outcome.records
                            if r.topic == settings.topic_updates]
        scanned = [key async for page in store.scan_customer_ids() for key in page]
        some = [("default", "c-7"), ("shop-1", "c-7"), ("shop-999", "c-7"), ("shop-999", "c-99")]
        states = {s.key: s.summary.net_minor for s in await store.customers(some)}
        views = CustomerViews(settings, store)
        v1 = await views.customer_view("c-7")
        other = await views.customer_view(("shop-999", "c-7"))
        reports = {t: await build_report(store, views, settings.lifespan_years, tenant=t)
                   for t in ("default", "shop-999")}
    finally:
        await store.close()

    assert len(scanned) == len(set(scanned)) == TENANTS * CUSTOMERS
    assert states == {("default", "c-7"): 107, ("shop-1", "c-7"): 207,
                      ("shop-999", "c-7"): 100007, ("shop-999", "c-99"): 100099}
    assert len(updates) == TENANTS * CUSTOMERS
    assert {(u["tenant_id"], u["customer_id"]) for u in updates} == {
        ("default" if t == 0 else f"shop-{t}", f"c-{c}")
        for t in range(TENANTS) for c in range(CUSTOMERS)}
    assert len({u["event_id"] for u in updates}) == len(updates)
    assert v1 is not None
    assert (v1["tenant_id"], v1["value"]["net_revenue"]) == ("default", "1.07")
    assert other is not None
    assert (other["tenant_id"], other["value"]["net_revenue"]) == ("shop-999", "1000.07")
    for tenant, amounts in (("default", 1), ("shop-999", 1000)):  # each of its 100 customers
        overall = reports[tenant]["overall"]
        assert (reports[tenant]["tenant_id"], overall["customers"]) == (tenant, CUSTOMERS)
        assert overall["revenue"] == f"{amounts * CUSTOMERS + sum(range(CUSTOMERS)) / 100:.2f}"

"""Tenants (contract v2): a customer is the pair (tenant_id, customer_id).

1,000 tenants of 100 customers each, every tenant using the same customer ids: 100,000
customers, each with its own state, outputs that name their tenant, and the v1 surface
(plain ids) addressing the default tenant's customers only; each tenant's report is its own.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import orjson
from pydantic import SecretStr
from rich.console import Console

from clv_stream.cli.fitting import fit_tenants
from clv_stream.devinfra import EmbeddedRedis
from clv_stream.domain.tenant import TenantSettings
from clv_stream.events.records import RawRecord
from clv_stream.pipeline import CustomerViews, Pipeline
from clv_stream.report import build_report
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order

TENANTS, CUSTOMERS, BATCH = 1000, 100, 2000
FIT_TENANT = "shop-999"


def _event(tenant: int, customer: int, repeat: bool = False) -> dict[str, object]:
    """A customer's first order, or (``repeat``: every other customer has one) its second,
    weeks later: enough repeat buyers for a tenant's own fit."""
    if repeat:
        event = order(order_id=f"o-{customer}-2", customer_id=f"c-{customer}",
                      amount=f"{customer % 13 + 1}.00",
                      occurred_at=f"2024-{4 + customer % 6:02d}-{1 + customer % 27:02d}T10:00:00Z")
    else:
        event = order(order_id=f"o-{customer}", customer_id=f"c-{customer}",
                      amount=f"{tenant + 1}.{customer:02d}", occurred_at="2024-03-01T10:00:00Z")
    if tenant:  # tenant 0 names none: the default tenant
        event["tenant_id"] = f"shop-{tenant}"
    return event


def _tenant(t: int) -> str:
    return "default" if t == 0 else f"shop-{t}"


async def test_the_same_customer_id_under_two_tenants_is_two_customers_and_fits_are_theirs(
        redis_server: EmbeddedRedis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = Settings(redis_url=SecretStr(redis_server.url), redis_key_prefix=prefix,
                        min_fit_customers=40)
    events = [_event(t, c) for t in range(TENANTS) for c in range(CUSTOMERS)]
    events += [_event(t, c, repeat=True) for t in range(TENANTS) for c in range(0, CUSTOMERS, 2)]
    store = RedisStore.from_url(redis_server.url, prefix=prefix)
    updates: list[dict[str, object]] = []
    sample = [(_tenant(t), f"c-{c}") for t in (0, 1, 500, 998, 999) for c in range(CUSTOMERS)]
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
            some = [("default", "c-7"), ("shop-1", "c-7"), ("shop-999", "c-7"),
                    ("shop-999", "c-99")]
            states = {s.key: s.summary.net_minor for s in await store.customers(some)}
            views = CustomerViews(settings, store)
            v1 = await views.customer_view("c-7")
            other = await views.customer_view(("shop-999", "c-7"))
            reports = {t: await build_report(store, views, settings.lifespan_years, tenant=t)
                       for t in ("default", "shop-999")}
            counts = await store.tenant_customers()
            before = {(v["tenant_id"], v["customer_id"]): v
                      for v in await views.customer_views(sample)}

            fitted = await fit_tenants(settings, Console(quiet=True), FIT_TENANT, "v-test",
                                       force=True)
            await views.set_tenants()
            after = {(v["tenant_id"], v["customer_id"]): v
                     for v in await views.customer_views(sample)}
            await pipeline.set_tenants(await store.tenants())
            late = [_event(999, 1, repeat=True) | {"order_id": "late-1"},
                    _event(1, 1, repeat=True) | {"order_id": "late-1"}]
            outcome = await pipeline.process(
                [RawRecord("orders", 0, len(events) + i, None, orjson.dumps(e))
                 for i, e in enumerate(late)])
            live = {u["tenant_id"]: u for u in (orjson.loads(r.value) for r in outcome.records
                                                if r.topic == settings.topic_updates)}
    finally:
        await store.close()

    assert len(scanned) == len(set(scanned)) == TENANTS * CUSTOMERS
    assert counts == {_tenant(t): CUSTOMERS for t in range(TENANTS)}
    assert states == {("default", "c-7"): 107, ("shop-1", "c-7"): 207,
                      ("shop-999", "c-7"): 100007, ("shop-999", "c-99"): 100099}
    assert {(u["tenant_id"], u["customer_id"]) for u in updates} == {
        (_tenant(t), f"c-{c}") for t in range(TENANTS) for c in range(CUSTOMERS)}
    assert len({u["event_id"] for u in updates}) == len(updates)
    assert v1 is not None
    assert (v1["tenant_id"], v1["value"]["net_revenue"]) == ("default", "1.07")
    assert other is not None
    assert (other["tenant_id"], other["value"]["net_revenue"]) == ("shop-999", "1000.07")
    for tenant, amounts in (("default", 1), ("shop-999", 1000)):  # each of its 100 customers
        overall = reports[tenant]["overall"]
        assert (reports[tenant]["tenant_id"], overall["customers"]) == (tenant, CUSTOMERS)
        repeat = sum(c % 13 + 1 for c in range(0, CUSTOMERS, 2))
        revenue = amounts * CUSTOMERS + sum(range(CUSTOMERS)) / 100 + repeat
        assert overall["revenue"] == f"{revenue:.2f}"

    # the fit of one tenant: a model of its own, scoring its customers and no one else's
    assert list(fitted["tenants"]) == [FIT_TENANT]
    assert fitted["platform"] is None
    own = fitted["tenants"][FIT_TENANT]["model"]["version"]
    assert own == f"v-test@{FIT_TENANT}"
    assert len(before) == len(after) == 5 * CUSTOMERS
    for key, view in after.items():
        if key[0] == FIT_TENANT:
            assert view["model_version"] == own
        else:
            assert view == before[key]
    assert any(after[k]["value"]["predicted_clv"] != before[k]["value"]["predicted_clv"]
               for k in after if k[0] == FIT_TENANT)
    # and the worker's hot path scores each tenant with its own model
    assert live[FIT_TENANT]["model_version"] == own
    assert live["shop-1"]["model_version"] == "default"


async def test_a_tenant_s_currency_margin_and_cut_points_are_its_own(
        redis_server: EmbeddedRedis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = Settings(fx_rates={"EUR": Decimal("1.25")}, default_margin=Decimal("0.5"))
    store = RedisStore.from_url(redis_server.url, prefix=prefix)
    try:
        await store.set_tenant("eu", TenantSettings(
            currency="EUR", default_margin=Decimal("0.2"),
            value_tier_cuts=(Decimal(1), Decimal(2), Decimal(3))))
        await store.set_tenant("gb", TenantSettings(currency="GBP",
                                                    fx_rates={"USD": Decimal("0.75")}))
        assert await store.tenants_revision() == 2
        with Pipeline(settings, store) as pipeline:
            await pipeline.set_tenants(await store.tenants())
            events = [order(customer_id="a", amount="100.00", currency="USD", tenant_id="eu"),
                      order(customer_id="a", amount="100.00", currency="USD"),
                      order(customer_id="a", amount="100.00", currency="USD", tenant_id="gb"),
                      order(customer_id="b", amount="10.00", currency="EUR", tenant_id="gb")]
            outcome = await pipeline.process([RawRecord("orders", 0, i, None, orjson.dumps(e))
                                              for i, e in enumerate(events)])
        values = {u["tenant_id"]: u for u in (orjson.loads(r.value) for r in outcome.records
                                              if r.topic == settings.topic_updates)}
        dead = [orjson.loads(r.value) for r in outcome.records
                if r.topic == settings.topic_deadletter]
        tiers = {s["tenant_id"]: s["to"] for s in (
            orjson.loads(r.value) for r in outcome.records if r.topic == settings.topic_segments)
            if s["dimension"] == "value_tier"}
    finally:
        await store.close()

    eu, platform, gb = values["eu"], values["default"], values["gb"]
    # USD 100 in EUR at the platform's rates crossed (1 / 1.25), margin 20 % against 50 %
    assert (eu["currency"], eu["current"]["net_revenue"], eu["current"]["historic_clv"]) == (
        "EUR", "80.00", "16.00")
    assert (platform["currency"], platform["current"]["historic_clv"]) == ("USD", "50.00")
    assert tiers["eu"] == "vip"
    assert tiers["default"] != "vip"
    # a tenant's own rate wins; a currency it has no rate for is dead-lettered
    assert (gb["currency"], gb["current"]["net_revenue"]) == ("GBP", "75.00")
    assert [d["error"]["code"] for d in dead] == ["unknown_currency"]

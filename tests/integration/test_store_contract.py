"""The state store contract: what the pipeline, the worker and the edges rely on of any store.

Every test runs against each registered store kind (``clv_stream.store.factory.STORES``),
opened by ``open_store`` as the worker opens it, on a real server. Adding a store: a module
implementing ``StateStore``, one entry in ``STORES``, and one entry in :data:`SERVERS` here
naming the server fixture it runs on (issue 23: ``"redis-cluster"``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest

from clv_stream.devinfra import EmbeddedRedisCluster
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.tenant import TenantSettings
from clv_stream.events.validation import Order
from clv_stream.exceptions import Fenced, StateRolledBack
from clv_stream.settings import Settings
from clv_stream.store.factory import STORES, open_store
from clv_stream.store.port import DueLook, Positioned, StateStore
from clv_stream.store.snapshot import Published

#: store kind -> the fixture of the server it runs on (its ``url`` goes in ``CLV_REDIS_URL``).
SERVERS = {"redis": "redis_server", "redis-cluster": "redis_cluster"}

TOPIC = "orders"
DAY = 86400
T0 = 1_700_000_000


@pytest.fixture(params=sorted(SERVERS))
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    server = request.getfixturevalue(SERVERS[request.param])
    settings = Settings(redis_url=server.url, redis_key_prefix=f"t{uuid.uuid4().hex[:8]}")
    s = open_store(settings, request.param)
    yield s
    await s.close()
    if request.param == "redis-cluster":
        _flush(server)


def _flush(cluster: EmbeddedRedisCluster) -> None:
    """Every primary's keys gone (the standalone tests flush their Redis too)."""
    for node in cluster.primaries():
        node.command("FLUSHALL")


def _placed(i: int, customer: str = "ann", amount: int = 1000) -> Order:
    return Order(f"o{i}:placed", "p", f"o{i}", customer, amount, T0 + i * DAY, 10000)


def test_every_registered_store_runs_the_contract() -> None:
    assert set(SERVERS) == set(STORES)


async def test_a_batch_is_applied_once_per_position_and_per_event_id(store: StateStore) -> None:
    batch = [Positioned(0, 0, _placed(0)), Positioned(0, 1, _placed(1, amount=250))]
    first = await store.apply(TOPIC, batch)
    assert (first.applied, first.duplicates, first.redelivered) == (2, 0, 0)
    assert [c.summary.net_minor for c in first.customers] == [1250]

    again = await store.apply(TOPIC, batch)  # Kafka redelivers the batch
    assert (again.applied, again.redelivered) == (0, 2)
    resent = await store.apply(TOPIC, [Positioned(0, 2, _placed(0))])  # the producer re-sent it
    assert (resent.applied, resent.duplicates) == (0, 1)

    [ann] = await store.customers(["ann"])
    assert ann.summary == Summary(2, 1250, 1250, T0, T0 + DAY, 2, 1000)
    assert await store.applied_offsets(TOPIC) == {0: 2}
    assert await store.clock() == T0 + DAY


async def test_customers_read_back_what_was_applied_and_scan_finds_them(
        store: StateStore) -> None:
    await store.apply(TOPIC, [Positioned(0, i, _placed(i, c)) for i, c in enumerate("abc")])
    found = await store.customers(["c", "nobody", "a"])
    assert [s.customer_id for s in found] == ["c", "a"]  # in the order asked, unknown left out
    assert await store.customer("nobody") is None
    seen = [key async for page in store.scan_customer_ids(count=2) for key in page]
    assert sorted(seen) == [("default", "a"), ("default", "b"), ("default", "c")]


async def test_the_same_customer_id_under_two_tenants_is_two_customers(
        store: StateStore) -> None:
    shop = Order("o1:placed", "p", "o1", "ann", 700, T0, 10000, None, "shop-1")
    await store.apply(TOPIC, [Positioned(0, 0, _placed(0)), Positioned(0, 1, shop)])
    found = await store.customers([("shop-1", "ann"), "ann", ("shop-2", "ann")])
    assert [(s.key, s.summary.net_minor) for s in found] == [
        (("shop-1", "ann"), 700), (("default", "ann"), 1000)]
    seen = sorted([key async for page in store.scan_customer_ids() for key in page])
    assert seen == [("default", "ann"), ("shop-1", "ann")]
    await store.publish([(("shop-1", "ann"), Published(found[0].summary, T0, "v1").encode(),
                          "", T0 + DAY)], TOPIC)
    [again] = await store.customers([("shop-1", "ann")])
    assert again.published == Published(found[0].summary, T0, "v1")
    assert (await store.customer("ann")).published is None  # type: ignore[union-attr]


async def test_publish_records_snapshots_and_confirmed_offsets(store: StateStore) -> None:
    result = await store.apply(TOPIC, [Positioned(1, 7, _placed(0))])
    [ann] = result.customers
    snapshot = Published(ann.summary, result.clock, "v1").encode()
    await store.publish([("ann", snapshot, "high|new", None)], TOPIC, confirmed={1: 7})

    [after] = await store.customers(["ann"])
    assert after.published == Published(ann.summary, result.clock, "v1")
    assert after.segments == "high|new"
    assert await store.confirmed_offsets(TOPIC) == {1: 7}
    # the next batch's customer row carries that snapshot, whole
    more = await store.apply(TOPIC, [Positioned(1, 8, _placed(3))])
    assert more.customers[0].pub == snapshot


async def test_due_customers_come_with_a_batch_of_their_home_and_can_be_postponed(
        store: StateStore) -> None:
    applied = await store.apply(TOPIC, [Positioned(3, 0, _placed(0))], home=True)
    [ann] = applied.customers
    assert ann.home == 3
    due_at = T0 + 30 * DAY
    await store.publish([("ann", Published(ann.summary, T0, "v1").encode(), "", due_at)], TOPIC)
    assert await store.due(due_at, 10, home=3) == [("default", "ann")]
    assert await store.due(due_at - 1, 10, home=3) == []

    other_home = await store.apply(TOPIC, [Positioned(4, 0, _placed(40, "bob"))],
                                   look=DueLook([4], 10))
    assert other_home.due == []
    looked = await store.apply(TOPIC, [], look=DueLook([3], 10), as_of=due_at)
    assert [s.customer_id for s in looked.due] == ["ann"]

    await store.postpone(looked.due, due_at + DAY)
    assert await store.due(due_at, 10, home=3) == []
    assert await store.due(due_at + DAY, 10, home=3) == [("default", "ann")]


async def test_a_lease_is_held_by_one_owner_at_a_time(store: StateStore) -> None:
    assert await store.take_lease("refit:v2", "w1", 60)
    assert not await store.take_lease("refit:v2", "w2", 60)
    assert not await store.renew_lease("refit:v2", "w2", 60)
    assert await store.renew_lease("refit:v2", "w1", 60)
    await store.release_lease("refit:v2", "w2")  # not w2's: nothing changes
    assert not await store.take_lease("refit:v2", "w2", 60)
    await store.release_lease("refit:v2", "w1")
    assert await store.take_lease("refit:v2", "w2", 60)


async def test_a_flag_is_set_until_it_expires(store: StateStore) -> None:
    assert not await store.flag("refit:v2:done")
    await store.set_flag("refit:v2:done", 60)
    assert await store.flag("refit:v2:done")


async def test_models_round_trip_and_one_is_current(store: StateStore) -> None:
    assert await store.current_model() is None
    first = dataclasses.replace(ScoringModel.default(), version="v1", tier_cuts=(1.0, 2.0, 3.0))
    second = dataclasses.replace(first, version="v2")
    await store.save_model(first)
    await store.save_model(second, make_current=False)
    assert await store.current_model() == first
    assert await store.model("v2") == second
    assert await store.model("v3") is None


async def test_a_claim_bumps_the_generation_and_a_stale_fence_is_refused(
        store: StateStore) -> None:
    had_state, [old] = await store.claim(TOPIC, {0: 0})
    assert not had_state
    await store.apply(TOPIC, [Positioned(0, 0, _placed(0))], fence={0: (old.generation, -1)})
    had_state, [new] = await store.claim(TOPIC, {0: 0})
    assert had_state
    assert (new.generation, new.applied, new.confirmed) == (old.generation + 1, 0, -1)

    with pytest.raises(Fenced):
        await store.apply(TOPIC, [Positioned(0, 1, _placed(1))], fence={0: (old.generation, 0)})
    with pytest.raises(Fenced):
        await store.publish([], TOPIC, {0: (old.generation, 0)}, {0: 0})
    assert await store.applied_offsets(TOPIC) == {0: 0}
    assert await store.confirmed_offsets(TOPIC) == {}


async def test_a_claim_says_how_a_batch_applied_but_not_confirmed_was_scored(
        store: StateStore) -> None:
    """What the worker needs to replay that batch byte for byte (see ``Replay``)."""
    _, [first] = await store.claim(TOPIC, {0: 0})
    await store.apply(TOPIC, [Positioned(0, 0, _placed(0))], fence={0: (first.generation, -1)},
                      positions={0: 0}, as_of=T0 + 5 * DAY, model_version="v7")
    _, [again] = await store.claim(TOPIC, {0: first.generation})
    assert (again.applied, again.confirmed) == (0, -1)
    assert (again.as_of, again.model_version) == (T0 + 5 * DAY, "v7")


async def test_a_writer_that_saw_more_applied_than_the_store_holds_is_refused(
        store: StateStore) -> None:
    """A store that went back in time (a failover to a lagging replica) writes nothing."""
    _, [claim] = await store.claim(TOPIC, {0: 0})
    await store.apply(TOPIC, [Positioned(0, 0, _placed(0))], fence={0: (claim.generation, -1)})
    with pytest.raises(StateRolledBack):  # this worker saw offset 5 applied; the store has 0
        await store.apply(TOPIC, [Positioned(0, 6, _placed(6))], fence={0: (claim.generation, 5)})
    assert await store.applied_offsets(TOPIC) == {0: 0}


async def test_a_store_answers_ping(store: StateStore) -> None:
    assert await store.ping()


async def test_tenants_settings_round_trip_and_customers_are_counted_per_tenant(
        store: StateStore) -> None:
    assert (await store.tenants(), await store.tenants_revision()) == ({}, 0)
    await store.set_tenant("eu", TenantSettings(currency="EUR"))
    await store.set_tenant("eu", TenantSettings(currency="EUR", model_version="v1@eu"))
    assert await store.tenants() == {"eu": TenantSettings(currency="EUR", model_version="v1@eu")}
    assert await store.tenants_revision() == 2

    def placed(i: int, customer: str, tenant: str) -> Positioned:
        return Positioned(0, i, _placed(i, customer)._replace(tenant=tenant))

    await store.apply(TOPIC, [placed(0, "ann", "eu"), placed(1, "bob", "eu"),
                              placed(2, "ann", "default"), placed(3, "ann", "eu")])
    await store.apply(TOPIC, [placed(3, "ann", "eu"), placed(4, "cy", "eu")])  # redelivered
    assert await store.tenant_customers() == {"eu": 3, "default": 1}


def _subscription(i: int, line_id: str, customer: str = "ann") -> Positioned:
    """A subscription event as the store sees it: an upper-case kind, and its line for the
    customer's set of subscription events in the order_id slot."""
    line = f"\n{line_id}\tS\tsub-1\t{T0 + i}\t1000\tmonth\t1\t\t"
    return Positioned(0, i, Order(line_id, "S", line, customer, 1000, T0 + i, 10000))


async def test_subscription_events_are_kept_once_as_a_set(store: StateStore) -> None:
    await store.apply(TOPIC, [_subscription(0, "e1"), _subscription(1, "e2")])
    again = await store.apply(TOPIC, [_subscription(2, "e1")])  # re-sent: deduplicated
    assert (again.applied, again.duplicates) == (0, 1)
    [ann] = await store.customers(["ann"])
    assert ann.subscriptions.count("\ne1\t") == ann.subscriptions.count("\ne2\t") == 1
    assert ann.summary.orders == 0  # subscription payments are not orders


async def test_subscription_totals_are_the_sum_of_what_customers_published_last(
        store: StateStore) -> None:
    from clv_stream.store.types import PublishEntry

    await store.apply(TOPIC, [_subscription(0, "e1"), _subscription(1, "f1", "bob")])
    await store.publish([PublishEntry("ann", "", "", None, "2024-01|new:1=4800;2024-01|n=1"),
                         PublishEntry("bob", "", "", None, "2024-01|new:1=100;2024-02|n=1")])
    assert await store.subscription_totals("default") == {
        ("2024-01", "new:1"): 4900, ("2024-01", "n"): 1, ("2024-02", "n"): 1}
    # ann's totals are replaced (a replay of the same publication changes nothing)
    for _ in range(2):
        await store.publish([PublishEntry("ann", "", "", None, "2024-01|new:1=9600")])
    await store.publish([PublishEntry("bob", "", "", None, None)])  # unchanged
    assert await store.subscription_totals("default") == {
        ("2024-01", "new:1"): 9700, ("2024-02", "n"): 1}
    assert await store.subscription_totals("shop-1") == {}
    assert await store.subscription_tenants() == {"default"}


async def test_a_customer_s_history_keeps_the_newest_points_once_each(store: StateStore) -> None:
    from clv_stream.store.types import PublishEntry

    await store.apply(TOPIC, [_subscription(0, "e1")])
    for i in range(5):
        entry = PublishEntry("ann", "", "", None, None, f"point-{i}", 3)
        for _ in range(2):  # a replayed publication adds nothing
            await store.publish([entry])
    await store.publish([PublishEntry(("shop-1", "ann"), "", "", None, None, "theirs", 3)])
    await store.publish([PublishEntry("ann", "", "", None, None, None, 3)])  # no new point
    assert await store.history("ann") == ["point-4", "point-3", "point-2"]
    assert await store.history(("default", "ann")) == ["point-4", "point-3", "point-2"]
    assert await store.history(("shop-1", "ann")) == ["theirs"]
    assert await store.history("nobody") == []
    # history keys are no customers to a scan, even of an id that looks like a key
    await store.publish([PublishEntry(("shop-1", "x:c:y"), "", "", None, None, "p", 3)])
    seen = sorted([key async for page in store.scan_customer_ids() for key in page])
    assert ("shop-1", "y") not in seen
    assert not [k for k in seen if ":h:" in k[0] or ":h:" in k[1]]


async def test_a_value_published_unchanged_follows_its_segment_cell(store: StateStore) -> None:
    """``portfolio=None`` means the value inputs are unchanged; a new segment cell still moves
    them, so the report's cells always hold each customer's last published labels."""
    from clv_stream.store.types import PublishEntry

    await store.apply(TOPIC, [Positioned(0, 0, _placed(0))])
    await store.publish([PublishEntry("ann", "", "tier-a", None, portfolio="1|2500||2500|24290|2|web")])
    await store.publish([PublishEntry("ann", "", "tier-b", None, portfolio=None)])
    cells = {f: n for f, n in (await store.portfolio_totals("default")).items()
             if f.startswith("so:")}
    assert cells == {"so:n:tier-b": 1, "so:o:tier-b": 1, "so:r:tier-b": 2500,
                     "so:h:tier-b": 2500, "so:t:tier-b": 2500}

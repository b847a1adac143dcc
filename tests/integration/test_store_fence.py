"""Offsets live with the state, and the state's owner is fenced: against a real redis-server.

Each test states a defect of the trust review it guards against (docs/reliability.md).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.events.validation import Order
from clv_stream.exceptions import Fenced, StateRolledBack, StoreUnavailable
from clv_stream.store.port import DueLook, Positioned
from clv_stream.store.redis_store import RedisStore

TOPIC = "orders"


@pytest.fixture
async def store(redis_server: EmbeddedRedis) -> AsyncIterator[RedisStore]:
    s = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    yield s
    await s.close()


def _order(i: int, customer: str = "c1", order_id: str | None = None) -> Order:
    oid = order_id or f"o{i}"
    return Order(f"{oid}:order_placed", "p", oid, customer, 1000 + i, 1_700_000_000 + i * 86400,
                 10000)


async def test_a_new_owner_fences_the_previous_one(store: RedisStore) -> None:
    """Review row 7: a worker that lost its partition could overwrite the new owner's state."""
    _, [old] = await store.claim(TOPIC, {0: 0})
    await store.apply(TOPIC, [Positioned(0, 0, _order(0))], fence={0: (old.generation, -1)})
    _, [new] = await store.claim(TOPIC, {0: 0})
    assert (new.generation, new.applied) == (old.generation + 1, 0)

    before = await store.customer("c1")
    with pytest.raises(Fenced):
        await store.apply(TOPIC, [Positioned(0, 1, _order(1))], fence={0: (old.generation, 0)})
    with pytest.raises(Fenced):
        await store.publish([("c1", "stale|snapshot", "x|y|z", None)], TOPIC,
                            {0: (old.generation, 0)}, {0: 0})
    assert await store.customer("c1") == before  # nothing written by the refused calls
    assert await store.applied_offsets(TOPIC) == {0: 0}
    assert await store.confirmed_offsets(TOPIC) == {}

    # taking the partition back with the old generation is refused too
    _, [back] = await store.claim(TOPIC, {0: old.generation})
    assert back.generation == -1


async def test_redis_that_went_back_is_noticed_before_anything_is_written(
        store: RedisStore) -> None:
    """Review row 1: acknowledged writes lost by Redis were never re-read."""
    _, [claim] = await store.claim(TOPIC, {0: 0})
    gen = claim.generation
    await store.apply(TOPIC, [Positioned(0, i, _order(i)) for i in range(3)], fence={0: (gen, -1)})
    await store.publish([], TOPIC, {0: (gen, 2)}, {0: 2})
    assert await store.confirmed_offsets(TOPIC) == {0: 2}

    # this worker saw offset 5 applied; Redis now says 2: it went back (a restore, a failover)
    with pytest.raises(StateRolledBack):
        await store.apply(TOPIC, [Positioned(0, 6, _order(6))], fence={0: (gen, 5)})
    with pytest.raises(StateRolledBack):  # the batch confirmed must still be applied
        await store.publish([], TOPIC, {0: (gen, 5)}, {0: 5})
    assert await store.applied_offsets(TOPIC) == {0: 2}
    assert (await store.customer("c1")).summary.orders == 3  # type: ignore[union-attr]

    # a lost generation (Redis older than the claim) is a rollback too; taking the partition
    # back restores this worker's generation and reports the offsets to re-read from
    await store.client.hset(store.key("{0}", "part", TOPIC), "g:0", gen - 1)
    with pytest.raises(StateRolledBack):
        await store.apply(TOPIC, [], look=DueLook([0], 0), fence={0: (gen, 2)})
    had_state, [back] = await store.claim(TOPIC, {0: gen})
    assert had_state
    assert back[:4] == (0, gen, 2, 2)


async def test_a_redis_without_our_state_is_told_from_one_with_it(store: RedisStore) -> None:
    had_state, [claim] = await store.claim(TOPIC, {3: 0})
    assert not had_state
    assert claim[:4] == (3, 1, -1, -1)
    had_state, _ = await store.claim(TOPIC, {3: 0})
    assert had_state


async def test_offsets_of_the_earlier_layout_are_carried_over(store: RedisStore) -> None:
    await store.client.hset(store.key("off", TOPIC), mapping={"0": 41, "1": 7})
    _, claims = await store.claim(TOPIC, {0: 0, 1: 0, 2: 0})
    assert [(c.partition, c.applied, c.confirmed) for c in claims] == [
        (0, 41, 41), (1, 7, 7), (2, -1, -1)]
    assert await store.applied_offsets(TOPIC) == {0: 41, 1: 7}


async def test_two_customers_sharing_an_order_id_both_count(store: RedisStore) -> None:
    """Review row 3: dedupe keys were platform-wide, so the second customer's order (same
    order_id, so the same default event_id) was dropped as a duplicate."""
    result = await store.apply(TOPIC, [Positioned(0, 0, _order(0, "alice", "1001")),
                                       Positioned(0, 1, _order(1, "bob", "1001")),
                                       Positioned(0, 2, _order(2, "bob", "1001"))])
    assert (result.applied, result.duplicates) == (2, 1)
    states = {s.customer_id: s.summary.orders for s in await store.customers(["alice", "bob"])}
    assert states == {"alice": 1, "bob": 1}


async def test_a_customer_id_with_colons_cannot_collide(store: RedisStore) -> None:
    a = Order("d:e", "p", "o1", "b:c", 100, 1_700_000_000, 10000)
    b = Order("c:d:e", "p", "o2", "b", 100, 1_700_000_000, 10000)  # "b" + ":c:d:e" == "b:c" + ":d:e"
    result = await store.apply(TOPIC, [Positioned(0, 0, a), Positioned(0, 1, b)])
    assert result.applied == 2


async def test_redis_refusing_writes_is_an_outage_not_a_crash(
        store: RedisStore, redis_server: EmbeddedRedis) -> None:
    """Review row 5: OOM (maxmemory + noeviction) escaped the retry and killed the worker."""
    admin = aioredis.Redis.from_url(redis_server.url)
    used = (await admin.info("memory"))["used_memory"]
    await admin.config_set("maxmemory-policy", "noeviction")
    await admin.config_set("maxmemory", str(max(used // 2, 1)))
    try:
        with pytest.raises(StoreUnavailable, match="OOM"):
            await store.apply(TOPIC, [Positioned(0, 0, _order(0))])
    finally:
        await admin.config_set("maxmemory", "0")
        await admin.aclose()
    assert (await store.apply(TOPIC, [Positioned(0, 0, _order(0))])).applied == 1


async def test_a_batch_ending_in_dead_letters_is_applied_up_to_its_last_offset(
        store: RedisStore) -> None:
    """The suite caught a false "Redis went back in time": the batch's last records were
    invalid, so the applied offset stopped short of the offset the batch confirmed."""
    _, [claim] = await store.claim(TOPIC, {0: 0})
    gen = claim.generation
    await store.apply(TOPIC, [Positioned(0, 0, _order(0))], fence={0: (gen, -1)},
                      positions={0: 4})  # offsets 1-4: dead-lettered
    await store.publish([], TOPIC, {0: (gen, 4)}, {0: 4})
    assert await store.confirmed_offsets(TOPIC) == {0: 4}


async def test_a_batch_applied_but_not_confirmed_can_be_replayed_alike(store: RedisStore) -> None:
    _, [claim] = await store.claim(TOPIC, {0: 0})
    gen = claim.generation
    first = await store.apply(TOPIC, [Positioned(0, 0, _order(0))], fence={0: (gen, -1)},
                              positions={0: 0}, model_version="m1")
    await store.publish([], TOPIC, {0: (gen, 0)}, {0: 0})
    second = await store.apply(TOPIC, [Positioned(0, 1, _order(30))], fence={0: (gen, 0)},
                               positions={0: 1}, model_version="m2")
    assert second.clock > first.clock
    # a crash before the second batch was confirmed: the next owner learns how it was scored
    _, [again] = await store.claim(TOPIC, {0: 0})
    assert again[2:6] == (1, 0, second.clock, "m2")
    replayed = await store.apply(TOPIC, [Positioned(0, 1, _order(30))], fence={
        0: (again.generation, 1)}, positions={0: 1}, as_of=second.clock, model_version="m2")
    assert (replayed.clock, replayed.redelivered, replayed.applied) == (second.clock, 1, 0)


async def test_a_look_at_due_customers_is_pending_until_published(store: RedisStore) -> None:
    """Time-driven outputs of a look never published (a crash, SIGTERM with the broker down)
    are replayed at the look's event time, not recomputed later with another ``previous``."""
    _, [claim] = await store.claim(TOPIC, {0: 0})
    fence = {0: (claim.generation, -1)}
    await store.apply(TOPIC, [Positioned(0, 0, _order(0))], home=True, fence=fence,
                      positions={0: 0})
    await store.publish([("c1", "", "", 1_700_000_000)], TOPIC, {0: (claim.generation, 0)},
                        {0: 0})
    looked = await store.apply(TOPIC, [], look=DueLook([0], 10),
                               fence={0: (claim.generation, 0)})
    assert [s.customer_id for s in looked.due] == ["c1"]
    _, [pending] = await store.claim(TOPIC, {0: claim.generation})
    assert pending.look == looked.clock
    await store.publish([("c1", "", "", None)], TOPIC, {0: (claim.generation, 0)})
    _, [done] = await store.claim(TOPIC, {0: claim.generation})
    assert done.look == 0

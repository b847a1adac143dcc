"""Scenario 7: every event published twice, all shuffled (seeded), and pairs of customers
whose orders share order ids (order numbers are per shop: the same ``order_id`` under two
``customer_id`` is two orders, both counted; the dedupe scope is the customer)."""

from __future__ import annotations

import random
from typing import Any

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.reliability.rig import Rig, make_orders, pick, scenario

ORDERS = pick(1_500, 10_000)
SHARED = pick(100, 1_000)  # order ids each used by two customers
SEED = 20267


def _shared_order_ids(prefix: str, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """For each k: customers ``{prefix}a{k}`` and ``{prefix}b{k}`` both place ``{prefix}o{k}``
    (different amounts), and one of the two also refunds or cancels it."""
    events = []
    for k in range(n):
        oid = f"{prefix}o{k}"
        for side in "ab":
            cid = f"{prefix}{side}{k:05d}"
            when = f"2025-0{1 + k % 9}-{1 + k % 28:02d}T{k % 24:02d}:00:00+00:00"
            amount = f"{rng.randint(100, 9999) / 100:.2f}"
            events.append({"schema_version": 1, "event_type": "order_placed", "order_id": oid,
                           "customer_id": cid, "amount": amount, "currency": "USD",
                           "occurred_at": when})
            if side == "b" and k % 3 == 0:
                events.append({"schema_version": 1, "event_type": "order_refunded",
                               "order_id": oid, "customer_id": cid, "amount": "0.50",
                               "currency": "USD", "occurred_at": when})
            if side == "a" and k % 5 == 0:
                events.append({"schema_version": 1, "event_type": "order_cancelled",
                               "order_id": oid, "customer_id": cid, "amount": amount,
                               "currency": "USD", "occurred_at": when})
    return events


async def test_duplicates_shuffled_and_shared_order_ids(rel_broker: EmbeddedBroker,
                                                        rel_redis: EmbeddedRedis) -> None:
    async with scenario("duplicates_shuffled") as sc:
        rng = random.Random(SEED)
        rig = sc.rig = Rig(rel_broker, rel_redis, batch_max_records=300)
        try:
            distinct = make_orders("du-", customers=ORDERS // 4, orders=ORDERS, seed=SEED)
            distinct += _shared_order_ids("dus-", SHARED, rng)
            twice = distinct + distinct
            rng.shuffle(twice)
            await rig.aspawn()
            high = await rig.publish(twice)
            settled = await rig.settle(high, limit_s=pick(120, 300))
            sc.set(distinct_events=len(distinct), shared_order_ids=SHARED)
            sc.check(settled, f"not settled: applied {await rig.applied()}, committed "
                     f"{await rig.committed()}, published up to {high}")
            await sc.judge(rig)
        finally:
            rig.close()

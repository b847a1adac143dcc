"""The worker end to end on a Redis Cluster (``CLV_REDIS_CLUSTER=true``): the aggregates
equal a batch computation of the orders, keyed by customer or not."""

from __future__ import annotations

import random
from collections.abc import Iterator

import orjson
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedisCluster
from clv_stream.store.redis_cluster_store import RedisClusterStore
from tests.integration.harness import Harness
from tests.integration.test_worker_e2e import _assert_state_equals_batch, _shop


@pytest.fixture(scope="module")
def harness(kafka_broker: EmbeddedBroker,
            redis_cluster: EmbeddedRedisCluster) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_cluster, redis_cluster=True) as h:
        yield h


async def test_orders_in_give_the_batch_aggregates_on_a_cluster(harness: Harness) -> None:
    events = _shop("cl-", customers=80, seed=21)
    await harness.wait_confirmed(await harness.produce_events(events))
    state = await _assert_state_equals_batch(harness, events)
    assert sum(s.orders for s in state.values()) > 80
    store = harness.store()
    try:
        assert isinstance(store, RedisClusterStore)
        assert await store.slot_groups() == harness.settings.topic_partitions
        seen = {key async for page in store.scan_customer_ids() for key in page}
        assert {("default", cid) for cid in state} <= seen
    finally:
        await store.close()


async def test_wrongly_keyed_events_give_the_same_state_on_a_cluster(harness: Harness) -> None:
    events = _shop("clk-", customers=40, seed=22)
    rnd = random.Random(4)
    rnd.shuffle(events)
    keys = [None, b"", b"someone-else"]
    high = await harness.produce(
        (rnd.choice(keys) if i % 2 else e["customer_id"].encode(), orjson.dumps(e))
        for i, e in enumerate(events))
    await harness.wait_applied(high)
    await _assert_state_equals_batch(harness, events)

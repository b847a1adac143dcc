"""What the cluster store adds to the store contract, on the 3-primary embedded cluster:
one script call per slot group a batch touches, and each group applies a batch once per
position even when another group's call failed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.crc import key_slot

from clv_stream.devinfra import EmbeddedRedisCluster
from clv_stream.devinfra.redis_cluster import RedisClusterNode
from clv_stream.events.validation import Order
from clv_stream.exceptions import StoreUnavailable
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import DueLook, Positioned
from clv_stream.store.redis_cluster_store import RedisClusterStore
from clv_stream.store.slot_groups import group_tags, groups_of

TOPIC = "orders"
GROUPS = 4
T0 = 1_700_000_000


@pytest.fixture
def cluster(redis_cluster: EmbeddedRedisCluster) -> Iterator[EmbeddedRedisCluster]:
    yield redis_cluster
    for node in redis_cluster.primaries():
        node.command("CONFIG", "SET", "maxmemory", "0")
        node.command("FLUSHALL")


@pytest.fixture
async def store(cluster: EmbeddedRedisCluster) -> AsyncIterator[RedisClusterStore]:
    settings = Settings(redis_url=cluster.url, redis_cluster=True, redis_slot_groups=GROUPS,
                        redis_key_prefix=f"t{uuid.uuid4().hex[:8]}")
    s = open_store(settings)
    assert isinstance(s, RedisClusterStore)
    yield s
    await s.close()


def _customers(group: int, count: int) -> list[str]:
    """``count`` customer ids of slot group ``group``."""
    ids = [f"c{i}" for i in range(400)]
    return [c for c, g in zip(ids, groups_of(ids, GROUPS), strict=True) if g == group][:count]


def _placed(i: int, customer: str) -> Order:
    return Order(f"o{i}:placed", "p", f"o{i}", customer, 1000 + i, T0 + i, 10000)


def _script_calls(cluster: EmbeddedRedisCluster) -> int:
    total = 0
    for node in cluster.primaries():
        stats = node.command("INFO", "commandstats")
        total += sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))
    return total


def _owner(cluster: EmbeddedRedisCluster, group: int) -> RedisClusterNode:
    slot = key_slot(group_tags(GROUPS)[group].encode())
    for node in cluster.primaries():
        if any(low <= slot <= high for low, high in cluster.slot_range(node)):
            return node
    raise AssertionError(f"no primary serves slot {slot}")


async def test_a_batch_of_one_partition_keyed_by_customer_is_one_script_call(
        store: RedisClusterStore, cluster: EmbeddedRedisCluster) -> None:
    _, [claim] = await store.claim(TOPIC, {1: 0})
    fence = {1: (claim.generation, -1)}
    await store.apply(TOPIC, [Positioned(1, 0, _placed(0, _customers(1, 1)[0]))], True,
                      DueLook([1], 10), fence, {1: 0})  # scripts loaded
    batch = [Positioned(1, i, _placed(i, c)) for i, c in enumerate(_customers(1, 20), 1)]
    before = _script_calls(cluster)
    result = await store.apply(TOPIC, batch, True, DueLook([1], 10), {1: (claim.generation, 0)},
                               {1: 20})
    assert _script_calls(cluster) - before == 1
    assert result.applied == 20
    mixed = [Positioned(1, 21 + i, _placed(21 + i, c))
             for i, c in enumerate(_customers(0, 3) + _customers(2, 3))]
    before = _script_calls(cluster)
    await store.apply(TOPIC, mixed, fence={1: (claim.generation, 20)}, positions={1: 26})
    assert _script_calls(cluster) - before <= 3  # groups 0 and 2, and the partition's home (1)


async def test_each_group_applies_a_batch_once_when_another_groups_call_failed(
        store: RedisClusterStore, cluster: EmbeddedRedisCluster) -> None:
    _, [claim] = await store.claim(TOPIC, {0: 0})
    names = _customers(0, 3) + _customers(1, 3) + _customers(3, 3)
    batch = [Positioned(0, i, _placed(i, c)) for i, c in enumerate(names)]
    refused = _owner(cluster, 3)
    refused.command("CONFIG", "SET", "maxmemory", "1")  # group 3's primary refuses writes (OOM)
    with pytest.raises(StoreUnavailable):
        await store.apply(TOPIC, batch, fence={0: (claim.generation, -1)}, positions={0: 8})
    refused.command("CONFIG", "SET", "maxmemory", "0")
    assert refused not in (_owner(cluster, 0), _owner(cluster, 1))  # 3 primaries, slots split evenly
    assert len(await store.customers(names[:6])) == 6  # groups 0 and 1 applied their part
    assert await store.customers(names[6:]) == []
    # the groups that applied hold the batch's offset; group 3, never called, holds none
    assert await store.applied_offsets(TOPIC) == {0: 8}

    again = await store.apply(TOPIC, batch, fence={0: (claim.generation, -1)}, positions={0: 8})
    assert (again.applied, again.redelivered) == (3, 6)
    once_more = await store.apply(TOPIC, batch, fence={0: (claim.generation, 8)}, positions={0: 8})
    assert (once_more.applied, once_more.redelivered) == (0, 9)
    states = await store.customers(names)
    assert [(s.customer_id, s.summary.orders, s.summary.net_minor) for s in states] == [
        (c, 1, 1000 + i) for i, c in enumerate(names)]
    assert await store.applied_offsets(TOPIC) == {0: 8}

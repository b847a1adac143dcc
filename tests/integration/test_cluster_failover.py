"""A primary of the cluster dies after its replica was cut off: the promoted replica has
lost writes the worker had applied (and acknowledged). The worker notices (the lost slot
group's applied offset is below what it wrote there: StateRolledBack), re-reads, and when
the stream is done every customer's aggregates equal a batch computation of the orders.

Its own cluster: it breaks one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from redis.crc import key_slot

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedisCluster
from clv_stream.devinfra.redis_cluster import RedisClusterNode
from clv_stream.domain.aggregate import Summary, aggregate_of
from clv_stream.store.slot_groups import group_tags, groups_of
from tests.integration.harness import Harness
from tests.integration.test_worker_e2e import _shop, _validated

logger = logging.getLogger(__name__)

PARTITIONS = 4  # = slot groups: partition p's customers are group p's


def _group_primary(cluster: EmbeddedRedisCluster, avoid: str) -> tuple[int, RedisClusterNode]:
    """A slot group and the primary serving it (not the node at URL ``avoid``)."""
    for g, tag in enumerate(group_tags(PARTITIONS)):
        slot = key_slot(tag.encode())
        for node in cluster.primaries():
            if node.url != avoid and any(lo <= slot <= hi for lo, hi in cluster.slot_range(node)):
                return g, node
    raise AssertionError("every group is served by the node the worker was pointed at")


def _applied(node: RedisClusterNode, h: Harness, group: int) -> dict[int, int]:
    """The group's applied offsets as ``node`` holds them (a replica's too: READONLY)."""
    tag = group_tags(PARTITIONS)[group]
    key = f"{h.settings.redis_key_prefix}:{{{tag}}}:{{0}}:part:{h.settings.topic_orders}"
    conn = node.client()
    try:
        conn.execute_command("READONLY")  # type: ignore[no-untyped-call]
        stored = conn.hgetall(key)
    finally:
        conn.close()
    fields = {_text(f): _text(v) for f, v in stored.items()}
    return {int(f[2:]): int(v) for f, v in fields.items() if f.startswith("a:")}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _wave(prefix: str, seed: int, group: int) -> list[dict[str, Any]]:
    events = _shop(prefix, customers=40, seed=seed)
    assert group in groups_of([e["customer_id"] for e in events], PARTITIONS)
    return events


async def _until_equal(h: Harness, events: list[dict[str, Any]], limit_s: float) -> None:
    expected = aggregate_of(_validated(h, events))
    deadline = time.monotonic() + limit_s
    while True:
        actual = await h.summaries(sorted(expected))
        got = {cid: actual.get(cid, Summary()) for cid in expected}
        if got == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    wrong = sorted(cid for cid in expected if got[cid] != expected[cid])
    assert not wrong, f"{len(wrong)} customers differ, e.g. {wrong[:3]}"


@pytest.mark.timeout(120)
async def test_the_worker_recovers_what_a_failover_lost(kafka_broker: EmbeddedBroker) -> None:
    began = time.monotonic()
    with EmbeddedRedisCluster(node_timeout_ms=1000) as cluster, \
            Harness.running(kafka_broker, cluster, redis_cluster=True,
                            topic_partitions=PARTITIONS) as h:
        group, primary = _group_primary(cluster, h.settings.redis_dsn)
        replica = cluster.replica_of(primary)
        first = _wave("fo1-", 31, group)
        await h.wait_confirmed(await h.produce_events(first))
        cluster.cut_off(replica)  # from now on, the group's writes exist on its primary only
        second = _wave("fo2-", 32, group)
        high = await h.produce_events(second)
        await h.wait_confirmed(high)
        held = _applied(primary, h, group)
        assert held.get(group, -1) >= high[group]  # applied and acknowledged by the primary

        cluster.kill(primary)
        cluster.resume(replica)
        # Read before the promotion: afterwards the worker may already have re-applied what
        # was lost. All the replica will ever hold came from before the cut-off.
        promoted = _applied(replica, h, group)
        waited = cluster.wait_for_failover(primary, 30.0)
        logger.info("failover in %.1f s; group %s held %s, the replica %s", waited, group,
                    held, promoted)
        assert promoted.get(group, -1) < held[group], "the failover lost nothing: no test"

        recovering = time.monotonic()
        third = _wave("fo3-", 33, group)
        await h.wait_confirmed(await h.produce_events(third), limit_s=60)
        await _until_equal(h, first + second + third, limit_s=30)
        logger.info("recovered %.1f s after the failover; test body %.1f s",
                    time.monotonic() - recovering, time.monotonic() - began)
        status, body = h.get("/metrics")
        assert status == 200
        assert b'clv_reliability_events_total{event="rolled_back"}' in body

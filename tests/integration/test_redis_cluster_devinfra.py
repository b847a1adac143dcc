"""The embedded Redis Cluster: it forms, serves a cluster client, and fails over for real.

The cluster store and its tests run on this; here the infrastructure itself is checked,
including that a failover after a lagging replica loses acknowledged writes (the case the
store must survive), so that a later store test cannot pass by accident on a cluster
that never lost anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterCrossSlotError, RedisClusterException
from redis.retry import Retry

from clv_stream.devinfra import EmbeddedRedisCluster
from clv_stream.devinfra.redis_cluster import CLUSTER_SLOTS, RedisClusterNode

logger = logging.getLogger(__name__)

FAILOVER_DEADLINE_S = 30.0


def _keys_in_slots(client: RedisCluster, ranges: list[tuple[int, int]], prefix: str, count: int) -> list[str]:
    """``count`` distinct keys whose hash slots fall in ``ranges``."""
    keys: list[str] = []
    index = 0
    while len(keys) < count:
        key = f"{prefix}{index}"
        index += 1
        slot = client.keyslot(key)
        if any(low <= slot <= high for low, high in ranges):
            keys.append(key)
    return keys


@pytest.fixture
def cluster_client(redis_cluster: EmbeddedRedisCluster) -> Iterator[RedisCluster]:
    client = RedisCluster.from_url(redis_cluster.url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


def test_cluster_forms_with_a_replica_per_primary(redis_cluster: EmbeddedRedisCluster) -> None:
    logger.info("session cluster formed in %.3f s", redis_cluster.startup_s)
    primaries = redis_cluster.primaries()
    assert len(primaries) == 3
    assert len(redis_cluster.nodes) == 6
    covered = 0
    for primary in primaries:
        assert primary.role() == "master"
        replica = redis_cluster.replica_of(primary)
        assert replica not in primaries
        assert replica.role() == "slave"
        assert replica.pid is not None
        assert replica.port != primary.port
        covered += sum(high - low + 1 for low, high in redis_cluster.slot_range(primary))
    assert covered == CLUSTER_SLOTS
    for node in redis_cluster.nodes:
        info = node.cluster_info()
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == str(CLUSTER_SLOTS)
        assert info["cluster_known_nodes"] == "6"
    assert len(redis_cluster.urls) == 6
    assert redis_cluster.url in redis_cluster.urls


def test_a_cluster_client_writes_and_reads_across_slots(
    redis_cluster: EmbeddedRedisCluster, cluster_client: RedisCluster
) -> None:
    keys = [f"devinfra-rw-{i}" for i in range(40)]
    owners = set()
    for key in keys:
        cluster_client.set(key, key.upper())
        owners.add(cluster_client.get_node_from_key(key).port)
    assert len(owners) == 3  # the keys landed on every primary
    assert [cluster_client.get(key) for key in keys] == [key.upper() for key in keys]
    cluster_client.delete(*keys)


def test_lua_on_one_hash_tag_runs_and_across_slots_is_refused(
    cluster_client: RedisCluster,
) -> None:
    script = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1"
    same = ["{cust-42}:state", "{cust-42}:model"]
    assert cluster_client.keyslot(same[0]) == cluster_client.keyslot(same[1])
    assert cluster_client.eval(script, 2, *same, "v") == 1
    assert cluster_client.mget(same) == ["v", "v"]

    apart = ["devinfra-lua-a", "devinfra-lua-b"]
    assert cluster_client.keyslot(apart[0]) != cluster_client.keyslot(apart[1])
    # redis-py refuses it before sending; the server says the same (asked directly below)
    with pytest.raises((redis.RedisError, RedisClusterException), match=r"(?i)same (key )?slot"):
        cluster_client.eval(script, 2, *apart, "v")
    owner = cluster_client.get_node_from_key(apart[0])
    assert owner is not None
    node = redis.Redis(host=owner.host, port=owner.port)
    try:
        with pytest.raises(ClusterCrossSlotError):  # the server's CROSSSLOT reply
            node.eval(script, 2, *apart, "v")
    finally:
        node.close()
    cluster_client.delete(*same)


def test_failover_after_a_lagging_replica_loses_acknowledged_writes() -> None:
    """Kill a primary whose replica was cut off: the replica takes over without the
    writes acknowledged meanwhile; those from before survive. Its own cluster: it breaks one.
    """
    with EmbeddedRedisCluster(node_timeout_ms=1000) as cluster:
        logger.info("failover cluster formed in %.3f s", cluster.startup_s)
        began = time.monotonic()
        client = RedisCluster.from_url(cluster.url, decode_responses=True)
        try:
            primary = cluster.primaries()[0]
            replica = cluster.replica_of(primary)
            early, late = (
                _keys_in_slots(client, cluster.slot_range(primary), prefix, 20)
                for prefix in ("early-", "late-")
            )
            for key in early:
                client.set(key, "early")
            direct = primary.client()
            try:
                assert direct.wait(1, 5000) == 1  # the replica has the early keys
                cluster.cut_off(replica)
                for key in late:
                    assert client.set(key, "late") is True  # acknowledged by the primary
                assert [direct.get(key) for key in late] == [b"late"] * len(late)
                assert direct.wait(1, 200) == 0  # ... and by no replica
            finally:
                direct.close()
            cluster.kill(primary)
            assert not primary.running
            cluster.resume(replica)
            waited = cluster.wait_for_failover(primary, FAILOVER_DEADLINE_S)
            logger.info("failover in %.3f s", waited)
        finally:
            client.close()

        assert cluster.promoted_replica(primary) is replica
        assert replica.role() == "master"
        assert replica in cluster.primaries()
        assert primary not in cluster.primaries()
        survivor = RedisCluster.from_url(cluster.url, decode_responses=True)
        try:
            # acknowledged, then lost: the loss is real before anything judges recovery
            assert survivor.mget_nonatomic(late) == [None] * len(late)
            assert survivor.mget_nonatomic(early) == ["early"] * len(early)
            survivor.set(late[0], "after")  # the promoted replica takes writes
            assert survivor.get(late[0]) == "after"
            assert survivor.get_node_from_key(late[0]).port == replica.port
        finally:
            survivor.close()
        logger.info("failover test body took %.3f s", time.monotonic() - began)


def test_stop_resumes_a_paused_node_and_leaves_no_process() -> None:
    cluster = EmbeddedRedisCluster(password="pw-cluster_1")
    cluster.start()
    try:
        nodes: list[RedisClusterNode] = list(cluster.nodes)
        client = RedisCluster.from_url(cluster.url, decode_responses=True)
        try:
            client.set("devinfra-auth", "1")  # the password is in the URL
            assert client.get("devinfra-auth") == "1"
        finally:
            client.close()
        unauthenticated = redis.Redis(host=nodes[0].host, port=nodes[0].port, retry=Retry(NoBackoff(), 0))
        try:
            with pytest.raises(redis.AuthenticationError):
                unauthenticated.ping()
        finally:
            unauthenticated.close()
        cluster.pause(nodes[1])
        assert nodes[1].url not in cluster.urls
    finally:
        began = time.monotonic()
        cluster.stop()
    assert time.monotonic() - began < 5.0
    assert all(not node.running for node in nodes)

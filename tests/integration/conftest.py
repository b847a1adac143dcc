"""Fixtures for the integration tests: one embedded broker and one Redis per session.

Every test under tests/integration is marked ``integration`` (deselect them with
``-m "not integration"``). Topics are isolated by name: ask for ``unique_topic_prefix``
or ``make_topics``; Redis is flushed after each test that uses ``redis_client``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import redis

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis, EmbeddedRedisCluster

logger = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent

#: Seconds a server may take to answer its first readiness probe.
READY_DEADLINE_S = 20.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected from this directory as ``integration``."""
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    """A Tansu broker on a free port, ready (Metadata answered); stopped at session end."""
    broker = EmbeddedBroker(ready_timeout_s=READY_DEADLINE_S)
    broker.start()
    logger.info("kafka_broker at %s, ready in %.3f s", broker.bootstrap, broker.startup_s)
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A ``redis-server`` (no persistence) on a free port; stopped at session end."""
    server = EmbeddedRedis(ready_timeout_s=READY_DEADLINE_S)
    server.start()
    logger.info("redis_server at %s, ready in %.3f s", server.url, server.startup_s)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedRedisCluster]:
    """A Redis Cluster (3 primaries x 1 replica) on free ports; stopped at session end.

    Shared: a test that kills, pauses or cuts off a node starts its own cluster instead.
    """
    cluster = EmbeddedRedisCluster(ready_timeout_s=READY_DEADLINE_S)
    cluster.start()
    logger.info("redis_cluster at %s, ready in %.3f s", cluster.url, cluster.startup_s)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A redis-py client (bytes replies) to ``redis_server``; FLUSHALL at teardown."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        client.flushall()
        client.close()


@pytest.fixture
def unique_topic_prefix() -> str:
    """A prefix no other test uses, e.g. ``t3f9a1c2e-``; put it before every topic name."""
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def make_topics(
    kafka_broker: EmbeddedBroker, unique_topic_prefix: str
) -> Callable[..., list[str]]:
    """``make_topics(["orders"], partitions=4)`` creates prefixed topics; returns full names."""

    def make(names: Iterable[str], partitions: int = 4) -> list[str]:
        full = [unique_topic_prefix + name for name in names]
        kafka_broker.create_topics(full, partitions=partitions)
        return full

    return make

"""Development infrastructure: an embedded Kafka-compatible broker and Redis, no Docker.

Used by the integration tests and ``clv-stream dev``. Each server runs as a child
process in its own process group, is stopped at interpreter exit, and on Linux dies with
its parent even when the parent is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

from clv_stream.devinfra.broker import (
    TANSU_CONSUMER_SETTINGS,
    EmbeddedBroker,
    kafka_metadata_ok,
    resolve_broker_binary,
)
from clv_stream.devinfra.ports import ReadinessTimeout, free_port, wait_for
from clv_stream.devinfra.redis_cluster import EmbeddedRedisCluster
from clv_stream.devinfra.redis_server import EmbeddedRedis, resolve_redis_server

__all__ = [
    "TANSU_CONSUMER_SETTINGS",
    "EmbeddedBroker",
    "EmbeddedRedis",
    "EmbeddedRedisCluster",
    "ReadinessTimeout",
    "free_port",
    "kafka_metadata_ok",
    "resolve_broker_binary",
    "resolve_redis_server",
    "wait_for",
]

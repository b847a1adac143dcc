"""Opening a state store: the one place that names the store implementations.

Construction sites (the worker, the CLI, the report's standalone entry) call
:func:`open_store`; everything else takes a :class:`~clv_stream.store.port.StateStore`.
Adding a store: a module implementing the port, plus one entry in :data:`STORES` (and,
when settings choose it, a line in :func:`store_kind`).
"""

from __future__ import annotations

from collections.abc import Callable

from clv_stream.settings import Settings
from clv_stream.store.port import StateStore
from clv_stream.store.redis_cluster_store import RedisClusterStore
from clv_stream.store.redis_store import RedisStore

__all__ = ["STORES", "open_store", "store_kind"]


def _redis(settings: Settings) -> StateStore:
    return RedisStore.from_url(settings.redis_dsn, settings.redis_key_prefix,
                               int(settings.dedupe_window.total_seconds() * 1000),
                               settings.default_tenant)


def _redis_cluster(settings: Settings) -> StateStore:
    return RedisClusterStore.from_url(settings.redis_dsn, settings.redis_key_prefix,
                                      int(settings.dedupe_window.total_seconds() * 1000),
                                      settings.default_tenant,
                                      settings.redis_slot_groups or settings.topic_partitions)


#: store kind -> how to open it from the settings.
STORES: dict[str, Callable[[Settings], StateStore]] = {"redis": _redis,
                                                       "redis-cluster": _redis_cluster}


def store_kind(settings: Settings) -> str:
    """The kind of store the settings ask for: a Redis Cluster with ``CLV_REDIS_CLUSTER``,
    else one Redis."""
    return "redis-cluster" if settings.redis_cluster else "redis"


def open_store(settings: Settings, kind: str | None = None) -> StateStore:
    """A store of ``kind`` (default: :func:`store_kind`), not yet connected (lazily)."""
    return STORES[kind or store_kind(settings)](settings)

"""Redis memory per customer, per dedupe key and per history point, at given customer counts.

Each count gets a fresh redis-server. A synthetic shop (about 2.5 orders a customer, some
refunds and cancels) goes through the real :class:`~clv_stream.pipeline.Pipeline`
in-process (``process`` + ``confirm``: exactly the worker's Redis writes, without Kafka).
Then: ``INFO memory`` used_memory before and after; exact ``MEMORY USAGE`` of a sample of
customer hashes and of dedupe keys; then every dedupe key is deleted and used_memory read
again, which gives the dedupe keys' exact share (they expire after ``CLV_DEDUPE_WINDOW``,
so their cost is bounded by the events of one window). The customers' history lists
(``CLV_HISTORY_POINTS``) are deleted first the same way, so their cost is reported apart:
per point as the shop left them, and per point of customers whose history is full.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr

from benchmarks import workload
from benchmarks.harness import Bench
from benchmarks.report import Table
from clv_stream.devinfra import EmbeddedRedis
from clv_stream.pipeline import Pipeline, RawRecord
from clv_stream.pipeline.history import history_point
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.types import PublishEntry

__all__ = ["feed_shop", "run"]

logger = logging.getLogger(__name__)
CHUNK_CUSTOMERS = 100_000
#: The event_id dedupe keys (in slot group 0 on a standalone Redis: redis_store.py).
DEDUPE_KEYS = "clv:{0}:e:*"
#: The customers' history lists (common.lua: history_key).
HISTORY_KEYS = ("clv:h:*", "clv:ht:*")
BATCH = 2000


async def _used(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def feed_shop(pipeline: Pipeline, customers: int, tenants: int = 0) -> int:
    """The shop's orders through the pipeline, in blocks of customers; return the orders."""
    orders = 0
    for block in range(0, customers, CHUNK_CUSTOMERS):
        n = min(CHUNK_CUSTOMERS, customers - block)
        messages = workload.shop(n, seed=block, tag=f"m{block // CHUNK_CUSTOMERS}-",
                                 tenants=tenants)
        for lo in range(0, len(messages), BATCH):
            batch = [RawRecord("orders", 0, orders + i, k, v)
                     for i, (k, v) in enumerate(messages[lo:lo + BATCH])]
            outcome = await pipeline.process(batch, (0,), True)  # one lane owns partition 0
            await pipeline.confirm(outcome)
            orders += len(batch)
        logger.info("memory: %s customers, %s orders fed", block + n, orders)
    return orders


async def _sample(client: aioredis.Redis, pattern: str, size: int) -> tuple[int, float]:
    """(keys matching, mean exact MEMORY USAGE of a random sample of them)."""
    keys: list[str] = [k async for k in client.scan_iter(match=pattern, count=10_000)]
    picked = random.Random(1).sample(keys, min(size, len(keys)))
    async with client.pipeline(transaction=False) as pipe:
        for key in picked:
            pipe.memory_usage(key, samples=0)
        usage = await pipe.execute()
    return len(keys), sum(usage) / max(len(usage), 1)


async def _unlink(client: aioredis.Redis, pattern: str) -> None:
    batch: list[str] = []
    async for key in client.scan_iter(match=pattern, count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)


async def measure(customers: int, tenants: int = 0) -> dict[str, Any]:
    """``tenants``: customers spread over that many tenants (0: the default tenant's)."""
    server = EmbeddedRedis(ready_timeout_s=30.0)
    server.start()
    try:
        settings = Settings(redis_url=SecretStr(server.url), redis_key_prefix="clv")
        store = RedisStore.from_url(server.url, "clv", int(settings.dedupe_window.total_seconds() * 1000))
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        base = await _used(client)
        started = time.perf_counter()
        orders = await feed_shop(Pipeline(settings, store), customers, tenants)
        fed_s = time.perf_counter() - started
        full = await _used(client)
        hashes, hash_avg = await _sample(client, "clv:t:*:c:*" if tenants else "clv:c:*", 2000)
        dedupe, dedupe_avg = await _sample(client, DEDUPE_KEYS, 2000)
        due = sum([int(await client.memory_usage(k, samples=0) or 0)
                   for k in ("clv:due", "clv:due:0")])
        keys = int(await client.dbsize())
        lists, points = await _points(client)
        for pattern in HISTORY_KEYS:
            await _unlink(client, pattern)
        no_history = await _used(client)
        await _unlink(client, DEDUPE_KEYS)
        without = await _used(client)
        await store.close()
        await client.aclose()
    finally:
        server.close()
    # the keyspace table (8 bytes a bucket, a power of two >= keys) does not shrink when the
    # dedupe keys go: move their share of it from the customers' column to theirs
    bucket = 8 * (1 << max(keys, 1).bit_length()) / max(keys, 1)
    table_share = bucket * dedupe
    return {"customers": hashes, "tenants": tenants or 1, "orders": orders,
            "used_memory_mb": (full - base) / 2**20,
            "bytes_per_customer": (without - base - table_share - bucket * lists) / hashes,
            "history_points": points,
            "bytes_per_history_point": (full - no_history + bucket * lists) / max(points, 1),
            "customer_hash_avg": hash_avg, "due_index_per_customer": due / hashes,
            "dedupe_keys": dedupe,
            "bytes_per_dedupe_key": (no_history - without + table_share) / max(dedupe, 1),
            "dedupe_key_usage_avg": dedupe_avg, "pipeline_orders_per_s": orders / fed_s}


async def _points(client: aioredis.Redis) -> tuple[int, int]:
    """(history lists, points in them)."""
    keys = [k for pattern in HISTORY_KEYS async for k in client.scan_iter(match=pattern, count=10_000)]
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.llen(key)
        lengths = await pipe.execute()
    return len(keys), sum(lengths)


async def full_history(customers: int, points: int) -> dict[str, Any]:
    """Bytes a customer's full history takes: ``points`` realistic points each, written by
    ``publish.lua`` as the worker writes them."""
    server = EmbeddedRedis(ready_timeout_s=30.0)
    server.start()
    try:
        store = RedisStore.from_url(server.url, "clv")
        client = aioredis.Redis.from_url(server.url, decode_responses=True)
        base = await _used(client)
        clock = 1_700_000_000
        value = {"total_clv": "1234.56", "predicted_clv": "567.89", "p_alive": 0.912345,
                 "churn_risk": 0.123456}
        for k in range(points):
            point = history_point(clock + k * 86400, "order_placed", value, "high|active|loyal|")
            for lo in range(0, customers, 5000):
                await store.publish([PublishEntry(f"cust-{i:08d}", "", "", None, None, point, points)
                                     for i in range(lo, min(lo + 5000, customers))])
        await _unlink(client, "clv:c:*")  # the hashes publish created: not the history's
        used = await _used(client) - base
        await store.close()
        await client.aclose()
    finally:
        server.close()
    return {"customers": customers, "points_each": points, "bytes_per_customer": used / customers,
            "bytes_per_point": used / (customers * points)}


async def run(bench: Bench, args: argparse.Namespace) -> list[Table]:
    table = Table("Redis memory (bytes), worker's key layout, after a synthetic shop",
                  ["customers", "tenants", "orders", "used_memory_mb", "bytes_per_customer",
                   "customer_hash_avg", "due_index_per_customer", "dedupe_keys",
                   "bytes_per_dedupe_key", "dedupe_key_usage_avg", "history_points",
                   "bytes_per_history_point", "pipeline_orders_per_s"])
    for count in (int(c) for c in args.memory_customers.split(",")):
        table.add(**await measure(count))
    table.notes.append(
        "bytes_per_customer: used_memory growth without the dedupe keys, divided by customers "
        "(customer hash, its key, the due index entry, allocator overhead; the dedupe keys' "
        "share of the keyspace's bucket table, which Redis does not shrink, is moved to them). "
        "customer_hash_avg: "
        "exact MEMORY USAGE of 2,000 random customer hashes. bytes_per_dedupe_key: used_memory "
        "freed by deleting all dedupe keys, per key (one per applied event, PX = dedupe "
        "window: the cost is bounded by events per window x this). pipeline_orders_per_s: "
        "in-process Pipeline.process + confirm on this redis, no Kafka. bytes_per_customer "
        "leaves out the history lists; bytes_per_history_point: used_memory freed by deleting "
        "them, per point (the shop leaves few points a customer: the list's own cost weighs).")
    history = Table("Redis memory of a full history (CLV_HISTORY_POINTS points a customer)",
                    ["customers", "points_each", "bytes_per_customer", "bytes_per_point"])
    for points in (20, 100):
        history.add(**await full_history(10_000, points))
    history.notes.append("Points as the worker writes them (event time, cause, total and "
                         "predicted CLV, p_alive, churn risk, labels); customer hashes deleted "
                         "before reading used_memory.")
    return [table, history]

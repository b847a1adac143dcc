"""Platforms: a standalone Redis vs a 3-primary Redis Cluster, one vs two workers, 10 vs
1,000 tenants, and Redis bytes per customer with tenants, all in one run.

* **Stores and workers.** A synthetic platform (``--platform-tenants`` shops, the shop
  workload of ``--orders`` orders) through 1 and 2 workers on each store: workers start on
  an empty topic and join the group first, then the orders are produced; measured until every
  offset is applied. CPU per order is taken per process (each worker, each redis-server of
  the cluster, replicas included, and the broker) over the window from the first applied
  batch to the last. Correctness: every customer's aggregate in the store equals the batch
  computation (``aggregate_of`` per tenant over the validated events).
* **Tenants.** The same orders spread over 10 and over 1,000 tenants, one worker on the
  standalone store, ``--repeat`` pairs back to back (which goes first alternates).
* **Memory.** Bytes per customer (``sections.memory.measure``) with the customers spread
  over 0 (the default tenant), 10 and 1,000 tenants, at ``--platform-customers``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from benchmarks import workload
from benchmarks.harness import Bench, CpuTrace, Lane, produce, read_all, steady_rate
from benchmarks.report import Table
from benchmarks.sections import memory
from clv_stream.domain.aggregate import Summary, aggregate_of
from clv_stream.events.validation import Order, OrderValidator
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import CustomerKey

__all__ = ["run"]

#: Tansu answers a JoinGroup after about half the session timeout: let every worker join
#: before the orders come, so two workers split them from the start.
JOIN_S = 10.0


def expected_summaries(settings: Settings,
                       messages: list[workload.Message]) -> dict[CustomerKey, Summary]:
    """The batch computation: each tenant's customers' summaries over its valid events."""
    validator = OrderValidator(settings)
    by_tenant: dict[str, list[Order]] = {}
    for _, value in messages:
        order = validator.validate(value, time.time())
        by_tenant.setdefault(order.tenant, []).append(order)
    return {(tenant, cid): s for tenant, orders in by_tenant.items()
            for cid, s in aggregate_of(orders).items()}


async def mismatches(settings: Settings, expected: dict[CustomerKey, Summary]) -> int:
    """Customers whose stored aggregate differs from ``expected``."""
    store = open_store(settings)
    actual: dict[CustomerKey, Summary] = {}
    try:
        keys = sorted(expected)
        for lo in range(0, len(keys), 5000):
            actual.update({s.key: s.summary for s in await store.customers(keys[lo:lo + 5000])})
    finally:
        await store.close()
    return sum(1 for k, s in expected.items()
               if actual.get(k, Summary()) != s and (s.orders or k in actual))


async def _measure(bench: Bench, lane: Lane, messages: list[workload.Message], workers: int,
                   expected: dict[CustomerKey, Summary]) -> dict[str, Any]:
    procs = [bench.worker(lane) for _ in range(workers)]
    redis = bench.redis_pids(lane)
    try:
        await asyncio.sleep(JOIN_S if workers > 1 else 2.0)
        pids = {**{f"worker{i}": p.pid for i, p in enumerate(procs)}, **redis,
                "broker": bench.broker.pid}
        async with CpuTrace(pids) as trace:
            lane.high = await produce(bench.broker.bootstrap, lane.orders, messages)
            progress = await bench.wait_applied(lane)
            await asyncio.sleep(1.0)  # the last batch's produce and confirm
        s = lane.settings
        updates = await read_all(s.kafka_bootstrap, s.topic_updates, idle_s=2.0)
    finally:
        for p in procs:
            p.close()
    bench.drop_outputs(lane)
    bench.drop_topics([lane.orders])
    i = next(i for i, (_, n) in enumerate(progress) if n > 0)
    first, last = progress[max(i - 1, 0)][0], progress[-1][0]
    cpu = trace.between(first, last)
    n = len(messages)
    us = {k: v / n * 1e6 for k, v in cpu.items()}
    return {
        "store": "cluster 3x(1+1)" if s.redis_cluster else "standalone", "workers": workers,
        "orders": n, "orders_per_s": n / max(last - first, 1e-3),
        "steady_per_s": steady_rate([t for t, _ in progress], [m for _, m in progress], n),
        "us_worker_per_order": sum(v for k, v in us.items() if k.startswith("worker")),
        "us_redis_per_order": sum(us[k] for k in redis),
        "us_busiest_redis_per_order": max(us[k] for k in redis),
        "us_each_redis_per_order": " ".join(f"{us[k]:.0f}" for k in redis),
        "us_broker_per_order": us["broker"], "updates": len(updates),
        "mismatched_customers": await mismatches(s, expected),
    }


async def _stores(bench: Bench, args: argparse.Namespace) -> Table:
    messages = workload.shop(customers=max(args.orders * 2 // 5, 1), orders=args.orders,
                             tag="pl", tenants=args.platform_tenants)
    table = Table(f"Standalone Redis vs a 3-primary Redis Cluster, 1 and 2 workers "
                  f"(synthetic platform of {args.platform_tenants} shops)",
                  ["store", "workers", "orders", "orders_per_s", "steady_per_s",
                   "us_worker_per_order", "us_redis_per_order", "us_busiest_redis_per_order",
                   "us_each_redis_per_order", "us_broker_per_order", "updates",
                   "mismatched_customers"])
    expected: dict[CustomerKey, Summary] | None = None
    for cluster in (False, True):
        for workers in (1, 2):
            lane = bench.lane(f"pl{int(cluster)}{workers}", cluster=cluster)
            expected = expected or expected_summaries(lane.settings, messages)
            table.add(**await _measure(bench, lane, messages, workers, expected))
    table.notes.append(
        "us_*_per_order: CPU microseconds per order over the measured window (first applied "
        "batch to the last); the cluster's redis figure adds its 6 nodes (replicas "
        "included), busiest_redis is its busiest node, each_redis every node's (primaries and "
        "replicas as the cluster was formed). Everything shares this machine's 2 "
        "cores, so the cluster's per-order costs are the figures to scale from, not its "
        "orders/s here. mismatched_customers must be 0.")
    return table


async def _tenants(bench: Bench, args: argparse.Namespace) -> Table:
    table = Table("10 vs 1,000 tenants, the same orders (standalone, one worker)",
                  ["tenants", "orders", "orders_per_s", "range", "vs_10_tenants", "pair_ratios",
                   "us_worker_per_order", "us_redis_per_order", "mismatched_customers"])
    customers = max(args.orders * 2 // 5, 1)
    runs: dict[int, list[dict[str, Any]]] = {10: [], 1000: []}
    loads = {t: workload.shop(customers=customers, orders=args.orders, tag="tn", tenants=t)
             for t in runs}
    for rep in range(max(1, args.repeat)):
        for tenants in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):
            lane = bench.lane(f"tn{tenants}-{rep}")
            expected = expected_summaries(lane.settings, loads[tenants])
            runs[tenants].append(await _measure(bench, lane, loads[tenants], 1, expected))
    for tenants, found in runs.items():
        rates = sorted(r["orders_per_s"] for r in found)
        median = sorted(found, key=lambda r: r["orders_per_s"])[len(found) // 2]
        ratios = sorted(r["orders_per_s"] / b["orders_per_s"]
                        for r, b in zip(found, runs[10], strict=True))
        table.add(tenants=tenants, orders=median["orders"], orders_per_s=median["orders_per_s"],
                  range=f"{rates[0]:,.0f}-{rates[-1]:,.0f}",
                  vs_10_tenants=statistics.median(ratios),
                  pair_ratios=", ".join(f"{x:.3f}" for x in ratios),
                  us_worker_per_order=median["us_worker_per_order"],
                  us_redis_per_order=median["us_redis_per_order"],
                  mismatched_customers=max(r["mismatched_customers"] for r in found))
    table.notes.append("vs_10_tenants: the median of the pairs' ratios (1,000 tenants / 10).")
    return table


async def _memory(args: argparse.Namespace) -> Table:
    table = Table("Redis bytes per customer with tenants (standalone, after a synthetic shop)",
                  ["customers", "tenants", "orders", "bytes_per_customer", "customer_hash_avg",
                   "bytes_per_dedupe_key"])
    for tenants in (0, 10, 1000):
        found = await memory.measure(args.platform_customers, tenants)
        table.add(**{k: found[k] for k in table.columns})
    table.notes.append("tenants 1: every customer of the default tenant (keys P:c:{id}); "
                       "others at P:t:{tenant}:c:{id}. Method as in the memory section.")
    return table


async def run(bench: Bench, args: argparse.Namespace) -> list[Table]:
    return [await _stores(bench, args), await _tenants(bench, args), await _memory(args)]

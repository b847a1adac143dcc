"""Two workers in one consumer group vs one: throughput and correctness.

For each worker count, the workers start on an empty orders topic and are given time to
join the group (Tansu answers a JoinGroup after about half the session timeout), then the
same synthetic shop is produced and the workers are measured until every offset is
applied. Correctness: every customer's aggregate in Redis equals
``clv_stream.domain.aggregate.aggregate_of`` over the validated events.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from benchmarks import workload
from benchmarks.harness import Bench, ProcessMeter, produce, read_all
from benchmarks.report import Table
from clv_stream.domain.aggregate import Summary, aggregate_of
from clv_stream.events.validation import OrderValidator
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store

__all__ = ["run"]

JOIN_S = 10.0


async def _mismatches(settings: Settings, messages: list[workload.Message]) -> tuple[int, int]:
    """(customers whose Redis aggregate differs from the batch aggregate, customers)."""
    validator = OrderValidator(settings)
    expected = aggregate_of(validator.validate(v, time.time()) for _, v in messages)
    store = open_store(settings)
    try:
        ids = sorted(expected)
        actual: dict[str, Summary] = {}
        for lo in range(0, len(ids), 5000):
            actual.update({s.customer_id: s.summary for s in await store.customers(ids[lo:lo + 5000])})
    finally:
        await store.close()
    bad = [c for c, s in expected.items() if actual.get(c, Summary()) != s and (s.orders or c in actual)]
    return len(bad), len(expected)


async def _measure(bench: Bench, messages: list[workload.Message], workers: int) -> dict[str, Any]:
    lane = bench.lane(f"so{workers}")
    procs = [bench.worker(lane) for _ in range(workers)]
    try:
        await asyncio.sleep(JOIN_S)
        meter = ProcessMeter({f"w{i}": p.pid for i, p in enumerate(procs)})
        lane.high = await produce(bench.broker.bootstrap, lane.orders, messages)
        await bench.wait_applied(lane)
        await asyncio.sleep(1.0)
        cpu = sum(meter.used().values())
        s = lane.settings
        updates = await read_all(s.kafka_bootstrap, s.topic_updates, idle_s=2.0)
        segments = await read_all(s.kafka_bootstrap, s.topic_segments, idle_s=1.0)
    finally:
        for p in procs:
            p.close()
    bench.drop_outputs(lane)
    bench.drop_topics([lane.orders])
    first = min(r.timestamp_ms for r in updates + segments)
    last = max(r.timestamp_ms for r in updates)
    bad, customers = await _mismatches(lane.settings, messages)
    return {"workers": workers, "orders": len(messages),
            "orders_per_s": len(messages) / max((last - first) / 1000, 1e-3),
            "cpu_s_per_1k": cpu / len(messages) * 1000, "customers": customers,
            "mismatched_customers": bad}


async def run(bench: Bench, args: argparse.Namespace) -> list[Table]:
    messages = workload.shop(customers=max(args.orders * 2 // 5, 1), orders=args.orders, tag="so")
    table = Table("One vs two workers in one consumer group (synthetic shop)",
                  ["workers", "orders", "orders_per_s", "speedup", "cpu_s_per_1k", "customers",
                   "mismatched_customers"])
    one = await _measure(bench, messages, 1)
    two = await _measure(bench, messages, 2)
    for r in (one, two):
        table.add(**r, speedup=r["orders_per_s"] / one["orders_per_s"])
    table.notes.append("mismatched_customers: Redis aggregate != aggregate_of(validated events); "
                       "must be 0. Both workers share this machine's 2 cores with redis-server "
                       "and the broker.")
    return [table]

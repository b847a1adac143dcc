"""Event-to-update latency at fixed offered loads.

One worker runs on an empty topic; for each offered load a paced producer sends orders of
never-seen customers (so each order yields exactly one ``clv.updates`` record, matched by
``source_event_id``) for ``--latency-seconds``. Latency is the update record's timestamp
(set by the worker's producer) minus the order record's timestamp (set by the benchmark's
producer when it sent it): same machine, same clock, millisecond resolution.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks import workload
from benchmarks.harness import PARTITIONS, Bench, Lane, ProcessMeter, paced
from benchmarks.report import Table

__all__ = ["run"]

logger = logging.getLogger(__name__)


_FIELD = b'"source_event_id":"'


def _source_event_id(value: bytes) -> str:
    """The update's source_event_id, found in the bytes (the benchmark's ids need no escapes):
    decoding every 1.3 KB update would take CPU from the worker on a 2-core machine."""
    start = value.find(_FIELD)
    if start < 0:
        return str(orjson.loads(value).get("source_event_id"))
    start += len(_FIELD)
    return value[start:value.index(b'"', start)].decode()


class UpdateWatcher:
    """Follows ``clv.updates``: update timestamp (ms) per source_event_id, as they come."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                          auto_offset_reset="earliest", max_poll_records=20_000)
        self._topic = topic
        self.seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign([TopicPartition(self._topic, p) for p in range(PARTITIONS)])
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for msgs in batch.values():
                for m in msgs:
                    self.seen.setdefault(_source_event_id(m.value), m.timestamp)

    async def wait_for(self, ids: set[str], idle_s: float = 10.0) -> None:
        last, count = time.monotonic(), -1
        while time.monotonic() - last < idle_s:
            missing = sum(1 for i in ids if i not in self.seen)
            if not missing:
                return
            if missing != count:
                last, count = time.monotonic(), missing
            await asyncio.sleep(0.1)
        logger.warning("%s updates never came", count)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()


async def _phase(bench: Bench, lane: Lane, watcher: UpdateWatcher, rate: float, seconds: float,
                 tag: str, tick_s: float, pids: dict[str, int | None]) -> dict[str, Any]:
    sent: dict[str, int] = {}
    meter = ProcessMeter(pids)

    def remember(messages: list[workload.Message], ts_ms: int) -> None:
        for key, _ in messages:
            sent[f"{key.decode()}-1:order_placed"] = ts_ms

    start_ms = int(time.time() * 1000)
    orders, achieved = await paced(bench.broker.bootstrap, lane.orders, workload.fresh(tag),
                                   rate, seconds, remember, tick_s=tick_s)
    cores = {name: used / seconds for name, used in meter.used().items()}
    await watcher.wait_for(set(sent))
    matched = [(t, watcher.seen[i] - t) for i, t in sent.items() if i in watcher.seen]
    lat = np.array([ms for _, ms in matched], dtype=float)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if len(lat) else (np.nan,) * 3
    return {"offered_per_s": rate, "achieved_per_s": achieved, "orders": orders,
            "matched": len(lat), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "max_ms": float(lat.max()) if len(lat) else None,
            **{f"{name}_cores": value for name, value in cores.items()},
            "slow_seconds": _slow_seconds(matched, start_ms)}


SLOW_MS = 100


def _slow_seconds(matched: list[tuple[int, int]], start_ms: int) -> list[list[int]]:
    """When the slow orders were sent: ``[second of the phase, orders over SLOW_MS, worst ms]``
    for each second that had any (JSON only; a stall shows as a run of seconds)."""
    slow: dict[int, list[int]] = {}
    for sent_ms, ms in matched:
        if ms > SLOW_MS:
            row = slow.setdefault((sent_ms - start_ms) // 1000, [0, 0])
            row[0], row[1] = row[0] + 1, max(row[1], ms)
    return [[second, count, worst] for second, (count, worst) in sorted(slow.items())]


async def run(bench: Bench, args: argparse.Namespace) -> list[Table]:
    table = Table("Event-to-update latency (ms), order sent -> clv.updates record, fresh customers",
                  ["offered_per_s", "achieved_per_s", "orders", "matched", "p50_ms", "p95_ms",
                   "p99_ms", "max_ms", "worker_cores", "redis_cores", "broker_cores"])
    lane = bench.lane("lat")
    worker = bench.worker(lane)
    pids = {"worker": worker.pid, "redis": bench.redis.pid, "broker": bench.broker.pid}
    tick_s = args.tick_ms / 1000
    watcher = UpdateWatcher(bench.broker.bootstrap, lane.settings.topic_updates)
    await watcher.start()
    try:
        # the group has joined when this returns
        await _phase(bench, lane, watcher, 50, 2.0, "warm", tick_s, pids)
        for i, rate in enumerate(float(r) for r in args.rates.split(",")):
            table.add(**await _phase(bench, lane, watcher, rate, args.latency_seconds, f"l{i}-",
                                     tick_s, pids))
    finally:
        await watcher.stop()
        worker.close()
    table.notes.append("One order per new customer, so every order yields one update; an "
                       "idle lane waits up to CLV_BATCH_MAX_WAIT_MS (20 ms) and a batch is what "
                       f"its fetch brought, up to 2,000 orders. The producer sends every "
                       f"{args.tick_ms:g} ms (--tick-ms), one record batch per partition. "
                       "*_cores: CPU while the load was offered.")
    return [table]

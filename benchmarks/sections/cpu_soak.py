"""CPU per 1,000 orders and RSS over time, at a steady offered load of a live stream.

The live stream (:func:`benchmarks.workload.live`) dates orders now: 40% from new customers,
the rest returning, a few refunds and cancels. ``cpu``: after a 10 s warm-up, worker CPU
seconds (user + system, psutil) over ``--cpu-seconds`` divided by the orders sent then.
``soak``: the worker's RSS every 5 s for ``--soak-seconds``; drift is the slope of a least
squares line through the samples after the first fifth (warm-up), in MB per hour. A soak
starts with a backlog of ``--soak-burst`` orders, as a worker catching up after a restart
does: the worker's memory follows the most it has held at once (full fetches, up to
``CLV_FETCH_PARTITION_BYTES`` a partition, and ``CLV_BATCH_MAX_RECORDS`` on every lane), and
the backlog takes it there first, so the steady phase measures growth, not that high-water
mark; each sample also records the largest batch so far (the worker's ``clv_batch_size``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import urllib.request
import uuid
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from benchmarks import workload
from benchmarks.harness import Bench, ProcessMeter, applied_orders, paced, produce
from benchmarks.report import Table

__all__ = ["run_cpu", "run_soak"]

WARMUP_S = 10.0
SAMPLE_EVERY_S = 5.0


def _largest_batch(port: int) -> float:
    """The upper bound of the highest non-empty bucket of the worker's ``clv_batch_size``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    largest, below = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples if family.name == "clv_batch_size" else ():
            if sample.name.endswith("_bucket") and sample.value > below:
                largest, below = float(sample.labels["le"]), sample.value
    return largest


async def _steady(bench: Bench, rate: float, seconds: float, tick_s: float,
                  burst: int = 0) -> dict[str, Any]:
    """Offer ``rate`` orders/s for ``seconds`` after a warm-up (and a backlog of ``burst``
    orders before it); sample the worker's RSS and how many orders it has applied (its
    offsets in Redis), so a run where the worker fell behind (or was starved of input)
    shows as such instead of as a quiet, flat RSS."""
    lane = bench.lane("steady")
    worker = bench.worker(lane)
    assert worker.pid is not None
    source = workload.live(f"v{uuid.uuid4().hex[:4]}-")
    samples: list[tuple[float, float, int, int, float]] = []  # t, RSS, sent, applied, batch
    sent_so_far = [0]
    store = bench.store(lane)

    async def applied() -> int:
        return applied_orders(await store.applied_offsets(lane.orders))

    def count(messages: list[Any], _ts: int) -> None:
        sent_so_far[0] += len(messages)

    try:
        if burst:
            await produce(bench.broker.bootstrap, lane.orders,
                          list(itertools.islice(source, burst)))
        warm, _ = await paced(bench.broker.bootstrap, lane.orders, source, rate, WARMUP_S,
                              tick_s=tick_s)
        warm += burst
        sent_so_far[0] = warm
        meter = ProcessMeter({"worker": worker.pid, "redis": bench.redis.pid,
                              "broker": bench.broker.pid})

        async def sample() -> None:
            start = time.monotonic()
            while True:
                samples.append((time.monotonic() - start, meter.rss_mb("worker"),
                                sent_so_far[0], await applied(),
                                await asyncio.to_thread(_largest_batch, worker.port)))
                await asyncio.sleep(SAMPLE_EVERY_S)

        sampler = asyncio.create_task(sample())
        sent, achieved = await paced(bench.broker.bootstrap, lane.orders, source, rate, seconds,
                                     on_sent=count, tick_s=tick_s)
        await asyncio.sleep(2.0)  # the tail of the stream
        sampler.cancel()
        cpu = meter.used()
        behind = warm + sent - await applied()
    finally:
        worker.close()
        await store.close()
    return {"offered_per_s": rate, "achieved_per_s": achieved, "orders": sent,
            "seconds": seconds, "cpu": cpu, "rss": samples, "behind": behind}


async def run_cpu(bench: Bench, args: argparse.Namespace) -> list[Table]:
    table = Table("CPU seconds per 1,000 orders at a steady offered load (live stream)",
                  ["offered_per_s", "achieved_per_s", "orders", "worker_cpu_s_per_1k",
                   "redis_cpu_s_per_1k", "broker_cpu_s_per_1k", "worker_cores_busy",
                   "behind_at_end"])
    r = await _steady(bench, args.steady_rate, args.cpu_seconds, args.tick_ms / 1000)
    per_1k = {k: v / r["orders"] * 1000 for k, v in r["cpu"].items()}
    table.add(offered_per_s=r["offered_per_s"], achieved_per_s=r["achieved_per_s"],
              orders=r["orders"], worker_cpu_s_per_1k=per_1k["worker"],
              redis_cpu_s_per_1k=per_1k["redis"], broker_cpu_s_per_1k=per_1k["broker"],
              worker_cores_busy=r["cpu"]["worker"] / (r["seconds"] + 2.0),
              behind_at_end=r["behind"])
    table.notes.append("broker_cpu includes the benchmark producer's and the worker's traffic. "
                       "behind_at_end: orders sent but not applied 2 s after the last one.")
    return [table]


async def run_soak(bench: Bench, args: argparse.Namespace) -> list[Table]:
    r = await _steady(bench, args.steady_rate, args.soak_seconds, args.tick_ms / 1000,
                      burst=args.soak_burst)
    t = np.array([s[0] for s in r["rss"]])
    rss = np.array([s[1] for s in r["rss"]])
    tail = t >= t.max() / 5 if len(t) > 4 else np.ones_like(t, dtype=bool)
    slope = float(np.polyfit(t[tail], rss[tail], 1)[0]) * 3600 if tail.sum() > 1 else float("nan")
    lag = [sent - done for _, _, sent, done, _ in r["rss"]]
    table = Table("Worker RSS over a soak (MB), live stream at a steady offered load",
                  ["offered_per_s", "orders", "seconds", "rss_first_mb", "rss_after_warmup_mb",
                   "rss_last_mb", "rss_max_mb", "drift_mb_per_hour", "worker_cpu_s_per_1k",
                   "max_behind", "behind_at_end", "burst"])
    table.add(offered_per_s=r["offered_per_s"], orders=r["orders"], seconds=r["seconds"],
              rss_first_mb=float(rss[0]), rss_after_warmup_mb=float(rss[tail][0]),
              rss_last_mb=float(rss[-1]), rss_max_mb=float(rss.max()), drift_mb_per_hour=slope,
              worker_cpu_s_per_1k=r["cpu"]["worker"] / r["orders"] * 1000,
              max_behind=max(lag, default=0), behind_at_end=r["behind"], burst=args.soak_burst)
    table.notes.append("max_behind: the most orders sent but not yet applied at any sample; "
                       "behind_at_end: 2 s after the last order. An RSS figure counts only if "
                       "the worker kept up (both small against the rate).")
    if r["behind"] > r["offered_per_s"] * 5:
        table.notes.append(f"NOT VALID: the worker was {r['behind']:,} orders behind at the end.")
    samples = Table("RSS samples (MB) and progress",
                    ["t_s", "rss_mb", "sent", "applied", "largest_batch_le"])
    for ts, mb, sent, done, batch in r["rss"][:: max(1, len(r["rss"]) // 40)]:
        samples.rows.append({"t_s": round(ts, 1), "rss_mb": round(mb, 1), "sent": sent,
                             "applied": done, "largest_batch_le": batch})
    samples.notes.append("largest_batch_le: the largest batch the worker has processed so "
                         "far, as the upper bound of its clv_batch_size histogram bucket.")
    return [table, samples]

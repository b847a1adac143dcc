"""End-to-end throughput: our worker vs the naive Faust peer vs the Quix Streams peer, and
the ceiling: an aiokafka pass-through that does no work (once producing one small record an
order, once our worker's records and bytes per order of the same run).

Each workload is pre-loaded once into an orders topic; then each system consumes that same
topic from the start with its own consumer group, alone on the machine.

* ``orders_per_s`` (end to end): orders / (last output record's timestamp - first order
  consumed). For our worker the first consumption is taken as the last progress poll
  (every 20 ms, the offsets it stores in Redis) before the first applied batch; for the
  peers, which emit per order, as their first output record's timestamp.
* ``steady_per_s``: orders/s over the middle 80% of the work (ours: applied offsets over
  time; peers: their output timestamps), without start-up and tail.

Record timestamps are set by each system's producer, so start-up and group joins are left
out. The naive peer runs on the first ``--naive-orders`` orders of the same topic (at
~1-2k/s the whole topic would take minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import workload
from benchmarks.harness import Bench, CpuTrace, Lane, produce, read_all, steady_rate
from benchmarks.peers import passthrough
from benchmarks.peers.runner import PeerRun, run_peer
from benchmarks.profiling import Profiler
from benchmarks.report import Table
from clv_stream.devinfra.stack import WorkerProcess

__all__ = ["measure_worker", "run"]

logger = logging.getLogger(__name__)


async def measure_worker(bench: Bench, lane: Lane, orders: int, workers: int = 1,
                         profile: Path | None = None, src: str | None = None,
                         during: Callable[[WorkerProcess], Awaitable[Any]] | None = None,
                         ) -> dict[str, Any]:
    """Start ``workers`` workers on the pre-loaded ``lane``; measure until all is applied.

    With ``profile``, py-spy records the (first) worker meanwhile, into that file. ``src``:
    run the workers from that source tree (see :meth:`Bench.worker`). ``during``: a task run
    against the (first) worker while it consumes, cancelled once all is applied.
    """
    procs = [bench.worker(lane, src=src) for _ in range(workers)]
    side = asyncio.create_task(during(procs[0])) if during is not None else None
    pids = {f"worker{i}": p.pid for i, p in enumerate(procs)}
    spy = Profiler(procs[0].pid, profile) if profile and procs[0].pid else None
    profiled: dict[str, float] = {}
    s = lane.settings
    try:
        redis = bench.redis_pids(lane)
        async with CpuTrace({**pids, **redis, "broker": bench.broker.pid}) as trace:
            progress = await bench.wait_applied(lane)
            if side is not None:
                side.cancel()
                await asyncio.gather(side, return_exceptions=True)
            await asyncio.sleep(1.0)  # the last batch's produce and confirm
            if spy is not None:
                profiled = spy.stop()
            # until the worker has been quiet for 2 s: time decay that lagged behind the
            # orders (CLV_DUE_BATCH_MAX) is emitted after the last order is applied, and counts
            updates = await read_all(s.kafka_bootstrap, s.topic_updates, idle_s=2.0)
        segments = await read_all(s.kafka_bootstrap, s.topic_segments, idle_s=1.0)
        dead = await read_all(s.kafka_bootstrap, s.topic_deadletter, idle_s=1.0)
        others = [*segments, *dead]
    finally:
        if side is not None:
            side.cancel()
        for p in procs:
            p.close()
    bench.drop_outputs(lane)
    # first order consumed: just before the first poll that saw an applied offset
    i = next(i for i, (_, n) in enumerate(progress) if n > 0)
    first = progress[max(i - 1, 0)][0]
    last = max(r.timestamp_ms for r in updates) / 1000
    cpu = trace.between(first, last)  # the window the rate is measured over
    worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    return {"orders": orders, "rate": orders / max(last - first, 1e-3),
            "steady": steady_rate([t for t, _ in progress], [n for _, n in progress], orders),
            # "segments": every record besides the updates (segment changes and dead letters)
            "updates": len(updates), "segments": len(others), "deadletters": len(dead),
            "seconds": last - first,
            "out_bytes": sum(len(r.value) for r in (*updates, *others)),
            "cpu_worker_per_1k": worker_cpu / orders * 1000,
            "cpu_redis_per_1k": sum(cpu[k] for k in redis) / orders * 1000,
            "cpu_redis_each_per_1k": {k: cpu[k] / orders * 1000 for k in redis},
            "cpu_broker_per_1k": cpu["broker"] / orders * 1000, "profile": profiled}


def _workloads(args: argparse.Namespace) -> dict[str, list[workload.Message]]:
    loads = {}
    if "cdnow" in args.workloads:
        loads["cdnow"] = workload.cdnow(limit=args.orders if args.orders < 69_659 else None)
    if "shop" in args.workloads:
        loads["shop"] = workload.shop(customers=max(args.orders * 2 // 5, 1), orders=args.orders)
    return loads


async def _ours(bench: Bench, lane: Lane, name: str, count: int,
                args: argparse.Namespace) -> tuple[list[tuple[str, dict[str, Any]]], list[Table]]:
    """Our worker on ``lane``'s pre-loaded topic, once per ``--tp-batches`` size; each size
    ``--repeat`` times (fresh group and key prefix each time), the median run kept.

    With ``--baseline-src``, each repeat is a pair: the baseline tree's worker and this
    one's, back to back (which goes first alternates), so both see the machine at the same
    speed; ``vs_baseline`` is the median of the pairs' ratios.
    """
    runs, profiles = [], []
    trees: list[tuple[str, str | None]] = [("", None)]
    if args.baseline_src:
        trees = [(" (baseline)", args.baseline_src), ("", None)]
    for size in (int(b) for b in args.tp_batches.split(",") if b):
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
        for rep in range(max(1, args.repeat)):
            for label, src in (trees if rep % 2 == 0 else trees[::-1]):
                run_lane = bench.lane(f"tp-{name}-{size}-{rep}", orders_topic=lane.orders,
                                      batch_max_records=size)
                run_lane.high = lane.high
                profile = (args.results_dir / f"profile-{name}-{size}.txt"
                           if args.profile and rep == 0 and not label else None)
                results[label].append(await measure_worker(bench, run_lane, count,
                                                           profile=profile, src=src))
        for label, found in results.items():
            rates = sorted(r["rate"] for r in found)
            median = sorted(found, key=lambda r: r["rate"])[len(found) // 2]
            median["range"] = f"{rates[0]:,.0f}-{rates[-1]:,.0f}"
            if args.baseline_src and not label:
                ratios = sorted(r["rate"] / b["rate"] for r, b in
                                zip(found, results[trees[0][0]], strict=True))
                median["vs_baseline"] = statistics.median(ratios)
                median["pair_ratios"] = ", ".join(f"{x:.3f}" for x in ratios)
            runs.append((f"clv-stream worker, batch {size}{label}", median))
            if found[0]["profile"]:
                profiles.append(_profile_table(f"{name}, batch {size}", found[0]["profile"]))
    return runs, profiles


async def _peers(bench: Bench, lane: Lane, count: int, args: argparse.Namespace,
                 volume: tuple[float, int] | None) -> dict[str, Any]:
    """The peers on ``lane``'s topic; ``volume``: our worker's records per order and bytes
    per record in this run, which the ``ceiling-volume`` pass-through produces."""
    peers = {}
    if "ceiling" in args.peers:
        peers["ceiling"] = await run_peer(bench, "passthrough", lane.orders, count)
    if "ceiling-volume" in args.peers and volume is not None:
        fanout, size = volume
        peers["ceiling-volume"] = await run_peer(
            bench, "passthrough", lane.orders, passthrough.expected(count, fanout), fanout=fanout,
            extra=("--fanout", repr(fanout), "--record-bytes", str(size)))
    if "quix" in args.peers:
        peers["quix"] = await run_peer(bench, "quix_peer", lane.orders, count)
    if "quix-local" in args.peers:
        peers["quix-local"] = await run_peer(bench, "quix_peer", lane.orders, count,
                                             extra=("--no-changelog",))
    if "naive" in args.peers:
        peers["naive"] = await run_peer(bench, "naive_faust", lane.orders,
                                        min(count, args.naive_orders))
    return peers


async def run(bench: Bench, args: argparse.Namespace) -> list[Table]:
    table = Table("End-to-end throughput (orders/s), same pre-loaded topic, one system at a time",
                  ["workload", "system", "orders", "orders_per_s", "runs_range", "steady_per_s",
                   "vs_naive", "vs_quix", "vs_baseline", "cpu_s_per_1k",
                   "redis_cpu_s_per_1k", "broker_cpu_s_per_1k", "outputs", "out_bytes_per_order"])
    profiles: list[Table] = []
    for name, messages in _workloads(args).items():
        lane = bench.lane(f"tp-{name}")
        t0 = time.perf_counter()
        lane.high = await produce(bench.broker.bootstrap, lane.orders, messages)
        logger.info("pre-loaded %s %s orders in %.1fs", len(messages), name, time.perf_counter() - t0)
        ours, spied = await _ours(bench, lane, name, len(messages), args)
        profiles += spied
        _rows(table, name, ours, await _peers(bench, lane, len(messages), args, _volume(ours)))
        bench.drop_topics([lane.orders])
    table.notes.append("cpu_s_per_1k: CPU seconds (user+system) of the system's own process per "
                       "1,000 orders; redis/broker columns: of redis-server and the broker; all "
                       "over the window the rate is measured on (ours: first order consumed to "
                       "last update; the peers: first output to last), sampled every 0.1 s. "
                       "outputs: records produced (updates + segment changes for ours; one per "
                       "order for the peers, the ceiling-volume pass-through: ours per order). "
                       "out_bytes_per_order: of the records' values. Ours: the median of --repeat "
                       "runs (runs_range: slowest-fastest). batch N: "
                       "CLV_BATCH_MAX_RECORDS=N. vs_quix: against the durable Quix peer "
                       "(changelog topics on, as our state in Redis is durable). vs_baseline "
                       "(--baseline-src): the median of the pairs' ratios, this tree's "
                       "worker over the baseline's, each pair run back to back.")
    table.notes += [f"{row['workload']}, {row['system']}: pair ratios {row['pair_ratios']}"
                    for row in table.rows if row.get("pair_ratios")]
    return [table, *profiles]


def _volume(ours: list[tuple[str, dict[str, Any]]]) -> tuple[float, int] | None:
    """Records per order and bytes per record of our worker's output (its last row)."""
    if not ours:
        return None
    r = ours[-1][1]
    records = r["updates"] + r["segments"]
    return records / r["orders"], r["out_bytes"] // max(records, 1)


def _profile_table(name: str, shares: dict[str, float]) -> Table:
    table = Table(f"Where the worker's time goes ({name}; py-spy samples, %)", ["where", "percent"])
    for where, pct in shares.items():
        table.add(where=where, percent=pct)
    return table


def _rows(table: Table, name: str, ours: list[tuple[str, dict[str, Any]]],
          peers: dict[str, Any]) -> None:
    naive, quix = peers.get("naive"), peers.get("quix")
    for label, r in ours:
        table.add(workload=name, system=label, orders=r["orders"], orders_per_s=r["rate"],
                  runs_range=r.get("range"), steady_per_s=r["steady"],
                  vs_naive=r["rate"] / naive.rate if naive else None,
                  vs_quix=r["rate"] / quix.rate if quix else None,
                  vs_baseline=r.get("vs_baseline"), pair_ratios=r.get("pair_ratios"),
                  cpu_s_per_1k=r["cpu_worker_per_1k"], redis_cpu_s_per_1k=r["cpu_redis_per_1k"],
                  broker_cpu_s_per_1k=r["cpu_broker_per_1k"], outputs=r["updates"] + r["segments"],
                  out_bytes_per_order=r["out_bytes"] / r["orders"])
    labelled: tuple[tuple[str, PeerRun | None], ...] = (
        ("quix streams peer", quix),
        ("quix streams peer, no changelog", peers.get("quix-local")),
        ("naive faust peer", naive),
        ("pass-through ceiling (no work)", peers.get("ceiling")),
        ("pass-through ceiling, our output volume", peers.get("ceiling-volume")))
    for label, peer in labelled:
        if peer is not None:
            redis = peer.redis_cpu_s / peer.orders * 1000
            table.add(workload=name, system=label, orders=peer.orders, orders_per_s=peer.rate,
                      steady_per_s=peer.steady,
                      cpu_s_per_1k=peer.cpu_s / peer.orders * 1000,
                      broker_cpu_s_per_1k=peer.broker_cpu_s / peer.orders * 1000,
                      redis_cpu_s_per_1k=redis if peer is naive else None,  # the one using it
                      outputs=peer.outputs,
                      out_bytes_per_order=peer.out_bytes / peer.orders)

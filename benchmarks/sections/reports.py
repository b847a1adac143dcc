"""Reports: what a report costs at 100k and 1M customers, and whether polling it slows the
consume path.

* **Latency.** For each ``--report-customers`` count, a synthetic shop (``workload.shop``,
  about 2.6 orders a customer over 18 months) goes through the real
  :class:`~clv_stream.pipeline.Pipeline` in-process into the bench's redis-server (the
  worker's Redis writes, without Kafka: as the memory section feeds). Then
  :func:`~clv_stream.report.build_report`, what the worker runs to refresh a tenant's
  report, is timed ``REPEAT`` times; and a worker started on that state answers ``GET
  /report`` (first, cold: it waits for the computation; then warm, from its cache).
  ``INFO commandstats`` is read before and after: the report must not SCAN.
* **Polling.** ``--orders`` shop orders are pre-loaded once; then ``--repeat`` pairs, back
  to back (which goes first alternates), one worker each on a fresh lane: consuming alone,
  and consuming while a client asks what the dashboard asks every second (``/report``,
  ``/transitions``, ``/metrics``, ``/healthz``), with ``CLV_REPORT_INTERVAL=1`` in both, so
  the report is recomputed every second while polled. Measured as the throughput section
  measures our worker; ``vs_alone`` is the median of the pairs' ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import urllib.request
from typing import Any

import redis.asyncio as aioredis

from benchmarks import workload
from benchmarks.harness import Bench, produce
from benchmarks.report import Table
from benchmarks.sections.memory import feed_shop
from benchmarks.sections.throughput import measure_worker
from clv_stream.devinfra.stack import WorkerProcess
from clv_stream.pipeline import CustomerViews, Pipeline
from clv_stream.report import build_report
from clv_stream.store.factory import open_store

__all__ = ["run"]

logger = logging.getLogger(__name__)

#: build_report runs timed per customer count
REPEAT = 30
#: warm GET /report timed per customer count
HTTP_REPEAT = 30
#: what the dashboard asks for on each refresh
DASHBOARD_PATHS = ("/report", "/transitions", "/metrics", "/healthz")


def _get(worker: WorkerProcess, path: str) -> tuple[int, float]:
    """(status, milliseconds) of one GET."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://{worker.host}:{worker.port}{path}", timeout=60) as r:
        r.read()
        return r.status, (time.perf_counter() - started) * 1000


async def _scans(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency(bench: Bench, customers: int) -> dict[str, Any]:
    lane = bench.lane(f"rep{customers}")
    settings = lane.settings
    store = open_store(settings)
    client = aioredis.Redis.from_url(bench.redis.url, decode_responses=True)
    try:
        started = time.perf_counter()
        orders = await feed_shop(Pipeline(settings, store), customers)
        fed_s = time.perf_counter() - started
        views = CustomerViews(settings, store)
        scans = await _scans(client)
        timings = []
        report: dict[str, Any] = {}
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            report = await build_report(store, views, settings.lifespan_years,
                                        tenant=settings.default_tenant)
            timings.append((time.perf_counter() - t0) * 1000)
        totals = await store.portfolio_totals(settings.default_tenant)
        worker = bench.worker(lane)
        try:
            status, cold = await asyncio.to_thread(_get, worker, "/report")
            warm = [(await asyncio.to_thread(_get, worker, "/report"))[1] for _ in range(HTTP_REPEAT)]
        finally:
            worker.close()
        scanned = await _scans(client) - scans
        assert status == 200, status
    finally:
        await store.close()
        await client.flushall(asynchronous=True)  # a million customers: freed in the background
        await client.aclose()
    return {"customers": report["overall"]["customers"], "orders": orders,
            "feed_orders_per_s": orders / fed_s, "totals_fields": len(totals),
            "build_p50_ms": statistics.median(timings), "build_p95_ms": _quantile(timings, 0.95),
            "build_max_ms": max(timings), "http_cold_ms": cold,
            "http_warm_p50_ms": statistics.median(warm), "http_warm_max_ms": max(warm),
            "scans": scanned}


async def _poll(worker: WorkerProcess, answers: list[tuple[str, int, float]]) -> None:
    """What the dashboard asks, once a second, until cancelled."""
    while True:
        started = time.monotonic()
        for path in DASHBOARD_PATHS:
            try:
                answers.append((path, *await asyncio.to_thread(_get, worker, path)))
            except OSError as exc:  # counted as a failed answer, the load goes on
                logger.warning("poll %s: %s", path, exc)
                answers.append((path, 0, 0.0))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def polling(bench: Bench, args: argparse.Namespace) -> list[dict[str, Any]]:
    messages = workload.shop(customers=max(args.orders * 2 // 5, 1), orders=args.orders)
    source = bench.lane("poll-src")
    source.high = await produce(bench.broker.bootstrap, source.orders, messages)
    runs: dict[str, list[dict[str, Any]]] = {"alone": [], "polled every 1 s": []}
    answers: list[tuple[str, int, float]] = []
    for rep in range(max(1, args.repeat)):
        for name in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):
            lane = bench.lane(f"poll-{rep}-{name[:5]}", orders_topic=source.orders,
                              report_interval=1.0)
            lane.high = source.high
            mine: list[tuple[str, int, float]] = []
            during = (lambda w, into=mine: _poll(w, into)) if name != "alone" else None
            found = await measure_worker(bench, lane, len(messages), during=during)
            found["answers"] = mine
            answers += mine
            runs[name].append(found)
    bench.drop_topics([source.orders])
    rows = []
    alone = runs["alone"]
    for name, found in runs.items():
        rates = sorted(r["rate"] for r in found)
        median = sorted(found, key=lambda r: r["rate"])[len(found) // 2]
        ratios = (sorted(p["rate"] / a["rate"] for p, a in zip(found, alone, strict=True))
                  if name != "alone" else None)
        reports = [ms for r in found for path, status, ms in r["answers"] if path == "/report"]
        failed = sum(1 for r in found for _, status, _ in r["answers"] if status != 200)
        rows.append({"run": name, "orders": len(messages), "orders_per_s": median["rate"],
                     "range": f"{rates[0]:,.0f}-{rates[-1]:,.0f}",
                     "steady_per_s": median["steady"],
                     "vs_alone": statistics.median(ratios) if ratios else None,
                     "pair_ratios": ", ".join(f"{x:.3f}" for x in ratios) if ratios else None,
                     "cpu_s_per_1k": median["cpu_worker_per_1k"],
                     "report_polls": len(reports),
                     "report_p50_ms": statistics.median(reports) if reports else None,
                     "report_max_ms": max(reports) if reports else None,
                     "failed_answers": failed if name != "alone" else None})
    return rows


async def run(bench: Bench, args: argparse.Namespace) -> list[Table]:
    sizes = Table("Report latency by customers (one tenant, the default period P12M)",
                  ["customers", "orders", "feed_orders_per_s", "totals_fields", "build_p50_ms",
                   "build_p95_ms", "build_max_ms", "http_cold_ms", "http_warm_p50_ms",
                   "http_warm_max_ms", "scans"])
    for count in (int(c) for c in args.report_customers.split(",")):
        sizes.add(**await latency(bench, count))
        logger.info("reports: latency at %s customers done", count)
    sizes.notes.append(
        f"build_*: build_report (the worker's report refresh: three reads of the tenant's "
        f"totals, spend and subscription totals, then the arithmetic), {REPEAT} runs in "
        f"process. http_cold_ms: a worker's first GET /report (it waits for the first "
        f"computation); http_warm_*: {HTTP_REPEAT} GETs after it (from its cache). "
        "totals_fields: fields of the tenant's portfolio-totals hash. scans: SCAN commands "
        "Redis counted (INFO commandstats) over the builds and the GETs: must be 0. "
        "feed_orders_per_s: in-process Pipeline.process + confirm, how the state was built.")
    polled = Table("Throughput while the dashboard polls (pairs, one worker each)",
                   ["run", "orders", "orders_per_s", "range", "steady_per_s", "vs_alone",
                    "pair_ratios", "cpu_s_per_1k", "report_polls", "report_p50_ms",
                    "report_max_ms", "failed_answers"])
    for row in await polling(bench, args):
        polled.add(**row)
    polled.notes.append(
        "orders_per_s: orders / (last clv.updates record - first order consumed), the median of "
        "--repeat runs (range: slowest-fastest); steady_per_s: the middle 80 %. polled: a "
        "client GETs /report, /transitions, /metrics and /healthz once a second while the "
        "worker consumes, CLV_REPORT_INTERVAL=1 in both runs (the report recomputed every "
        "second while asked). vs_alone: the median of the pairs' ratios (polled / alone, back "
        "to back, which goes first alternating). report_*: the client's GET /report times.")
    return [sizes, polled]

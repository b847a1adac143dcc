"""``python -m benchmarks``: the worker's performance, measured on an embedded stack.

Starts a Tansu broker and a redis-server, pre-loads orders, runs the worker (and the peers)
as child processes, prints a table per section and writes ``benchmarks/results/<section>.json``
and ``benchmarks/results/latest.md``. Sections (``--only``):

* ``throughput``: end to end, ours vs a naive per-event Faust+Redis peer vs Quix Streams;
* ``latency``: order produce -> ``clv.updates`` record, p50/p95/p99 at fixed offered loads;
* ``memory``: Redis bytes per customer (and per dedupe key) at 100k and 1M customers;
* ``cpu``: worker CPU seconds per 1,000 orders at a steady offered load;
* ``soak``: worker RSS over ``--soak-seconds`` at a steady offered load;
* ``scaleout``: one vs two workers in one consumer group: throughput and correctness;
* ``platforms``: standalone Redis vs a 3-primary Redis Cluster with 1 and 2 workers (CPU per
  order of every process), 10 vs 1,000 tenants, Redis bytes per customer with tenants;
* ``subscriptions``: a mixed stream (70 % a shop's orders, 30 % subscription events over the
  same span) vs the shop's orders only, the same ``--orders`` events, ``--repeat`` pairs back
  to back: events/s, the pairs' ratio (the issue's goal: within 20 %), CPU and output per event;
* ``reports``: report latency at ``--report-customers`` customers (no SCAN), and throughput
  alone vs while a client polls what the dashboard polls every second, in pairs.

Quick look: ``python -m benchmarks --orders 50000 --soak-seconds 60 --memory-customers 20000``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import shlex
import sys
import time
from pathlib import Path

from benchmarks.harness import Bench
from benchmarks.report import RESULTS, Table, save

logger = logging.getLogger(__name__)
#: section -> (module in benchmarks.sections, coroutine function)
RUNNERS = {"throughput": ("throughput", "run"), "latency": ("latency", "run"),
           "memory": ("memory", "run"), "cpu": ("cpu_soak", "run_cpu"),
           "soak": ("cpu_soak", "run_soak"), "scaleout": ("scaleout", "run"),
           "platforms": ("platforms", "run"), "subscriptions": ("subscriptions", "run"),
           "reports": ("reports", "run")}
#: ``redis_costs`` and ``sink_costs`` are modules of their own (``python -m benchmarks.<name>``)
SECTIONS = tuple(RUNNERS)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    p.add_argument("--orders", type=int, default=200_000, help="orders pre-loaded per workload")
    p.add_argument("--workloads", default="cdnow,shop",
                   help="throughput workloads: cdnow (69,659-order replay), shop (synthetic)")
    p.add_argument("--peers", default="quix,quix-local,naive,ceiling,ceiling-volume",
                   help="peers to compare with: quix, quix-local (no changelog), naive, "
                        "ceiling (consume + decode + encode + produce, no work), "
                        "ceiling-volume (the same, producing our worker's records and bytes "
                        "per order of the run)")
    p.add_argument("--tp-batches", default="2000,5000",
                   help="throughput: our worker once per CLV_BATCH_MAX_RECORDS value here")
    p.add_argument("--repeat", type=int, default=3,
                   help="throughput: runs of our worker per configuration (median reported); "
                        "platforms and subscriptions: pairs")
    p.add_argument("--naive-orders", type=int, default=20_000,
                   help="orders the naive peer processes (it is slow)")
    p.add_argument("--rates", default="1000,5000,10000,20000",
                   help="latency: offered loads, orders/s")
    p.add_argument("--latency-seconds", type=float, default=15.0, help="latency: seconds per load")
    p.add_argument("--tick-ms", type=float, default=50.0,
                   help="latency, cpu and soak: the paced producer sends what is due every "
                        "tick, one record batch per partition (as linger.ms=50 would); the "
                        "embedded broker's cost grows with the batches stored, docs/tansu.md "
                        "quirk 9")
    p.add_argument("--memory-customers", default="100000,1000000",
                   help="memory: customer counts to measure at")
    p.add_argument("--platform-tenants", type=int, default=10,
                   help="platforms: shops of the synthetic platform the stores are compared on")
    p.add_argument("--platform-customers", type=int, default=100_000,
                   help="platforms: customers of the bytes-per-customer measurement")
    p.add_argument("--report-customers", default="100000,1000000",
                   help="reports: customer counts the report latency is measured at")
    p.add_argument("--steady-rate", type=float, default=5000.0,
                   help="cpu and soak: offered load, orders/s")
    p.add_argument("--cpu-seconds", type=float, default=30.0, help="cpu: seconds measured")
    p.add_argument("--soak-seconds", type=float, default=600.0,
                   help="soak: seconds (default 10 min; a run where the worker fell behind "
                        "is marked NOT VALID)")
    p.add_argument("--soak-burst", type=int, default=200_000,
                   help="soak: a backlog of this many orders first, so the worker has held full "
                        "fetches and processed full batches on every lane before the steady "
                        "phase (0: none)")
    p.add_argument("--batch-max-records", type=int, default=None,
                   help="CLV_BATCH_MAX_RECORDS for the workers (default: the worker's default)")
    p.add_argument("--tag", default=None,
                   help="save as results/<section>-<tag>.json (keeps the main results)")
    p.add_argument("--worker-src", default=None,
                   help="run the workers from this source tree (e.g. a git worktree of an "
                        "earlier commit) instead of the installed clv_stream")
    p.add_argument("--baseline-src", default=None,
                   help="throughput: also run the worker from this source tree, in pairs "
                        "with this one (back to back, order alternating), and report the "
                        "ratio (vs_baseline); the fair before/after on a machine whose "
                        "speed drifts")
    p.add_argument("--profile", action="store_true",
                   help="throughput: py-spy the worker (results/profile-<workload>.txt)")
    p.add_argument("--results-dir", type=Path, default=RESULTS,
                   help="write the JSON files and latest.md here instead of benchmarks/results/")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def _run(args: argparse.Namespace, sections: list[str]) -> None:
    command = shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])
    args.results_dir.mkdir(parents=True, exist_ok=True)  # sections write into it as they run
    worker_settings = ({"batch_max_records": args.batch_max_records}
                       if args.batch_max_records else {})
    for section in sections:
        print(f"\n== {section} ==", flush=True)
        started = time.perf_counter()
        module, func = RUNNERS[section]
        runner = getattr(importlib.import_module(f"benchmarks.sections.{module}"), func)
        with Bench(args.worker_src, **worker_settings) as bench:  # fresh broker and redis each
            tables: list[Table] = await runner(bench, args)
        elapsed = time.perf_counter() - started
        name = f"{section}-{args.tag}" if args.tag else section
        save(name, tables, {"command": command, "seconds": round(elapsed, 1)}, args.results_dir)
        for table in tables:
            print("\n" + table.markdown(), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    gc.set_threshold(50_000, 20, 100)  # as the worker does: the in-process memory feed is faster
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    args.workloads = args.workloads.split(",")
    args.peers = [p for p in args.peers.split(",") if p]
    asyncio.run(_run(args, sections))


if __name__ == "__main__":
    main()

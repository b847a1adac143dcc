"""What producing costs the worker per record: ``KafkaSink.send`` against its batch loop alone.

Sends the same records (``--records`` a call, keys of customer ids, values of 300-700
bytes as our updates and segment events) ``--repeat`` times to an embedded broker, once
through the worker's ``KafkaSink`` (key partitioner, grouping by topic and partition, one
record batch per partition, wait for acks) and once already grouped by partition, through
``KafkaSink``'s own batch loop alone (``send_group``, on partitions of its own choosing, as
the pass-through ceiling writes on the order's partition),
alternating, and prints the process CPU per record of each::

    python -m benchmarks.sink_costs [--records 14000] [--repeat 10] [--rounds 3]

Results: ``benchmarks/results/sink_costs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

from benchmarks.report import Table, save
from clv_stream.devinfra import EmbeddedBroker
from clv_stream.events.records import OutRecord
from clv_stream.settings import Settings
from clv_stream.worker.sink import KafkaSink

TOPIC = "sink-costs"
PARTITIONS = 4


def _records(count: int) -> list[OutRecord]:
    rnd = random.Random(1)
    return [OutRecord(TOPIC, str(rnd.randrange(10**5)).encode(), b"x" * rnd.randrange(300, 700))
            for _ in range(count)]


async def _grouped(sink: KafkaSink, records: list[OutRecord]) -> None:
    """The sink's batch loop alone: no key partitioner, no grouping by topic and partition."""
    sent: list[Any] = []
    for partition in range(PARTITIONS):
        await sink.send_group(TOPIC, partition, records[partition::PARTITIONS], sent)
    await asyncio.gather(*(future for _, future in sent))


async def _measure(bootstrap: str, args: argparse.Namespace) -> dict[str, list[float]]:
    records = _records(args.records)
    sink = KafkaSink(Settings(kafka_bootstrap=bootstrap))
    await sink.start()
    found: dict[str, list[float]] = {"KafkaSink.send": [], "pre-grouped (KafkaSink.send_group)": []}
    try:
        await sink.send(records[:100])  # metadata, connection
        for round_ in range(args.rounds):
            for name in (list(found) if round_ % 2 == 0 else list(found)[::-1]):
                started = time.process_time()
                for _ in range(args.repeat):
                    if name == "KafkaSink.send":
                        await sink.send(records)
                    else:
                        await _grouped(sink, records)
                found[name].append((time.process_time() - started) / (args.repeat * len(records)))
    finally:
        await sink.stop()
    return found


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sink_costs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=14_000,
                   help="records a call (a CDNOW batch of 5,000 orders emits ~14,000)")
    p.add_argument("--repeat", type=int, default=10, help="calls per measurement")
    p.add_argument("--rounds", type=int, default=3, help="measurements of each way, alternating")
    args = p.parse_args(argv)
    with EmbeddedBroker(ready_timeout_s=30.0) as broker:
        broker.create_topics([TOPIC], partitions=PARTITIONS)
        found = asyncio.run(_measure(broker.bootstrap, args))
    table = Table("Producer CPU per record (µs), same records, alternating",
                  ["way", "median_us", "runs_us"])
    for name, runs in found.items():
        table.add(way=name, median_us=statistics.median(runs) * 1e6,
                  runs_us=", ".join(f"{r * 1e6:.2f}" for r in runs))
    table.notes.append(f"{args.records:,} records a call, {args.repeat} calls a run; process "
                       "CPU (user+system), acknowledgements included.")
    save("sink_costs", [table], {"command": "python -m benchmarks.sink_costs"})
    print("\n" + table.markdown())


if __name__ == "__main__":
    main()

"""The embedded broker's cost per record batch (docs/tansu.md, quirk 9), without our worker.

Tansu's memory engine keeps every record batch as one object and lists all of a partition's
objects on every fetch, so what the broker spends grows with the number of batches ever
produced, not with bytes. This offers the same records per second to a 4-partition topic,
read back by one consumer, first as one batch per partition every ``--tick-ms`` of each
value given, and prints every 10 s the batches stored, how far the consumer is behind and
the broker's cores::

    python -m benchmarks.tansu_batches [--rate 1000] [--ticks-ms 5,100] [--seconds 120]

Results: ``benchmarks/results/tansu_batches.json``. Each tick value gets a fresh broker.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.harness import ProcessMeter, paced
from benchmarks.report import Table, save
from benchmarks.workload import Message
from clv_stream.devinfra import EmbeddedBroker
from clv_stream.worker.partitioner import partitions_for

PARTITIONS = 4
VALUE = b"x" * 200  # about one order event
REPORT_EVERY_S = 10.0


async def _run(broker: EmbeddedBroker, rate: float, tick_s: float, seconds: float,
               table: Table) -> None:
    broker.create_topics(["t"], partitions=PARTITIONS)
    assert broker.pid is not None
    meter = ProcessMeter({"broker": broker.pid})
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=20_000)
    await consumer.start()
    consumer.assign([TopicPartition("t", p) for p in range(PARTITIONS)])
    sent, consumed, batches = 0, 0, 0

    def count(messages: list[Message], _ts: int) -> None:
        nonlocal sent, batches
        sent += len(messages)
        batches += len(set(partitions_for([key for key, _ in messages], PARTITIONS)))

    async def consume() -> None:
        nonlocal consumed
        while True:
            got = await consumer.getmany(timeout_ms=500)
            consumed += sum(len(records) for records in got.values())

    async def report() -> None:
        start, cpu_last = time.monotonic(), 0.0
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            cpu = meter.used()["broker"]
            table.add(tick_ms=tick_s * 1000, t_s=round(time.monotonic() - start),
                      records_sent=sent, batches_stored=batches, consumer_behind=sent - consumed,
                      broker_cores=(cpu - cpu_last) / REPORT_EVERY_S)
            cpu_last = cpu

    source = ((b"%d" % i, VALUE) for i in itertools.count())
    tasks = [asyncio.create_task(consume()), asyncio.create_task(report())]
    try:
        await paced(broker.bootstrap, "t", source, rate, seconds, on_sent=count, tick_s=tick_s)
    finally:
        for task in tasks:
            task.cancel()
        await consumer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="records/s offered")
    parser.add_argument("--ticks-ms", default="5,100", help="send intervals to compare")
    parser.add_argument("--seconds", type=float, default=120.0, help="seconds per interval")
    args = parser.parse_args(argv)
    table = Table(f"Tansu broker cores against record batches stored, {args.rate:g} records/s "
                  f"of {len(VALUE)} B into {PARTITIONS} partitions, one consumer",
                  ["tick_ms", "t_s", "records_sent", "batches_stored", "consumer_behind",
                   "broker_cores"])
    for tick in (float(t) for t in args.ticks_ms.split(",")):
        with EmbeddedBroker() as broker:
            asyncio.run(_run(broker, args.rate, tick / 1000, args.seconds, table))
    table.notes.append("Same records per second in every run; only the number of record "
                       "batches differs (one per partition per tick).")
    save("tansu_batches", [table], {"command": "python -m benchmarks.tansu_batches"})
    print("\n" + table.markdown())


if __name__ == "__main__":
    main()

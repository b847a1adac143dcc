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
import time

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.report import Table, save
from clv_stream.devinfra import EmbeddedBroker

PARTITIONS = 4
VALUE = b"x" * 200  # about one order event
REPORT_EVERY_S = 10.0


async def _run(broker: EmbeddedBroker, rate: float, tick_s: float, seconds: float,
               table: Table) -> None:
    broker.create_topics(["t"], partitions=PARTITIONS)
    assert broker.pid is not None
    proc = psutil.Process(broker.pid)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0, acks=1)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=20_000)
    await producer.start()
    await consumer.start()
    consumer.assign([TopicPartition("t", p) for p in range(PARTITIONS)])
    sent = consumed = batches = 0
    running = True

    async def consume() -> None:
        nonlocal consumed
        while running:
            got = await consumer.getmany(timeout_ms=500)
            consumed += sum(len(records) for records in got.values())

    reader = asyncio.create_task(consume())
    acks = []
    try:
        start = last = time.monotonic()
        cpu_last = sum(proc.cpu_times()[:2])
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed) - sent
            for p in range(PARTITIONS):
                n = due // PARTITIONS + (1 if p < due % PARTITIONS else 0)
                if n <= 0:
                    continue
                batch = producer.create_batch()
                for _ in range(n):
                    batch.append(key=None, value=VALUE, timestamp=None)
                batch.close()
                acks.append(await producer.send_batch(batch, "t", partition=p))
                batches += 1
            sent += max(due, 0)
            if (now := time.monotonic()) - last >= REPORT_EVERY_S:
                cpu = sum(proc.cpu_times()[:2])
                table.add(tick_ms=tick_s * 1000, t_s=round(elapsed), records_sent=sent,
                          batches_stored=batches, consumer_behind=sent - consumed,
                          broker_cores=(cpu - cpu_last) / (now - last))
                cpu_last, last = cpu, now
            await asyncio.sleep(tick_s)
        await asyncio.gather(*acks)
    finally:
        running = False
        await reader
        await consumer.stop()
        await producer.stop()


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

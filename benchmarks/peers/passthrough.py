"""The ceiling: consume, decode, encode and produce with no work between (aiokafka, orjson).

Not a design anyone would ship: it shows what the broker, the Python Kafka client and the
benchmark's own reader allow on this machine before any state, scoring or segments. Per
fetched batch it decodes each order, encodes one small record (``customer_id``,
``source_event_id``, as the peers emit) on the order's partition of the output topic, sends
one record batch per partition (``send_batch``), waits for the acknowledgements, then commits.

``--fanout R --record-bytes B``: R records per order on average (a fraction is spread: the
k-th order gets ``floor(k·R + ½) - floor((k-1)·R + ½)``, so N orders yield
``floor(N·R + ½)``) of B bytes each (padded), to carry the volume our worker emits (on the
CDNOW replay 2.9 records and ~1.37 KB an order; see docs/performance.md). Acknowledgements
are ``acks=1`` (the worker asks for ``all``; the same on a one-broker cluster)::

    python -m benchmarks.peers.passthrough --bootstrap 127.0.0.1:9092 --input orders \
        --output pass.out --group pass [--fanout 2.86 --record-bytes 480]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

#: Tansu holds a JoinGroup for half the rebalance timeout (docs/tansu.md): keep it short
GROUP = {"session_timeout_ms": 6000, "rebalance_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


async def run(args: argparse.Namespace) -> None:
    consumer = AIOKafkaConsumer(args.input, bootstrap_servers=args.bootstrap, group_id=args.group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=args.batch, fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=16 * 1024 * 1024, **GROUP)
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks=1, linger_ms=0,
                                max_batch_size=1024 * 1024, max_request_size=16 * 1024 * 1024)
    await producer.start()
    await consumer.start()
    pad = b"x" * args.record_bytes
    seen = 0  # orders so far, for the fractional fanout
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=100)
            sends = []
            for tp, messages in fetched.items():
                batch: BatchBuilder = producer.create_batch()
                for m in messages:
                    event = orjson.loads(m.value)
                    now_ms = int(time.time() * 1000)  # per order, as the Quix peer stamps
                    seen += 1
                    for i in range(_share(seen, args.fanout)):
                        body = orjson.dumps({"customer_id": event.get("customer_id"),
                                             "source_event_id": event.get("event_id"),
                                             "n": i, "pad": ""})
                        if len(body) < args.record_bytes:  # '..."pad":""}' -> '"pad":"xx"}'
                            body = body[:-2] + pad[:args.record_bytes - len(body)] + b'"}'
                        if batch.append(key=m.key, value=body, timestamp=now_ms) is None:
                            sends.append(await producer.send_batch(batch, args.output,
                                                                   partition=tp.partition))
                            batch = producer.create_batch()
                            batch.append(key=m.key, value=body, timestamp=now_ms)
                sends.append(await producer.send_batch(batch, args.output, partition=tp.partition))
            if sends:
                await asyncio.gather(*sends)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def _share(k: int, fanout: float) -> int:
    """Records for the k-th order (from 1), so that N orders yield ``expected(N, fanout)``."""
    return expected(k, fanout) - expected(k - 1, fanout)


def expected(orders: int, fanout: float) -> int:
    """Records produced for ``orders`` orders."""
    return math.floor(orders * fanout + 0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "input", "output", "group", "state-dir"):
        parser.add_argument(f"--{name}", required=name != "state-dir")
    parser.add_argument("--batch", type=int, default=5000, help="records per fetch, at most")
    parser.add_argument("--fanout", type=float, default=1.0,
                        help="records produced per order, on average")
    parser.add_argument("--record-bytes", type=int, default=0,
                        help="pad each produced record to this many bytes")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover: uvloop is a dependency of the worker
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()

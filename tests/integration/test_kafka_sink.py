"""The worker's sink, on a real broker: each keyed record lands on the partition Kafka's
default partitioner gives its key (so other producers' records of that customer share it),
records of one key keep the order they were sent in, and records without a key (dead
letters of keyless input) are spread over the partitions, none lost."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from clv_stream.devinfra import EmbeddedBroker
from clv_stream.pipeline import OutRecord
from clv_stream.settings import Settings
from clv_stream.worker.kafka import KafkaSink

PARTITIONS = 4


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes | None, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    found: list[tuple[int, bytes | None, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 30
        while len(found) < count and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=300)).values():
                found += [(m.partition, m.key, m.value) for m in msgs]
    finally:
        await consumer.stop()
    return found


async def test_keyed_records_go_where_kafka_puts_their_key_in_order_and_keyless_spread(
    kafka_broker: EmbeddedBroker, make_topics: Callable[..., list[str]],
) -> None:
    (topic,) = make_topics(["sink"], partitions=PARTITIONS)
    rnd = random.Random(7)
    # keys of many lengths (the partitioner hashes each length as one array), some repeated
    keys = [bytes(rnd.choice(b"abcdef0123456789-") for _ in range(rnd.randrange(1, 40)))
            for _ in range(300)]
    records = [OutRecord(topic, rnd.choice(keys), f"keyed-{i}".encode()) for i in range(3000)]
    for i in range(8):
        records.insert(i * 300, OutRecord(topic, None, f"keyless-{i}".encode()))
    sink = KafkaSink(Settings(kafka_bootstrap=kafka_broker.bootstrap))
    await sink.start()
    try:
        await sink.send(records)
    finally:
        await sink.stop()

    found = await _read(kafka_broker.bootstrap, topic, len(records))
    assert sorted(v for _, _, v in found) == sorted(r.value for r in records)
    kafka = DefaultPartitioner()
    parts = list(range(PARTITIONS))
    for partition, key, _ in found:
        if key is not None:
            assert partition == kafka(key, parts, parts)
    for key in set(keys):  # per key, the order sent (records of a key share one partition)
        sent = [r.value for r in records if r.key == key]
        assert [v for _, k, v in found if k == key] == sent
    assert len({p for p, k, _ in found if k is None}) == PARTITIONS  # 8 keyless, round robin

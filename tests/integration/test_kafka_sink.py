"""The worker's sink, on a real broker: each keyed record lands on the partition Kafka's
default partitioner gives its key (so other producers' records of that customer share it),
records keep the order they were sent in within a partition, and records without a key
(dead letters of keyless input) are spread over the partitions, none lost."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from clv_stream.devinfra import EmbeddedBroker
from clv_stream.events.records import OutRecord
from clv_stream.settings import Settings
from clv_stream.worker.sink import KafkaSink

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


async def _send(bootstrap: str, records: list[OutRecord]) -> None:
    sink = KafkaSink(Settings(kafka_bootstrap=bootstrap))
    await sink.start()
    try:
        await sink.send(records)
    finally:
        await sink.stop()


def _expected_partitions(records: list[OutRecord]) -> dict[int, list[bytes]]:
    """Per partition, the keyed records' values in the order sent, as Kafka would place them."""
    kafka, parts = DefaultPartitioner(), list(range(PARTITIONS))
    expected: dict[int, list[bytes]] = {p: [] for p in parts}
    for r in records:
        if r.key is not None:
            expected[kafka(r.key, parts, parts)].append(r.value)
    return expected


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
    await _send(kafka_broker.bootstrap, records)

    found = await _read(kafka_broker.bootstrap, topic, len(records))
    assert sorted(v for _, _, v in found) == sorted(r.value for r in records)
    for partition, values in _expected_partitions(records).items():  # place and order
        assert [v for p, k, v in found if p == partition and k is not None] == values
    assert len({p for p, k, _ in found if k is None}) == PARTITIONS  # 8 keyless, round robin


async def test_records_whose_keys_share_one_length_keep_kafkas_partition_and_order(
    kafka_broker: EmbeddedBroker, make_topics: Callable[..., list[str]],
) -> None:
    """The usual case (customer ids of one format, every record keyed): no grouping by key
    length and no round robin in the sink."""
    (topic,) = make_topics(["sink1"], partitions=PARTITIONS)
    rnd = random.Random(11)
    keys = [f"cust-{rnd.randrange(10**8):08d}".encode() for _ in range(500)]
    records = [OutRecord(topic, rnd.choice(keys), f"v-{i}".encode()) for i in range(4000)]
    await _send(kafka_broker.bootstrap, records)

    found = await _read(kafka_broker.bootstrap, topic, len(records))
    assert len(found) == len(records)
    for partition, values in _expected_partitions(records).items():
        assert [v for p, _, v in found if p == partition] == values

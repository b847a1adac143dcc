"""Output records to Kafka in bulk: grouped by partition, whole record batches, every
acknowledgement awaited.

Order within a partition is the order of the records given; a send that fails part-way
says which records were not acknowledged (:class:`Unsent`), so a retry never sends one the
broker has twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from clv_stream.events.records import OutRecord
from clv_stream.exceptions import BrokerError
from clv_stream.settings import Settings
from clv_stream.worker.credentials import kafka_security
from clv_stream.worker.partitioner import partitions_for

__all__ = ["MAX_BATCH_BYTES", "KafkaSink", "Unsent"]

#: Largest record batch the sink builds (Kafka brokers accept 1 MiB by default).
MAX_BATCH_BYTES = 512 * 1024
#: How long the sink trusts a topic's partition list before asking the producer again.
PARTITIONS_TTL_S = 30.0


class Unsent(BrokerError):
    """Some records of a send were not acknowledged; ``records`` are those (in order)."""

    def __init__(self, records: list[OutRecord], cause: KafkaError) -> None:
        super().__init__(f"{len(records)} records not acknowledged: {type(cause).__name__}")
        self.records, self.cause = records, cause



class KafkaSink:
    """Produces output records in bulk and waits until the broker has acknowledged all.

    Batch-first: records are grouped by topic and partition (Kafka's default key
    partitioner, vectorised in :mod:`~clv_stream.worker.partitioner`) and each group is
    appended to record batches handed to the producer whole (``send_batch``), which costs
    far less CPU than one ``send()`` per record (``benchmarks/sink_costs.py``). Order
    within a partition is the order of ``records``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._spread = 0  # round robin for records without a key

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **kafka_security(self._settings).aiokafka(), acks="all", linger_ms=5,
            max_batch_size=MAX_BATCH_BYTES, max_request_size=4 * 1024 * 1024,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, records: Sequence[OutRecord]) -> None:
        """Produce ``records`` and wait for every acknowledgement.

        Raises :class:`Unsent` with the records that were not acknowledged (a retry sends
        only those: a record the broker acknowledged is never sent twice by us).
        """
        assert self._producer is not None, "KafkaSink.start() first"
        by_topic: dict[str, list[OutRecord]] = {}
        for r in records:
            by_topic.setdefault(r.topic, []).append(r)
        sent: list[tuple[list[OutRecord], asyncio.Future[Any]]] = []
        unsent: list[OutRecord] = []
        error: KafkaError | None = None
        for topic, recs in by_topic.items():
            try:
                groups = await self._by_partition(topic, recs)
            except KafkaError as exc:
                error, unsent = exc, unsent + recs
                continue
            for partition, group in groups.items():
                submitted = len(sent)
                try:
                    await self.send_group(topic, partition, group, sent)
                except KafkaError as exc:
                    done = sum(len(batch) for batch, _ in sent[submitted:])
                    error, unsent = exc, unsent + group[done:]
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        for (batch, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, KafkaError):
                    raise result
                error, unsent = result, unsent + batch
        if unsent:
            assert error is not None
            raise Unsent(unsent, error)

    async def _by_partition(self, topic: str, records: list[OutRecord]) -> dict[int, list[OutRecord]]:
        parts = await self._partitions_of(topic)
        keyed = [r.key for r in records if r.key is not None]
        chosen = partitions_for(keyed, len(parts))
        if len(keyed) < len(records):  # dead letters of records without a key: round robin
            found = iter(chosen)
            chosen = [next(found) if r.key is not None else self._next_spread(len(parts))
                      for r in records]
        groups: list[list[OutRecord]] = [[] for _ in parts]
        appends = [g.append for g in groups]
        for r, index in zip(records, chosen, strict=True):
            appends[index](r)
        return {parts[i]: g for i, g in enumerate(groups) if g}

    def _next_spread(self, partitions: int) -> int:
        self._spread += 1
        return self._spread % partitions

    async def send_group(self, topic: str, partition: int, records: list[OutRecord],
                         sent: list[tuple[list[OutRecord], asyncio.Future[Any]]]) -> None:
        """Hand ``records`` to the producer as whole record batches for one partition;
        append each batch's records and its acknowledgement future to ``sent``."""
        assert self._producer is not None
        producer, start = self._producer, 0
        batch = producer.create_batch()
        for i, r in enumerate(records):
            if batch.append(key=r.key, value=r.value, timestamp=None) is None:
                sent.append((records[start:i], await self._submit(batch, topic, partition)))
                start, batch = i, producer.create_batch()
                if batch.append(key=r.key, value=r.value, timestamp=None) is None:
                    raise MessageSizeTooLargeError(f"{len(r.value)} bytes do not fit a batch")
        sent.append((records[start:], await self._submit(batch, topic, partition)))

    async def _submit(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        assert self._producer is not None
        batch.close()  # complete: the producer sends it at once instead of lingering
        future: asyncio.Future[Any] = await self._producer.send_batch(batch, topic, partition=partition)
        return future

    async def _partitions_of(self, topic: str) -> list[int]:
        """The topic's partitions, sorted (as the default partitioner indexes them)."""
        assert self._producer is not None
        now = time.monotonic()
        cached = self._partitions.get(topic)
        if cached is None or now - cached[0] > PARTITIONS_TTL_S:
            found = sorted(await self._producer.partitions_for(topic))
            cached = self._partitions[topic] = (now, found)
        return cached[1]


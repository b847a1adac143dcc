"""Kafka at the edge: client settings, the batch sink, and the batch-first consume loop.

Why a loop of our own under Faust: Faust's per-event stream path (agent -> stream -> event)
tops out near 7.5k events/s on this hardware, while the broker and one Redis Lua call per
batch allow > 70k/s. So the worker keeps Faust for what it is good at (app lifecycle, web
server, timers, CLI, logging) and drives an aiokafka consumer (the client Faust is built on)
in batches here, inside a Faust service. See the README (Architecture) and
``docs/performance.md``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError, MessageSizeTooLargeError

from clv_stream.exceptions import StoreUnavailable
from clv_stream.pipeline import BatchOutcome, OutRecord, RawRecord
from clv_stream.settings import Settings
from clv_stream.worker.memory import pin_mmap_threshold
from clv_stream.worker.partitioner import partitions_for

__all__ = ["BatchLoop", "KafkaSink", "client_options"]

logger = logging.getLogger(__name__)

#: Largest record batch the sink builds (Kafka brokers accept 1 MiB by default).
MAX_BATCH_BYTES = 512 * 1024
#: Garbage collector thresholds of the worker process (see :meth:`BatchLoop.start`).
GC_THRESHOLDS = (50_000, 20, 100)
#: How long the sink trusts a topic's partition list before asking the producer again.
PARTITIONS_TTL_S = 30.0

#: ``process(records, shards, home)``: see :meth:`clv_stream.pipeline.Pipeline.process`.
Process = Callable[[list[RawRecord], Sequence[int], bool], Awaitable[BatchOutcome]]
Confirm = Callable[[BatchOutcome], Awaitable[None]]


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options shared by our aiokafka consumers and producers."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        opts["sasl_plain_password"] = password.get_secret_value() if password else None
    return opts


class KafkaSink:
    """Produces output records in bulk and waits until the broker has acknowledged all.

    Batch-first: records are grouped by topic and partition (Kafka's default key
    partitioner, vectorised in :mod:`~clv_stream.worker.partitioner`) and each group is
    appended to record batches handed to the producer whole (``send_batch``), which costs
    about a third of the CPU of one ``send()`` per record. Order within a partition is the
    order of ``records``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._spread = 0  # round robin for records without a key

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **client_options(self._settings), acks="all", linger_ms=5,
            max_batch_size=MAX_BATCH_BYTES, max_request_size=4 * 1024 * 1024,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, records: Sequence[OutRecord]) -> None:
        assert self._producer is not None, "KafkaSink.start() first"
        by_topic: dict[str, list[OutRecord]] = {}
        for r in records:
            by_topic.setdefault(r.topic, []).append(r)
        futures: list[asyncio.Future[Any]] = []
        for topic, recs in by_topic.items():
            for partition, group in (await self._by_partition(topic, recs)).items():
                futures += await self._send_group(topic, partition, group)
        if futures:
            await asyncio.gather(*futures)

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

    async def _send_group(self, topic: str, partition: int,
                          records: list[OutRecord]) -> list[asyncio.Future[Any]]:
        assert self._producer is not None
        producer, futures = self._producer, []
        batch = producer.create_batch()
        for r in records:
            if batch.append(key=r.key, value=r.value, timestamp=None) is None:
                futures.append(await self._submit(batch, topic, partition))
                batch = producer.create_batch()
                if batch.append(key=r.key, value=r.value, timestamp=None) is None:
                    raise MessageSizeTooLargeError(f"{len(r.value)} bytes do not fit a batch")
        futures.append(await self._submit(batch, topic, partition))
        return futures

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


def _keyed(message: Any) -> bool:
    """True when the record's key is its ``customer_id`` (or it can touch no customer).

    Fast path: the value holds the field once, as ``"customer_id":"<key>"`` (or with the
    one space of Python's ``json.dumps``) and the key has no quote or backslash, so that
    string cannot end elsewhere; else decode.
    """
    key, value = message.key, message.value
    if value is None:
        return True  # a tombstone: dead-lettered, no state
    if (key is not None and b'"' not in key and b"\\" not in key
            and value.count(b'"customer_id"') == 1
            and (b'"customer_id":"' + key + b'"' in value
                 or b'"customer_id": "' + key + b'"' in value)):
        return True
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return True  # dead-lettered, no state
    cid = event.get("customer_id") if isinstance(event, dict) else None
    return not isinstance(cid, str) or (key is not None and cid.encode() == key)


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for the batches in flight before partitions are handed to another worker."""

    def __init__(self, idle: Callable[[], AbstractAsyncContextManager[None]]) -> None:
        self._idle = idle

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._idle():
            logger.info("partitions revoked: %s", sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        logger.info("partitions assigned: %s", sorted(str(tp) for tp in assigned))


class BatchLoop:
    """Consume ``orders`` in bounded batches; commit offsets only after a batch is done.

    A batch is done when its Redis script returned, its output records were acknowledged by
    the broker, and its publication was recorded. While Redis is unreachable the loop retries
    the same batch with capped backoff and fetches nothing new (backpressure).

    Lanes: the assigned partitions are split into ``CLV_CONSUME_LANES`` groups (partition %
    lanes), each consumed by its own sequential loop, all in this event loop: while some
    lanes wait for Redis or for the broker's acks, another computes. Two lanes fall into
    step (both waiting for Redis, which runs one script at a time, a third of the time);
    four keep the worker busier. Within a lane nothing changes (one
    batch at a time, in order). A customer's correctly keyed orders are all in one
    partition, so lanes never share a customer, except through a record keyed otherwise
    than its ``customer_id``: a batch holding one runs alone, as ``exclusive`` steps (a
    refit page) and revocations do, once every lane is between batches.

    Time decay rides on the lanes: each batch also re-scores the customers of the lane's
    partitions that its event time made due (the customers' due index is sharded by their
    home partition), and an idle lane looks for due ones every ``CLV_DUE_POLL_INTERVAL``
    with an empty batch. So a customer is only ever touched by the lane that owns it, and a
    worker only sweeps the partitions assigned to it.
    """

    def __init__(self, settings: Settings, process: Process, sink: KafkaSink,
                 confirm: Confirm, lanes: int | None = None) -> None:
        self._s = settings
        self._process, self._sink, self._confirm = process, sink, confirm
        self._lanes = [asyncio.Lock() for _ in range(max(1, lanes or settings.consume_lanes))]
        self._commit_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.batches = 0
        self._turn = 0
        self.consumer: AIOKafkaConsumer | None = None

    def _new_consumer(self) -> AIOKafkaConsumer:
        settings = self._s
        return AIOKafkaConsumer(
            **client_options(settings), group_id=settings.consumer_group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=settings.batch_max_records,
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 3, 100),
            fetch_max_wait_ms=max(settings.batch_max_wait_ms, 1),
            max_partition_fetch_bytes=settings.fetch_partition_bytes,
        )

    async def start(self) -> None:
        # Nearly every object of a batch dies by reference counting; with the default
        # thresholds (700, 10, 10) the collector still runs ~15 times a batch and a full
        # collection of the worker's caches pauses it 100-200 ms (p99 latency). Collect
        # young objects per 50,000 allocations instead, and the old ones rarely.
        gc.set_threshold(*GC_THRESHOLDS)
        pin_mmap_threshold(self._s.malloc_mmap_threshold)  # before the first fetch buffer
        self.consumer = self._new_consumer()
        self.consumer.subscribe([self._s.topic_orders], listener=_Revocations(self._all_idle))
        await self.consumer.start()

    async def stop(self) -> None:
        self._stopping.set()
        async with self._all_idle():
            if self.consumer is not None:
                await self.consumer.stop()

    @asynccontextmanager
    async def _all_idle(self) -> AsyncIterator[None]:
        """Hold every lane between batches (locks taken in a fixed order)."""
        async with AsyncExitStack() as stack:
            for lock in self._lanes:
                await stack.enter_async_context(lock)
            yield

    async def exclusive(self, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``step`` between batches (never concurrently with one), retrying on outages."""
        async with self._all_idle():
            return await self._retrying(step)

    async def run(self) -> None:
        assert self.consumer is not None, "BatchLoop.start() first"
        await asyncio.gather(*(self._lane(i) for i in range(len(self._lanes))))

    async def _lane(self, lane: int) -> None:
        assert self.consumer is not None
        n, wait_ms = len(self._lanes), self._s.batch_max_wait_ms or 1
        next_look = 0.0  # when this lane, if idle, next looks for due customers
        while not self._stopping.is_set():
            mine = [tp for tp in self.consumer.assignment() if tp.partition % n == lane]
            if not mine:
                await asyncio.sleep(max(wait_ms, 50) / 1000)
                continue
            fetched = await self._fetch(mine, wait_ms)
            if not fetched:
                if time.monotonic() >= next_look:
                    async with self._lanes[lane]:
                        more = await self._handle({}, mine, home=True)
                    next_look = time.monotonic() + (0.0 if more else self._s.due_poll_interval)
                continue
            keyed = all(_keyed(m) for msgs in fetched.values() for m in msgs)
            if n > 1 and not keyed:
                async with self._all_idle():  # a customer of this batch may be in another lane
                    await self._handle(fetched, mine, home=False)
            else:
                async with self._lanes[lane]:
                    await self._handle(fetched, mine, home=keyed)

    async def _fetch(self, mine: list[Any], wait_ms: int) -> dict[Any, list[Any]]:
        """Up to ``CLV_BATCH_MAX_RECORDS`` records of the lane's partitions.

        A fetch brings what the broker returned for each partition in one response, often
        less than a batch (about 1 MB a partition here). When it brought at least a quarter
        of a batch, there is a backlog: one more fetch (waiting at most ``wait_ms``) tops the
        batch up, as fuller batches cost less per order. A trickle is not held back.
        """
        assert self.consumer is not None
        limit = self._s.batch_max_records
        fetched: dict[Any, list[Any]] = await self.consumer.getmany(
            *mine, timeout_ms=wait_ms, max_records=limit)
        got = sum(len(msgs) for msgs in fetched.values())
        if got * 4 >= limit and got < limit:
            more = await self.consumer.getmany(*mine, timeout_ms=wait_ms, max_records=limit - got)
            for tp, msgs in more.items():
                fetched[tp] = fetched.get(tp, []) + msgs
        return fetched

    async def _handle(self, fetched: dict[Any, list[Any]], mine: list[Any], home: bool) -> bool:
        """Process, send, confirm, commit one batch; return whether its look at due
        customers was full (there may be more: look again at once)."""
        assert self.consumer is not None
        owned = self.consumer.assignment()
        fetched = {tp: msgs for tp, msgs in fetched.items() if tp in owned}
        shards = sorted(tp.partition for tp in mine if tp in owned)
        if shards:  # the due limit is shared in this order: start at another shard each time
            self._turn += 1
            turn = self._turn % len(shards)
            shards = shards[turn:] + shards[:turn]
        records = [RawRecord(m.topic, m.partition, m.offset, m.key, m.value)
                   for msgs in fetched.values() for m in msgs]
        if not records and not shards:
            return False
        outcome: BatchOutcome = await self._retrying(lambda: self._process(records, shards, home))
        await self._retrying(lambda: self._sink.send(outcome.records))
        await self._retrying(lambda: self._confirm(outcome))
        if not fetched:
            return outcome.full_look
        try:
            async with self._commit_lock:
                await self.consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in fetched.items()})
        except CommitFailedError as exc:  # rebalanced meanwhile; the new owner redelivers
            logger.warning("offset commit failed (%s); redelivery is idempotent", exc)
        self.batches += 1
        return outcome.full_look

    async def _retrying(self, step: Callable[[], Awaitable[Any]]) -> Any:
        delay = 0.05
        while True:
            try:
                return await step()
            except (StoreUnavailable, KafkaError) as exc:
                if self._stopping.is_set():
                    raise
                logger.warning("retrying in %.2fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

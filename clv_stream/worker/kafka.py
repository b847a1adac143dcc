"""Kafka at the edge: client settings, the batch sink, and the batch-first consume loop.

Why a loop of our own under Faust: Faust's per-event stream path (agent -> stream -> event)
tops out near 7.5k events/s on this hardware, while the broker and one Redis Lua call per
batch allow > 70k/s. So the worker keeps Faust for what it is good at (app lifecycle, web
server, timers, CLI, logging) and drives an aiokafka consumer (the client Faust is built on)
in batches here, inside a Faust service. See ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError

from clv_stream.exceptions import StoreUnavailable
from clv_stream.pipeline import BatchOutcome, OutRecord, RawRecord
from clv_stream.settings import Settings

__all__ = ["BatchLoop", "KafkaSink", "client_options"]

logger = logging.getLogger(__name__)

Process = Callable[[list[RawRecord]], Awaitable[BatchOutcome]]
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
    """Produces output records in bulk and waits until the broker has acknowledged all."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **client_options(self._settings), acks="all", linger_ms=5,
            max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, records: Sequence[OutRecord]) -> None:
        assert self._producer is not None, "KafkaSink.start() first"
        send = self._producer.send
        futures = [await send(r.topic, r.value, key=r.key) for r in records]
        if futures:
            await asyncio.gather(*futures)


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for the batch in flight before partitions are handed to another worker."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._lock:
            logger.info("partitions revoked: %s", sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        logger.info("partitions assigned: %s", sorted(str(tp) for tp in assigned))


class BatchLoop:
    """Consume ``orders`` in bounded batches; commit offsets only after a batch is done.

    A batch is done when its Redis script returned, its output records were acknowledged by
    the broker, and its publication was recorded. While Redis is unreachable the loop retries
    the same batch with capped backoff and fetches nothing new (backpressure).
    """

    def __init__(self, settings: Settings, process: Process, sink: KafkaSink,
                 confirm: Confirm) -> None:
        self._s = settings
        self._process, self._sink, self._confirm = process, sink, confirm
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.batches = 0
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
        )

    async def start(self) -> None:
        self.consumer = self._new_consumer()
        self.consumer.subscribe([self._s.topic_orders], listener=_Revocations(self._lock))
        await self.consumer.start()

    async def stop(self) -> None:
        self._stopping.set()
        async with self._lock:
            if self.consumer is not None:
                await self.consumer.stop()

    async def exclusive(self, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``step`` between batches (never concurrently with one), retrying on outages."""
        async with self._lock:
            return await self._retrying(step)

    async def run(self) -> None:
        assert self.consumer is not None, "BatchLoop.start() first"
        while not self._stopping.is_set():
            fetched = await self.consumer.getmany(
                timeout_ms=self._s.batch_max_wait_ms or 1, max_records=self._s.batch_max_records
            )
            if fetched:
                async with self._lock:
                    await self._handle(fetched)

    async def _handle(self, fetched: dict[Any, list[Any]]) -> None:
        assert self.consumer is not None
        owned = self.consumer.assignment()
        fetched = {tp: msgs for tp, msgs in fetched.items() if tp in owned}
        records = [RawRecord(m.topic, m.partition, m.offset, m.key, m.value)
                   for msgs in fetched.values() for m in msgs]
        if not records:
            return
        outcome = await self._retrying(lambda: self._process(records))
        await self._retrying(lambda: self._sink.send(outcome.records))
        await self._retrying(lambda: self._confirm(outcome))
        try:
            await self.consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in fetched.items()})
        except CommitFailedError as exc:  # rebalanced meanwhile; the new owner redelivers
            logger.warning("offset commit failed (%s); redelivery is idempotent", exc)
        self.batches += 1

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

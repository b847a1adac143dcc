"""A real worker process on the session's broker and redis-server, with topic isolation.

``Harness`` produces orders, waits until the worker has applied them (by the offsets the
Lua script stores), reads the output topics and the store. Everything goes through the
same public surfaces a user has: Kafka topics, Redis state via the store the settings open
(``RedisStore``, or ``RedisClusterStore`` on a cluster with ``redis_cluster=True``), HTTP.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis, EmbeddedRedisCluster, free_port
from clv_stream.devinfra.stack import EMBEDDED_BROKER_ENV, WorkerProcess
from clv_stream.domain.aggregate import Summary
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import StateStore

Message = tuple[bytes | None, bytes]  # (key, value)


def until(condition: Callable[[], Any], limit_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy, and return that; fail after
    ``limit_s`` seconds saying ``what`` was awaited."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {limit_s} s")


async def wait_until(condition: Callable[[], Awaitable[bool]], limit_s: float,
                     interval_s: float = 0.05) -> bool:
    """Poll ``condition`` until true (True) or ``limit_s`` passed (False)."""
    deadline = time.monotonic() + limit_s
    while True:
        if await condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)


async def committed_offsets(settings: Settings) -> dict[int, int]:
    """The worker's consumer group's committed offsets (the next offset to read) per
    partition of the orders topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                group_id=settings.consumer_group,
                                enable_auto_commit=False, request_timeout_ms=10_000)
    await consumer.start()
    try:
        found: dict[int, int] = {}
        for p in range(settings.topic_partitions):
            offset = await consumer.committed(TopicPartition(settings.topic_orders, p))
            if offset is not None and offset >= 0:
                found[p] = offset
        return found
    finally:
        await consumer.stop()


class Harness:
    def __init__(self, broker: EmbeddedBroker, redis: EmbeddedRedis | EmbeddedRedisCluster,
                 **overrides: Any) -> None:
        tag = f"t{uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            kafka_bootstrap=broker.bootstrap, redis_url=SecretStr(redis.url),
            redis_key_prefix=tag, topic_orders=f"{tag}.orders",
            topic_updates=f"{tag}.clv.updates", topic_segments=f"{tag}.clv.segments",
            topic_deadletter=f"{tag}.clv.deadletter", consumer_group=f"{tag}-g",
            app_id=f"{tag}-app", web_port=free_port(),
            fx_rates={"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")}, **overrides,
        )
        s = self.settings
        broker.create_topics([s.topic_orders, s.topic_updates, s.topic_segments,
                              s.topic_deadletter], partitions=s.topic_partitions)
        self.worker: WorkerProcess | None = None

    def start_worker(self, **overrides: Any) -> WorkerProcess:
        if overrides:
            self.settings = self.settings.model_copy(update=overrides)
        self.worker = WorkerProcess(self.settings, extra_env=EMBEDDED_BROKER_ENV)
        self.worker.start()
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    @classmethod
    @contextmanager
    def running(cls, broker: EmbeddedBroker, redis: EmbeddedRedis | EmbeddedRedisCluster,
                **overrides: Any) -> Iterator[Harness]:
        """A harness with its worker started; the worker is stopped on the way out."""
        h = cls(broker, redis, **overrides)
        h.start_worker()
        try:
            yield h
        finally:
            h.stop_worker()

    # --- HTTP --------------------------------------------------------------------------
    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """GET ``path`` from the worker's web server: (status, body), errors included."""
        url = f"http://{self.settings.web_host}:{self.settings.web_port}{path}"
        request = urllib.request.Request(url, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    # --- Kafka ---------------------------------------------------------------------
    async def produce(self, messages: Iterable[Message],
                      partition: int | None = None) -> dict[int, int]:
        """Publish; return the highest offset written per partition."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5,
                                    max_request_size=4 * 1024 * 1024)
        await producer.start()
        try:
            futures = [await producer.send(self.settings.topic_orders, value, key=key,
                                           partition=partition) for key, value in messages]
            metas = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        high: dict[int, int] = {}
        for m in metas:
            high[m.partition] = max(high.get(m.partition, -1), m.offset)
        return high

    async def produce_events(self, events: Iterable[dict[str, Any]]) -> dict[int, int]:
        return await self.produce(
            (str(e.get("customer_id", e.get("channel"))).encode(), orjson.dumps(e))
            for e in events
        )

    async def read(self, topic: str, idle_s: float = 2.0, minimum: int = 0,
                   limit_s: float = 60.0) -> list[dict[str, Any]]:
        """Everything on ``topic`` so far: until ``minimum`` records and ``idle_s`` of quiet."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        out: list[dict[str, Any]] = []
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(self.settings.topic_partitions)])
            deadline, last = time.monotonic() + limit_s, time.monotonic()
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                for msgs in batch.values():
                    out.extend({"_offset": m.offset, "_partition": m.partition,
                                **orjson.loads(m.value)} for m in msgs)
                    last = time.monotonic()
                if len(out) >= minimum and time.monotonic() - last > idle_s:
                    break
        finally:
            await consumer.stop()
        return out

    async def committed(self) -> dict[int, int]:
        return await committed_offsets(self.settings)

    # --- Redis -----------------------------------------------------------------------
    def store(self) -> StateStore:
        return open_store(self.settings)

    async def wait_applied(self, high: dict[int, int], limit_s: float = 60.0) -> None:
        """Until the worker's stored offsets reach ``high`` on every partition."""
        await self._wait_offsets("applied", high, limit_s)

    async def wait_confirmed(self, high: dict[int, int], limit_s: float = 60.0) -> None:
        """Until the worker has confirmed every record up to ``high``: their outputs are all
        acknowledged by the broker (Redis records that with the state)."""
        await self._wait_offsets("confirmed", high, limit_s)

    async def _wait_offsets(self, kind: str, high: dict[int, int], limit_s: float) -> None:
        store = self.store()
        read = store.applied_offsets if kind == "applied" else store.confirmed_offsets
        stored: dict[int, int] = {}
        try:
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                stored = await read(self.settings.topic_orders)
                if all(stored.get(p, -1) >= o for p, o in high.items()):
                    return
                await asyncio.sleep(0.05)
            raise TimeoutError(f"worker has not {kind} {high} in {limit_s}s (has {stored})")
        finally:
            await store.close()

    async def wait_nothing_due(self, limit_s: float = 60.0) -> None:
        """Until no customer is due for a time-driven look by the stream's clock, in any home's
        index: every change event time alone makes (a subscription churned at period end +
        grace) has been scored and published."""
        store = self.store()
        homes = [-1, *range(self.settings.topic_partitions)]
        try:
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                clock = await store.clock()
                if not any([await store.due(clock, 1, home) for home in homes]):
                    return
                await asyncio.sleep(0.05)
            raise TimeoutError(f"customers still due by the clock after {limit_s}s")
        finally:
            await store.close()

    async def summaries(self, customer_ids: Sequence[str]) -> dict[str, Summary]:
        store = self.store()
        try:
            return {s.customer_id: s.summary for s in await store.customers(customer_ids)}
        finally:
            await store.close()

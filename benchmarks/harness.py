"""The embedded stack the benchmarks run on, and the Kafka and process helpers they share.

:class:`Bench` owns one Tansu broker and one redis-server for the whole run; every measured
system gets its own topics, consumer group and Redis key prefix (:meth:`Bench.lane`), so
systems measured one after the other on the same pre-loaded topic do not see each other.
Tansu reports a wrong high watermark (ListOffsets latest), so completion is detected by
counting records or by the offsets the worker stores, never by the broker's end offsets.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from benchmarks.workload import Message
from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis, EmbeddedRedisCluster, free_port
from clv_stream.devinfra.stack import EMBEDDED_BROKER_ENV, WorkerProcess
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import StateStore
from clv_stream.worker.partitioner import partitions_for

__all__ = ["Bench", "CpuTrace", "Lane", "OutRecord", "ProcessMeter", "paced", "produce", "read_all",
           "steady_rate"]

logger = logging.getLogger(__name__)
PARTITIONS = 4


@dataclass(frozen=True, slots=True)
class OutRecord:
    timestamp_ms: int
    partition: int
    value: bytes


@dataclass(slots=True)
class Lane:
    """One measured system's topics, group and key prefix."""

    tag: str
    settings: Settings
    high: dict[int, int] = field(default_factory=dict)  # orders: highest offset per partition

    @property
    def orders(self) -> str:
        return self.settings.topic_orders


class Bench:
    """The broker and redis-server of a run; ``worker_settings`` apply to every lane.

    ``worker_src``: a directory holding another ``clv_stream`` package (e.g. a git worktree
    of an earlier commit) to run the workers from, for before/after comparisons.
    """

    def __init__(self, worker_src: str | None = None, **worker_settings: Any) -> None:
        self.broker = EmbeddedBroker(ready_timeout_s=30.0)
        self.redis = EmbeddedRedis(ready_timeout_s=30.0)
        self.cluster: EmbeddedRedisCluster | None = None  # started by the first cluster lane
        self.worker_src = worker_src
        self.worker_settings = worker_settings

    def __enter__(self) -> Bench:
        self.broker.start()
        self.redis.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cluster is not None:
            self.cluster.close()
        self.redis.close()
        self.broker.close()

    def redis_cluster(self) -> EmbeddedRedisCluster:
        """A local Redis Cluster of 3 primaries and 3 replicas, for the whole run."""
        if self.cluster is None:
            self.cluster = EmbeddedRedisCluster(primaries=3, replicas=1, ready_timeout_s=60.0)
            self.cluster.start()
        return self.cluster

    def redis_pids(self, lane: Lane) -> dict[str, int | None]:
        """The redis-server processes ``lane``'s state lives on (each cluster node's)."""
        if not lane.settings.redis_cluster:
            return {"redis": self.redis.pid}
        nodes = self.redis_cluster().nodes
        return {f"redis{i}": node.pid for i, node in enumerate(nodes)}

    def lane(self, name: str, orders_topic: str | None = None, cluster: bool = False,
             **overrides: Any) -> Lane:
        """New topics (orders unless given, the three outputs), group and Redis prefix;
        ``cluster``: state on :meth:`redis_cluster` (``CLV_REDIS_CLUSTER``)."""
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        if cluster:
            overrides = {"redis_cluster": True, **overrides}
        url = self.redis_cluster().url if cluster else self.redis.url
        settings = Settings(
            kafka_bootstrap=self.broker.bootstrap, redis_url=SecretStr(url),
            redis_key_prefix=tag, topic_orders=orders_topic or f"{tag}.orders",
            topic_updates=f"{tag}.clv.updates", topic_segments=f"{tag}.clv.segments",
            topic_deadletter=f"{tag}.clv.deadletter", consumer_group=f"{tag}-g",
            app_id=f"{tag}-app", web_port=free_port(), topic_partitions=PARTITIONS,
            log_level="WARNING", **{**self.worker_settings, **overrides},
        )
        s = settings
        self.broker.create_topics([s.topic_orders, s.topic_updates, s.topic_segments,
                                   s.topic_deadletter], partitions=PARTITIONS)
        return Lane(tag, settings)

    def drop_topics(self, names: Iterable[str]) -> None:
        """Delete topics a measurement is done with (Tansu keeps every record in memory)."""
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap, client_id="clv-bench")
        try:
            admin.delete_topics(list(names))
        except Exception as exc:  # best effort: a leftover topic only costs memory
            logger.warning("could not delete topics %s: %s", list(names), exc)
        finally:
            admin.close()

    def drop_outputs(self, lane: Lane) -> None:
        s = lane.settings
        self.drop_topics([s.topic_updates, s.topic_segments, s.topic_deadletter])

    def worker(self, lane: Lane, src: str | None = None, **overrides: Any) -> WorkerProcess:
        """Start ``clv-stream worker`` for ``lane`` (ready when its HTTP API answers), from
        the source tree ``src`` if given, else ``worker_src``, else the installed package."""
        settings = lane.settings.model_copy(update={"web_port": free_port(), **overrides})
        env = dict(EMBEDDED_BROKER_ENV)
        src = src or self.worker_src
        if src:  # another source tree of the worker (a before/after comparison)
            env["PYTHONPATH"] = src
        proc = WorkerProcess(settings, extra_env=env)
        proc.start()
        return proc

    async def wait_applied(self, lane: Lane, limit_s: float = 600.0) -> list[tuple[float, int]]:
        """Until the worker's applied offsets reach ``lane.high``.

        Returns the progress seen: (wall clock, orders applied so far) every 20 ms, for a
        topic whose partitions start at offset 0.
        """
        store = self.store(lane)
        progress: list[tuple[float, int]] = []
        try:
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                applied = await store.applied_offsets(lane.orders)
                progress.append((time.time(), applied_orders(applied)))
                if all(applied.get(p, -1) >= o for p, o in lane.high.items()):
                    return progress
                await asyncio.sleep(0.02)
            raise TimeoutError(f"worker did not reach {lane.high} in {limit_s}s")
        finally:
            await store.close()

    def store(self, lane: Lane) -> StateStore:
        """The lane's store, as its worker opens it (close it when done)."""
        return open_store(lane.settings)


def applied_orders(applied: Mapping[int, int]) -> int:
    """Orders a worker has applied, from its applied offsets (partitions start at 0)."""
    return sum(offset + 1 for offset in applied.values())


def steady_rate(times: Sequence[float], done: Sequence[int], total: int) -> float:
    """Orders/s over the middle 80% of the work (10% to 90% done): start-up and tail left out."""
    def when(fraction: float) -> float:
        return next(t for t, n in zip(times, done, strict=True) if n >= fraction * total)

    span = when(0.9) - when(0.1)
    return 0.8 * total / span if span > 0 else float("nan")


async def produce(bootstrap: str, topic: str, messages: Sequence[Message],
                  timestamps_ms: Sequence[int] | None = None) -> dict[int, int]:
    """Publish with Kafka's default key partitioning, in record batches; return the highest
    offset per partition (from the produce acks: Tansu's ListOffsets is not trusted)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1,
                                max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    high: dict[int, int] = {}
    try:
        parts = sorted(await producer.partitions_for(topic))
        chunk = 20_000
        for lo in range(0, len(messages), chunk):
            part = messages[lo:lo + chunk]
            stamps = timestamps_ms[lo:lo + chunk] if timestamps_ms is not None else None
            metas = await _send_chunk(producer, topic, parts, part, stamps)
            for p, offset in metas:
                high[p] = max(high.get(p, -1), offset)
    finally:
        await producer.stop()
    return high


async def _send_chunk(producer: AIOKafkaProducer, topic: str, parts: list[int],
                      messages: Sequence[Message], stamps: Sequence[int] | None) -> list[tuple[int, int]]:
    """Send in one record batch per partition (more when full); return (partition, last offset)."""
    sent = await _enqueue(producer, topic, parts, messages, stamps)
    metas = await asyncio.gather(*(f for f, _ in sent))
    return [(m.partition, m.offset + n - 1) for m, (_, n) in zip(metas, sent, strict=True)]


async def _enqueue(producer: AIOKafkaProducer, topic: str, parts: list[int],
                   messages: Sequence[Message], stamps: Sequence[int] | None) -> list[tuple[Any, int]]:
    """Hand ``messages`` to the producer as record batches; (ack future, records) per batch."""
    chosen = partitions_for([k for k, _ in messages], len(parts))
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(chosen):
        groups.setdefault(parts[p], []).append(i)
    sent: list[tuple[Any, int]] = []
    for partition, idx in groups.items():
        batch, count = producer.create_batch(), 0
        for i in idx:
            key, value = messages[i]
            ts = stamps[i] if stamps is not None else None
            if batch.append(key=key, value=value, timestamp=ts) is None:
                batch.close()
                sent.append((await producer.send_batch(batch, topic, partition=partition), count))
                batch, count = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=ts)
            count += 1
        batch.close()  # complete: sent at once, no linger
        sent.append((await producer.send_batch(batch, topic, partition=partition), count))
    return sent


async def paced(bootstrap: str, topic: str, source: Iterator[Message], rate: float,
                seconds: float, on_sent: Callable[[list[Message], int], None] | None = None,
                tick_s: float = 0.005) -> tuple[int, float]:
    """Offer ``rate`` orders/s from ``source`` for ``seconds``; return (orders, achieved rate).

    Every tick sends what is due so far, stamped with the send time (ms), which
    ``on_sent(messages, timestamp_ms)`` is told.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1,
                                max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    sent, futures = 0, []
    try:
        parts = sorted(await producer.partitions_for(topic))
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed) - sent
            if due > 0:
                messages = list(itertools.islice(source, due))
                now_ms = int(time.time() * 1000)
                futures += [f for f, _ in await _enqueue(producer, topic, parts, messages,
                                                          [now_ms] * len(messages))]
                if on_sent is not None:
                    on_sent(messages, now_ms)
                sent += len(messages)
            await asyncio.sleep(tick_s)
        await asyncio.gather(*futures)
        return sent, sent / (time.monotonic() - start)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, expect: int | None = None, idle_s: float = 3.0,
                   limit_s: float = 900.0) -> list[OutRecord]:
    """Every record on ``topic``: until ``expect`` records, or ``idle_s`` without a new one."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=20_000,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    out: list[OutRecord] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        deadline, last = time.monotonic() + limit_s, time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                out.extend(OutRecord(m.timestamp, m.partition, m.value) for m in msgs)
                last = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            quiet = time.monotonic() - last
            if quiet > (idle_s if expect is None else 4 * idle_s):
                break
    finally:
        await consumer.stop()
    return out


class ProcessMeter:
    """CPU seconds and RSS of some processes (the worker, redis-server, the broker)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        self._start = self.cpu()

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, proc in self._procs.items():
            t = proc.cpu_times()
            out[name] = t.user + t.system
        return out

    def used(self) -> dict[str, float]:
        """CPU seconds per process since the meter was made."""
        now = self.cpu()
        return {name: now[name] - self._start[name] for name in now}

    def rss_mb(self, name: str) -> float:
        return float(self._procs[name].memory_info().rss) / 2**20


class CpuTrace:
    """A :class:`ProcessMeter` sampled every ``interval_s`` (wall clock, CPU seconds so far),
    so that the CPU of a window known only afterwards (first order consumed to last output
    record) can be cut out: start-up, group joins and idle tails left out alike for every
    system measured."""

    def __init__(self, pids: dict[str, int | None], interval_s: float = 0.1) -> None:
        self._meter = ProcessMeter(pids)
        self._interval = interval_s
        self._samples: list[tuple[float, dict[str, float]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CpuTrace:
        self._sample()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._sample()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._sample()

    def _sample(self) -> None:
        self._samples.append((time.time(), self._meter.used()))

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per process from ``start`` to ``end`` (epoch seconds), interpolated
        between the samples around each end."""
        names = self._samples[-1][1] if self._samples else {}
        return {name: self._at(end, name) - self._at(start, name) for name in names}

    def _at(self, when: float, name: str) -> float:
        samples = self._samples
        if when <= samples[0][0]:
            return samples[0][1][name]
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if t0 <= when <= t1:
                share = (when - t0) / (t1 - t0) if t1 > t0 else 1.0
                return c0[name] + share * (c1[name] - c0[name])
        return samples[-1][1][name]


def highest(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    high: dict[int, int] = {}
    for p, o in pairs:
        high[p] = max(high.get(p, -1), o)
    return high

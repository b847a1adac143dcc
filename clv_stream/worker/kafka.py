"""Kafka at the edge: client settings, the batch sink, and the batch-first consume loop.

Why a loop of our own under Faust: Faust's per-event stream path (agent -> stream -> event)
costs far more per event than the broker and one Redis Lua call per batch do (measured in
``docs/performance.md``). So the worker keeps Faust for what it is good at (app lifecycle, web
server, timers, CLI, logging) and drives an aiokafka consumer (the client Faust is built on)
in batches here, inside a Faust service. See the README (Architecture) and
``docs/performance.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
)
from redis import exceptions as rexc

from clv_stream.exceptions import BrokerError, ClvStreamError, Fenced, StateLost, StateRolledBack, StoreError
from clv_stream.pipeline import BatchOutcome, OutRecord, RawRecord, Replay
from clv_stream.settings import Settings
from clv_stream.store.errors import refusal_code
from clv_stream.store.port import Claim, Fence
from clv_stream.worker.health import Health
from clv_stream.worker.memory import pin_mmap_threshold
from clv_stream.worker.partitioner import partitions_for

__all__ = ["BatchLoop", "Claims", "KafkaSink", "Unsent", "client_options"]

logger = logging.getLogger(__name__)

#: Largest record batch the sink builds (Kafka brokers accept 1 MiB by default).
MAX_BATCH_BYTES = 512 * 1024
#: Garbage collector thresholds of the worker process (see :meth:`BatchLoop.start`).
GC_THRESHOLDS = (50_000, 20, 100)
#: How long the sink trusts a topic's partition list before asking the producer again.
PARTITIONS_TTL_S = 30.0

#: ``process(records, shards, home, fence, replay)``: see
#: :meth:`clv_stream.pipeline.Pipeline.process`.
Process = Callable[[list[RawRecord], Sequence[int], bool, Fence, Replay | None],
                   Awaitable[BatchOutcome]]
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


class Unsent(BrokerError):
    """Some records of a send were not acknowledged; ``records`` are those (in order)."""

    def __init__(self, records: list[OutRecord], cause: KafkaError) -> None:
        super().__init__(f"{len(records)} records not acknowledged: {type(cause).__name__}")
        self.records, self.cause = records, cause


class Claims(Protocol):
    """The part of the store the loop claims partitions from (see ``StateStore.claim``)."""

    async def claim(self, topic: str, partitions: Mapping[int, int],
                    now: float | None = None) -> tuple[bool, list[Claim]]: ...


class _Stopped(ClvStreamError):
    """The loop is stopping: a lane leaves its batch where it is (redelivered later)."""


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for the batches in flight before partitions are handed to another worker, and
    forgets the claims of partitions this worker no longer owns."""

    def __init__(self, loop: BatchLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._loop._all_idle():
            self._loop._forget([tp.partition for tp in revoked])
            logger.info("partitions revoked: %s", sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._loop._forget([tp.partition for tp in assigned])  # a new assignment: claim anew
        logger.info("partitions assigned: %s", sorted(str(tp) for tp in assigned))


class BatchLoop:
    """Consume ``orders`` in bounded batches; commit offsets only after a batch is done.

    A batch is done when its Redis script returned, its output records were acknowledged by
    the broker, and its publication was recorded. While Redis or the broker fails, the loop
    retries the same step with capped backoff, reports ``degraded`` health, and fetches
    nothing new (backpressure); it resumes by itself.

    Offsets live with the state. Before a lane reads a partition it *claims* it in Redis
    (``StateStore.claim``): the partition's generation goes up, fencing off the previous
    owner (its scripts are refused from then on), and the lane seeks to the first offset
    whose outputs Redis has not confirmed, whatever Kafka's committed offset says. Records
    applied but not confirmed are read again: the script skips them (applied) and their
    outputs are emitted again, with the same ids. Each batch carries the claim (generation,
    highest offset applied as this worker saw it); a Redis that went back in time (a failover
    to a lagging replica, a restore) is noticed by the script, the batch is dropped and the
    lane claims again, reading from what Redis holds. A partition Kafka has committed
    offsets for but Redis has no state of is *lost*: replayed from the earliest retained
    offset (``CLV_ON_STATE_LOST=replay``) or the worker stops (``refuse``).

    Lanes: the assigned partitions are split into ``CLV_CONSUME_LANES`` groups (partition %
    lanes), each consumed by its own sequential loop, all in this event loop: while some
    lanes wait for Redis or for the broker's acks, another computes. Two lanes fall into
    step (both waiting for Redis, which runs one script at a time, much of the time);
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
                 confirm: Confirm, claims: Claims, health: Health | None = None,
                 lanes: int | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        self._s = settings
        self._process, self._sink, self._confirm = process, sink, confirm
        self._store = claims
        self.health = health or Health()
        self._lanes = [asyncio.Lock() for _ in range(max(1, lanes or settings.consume_lanes))]
        self._commit_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: partition -> (generation, highest offset applied as this worker knows it)
        self._claims: dict[int, tuple[int, int]] = {}
        #: partition -> the generation this worker last held (taken back after a rollback)
        self._held: dict[int, int] = {}
        self._fenced: set[int] = set()  # owned by another worker now: left until reassigned
        #: partition -> (its last applied offset, how that batch was scored): a batch applied
        #: but never confirmed, replayed alone before anything else is read
        self._replays: dict[int, tuple[int, Replay]] = {}
        self.batches = 0
        #: rolled_back, state_lost, fenced, retry_redis, retry_kafka -> times seen
        self.counts: dict[str, int] = {}
        self._on_event = on_event
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
        # thresholds (700, 10, 10) the collector still runs many times a batch and a full
        # collection of the worker's caches pauses it for long (p99 latency). Collect
        # young objects per 50,000 allocations instead, and the old ones rarely.
        gc.set_threshold(*GC_THRESHOLDS)
        pin_mmap_threshold(self._s.malloc_mmap_threshold)  # before the first fetch buffer
        self.consumer = self._new_consumer()
        self.consumer.subscribe([self._s.topic_orders], listener=_Rebalances(self))
        await self.consumer.start()

    async def stop(self, budget_s: float | None = None) -> None:
        """Stop within ``budget_s`` (default ``CLV_SHUTDOWN_TIMEOUT``) whatever is down.

        Lanes finish the step they are in, or are cancelled at the deadline: a batch not
        committed is read again by the next owner and applied once (offsets in Redis).
        """
        budget = self._s.shutdown_timeout if budget_s is None else budget_s
        deadline = time.monotonic() + budget
        self._stopping.set()
        running = [t for t in self._tasks if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=budget / 2)
            for task in late:
                task.cancel()
            if late:
                logger.warning("%s consume lanes cancelled mid-batch at shutdown", len(late))
                await asyncio.wait(late, timeout=1.0)
        if self.consumer is not None:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                await asyncio.wait_for(self.consumer.stop(), left)
            except (TimeoutError, KafkaError) as exc:
                logger.warning("consumer did not leave its group cleanly (%s)", type(exc).__name__)

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
        self._tasks = [asyncio.ensure_future(self._lane(i)) for i in range(len(self._lanes))]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()

    async def _lane(self, lane: int) -> None:
        try:
            await self._consume(lane)
        except _Stopped:
            return

    async def _consume(self, lane: int) -> None:
        assert self.consumer is not None
        n, wait_ms = len(self._lanes), self._s.batch_max_wait_ms or 1
        next_look = 0.0  # when this lane, if idle, next looks for due customers
        while not self._stopping.is_set():
            mine = [tp for tp in self.consumer.assignment()
                    if tp.partition % n == lane and tp.partition not in self._fenced]
            if not mine:
                await self._pause(max(wait_ms, 50) / 1000)
                continue
            unclaimed = [tp for tp in mine if tp.partition not in self._claims]
            if unclaimed:
                async with self._lanes[lane]:
                    await self._retrying(functools.partial(self._claim, unclaimed))
                continue
            pending = [tp for tp in mine if tp.partition in self._replays]
            if pending:
                fetched, replay = await self._fetch_replay(pending, wait_ms)
                await self._dispatch(lane, fetched, pending, replay)
                continue
            fetched = await self._retrying(functools.partial(self._fetch, mine, wait_ms), "kafka")
            if not fetched:
                if time.monotonic() >= next_look:
                    async with self._lanes[lane]:
                        more = await self._handle({}, mine, home=True)
                    next_look = time.monotonic() + (0.0 if more else self._s.due_poll_interval)
                continue
            await self._dispatch(lane, fetched, mine)

    async def _dispatch(self, lane: int, fetched: dict[Any, list[Any]], mine: list[Any],
                        replay: Replay | None = None) -> None:
        keyed = all(_keyed(m) for msgs in fetched.values() for m in msgs)
        if len(self._lanes) > 1 and not keyed:
            async with self._all_idle():  # a customer of this batch may be in another lane
                await self._handle(fetched, mine, home=False, replay=replay)
        else:
            async with self._lanes[lane]:
                await self._handle(fetched, mine, home=keyed, replay=replay)

    async def _fetch_replay(self, pending: list[Any],
                            wait_ms: int) -> tuple[dict[Any, list[Any]], Replay]:
        """The records of the batch applied but never confirmed on ``pending``: from the
        confirmed offset (where the claim sought) to the applied one, exactly, so that
        replayed as one batch at its event time they give the same outputs again."""
        assert self.consumer is not None
        consumer = self.consumer
        upto = {tp: self._replays[tp.partition][0] for tp in pending}
        replay = max((self._replays[tp.partition][1] for tp in pending), key=lambda r: r.as_of)
        collected: dict[Any, list[Any]] = {tp: [] for tp in pending}
        waiting = list(pending)
        while waiting and not self._stopping.is_set():
            waiting = [tp for tp in waiting if tp in consumer.assignment()]
            fetched = await self._retrying(functools.partial(
                consumer.getmany, *waiting, timeout_ms=wait_ms,
                max_records=self._s.batch_max_records), "kafka") if waiting else {}
            for tp in list(waiting):
                msgs = fetched.get(tp, [])
                collected[tp] += [m for m in msgs if m.offset <= upto[tp]]
                try:
                    if msgs and msgs[-1].offset > upto[tp]:
                        consumer.seek(tp, upto[tp] + 1)
                    done = await consumer.position(tp) > upto[tp]
                except IllegalStateError:  # rebalanced meanwhile: no longer ours
                    done = True
                if done:
                    waiting.remove(tp)
        return {tp: msgs for tp, msgs in collected.items() if msgs}, replay

    async def _claim(self, tps: list[Any]) -> None:
        """Claim partitions in Redis and seek each to where its state says to go on."""
        assert self.consumer is not None
        consumer, topic = self.consumer, self._s.topic_orders
        owned = consumer.assignment()
        tps = [tp for tp in tps if tp in owned]
        if not tps:
            return
        had_state, claims = await self._store.claim(
            topic, {tp.partition: self._held.get(tp.partition, 0) for tp in tps})
        by_partition = {tp.partition: tp for tp in tps}
        try:
            for c in claims:
                await self._seek_claimed(by_partition[c.partition], c, had_state)
        except IllegalStateError:  # rebalanced meanwhile: the lane looks at its assignment again
            for c in claims:
                self._claims.pop(c.partition, None)
                self._replays.pop(c.partition, None)

    async def _seek_claimed(self, tp: Any, c: Claim, had_state: bool) -> None:
        assert self.consumer is not None
        consumer = self.consumer
        if c.generation < 0:
            self._fence(c.partition)
            return
        if c.confirmed >= 0:
            consumer.seek(tp, c.confirmed + 1)
        elif c.applied >= 0:  # applied, never confirmed: everything is read again
            await consumer.seek_to_beginning(tp)
        elif await self._lost(tp):
            self._state_lost(tp, had_state)
            await consumer.seek_to_beginning(tp)
        if c.applied > c.confirmed and c.as_of > 0:  # a batch never confirmed
            self._replays[c.partition] = (c.applied, Replay(c.as_of, c.model_version))
        elif c.look > 0:  # a look at due customers never published
            self._replays[c.partition] = (c.confirmed, Replay(c.look, c.model_version))
        self._claims[c.partition] = (c.generation, c.applied)
        self._held[c.partition] = c.generation
        logger.info("claimed %s: generation %s, applied %s, confirmed %s",
                    tp, c.generation, c.applied, c.confirmed)

    async def _lost(self, tp: Any) -> bool:
        """Kafka says records of ``tp`` were processed; Redis has no state of it."""
        assert self.consumer is not None
        committed = await self.consumer.committed(tp)
        if committed is None:
            return False
        earliest = (await self.consumer.beginning_offsets([tp])).get(tp, 0)
        return bool(committed > earliest)

    def _state_lost(self, tp: Any, had_state: bool) -> None:
        self._event("state_lost")
        where = ("Redis holds no clv-stream state at all (new, flushed or replaced)"
                 if not had_state else "Redis has no state for this partition")
        if self._s.on_state_lost == "refuse":
            logger.critical("STATE LOST on %s: %s, though the consumer group committed "
                            "offsets; refusing to go on (CLV_ON_STATE_LOST=refuse)", tp, where)
            raise StateLost(tp.partition)
        logger.error("STATE LOST on %s: %s, though the consumer group committed offsets; "
                     "replaying from the earliest retained offset (CLV_ON_STATE_LOST=replay)",
                     tp, where)

    def _fence(self, partition: int) -> None:
        self._event("fenced")
        self._fenced.add(partition)
        self._claims.pop(partition, None)
        logger.warning("partition %s is owned by another worker now; left until reassigned",
                       partition)

    def _forget(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self._claims.pop(p, None)
            self._replays.pop(p, None)
            self._held.pop(p, None)
            self._fenced.discard(p)

    async def _fetch(self, mine: list[Any], wait_ms: int) -> dict[Any, list[Any]]:
        """Up to ``CLV_BATCH_MAX_RECORDS`` records of the lane's partitions.

        A fetch brings what the broker returned for each partition in one response, often
        less than a batch (up to CLV_FETCH_PARTITION_BYTES a partition). When it brought at least a quarter
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

    async def _handle(self, fetched: dict[Any, list[Any]], mine: list[Any], home: bool,
                      replay: Replay | None = None) -> bool:
        """Process, send, confirm, commit one batch; return whether its look at due
        customers was full (there may be more: look again at once)."""
        assert self.consumer is not None
        owned = self.consumer.assignment()
        fetched = {tp: msgs for tp, msgs in fetched.items()
                   if tp in owned and tp.partition in self._claims}
        shards = sorted(tp.partition for tp in mine if tp in owned and tp.partition in self._claims)
        if shards:  # the due limit is shared in this order: start at another shard each time
            self._turn += 1
            turn = self._turn % len(shards)
            shards = shards[turn:] + shards[:turn]
        records = [RawRecord(m.topic, m.partition, m.offset, m.key, m.value)
                   for msgs in fetched.values() for m in msgs]
        if not records and not shards:
            return False
        fence = {p: self._claims[p] for p in shards}
        try:
            outcome: BatchOutcome = await self._retrying(
                lambda: self._process(records, shards, home, fence, replay))
            for p, high in outcome.positions.items():
                gen, seen = self._claims[p]
                self._claims[p] = (gen, max(seen, high))
            await self._send(outcome.records)
            await self._retrying(lambda: self._confirm(outcome))
        except (Fenced, StateRolledBack) as exc:
            self._refused(exc, fetched, shards)
            return False
        if replay is not None:
            for p in shards:
                self._replays.pop(p, None)
        if fetched:
            await self._commit({tp: msgs[-1].offset + 1 for tp, msgs in fetched.items()})
            self.batches += 1
        return outcome.full_look

    def _refused(self, exc: Fenced | StateRolledBack, fetched: dict[Any, list[Any]],
                 shards: Sequence[int]) -> None:
        """Drop the batch: its records are read again (or by the partition's new owner)."""
        assert self.consumer is not None
        if isinstance(exc, Fenced):
            self._fence(exc.partition)
        else:
            self._event("rolled_back")
            logger.error("Redis went back in time (partition %s holds older state than this "
                         "worker applied: acknowledged writes were lost); re-reading the "
                         "lane's partitions from the offsets Redis holds", exc.partition)
            for p in shards:  # claimed again (same generation), seeking to what Redis holds
                self._claims.pop(p, None)
        for tp, msgs in fetched.items():
            if tp.partition not in self._fenced:
                self.consumer.seek(tp, msgs[0].offset)

    async def _send(self, records: list[OutRecord]) -> None:
        """Send until every record is acknowledged, re-sending only the ones that were not."""
        pending = records

        async def step() -> None:
            nonlocal pending
            try:
                await self._sink.send(pending)
            except Unsent as exc:
                pending = exc.records
                raise exc.cause from exc

        await self._retrying(step, "kafka")

    async def _commit(self, offsets: dict[Any, int]) -> None:
        assert self.consumer is not None
        try:
            async with self._commit_lock:
                await self._retrying(lambda: self.consumer.commit(offsets), "kafka")  # type: ignore[union-attr]
        except (CommitFailedError, BrokerError) as exc:
            # rebalanced meanwhile, or refused: the next owner reads from the offsets in Redis
            logger.warning("offset commit failed (%s); redelivery is idempotent",
                           type(exc).__name__)

    def _event(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        if self._on_event is not None:
            self._on_event(name)

    async def _pause(self, seconds: float) -> None:
        """Sleep, waking at once when the loop stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _retrying(self, step: Callable[[], Awaitable[Any]], check: str = "redis") -> Any:
        """Run ``step`` until it succeeds. Redis errors (all of them: lost connections, OOM,
        READONLY, MISCONF, ...) and retriable Kafka errors pause the step with capped
        exponential backoff and mark the worker ``degraded``; a non-retriable Kafka error
        (authorisation, a record the broker refuses) fails the worker, as Kafka Streams'
        default handler does, since retrying cannot help. ``check``: the dependency a
        Kafka error points at (Redis errors always point at Redis)."""
        delay, failing = 0.05, ""
        failed: set[str] = set()
        while True:
            try:
                result = await step()
            except (Fenced, StateRolledBack, StateLost):
                raise
            except StoreError as exc:
                failing, reason = "redis", _reason(exc)
            except KafkaError as exc:
                if not exc.retriable:
                    raise BrokerError(f"non-retriable Kafka error: {type(exc).__name__}") from exc
                failing, reason = check, type(exc).__name__
            else:
                for check_ in failed:
                    self.health.ok(check_)
                    logger.info("%s is back", check_)
                return result
            if self._stopping.is_set():
                raise _Stopped
            failed.add(failing)
            self.health.degraded(failing)
            self._event(f"retry_{failing}")
            logger.warning("%s unavailable (%s); retrying in %.2fs", failing, reason, delay)
            await self._pause(delay)
            if self._stopping.is_set():
                raise _Stopped
            delay = min(delay * 2, 5.0)


def _reason(exc: StoreError) -> str:
    """Why Redis failed, without hosts or ports: the refusal's word (OOM, READONLY, ...) or
    the kind of connection error."""
    cause = exc.__cause__
    if isinstance(cause, rexc.ResponseError):
        return refusal_code(cause)
    return type(cause or exc).__name__

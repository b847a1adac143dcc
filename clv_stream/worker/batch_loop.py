"""The batch-first consume loop: bounded batches of ``orders``, processed lane by lane,
offsets committed only after a batch is done.

Why a loop of our own under Faust: Faust's per-event stream path (agent -> stream -> event)
costs far more per event than the broker and one Lua call per batch do (see
``docs/performance.md``). So the worker keeps Faust for what it is good at (app lifecycle, web
server, timers, CLI, logging) and drives an aiokafka consumer (the client Faust is built on)
in batches, inside a Faust service. :mod:`~clv_stream.worker.ownership` claims partitions and
says where each resumes, :mod:`~clv_stream.worker.retry` what a failing step does, and
:mod:`~clv_stream.worker.sink` sends the output records.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError

from clv_stream.events.fastpath import customer_keyed
from clv_stream.exceptions import BrokerError, Fenced, StateRolledBack
from clv_stream.pipeline import BatchOutcome, OutRecord, RawRecord, Replay
from clv_stream.settings import Settings
from clv_stream.store.port import Fence
from clv_stream.worker.credentials import kafka_security
from clv_stream.worker.fetch import fetch_batch, fetch_upto
from clv_stream.worker.health import Health
from clv_stream.worker.ownership import Claims, Ownership
from clv_stream.worker.retry import Retrying, Stopped, pause
from clv_stream.worker.sink import KafkaSink, Unsent

__all__ = ["BatchLoop", "Confirm", "Process"]

logger = logging.getLogger(__name__)

#: ``process(records, shards, home, fence, replay)``: see
#: :meth:`clv_stream.pipeline.Pipeline.process`.
Process = Callable[[list[RawRecord], Sequence[int], bool, Fence, Replay | None],
                   Awaitable[BatchOutcome]]
Confirm = Callable[[BatchOutcome], Awaitable[None]]


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for the batches in flight before partitions are handed to another worker, and
    forgets the claims of partitions this worker no longer owns."""

    def __init__(self, loop: BatchLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._loop._all_idle():
            self._loop.owned.forget([tp.partition for tp in revoked])
            for tp in revoked:
                self._loop._next.pop(tp, None)
            logger.info("partitions revoked: %s", sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._loop.owned.forget([tp.partition for tp in assigned])  # a new assignment: claim anew
        logger.info("partitions assigned: %s", sorted(str(tp) for tp in assigned))


class BatchLoop:
    """Consume ``orders`` in bounded batches; commit offsets only after a batch is done.

    A batch is done when its Redis script returned, its output records were acknowledged by
    the broker, and its publication was recorded. While Redis or the broker fails, the loop
    retries the same step with capped backoff, reports ``degraded`` health, and fetches
    nothing new (backpressure); it resumes by itself.

    Offsets live with the state: each lane claims its partitions in Redis first and seeks
    to where Redis says (:mod:`~clv_stream.worker.ownership`).

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
        self.health = health or Health()
        self._lanes = [asyncio.Lock() for _ in range(max(1, lanes or settings.consume_lanes))]
        self._commit_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.owned = Ownership(settings, claims, self._event)
        self._retrying = Retrying(self.health, self._stopping, self._event)
        self.batches = 0
        #: rolled_back, state_lost, fenced, retry_redis, retry_kafka -> times seen
        self.counts: dict[str, int] = {}
        self._on_event = on_event
        self._turn = 0
        self.consumer: AIOKafkaConsumer | None = None
        #: partition -> the next offset this worker will process (from its commits)
        self._next: dict[Any, int] = {}

    def _new_consumer(self) -> AIOKafkaConsumer:
        settings = self._s
        return AIOKafkaConsumer(
            **kafka_security(settings).aiokafka(), group_id=settings.consumer_group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=settings.batch_max_records,
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 3, 100),
            fetch_max_wait_ms=max(settings.batch_max_wait_ms, 1),
            max_partition_fetch_bytes=settings.fetch_partition_bytes,
        )

    def lag(self) -> int:
        """Messages of the partitions this worker owns that it has not processed yet: each
        partition's high watermark (as of the broker's last fetch answer) less the next
        offset to process; partitions not fetched from yet count nothing."""
        if self.consumer is None:
            return 0
        behind = 0
        for tp in self.consumer.assignment():
            high, done = self.consumer.highwater(tp), self._next.get(tp)
            if high is not None and done is not None:
                behind += max(0, high - done)
        return behind

    async def start(self) -> None:
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
        except Stopped:
            return

    async def _consume(self, lane: int) -> None:
        assert self.consumer is not None
        n, wait_ms = len(self._lanes), self._s.batch_max_wait_ms or 1
        next_look = 0.0  # when this lane, if idle, next looks for due customers
        while not self._stopping.is_set():
            mine = [tp for tp in self.consumer.assignment()
                    if tp.partition % n == lane and tp.partition not in self.owned.fenced]
            if not mine:
                await pause(self._stopping, max(wait_ms, 50) / 1000)
                continue
            unclaimed = [tp for tp in mine if tp.partition not in self.owned.claims]
            if unclaimed:
                async with self._lanes[lane]:
                    confirmed = await self._retrying(
                        functools.partial(self.owned.claim, self.consumer, unclaimed))
                    if confirmed:
                        self._next.update(confirmed)
                        await self._commit(confirmed)
                continue
            pending = [tp for tp in mine if tp.partition in self.owned.replays]
            if pending:
                fetched, replay = await self._fetch_replay(pending, wait_ms)
                await self._dispatch(lane, fetched, pending, replay)
                continue
            fetched = await self._retrying(functools.partial(
                fetch_batch, self.consumer, mine, wait_ms, self._s.batch_max_records), "kafka")
            if not fetched:
                if time.monotonic() >= next_look:
                    async with self._lanes[lane]:
                        more = await self._handle({}, mine, home=True)
                    next_look = time.monotonic() + (0.0 if more else self._s.due_poll_interval)
                continue
            await self._dispatch(lane, fetched, mine)

    async def _dispatch(self, lane: int, fetched: dict[Any, list[Any]], mine: list[Any],
                        replay: Replay | None = None) -> None:
        keyed = all(customer_keyed(m.key, m.value) for msgs in fetched.values() for m in msgs)
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
        replays = self.owned.replays
        upto = {tp: replays[tp.partition][0] for tp in pending}
        replay = max((replays[tp.partition][1] for tp in pending), key=lambda r: r.as_of)
        fetched = await fetch_upto(self.consumer, upto, wait_ms, self._s.batch_max_records,
                                   self._retrying, self._stopping)
        return fetched, replay

    async def _handle(self, fetched: dict[Any, list[Any]], mine: list[Any], home: bool,
                      replay: Replay | None = None) -> bool:
        """Process, send, confirm, commit one batch; return whether its look at due
        customers was full (there may be more: look again at once)."""
        assert self.consumer is not None
        owned = self.consumer.assignment()
        fetched = {tp: msgs for tp, msgs in fetched.items()
                   if tp in owned and tp.partition in self.owned.claims}
        shards = sorted(tp.partition for tp in mine if tp in owned and tp.partition in self.owned.claims)
        if shards:  # the due limit is shared in this order: start at another shard each time
            self._turn += 1
            turn = self._turn % len(shards)
            shards = shards[turn:] + shards[:turn]
        records = [RawRecord(m.topic, m.partition, m.offset, m.key, m.value)
                   for msgs in fetched.values() for m in msgs]
        if not records and not shards:
            return False
        fence = {p: self.owned.claims[p] for p in shards}
        try:
            outcome: BatchOutcome = await self._retrying(
                lambda: self._process(records, shards, home, fence, replay))
            self.owned.advance(outcome.positions)
            await self._send(outcome.records)
            await self._retrying(lambda: self._confirm(outcome))
        except (Fenced, StateRolledBack) as exc:
            self._refused(exc, fetched, shards)
            return False
        if replay is not None:
            for p in shards:
                self.owned.replays.pop(p, None)
        if fetched:
            offsets = {tp: msgs[-1].offset + 1 for tp, msgs in fetched.items()}
            self._next.update(offsets)
            await self._commit(offsets)
            self.batches += 1
        return outcome.full_look

    def _refused(self, exc: Fenced | StateRolledBack, fetched: dict[Any, list[Any]],
                 shards: Sequence[int]) -> None:
        """Drop the batch: its records are read again (or by the partition's new owner)."""
        assert self.consumer is not None
        if isinstance(exc, Fenced):
            self.owned.fence(exc.partition)
        else:
            self._event("rolled_back")
            logger.error("Redis went back in time (partition %s holds older state than this "
                         "worker applied: acknowledged writes were lost); re-reading the "
                         "lane's partitions from the offsets Redis holds", exc.partition)
            for p in shards:  # claimed again (same generation), seeking to what Redis holds
                self.owned.claims.pop(p, None)
        for tp, msgs in fetched.items():
            if tp.partition not in self.owned.fenced:
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


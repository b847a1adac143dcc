"""Which partitions this worker holds in Redis, and where each one resumes.

Offsets live with the state. Before a lane reads a partition it *claims* it in Redis
(``StateStore.claim``): the partition's generation goes up, fencing off the previous owner
(its scripts are refused from then on), and the lane seeks to the first offset whose
outputs Redis has not confirmed, whatever Kafka's committed offset says. Records applied
but not confirmed are read again: the script skips them (applied) and their outputs are
emitted again, with the same ids. Each batch carries the claim (generation, highest offset
applied as this worker saw it); a Redis that went back in time (a failover to a lagging
replica, a restore) is noticed by the script, the batch is dropped and the lane claims
again, reading from what Redis holds. A partition Kafka has committed offsets for but Redis
has no state of is *lost*: replayed from the earliest retained offset
(``CLV_ON_STATE_LOST=replay``) or the worker stops (``refuse``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError

from clv_stream.exceptions import StateLost
from clv_stream.pipeline import Replay
from clv_stream.settings import Settings
from clv_stream.store.port import Claim

__all__ = ["Claims", "Ownership"]

logger = logging.getLogger(__name__)


class Claims(Protocol):
    """The part of the store the loop claims partitions from (see ``StateStore.claim``)."""

    async def claim(self, topic: str, partitions: Mapping[int, int],
                    now: float | None = None) -> tuple[bool, list[Claim]]: ...


class Ownership:
    """The claims of the partitions assigned to this worker, kept between batches.

    ``claims``: partition -> (generation, highest offset applied as this worker knows it);
    ``held``: partition -> the generation this worker last held (taken back after a
    rollback); ``fenced``: owned by another worker now, left until reassigned;
    ``replays``: partition -> (its last applied offset, how that batch was scored), a
    batch applied but never confirmed, replayed alone before anything else is read.
    """

    def __init__(self, settings: Settings, store: Claims, on_event: Callable[[str], None]) -> None:
        self._s, self._store, self._event = settings, store, on_event
        self.claims: dict[int, tuple[int, int]] = {}
        self.held: dict[int, int] = {}
        self.fenced: set[int] = set()
        self.replays: dict[int, tuple[int, Replay]] = {}

    async def claim(self, consumer: AIOKafkaConsumer, tps: list[Any]) -> dict[Any, int]:
        """Claim partitions in Redis and seek each to where its state says to go on; return
        the positions Redis confirmed (partition -> next offset), for the group to commit:
        a worker stopped between confirming a batch and committing it leaves the group's
        offset behind, and a partition with nothing new to read would keep it there."""
        owned = consumer.assignment()
        tps = [tp for tp in tps if tp in owned]
        if not tps:
            return {}
        had_state, claims = await self._store.claim(
            self._s.topic_orders, {tp.partition: self.held.get(tp.partition, 0) for tp in tps})
        by_partition = {tp.partition: tp for tp in tps}
        confirmed: dict[Any, int] = {}
        try:
            for c in claims:
                tp = by_partition[c.partition]
                await self._seek_claimed(consumer, tp, c, had_state)
                if c.generation >= 0 and c.confirmed >= 0:
                    confirmed[tp] = c.confirmed + 1
        except IllegalStateError:  # rebalanced meanwhile: the lane looks at its assignment again
            for c in claims:
                self.claims.pop(c.partition, None)
                self.replays.pop(c.partition, None)
            return {}
        return confirmed

    async def _seek_claimed(self, consumer: AIOKafkaConsumer, tp: Any, c: Claim,
                            had_state: bool) -> None:
        if c.generation < 0:
            self.fence(c.partition)
            return
        if c.confirmed >= 0:
            consumer.seek(tp, c.confirmed + 1)
        elif c.applied >= 0:  # applied, never confirmed: everything is read again
            await consumer.seek_to_beginning(tp)
        elif await _lost(consumer, tp):
            self._state_lost(tp, had_state)
            await consumer.seek_to_beginning(tp)
        if c.applied > c.confirmed and c.as_of > 0:  # a batch never confirmed
            self.replays[c.partition] = (c.applied, Replay(c.as_of, c.model_version))
        elif c.look > 0:  # a look at due customers never published
            self.replays[c.partition] = (c.confirmed, Replay(c.look, c.model_version))
        self.claims[c.partition] = (c.generation, c.applied)
        self.held[c.partition] = c.generation
        logger.info("claimed %s: generation %s, applied %s, confirmed %s",
                    tp, c.generation, c.applied, c.confirmed)

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

    def advance(self, positions: Mapping[int, int]) -> None:
        """Note the highest offsets a batch applied (carried by the next batch's claim)."""
        for p, high in positions.items():
            gen, seen = self.claims[p]
            self.claims[p] = (gen, max(seen, high))

    def fence(self, partition: int) -> None:
        self._event("fenced")
        self.fenced.add(partition)
        self.claims.pop(partition, None)
        logger.warning("partition %s is owned by another worker now; left until reassigned",
                       partition)

    def forget(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self.claims.pop(p, None)
            self.replays.pop(p, None)
            self.held.pop(p, None)
            self.fenced.discard(p)


async def _lost(consumer: AIOKafkaConsumer, tp: Any) -> bool:
    """Kafka says records of ``tp`` were processed; Redis has no state of it."""
    committed = await consumer.committed(tp)
    if committed is None:
        return False
    earliest = (await consumer.beginning_offsets([tp])).get(tp, 0)
    return bool(committed > earliest)

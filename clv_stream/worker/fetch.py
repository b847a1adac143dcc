"""Reading a lane's records from the consumer: a batch as full as a backlog allows, or
exactly the records of a batch to replay."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError

from clv_stream.worker.retry import Retrying

__all__ = ["fetch_batch", "fetch_upto"]

Fetched = dict[Any, list[Any]]


async def fetch_batch(consumer: AIOKafkaConsumer, mine: list[Any], wait_ms: int,
                      limit: int) -> Fetched:
    """Up to ``limit`` (``CLV_BATCH_MAX_RECORDS``) records of the lane's partitions.

    A fetch brings what the broker returned for each partition in one response, often less
    than a batch (up to CLV_FETCH_PARTITION_BYTES a partition). When it brought at least a
    quarter of a batch, there is a backlog: one more fetch (waiting at most ``wait_ms``) tops
    the batch up, as fuller batches cost less per order. A trickle is not held back.
    """
    fetched: Fetched = await consumer.getmany(*mine, timeout_ms=wait_ms, max_records=limit)
    got = sum(len(msgs) for msgs in fetched.values())
    if got * 4 >= limit and got < limit:
        more = await consumer.getmany(*mine, timeout_ms=wait_ms, max_records=limit - got)
        for tp, msgs in more.items():
            fetched[tp] = fetched.get(tp, []) + msgs
    return fetched


async def fetch_upto(consumer: AIOKafkaConsumer, upto: dict[Any, int], wait_ms: int,
                     limit: int, retrying: Retrying, stopping: asyncio.Event) -> Fetched:
    """Every record of each partition from its position to ``upto[tp]`` (inclusive), and
    none after: the consumer is left just past ``upto[tp]``. A partition revoked meanwhile
    is left out."""
    collected: Fetched = {tp: [] for tp in upto}
    waiting = list(upto)
    while waiting and not stopping.is_set():
        waiting = [tp for tp in waiting if tp in consumer.assignment()]
        fetched = await retrying(functools.partial(
            consumer.getmany, *waiting, timeout_ms=wait_ms, max_records=limit),
            "kafka") if waiting else {}
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
    return {tp: msgs for tp, msgs in collected.items() if msgs}

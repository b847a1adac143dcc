"""The Redis store: per-customer aggregates, dedupe keys, applied offsets, models.

Key layout (``P`` is ``CLV_REDIS_KEY_PREFIX``, default ``clv``)::

    P:c:{customer_id}   hash  n, r, pr, f, l, nd (summary), o:{order_id} (order state:
                              placed|ts|margin_bp|refunded|cancelled, or placed|ts),
                              d:{utc day} (count|net), pub (last published snapshot), sg
                              (segment labels), k (home: the orders partition of its keyed
                              records)
    P:e:{event_id}      string, expires after CLV_DEDUPE_WINDOW (event_id dedupe)
    P:off:{topic}       hash  partition -> highest applied offset
    P:clock             string, the stream's event time (max occurred_at applied, epoch s)
    P:due:{home}        zset  customer_id -> event time of its next time-driven look, per
                              home partition (the lane that owns the partition sweeps it)
    P:due               zset  the same, for customers without a home (never keyed right)
    P:models            hash  version -> model JSON;  P:model:current -> version

All writes of a batch happen in one Lua call (``apply_batch.lua``); this module is the one
boundary where redis-py errors become :class:`~clv_stream.exceptions.StoreError`.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import redis.asyncio as aioredis
from redis import exceptions as rexc

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.events.validation import Order
from clv_stream.exceptions import StoreError, StoreUnavailable
from clv_stream.store.snapshot import Published

__all__ = ["ApplyResult", "CustomerState", "Positioned", "RedisStore"]

_SCRIPTS = importlib.resources.files("clv_stream.store")
_COMMON = _SCRIPTS.joinpath("common.lua").read_text()  # helpers, in front of every script
_APPLY = _COMMON + _SCRIPTS.joinpath("apply_batch.lua").read_text()
_PUBLISH = _COMMON + _SCRIPTS.joinpath("publish.lua").read_text()
_READ = _COMMON + _SCRIPTS.joinpath("read_customers.lua").read_text()
_PER_CUSTOMER = 11


class Positioned(NamedTuple):
    """A validated order and where it came from in Kafka (a tuple: one per event)."""

    partition: int
    offset: int
    order: Order


class CustomerState(NamedTuple):
    customer_id: str
    summary: Summary
    pub: str  # the last published snapshot, encoded (``Published.encode``); "" if never
    segments: str
    home: int = -1  # the orders partition of its keyed records; -1: none known

    @property
    def published(self) -> Published | None:
        """The last published snapshot, decoded (the hot path compares ``pub`` as text)."""
        return Published.decode(self.pub)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    clock: int
    applied: int
    duplicates: int
    redelivered: int
    customers: list[CustomerState]  # touched by the batch's records
    due: list[CustomerState]  # of the lane's partitions, due for a time-driven look
    looked: int = 0  # due index entries looked at (re-scored, handed over, or dropped)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (rexc.ConnectionError, rexc.TimeoutError) as exc:
        raise StoreUnavailable(str(exc)) from exc
    except rexc.RedisError as exc:
        raise StoreError(str(exc)) from exc


class RedisStore:
    """Async access to clv-stream's state in one Redis (standalone or primary/replica)."""

    def __init__(self, client: aioredis.Redis, prefix: str, dedupe_window_ms: int) -> None:
        self._r = client
        self._p = prefix
        self._window = str(dedupe_window_ms)
        self._apply = client.register_script(_APPLY)
        self._publish = client.register_script(_PUBLISH)
        self._read = client.register_script(_READ)

    @classmethod
    def from_url(cls, url: str, prefix: str = "clv", dedupe_window_ms: int = 7 * 86400_000) -> RedisStore:
        client = aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                         socket_timeout=15, socket_connect_timeout=5)
        return cls(client, prefix, dedupe_window_ms)

    @property
    def client(self) -> aioredis.Redis:
        return self._r

    def key(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    async def close(self) -> None:
        await self._r.aclose()

    async def applied_offsets(self, topic: str) -> dict[int, int]:
        """The highest offset applied per partition of ``topic`` (``P:off:{topic}``)."""
        with _translated():
            stored = await self._r.hgetall(self.key("off", topic))
        return {int(partition): int(offset) for partition, offset in stored.items()}

    async def ping(self) -> bool:
        with _translated():
            return bool(await self._r.ping())

    async def apply(self, topic: str, records: Sequence[Positioned], home: bool = False,
                    shards: Sequence[int] = (), due_limit: int = 0) -> ApplyResult:
        """Apply a batch atomically; return the clock and every touched customer's state.

        ``home``: every record is keyed by its ``customer_id``, so its partition is the
        customer's home. ``shards``: partitions (-1: customers without a home) whose
        customers are due for a time-driven look by the batch's event time are returned too
        (at most ``due_limit``); an entry found under another home than the customer's is
        handed to that home's index instead.
        """
        flat: list[Any] = []
        add = flat.extend
        for rec in records:
            o = rec.order
            add((rec.partition, rec.offset, o.event_id, o.kind, o.order_id,
                 o.customer_id, o.amount_minor, o.ts, o.margin_bp))
        with _translated():
            reply = await self._apply(args=[self._p, topic, self._window, orjson.dumps(flat),
                                            "1" if home else "0", due_limit,
                                            orjson.dumps(list(shards))])
        return _parse_apply(reply)

    async def publish(self, entries: Sequence[tuple[str, str, str, int | None]]) -> None:
        """Record what was emitted: snapshot (``Published.encode``), segment labels and next
        due time per customer (in the due index of the home the customer's hash holds).

        One script call per batch (``publish.lua``): a pipeline of one HSET per customer
        costs the client more than the server.
        """
        if not entries:
            return
        flat: list[Any] = []
        add = flat.extend
        for cid, snapshot, segments, next_due in entries:
            add((cid, snapshot, segments, -1 if next_due is None else next_due))
        with _translated():
            await self._publish(args=[self._p, orjson.dumps(flat)])

    async def customer(self, customer_id: str) -> CustomerState | None:
        found = await self.customers([customer_id])
        return found[0] if found else None

    async def customers(self, ids: Sequence[str]) -> list[CustomerState]:
        """Current state of several customers, in one script call (``read_customers.lua``).

        Customers without a counting order and never published are left out.
        """
        if not ids:
            return []
        with _translated():
            reply = await self._read(args=[self._p, orjson.dumps(list(ids))])
        return _states(reply, 0)

    async def scan_customer_ids(self, count: int = 1000) -> AsyncIterator[list[str]]:
        """Yield customer ids in pages, with SCAN (no blocking KEYS)."""
        cut = len(self.key("c", ""))
        cursor: int = 0
        while True:
            with _translated():
                cursor, keys = await self._r.scan(cursor, match=self.key("c", "*"), count=count)
            if keys:
                yield [str(k)[cut:] for k in keys]
            if cursor == 0:
                return

    async def clock(self) -> int:
        with _translated():
            return int(await self._r.get(self.key("clock")) or 0)

    async def postpone(self, states: Sequence[CustomerState], until: int) -> None:
        """Move due customers' next look to event time ``until`` (in their home's index)."""
        with _translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for st in states:
                    key = self.key("due") if st.home < 0 else self.key("due", str(st.home))
                    pipe.zadd(key, {st.customer_id: until}, xx=True)
                await pipe.execute()

    async def due(self, until: int, limit: int, home: int = -1) -> list[str]:
        """Customers of a home partition (-1: without a home) due by event time ``until``."""
        key = self.key("due") if home < 0 else self.key("due", str(home))
        with _translated():
            found = await self._r.zrangebyscore(key, "-inf", until, 0, limit)
        return [str(cid) for cid in found]

    async def current_model(self) -> ScoringModel | None:
        with _translated():
            version = await self._r.get(self.key("model", "current"))
        return None if version is None else await self.model(str(version))

    async def model(self, version: str) -> ScoringModel | None:
        with _translated():
            raw = await self._r.hget(self.key("models"), version)
        return None if raw is None else ScoringModel.from_json_dict(orjson.loads(raw))

    async def save_model(self, model: ScoringModel, make_current: bool = True) -> None:
        with _translated():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self.key("models"), model.version, orjson.dumps(model.to_json_dict()))
                if make_current:
                    pipe.set(self.key("model", "current"), model.version)
                await pipe.execute()




def _parse_apply(reply: list[Any]) -> ApplyResult:
    clock, applied, dups, redelivered = int(reply[0]), int(reply[1]), int(reply[2]), int(reply[3])
    touched, looked = int(reply[4]), int(reply[5])
    rows = _states(reply, 6)
    return ApplyResult(clock, applied, dups, redelivered, rows[:touched], rows[touched:], looked)


def _states(reply: list[Any], start: int) -> list[CustomerState]:
    """Customer rows from ``start``: id, the 7 summary integers, pub, segments, home."""
    return [
        CustomerState(reply[i], Summary(*reply[i + 1:i + 8]), reply[i + 8], reply[i + 9], reply[i + 10])
        for i in range(start, len(reply), _PER_CUSTOMER)
    ]

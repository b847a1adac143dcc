"""The Redis store: per-customer aggregates, dedupe keys, applied offsets, models.

Key layout (``P`` is ``CLV_REDIS_KEY_PREFIX``, default ``clv``)::

    P:c:{customer_id}   hash  n, r, pr, f, l, nd (summary), o:{order_id} (order state:
                              placed|ts|margin_bp|refunded|cancelled, or placed|ts),
                              d:{utc day} (count|net), pub (last published snapshot), sg
                              (segment labels), k (home: the orders partition of its keyed
                              records)
    P:{0}:e:{tenant}:{len(customer_id)}:{customer_id}:{event_id}
                        string, expires after CLV_DEDUPE_WINDOW (event_id dedupe, scoped
                              to the customer)
    P:{0}:part:{topic}  hash  per orders partition p: a:p highest offset applied, c:p highest
                              offset whose outputs were published (confirmed), g:p the
                              generation of its owner (the fence; see ``claim``)
    P:created           string, set when a worker first claims partitions here: tells a new
                              Redis from one that lost its state
    P:clock             string, the stream's event time (max occurred_at applied, epoch s)
    P:due:{home}        zset  customer_id -> event time of its next time-driven look, per
                              home partition (the lane that owns the partition sweeps it)
    P:due               zset  the same, for customers without a home (never keyed right)
    P:models            hash  version -> model JSON;  P:model:current -> version
    P:lease:{name}      string, a worker's lease (e.g. a refit pass), expires
    P:flag:{name}       string, a fact with an expiry (e.g. a refit pass is done)

``{0}`` is the hash tag of the slot group (one on a standalone Redis; see common.lua).
All writes of a batch happen in one Lua call (``apply_batch.lua``); this module is the one
boundary where redis-py errors become :class:`~clv_stream.exceptions.StoreError`.

Offsets live with the state: the applied and confirmed offsets are written by the same
atomic calls as the aggregates and snapshots they cover, so a Redis that goes back in time
takes its offsets back with it, and the worker re-reads from there (see ``claim`` and
:class:`~clv_stream.worker.kafka.BatchLoop`).
"""

from __future__ import annotations

import importlib.resources
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import redis.asyncio as aioredis
from redis import exceptions as rexc

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.events.validation import Order
from clv_stream.exceptions import Fenced, StateRolledBack, StoreError, StoreUnavailable
from clv_stream.store.snapshot import Published

__all__ = ["ApplyResult", "Claim", "CustomerState", "Fence", "Positioned", "RedisStore"]

_SCRIPTS = importlib.resources.files("clv_stream.store")
_COMMON = _SCRIPTS.joinpath("common.lua").read_text()  # helpers, in front of every script
_APPLY = _COMMON + _SCRIPTS.joinpath("apply_batch.lua").read_text()
_PUBLISH = _COMMON + _SCRIPTS.joinpath("publish.lua").read_text()
_READ = _COMMON + _SCRIPTS.joinpath("read_customers.lua").read_text()
_CLAIM = _COMMON + _SCRIPTS.joinpath("claim.lua").read_text()
_PER_CUSTOMER = 11
#: Redis refusals that pass by themselves (memory freed, a replica promoted, a disk fixed, a
#: dataset loaded): the worker waits for them as for a lost connection (authentication
#: errors are connection errors in redis-py already).
_TRANSIENT = frozenset({"OOM", "READONLY", "MISCONF", "LOADING", "BUSY", "MASTERDOWN",
                        "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN"})

#: partition -> (generation, an offset the partition's applied offset must have reached):
#: see ``check_fence`` in common.lua. Empty: unfenced.
Fence = Mapping[int, tuple[int, int]]


class Claim(NamedTuple):
    """A partition as a worker takes it: its generation (-1: another worker owns it now),
    the offsets stored with its state (-1: none), and the event time and model version its
    last applied batch was scored with (to replay a batch applied but not confirmed)."""

    partition: int
    generation: int
    applied: int
    confirmed: int
    as_of: int = 0
    model_version: str = ""
    look: int = 0  # the as_of of a look at due customers not published yet (0: none)


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
    except rexc.ResponseError as exc:
        raise _refusal(exc) from exc
    except rexc.RedisError as exc:
        raise StoreError(str(exc)) from exc


#: The codes redis-py takes off the message of the refusals it has a class for.
_CODE_OF = {rexc.OutOfMemoryError: "OOM", rexc.ReadOnlyError: "READONLY",
            rexc.BusyLoadingError: "LOADING", rexc.TryAgainError: "TRYAGAIN",
            rexc.ClusterDownError: "CLUSTERDOWN", rexc.MasterDownError: "MASTERDOWN"}


def refusal_code(exc: rexc.ResponseError) -> str:
    """The error code of a Redis refusal (``OOM``, ``READONLY``, ...): the message's first
    word, or, for the refusals redis-py has a class for, the code it took off the message
    (``status_code`` in newer redis-py, else known by the class)."""
    code = getattr(exc, "status_code", None) or _CODE_OF.get(type(exc))
    return str(code) if code else str(exc).split(" ", 1)[0]


def _refusal(exc: rexc.ResponseError) -> StoreError:
    code, message = refusal_code(exc), str(exc)
    if code == "CLVFENCED":
        return Fenced(int(message.split()[1]))
    if code == "CLVROLLEDBACK":
        return StateRolledBack(int(message.split()[1]))
    if code in _TRANSIENT:
        return StoreUnavailable(f"{code} {message}")
    return StoreError(message)


class RedisStore:
    """Async access to clv-stream's state in one Redis (standalone or primary/replica)."""

    def __init__(self, client: aioredis.Redis, prefix: str, dedupe_window_ms: int) -> None:
        self._r = client
        self._p = prefix
        self._window = str(dedupe_window_ms)
        self._apply = client.register_script(_APPLY)
        self._publish = client.register_script(_PUBLISH)
        self._read = client.register_script(_READ)
        self._claim = client.register_script(_CLAIM)

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

    def _partition_key(self, topic: str) -> str:
        return self.key("{0}", "part", topic)

    async def applied_offsets(self, topic: str) -> dict[int, int]:
        """The highest offset applied per partition of ``topic`` (also from the layout before
        the partition hash, for partitions no worker has claimed since)."""
        with _translated():
            legacy = await self._r.hgetall(self.key("off", topic))
        return {**{int(p): int(o) for p, o in legacy.items()}, **await self._offsets(topic, "a")}

    async def confirmed_offsets(self, topic: str) -> dict[int, int]:
        """The highest offset per partition of ``topic`` whose outputs were published."""
        return await self._offsets(topic, "c")

    async def _offsets(self, topic: str, kind: str) -> dict[int, int]:
        with _translated():
            stored = await self._r.hgetall(self._partition_key(topic))
        return {int(str(f)[2:]): int(v) for f, v in stored.items() if str(f).startswith(kind + ":")}

    async def claim(self, topic: str, partitions: Mapping[int, int],
                    now: float | None = None) -> tuple[bool, list[Claim]]:
        """Take partitions (partition -> the generation held, 0 for a new assignment):
        whether this Redis held clv-stream state before, and each partition's claim."""
        claims = [[p, g] for p, g in sorted(partitions.items())]
        with _translated():
            reply = await self._claim(args=[self._p, topic, orjson.dumps(claims),
                                            int(now if now is not None else time.time())])
        rows = [Claim(int(reply[i]), int(reply[i + 1]), int(reply[i + 2]), int(reply[i + 3]),
                      int(reply[i + 4]), str(reply[i + 5]), int(reply[i + 6]))
                for i in range(1, len(reply), 7)]
        return bool(int(reply[0])), rows

    async def ping(self) -> bool:
        with _translated():
            return bool(await self._r.ping())

    async def apply(self, topic: str, records: Sequence[Positioned], home: bool = False,
                    shards: Sequence[int] = (), due_limit: int = 0,
                    fence: Fence | None = None, positions: Mapping[int, int] | None = None,
                    as_of: int = 0, model_version: str = "") -> ApplyResult:
        """Apply a batch atomically; return the clock and every touched customer's state.

        ``home``: every record is keyed by its ``customer_id``, so its partition is the
        customer's home. ``shards``: partitions (-1: customers without a home) whose
        customers are due for a time-driven look by the batch's event time are returned too
        (at most ``due_limit``); an entry found under another home than the customer's is
        handed to that home's index instead. ``fence``: see :data:`Fence`; a refusal raises
        :class:`~clv_stream.exceptions.Fenced` or :class:`~clv_stream.exceptions.StateRolledBack`
        and writes nothing. ``positions``: per partition, the batch's highest offset (its
        dead-lettered records included). ``as_of``: the event time to score at (0: the
        stream clock after the batch; see :meth:`claim`), returned as ``clock``.
        """
        flat: list[Any] = []
        add = flat.extend
        for rec in records:
            o = rec.order
            add((rec.partition, rec.offset, o.event_id, o.kind, o.order_id,
                 o.customer_id, o.amount_minor, o.ts, o.margin_bp, o.tenant))
        with _translated():
            reply = await self._apply(args=[self._p, topic, self._window, orjson.dumps(flat),
                                            "1" if home else "0", due_limit,
                                            orjson.dumps(list(shards)), _fence_json(fence),
                                            _offsets_json(positions), as_of, model_version])
        return _parse_apply(reply)

    async def publish(self, entries: Sequence[tuple[str, str, str, int | None]],
                      topic: str = "", fence: Fence | None = None,
                      confirmed: Mapping[int, int] | None = None) -> None:
        """Record what was emitted: snapshot (``Published.encode``), segment labels and next
        due time per customer (in the due index of the home the customer's hash holds), and
        per partition of ``topic`` the highest offset whose outputs are now all published
        (``confirmed``), unless ``fence`` refuses (nothing is written then).

        One script call per batch (``publish.lua``): a pipeline of one HSET per customer
        costs the client more than the server.
        """
        if not entries and not confirmed:
            return
        flat: list[Any] = []
        add = flat.extend
        for cid, snapshot, segments, next_due in entries:
            add((cid, snapshot, segments, -1 if next_due is None else next_due))
        with _translated():
            await self._publish(args=[self._p, orjson.dumps(flat), topic, _fence_json(fence),
                                      _offsets_json(confirmed)])

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

    async def take_lease(self, name: str, owner: str, ttl_s: int, renew: bool = False) -> bool:
        """Hold ``P:lease:{name}`` for ``ttl_s`` seconds: taken when free (or, with
        ``renew``, extended); False when another owner holds it."""
        key = self.key("lease", name)
        with _translated():
            if renew:
                await self._r.set(key, owner, ex=ttl_s)
                return True
            return bool(await self._r.set(key, owner, nx=True, ex=ttl_s))

    async def flag(self, name: str) -> bool:
        """Whether ``P:flag:{name}`` is set (see :meth:`set_flag`)."""
        with _translated():
            return bool(await self._r.exists(self.key("flag", name)))

    async def set_flag(self, name: str, ttl_s: int) -> None:
        with _translated():
            await self._r.set(self.key("flag", name), "1", ex=ttl_s)

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




def _offsets_json(offsets: Mapping[int, int] | None) -> bytes:
    return orjson.dumps({str(p): o for p, o in (offsets or {}).items()})


def _fence_json(fence: Fence | None) -> bytes:
    return orjson.dumps({str(p): list(f) for p, f in (fence or {}).items()})


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

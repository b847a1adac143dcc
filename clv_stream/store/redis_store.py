"""The Redis store: per-customer aggregates, dedupe keys, applied offsets, models.

Key layout (``P`` is ``CLV_REDIS_KEY_PREFIX``, default ``clv``)::

    P:c:{customer_id}   hash  n, r, pr, f, l, nd (summary), o:{order_id} (order state:
                              placed|ts|margin_bp|refunded|cancelled, or placed|ts),
                              d:{utc day} (count|net), pub (last published snapshot), sg
                              (segment labels), k (home: the orders partition of its keyed
                              records); a customer of CLV_DEFAULT_TENANT (the layout from
                              before tenants)
    P:t:{tenant}:c:{customer_id}
                        hash  the same, for a customer of another tenant
    P:h:{customer_id}, P:ht:{tenant}:{customer_id}
                        list  the customer's history points, newest first, at most
                              CLV_HISTORY_POINTS (publish.lua)
    P:{0}:e:{tenant}:{len(customer_id)}:{customer_id}:{event_id}
                        string, expires after CLV_DEDUPE_WINDOW (event_id dedupe, scoped
                              to the customer)
    P:{0}:part:{topic}  hash  per orders partition p: a:p highest offset applied, c:p highest
                              offset whose outputs were published (confirmed), g:p the
                              generation of its owner (the fence; see ``claim``)
    P:created           string, set when a worker first claims partitions here: tells a new
                              Redis from one that lost its state
    P:clock             string, the stream's event time (max occurred_at applied, epoch s)
    P:due:{home}        zset  customer ref (the id, or tenant NUL id for another tenant's)
                              -> event time of its next time-driven look, per home
                              partition (the lane that owns the partition sweeps it)
    P:due               zset  the same, for customers without a home (never keyed right)
    P:models            hash  version -> model JSON;  P:model:current -> version
    P:{0}:tenants       hash  tenant -> customers stored (counted by apply_batch.lua)
    P:{0}:subs          set   the tenants with subscription totals
    P:{0}:subs:{tenant} hash  "YYYY-MM|name" -> integer: the tenant's subscription totals,
                              the sum of what its customers published (publish.lua; each
                              customer's share is kept in its hash, field mc)
    P:{0}:pf:{tenant}   hash  the tenant's portfolio totals: what its customers add to them
                              (portfolio.lua names the fields; each customer counted in them
                              keeps ch, its acquisition channel, and pv, its value's share)
    P:{0}:sp:{tenant}   hash  "month:channel" -> "ts|event_id|amount": marketing spend
    P:{0}:tf:{tenant}   list  the tenant's last segment transitions, newest first
    P:tenants           hash  tenant -> its settings (``TenantSettings`` JSON)
    P:tenants:rev       string, bumped by every change of P:tenants (workers poll it)
    P:lease:{name}      string, a worker's lease (e.g. a refit pass), expires
    P:flag:{name}       string, a fact with an expiry (e.g. a refit pass is done)

``{0}`` is the hash tag of the slot group (one on a standalone Redis; see common.lua).
All writes of a batch happen in one Lua call (``apply_batch.lua``); every call runs inside
:func:`~clv_stream.store.errors.translated`, the one boundary where redis-py errors become
:class:`~clv_stream.exceptions.StoreError`. The store implements
:class:`~clv_stream.store.port.StateStore`; the values it speaks are in ``store/types.py``.

Offsets live with the state: the applied and confirmed offsets are written by the same
atomic calls as the aggregates and snapshots they cover, so a Redis that goes back in time
takes its offsets back with it, and the worker re-reads from there (see ``claim`` and
:class:`~clv_stream.worker.batch_loop.BatchLoop`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence

import orjson
import redis.asyncio as aioredis

from clv_stream.domain.model import ScoringModel
from clv_stream.domain.tenant import TenantSettings
from clv_stream.exceptions import ConfigError, ModelError
from clv_stream.store import replies
from clv_stream.store.errors import translated
from clv_stream.store.scripts import script_source
from clv_stream.store.types import (
    ApplyResult,
    Claim,
    Customer,
    CustomerKey,
    CustomerState,
    DueLook,
    Fence,
    Positioned,
    PublishEntry,
    key_of,
)

__all__ = ["Client", "RedisStore"]

#: A client of one Redis, or of a Redis Cluster (the cluster store's).
Client = aioredis.Redis | aioredis.RedisCluster


class RedisStore:
    """Async access to clv-stream's state in one Redis (standalone or primary/replica)."""

    def __init__(self, client: Client, prefix: str, dedupe_window_ms: int,
                 default_tenant: str = "default") -> None:
        self._r = client
        self._p = prefix
        self._window = str(dedupe_window_ms)
        self._tenant = default_tenant
        self._apply = client.register_script(script_source("apply"))
        self._publish = client.register_script(script_source("publish"))
        self._read = client.register_script(script_source("read"))
        self._claim = client.register_script(script_source("claim"))
        self._lease = client.register_script(script_source("lease"))

    @classmethod
    def from_url(cls, url: str, prefix: str = "clv", dedupe_window_ms: int = 7 * 86400_000,
                 default_tenant: str = "default") -> RedisStore:
        client = aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                         socket_timeout=15, socket_connect_timeout=5)
        return cls(client, prefix, dedupe_window_ms, default_tenant)

    @property
    def client(self) -> Client:
        return self._r

    def key(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    def meta_key(self, *parts: str) -> str:
        """A key of the store's own data (models, leases, flags, settings), not of a
        customer or a partition: ``P:{parts}`` here; a Redis Cluster keeps them in one slot
        (:class:`~clv_stream.store.redis_cluster_store.RedisClusterStore`)."""
        return self.key(*parts)

    async def close(self) -> None:
        await self._r.aclose()

    def _partition_key(self, topic: str) -> str:
        return self.key("{0}", "part", topic)

    async def applied_offsets(self, topic: str) -> dict[int, int]:
        """The highest offset applied per partition of ``topic`` (also from the layout before
        the partition hash, for partitions no worker has claimed since)."""
        with translated():
            legacy = await self._r.hgetall(self.key("off", topic))
        return {**{int(p): int(o) for p, o in legacy.items()}, **await self._offsets(topic, "a")}

    async def confirmed_offsets(self, topic: str) -> dict[int, int]:
        """The highest offset per partition of ``topic`` whose outputs were published."""
        return await self._offsets(topic, "c")

    async def _offsets(self, topic: str, kind: str) -> dict[int, int]:
        with translated():
            stored = await self._r.hgetall(self._partition_key(topic))
        return {int(str(f)[2:]): int(v) for f, v in stored.items() if str(f).startswith(kind + ":")}

    async def claim(self, topic: str, partitions: Mapping[int, int],
                    now: float | None = None) -> tuple[bool, list[Claim]]:
        """Take partitions (partition -> the generation held, 0 for a new assignment):
        whether this Redis held clv-stream state before, and each partition's claim."""
        claims = [[p, g] for p, g in sorted(partitions.items())]
        with translated():
            reply = await self._claim(args=[self._p, topic, orjson.dumps(claims),
                                            int(now if now is not None else time.time())])
        return replies.claims(reply)

    async def ping(self) -> bool:
        with translated():
            return bool(await self._r.ping())

    async def apply(self, topic: str, records: Sequence[Positioned], home: bool = False,
                    look: DueLook | None = None, fence: Fence | None = None,
                    positions: Mapping[int, int] | None = None, as_of: int = 0,
                    model_version: str = "") -> ApplyResult:
        """Apply a batch atomically; return the clock and every touched customer's state.

        ``home``: every record is keyed by its ``customer_id``, so its partition is the
        customer's home. ``look``: customers of its homes due for a time-driven look by the
        batch's event time are returned too (:class:`DueLook`; None: no look); an entry found
        under another home than the customer's is handed to that home's index instead.
        ``fence``: see :data:`Fence`; a refusal raises
        :class:`~clv_stream.exceptions.Fenced` or :class:`~clv_stream.exceptions.StateRolledBack`
        and writes nothing. ``positions``: per partition, the batch's highest offset (its
        dead-lettered records included). ``as_of``: the event time to score at (0: the
        stream clock after the batch; see :meth:`claim`), returned as ``clock``.
        """
        homes, limit = look or ((), 0)
        with translated():
            reply = await self._apply(args=[self._p, topic, self._window,
                                            replies.apply_args(records), "1" if home else "0",
                                            limit, orjson.dumps(list(homes)),
                                            replies.fence_json(fence),
                                            replies.offsets_json(positions), as_of, model_version,
                                            self._tenant])
        return replies.parse_apply(reply, self._tenant)

    async def publish(self, entries: Sequence[PublishEntry],
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
        with translated():
            await self._publish(args=[self._p, replies.publish_args(entries, self._tenant), topic,
                                      replies.fence_json(fence), replies.offsets_json(confirmed)])

    async def customer(self, customer: Customer) -> CustomerState | None:
        found = await self.customers([customer])
        return found[0] if found else None

    async def history(self, customer: Customer) -> list[str]:
        """The customer's history points, newest first (publish.lua keeps them)."""
        with translated():
            found = await self._r.lrange(self._history_key(self._p, customer), 0, -1)
        return [str(p) for p in found]

    def _history_key(self, prefix: str, customer: Customer) -> str:
        """common.lua's history_key."""
        tenant, cid = key_of(replies.ref(customer, self._tenant), self._tenant)
        return f"{prefix}:h:{cid}" if tenant == self._tenant else f"{prefix}:ht:{tenant}:{cid}"

    async def customers(self, ids: Sequence[Customer]) -> list[CustomerState]:
        """Current state of several customers, in one script call (``read_customers.lua``).

        Customers without a counting order and never published are left out.
        """
        if not ids:
            return []
        refs = [replies.ref(c, self._tenant) for c in ids]
        with translated():
            reply = await self._read(args=[self._p, orjson.dumps(refs)])
        return replies.states(reply, 0, self._tenant)

    async def scan_customer_ids(self, count: int = 1000,
                                tenant: str | None = None) -> AsyncIterator[list[CustomerKey]]:
        """Yield customers in pages, with SCAN (no blocking KEYS): those of the default
        tenant (``P:c:{id}``), then the other tenants' (``P:t:{tenant}:c:{id}``); only
        ``tenant``'s when given (a tenant id has no glob characters)."""
        if tenant is None or tenant == self._tenant:
            cut = len(self.key("c", ""))
            async for keys in self._scan(self.key("c", "*"), count):
                yield [(self._tenant, k[cut:]) for k in keys]
        if tenant == self._tenant:
            return
        cut = len(self.key("t", ""))
        match = self.key("t", "*") if tenant is None else self.key("t", tenant, "c", "*")
        async for keys in self._scan(match, count):
            pairs = (k[cut:].split(":c:", 1) for k in keys)
            yield [(t, cid) for t, cid in pairs]

    async def _scan(self, match: str, count: int) -> AsyncIterator[list[str]]:
        cursor: int = 0
        while True:
            with translated():
                cursor, keys = await self._r.scan(cursor, match=match, count=count)
            if keys:
                yield [str(k) for k in keys]
            if cursor == 0:
                return

    async def clock(self) -> int:
        with translated():
            return int(await self._r.get(self.key("clock")) or 0)

    async def postpone(self, states: Sequence[CustomerState], until: int) -> None:
        """Move due customers' next look to event time ``until`` (in their home's index)."""
        with translated():
            async with self._r.pipeline(transaction=False) as pipe:
                for st in states:
                    key = self.key("due") if st.home < 0 else self.key("due", str(st.home))
                    pipe.zadd(key, {replies.ref(st.key, self._tenant): until}, xx=True)
                await pipe.execute()

    async def due(self, until: int, limit: int, home: int = -1) -> list[CustomerKey]:
        """Customers of a home partition (-1: without a home) due by event time ``until``."""
        key = self.key("due") if home < 0 else self.key("due", str(home))
        with translated():
            found = await self._r.zrangebyscore(key, "-inf", until, 0, limit)
        return [key_of(str(ref), self._tenant) for ref in found]

    async def take_lease(self, name: str, owner: str, ttl_s: int) -> bool:
        """Hold ``P:lease:{name}`` for ``ttl_s`` seconds when it is free; False when held."""
        with translated():
            return bool(await self._r.set(self.meta_key("lease", name), owner, nx=True, ex=ttl_s))

    async def renew_lease(self, name: str, owner: str, ttl_s: int) -> bool:
        """Hold ``owner``'s lease ``ttl_s`` seconds more (taken back if it lapsed); False
        when another owner holds it now (``lease.lua``)."""
        with translated():
            key = self.meta_key("lease", name)
            return bool(await self._lease(keys=[key], args=[key, owner, ttl_s]))

    async def release_lease(self, name: str, owner: str) -> None:
        """Let go of ``owner``'s lease (another owner's is left be)."""
        with translated():
            key = self.meta_key("lease", name)
            await self._lease(keys=[key], args=[key, owner, 0])

    async def flag(self, name: str) -> bool:
        """Whether ``P:flag:{name}`` is set (see :meth:`set_flag`)."""
        with translated():
            return bool(await self._r.exists(self.meta_key("flag", name)))

    async def set_flag(self, name: str, ttl_s: int) -> None:
        with translated():
            await self._r.set(self.meta_key("flag", name), "1", ex=ttl_s)

    async def current_model(self) -> ScoringModel | None:
        with translated():
            version = await self._r.get(self.meta_key("model", "current"))
        return None if version is None else await self.model(str(version))

    async def model(self, version: str) -> ScoringModel | None:
        with translated():
            raw = await self._r.hget(self.meta_key("models"), version)
        if raw is None:
            return None
        try:
            return ScoringModel.from_json_dict(orjson.loads(raw))
        except (KeyError, TypeError, ValueError, ModelError) as exc:  # orjson's: a ValueError
            raise ModelError(f"stored model {version!r} cannot be read: {exc!r}") from exc

    async def save_model(self, model: ScoringModel, make_current: bool = True) -> None:
        with translated():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self.meta_key("models"), model.version, orjson.dumps(model.to_json_dict()))
                if make_current:
                    pipe.set(self.meta_key("model", "current"), model.version)
                await pipe.execute()

    async def tenants(self) -> dict[str, TenantSettings]:
        with translated():
            stored = await self._r.hgetall(self.meta_key("tenants"))
        found: dict[str, TenantSettings] = {}
        for tenant, raw in stored.items():
            try:
                found[str(tenant)] = TenantSettings.from_json(raw)
            except ValueError as exc:  # written by hand, or by a newer version
                raise ConfigError(f"settings of tenant {tenant!r} cannot be read: "
                                  f"{type(exc).__name__}") from exc
        return found

    async def set_tenant(self, tenant: str, settings: TenantSettings) -> None:
        with translated():
            await self._r.hset(self.meta_key("tenants"), tenant, settings.to_json())
            await self._r.incr(self.meta_key("tenants", "rev"))  # after the write: readers see it

    async def tenants_revision(self) -> int:
        with translated():
            return int(await self._r.get(self.meta_key("tenants", "rev")) or 0)

    async def tenant_customers(self) -> dict[str, int]:
        with translated():
            counts = await self._r.hgetall(self.key("{0}", "tenants"))
        return {str(t): int(n) for t, n in counts.items()}

    async def subscription_totals(self, tenant: str) -> dict[tuple[str, str], int]:
        with translated():
            found = await self._r.hgetall(self.key("{0}", "subs", tenant))
        return replies.totals({str(f): int(n) for f, n in found.items()})

    async def subscription_tenants(self) -> set[str]:
        with translated():
            return {str(t) for t in await self._r.smembers(self.key("{0}", "subs"))}

    async def portfolio_totals(self, tenant: str) -> dict[str, int]:
        with translated():
            found = await self._r.hgetall(self.key("{0}", "pf", tenant))
        return {str(f): int(n) for f, n in found.items() if int(n)}

    async def marketing_spend(self, tenant: str) -> dict[tuple[int, str], int]:
        with translated():
            found = await self._r.hgetall(self.key("{0}", "sp", tenant))
        return replies.spend_by_month((str(f), str(v)) for f, v in found.items())

    async def recent_transitions(self, tenant: str) -> list[str]:
        with translated():
            return [str(line) for line in await self._r.lrange(self.key("{0}", "tf", tenant),
                                                                0, -1)]

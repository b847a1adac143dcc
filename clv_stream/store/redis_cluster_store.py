"""The Redis Cluster store: the same state as :class:`RedisStore`, split into slot groups.

``CLV_REDIS_CLUSTER=true``; ``CLV_REDIS_URL`` names any node. Key layout (``P`` is
``CLV_REDIS_KEY_PREFIX``; ``{tag}`` the hash tag of a slot group, see
:mod:`~clv_stream.store.slot_groups`)::

    P:{meta}:groups        string, the number of slot groups G, set once (SET NX) by the
                                   first claim or batch; it wins over CLV_REDIS_SLOT_GROUPS
                                   (default: CLV_TOPIC_PARTITIONS) from then on, so adding
                                   partitions moves no state
    P:{tag}:c:{id}, P:{tag}:t:{tenant}:c:{id}
                           hash    a customer of the group (the fields of RedisStore's)
    P:{tag}:{0}:e:...      string  event_id dedupe keys of the group's customers
    P:{tag}:{0}:part:{topic}
                           hash    per partition: a:p, c:p, g:p, k:p, v:p, l:p as in
                                   RedisStore, for the group's state alone
    P:{tag}:due:{home}, P:{tag}:due
                           zset    the due index of the group's customers, per home
    P:{tag}:clock          string  the latest event time applied in the group
    P:{tag}:created        string  set by the first claim (a new Redis from one that lost all)
    P:{tag}:{0}:tenants    hash    tenant -> customers of the group (added up when read)
    P:{tag}:{0}:subs       set     the tenants with totals in the group
    P:{tag}:{0}:subs:{tenant}
                           hash    the tenant's subscription totals of the group's customers
                                   (added up when read)
    P:{meta}:models, P:{meta}:model:current, P:{meta}:lease:{name}, P:{meta}:flag:{name},
    P:{meta}:tenants, P:{meta}:tenants:rev
                                   as RedisStore's, in one slot (a model is saved in MULTI)

The scripts are RedisStore's, unchanged: each builds its keys from the ``prefix`` it is
given, and ``P:{tag}`` makes all of them one slot's (Redis hashes the first ``{...}``).
Each call declares one key of its group, so the client routes it to the slot's primary.

A customer's group is Kafka's partitioner over its ``customer_id``, ``G`` ways: with ``G``
equal to the partition count a batch of one partition is one script call. A batch is split
by group and applied with one call per group touched, concurrently; each group applies
its records once per (partition, offset) and per event_id, and keeps the offsets, the
generation and the pending look of the state it holds (every group a batch calls gets the
batch's positions). So every guarantee holds per group:

* fencing: a claim writes the partition's generation to every group (the same number:
  above the highest any group holds, drawn atomically in the partition's home group
  ``p % G``); a stale owner is refused by any group it calls.
* going back in time: the store remembers, per group and partition, the applied offset it
  last wrote or read there, and fences each call with that; a group holding less raises
  ``StateRolledBack`` and the worker claims again. A claim merges the groups' offsets as
  the lowest (the worker re-reads from the group that lost the most; the others skip the
  redelivered records); a group that holds nothing of a partition any more (its
  ``created`` marker gone while others have theirs, or this store saw it hold an offset)
  counts as holding nothing applied, so the partition is re-read from the start. (A
  worker restarted after such a loss has no memory of the offsets: it only knows by the
  ``created`` marker.) A group's loss is noticed by the next call to it: every batch
  calls the groups of its records and of its partitions, an idle lane's look calls all.
* the clock: each group keeps the latest event time it applied; ``clock()`` is the
  latest of all (as one Redis's). A batch is scored at one event time in all its groups:
  when the caller passes none, the latest clock this store has seen (read from the
  cluster at first use) or the batch's latest event time, whichever is later (an
  event_id duplicate can move it on, unlike one Redis's clock).
* ``applied_offsets`` / ``confirmed_offsets`` report progress: the highest any group holds.
* publish: entries go to their customers' groups; the fence and the confirmed offsets to
  those and to the groups the partition's last batch called (a confirmed offset is where
  a claim resumes; those groups hold the batch's applied offset).
* due looks: a batch looks in the groups it calls (their share of the limit each); an
  idle look (no records) in every group, so time decay reaches every group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from clv_stream.exceptions import StateRolledBack
from clv_stream.store import replies
from clv_stream.store.cluster_merge import first_error, merge_applies, merge_claims, merge_offsets
from clv_stream.store.errors import translated
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.slot_groups import group_tags, groups_of
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

__all__ = ["RedisClusterStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RedisClusterStore(RedisStore):
    """clv-stream's state on a Redis Cluster, in slot groups (see the module docstring)."""

    def __init__(self, client: aioredis.RedisCluster, prefix: str, dedupe_window_ms: int,
                 default_tenant: str = "default", slot_groups: int = 4) -> None:
        super().__init__(client, prefix, dedupe_window_ms, default_tenant)
        self._wanted = slot_groups
        self._count: int | None = None  # the stored number of slot groups, once read
        #: (topic, group, partition) -> applied offset this store last wrote or read there
        self._seen: dict[tuple[str, int, int], int] = {}
        #: (topic, partition) -> the highest of those over the groups
        self._known: dict[tuple[str, int], int] = {}
        #: (topic, partition) -> the groups its last batch called
        self._called: dict[tuple[str, int], set[int]] = {}
        self._clock: int | None = None  # the latest clock seen (None: not read yet)

    @classmethod
    def from_url(cls, url: str, prefix: str = "clv", dedupe_window_ms: int = 7 * 86400_000,
                 default_tenant: str = "default", slot_groups: int = 4) -> RedisClusterStore:
        client = aioredis.RedisCluster.from_url(url, decode_responses=True, socket_timeout=15,
                                                socket_connect_timeout=5)
        return cls(client, prefix, dedupe_window_ms, default_tenant, slot_groups)

    def meta_key(self, *parts: str) -> str:
        return ":".join((self._p, "{meta}", *parts))

    # --- slot groups ---------------------------------------------------------------------
    async def slot_groups(self, create: bool = False) -> int:
        """The number of slot groups: the stored one (``create``: store the wanted one
        first, unless one is stored), else the wanted one (not remembered)."""
        if self._count is not None:
            return self._count
        key = self.meta_key("groups")
        with translated():
            if create:
                await self._r.set(key, self._wanted, nx=True)
            stored = await self._r.get(key)
        if stored is None:
            return self._wanted
        self._count = int(stored)
        if self._count != self._wanted:
            logger.info("the state has %s slot groups (stored; %s asked for)",
                        self._count, self._wanted)
        return self._count

    def _prefix(self, group: int, groups: int) -> str:
        return f"{self._p}:{{{group_tags(groups)[group]}}}"

    async def _each(self, calls: Sequence[Awaitable[T]]) -> list[T]:
        """Run one call per group concurrently; raise the worst error after all ended."""
        done = await asyncio.gather(*calls, return_exceptions=True)
        error = first_error(r for r in done if isinstance(r, BaseException))
        if error is not None:
            raise error
        return [r for r in done if not isinstance(r, BaseException)]

    def _check_known(self, topic: str, fence: Fence | None) -> None:
        """A caller that saw more applied than any group this store knows of holds: the
        state went back in time (or was never this store's)."""
        for p, (_, expected) in (fence or {}).items():
            if expected > self._known.get((topic, p), -1):
                raise StateRolledBack(p)

    def _group_fence(self, topic: str, group: int, fence: Fence | None) -> Fence:
        return {p: (gen, self._seen.get((topic, group, p), -1))
                for p, (gen, _) in (fence or {}).items()}

    def _saw(self, topic: str, group: int, offsets: Mapping[int, int]) -> None:
        for p, o in offsets.items():
            key = (topic, group, p)
            self._seen[key] = max(self._seen.get(key, -1), o)
            self._known[(topic, p)] = max(self._known.get((topic, p), -1), o)

    # --- batches -------------------------------------------------------------------------
    async def apply(self, topic: str, records: Sequence[Positioned], home: bool = False,
                    look: DueLook | None = None, fence: Fence | None = None,
                    positions: Mapping[int, int] | None = None, as_of: int = 0,
                    model_version: str = "") -> ApplyResult:
        """:meth:`RedisStore.apply`, one script call per slot group the batch calls."""
        n = await self.slot_groups(create=True)
        by_group: dict[int, list[Positioned]] = {}
        found = groups_of([r.order.customer_id for r in records], n)
        for rec, g in zip(records, found, strict=True):
            by_group.setdefault(g, []).append(rec)
        positions = dict(positions or {})
        homes, limit = look or ((), 0)
        called = set(by_group) | {p % n for p in positions}
        if limit > 0 and homes:
            if not records or any(h < 0 for h in homes):
                called = set(range(n))
            else:
                called |= {h % n for h in homes}
        self._check_known(topic, fence)
        if as_of <= 0:
            as_of = max(await self._latest_clock(), max((r.order.ts for r in records), default=0))
        for p in {*positions, *(r.partition for r in records)}:
            self._called[(topic, p)] = called
        groups = sorted(called)
        share = -(-limit // len(groups)) if groups and limit > 0 else 0
        results = await self._each([
            self._apply_group(topic, g, n, by_group.get(g, []), home, homes, share, fence,
                              positions, as_of, model_version) for g in groups])
        self._clock = max(self._clock or 0, as_of)
        order: dict[str, int] = {}
        for i, rec in enumerate(records):
            order.setdefault(replies.ref((rec.order.tenant, rec.order.customer_id),
                                         self._tenant), i)
        return merge_applies(results, as_of, [share] * len(groups), limit, order, self._tenant)

    async def _apply_group(self, topic: str, g: int, n: int, records: Sequence[Positioned],
                           home: bool, homes: Sequence[int], share: int, fence: Fence | None,
                           positions: Mapping[int, int], as_of: int,
                           model_version: str) -> ApplyResult:
        prefix = self._prefix(g, n)
        with translated():
            reply = await self._apply(keys=[f"{prefix}:clock"], args=[
                prefix, topic, self._window, replies.apply_args(records), "1" if home else "0",
                share, orjson.dumps(list(homes)),
                replies.fence_json(self._group_fence(topic, g, fence)),
                replies.offsets_json(positions), as_of, model_version, self._tenant])
        high = dict(positions)
        for rec in records:
            high[rec.partition] = max(high.get(rec.partition, -1), rec.offset)
        self._saw(topic, g, high)
        return replies.parse_apply(reply, self._tenant)

    async def _latest_clock(self) -> int:
        if self._clock is None:
            self._clock = await self.clock()
        return self._clock

    async def publish(self, entries: Sequence[PublishEntry], topic: str = "",
                      fence: Fence | None = None,
                      confirmed: Mapping[int, int] | None = None) -> None:
        """:meth:`RedisStore.publish`, one script call per group (see the module docstring)."""
        if not entries and not confirmed:
            return
        n = await self.slot_groups(create=True)
        by_group: dict[int, list[PublishEntry]] = {}
        keys = [key_of(replies.ref(e[0], self._tenant), self._tenant) for e in entries]
        for entry, g in zip(entries, groups_of([cid for _, cid in keys], n), strict=True):
            by_group.setdefault(g, []).append(entry)
        called = set(by_group)
        for p in {*(fence or {}), *(confirmed or {})}:
            called |= self._called.get((topic, p), {p % n})
        self._check_known(topic, fence)
        await self._each([self._publish_group(topic, g, n, by_group.get(g, []), fence, confirmed)
                          for g in sorted(called)])

    async def _publish_group(self, topic: str, g: int, n: int, entries: Sequence[PublishEntry],
                             fence: Fence | None, confirmed: Mapping[int, int] | None) -> None:
        prefix = self._prefix(g, n)
        with translated():
            await self._publish(keys=[f"{prefix}:clock"], args=[
                prefix, replies.publish_args(entries, self._tenant), topic,
                replies.fence_json(self._group_fence(topic, g, fence)),
                replies.offsets_json(confirmed)])

    async def customers(self, ids: Sequence[Customer]) -> list[CustomerState]:
        """:meth:`RedisStore.customers`, one script call per group asked."""
        if not ids:
            return []
        n = await self.slot_groups()
        refs = [replies.ref(c, self._tenant) for c in ids]
        by_group: dict[int, list[str]] = {}
        found = groups_of([key_of(r, self._tenant)[1] for r in refs], n)
        for ref, g in zip(refs, found, strict=True):
            by_group.setdefault(g, []).append(ref)
        read = await self._each([self._read_group(g, n, group_refs)
                                 for g, group_refs in by_group.items()])
        by_ref = {replies.ref(s.key, self._tenant): s for rows in read for s in rows}
        return [by_ref[r] for r in refs if r in by_ref]

    async def history(self, customer: Customer) -> list[str]:
        """:meth:`RedisStore.history`, from the customer's group."""
        n = await self.slot_groups()
        ref = replies.ref(customer, self._tenant)
        [g] = groups_of([key_of(ref, self._tenant)[1]], n)
        with translated():
            found = await self._r.lrange(self._history_key(self._prefix(g, n), customer), 0, -1)
        return [str(p) for p in found]

    async def _read_group(self, g: int, n: int, refs: list[str]) -> list[CustomerState]:
        prefix = self._prefix(g, n)
        with translated():
            reply = await self._read(keys=[f"{prefix}:clock"], args=[prefix, orjson.dumps(refs)])
        return replies.states(reply, 0, self._tenant)

    # --- claims and offsets --------------------------------------------------------------
    async def claim(self, topic: str, partitions: Mapping[int, int],
                    now: float | None = None) -> tuple[bool, list[Claim]]:
        """:meth:`RedisStore.claim` in every group: a new assignment's generation is drawn
        in the partition's home group above the highest any group holds, then written to
        all groups (as a worker takes back its own); the offsets merged (``merge_claims``)."""
        n = await self.slot_groups(create=True)
        wall = int(now if now is not None else time.time())
        held = await self._each([self._held(topic, g, n, list(partitions)) for g in range(n)])
        had_state = any(created for created, _ in held)
        generations = {p: g for p, g in partitions.items() if g > 0}
        fresh = [p for p, g in partitions.items() if g <= 0]
        floors = {p: max(gens.get(p, 0) for _, gens in held) for p in fresh}
        homes: dict[int, list[list[int]]] = {}
        for p in sorted(fresh):
            homes.setdefault(p % n, []).append([p, 0, floors[p]])
        drawn = await self._each([self._claim_group(topic, h, n, claims, wall)
                                  for h, claims in homes.items()])
        generations.update((c.partition, c.generation) for _, rows in drawn for c in rows)
        claims = [[p, gen] for p, gen in sorted(generations.items())]
        per_group = await self._each([self._claim_group(topic, g, n, claims, wall)
                                      for g in range(n)])
        lost = {(g, c.partition) for g, (_, rows) in enumerate(per_group) for c in rows
                if c.applied < 0 and ((had_state and not held[g][0])
                                      or self._seen.get((topic, g, c.partition), -1) >= 0)}
        if lost:
            logger.error("slot groups lost all their state of partitions %s (a failover to an "
                         "empty replica?): the worker re-reads them from the start",
                         sorted({p for _, p in lost}))
        for p in partitions:
            self._known[(topic, p)] = -1
        for g, (_, rows) in enumerate(per_group):
            for c in rows:
                self._seen[(topic, g, c.partition)] = c.applied
                self._known[(topic, c.partition)] = max(self._known[(topic, c.partition)],
                                                        c.applied)
        return had_state, merge_claims([rows for _, rows in per_group], generations, lost)

    async def _held(self, topic: str, g: int, n: int,
                    partitions: list[int]) -> tuple[bool, dict[int, int]]:
        """Whether group ``g`` held state, and the generations it holds."""
        prefix = self._prefix(g, n)
        fields = [f"g:{p}" for p in partitions]
        with translated():
            created = await self._r.exists(f"{prefix}:created")
            gens = await self._r.hmget(f"{prefix}:{{0}}:part:{topic}", fields) if fields else []
        pairs = zip(partitions, gens, strict=True)
        return bool(created), {p: int(v) for p, v in pairs if v is not None}

    async def _claim_group(self, topic: str, g: int, n: int, claims: list[list[int]],
                           wall: int) -> tuple[bool, list[Claim]]:
        prefix = self._prefix(g, n)
        with translated():
            reply = await self._claim(keys=[f"{prefix}:clock"],
                                      args=[prefix, topic, orjson.dumps(claims), wall])
        return replies.claims(reply)

    async def applied_offsets(self, topic: str) -> dict[int, int]:
        return merge_offsets(await self._partition_hashes(topic), "a")

    async def confirmed_offsets(self, topic: str) -> dict[int, int]:
        return merge_offsets(await self._partition_hashes(topic), "c")

    async def _partition_hashes(self, topic: str) -> list[dict[str, str]]:
        n = await self.slot_groups()
        return await self._each([self._hgetall(f"{self._prefix(g, n)}:{{0}}:part:{topic}")
                                 for g in range(n)])

    async def _hgetall(self, key: str) -> dict[str, str]:
        with translated():
            found = await self._r.hgetall(key)
        return {str(f): str(v) for f, v in found.items()}

    # --- reads over all groups -----------------------------------------------------------
    async def scan_customer_ids(self, count: int = 1000,
                                tenant: str | None = None) -> AsyncIterator[list[CustomerKey]]:
        """Every customer, in pages: SCAN on every primary (``P:{tag}:c:*``, then
        ``P:{tag}:t:*``; only ``tenant``'s when given)."""
        if tenant is None or tenant == self._tenant:
            async for page in self._scan_keys(f"{self._p}:{{*}}:c:*", count):
                yield page
        if tenant == self._tenant:
            return
        rest = "*" if tenant is None else f"{tenant}:c:*"
        async for page in self._scan_keys(f"{self._p}:{{*}}:t:{rest}", count):
            yield page

    async def _scan_keys(self, match: str, count: int) -> AsyncIterator[list[CustomerKey]]:
        page: list[CustomerKey] = []
        cut = len(self._p) + 2  # "P:{"
        with translated():
            async for key in self._r.scan_iter(match=match, count=count):
                found = _customer_of(str(key)[cut:], self._tenant)
                if found is not None:
                    page.append(found)
                if len(page) >= count:
                    yield page
                    page = []
        if page:
            yield page

    async def clock(self) -> int:
        n = await self.slot_groups()
        found = await self._each([self._get(f"{self._prefix(g, n)}:clock") for g in range(n)])
        latest = max((int(v) for v in found if v is not None), default=0)
        self._clock = max(self._clock or 0, latest)
        return latest

    async def tenant_customers(self) -> dict[str, int]:
        """Customers per tenant: each group's counts (``P:{tag}:{0}:tenants``) added up."""
        n = await self.slot_groups()
        counts: dict[str, int] = {}
        for found in await self._each([self._hgetall(f"{self._prefix(g, n)}:{{0}}:tenants")
                                       for g in range(n)]):
            for tenant, count in found.items():
                counts[tenant] = counts.get(tenant, 0) + int(count)
        return counts

    async def subscription_totals(self, tenant: str) -> dict[tuple[str, str], int]:
        """Each group's totals of ``tenant`` (``P:{tag}:{0}:subs:{tenant}``) added up."""
        n = await self.slot_groups()
        totals: dict[str, int] = {}
        for found in await self._each([
                self._hgetall(f"{self._prefix(g, n)}:{{0}}:subs:{tenant}") for g in range(n)]):
            for field, count in found.items():
                totals[field] = totals.get(field, 0) + int(count)
        return replies.totals(totals)

    async def subscription_tenants(self) -> set[str]:
        n = await self.slot_groups()
        found = await self._each([self._members(f"{self._prefix(g, n)}:{{0}}:subs")
                                  for g in range(n)])
        return set().union(*found)

    async def portfolio_totals(self, tenant: str) -> dict[str, int]:
        """Each group's totals of ``tenant`` (``P:{tag}:{0}:pf:{tenant}``) added up."""
        n = await self.slot_groups()
        totals: dict[str, int] = {}
        for found in await self._each([
                self._hgetall(f"{self._prefix(g, n)}:{{0}}:pf:{tenant}") for g in range(n)]):
            for field, count in found.items():
                totals[field] = totals.get(field, 0) + int(count)
        return {f: v for f, v in totals.items() if v}

    async def marketing_spend(self, tenant: str) -> dict[tuple[int, str], int]:
        """The spend of ``tenant``: one group holds each (month, channel), all in one."""
        n = await self.slot_groups()
        found: dict[tuple[int, str], int] = {}
        for group in await self._each([
                self._hgetall(f"{self._prefix(g, n)}:{{0}}:sp:{tenant}") for g in range(n)]):
            found.update(replies.spend_by_month(group.items()))
        return found

    async def recent_transitions(self, tenant: str) -> list[str]:
        """Each group's last transitions of ``tenant``, newest first across the groups."""
        n = await self.slot_groups()
        lines = [line for found in await self._each([
            self._lrange(f"{self._prefix(g, n)}:{{0}}:tf:{tenant}") for g in range(n)])
            for line in found]
        return sorted(lines, key=lambda line: -int(line.partition("\t")[0]))[:100]

    async def _lrange(self, key: str) -> list[str]:
        with translated():
            return [str(v) for v in await self._r.lrange(key, 0, -1)]

    async def _members(self, key: str) -> set[str]:
        with translated():
            return {str(m) for m in await self._r.smembers(key)}

    async def _get(self, key: str) -> Any:
        with translated():
            return await self._r.get(key)

    async def due(self, until: int, limit: int, home: int = -1) -> list[CustomerKey]:
        n = await self.slot_groups()
        suffix = "due" if home < 0 else f"due:{home}"
        found = await self._each([self._due(f"{self._prefix(g, n)}:{suffix}", until, limit)
                                  for g in range(n)])
        return [key_of(str(ref), self._tenant) for refs in found for ref in refs][:limit]

    async def _due(self, key: str, until: int, limit: int) -> list[str]:
        with translated():
            found = await self._r.zrangebyscore(key, "-inf", until, 0, limit)
        return [str(ref) for ref in found]

    async def postpone(self, states: Sequence[CustomerState], until: int) -> None:
        n = await self.slot_groups()
        groups = groups_of([s.customer_id for s in states], n)
        with translated():
            async with self._r.pipeline() as pipe:
                for st, g in zip(states, groups, strict=True):
                    suffix = "due" if st.home < 0 else f"due:{st.home}"
                    pipe.zadd(f"{self._prefix(g, n)}:{suffix}",
                              {replies.ref(st.key, self._tenant): until}, xx=True)
                await pipe.execute()


def _customer_of(rest: str, default_tenant: str) -> CustomerKey | None:
    """(tenant, id) from a key without its ``P:{``: ``tag}:c:{id}`` or
    ``tag}:t:{tenant}:c:{id}`` (other keys of the groups: None)."""
    _, sep, tail = rest.partition("}")
    if not sep:
        return None
    if tail.startswith(":c:"):
        return default_tenant, tail[3:]
    if tail.startswith(":t:"):
        tenant, sep, cid = tail[3:].partition(":c:")
        return (tenant, cid) if sep else None
    return None

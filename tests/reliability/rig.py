"""The fault-injection rig: real worker processes, faults, the batch oracle and the verdicts.

A scenario builds a :class:`Rig` (a :class:`~tests.integration.harness.Harness` with its own
topics and key prefix on the given broker and redis-server), starts workers, publishes
orders, injects faults (``kill -9``, SIGSTOP/SIGCONT, restarts, snapshots), waits on
conditions with deadlines, then judges:

* state: every customer's aggregate in Redis against a batch computation over the events
  actually published (:func:`expected_summaries`, deduplicated as the contract says: the
  scope is (tenant_id, customer_id, event_id), the default event_id ``{order_id}:{event_type}``),
  counting per customer the orders Redis counts fewer (``lost``) or more (``double_counted``:
  an order counted twice, or one whose cancel was lost) times than the batch, and the
  customers with the right count but another aggregate (``diverged``: a refund lost or
  applied twice, say);
* outputs: per customer, each ``clv.updates`` record's ``previous`` equals the ``current``
  of the update published before it (an exact re-emission of an earlier record, same
  event_id and same body, is tolerated: at-least-once output), and the last update on the
  topic is the value Redis records as published.

Every verdict goes into a :class:`Scenario`, which prints one ``RELIABILITY`` line, appends
it as JSON to ``$CLV_RELIABILITY_REPORT`` and fails the test with every failed check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis, free_port
from clv_stream.devinfra._process import ManagedProcess
from clv_stream.devinfra.stack import EMBEDDED_BROKER_ENV, WorkerProcess
from clv_stream.domain.aggregate import CustomerAggregate, Summary
from clv_stream.domain.value import iso
from clv_stream.exceptions import StoreError
from clv_stream.settings import Settings
from tests.integration.harness import Harness, committed_offsets, wait_until

SCALE = "long" if os.environ.get("CLV_RELIABILITY_SCALE", "").lower() == "long" else "ci"
LONG = SCALE == "long"
REPORT_ENV = "CLV_RELIABILITY_REPORT"
LOGS_ENV = "CLV_RELIABILITY_LOGS"  # a directory: every worker's log is copied there
LONG_TEST_TIMEOUT_S = 1800
#: Summary lines of the session, repeated in the terminal summary (conftest).
LINES: list[str] = []
#: Groups the report's records of one pytest session.
RUN = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
DEFAULT_TENANT = "default"
MIB = 1024 * 1024


T = TypeVar("T")


def pick(ci: T, long: T) -> T:
    """The CI value, or the long one under ``CLV_RELIABILITY_SCALE=long``."""
    return long if LONG else ci


def supported(**settings: Any) -> dict[str, Any]:
    """The settings this version of :class:`Settings` has (others are being added)."""
    return {k: v for k, v in settings.items() if k in Settings.model_fields}


# --- processes ---------------------------------------------------------------------------

def signal_group(server: ManagedProcess, sig: signal.Signals) -> None:
    """Send ``sig`` to a server's process group (it runs in its own session)."""
    assert server.pid is not None, f"{server.name} is not running"
    os.killpg(server.pid, sig)


@contextlib.contextmanager
def paused(server: ManagedProcess) -> Any:
    """SIGSTOP a server for the ``with`` block; SIGCONT on the way out, whatever happens."""
    signal_group(server, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            signal_group(server, signal.SIGCONT)


def exit_code(server: ManagedProcess) -> int | None:
    proc: subprocess.Popen[bytes] | None = getattr(server, "_proc", None)
    return None if proc is None else proc.poll()


def crash_reason(worker: ManagedProcess, lines: int = 3) -> str:
    """The last error lines of a worker's log (exception names and messages)."""
    try:
        text = worker.log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    found = [line.strip() for line in text.splitlines()
             if re.search(r"(Error|Exception|CRITICAL|Traceback)", line) and "[INFO]" not in line]
    return " | ".join(list(dict.fromkeys(found))[-lines:]) or "(nothing logged)"


def health(worker: WorkerProcess, timeout_s: float = 3.0) -> dict[str, Any]:
    """One ``GET /healthz``: ``{"http": code|None, "status": str|None, "shape": bool}``.

    ``shape``: the body is the contract's ``{"status": "ok"|"degraded", "checks": {...}}``.
    A timeout or refused connection is ``http: None, status: "no answer"``.
    """
    url = f"http://{worker.host}:{worker.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    except OSError:
        return {"http": None, "status": "no answer", "shape": False}
    try:
        doc = json.loads(body)
    except ValueError:
        return {"http": code, "status": None, "shape": False}
    shape = isinstance(doc, dict) and isinstance(doc.get("checks"), dict) and doc.get(
        "status") in ("ok", "degraded")
    return {"http": code, "status": doc.get("status") if isinstance(doc, dict) else None,
            "shape": shape}


_ASSIGNED = re.compile(r"partition=(\d+)")


def assigned_partitions(worker: WorkerProcess, topic: str) -> list[set[int]]:
    """Every assignment of ``topic`` the worker logged (``partitions assigned: [...]``)."""
    try:
        text = worker.log_path.read_text(errors="replace")
    except OSError:
        return []
    return [{int(p) for p in _ASSIGNED.findall(line)} for line in text.splitlines()
            if "partitions assigned" in line and (topic in line or "[]" in line)]


# --- events ----------------------------------------------------------------------------------

_ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)),
          timezone(timedelta(hours=5, minutes=30))]


def make_orders(prefix: str, customers: int, orders: int, seed: int,
                days: int = 700) -> list[dict[str, Any]]:
    """``orders`` placed orders of ``customers`` customers (a few buy a lot), in time order,
    with some cancels and (partial, sometimes repeated) refunds; all USD, several offsets.

    Customer and order ids start with ``prefix``.
    """
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    cids = [f"{prefix}c{i:05d}" for i in range(customers)]
    weights = [1.0 / (i + 1) ** 0.6 for i in range(customers)]
    timed: list[tuple[datetime, dict[str, Any]]] = []

    def at(when: datetime) -> str:
        return when.astimezone(rng.choice(_ZONES)).isoformat()

    for n, cid in enumerate(rng.choices(cids, weights, k=orders)):
        t = end - timedelta(seconds=rng.uniform(0, days * 86400))
        oid = f"{prefix}o{n:07d}"
        cents = rng.randint(100, 40000)
        amount: Any = f"{cents / 100:.2f}"
        if rng.random() < 0.1:  # a JSON number now and then
            amount, cents = cents // 100, cents // 100 * 100
        base = {"schema_version": 1, "order_id": oid, "customer_id": cid, "currency": "USD"}
        timed.append((t, {**base, "event_type": "order_placed", "amount": amount,
                          "occurred_at": at(t), "channel": rng.choice(["web", "app", "store"])}))
        roll = rng.random()
        if roll < 0.05:
            later = min(t + timedelta(hours=3), end)
            timed.append((later, {**base, "event_type": "order_cancelled", "amount": amount,
                                  "occurred_at": at(later)}))
        elif roll < 0.13:
            later = min(t + timedelta(days=2), end)
            part = rng.randint(1, cents)
            timed.append((later, {**base, "event_type": "order_refunded",
                                  "amount": f"{part / 100:.2f}", "occurred_at": at(later)}))
            if roll < 0.08:  # a second partial refund, with an event id of its own
                again = min(later + timedelta(days=1), end)
                timed.append((again, {**base, "event_type": "order_refunded",
                                      "event_id": f"{oid}:refund-2", "amount": "1.00",
                                      "occurred_at": at(again)}))
    timed.sort(key=lambda pair: pair[0])
    return [event for _, event in timed]


def placed_count(events: Iterable[dict[str, Any]]) -> int:
    return sum(1 for e in events if e.get("event_type") == "order_placed")


# --- the batch oracle ------------------------------------------------------------------------

class _Event(NamedTuple):
    """What ``CustomerAggregate.apply`` reads of an event, computed here independently of
    the worker's validation: exact cents, epoch seconds, margin in basis points."""

    kind: str
    order_id: str
    amount_minor: int
    ts: int
    margin_bp: int


_KINDS = {"order_placed": "p", "order_refunded": "r", "order_cancelled": "c"}


def dedupe_key(e: dict[str, Any]) -> tuple[str, str, str]:
    """The contract's dedupe scope: (tenant_id, customer_id, event_id)."""
    event_id = e.get("event_id") or f"{e['order_id']}:{e['event_type']}"
    return (e.get("tenant_id") or DEFAULT_TENANT, e["customer_id"], event_id)


def expected_summaries(events: Iterable[dict[str, Any]]) -> dict[str, Summary]:
    """The batch computation over valid USD order events (default tenant), keyed by customer."""
    seen: set[tuple[str, str, str]] = set()
    customers: dict[str, CustomerAggregate] = {}
    for e in events:
        key = dedupe_key(e)
        if key in seen:
            continue
        seen.add(key)
        assert e["currency"] == "USD", "the oracle knows USD only"
        assert key[0] == DEFAULT_TENANT, "the oracle knows the default tenant only"
        ts = datetime.fromisoformat(e["occurred_at"]).timestamp()
        margin = e.get("margin")
        event = _Event(_KINDS[e["event_type"]], e["order_id"],
                       int(Decimal(str(e["amount"])) * 100), int(ts // 1),
                       10000 if margin is None else int(Decimal(str(margin)) * 10000))
        customers.setdefault(e["customer_id"], CustomerAggregate()).apply(event)  # type: ignore[arg-type]
    return {cid: agg.summary() for cid, agg in customers.items()}


@dataclass
class StateVerdict:
    customers: int = 0
    lost: int = 0  # orders the batch counts and Redis does not
    double_counted: int = 0  # orders Redis counts more often than the batch
    diverged: int = 0  # customers with the right order count but another aggregate
    unexpected: int = 0  # customers that must have no state (only bad messages) but do
    examples: list[str] = field(default_factory=list)


# --- outputs --------------------------------------------------------------------------------

class Record(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class OutputVerdict:
    checked: int = 0  # clv.updates records examined
    reemitted: int = 0  # exact re-emissions (same event_id, same body): tolerated
    breaks: int = 0  # previous != the current of the update last published before it
    #: breaks whose previous is the current of an earlier update: the chain stepped back to
    #: a value published before (what a Redis that lost acknowledged writes leads to)
    rewinds: int = 0
    conflicts: int = 0  # same event_id, different body
    stale_published: int = 0  # Redis' published snapshot is not the last update on the topic
    #: of those, Redis holds a value published earlier (a rewind, as after a Redis rollback)
    stale_rewound: int = 0
    examples: list[str] = field(default_factory=list)
    rewind_examples: list[str] = field(default_factory=list)
    conflict_examples: list[str] = field(default_factory=list)
    published_examples: list[str] = field(default_factory=list)


def check_chains(updates: Sequence[Record]) -> OutputVerdict:
    """Per customer, in publication order (a customer's records share one partition)."""
    verdict = OutputVerdict()
    chains: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
    for r in updates:
        assert r.value is not None
        doc = orjson.loads(r.value)
        cid = f"{doc.get('tenant_id') or DEFAULT_TENANT}/{doc['customer_id']}"
        chains.setdefault(cid, []).append((r.partition, r.offset, doc))
    for cid, chain in chains.items():
        chain.sort(key=lambda x: (x[0], x[1]))
        last: dict[str, Any] | None = None
        bodies: dict[str, tuple[int, dict[str, Any]]] = {}
        currents: list[tuple[int, Any]] = []  # (offset, current) of every update so far
        for partition, offset, doc in chain:
            verdict.checked += 1
            earlier = bodies.get(doc["event_id"])
            if earlier is not None:
                if earlier[1] == doc:
                    verdict.reemitted += 1
                else:
                    verdict.conflicts += 1
                    differ = sorted(k for k in {*doc, *earlier[1]} if doc.get(k) != earlier[1].get(k))
                    _example(verdict.conflict_examples, f"{cid} @{partition}:{offset} "
                             f"({doc['cause']}) re-uses the event_id of @{earlier[0]} with other "
                             f"{differ}")
                continue
            bodies[doc["event_id"]] = (offset, doc)
            expected = last["current"] if last is not None else None
            if doc["previous"] != expected:
                verdict.breaks += 1
                back = [o for o, cur in currents if cur == doc["previous"]]
                # back to a value published before, or to before the first publication
                rewound = bool(back) or doc["previous"] is None
                verdict.rewinds += rewound
                where = f"the current of @{back[-1]}" if back else "no earlier update's current"
                examples = verdict.rewind_examples if rewound else verdict.examples
                _example(examples, f"{cid} @{partition}:{offset} ({doc['cause']}): "
                         f"previous {_brief(doc['previous'])} is {where}; last published "
                         f"@{currents[-1][0] if currents else '-'} {_brief(expected)}")
            currents.append((offset, doc["current"]))
            last = doc
    return verdict


def _brief(value: dict[str, Any] | None) -> str:
    if value is None:
        return "null"
    return f"(orders={value.get('orders')}, net={value.get('net_revenue')}, " \
           f"total_clv={value.get('total_clv')})"


def _example(examples: list[str], text: str, limit: int = 8) -> None:
    if len(examples) < limit:
        examples.append(text)


# --- the rig --------------------------------------------------------------------------------

class Rig(Harness):
    """A harness that runs any number of workers and records what it published."""

    def __init__(self, broker: EmbeddedBroker, redis: EmbeddedRedis, **overrides: Any) -> None:
        super().__init__(broker, redis, **supported(**overrides))
        self.broker, self.redis = broker, redis
        self.workers: list[WorkerProcess] = []
        self.runs = 0
        self.events: list[dict[str, Any]] = []  # valid order events published (with repeats)
        self.messages = 0  # every message published

    # --- workers ---------------------------------------------------------------------
    def spawn(self, **overrides: Any) -> WorkerProcess:
        """Start one more worker (its own HTTP port) and wait until it answers /healthz."""
        settings = self.settings.model_copy(update={"web_port": free_port(),
                                                    **supported(**overrides)})
        worker = WorkerProcess(settings, extra_env=EMBEDDED_BROKER_ENV)
        self.workers.append(worker)
        self.worker = worker
        self.runs += 1
        worker.start()
        return worker

    async def aspawn(self, **overrides: Any) -> WorkerProcess:
        """:meth:`spawn` off the event loop, so publishing tasks go on meanwhile."""
        return await asyncio.to_thread(self.spawn, **overrides)

    @staticmethod
    def kill9(worker: WorkerProcess) -> None:
        signal_group(worker, signal.SIGKILL)
        worker.stop()

    def close(self) -> None:
        """Kill every worker (SIGCONT first: it may be stopped); keep their logs in
        ``$CLV_RELIABILITY_LOGS`` when that is set."""
        keep = os.environ.get(LOGS_ENV)
        for n, worker in enumerate(self.workers):
            if worker.pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker.pid, signal.SIGCONT)
            worker.kill()
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    shutil.copy(worker.log_path, Path(keep) / f"{self.settings.app_id}-{n}.log")
            worker.close()

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path}:\n{w.log_tail(15)}" for w in self.workers)

    # --- publishing ------------------------------------------------------------------
    def _producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024, max_request_size=8 * MIB,
                                request_timeout_ms=120_000)

    async def publish(self, events: Sequence[dict[str, Any]], rate: float | None = None,
                      chunk: int = 250) -> dict[int, int]:
        """Publish valid order events keyed by customer id, ``rate`` a second (None: at
        once); return the highest offset per partition. Recorded for the oracle when acked."""
        messages = [(str(e["customer_id"]).encode(), orjson.dumps(e)) for e in events]
        positions = await self.publish_raw(messages, rate=rate, chunk=chunk)
        self.events.extend(events)
        return highest(positions)

    async def publish_raw(self, messages: Sequence[tuple[bytes | None, bytes | None]],
                          rate: float | None = None, chunk: int = 250,
                          partition: int | None = None) -> list[tuple[int, int]]:
        """Publish (key, value) messages (value None: a tombstone); their (partition, offset)."""
        producer = self._producer()
        await producer.start()
        positions: list[tuple[int, int]] = []
        began = time.monotonic()
        try:
            for start in range(0, len(messages), chunk):
                if rate:
                    due = began + start / rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                futures = [await producer.send(self.settings.topic_orders, value, key=key,
                                               partition=partition)
                           for key, value in messages[start:start + chunk]]
                for meta in await asyncio.gather(*futures):
                    positions.append((meta.partition, meta.offset))
        finally:
            await producer.stop()
        self.messages += len(messages)
        return positions

    # --- what Redis and the broker hold ------------------------------------------------
    async def applied(self) -> dict[int, int] | None:
        """The offsets Redis holds as applied (None while Redis does not answer)."""
        store = self.store()
        try:
            return await asyncio.wait_for(store.applied_offsets(self.settings.topic_orders), 5)
        except (StoreError, TimeoutError, OSError):
            return None
        finally:
            with contextlib.suppress(Exception):
                await store.close()

    async def applied_count(self) -> int:
        """Records up to the applied offsets, over all partitions (-1 while unknown)."""
        offsets = await self.applied()
        return -1 if offsets is None else sum(o + 1 for o in offsets.values())

    async def committed(self) -> dict[int, int]:
        """The consumer group's committed offsets (the next offset to read) per partition."""
        return await committed_offsets(self.settings)

    async def settle(self, high: dict[int, int], limit_s: float,
                     applied_high: dict[int, int] | None = None) -> bool:
        """Until Redis has applied up to ``applied_high`` (default ``high``) and the group
        has committed past ``high`` (the worker commits after the batch's outputs were
        acknowledged and recorded): False if not within ``limit_s``."""
        target = high if applied_high is None else applied_high

        async def done() -> bool:
            if self.workers and not any(w.running for w in self.workers):
                raise _NoWorker
            applied = await self.applied()
            if applied is None or any(applied.get(p, -1) < o for p, o in target.items()):
                return False
            committed = await self.committed()
            return all(committed.get(p, 0) > o for p, o in high.items())

        try:
            return await wait_until(done, limit_s, interval_s=0.2)
        except _NoWorker:
            return False  # every worker exited: nothing will settle

    async def read_topic(self, topic: str, limit_s: float = 60.0) -> list[Record]:
        """Every record on ``topic`` now: read until each partition's position reaches the
        high watermark the fetch responses report (docs/tansu.md: ListOffsets is wrong)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=16 * MIB, fetch_max_bytes=64 * MIB)
        await consumer.start()
        out: list[Record] = []
        try:
            tps = [TopicPartition(topic, p) for p in range(self.settings.topic_partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            deadline = time.monotonic() + limit_s
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for msgs in batch.values():
                    out.extend(Record(m.partition, m.offset, m.key, m.value) for m in msgs)
                caught_up = True
                for tp in tps:
                    hw = consumer.highwater(tp)
                    if hw is None or await consumer.position(tp) < hw:
                        caught_up = False
                if caught_up:
                    return out
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not read {topic} to its end in {limit_s} s")
        finally:
            await consumer.stop()

    async def summaries_of(self, ids: Sequence[str]) -> dict[str, Summary]:
        found: dict[str, Summary] = {}
        for start in range(0, len(ids), 2000):
            found.update(await self.summaries(ids[start:start + 2000]))
        return found

    # --- verdicts ------------------------------------------------------------------------
    async def judge_state(self, events: Iterable[dict[str, Any]] | None = None,
                          absent: Sequence[str] = ()) -> StateVerdict:
        """Redis against the batch computation over ``events`` (default: all published)."""
        expected = expected_summaries(self.events if events is None else events)
        ids = sorted(expected)
        actual = await self.summaries_of(ids)
        v = StateVerdict(customers=len(ids))
        for cid in ids:
            exp, act = expected[cid], actual.get(cid, Summary())
            d = act.orders - exp.orders
            v.lost += max(0, -d)
            v.double_counted += max(0, d)
            if act != exp:
                if d == 0:
                    v.diverged += 1
                _example(v.examples, f"{cid}: expected {tuple(exp)}, Redis has {tuple(act)}")
        if absent:
            present = await self.summaries_of(sorted(set(absent)))
            for cid, s in present.items():
                if s.orders:
                    v.unexpected += 1
                    _example(v.examples, f"{cid} should have no state (bad messages only): {s}")
        return v

    async def judge_outputs(self) -> OutputVerdict:
        updates = await self.read_topic(self.settings.topic_updates)
        verdict = check_chains(updates)
        last: dict[str, dict[str, Any]] = {}
        seen: dict[str, set[tuple[Any, Any, Any]]] = {}  # every (orders, net, as_of) published
        for r in sorted(updates, key=lambda r: (r.partition, r.offset)):
            assert r.value is not None
            doc = orjson.loads(r.value)
            last[doc["customer_id"]] = doc
            seen.setdefault(doc["customer_id"], set()).add(
                (doc["current"]["orders"], Decimal(doc["current"]["net_revenue"]), doc["as_of"]))
        store = self.store()
        try:
            ids = sorted(last)
            states = []
            for start in range(0, len(ids), 2000):
                states += await store.customers(ids[start:start + 2000])
        finally:
            await store.close()
        for st in states:
            published = st.published
            update = last.get(st.customer_id)
            if published is None or update is None:
                if update is not None:
                    verdict.stale_published += 1
                    _example(verdict.published_examples, f"{st.customer_id}: updates on the topic, "
                             "none recorded as published in Redis")
                continue
            cur = update["current"]
            same = (cur["orders"] == published.summary.orders
                    and Decimal(cur["net_revenue"]) == Decimal(published.summary.net_minor) / 100
                    and update["as_of"] == iso(published.as_of))
            if not same:
                verdict.stale_published += 1
                verdict.stale_rewound += (
                    published.summary.orders, Decimal(published.summary.net_minor) / 100,
                    iso(published.as_of)) in seen.get(st.customer_id, set())
                _example(verdict.published_examples, f"{st.customer_id}: last update on the topic "
                         f"{_brief(cur)} as of {update['as_of']}, Redis recorded as published "
                         f"orders={published.summary.orders} net={published.summary.net_minor} "
                         f"as of {iso(published.as_of)}")
        return verdict


class _NoWorker(Exception):
    pass


def highest(positions: Iterable[tuple[int, int]]) -> dict[int, int]:
    high: dict[int, int] = {}
    for p, o in positions:
        high[p] = max(high.get(p, -1), o)
    return high


def merge_high(*highs: dict[int, int]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for h in highs:
        for p, o in h.items():
            merged[p] = max(merged.get(p, -1), o)
    return merged


# --- the scenario record ------------------------------------------------------------------

class Scenario:
    """Collects a scenario's figures and failed checks; prints and reports the verdict."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rig: Rig | None = None
        self.fields: dict[str, Any] = {"runs": 0, "events": 0, "lost": None,
                                       "double_counted": None, "outputs_checked": None}
        self.failures: list[str] = []
        self.notes: list[str] = []
        self._began = time.monotonic()

    def check(self, ok: bool, failure: str) -> bool:
        if not ok:
            self.failures.append(failure)
        return ok

    def note(self, text: str) -> None:
        self.notes.append(text)

    def set(self, **values: Any) -> None:
        self.fields.update(values)

    async def judge(self, rig: Rig, events: Iterable[dict[str, Any]] | None = None,
                    absent: Sequence[str] = (), rewinds: bool = False,
                    ) -> tuple[StateVerdict, OutputVerdict]:
        """The end-of-scenario verdicts: state against the batch, and the update chains.

        ``rewinds``: a chain may step back to a value published earlier (after Redis lost
        acknowledged writes, outputs restart from the value it holds); any other break fails.
        """
        state = await rig.judge_state(events, absent)
        self.set(customers=state.customers, lost=state.lost,
                 double_counted=state.double_counted, diverged=state.diverged)
        self.check(state.lost == 0, f"lost {state.lost} orders: {state.examples}")
        self.check(state.double_counted == 0,
                   f"double counted {state.double_counted} orders: {state.examples}")
        self.check(state.diverged == 0,
                   f"{state.diverged} customers with another aggregate: {state.examples}")
        if absent:
            self.set(bad_applied=state.unexpected)
            self.check(state.unexpected == 0, f"{state.unexpected} customers of bad messages "
                       f"got state: {state.examples}")
        # the worker keeps looking at due customers: Redis records a publication just after
        # the broker acked it, so compare once a read of both sides agrees (or time is up)
        out = await rig.judge_outputs()
        deadline = time.monotonic() + 15
        while out.stale_published and time.monotonic() < deadline:
            out = await rig.judge_outputs()
        self.set(outputs_checked=out.checked, reemitted=out.reemitted, chain_breaks=out.breaks,
                 rewinds=out.rewinds, id_conflicts=out.conflicts,
                 stale_published=out.stale_published, stale_rewound=out.stale_rewound)
        allowed = out.rewinds if rewinds else 0
        self.check(out.breaks == allowed, f"{out.breaks - allowed} clv.updates whose previous "
                   f"is not the last published value: {out.examples}")
        self.check(out.conflicts == 0, f"{out.conflicts} event_ids re-used with another body: "
                   f"{out.conflict_examples}")
        stale = out.stale_published - (out.stale_rewound if rewinds else 0)
        self.check(stale == 0, f"{stale} customers whose published state in Redis is not "
                   f"their last update: {out.published_examples}")
        return state, out

    def line(self, passed: bool) -> str:
        if self.rig is not None:
            self.fields["runs"] = self.rig.runs
            self.fields["events"] = self.rig.messages
        head = ["runs", "events", "lost", "double_counted", "outputs_checked"]
        parts = [f"{k}={_fmt(self.fields[k])}" for k in head]
        parts += [f"{k}={_fmt(v)}" for k, v in self.fields.items() if k not in head]
        return (f"RELIABILITY scenario={self.name} " + " ".join(parts)
                + f" scale={SCALE} seconds={time.monotonic() - self._began:.1f}"
                + f" result={'pass' if passed else 'FAIL'}")

    def report(self) -> None:
        passed = not self.failures
        line = self.line(passed)
        LINES.append(line)
        print(line)
        path = os.environ.get(REPORT_ENV)
        if path:
            record = {"scenario": self.name, "scale": SCALE, "run": RUN, "commit": _commit(),
                      "passed": passed,
                      "seconds": round(time.monotonic() - self._began, 1), **self.fields,
                      "failures": self.failures, "notes": self.notes,
                      "at": datetime.now(UTC).isoformat(timespec="seconds")}
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, default=str) + "\n")


def _commit() -> str | None:
    """The checked-out commit (with ``+dirty`` when files differ from it), if git answers."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def _fmt(value: Any) -> str:
    if value is None:
        return "na"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


@contextlib.asynccontextmanager
async def scenario(name: str) -> AsyncIterator[Scenario]:
    """``async with scenario("name") as sc``: report the verdict whatever happens; fail the
    test with every failed check (and with the error, when the scenario broke off)."""
    sc = Scenario(name)
    try:
        yield sc
    except BaseException as exc:
        sc.failures.append(f"scenario broke off: {type(exc).__name__}: {exc}")
        sc.report()
        raise
    sc.report()
    if sc.failures:
        raise AssertionError(f"{name}:\n- " + "\n- ".join(sc.failures))


async def observe(worker: WorkerProcess, seconds: float, every_s: float = 0.5,
                  ) -> list[dict[str, Any]]:
    """Health and liveness of ``worker`` every ``every_s`` for ``seconds`` (a deliberate
    duration: the outage being observed)."""
    seen: list[dict[str, Any]] = []
    end = time.monotonic() + seconds
    while True:
        h = await asyncio.to_thread(health, worker, 3.0)
        h["alive"] = worker.running
        h["t"] = round(seconds - (end - time.monotonic()), 1)
        seen.append(h)
        left = end - time.monotonic()
        if left <= 0:
            return seen
        await asyncio.sleep(min(every_s, left))


def background(coro: Awaitable[Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)

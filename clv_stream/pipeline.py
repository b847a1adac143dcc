"""The one place where the pieces meet: raw batch -> validation -> Redis -> value -> events.

Framework-free: the Faust worker (``clv_stream.worker``) feeds it batches of raw Kafka
records and sends what it returns. The order of a batch's life is what makes delivery safe:

1. :meth:`Pipeline.process` validates, applies the batch in one Lua call (idempotent by
   offset and event_id), scores every touched customer, and the customers of the batch's
   partitions that event time made due for a time-driven look, and builds the output records;
2. the worker produces those records and waits for the broker's acks;
3. :meth:`Pipeline.confirm` records what was published (snapshot, segments, next due time);
4. the worker commits the Kafka offsets.

A crash anywhere before 3 leaves the customer's ``pub`` snapshot behind its aggregate, so
the redelivered batch (skipped by the Lua script) re-emits the same records with the same
deterministic ``event_id``: downstream sees at-least-once delivery with stable ids.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from clv_stream.domain import segments as seg
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.value import ValueConfig, iso, score
from clv_stream.events.validation import ErrorCode, Order, OrderValidator
from clv_stream.exceptions import InvalidEvent, StoreError
from clv_stream.settings import Settings
from clv_stream.store.redis_store import CustomerState, Fence, Positioned, RedisStore
from clv_stream.store.snapshot import Published, encode_summary, is_snapshot_of, snapshot_text

__all__ = ["BatchOutcome", "OutRecord", "Pipeline", "RawRecord", "Replay"]

logger = logging.getLogger(__name__)
#: Bytes of a rejected message a dead letter carries at most (the contract's limit).
RAW_LIMIT = 64 * 1024
#: Bytes of a rejected message's key a dead letter carries at most (its record key too).
KEY_LIMIT = 1024


class RawRecord(NamedTuple):
    """A consumed record (a named tuple: one is built per message, cheaper than a dataclass)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Replay(NamedTuple):
    """How a batch applied but never confirmed was scored: its event time and model."""

    as_of: int
    model_version: str


class OutRecord(NamedTuple):
    """A record to produce (a named tuple, as :class:`RawRecord`)."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class BatchOutcome:
    records: list[OutRecord] = field(default_factory=list)
    #: per customer: id, snapshot (``Published.encode``), segment labels, next due time
    publish: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    received: int = 0
    due: int = 0  # customers re-scored because event time made them due (time decay)
    #: the look at due customers took as many index entries as it may: there may be more
    full_look: bool = False
    invalid: int = 0
    applied: int = 0
    duplicates: int = 0
    redelivered: int = 0
    updates: int = 0
    segment_changes: int = 0
    clock: int = 0  # the stream's event time after the batch
    started: float = field(default_factory=time.perf_counter)
    #: what the batch was applied under, checked again when it is confirmed (see ``Fence``)
    topic: str = ""
    fence: Fence = field(default_factory=dict)
    #: per partition, the batch's highest offset: confirmed with the publication
    positions: dict[int, int] = field(default_factory=dict)



class _Value(NamedTuple):
    """A published ``CustomerValue`` as the worker keeps it: its JSON (as ``previous`` goes
    into the next update) and its ``total_clv`` (what the update threshold compares)."""

    json: bytes
    total_clv: str

    @classmethod
    def of(cls, value: dict[str, Any]) -> _Value:
        return cls(_json(value), value["total_clv"])


class _PreviousValues:
    """The last published value of recently updated customers, so their next update's
    ``previous`` need not be recomputed from the snapshot in Redis (a miss is recomputed;
    the records are the same bytes either way).

    Bounded to ``limit`` entries in two generations of plain dicts: entries go into the
    young one; when it holds half the limit it becomes the old one, and the old one is
    dropped whole. Each entry is one ``bytes`` (snapshot, ``total_clv`` and the JSON, NUL
    separated). Both choices are about the worker's RSS over days, not speed: entries are
    the worker's largest long-lived population, and CPython's small-object allocator only
    returns a 1 MiB arena when every object in it is gone. An LRU, evicting one entry at a
    time, left a few live entries of six objects each in every arena and ratcheted RSS
    upwards; a generation of one object per entry dies together.

    Written by the scoring thread only; read by the event loop (a read that races a
    generation change at worst misses).
    """

    __slots__ = ("_half", "_old", "_young")

    def __init__(self, limit: int) -> None:
        self._half = max(limit // 2, 1) if limit > 0 else 0
        self._young: dict[str, bytes] = {}
        self._old: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def get(self, customer_id: str, snapshot: str) -> _Value | None:
        """The value published with ``snapshot``, if held (None when stale or not held)."""
        entry = self._young.get(customer_id) or self._old.get(customer_id)
        if entry is None:
            return None
        key = snapshot.encode()
        n = len(key)
        if entry[n:n + 1] != b"\0" or not entry.startswith(key):
            return None
        end = entry.index(b"\0", n + 1)
        return _Value(entry[end + 1:], entry[n + 1:end].decode())

    def put(self, customer_id: str, snapshot: str, value: _Value) -> None:
        if not self._half:
            return
        young = self._young
        if len(young) >= self._half:
            self._old, self._young = young, {}
            young = self._young
        young[customer_id] = b"\0".join((snapshot.encode(), value.total_clv.encode(),
                                          value.json))


@dataclass(frozen=True, slots=True)
class _Scoring:
    model: ScoringModel
    rules: seg.SegmentRules


class _Transition(NamedTuple):
    """One customer's move from its last published state to its current one.

    Output ids hash *what* changed (the published snapshot before, the aggregate now, the
    model, the event time it is valued at), not which batch carried it, so a redelivery in
    other batch boundaries after a crash re-emits the same ids and downstream can
    deduplicate, and two records with one id are the same record. ``key`` is that "what",
    encoded once per transition (not once per record it yields).
    """

    customer_id: str
    cause: str
    source: str
    key: hashlib.blake2b  # of the "what", copied and extended per record
    customer_json: bytes  # the customer id as JSON, spliced into each record

    @classmethod
    def of(cls, state: CustomerState, summary: str, model_version: str, cause: str,
           source: str, as_of: int) -> _Transition:
        """``summary``: ``encode_summary(state.summary)``, which the caller has already."""
        origin = source if cause not in _ORDER_CAUSES else ""  # e.g. due:<t>, refit:<v>
        customer_id = state.customer_id
        key = "|".join((customer_id, state.pub, summary, model_version, state.segments, origin,
                        str(as_of)))
        hashed = hashlib.blake2b(key.encode(), digest_size=16)
        return cls(customer_id, cause, source, hashed, orjson.dumps(customer_id))

    def event_id(self, *parts: object) -> bytes:
        """blake2b of ``key|part|part...``, hex (the key's hash state is copied, not redone)."""
        h = self.key.copy()
        h.update(("|" + "|".join(map(str, parts))).encode())
        return h.hexdigest().encode()


class Pipeline:
    """Turns batches of raw order records into output records, using one :class:`RedisStore`."""

    def __init__(
        self,
        settings: Settings,
        store: RedisStore,
        model: ScoringModel | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._s = settings
        self._store = store
        self._validator = OrderValidator(settings)
        self._wall = wall_clock
        self._value_cfg = ValueConfig(
            decimals=settings.reporting_decimals,
            lifespan_years=float(settings.lifespan_years),
            horizon_months=settings.horizon_months,
            discount_rate=settings.discount_rate,
            default_margin_bp=int(settings.default_margin * 10000),
        )
        self._models: dict[str, ScoringModel] = {}
        self._published = _PreviousValues(settings.previous_cache)
        # scoring and building records run here, one batch at a time (see _emit)
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clv-emit")
        self.model = model or ScoringModel.default()

    @property
    def model(self) -> ScoringModel:
        return self._model

    @model.setter
    def model(self, model: ScoringModel) -> None:
        self._models[model.version] = model
        # one assignment, so a batch never mixes two models (see _emit)
        self._scoring = self._scoring_of(model)

    def _scoring_of(self, model: ScoringModel) -> _Scoring:
        cuts = model.tier_cuts or tuple(float(c) for c in self._s.value_tier_cuts)
        rfm = seg.RfmCuts(**model.rfm_cuts) if model.rfm_cuts else seg.RfmCuts()
        rules = seg.SegmentRules(cuts, self._s.at_risk_days, self._s.lapsed_days, rfm)  # type: ignore[arg-type]
        return _Scoring(model, rules)

    async def _scoring_for(self, replay: Replay | None) -> _Scoring:
        """The current model, or the one the replayed batch was scored with."""
        scoring = self._scoring
        if replay is None or replay.model_version in ("", scoring.model.version):
            return scoring
        return self._scoring_of(await self._model_for(replay.model_version))

    @property
    def _model(self) -> ScoringModel:
        return self._scoring.model

    @property
    def _rules(self) -> seg.SegmentRules:
        return self._scoring.rules

    async def process(self, batch: Sequence[RawRecord], shards: Sequence[int] = (),
                      home: bool = False, fence: Fence | None = None,
                      replay: Replay | None = None) -> BatchOutcome:
        """Process a batch; a record that breaks processing is dead-lettered, never fatal.

        ``shards``: the partitions of the consume lane the batch came from; customers whose
        home is one of them and who are due for a time-driven look by the batch's event time
        are re-scored with it (``time_decay``). An empty batch does only that. ``home``:
        every record is keyed by its ``customer_id`` (so its partition is the customer's).
        ``fence``: the batch's partitions as this worker claimed them (see
        :meth:`RedisStore.claim`); checked again by :meth:`confirm`. ``replay``: the batch
        is one applied but never confirmed (a crash between sending its outputs and
        recording them): it is scored at the event time and with the model it was scored
        with then, so its outputs are emitted again byte for byte.

        Store and broker outages (:class:`StoreError`) propagate: the caller retries the
        batch. Any other exception is a bug tripped by some record: the batch is retried one
        record at a time and the records that still fail go to the dead-letter topic with
        ``processing_error`` (their aggregate updates, if applied, stay applied once).
        """
        fence = fence or {}
        positions: dict[int, int] = {}
        for raw in batch:
            if raw.offset > positions.get(raw.partition, -1):
                positions[raw.partition] = raw.offset
        scoring = await self._scoring_for(replay)
        as_of = replay.as_of if replay else 0
        try:
            out = await self._process(batch, shards, home, fence, positions, scoring, as_of)
        except StoreError:
            raise
        except Exception:
            logger.exception("batch of %s failed; isolating the failing records", len(batch))
            out = await self._process_one_by_one(batch, shards, home, fence, scoring, as_of)
        out.topic, out.fence = batch[0].topic if batch else self._s.topic_orders, fence
        out.positions = positions
        return out

    async def _process_one_by_one(self, batch: Sequence[RawRecord], shards: Sequence[int],
                                  home: bool, fence: Fence, scoring: _Scoring,
                                  as_of: int) -> BatchOutcome:
        """Find the records that fail alone, dead-letter them, process the rest as one batch.

        The probes' outputs are dropped: the final pass emits once per customer, from the
        last published snapshot, whatever the probes already applied.
        """
        failing: dict[int, Exception] = {}
        counts = [0, 0, 0]  # applied, duplicates, redelivered: by the probes, which apply
        for i, raw in enumerate(batch):
            try:
                probe = await self._process([raw], (), home, fence, {raw.partition: raw.offset},
                                            scoring, as_of)
            except StoreError:
                raise
            except Exception as exc:  # the point is to survive anything
                failing[i] = exc
                continue
            counts = [counts[0] + probe.applied, counts[1] + probe.duplicates,
                      counts[2] + probe.redelivered]
        rest = [raw for i, raw in enumerate(batch) if i not in failing]
        out = await self._process(rest, shards, home, fence, {}, scoring, as_of)
        out.received = len(batch)
        out.applied, out.duplicates, out.redelivered = counts
        for i, err in failing.items():
            error = InvalidEvent(ErrorCode.PROCESSING_ERROR, f"{type(err).__name__}: {err}"[:300])
            out.invalid += 1
            out.records.append(self._dead_letter(batch[i], error, self._wall()))
        return out

    async def _process(self, batch: Sequence[RawRecord], shards: Sequence[int], home: bool,
                       fence: Fence, positions: dict[int, int], scoring: _Scoring,
                       as_of: int) -> BatchOutcome:
        out = BatchOutcome(received=len(batch))
        valid: list[Positioned] = []
        now = self._wall()
        for raw in batch:
            try:
                order = self._validator.validate(raw.value, now)
            except InvalidEvent as exc:
                out.invalid += 1
                out.records.append(self._dead_letter(raw, exc, now))
                continue
            valid.append(Positioned(raw.partition, raw.offset, order))
        if not valid and not shards:
            return out
        topic = batch[0].topic if batch else self._s.topic_orders
        # a batch of orders takes a few due customers along; an idle look (no records) more
        limit = self._s.due_batch_max if batch else self._s.idle_due_max
        result = await self._store.apply(topic, valid, home, shards, limit, fence, positions,
                                         as_of, scoring.model.version)
        out.full_look = result.looked >= limit
        out.applied, out.duplicates = result.applied, result.duplicates
        out.redelivered, out.clock, out.due = result.redelivered, result.clock, len(result.due)
        last: dict[str, Order] = {p.order.customer_id: p.order for p in valid}
        causes = {cid: (_CAUSES[o.kind], o.event_id) for cid, o in last.items()}
        if not result.due:
            await self._emit(result.customers, result.clock, causes, out, scoring)
            return out
        decay = ("time_decay", f"due:{result.clock}")
        causes.update((s.customer_id, decay) for s in result.due)
        kept = len(out.records), len(out.publish), out.updates, out.segment_changes
        try:
            await self._emit([*result.customers, *result.due], result.clock, causes, out,
                             scoring)
        except StoreError:
            raise
        except Exception:
            # a bug tripped by some customer's state: the orders must go on, and a due
            # customer would trip it again at every batch; look at those again a day later
            logger.exception("time decay of %s customers failed; postponed by a day",
                             len(result.due))
            del out.records[kept[0]:], out.publish[kept[1]:]
            out.updates, out.segment_changes, out.due = kept[2], kept[3], 0
            await self._store.postpone(result.due, result.clock + 86400)
            await self._emit(result.customers, result.clock, causes, out, scoring)
        return out

    async def rescore(self, customer_ids: Sequence[str], cause: str, source: str) -> BatchOutcome:
        """Re-score customers without a new order (``model_refit`` or ``time_decay``)."""
        out = BatchOutcome()
        states = await self._store.customers(customer_ids)
        clock = await self._store.clock()
        await self._emit(states, clock, {s.customer_id: (cause, source) for s in states}, out)
        return out

    @property
    def currency(self) -> str:
        return self._s.currency

    async def as_of(self) -> str:
        return iso(await self._store.clock())

    async def customer_view(self, customer_id: str) -> dict[str, Any] | None:
        """A customer's current value and segments, as of the stream's event time."""
        views = await self.customer_views([customer_id])
        return views[0] if views else None

    async def customer_views(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Current value and segments of several customers (unknown ones left out)."""
        states = await self._store.customers(customer_ids)
        clock = await self._store.clock()
        scoring = self._scoring
        values = score([s.summary for s in states], clock, scoring.model, self._value_cfg)
        labels = _labels(scoring.rules, values, [False] * len(values))
        return [
            {"customer_id": s.customer_id, "as_of": iso(clock), "currency": self._s.currency,
             "model_version": scoring.model.version, "value": v, "segments": seg.decode(label)}
            for s, v, label in zip(states, values, labels, strict=True)
        ]

    def close(self) -> None:
        """Stop the scoring thread (after the last batch)."""
        self._cpu.shutdown(wait=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def confirm(self, outcome: BatchOutcome) -> None:
        """Record what the batch published, and that its records' outputs are all out."""
        high = outcome.positions
        # the batch's own records must still be applied: else Redis lost them meanwhile
        fence = {p: (gen, max(seen, high.get(p, -1))) for p, (gen, seen) in outcome.fence.items()}
        await self._store.publish(outcome.publish, outcome.topic, fence, high)

    async def _emit(
        self,
        states: Sequence[CustomerState],
        clock: int,
        causes: dict[str, tuple[str, str]],
        out: BatchOutcome,
        scoring: _Scoring | None = None,
    ) -> None:
        """Score the customers (with ``scoring``, default the current model), then emit per
        customer: an update when the value moved enough, a segment event per changed
        dimension, and what to record as published.

        Everything that can be is computed for the whole batch at once (values, labels,
        next due times); the loop only compares and builds records.

        That work (the bulk of a batch's CPU) runs in one
        dedicated thread, one batch at a time, not in the event loop: the worker's consume
        lanes share the loop, and while one lane computed there, the others' Redis replies,
        the producer's acknowledgements and the offset commits waited unread. In the thread
        the loop gets the GIL back every few milliseconds for them (higher throughput on
        both workloads; see docs/performance.md).
        Yielding to the loop every 256 customers instead was slower: the lanes then computed
        in step and all waited for Redis together.
        """
        # a snapshot is compared and hashed as the text Redis holds ("" when never published)
        texts = [encode_summary(s.summary) for s in states]
        kept = [i for i, (s, text) in enumerate(zip(states, texts, strict=True))
                if not _unchanged(s, text, causes[s.customer_id][0])]
        if len(kept) < len(states):
            states, texts = [states[i] for i in kept], [texts[i] for i in kept]
        if not states:
            return
        scoring = scoring or self._scoring  # the model may be swapped during the awaits below
        previous, stale = self._cached_previous(states)
        for version in {snapshot.model_version for _, snapshot in stale}:
            await self._model_for(version)
        await asyncio.get_running_loop().run_in_executor(
            self._cpu, self._emit_now, states, texts, previous, stale, scoring, clock, causes, out)

    def _emit_now(self, states: Sequence[CustomerState], texts: Sequence[str],
                  previous: list[_Value | None], stale: list[tuple[int, Published]],
                  scoring: _Scoring, clock: int, causes: dict[str, tuple[str, str]],
                  out: BatchOutcome) -> None:
        current = score([s.summary for s in states], clock, scoring.model, self._value_cfg)
        self._rescore_previous(previous, stale)
        rules, version = scoring.rules, scoring.model.version
        labels = _labels(rules, current, [bool(s.segments.strip("|")) for s in states])
        dues = rules.next_due_many([s.summary.orders for s in states],
                                   [s.summary.last_ts for s in states], clock)
        as_of, records, publish = iso(clock), out.records, out.publish
        # what every update record of the batch says alike, as JSON
        common = orjson.dumps({"as_of": as_of, "currency": self._s.currency,
                               "model_version": version})[1:-1]
        for state, text, cur, prev, label, due in zip(states, texts, current, previous, labels,
                                                      dues, strict=True):
            cid = state.customer_id
            why, source = causes[cid]
            snapshot = state.pub
            transition = _Transition.of(state, text, version, why, source, clock)
            if self._should_update(cur, prev):
                out.updates += 1
                snapshot = snapshot_text(text, clock, version)
                value = _Value.of(cur)
                records.append(self._update(transition, common, prev, value))
                self._published.put(cid, snapshot, value)
            if label != state.segments:
                moves = seg.changes_encoded(state.segments, label)
                tail = _segment_tail(as_of, why, cur) if moves else b""
                for dim, old, new in moves:
                    out.segment_changes += 1
                    records.append(self._segment(transition, dim, old, new, tail))
            if snapshot:
                publish.append((cid, snapshot, label, due))

    def _should_update(self, cur: dict[str, Any], prev: _Value | None) -> bool:
        if prev is None:
            return bool(cur["orders"] > 0)
        old, new = Decimal(prev.total_clv), Decimal(cur["total_clv"])
        delta = abs(new - old)
        if delta == 0:
            return False
        return delta >= self._s.min_delta or delta >= self._s.min_delta_pct * abs(old)

    def _cached_previous(self, states: Sequence[CustomerState],
                         ) -> tuple[list[_Value | None], list[tuple[int, Published]]]:
        """The last published value of each customer, from the in-process cache when its
        snapshot is the one in Redis (None when never published), and the snapshots whose
        value must be recomputed (index, snapshot): see :meth:`_rescore_previous`."""
        result: list[_Value | None] = [None] * len(states)
        stale: list[tuple[int, Published]] = []
        for i, st in enumerate(states):
            if not st.pub:
                continue
            cached = self._published.get(st.customer_id, st.pub)
            if cached is not None:
                result[i] = cached
            elif (snapshot := st.published) is not None:
                stale.append((i, snapshot))
        return result, stale

    def _rescore_previous(self, previous: list[_Value | None],
                          stale: list[tuple[int, Published]]) -> None:
        """Fill in the values of ``stale`` snapshots, each with the model it was published
        with (loaded by :meth:`_emit` beforehand)."""
        by_version: dict[str, list[tuple[int, Published]]] = {}
        for i, snapshot in stale:
            by_version.setdefault(snapshot.model_version, []).append((i, snapshot))
        for version, found in by_version.items():
            values = score([p.summary for _, p in found], [p.as_of for _, p in found],
                           self._models[version], self._value_cfg)
            for (i, _), v in zip(found, values, strict=True):
                previous[i] = _Value.of(v)

    async def _model_for(self, version: str) -> ScoringModel:
        model = self._models.get(version)
        if model is None:
            model = await self._store.model(version) or ScoringModel.default()
            self._models[version] = model
        return model

    def _update(self, t: _Transition, common: bytes, prev: _Value | None,
                cur: _Value) -> OutRecord:
        """A ``clv.updates`` record, its JSON spliced from parts (``common``: the batch's
        ``as_of``, ``currency`` and ``model_version`` members; the values' JSON as kept, as
        ``previous`` mostly comes from the cache): the bytes ``orjson`` gives for the whole
        body, without a dict per record."""
        delta = Decimal(cur.total_clv) - Decimal(prev.total_clv if prev else 0)
        body = b"".join((
            b'{"schema_version":1,"event_id":"', t.event_id("u"), b'","customer_id":',
            t.customer_json, b',"cause":', _text(t.cause), b',"source_event_id":',
            orjson.dumps(t.source), b",", common, b',"previous":',
            prev.json if prev else b"null", b',"current":', cur.json, b',"delta_clv":',
            orjson.dumps(str(delta)), b"}",
        ))
        return OutRecord(self._s.topic_updates, t.customer_id.encode(), body)

    def _segment(self, t: _Transition, dim: str, old: str | None, new: str,
                 tail: bytes) -> OutRecord:
        """A ``clv.segments`` record, spliced as :meth:`_update` (``tail``: the members
        after ``to``, the same for each dimension of a customer: :func:`_segment_tail`)."""
        body = b"".join((
            b'{"schema_version":1,"event_id":"', t.event_id("s", dim, old, new),
            b'","customer_id":', t.customer_json, b',"dimension":', _text(dim),
            b',"from":', _text(old), b',"to":', _text(new), tail,
        ))
        return OutRecord(self._s.topic_segments, t.customer_id.encode(), body)

    def _dead_letter(self, raw: RawRecord, exc: InvalidEvent, now: float) -> OutRecord:
        """A ``clv.deadletter`` record, bounded: the key cut to :data:`KEY_LIMIT` bytes, the
        message to :data:`RAW_LIMIT` and then to fewer until the whole record fits
        ``CLV_MAX_DEADLETTER_BYTES`` (a record over the broker's limit would stall the
        partition), each cut flagged."""
        value, key = raw.value or b"", raw.key
        cut_key = key[:KEY_LIMIT] if key is not None else None
        head = {
            "schema_version": 1,
            "error": {"code": str(exc.code), "message": exc.message, "field": exc.field},
            "topic": raw.topic, "partition": raw.partition, "offset": raw.offset,
            "key": cut_key.decode("utf-8", "replace") if cut_key is not None else None,
            "key_truncated": cut_key is not None and cut_key != key,
        }
        limit = min(RAW_LIMIT, len(value))
        while True:
            body = _json({**head, **_raw_payload(value, limit), "received_at": iso(now)})
            if len(body) <= self._s.max_deadletter_bytes or limit == 0:
                break
            limit //= 2
        logger.debug("dead-lettered %s/%s@%s: %s", raw.topic, raw.partition, raw.offset, exc)
        return OutRecord(self._s.topic_deadletter, cut_key, body)


_CAUSES = {"p": "order_placed", "r": "order_refunded", "c": "order_cancelled"}
_ORDER_CAUSES = frozenset(_CAUSES.values())


def _labels(rules: seg.SegmentRules, values: Sequence[dict[str, Any]],
            had_labels: Sequence[bool]) -> list[str]:
    """Encoded segment labels of scored values (see ``SegmentRules.encoded_labels``)."""
    return rules.encoded_labels(
        [v["orders"] for v in values], [v["frequency"] for v in values],
        [v["age_days"] - v["recency_days"] for v in values],
        [float(v["total_clv"]) for v in values], [float(v["net_revenue"]) for v in values],
        had_labels,
    )


def _unchanged(state: CustomerState, summary: str, cause: str) -> bool:
    """Redelivered or duplicate orders: nothing changed since the last publication
    (``summary``: the state's, encoded)."""
    return cause in _ORDER_CAUSES and is_snapshot_of(state.pub, summary)


def _segment_tail(as_of: str, cause: str, cur: dict[str, Any]) -> bytes:
    """The members of a segment event after ``to``, with the closing brace."""
    return b"," + orjson.dumps({"as_of": as_of, "cause": cause, "total_clv": cur["total_clv"],
                                "p_alive": cur["p_alive"]})[1:]


_TEXTS: dict[str | None, bytes] = {}


def _text(value: str | None) -> bytes:
    """JSON of a recurring short string (cause, dimension, segment label), kept: these come
    from small fixed vocabularies (the cache is emptied should it ever grow past 1,000)."""
    found = _TEXTS.get(value)
    if found is None:
        if len(_TEXTS) >= 1000:
            _TEXTS.clear()
        found = _TEXTS[value] = orjson.dumps(value)
    return found


def _json(body: dict[str, Any]) -> bytes:
    """``orjson.dumps``, right-sized. orjson (3.12 on) returns bytes that keep its whole
    write buffer, 4 KB or more, whatever the length; the previous-value cache holds one
    per customer and a batch holds its dead letters until the broker acked them, so both
    keep a copy of the length written instead (records joined from parts, as updates and
    segment events are, are exact already)."""
    return bytes(memoryview(orjson.dumps(body)))


def _raw_payload(value: bytes, limit: int) -> dict[str, Any]:
    cut = value[:limit]
    try:
        text, encoding = cut.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(cut).decode("ascii"), "base64"
    return {"raw": text, "raw_encoding": encoding, "raw_truncated": len(value) > limit}

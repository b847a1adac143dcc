"""Batches of raw order records -> output records, applied to the store exactly once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from clv_stream.domain.aggregate import SECONDS_PER_DAY
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.tenant import TenantSettings
from clv_stream.events.codec import DeadLetterInput, JsonCodec, OutputCodec
from clv_stream.events.money import Money
from clv_stream.events.records import OutRecord, RawRecord
from clv_stream.events.times import iso
from clv_stream.events.validation import (
    ErrorCode,
    Order,
    OrderValidator,
    SpendChange,
    SubscriptionChange,
    tenant_of,
)
from clv_stream.exceptions import InvalidEvent, StoreError
from clv_stream.pipeline.emitter import Causes, Emitter
from clv_stream.pipeline.outcome import BatchOutcome, Replay
from clv_stream.pipeline.scoring import Scorer, Scoring
from clv_stream.pipeline.stages import STAGES, OutputStage
from clv_stream.pipeline.transition import CAUSES
from clv_stream.settings import Settings
from clv_stream.store.port import (
    Customer,
    CustomerKey,
    CustomerState,
    DueLook,
    Fence,
    Positioned,
    StateStore,
)

__all__ = ["Pipeline"]

logger = logging.getLogger(__name__)


class Pipeline:
    """Turns batches of raw order records into output records, using one store."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        model: ScoringModel | None = None,
        wall_clock: Callable[[], float] = time.time,
        codec: OutputCodec | None = None,
        stages: Sequence[OutputStage] | None = None,
    ) -> None:
        """``codec``: the output records' encoding (default the contract's JSON);
        ``stages``: further outputs (default: those registered in ``pipeline.stages.STAGES``)."""
        self._s = settings
        self._store = store
        self._validator = OrderValidator(settings)
        self._wall = wall_clock
        self._codec = codec or JsonCodec()
        self.scorer = Scorer(settings, store, model)
        if stages is None:
            stages = [make(settings) for make in STAGES]
        self._emitter = Emitter(settings, self.scorer, self._codec, stages)

    @property
    def model(self) -> ScoringModel:
        return self.scorer.model

    @model.setter
    def model(self, model: ScoringModel) -> None:
        self.scorer.model = model

    @property
    def tenants(self) -> Mapping[str, TenantSettings]:
        return self.scorer.tenants

    async def set_tenants(self, tenants: Mapping[str, TenantSettings]) -> None:
        """Validate and score each tenant with its own settings from the next batch on."""
        await self.scorer.set_tenants(tenants)
        self._validator.set_tenants({
            t: Money.of(self._s, ts.currency, ts.fx_rates, ts.default_margin)
            for t, ts in tenants.items()
            if ts.currency or ts.fx_rates or ts.default_margin is not None})

    def close(self) -> None:
        """Stop the scoring thread (after the last batch)."""
        self._emitter.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def process(self, batch: Sequence[RawRecord], shards: Sequence[int] = (),
                      home: bool = False, fence: Fence | None = None,
                      replay: Replay | None = None) -> BatchOutcome:
        """Process a batch; a record that breaks processing is dead-lettered, never fatal.

        ``shards``: the partitions of the consume lane the batch came from; customers whose
        home is one of them and who are due for a time-driven look by the batch's event time
        are re-scored with it (``time_decay``). An empty batch does only that. ``home``:
        every record is keyed by its ``customer_id`` (so its partition is the customer's).
        ``fence``: the batch's partitions as this worker claimed them (see
        :meth:`StateStore.claim`); checked again by :meth:`confirm`. ``replay``: the batch
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
        scoring = await self.scorer.scoring_for(replay.model_version if replay else "")
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

    async def confirm(self, outcome: BatchOutcome) -> None:
        """Record what the batch published, and that its records' outputs are all out."""
        high = outcome.positions
        # the batch's own records must still be applied: else the store lost them meanwhile
        fence = {p: (gen, max(seen, high.get(p, -1))) for p, (gen, seen) in outcome.fence.items()}
        await self._store.publish(outcome.publish, outcome.topic, fence, high)

    async def rescore(self, customers: Sequence[Customer], cause: str,
                      source: str) -> BatchOutcome:
        """Re-score customers without a new order (``model_refit`` or ``time_decay``)."""
        out = BatchOutcome()
        states = await self._store.customers(customers)
        clock = await self._store.clock()
        await self._emit(states, clock, {s.key: (cause, source) for s in states}, out,
                         self.scorer.current)
        return out

    async def _process_one_by_one(self, batch: Sequence[RawRecord], shards: Sequence[int],
                                  home: bool, fence: Fence, scoring: Scoring,
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
                       fence: Fence, positions: dict[int, int], scoring: Scoring,
                       as_of: int) -> BatchOutcome:
        out = BatchOutcome(received=len(batch))
        valid: list[Positioned] = []
        now = self._wall()
        for raw in batch:
            try:
                order = self._validator.validate(raw.value, now, subscriptions=True)
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
        result = await self._store.apply(topic, valid, home, DueLook(shards, limit), fence,
                                         positions, as_of, scoring.model.version)
        out.full_look = result.looked >= limit
        out.applied, out.duplicates = result.applied, result.duplicates
        out.redelivered, out.clock, out.due = result.redelivered, result.clock, len(result.due)
        last: dict[CustomerKey, Order | SubscriptionChange] = {
            (p.order.tenant, p.order.customer_id): p.order for p in valid
            if not isinstance(p.order, SpendChange)}
        causes = {cid: (CAUSES[o.kind], o.event_id) for cid, o in last.items()}
        if not result.due:
            await self._emit(result.customers, result.clock, causes, out, scoring)
            return out
        await self._emit_with_due(result.customers, result.due, result.clock, causes, out,
                                  scoring)
        return out

    async def _emit_with_due(self, customers: list[CustomerState], due: list[CustomerState],
                             clock: int, causes: Causes, out: BatchOutcome,
                             scoring: Scoring) -> None:
        """Emit the batch's customers and the due ones; should the due ones trip a bug, the
        batch's own go on without them, and those are looked at again a day later (else
        they would trip it again at every batch)."""
        causes.update((s.key, ("time_decay", f"due:{clock}")) for s in due)
        kept = len(out.records), len(out.publish), out.updates, out.segment_changes
        try:
            await self._emit([*customers, *due], clock, causes, out, scoring)
        except StoreError:
            raise
        except Exception:
            logger.exception("time decay of %s customers failed; postponed by a day", len(due))
            del out.records[kept[0]:], out.publish[kept[1]:]
            out.updates, out.segment_changes, out.due = kept[2], kept[3], 0
            await self._store.postpone(due, clock + SECONDS_PER_DAY)
            await self._emit(customers, clock, causes, out, scoring)

    async def _emit(self, states: Sequence[CustomerState], clock: int, causes: Causes,
                    out: BatchOutcome, scoring: Scoring) -> None:
        await self._emitter.emit(states, clock, causes, out, scoring)

    def _dead_letter(self, raw: RawRecord, exc: InvalidEvent, now: float) -> OutRecord:
        rejected = DeadLetterInput(raw.topic, raw.partition, raw.offset, raw.key,
                                   raw.value or b"", str(exc.code), exc.message, exc.field,
                                   tenant_of(raw.value, self._s.default_tenant))
        key, body = self._codec.dead_letter(rejected, iso(now), self._s.max_deadletter_bytes)
        logger.debug("dead-lettered %s/%s@%s: %s", raw.topic, raw.partition, raw.offset, exc)
        return OutRecord(self._s.topic_deadletter, key, body)

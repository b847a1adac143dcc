"""Scored customers -> output records: an update when the value moved enough, a segment
event per changed dimension, and what to record as published."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from clv_stream.domain.portfolio import transition_line, value_inputs
from clv_stream.domain.subscription_value import SubscriberValue
from clv_stream.domain.value import ValueConfig, add_channels
from clv_stream.events.codec import OutputCodec
from clv_stream.events.records import OutRecord
from clv_stream.events.times import iso
from clv_stream.pipeline.history import history_point
from clv_stream.pipeline.outcome import BatchOutcome
from clv_stream.pipeline.previous import PreviousValues, PublishedValue
from clv_stream.pipeline.scoring import Scorer, Scoring
from clv_stream.pipeline.stages import OutputStage, Scored
from clv_stream.pipeline.subscribers import (
    Subscribed,
    SubscriberFolds,
    events_until,
    segment_columns,
    subscribed,
)
from clv_stream.pipeline.transition import Transition, unchanged
from clv_stream.settings import Settings
from clv_stream.store.port import CustomerKey, CustomerState
from clv_stream.store.snapshot import Published, encode_summary, snapshot_text
from clv_stream.store.types import PublishEntry, customer_ref

__all__ = ["Emitter"]

logger = logging.getLogger(__name__)

#: per customer: (cause, source event id)
Causes = dict[CustomerKey, tuple[str, str]]


class Emitter:
    """Builds a batch's output records in one dedicated thread, one batch at a time.

    That work (the bulk of a batch's CPU) runs off the event loop: the worker's consume
    lanes share the loop, and while one lane computed there, the others' store replies, the
    producer's acknowledgements and the offset commits waited unread. In the thread the
    loop gets the GIL back every few milliseconds for them. Yielding to the loop every few
    hundred customers instead was slower: the lanes then computed in step and all waited
    for the store together.
    """

    def __init__(self, settings: Settings, scorer: Scorer, codec: OutputCodec,
                 stages: Sequence[OutputStage] = ()) -> None:
        self._s = settings
        self._scorer = scorer
        self._codec = codec
        self._stages = tuple(stages)
        self._published = PreviousValues(settings.previous_cache)
        self._grace_s = int(settings.subscription_grace.total_seconds())
        self._folds = SubscriberFolds(settings.subscription_cache, self._grace_s)
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clv-emit")

    def close(self) -> None:
        self._cpu.shutdown(wait=True)

    async def emit(self, states: Sequence[CustomerState], clock: int, causes: Causes,
                   out: BatchOutcome, scoring: Scoring) -> None:
        """Score ``states`` as of ``clock`` and add their records to ``out``.

        Everything that can be is computed for the whole batch at once (values, labels,
        next due times); the per-customer loop only compares and builds records.
        """
        # a snapshot is compared and hashed as the text the store holds ("" when never published)
        texts = [encode_summary(s.summary) for s in states]
        kept = [i for i, (s, text) in enumerate(zip(states, texts, strict=True))
                if not unchanged(s, text, causes[s.key][0])]
        if len(kept) < len(states):
            states, texts = [states[i] for i in kept], [texts[i] for i in kept]
        if not states:
            return
        previous, stale = self._cached_previous(states)
        for version in {snapshot.model_version for _, snapshot in stale}:
            await self._scorer.load(version)
        await asyncio.get_running_loop().run_in_executor(
            self._cpu, self.build, states, texts, previous, stale, scoring, clock, causes, out)

    def build(self, states: Sequence[CustomerState], texts: Sequence[str],
              previous: list[PublishedValue | None], stale: list[tuple[int, Published]],
              scoring: Scoring, clock: int, causes: Causes, out: BatchOutcome) -> None:
        """The records of :meth:`emit`, computed (in the scoring thread): the customers of
        tenants scored alike together (most batches: all of them)."""
        of_tenant = self._scorer.of_tenant
        scorings = {t: of_tenant(t, scoring) for t in {s.tenant for s in states}}
        self._rescore_previous(previous, stale, [scorings[s.tenant] for s in states], states)
        if len({id(sc) for sc in scorings.values()}) == 1:
            self._build(states, texts, previous, next(iter(scorings.values())), clock, causes,
                        out)
            return
        parts: dict[int, list[int]] = {}
        for i, st in enumerate(states):
            parts.setdefault(id(scorings[st.tenant]), []).append(i)
        for rows in parts.values():
            self._build([states[i] for i in rows], [texts[i] for i in rows],
                        [previous[i] for i in rows], scorings[states[rows[0]].tenant], clock,
                        causes, out)

    def _build(self, states: Sequence[CustomerState], texts: Sequence[str],
               previous: Sequence[PublishedValue | None], scoring: Scoring, clock: int,
               causes: Causes, out: BatchOutcome) -> None:
        subs = subscribed(states, clock, scoring.model, scoring.config, self._grace_s,
                          self._folds)
        current = self._scorer.score([s.summary for s in states], clock, scoring.model,
                                     scoring.config, [s.value if s else None for s in subs])
        add_channels(current, [s.channel for s in states])
        rules, version, codec = scoring.rules, scoring.model.version, self._codec
        cols = segment_columns(current, [s.summary.last_ts for s in states], subs)
        labels = rules.encoded_labels(cols, [s.segments for s in states])
        rules.add_value_fields(current, cols)
        dues = rules.next_due(cols, clock)
        as_of, records, publish = iso(clock), out.records, out.publish
        batch = codec.batch_members(as_of, scoring.currency, version)
        updates, segments = self._s.topic_updates, self._s.topic_segments
        default_tenant = self._s.default_tenant
        keep = self._s.history_points
        decimals = scoring.config.decimals
        tenants: dict[str, bytes] = {}  # a batch's tenants, encoded once
        staged: list[Transition] | None = [] if self._stages else None
        for state, text, cur, prev, label, due, sub in zip(states, texts, current, previous,
                                                           labels, dues, subs, strict=True):
            cid, tenant = state.customer_id, state.tenant
            why, source = causes[(tenant, cid)]
            snapshot, point = state.pub, None
            tenant_json = tenants.get(tenant) or tenants.setdefault(tenant, codec.string(tenant))
            t = Transition.of(state, text, version, why, source, clock, codec.string(cid),
                              tenant_json, tenant != default_tenant)
            if staged is not None:
                staged.append(t)
            key = cid.encode()
            if self._should_update(cur, prev):
                out.updates += 1
                snapshot = snapshot_text(text, clock, version)
                point = history_point(clock, why, cur, label) if keep else None
                value = PublishedValue(codec.value(cur), cur["total_clv"])
                delta = Decimal(value.total_clv) - Decimal(prev.total_clv if prev else 0)
                records.append(OutRecord(updates, key, codec.update(
                    t.event_id("u"), t.customer_json, t.tenant_json, why, source, batch,
                    prev.body if prev else None, value.body, delta)))
                self._published.put(customer_ref(tenant, cid, default_tenant), snapshot, value)
            lines = None
            if label != state.segments:
                moves = rules.changes(state.segments, label)
                tail = codec.segment_tail(as_of, why, cur) if moves else b""
                for dim, old, new in moves:
                    out.segment_changes += 1
                    records.append(OutRecord(segments, key, codec.segment(
                        t.event_id("s", dim, old, new), t.customer_json, t.tenant_json, dim, old,
                        new, tail)))
                lines = "\n".join(transition_line(clock, cid, dim, old, new)
                                   for dim, old, new in moves)
            if snapshot:
                counted = state.summary.orders > 0 or sub is not None
                publish.append(PublishEntry(
                    (tenant, cid), snapshot, label, due, sub.totals if sub else None, point,
                    keep, value_inputs(state.summary, state.channel, cur["historic_clv"],
                                       cur["total_clv"], decimals) if counted else "", lines))
        if staged is not None:
            self._run_stages(Scored(states, current, labels, staged, clock, version), records)

    def _run_stages(self, scored: Scored, records: list[OutRecord]) -> None:
        """Each stage's records; a stage that fails loses its own records of the batch,
        never the updates and segment events (or the batch's orders)."""
        for stage in self._stages:
            try:
                records.extend(stage.records(scored))
            except Exception:  # a plug-in's bug must not stop the core topics
                logger.exception("output stage %s failed; its records of %s customers are "
                                 "dropped", type(stage).__name__, len(scored.states))

    def _previous_subscriptions(self, state: CustomerState, as_of: int, version: str,
                                config: ValueConfig) -> SubscriberValue | None:
        if not state.subscriptions:
            return None
        then = state._replace(subscriptions=events_until(state.subscriptions, as_of))
        [found] = subscribed([then], as_of, self._scorer.loaded(version), config, self._grace_s)
        return found.value if found else None

    def _should_update(self, cur: dict[str, Any], prev: PublishedValue | None) -> bool:
        if prev is None:
            return bool(cur["orders"] > 0 or cur["subscription"] is not None)
        old, new = Decimal(prev.total_clv), Decimal(cur["total_clv"])
        delta = abs(new - old)
        if delta == 0:
            return False
        return delta >= self._s.min_delta or delta >= self._s.min_delta_pct * abs(old)

    def _cached_previous(self, states: Sequence[CustomerState],
                         ) -> tuple[list[PublishedValue | None], list[tuple[int, Published]]]:
        """The last published value of each customer, from the in-process cache when its
        snapshot is the one in the store (None when never published), and the snapshots whose
        value must be recomputed (index, snapshot): see :meth:`_rescore_previous`."""
        default_tenant = self._s.default_tenant
        result: list[PublishedValue | None] = [None] * len(states)
        stale: list[tuple[int, Published]] = []
        for i, st in enumerate(states):
            if not st.pub:
                continue
            cached = self._published.get(customer_ref(st.tenant, st.customer_id, default_tenant),
                                         st.pub)
            if cached is not None:
                result[i] = cached
            elif (snapshot := st.published) is not None:
                stale.append((i, snapshot))
        return result, stale

    def _rescore_previous(self, previous: list[PublishedValue | None],
                          stale: list[tuple[int, Published]], scorings: Sequence[Scoring],
                          states: Sequence[CustomerState]) -> None:
        """Fill in the values of ``stale`` snapshots, each with the model it was published
        with (loaded by :meth:`emit` beforehand) and its tenant's value settings; a
        subscriber's with its subscription events up to the snapshot's event time (those it
        had then, unless one arrived late)."""
        by_version: dict[tuple[str, int], list[tuple[int, Published]]] = {}
        tenants: dict[int, str] = {}
        for i, snapshot in stale:
            tenants[id(scorings[i])] = states[i].tenant
            by_version.setdefault((snapshot.model_version, id(scorings[i])), []).append((i, snapshot))
        for (version, scoring_id), found in by_version.items():
            # as published: that model's figures and cut points, the tenant's settings
            scoring = self._scorer.scoring_at(version, tenants[scoring_id])
            config = scoring.config
            subs = [self._previous_subscriptions(states[i], p.as_of, version, config)
                    for i, p in found]
            values = self._scorer.score([p.summary for _, p in found],
                                        [p.as_of for _, p in found], version, config,
                                        subs if any(subs) else None)
            add_channels(values, [states[i].channel for i, _ in found])  # as kept now
            scoring.rules.add_value_fields(values, segment_columns(
                values, [p.summary.last_ts for _, p in found],
                [None if s is None else Subscribed(s, "") for s in subs]))
            for (i, _), v in zip(found, values, strict=True):
                previous[i] = PublishedValue(self._codec.value(v), v["total_clv"])


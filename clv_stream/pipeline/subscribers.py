"""A scored customer's subscriptions: their state as of the batch's event time, the figures
they add to its value, and what it adds to its tenant's subscription totals.

The store keeps a customer's subscription events as a set of lines
(:func:`clv_stream.store.replies.subscription_changes` reads them back); everything else is
derived here, in the scoring thread, from that set (:mod:`clv_stream.domain.subscriptions`),
so the figures never depend on the order events arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clv_stream.domain import segments as seg
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.sbg import DEFAULT_SBG
from clv_stream.domain.subscription_portfolio import contributions
from clv_stream.domain.subscription_value import SubscriberValue, subscriber_values
from clv_stream.domain.subscriptions import (
    SubscriptionFold,
    SubscriptionState,
    by_subscription,
    states_of,
)
from clv_stream.domain.value import ValueConfig
from clv_stream.store.port import CustomerKey, CustomerState
from clv_stream.store.replies import sub_events

__all__ = [
    "Subscribed",
    "SubscriberFolds",
    "events_until",
    "segment_columns",
    "subscribed",
    "totals_text",
]


@dataclass(frozen=True, slots=True)
class Subscribed:
    """One customer's subscription figures, and its share of its tenant's totals."""

    value: SubscriberValue
    totals: str  # PublishEntry.subscription_totals


class SubscriberFolds:
    """The subscription folds of recently scored customers, continued with new events.

    The store only appends to a customer's text of subscription events (each event id
    once), so what a held fold was built from is a prefix of the next text: only the lines
    after it are read and applied, unless one sorts among those folded or the time asked
    is earlier (then that subscription is folded from all its lines). The prefix is
    recognised by its length and hash, so a text rewritten otherwise (state restored from
    elsewhere) is folded from scratch. Bounded to ``limit`` customers in two generations,
    the older dropped whole (as :class:`~clv_stream.pipeline.previous.PreviousValues`, for
    the same reason: RSS). Used by the scoring thread only.
    """

    __slots__ = ("_grace_s", "_half", "_old", "_young")

    def __init__(self, limit: int, grace_s: int) -> None:
        self._half = max(limit // 2, 1) if limit > 0 else 0
        self._grace_s = grace_s
        self._young: dict[CustomerKey, tuple[int, int, dict[str, SubscriptionFold]]] = {}
        self._old: dict[CustomerKey, tuple[int, int, dict[str, SubscriptionFold]]] = {}

    def states(self, state: CustomerState, as_of: int) -> dict[str, SubscriptionState]:
        """The customer's subscriptions as of ``as_of``."""
        text, key = state.subscriptions, state.key
        held = self._young.get(key) or self._old.get(key)
        if held is not None and held[0] <= len(text) and held[1] == hash(text[:held[0]]):
            folds = held[2]
            stale = {sid for sid, fold in folds.items() if fold.settled > as_of}
            for sid, events in by_subscription(sub_events(text[held[0]:])).items():
                fold = folds.get(sid)
                if fold is None or sid in stale or not fold.extend(events):
                    stale.add(sid)
        else:
            folds, stale = {}, None  # None: every subscription
        if stale is None or stale:
            for sid, events in by_subscription(sub_events(text)).items():
                if stale is None or sid in stale:
                    folds[sid] = SubscriptionFold.of(events, self._grace_s)
        if self._half:
            if len(self._young) >= self._half:
                self._old, self._young = self._young, {}
            self._young[key] = (len(text), hash(text), folds)
        return {sid: folds[sid].state(as_of) for sid in sorted(folds)}


def subscribed(states: Sequence[CustomerState], as_of: int, model: ScoringModel,
               cfg: ValueConfig, grace_s: int,
               folds: SubscriberFolds | None = None) -> list[Subscribed | None]:
    """Per customer, its subscriptions' figures (None for a customer without any);
    ``folds`` continues those it holds."""
    if not any(state.subscriptions for state in states):
        return [None] * len(states)
    subs = [None if not state.subscriptions else
            folds.states(state, as_of) if folds is not None else
            states_of(sub_events(state.subscriptions), as_of, grace_s) for state in states]
    values = subscriber_values(subs, model.retention or DEFAULT_SBG, cfg.horizon_months,
                               cfg.discount_rate, cfg.default_margin_bp)
    return [None if value is None or own is None else
            Subscribed(value, totals_text(contributions(own.values(), as_of)))
            for own, value in zip(subs, values, strict=True)]


def totals_text(shares: Mapping[tuple[str, str], int]) -> str:
    """``contributions`` as publish.lua reads them: ``month|field=n`` joined by ``;``."""
    return ";".join(f"{month}|{name}={n}" for (month, name), n in sorted(shares.items()))


def events_until(lines: str, as_of: int) -> str:
    """The lines of a customer's subscription events that occurred by ``as_of`` (the set a
    value published then was computed from, but for events that arrived late)."""
    kept = [line for line in lines.split("\n")
            if line and int(line.split("\t", 7)[6]) <= as_of]
    return "".join("\n" + line for line in kept)


def segment_columns(values: Sequence[dict[str, Any]], last_ts: Sequence[int],
                    subs: Sequence[Subscribed | None]) -> seg.Columns:
    """The segment schemes' columns of a scored batch, with its subscribers' status and due
    times when it has any."""
    if not any(subs):
        return seg.Columns.of(values, last_ts)
    return seg.Columns.of(values, last_ts, [s.value.segment if s else 0 for s in subs],
                          [s.value.next_change_at if s else None for s in subs])

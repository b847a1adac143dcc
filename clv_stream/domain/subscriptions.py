"""One subscription's state, folded from the set of its events.

Pure (no I/O, no settings, the clock passed in as ``as_of``), and the reference the store and
the worker follow. As :mod:`clv_stream.domain.aggregate` does for orders, everything here is
a function of the *set* of a subscription's events: they are deduplicated by ``event_id`` and
folded in one total order, ``(max(ts, start), kind, event_id)``, never in arrival order.

Rules of the fold (a *run* is a stretch of paid periods without a gap):

* The first ``started`` (by ``(ts, event_id)``) opens the first run; another ``started`` for
  the same subscription is a duplicate and changes nothing. Until a ``started`` is seen the
  subscription is ``pending``: its payments count in ``paid_minor``, nothing else does.
* An event that occurred before the start is taken as occurring at the start: a renewal
  stamped before its start is still a renewal of that subscription.
* A paid period is ``[start, start + interval_count x interval)``; months and years are
  calendar months counted from the run's anchor (a 31st stays a 31st where the month has
  one), days and weeks fixed seconds.
* A charge (``renewed``, or ``reactivated`` while the run is live) extends the run by one
  period from the previous period end, whenever it occurred (early or within the grace);
  its amount (and a reactivation's interval) become the current terms at its ``occurred_at``;
  it revokes a scheduled cancellation (the customer paid again).
* A charge once the run has ended (cancelled, or past period end + grace) is a
  *reactivation*, as billing tools count a charge after churn: a new run starts at its
  ``occurred_at`` (a ``renewed`` keeps the last interval).
* ``changed`` sets the terms at its ``occurred_at`` while the run is live (ignored after it
  ended); the paid period end stays, the next charge extends by the new interval.
* ``cancelled`` schedules the end of the run at ``effective_at`` (default: the current paid
  period end; never before its ``occurred_at``); a later cancellation replaces it.
* A run ends (*churns*) at ``min(effective_at, period end)`` once an event or ``as_of``
  reaches ``effective_at``, or at the period end once period end + grace is reached without a
  charge. MRR is 0 from then on; terms set after that instant (during the grace) are void.
* At the same instant: ``started``, ``reactivated``, ``changed``, ``renewed``, ``cancelled``
  (so a cancellation at once beats a charge of the same second, and an event at a
  cancellation's effective time comes after it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from clv_stream.domain.months import add_months, month_of
from clv_stream.domain.mrr import ZERO, Mrr, mrr_of

__all__ = ["KIND_ORDER", "Period", "SubEvent", "SubscriptionFold", "SubscriptionState",
           "by_subscription", "states_of"]

#: One letter per event type, in the order events of the same instant are applied.
KIND_ORDER = {"s": 0, "a": 1, "h": 2, "n": 3, "x": 4}
_MONTHS_PER = {"month": 1, "year": 12}  # calendar units; the others are fixed seconds
_SECONDS_PER = {"day": 86400, "week": 7 * 86400}


class SubEvent(NamedTuple):
    """A subscription event as the store keeps it (amounts in reporting-currency minor units)."""

    kind: str  # s=started, n=renewed, h=changed, x=cancelled, a=reactivated (as the
    # events layer's ``SubscriptionChange.kind``)
    event_id: str
    subscription_id: str
    ts: int  # occurred_at, epoch seconds
    amount_minor: int | None = None
    unit: str | None = None  # "day" | "week" | "month" | "year"
    interval_count: int | None = None  # ``count`` would shadow ``tuple.count``
    effective_at: int | None = None  # cancellations only
    margin_bp: int | None = None


class Period(NamedTuple):
    """A paid period ``[start, end)``; ``renewed`` when a charge extended the run from ``end``;
    ``cut`` when the run ended before ``end`` (cancelled at once), so no renewal fell due."""

    start: int
    end: int
    renewed: bool = False
    cut: bool = False


class _Terms(NamedTuple):
    amount_minor: int
    unit: str
    interval_count: int

    @property
    def mrr(self) -> Mrr:
        return mrr_of(self.amount_minor, self.unit, self.interval_count)


@dataclass(slots=True)
class _Fold:
    """The mutable state of the fold; :meth:`SubscriptionState.of` freezes it."""

    grace_s: int
    terms: _Terms | None = None
    live: bool = False
    anchor: int = 0  # calendar units count from here: (anchor, months since) -> period end
    anchor_months: int = 0
    end: int = 0  # paid through
    cancel_at: int | None = None
    churned_at: int | None = None
    renewals: int = 0
    reactivations: int = 0
    paid_minor: int = 0
    periods: list[Period] = field(default_factory=list)
    timeline: list[tuple[int, Mrr]] = field(default_factory=list)

    def point(self, ts: int, mrr: Mrr) -> None:
        """Record the MRR from ``ts`` on (a later point of the same second replaces one)."""
        if self.timeline and self.timeline[-1][0] == ts:
            self.timeline.pop()
        if not self.timeline or self.timeline[-1][1] != mrr:
            self.timeline.append((ts, mrr))

    def settle(self, t: int) -> None:
        """End the run if, by ``t``, its cancellation took effect or the grace ran out."""
        if not self.live:
            return
        limit = self.end + self.grace_s
        at = self.end
        if self.cancel_at is not None:
            limit, at = min(limit, self.cancel_at), min(at, self.cancel_at)
        if t < limit:
            return
        self.live, self.cancel_at, self.churned_at = False, None, at
        while self.timeline and self.timeline[-1][0] > at:  # terms set during the grace
            self.timeline.pop()
        if at < self.end:
            last = self.periods[-1]
            self.periods[-1] = Period(last.start, last.end, last.renewed, True)
        self.point(at, ZERO)

    def next_end(self, start: int, terms: _Terms) -> int:
        """The end of the period that starts at ``start`` (the current end or a new run)."""
        if terms.unit in _SECONDS_PER:
            self.anchor, self.anchor_months = start, 0
            return start + _SECONDS_PER[terms.unit] * terms.interval_count
        if start != add_months(self.anchor, self.anchor_months):  # new run or unit switch
            self.anchor, self.anchor_months = start, 0
        self.anchor_months += _MONTHS_PER[terms.unit] * terms.interval_count
        return add_months(self.anchor, self.anchor_months)

    def open_run(self, t: int, terms: _Terms) -> None:
        self.terms, self.live, self.cancel_at, self.churned_at = terms, True, None, None
        self.anchor, self.anchor_months = t, 0
        self.end = self.next_end(t, terms)
        self.periods.append(Period(t, self.end))
        self.point(t, terms.mrr)

    def charge(self, t: int, terms: _Terms) -> None:
        """A payment: extend the live run by one period, or start a new run (reactivation)."""
        if not self.live:
            self.reactivations += 1
            self.open_run(t, terms)
            return
        self.renewals += 1
        self.terms, self.cancel_at = terms, None
        last = self.periods[-1]
        self.periods[-1] = Period(last.start, last.end, True, last.cut)
        start, self.end = self.end, self.next_end(self.end, terms)
        self.periods.append(Period(start, self.end))
        self.point(t, terms.mrr)

    def apply(self, e: SubEvent, t: int) -> None:
        """Apply one event at its (clamped) time ``t``, after settling the run up to ``t``."""
        self.settle(t)
        if e.kind in "na":
            self.paid_minor += e.amount_minor or 0
        if self.terms is None:  # pending: no start seen
            return
        if e.kind == "n":
            terms = self.terms
            if e.amount_minor is not None and e.amount_minor != terms.amount_minor:
                terms = _Terms(e.amount_minor, terms.unit, terms.interval_count)
            self.charge(t, terms)
        elif e.kind == "a":
            self.charge(t, _terms_of(e, self.terms))
        elif e.kind == "h" and self.live:
            self.terms = _terms_of(e, self.terms)
            self.point(t, self.terms.mrr)
        elif e.kind == "x" and self.live:
            self.cancel_at = max(t, self.end if e.effective_at is None else e.effective_at)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _terms_of(e: SubEvent, previous: _Terms | None) -> _Terms:
    """The terms an event states, missing fields taken from ``previous`` (count 1 at start)."""
    amount = _or(e.amount_minor, previous.amount_minor if previous else 0)
    unit = _or(e.unit, previous.unit if previous else "month")
    count = _or(e.interval_count, previous.interval_count if previous else 1)
    return _Terms(amount, unit, count)


def _order_key(e: SubEvent, start: int) -> tuple[int, int, str, str]:
    return (max(e.ts, start), KIND_ORDER[e.kind], e.event_id, repr(e))


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """One subscription as of ``as_of``: a function of its set of events (see the module)."""

    subscription_id: str
    as_of: int
    grace_s: int
    status: str  # "pending" (no start seen), "active", "cancelling", "churned"
    started_at: int | None = None
    cohort: str | None = None  # the sBG's cohort: see _cohort
    amount_minor: int | None = None  # current terms (the last run's, once churned)
    unit: str | None = None
    interval_count: int | None = None
    margin_bp: int | None = None  # the start's, for every payment of the subscription
    paid_minor: int = 0
    renewals: int = 0
    reactivations: int = 0
    cancel_at: int | None = None  # a scheduled cancellation, while cancelling
    churned_at: int | None = None  # the end of the last run, once churned
    periods: tuple[Period, ...] = ()
    timeline: tuple[tuple[int, Mrr], ...] = ()  # MRR change points, ascending

    @classmethod
    def of(cls, events: Iterable[SubEvent], as_of: int, grace_s: int) -> SubscriptionState:
        """Fold a subscription's events (any order, duplicates allowed) as of ``as_of``."""
        return SubscriptionFold.of(events, grace_s).state(as_of)

    def mrr_before(self, ts: int) -> Mrr:
        """The MRR in force just before ``ts`` (at ``ts - 1``)."""
        current = ZERO
        for at, mrr in self.timeline:
            if at >= ts:
                break
            current = mrr
        return current

    @property
    def mrr(self) -> Mrr:
        """The MRR at ``as_of``."""
        return self.mrr_before(self.as_of + 1)

    @property
    def next_change_at(self) -> int | None:
        """When the state next changes with time alone (a renewal falls due, the run ends):
        the worker's due time for this subscription; None when nothing is pending."""
        if self.status not in ("active", "cancelling"):
            return None
        end = self.periods[-1].end
        times = [t for t in (end, end + self.grace_s, self.cancel_at) if t is not None and t > self.as_of]
        return min(times) if times else None


_BEFORE_ALL = (-(2**63), -1, "")


class SubscriptionFold:
    """A subscription's fold, which later events continue.

    ``SubscriptionFold.of(events, grace_s).state(as_of)`` is
    ``SubscriptionState.of(events, as_of, grace_s)``; :meth:`extend` applies events that
    come after every one folded (in the fold's order) and no earlier than the last
    ``as_of`` asked, so a subscription's next state costs its new events, not its history.
    It keeps no events: when new ones sort among those folded, the caller folds them all
    again.
    """

    __slots__ = ("_first", "_fold", "_last", "grace_s", "settled", "subscription_id")

    def __init__(self, subscription_id: str, grace_s: int, first: SubEvent | None,
                 fold: _Fold | None, last: tuple[int, int, str]) -> None:
        self.subscription_id = subscription_id
        self.grace_s = grace_s
        self._first = first  # the start (None: pending, and ``_fold`` holds its payments)
        self._fold = fold
        self._last = last  # the order key of the last event applied
        #: The last ``as_of`` the fold was settled to: :meth:`state` takes no earlier one.
        self.settled = _BEFORE_ALL[0]

    @classmethod
    def of(cls, events: Iterable[SubEvent], grace_s: int) -> SubscriptionFold:
        """Fold a subscription's events (any order, duplicates allowed)."""
        unique: dict[str, SubEvent] = {}
        for e in events:
            kept = unique.get(e.event_id)
            if kept is None or (kept != e and _order_key(e, 0) < _order_key(kept, 0)):
                unique[e.event_id] = e
        if not unique:
            raise ValueError("a subscription state needs at least one event")
        sub_id = next(iter(unique.values())).subscription_id
        fold = _Fold(grace_s)
        starts = [e for e in unique.values() if e.kind == "s"]
        if not starts:  # pending
            fold.paid_minor = sum(e.amount_minor or 0 for e in unique.values() if e.kind in "na")
            return cls(sub_id, grace_s, None, fold, _BEFORE_ALL)
        # event ids are unique from here: the order key needs no tie-break on content
        first = min(starts, key=lambda e: (e.ts, e.event_id))
        start = first.ts
        rest = sorted((e for e in unique.values() if e.kind != "s"),
                      key=lambda e: (max(e.ts, start), KIND_ORDER[e.kind], e.event_id))
        terms = _terms_of(first, None)
        fold.paid_minor = terms.amount_minor
        fold.open_run(start, terms)
        for e in rest:
            fold.apply(e, max(e.ts, start))
        last = rest[-1] if rest else None
        return cls(sub_id, grace_s, first, fold, (start, -1, "") if last is None else
                   (max(last.ts, start), KIND_ORDER[last.kind], last.event_id))

    def extend(self, events: Iterable[SubEvent]) -> bool:
        """Apply events new to this fold (no id seen before) if each sorts after every one
        folded and no earlier than :attr:`settled`; else apply none and return False."""
        first, fold = self._first, self._fold
        if first is None or fold is None:
            return False  # pending: a start may come first
        start = first.ts
        keyed = sorted(((max(e.ts, start), KIND_ORDER[e.kind], e.event_id), e) for e in events)
        for key, e in keyed:
            if (e.kind == "s" and (e.ts, e.event_id) < (start, first.event_id)) or (
                    e.kind != "s" and (key <= self._last or key[0] < self.settled)):
                return False
        for key, e in keyed:
            if e.kind != "s":  # a later start is a duplicate: it changes nothing
                fold.apply(e, key[0])
                self._last = key
        return True

    def state(self, as_of: int) -> SubscriptionState:
        """The subscription as of ``as_of`` (no earlier than :attr:`settled`)."""
        if as_of < self.settled:
            raise ValueError(f"the fold is settled to {self.settled}, after {as_of}")
        fold, first = self._fold, self._first
        assert fold is not None
        if first is None:
            return SubscriptionState(self.subscription_id, as_of, self.grace_s, "pending",
                                     paid_minor=fold.paid_minor)
        fold.settle(as_of)
        self.settled = as_of
        terms = fold.terms
        assert terms is not None
        status = "churned" if not fold.live else "cancelling" if fold.cancel_at is not None else "active"
        return SubscriptionState(
            self.subscription_id, as_of, self.grace_s, status, first.ts,
            _cohort(first), *terms, first.margin_bp,
            fold.paid_minor, fold.renewals, fold.reactivations, fold.cancel_at,
            fold.churned_at, tuple(fold.periods), tuple(fold.timeline),
        )


def _cohort(start: SubEvent) -> str:
    """Start month x billing interval: ``"2024-03|month"``, ``"2024-03|3 month"`` (a
    quarterly plan renews per three months: another period, another retention curve)."""
    count = start.interval_count or 1
    unit = start.unit or "month"
    return f"{month_of(start.ts)}|{unit}" if count == 1 else f"{month_of(start.ts)}|{count} {unit}"


def states_of(events: Iterable[SubEvent], as_of: int, grace_s: int) -> dict[str, SubscriptionState]:
    """A customer's subscriptions, each folded from its own events."""
    return {sid: SubscriptionState.of(evs, as_of, grace_s)
            for sid, evs in sorted(by_subscription(events).items())}


def by_subscription(events: Iterable[SubEvent]) -> dict[str, list[SubEvent]]:
    """A customer's events, per subscription."""
    found: dict[str, list[SubEvent]] = {}
    for e in events:
        found.setdefault(e.subscription_id, []).append(e)
    return found

"""Subscriptions: one subscription's state, a customer's MRR movements, a tenant's portfolio.

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

MRR is exact: see :class:`Mrr`. A customer's MRR movements are counted per *customer* from
its month-end MRR (start of month vs end of month, as billing analytics tools do), and
:func:`contributions` is what a customer adds to its tenant's per-month totals: a tenant's
figures are the sum over its customers, so a store keeps them incrementally (subtract a
customer's old contributions, add its new ones) and :func:`portfolio` reads them without a
scan.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache
from typing import Any, NamedTuple

from clv_stream.domain.money import money_text

__all__ = [
    "KIND_ORDER", "MOVEMENTS", "UNIT_WEIGHT", "Mrr", "Period", "SubEvent", "SubscriptionState",
    "contributions", "customer_months", "month_of", "portfolio", "states_of",
]

#: One letter per event type, in the order events of the same instant are applied.
KIND_ORDER = {"s": 0, "a": 1, "h": 2, "n": 3, "x": 4}
#: g(unit): MRR of ``amount`` per ``interval_count`` c is ``amount x g / (48 c)`` minor units a
#: month (month 48/48, year 4/48 = 1/12, week 208/48 = 52/12, day 1461/48 = 365.25/12).
UNIT_WEIGHT = {"month": 48, "year": 4, "week": 208, "day": 1461}
MOVEMENTS = ("new", "expansion", "contraction", "churned", "reactivation")
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


class Mrr(Mapping[int, int]):
    """An exact monthly amount: ``{c: N_c}`` worth ``sum N_c / (48 c)`` minor units a month.

    Integers per interval count ``c`` add and subtract exactly (a store can keep them as
    integer counters); the value is a :class:`~fractions.Fraction`, rounded half-even once by
    :meth:`to_minor`. ``==`` compares the components, as a mapping; ``<`` and friends, and
    :attr:`value`, compare the amounts (``{1: 48}`` and ``{2: 96}`` are different mappings
    worth the same).
    """

    __slots__ = ("_parts", "_value")
    _parts: tuple[tuple[int, int], ...]
    _value: Fraction | None

    def __init__(self, parts: Mapping[int, int] | Iterable[tuple[int, int]] = ()) -> None:
        acc: dict[int, int] = {}
        for c, n in parts.items() if isinstance(parts, Mapping) else parts:
            if c < 1:
                raise ValueError(f"interval count must be >= 1, not {c}")
            acc[c] = acc.get(c, 0) + n
        self._parts = tuple(sorted((c, n) for c, n in acc.items() if n))
        self._value = None  # computed once, when asked (Fractions cost)

    @classmethod
    def of(cls, amount_minor: int, unit: str, count: int) -> Mrr:
        """The MRR of ``amount_minor`` charged every ``count`` ``unit``s."""
        return _mrr_of(amount_minor, unit, count)

    def __eq__(self, other: object) -> bool:  # the components (Mapping's is generic, slow)
        if isinstance(other, Mrr):
            return self._parts == other._parts
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    @property
    def value(self) -> Fraction:
        if self._value is None:
            parts = self._parts
            self._value = (Fraction(parts[0][1], 48 * parts[0][0]) if len(parts) == 1 else
                           sum((Fraction(n, 48 * c) for c, n in parts), Fraction(0)))
        return self._value

    def to_minor(self) -> int:
        """Minor units a month, rounded half-even (the one rounding)."""
        return round(self.value)

    def __getitem__(self, c: int) -> int:
        for k, n in self._parts:
            if k == c:
                return n
        raise KeyError(c)

    def __iter__(self) -> Iterator[int]:
        return (c for c, _ in self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __hash__(self) -> int:
        return hash(self._parts)

    def __add__(self, other: Mrr) -> Mrr:
        if not other._parts:
            return self
        if not self._parts:
            return other
        return Mrr(self._parts + other._parts)

    def __sub__(self, other: Mrr) -> Mrr:
        if not other._parts:
            return self
        return Mrr(self._parts + tuple((c, -n) for c, n in other._parts))

    def _key(self, other: Mrr) -> tuple[Fraction | int, Fraction | int]:
        """Comparable amounts: the integers when both are one and the same interval count
        (most are), else the exact values."""
        a, b = self._parts, other._parts
        if len(a) == 1 == len(b) and a[0][0] == b[0][0]:
            return a[0][1], b[0][1]
        return self.value, other.value

    def __lt__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a < b

    def __le__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a <= b

    def __gt__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a > b

    def __ge__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a >= b

    def __repr__(self) -> str:
        return f"Mrr({dict(self._parts)!r})"


ZERO = Mrr()


@lru_cache(maxsize=65536)
def _mrr_of(amount_minor: int, unit: str, count: int) -> Mrr:
    # Mrr is immutable: one object per terms, shared (a subscription's terms repeat)
    return Mrr({count: amount_minor * UNIT_WEIGHT[unit]})


# -- calendar ------------------------------------------------------------------------------

#: Month indexes (year x 12 + month - 1) this table covers, and their starts in epoch
#: seconds: months are found by bisection, not by building datetimes (the hot path of
#: every subscriber's scoring).
_FIRST_MONTH, _LAST_MONTH = 1970 * 12, 2200 * 12
_STARTS = [int(datetime(i // 12, i % 12 + 1, 1, tzinfo=UTC).timestamp())
           for i in range(_FIRST_MONTH, _LAST_MONTH + 1)]


def _month_index(ts: int) -> int:
    if _STARTS[0] <= ts < _STARTS[-1]:
        return _FIRST_MONTH + bisect_right(_STARTS, ts) - 1
    d = datetime.fromtimestamp(ts, UTC)
    return d.year * 12 + d.month - 1


@lru_cache(maxsize=4096)
def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _month_start(index: int) -> int:
    if _FIRST_MONTH <= index <= _LAST_MONTH:
        return _STARTS[index - _FIRST_MONTH]
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


def month_of(ts: int) -> str:
    """``"YYYY-MM"`` of an epoch second (UTC)."""
    return _month_name(_month_index(ts))


@lru_cache(maxsize=65536)
def _add_months(ts: int, months: int) -> int:
    """``ts`` plus calendar months, the day clamped to the month's last (Jan 31 + 1 = Feb 29)."""
    d = datetime.fromtimestamp(ts, UTC)
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    day = min(d.day, calendar.monthrange(year, month0 + 1)[1])
    return int(d.replace(year=year, month=month0 + 1, day=day).timestamp())


# -- one subscription ----------------------------------------------------------------------

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
        return Mrr.of(self.amount_minor, self.unit, self.interval_count)


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
            self.periods[-1] = self.periods[-1]._replace(cut=True)
        self.point(at, ZERO)

    def next_end(self, start: int, terms: _Terms) -> int:
        """The end of the period that starts at ``start`` (the current end or a new run)."""
        if terms.unit in _SECONDS_PER:
            self.anchor, self.anchor_months = start, 0
            return start + _SECONDS_PER[terms.unit] * terms.interval_count
        if start != _add_months(self.anchor, self.anchor_months):  # new run or unit switch
            self.anchor, self.anchor_months = start, 0
        self.anchor_months += _MONTHS_PER[terms.unit] * terms.interval_count
        return _add_months(self.anchor, self.anchor_months)

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
        self.periods[-1] = self.periods[-1]._replace(renewed=True)
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
            self.charge(t, self.terms._replace(amount_minor=_or(e.amount_minor, self.terms.amount_minor)))
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
    cohort: str | None = None  # "YYYY-MM|unit" of the start: the sBG's cohort
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
        unique: dict[str, SubEvent] = {}
        for e in events:
            kept = unique.get(e.event_id)
            if kept is None or (kept != e and _order_key(e, 0) < _order_key(kept, 0)):
                unique[e.event_id] = e
        if not unique:
            raise ValueError("a subscription state needs at least one event")
        # event ids are unique from here: the order key needs no tie-break on content
        starts = sorted((e for e in unique.values() if e.kind == "s"),
                        key=lambda e: (e.ts, KIND_ORDER[e.kind], e.event_id))
        sub_id = next(iter(unique.values())).subscription_id
        fold = _Fold(grace_s)
        if not starts:
            fold.paid_minor = sum(e.amount_minor or 0 for e in unique.values() if e.kind in "na")
            return cls(sub_id, as_of, grace_s, "pending", paid_minor=fold.paid_minor)
        first = starts[0]
        start = first.ts
        rest = sorted((e for e in unique.values() if e.kind != "s"),
                      key=lambda e: (max(e.ts, start), KIND_ORDER[e.kind], e.event_id))
        terms = _terms_of(first, None)
        fold.paid_minor = terms.amount_minor
        fold.open_run(first.ts, terms)
        for e in rest:
            fold.apply(e, max(e.ts, first.ts))
        fold.settle(as_of)
        assert fold.terms is not None
        status = "churned" if not fold.live else "cancelling" if fold.cancel_at is not None else "active"
        return cls(
            sub_id, as_of, grace_s, status, first.ts, f"{month_of(first.ts)}|{terms.unit}",
            *fold.terms, first.margin_bp, fold.paid_minor, fold.renewals, fold.reactivations,
            fold.cancel_at, fold.churned_at, tuple(fold.periods), tuple(fold.timeline),
        )

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


def states_of(events: Iterable[SubEvent], as_of: int, grace_s: int) -> dict[str, SubscriptionState]:
    """A customer's subscriptions, each folded from its own events."""
    by_sub: dict[str, list[SubEvent]] = {}
    for e in events:
        by_sub.setdefault(e.subscription_id, []).append(e)
    return {sid: SubscriptionState.of(evs, as_of, grace_s) for sid, evs in sorted(by_sub.items())}


# -- one customer --------------------------------------------------------------------------

def customer_months(states: Iterable[SubscriptionState], as_of: int) -> dict[str, Mrr]:
    """A customer's month-end MRR (the sum of its subscriptions'), for every month from its
    first start to ``as_of``'s month; the current month's "end" is ``as_of``."""
    started = [s for s in states if s.started_at is not None]
    if not started:
        return {}
    first = min(_month_index(s.started_at) for s in started if s.started_at is not None)
    last = max(first, _month_index(as_of))
    months: dict[str, Mrr] = {}
    for index in range(first, last + 1):
        instant = min(_month_start(index + 1), as_of + 1)
        months[_month_name(index)] = sum((s.mrr_before(instant) for s in started), ZERO)
    return months


def contributions(states: Iterable[SubscriptionState], as_of: int) -> Counter[tuple[str, str]]:
    """What a customer adds to its tenant's per-month totals, keyed ``(month, field)``.

    Movements compare the month-end MRR with the previous month's (0 before the first):
    0 -> positive is ``new`` (first time) or ``reactivation``, positive -> 0 ``churned``, up
    ``expansion``, down ``contraction``, each as the integers of its :class:`Mrr` under
    ``"<movement>:<c>"``; with them the counts ``customers_new``, ``customers_reactivated``,
    ``customers_churned``. Each period end up to ``as_of`` (of a run that lasted to it) adds
    ``renewals_due`` in its month, and ``renewed`` when a charge extended the run from it.

    Only months where something happens get entries: a month's opening MRR and active
    subscribers are the running sums of the movements of the months before (they telescope
    to the month-end MRR), which is what lets a store keep a tenant's totals incrementally.
    """
    states = list(states)
    out: Counter[tuple[str, str]] = Counter()
    previous, ever = ZERO, False
    # Components of a sum of subscriptions' MRR are never negative: zero is "no parts".
    for index, current in _changed_month_ends(states, as_of).items():
        month = _month_name(index)
        if not previous and current:
            kind = "reactivation" if ever else "new"
            _add(out, month, kind, current)
            out[(month, "customers_reactivated" if ever else "customers_new")] += 1
        elif previous and not current:
            _add(out, month, "churned", previous)
            out[(month, "customers_churned")] += 1
        elif current > previous:
            _add(out, month, "expansion", current - previous)
        elif current < previous:
            _add(out, month, "contraction", previous - current)
        ever = ever or bool(current)
        previous = current
    for state in states:
        for p in state.periods:
            if p.end <= as_of and not p.cut:
                month = month_of(p.end)
                out[(month, "renewals_due")] += 1
                out[(month, "renewed")] += p.renewed
    return Counter({k: v for k, v in out.items() if v})


def _changed_month_ends(states: list[SubscriptionState], as_of: int) -> dict[int, Mrr]:
    """:func:`customer_months` for the months whose end MRR can differ from the month
    before's (those with a change point by ``as_of``), by month index, ascending: in one
    sweep over the change points rather than a look-up per month and subscription."""
    timelines = [s.timeline for s in states if s.started_at is not None and s.timeline]
    if len(timelines) == 1:
        points = [(at, mrr) for at, mrr in timelines[0] if at <= as_of]
    else:
        merged = sorted(((at, i, mrr) for i, line in enumerate(timelines)
                         for at, mrr in line if at <= as_of), key=lambda p: (p[0], p[1]))
        current = [ZERO] * len(timelines)
        total, points = ZERO, []
        for at, i, mrr in merged:
            total, current[i] = total - current[i] + mrr, mrr
            points.append((at, total))
    return {_month_index(at): mrr for at, mrr in points}  # the month's last point wins


def _add(out: Counter[tuple[str, str]], month: str, movement: str, mrr: Mrr) -> None:
    for c, n in mrr.items():
        out[(month, f"{movement}:{c}")] += n


# -- a tenant ------------------------------------------------------------------------------



def _text(amount: Fraction, decimals: int) -> str:
    """An exact amount of minor units, rounded half-even once, as a decimal string."""
    return money_text(round(amount), decimals)


def _rate(numerator: Fraction | int, denominator: Fraction | int) -> float | None:
    return None if denominator == 0 else float(round(Fraction(numerator) / denominator, 6))


def _month_totals(totals: Mapping[tuple[str, str], int]) -> dict[str, dict[str, Any]]:
    """Totals regrouped per month: movements as :class:`Mrr`, counts as ints."""
    months: dict[str, dict[str, Any]] = {}
    for (month, name), n in totals.items():
        row = months.setdefault(month, {})
        movement, _, c = name.partition(":")
        if c:
            row[movement] = row.get(movement, ZERO) + Mrr({int(c): n})
        else:
            row[name] = row.get(name, 0) + n
    return months


def portfolio(totals: Mapping[tuple[str, str], int], as_of: int, decimals: int) -> dict[str, Any]:
    """A tenant's subscription report from the sum of its customers' :func:`contributions`.

    Every month from the first with an entry to ``as_of``'s: opening and closing MRR and
    subscribers, the movements, logo churn (churned / opening subscribers), gross revenue
    churn ((churned + contraction) / opening MRR), net revenue churn ((churned + contraction -
    expansion) / opening MRR), renewal rate (renewed / due). Money is rounded half-even once
    per figure (so ``mrr_start + net_new`` may differ from ``mrr_end`` by a minor unit) and
    written in the reporting currency's units; rates have 6 places, None over a zero.
    """
    grouped = _month_totals(totals)
    rows: list[dict[str, Any]] = []
    mrr, active = Fraction(0), 0
    if grouped:
        first = min(_parse_month(m) for m in grouped)
        last = max([_month_index(as_of)] + [_parse_month(m) for m in grouped])
        for index in range(first, last + 1):
            row = grouped.get(_month_name(index), {})
            moves = {m: row.get(m, ZERO).value for m in MOVEMENTS}
            net = moves["new"] + moves["expansion"] + moves["reactivation"] - moves["contraction"] \
                - moves["churned"]
            joined = row.get("customers_new", 0) + row.get("customers_reactivated", 0)
            left = row.get("customers_churned", 0)
            lost = moves["churned"] + moves["contraction"]
            rows.append({
                "month": _month_name(index),
                "mrr_start": _text(mrr, decimals),
                **{m: _text(v, decimals) for m, v in moves.items()},
                "net_new": _text(net, decimals),
                "mrr_end": _text(mrr + net, decimals),
                "active_start": active,
                "active_end": active + joined - left,
                "customers_new": row.get("customers_new", 0),
                "customers_reactivated": row.get("customers_reactivated", 0),
                "customers_churned": left,
                "logo_churn": _rate(left, active),
                "gross_revenue_churn": _rate(lost, mrr),
                "net_revenue_churn": _rate(lost - moves["expansion"], mrr),
                "renewals_due": row.get("renewals_due", 0),
                "renewed": row.get("renewed", 0),
                "renewal_rate": _rate(row.get("renewed", 0), row.get("renewals_due", 0)),
            })
            mrr, active = mrr + net, active + joined - left
    return {
        "mrr": _text(mrr, decimals),
        "arr": _text(12 * mrr, decimals),
        "active_subscribers": active,
        "arpu": _text(mrr / active, decimals) if active else None,
        "months": rows,
    }


def _parse_month(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1

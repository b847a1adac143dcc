"""A customer's running aggregate: the pure-Python statement of what the Lua script does.

``store/apply_batch.lua`` keeps the same state in a Redis hash and applies the same rules;
a property test drives both with random event sequences and asserts they agree. This module
is also the *batch* definition of the aggregate: :func:`aggregate_of` folds any set of events,
and because every rule below is a function of the final per-order state, any order of the
same events ends in the same aggregate.

Rules per order (``order_id``):

* ``placed`` sets the order's amount, time and margin once; a later ``placed`` for the same
  order is a duplicate and changes nothing.
* ``refunded`` adds to the order's refunded total (each ``event_id`` once).
* ``cancelled`` voids the whole order, whatever arrives before or after it.

An order *counts* when it was placed and not cancelled. It contributes
``max(0, placed - refunded)`` to net revenue, and that times its margin to profit. Purchase
days are the distinct UTC days of counting orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from clv_stream.events.times import SECONDS_PER_DAY
from clv_stream.events.validation import Order

__all__ = ["SECONDS_PER_DAY", "CustomerAggregate", "OrderState", "Summary", "aggregate_of", "profit_of"]



def profit_of(net_minor: int, margin_bp: int) -> int:
    """Gross profit in minor units, rounded half up (the Lua script rounds the same way)."""
    return (net_minor * margin_bp + 5000) // 10000


@dataclass(slots=True)
class OrderState:
    placed: int | None = None  # minor units; None until the order_placed event arrives
    ts: int = 0
    margin_bp: int = 10000
    refunded: int = 0
    cancelled: bool = False

    @property
    def counts(self) -> bool:
        return self.placed is not None and not self.cancelled

    @property
    def net(self) -> int:
        return max(0, self.placed - self.refunded) if self.counts else 0  # type: ignore[operator]


class Summary(NamedTuple):
    """What scoring needs from an aggregate: a handful of integers.

    A named tuple (immutable, compared by value, as a frozen dataclass) because the worker
    builds one or two per customer per batch and a tuple is built several times faster.
    """

    orders: int = 0
    net_minor: int = 0
    profit_minor: int = 0
    first_ts: int = 0  # 0 when there is no counting order
    last_ts: int = 0
    purchase_days: int = 0
    first_day_net_minor: int = 0  # net revenue of the first purchase day (Gamma-Gamma input)


@dataclass(slots=True)
class CustomerAggregate:
    orders: dict[str, OrderState] = field(default_factory=dict)

    def apply(self, order: Order) -> None:
        """Apply one event (deduplication by ``event_id`` is the caller's job)."""
        state = self.orders.setdefault(order.order_id, OrderState())
        if order.kind == "p":
            if state.placed is None:
                state.placed, state.ts, state.margin_bp = (
                    order.amount_minor, order.ts, order.margin_bp
                )
        elif order.kind == "r":
            state.refunded += order.amount_minor
        else:
            state.cancelled = True

    def summary(self) -> Summary:
        counting = [o for o in self.orders.values() if o.counts]
        if not counting:
            return Summary()
        day_net: dict[int, int] = {}
        for o in counting:
            day = o.ts // SECONDS_PER_DAY
            day_net[day] = day_net.get(day, 0) + o.net
        first_ts = min(o.ts for o in counting)
        return Summary(
            orders=len(counting),
            net_minor=sum(o.net for o in counting),
            profit_minor=sum(profit_of(o.net, o.margin_bp) for o in counting),
            first_ts=first_ts,
            last_ts=max(o.ts for o in counting),
            purchase_days=len(day_net),
            first_day_net_minor=day_net[first_ts // SECONDS_PER_DAY],
        )


def aggregate_of(events: Iterable[Order]) -> dict[str, Summary]:
    """Batch computation: the summary of every customer over a set of events.

    Events whose ``event_id`` was seen before are skipped, as the store does within its
    dedupe window.
    """
    customers: dict[str, CustomerAggregate] = {}
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        customers.setdefault(event.customer_id, CustomerAggregate()).apply(event)
    return {cid: agg.summary() for cid, agg in customers.items()}

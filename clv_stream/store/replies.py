"""What goes into the Lua scripts' ARGV and what comes back, for :class:`RedisStore`.

Kept apart from the client calls so the reply layouts (documented at the top of each
script) are read in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.subscriptions import SubEvent
from clv_stream.events.validation import Order, SubscriptionChange
from clv_stream.store.types import (
    ApplyResult,
    Claim,
    Customer,
    CustomerState,
    Fence,
    Positioned,
    PublishEntry,
    customer_ref,
    key_of,
)

__all__ = ["apply_args", "claims", "fence_json", "offsets_json", "parse_apply",
           "publish_args", "spend_by_month", "states", "sub_events", "subscription_changes",
           "subscription_line", "totals"]

_PER_CUSTOMER = 13  # customer_row() in common.lua
_PER_CLAIM = 7  # claim.lua


def offsets_json(offsets: Mapping[int, int] | None) -> bytes:
    return orjson.dumps({str(p): o for p, o in (offsets or {}).items()})


def fence_json(fence: Fence | None) -> bytes:
    return orjson.dumps({str(p): list(f) for p, f in (fence or {}).items()})


def apply_args(records: Sequence[Positioned]) -> bytes:
    """The records, flat: 11 values per record (apply_batch.lua's ARGV[4]); a subscription
    event goes with an upper-case kind and its :func:`subscription_line` for order_id, a
    marketing spend with kind "m", its channel for order_id and its month for margin."""
    flat: list[Any] = []
    add = flat.extend
    for rec in records:
        o = rec.order
        if isinstance(o, Order):
            add((rec.partition, rec.offset, o.event_id, o.kind, o.order_id,
                 o.customer_id, o.amount_minor, o.ts, o.margin_bp, o.tenant, o.channel or ""))
        elif isinstance(o, SubscriptionChange):
            add((rec.partition, rec.offset, o.event_id, o.kind.upper(), subscription_line(o),
                 o.customer_id, o.amount_minor or 0, o.ts, o.margin_bp or 0, o.tenant, ""))
        else:
            add((rec.partition, rec.offset, o.event_id, "m", o.channel, "", o.amount_minor,
                 o.ts, o.month, o.tenant, ""))
    return orjson.dumps(flat)


#: The fields of a subscription event's line in a customer's set (``sb``), tab-separated
#: ("" for None), after a newline: the event id first, so a line is found by
#: ``"\n" + event_id + "\t"`` (identifiers hold no control characters).
SUBSCRIPTION_LINE = SubscriptionChange._fields


def subscription_line(change: SubscriptionChange) -> str:
    """``change`` as the store keeps it in the customer's set of subscription events."""
    fields = (change.event_id, *(v for k, v in zip(SUBSCRIPTION_LINE, change, strict=True)
                                 if k != "event_id"))
    return "\n" + "\t".join("" if v is None else str(v) for v in fields)


def subscription_changes(text: str) -> list[SubscriptionChange]:
    """The lines of a customer's set of subscription events, read back."""
    found = []
    names = [k for k in SUBSCRIPTION_LINE if k != "event_id"]
    for line in text.split("\n"):
        if not line:
            continue
        event_id, *rest = line.split("\t")
        values: dict[str, Any] = {"event_id": event_id}
        for name, raw in zip(names, rest, strict=True):
            values[name] = _typed(name, raw)
        found.append(SubscriptionChange(**values))
    return found


def sub_events(text: str) -> list[SubEvent]:
    """A customer's set of subscription events as the domain folds them (read straight from
    the lines: this runs for every scored subscriber)."""
    found = []
    for line in text.split("\n"):
        if not line:
            continue
        (event_id, kind, subscription_id, _, _, amount, ts, interval, count, _, margin,
         effective) = line.split("\t")
        found.append(SubEvent(kind, event_id, subscription_id, int(ts),
                              int(amount) if amount else None, interval or None,
                              int(count) if count else None,
                              int(effective) if effective else None,
                              int(margin) if margin else None))
    return found


def totals(stored: Mapping[str, int]) -> dict[tuple[str, str], int]:
    """Subscription totals as stored (``"YYYY-MM|name" -> n``), keyed (month, name); zeros
    (everything a customer added, taken back since) left out."""
    found: dict[tuple[str, str], int] = {}
    for field, n in stored.items():
        month, _, name = field.partition("|")
        if n:
            found[(month, name)] = n
    return found


def spend_by_month(stored: Iterable[tuple[str, str]]) -> dict[tuple[int, str], int]:
    """The spend hash ("month:channel" -> "ts|event_id|amount", apply_batch.lua) by
    (month index, channel)."""
    found: dict[tuple[int, str], int] = {}
    for field, value in stored:
        month, _, channel = field.partition(":")
        found[(int(month), channel)] = int(value.rpartition("|")[2])
    return found


_INTS = frozenset({"amount_minor", "ts", "interval_count", "margin_bp", "effective_at"})


def _typed(name: str, raw: str) -> Any:
    if raw == "":
        return None
    return int(raw) if name in _INTS else raw


def publish_args(entries: Sequence[PublishEntry], default_tenant: str) -> bytes:
    """The entries, flat: 10 values per customer (publish.lua's ARGV[2]; -1: never due;
    the subscription totals, the history point, the portfolio value and the transitions
    False when there are none)."""
    flat: list[Any] = []
    add = flat.extend
    for entry in entries:
        customer, snapshot, segments, next_due = entry[:4]
        totals, point, keep, value, moves = (*entry[4:], None, None, 0, None, None)[:5]
        cref = ref(customer, default_tenant)
        tenant = customer[0] if not isinstance(customer, str) else default_tenant
        add((cref, snapshot, segments, -1 if next_due is None else next_due, tenant,
             False if totals is None else totals,
             point if point is not None and keep > 0 else False, keep,
             False if value is None else value, moves or False))
    return orjson.dumps(flat)


def ref(customer: Customer, default_tenant: str) -> str:
    """The customer as the scripts name it (:func:`~clv_stream.store.types.customer_ref`; a
    plain id is the default tenant's)."""
    return customer if isinstance(customer, str) else customer_ref(*customer, default_tenant)


def parse_apply(reply: list[Any], default_tenant: str) -> ApplyResult:
    clock, applied, dups, redelivered = int(reply[0]), int(reply[1]), int(reply[2]), int(reply[3])
    touched, looked = int(reply[4]), int(reply[5])
    rows = states(reply, 6, default_tenant)
    return ApplyResult(clock, applied, dups, redelivered, rows[:touched], rows[touched:], looked)


def states(reply: list[Any], start: int, default_tenant: str) -> list[CustomerState]:
    """Customer rows from ``start``: ref, the 7 summary integers, pub, segments, home, the
    customer's subscription events (their lines, as stored) and its acquisition channel."""
    rows = []
    for i in range(start, len(reply), _PER_CUSTOMER):
        tenant, cid = key_of(reply[i], default_tenant)
        rows.append(CustomerState(cid, Summary(*reply[i + 1:i + 8]), reply[i + 8],
                                  reply[i + 9], reply[i + 10], tenant, reply[i + 11],
                                  reply[i + 12]))
    return rows


def claims(reply: list[Any]) -> tuple[bool, list[Claim]]:
    """claim.lua's reply: whether the Redis held state before, and each partition's claim."""
    rows = [Claim(int(reply[i]), int(reply[i + 1]), int(reply[i + 2]), int(reply[i + 3]),
                  int(reply[i + 4]), str(reply[i + 5]), int(reply[i + 6]))
            for i in range(1, len(reply), _PER_CLAIM)]
    return bool(int(reply[0])), rows

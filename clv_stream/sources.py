"""Order files -> contract-shaped order events (dicts), for ``clv-stream produce`` and demos.

Formats:

* ``jsonl``: one order event per line, as on the ``orders`` topic.
* ``csv``: a header row with the contract's field names (``schema_version`` and
  ``event_type`` default to 1 and ``order_placed``).
* ``cdnow``: the CDNOW master file (whitespace-separated customer id, YYYYMMDD date, number
  of CDs, dollar value). Each line becomes one ``order_placed`` at midnight UTC, with
  ``order_id`` = ``"{customer}-{date}-{n}"`` (n counts that customer's lines on that date).
"""

from __future__ import annotations

import calendar
import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

__all__ = ["FORMATS", "count_orders", "iter_orders", "synthetic_orders", "synthetic_spend",
           "synthetic_subscriptions"]

FORMATS = ("jsonl", "csv", "cdnow")


def iter_orders(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        yield from _jsonl(path)
    elif fmt == "csv":
        yield from _csv(path)
    elif fmt == "cdnow":
        yield from _cdnow(path)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def count_orders(path: Path, fmt: str) -> int:
    """How many events :func:`iter_orders` will read from ``path``, from its non-blank lines
    (less a CSV header; a CSV field with a line break inside makes it an overestimate)."""
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return max(lines - 1, 0) if fmt == "csv" else lines


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def _csv(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            event: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
            event["schema_version"] = int(event.get("schema_version", 1))
            event.setdefault("event_type", "order_placed")
            yield event


def _cdnow(path: Path) -> Iterator[dict[str, Any]]:
    seen: dict[tuple[str, str], int] = {}
    with path.open(encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 4 or not parts[1].isdigit():  # blank or header line
                continue
            customer, day, amount = parts[0], parts[1], parts[3]
            n = seen.get((customer, day), 0) + 1
            seen[(customer, day)] = n
            yield {
                "schema_version": 1,
                "event_type": "order_placed",
                "order_id": f"{customer}-{day}-{n}",
                "customer_id": customer,
                "amount": amount,
                "currency": "USD",
                "occurred_at": f"{day[:4]}-{day[4:6]}-{day[6:8]}T00:00:00Z",
                "channel": "cdnow",
            }


def synthetic_orders(
    customers: int, *, days: int = 540, end: datetime | None = None, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """A small shop's history in time order: BG/NBD-like buyers, some refunds and cancels.

    As the BG/NBD story: each customer buys at a personal Poisson rate (gamma across
    customers) and may drop out after each purchase with a personal probability (beta across
    customers); order values are gamma-distributed around a personal mean. Deterministic for
    a given ``seed``.
    """
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    events: list[tuple[datetime, dict[str, Any]]] = []
    for c in range(customers):
        events.extend(_customer_history(rng, f"cust-{c:05d}", start, end))
    events.sort(key=lambda e: e[0])
    for _, event in events:
        yield event


def _customer_history(
    rng: random.Random, cid: str, start: datetime, end: datetime
) -> Iterator[tuple[datetime, dict[str, Any]]]:
    span = (end - start).total_seconds()
    t = start + timedelta(seconds=rng.random() * span * 0.8)
    rate_per_day = rng.gammavariate(0.8, 1 / 25)
    drop_out = rng.betavariate(0.8, 2.4)
    mean_value = rng.gammavariate(6.0, 9.0)
    n = 0
    while t < end:
        n += 1
        oid = f"{cid}-o{n}"
        amount = f"{max(1.0, rng.gammavariate(4.0, mean_value / 4)):.2f}"
        base = {"schema_version": 1, "order_id": oid, "customer_id": cid,
                "currency": "USD", "channel": rng.choice(["web", "app", "store"])}
        yield t, {**base, "event_type": "order_placed", "amount": amount,
                  "occurred_at": t.isoformat()}
        roll = rng.random()
        if roll < 0.05:
            later = min(t + timedelta(hours=2), end)
            yield later, {**base, "event_type": "order_cancelled", "amount": amount,
                          "occurred_at": later.isoformat()}
        elif roll < 0.12:
            later = min(t + timedelta(days=3), end)
            refund = f"{float(amount) * 0.3:.2f}"
            yield later, {**base, "event_type": "order_refunded", "amount": refund,
                          "occurred_at": later.isoformat()}
        if rng.random() < drop_out:  # drop out after this purchase
            return
        t += timedelta(days=rng.expovariate(max(rate_per_day, 1e-3)))


#: What a new customer costs each synthetic channel, in USD (before noise).
_CAC = {"web": 25.0, "app": 40.0, "store": 60.0}


def synthetic_spend(orders: list[dict[str, Any]], *, seed: int = 3) -> list[dict[str, Any]]:
    """``marketing_spend`` events for ``orders``' channels: per channel and calendar month,
    about what the customers it acquired that month cost (the channel's CAC, +-30 %), dated
    at the month's end (or at the last order, for the month under way), in time order."""
    rng = random.Random(seed)
    first: dict[str, dict[str, Any]] = {}
    for event in orders:
        if event.get("event_type") == "order_placed":
            known = first.get(event["customer_id"])
            if known is None or event["occurred_at"] < known["occurred_at"]:
                first[event["customer_id"]] = event
    if not first:
        return []
    last = max(datetime.fromisoformat(e["occurred_at"]) for e in orders)
    acquired: dict[tuple[str, str], int] = {}
    for event in first.values():
        key = (event.get("channel") or "unknown", event["occurred_at"][:7])
        acquired[key] = acquired.get(key, 0) + 1
    spend = []
    for (channel, month), customers in sorted(acquired.items()):
        year, number = int(month[:4]), int(month[5:])
        month_end = datetime(year, number, calendar.monthrange(year, number)[1], 23, 0, tzinfo=UTC)
        amount = customers * _CAC.get(channel, 30.0) * rng.uniform(0.7, 1.3)
        spend.append({"schema_version": 1, "event_type": "marketing_spend",
                      "event_id": f"spend-{channel}-{month}", "channel": channel, "month": month,
                      "amount": f"{amount:.2f}", "currency": "USD",
                      "occurred_at": min(month_end, last).isoformat()})
    return sorted(spend, key=lambda e: e["occurred_at"])


#: Plans of the synthetic subscription shop: (plan id, amount per month, in USD).
_PLANS = (("basic", Decimal("9.99")), ("plus", Decimal("19.99")), ("pro", Decimal("49.00")))
#: (interval, interval_count, months per period, weight)
_INTERVALS = (("month", 1, 1, 70), ("month", 3, 3, 10), ("year", 1, 12, 12), ("week", 1, 0, 8))


def synthetic_subscriptions(
    subscribers: int, *, days: int = 540, end: datetime | None = None, seed: int = 11,
    currencies: tuple[str, ...] = ("USD",), prefix: str = "sub",
) -> Iterator[dict[str, Any]]:
    """A subscription shop's events in time order, deterministic for a ``seed``.

    Each subscriber starts a plan (monthly mostly; quarterly, yearly, weekly too), renews at
    each period end or churns (about 8 % a period): by not renewing, by cancelling at the
    period end, or now and then at once; some change plan (upgrades, downgrades, interval
    changes) and some come back after churning (reactivation). Amounts are in the
    subscriber's currency, drawn from ``currencies``.
    """
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    events: list[tuple[datetime, dict[str, Any]]] = []
    for i in range(subscribers):
        events.extend(_subscriber(rng, f"{prefix}{i:06d}", start, end, rng.choice(currencies)))
    events.sort(key=lambda e: (e[0], e[1]["event_id"]))
    for _, event in events:
        yield event


def _period_end(t: datetime, interval: str, count: int) -> datetime:
    if interval == "week":
        return t + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    index = t.month - 1 + months
    year, month = t.year + index // 12, index % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def _subscriber(rng: random.Random, cid: str, start: datetime, end: datetime,
                currency: str) -> Iterator[tuple[datetime, dict[str, Any]]]:
    sid = f"{cid}-s"
    t = start + timedelta(seconds=int(rng.random() * (end - start).total_seconds() * 0.9))
    interval, count, months, _ = rng.choices(_INTERVALS, [w for *_, w in _INTERVALS])[0]
    plan = rng.randrange(len(_PLANS))

    def amount() -> str:
        monthly = _PLANS[plan][1] * (months or Decimal("0.25"))
        return str(monthly.quantize(Decimal("0.01")))

    def event(kind: str, at: datetime, **fields: Any) -> tuple[datetime, dict[str, Any]]:
        occurred = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return at, {"schema_version": 1, "event_type": f"subscription_{kind}",
                    "event_id": f"{sid}:{kind}:{occurred}", "subscription_id": sid,
                    "customer_id": cid, "occurred_at": occurred, **fields}

    def terms() -> dict[str, Any]:
        return {"amount": amount(), "currency": currency, "interval": interval,
                "interval_count": count}

    yield event("started", t, plan_id=_PLANS[plan][0], **terms())
    paid_to = _period_end(t, interval, count)
    while paid_to < end:
        roll = rng.random()
        if roll < 0.05:  # a plan change within the period
            at = t + (paid_to - t) / 2
            plan = max(0, min(len(_PLANS) - 1, plan + rng.choice((-1, 1))))
            if rng.random() < 0.3:
                interval, count, months, _ = rng.choice(_INTERVALS)
            yield event("changed", at, plan_id=_PLANS[plan][0], **terms())
        if rng.random() < 0.08:  # churns this period
            how = rng.random()
            if how < 0.4:
                yield event("cancelled", t + (paid_to - t) / 3)
            elif how < 0.55:
                at = t + (paid_to - t) / 2
                yield event("cancelled", at, effective_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                paid_to = at
            if rng.random() < 0.25:  # comes back
                t = paid_to + timedelta(days=rng.randint(5, 60))
                if t >= end:
                    return
                yield event("reactivated", t, **terms())
                paid_to = _period_end(t, interval, count)
                continue
            return
        t = paid_to
        yield event("renewed", t, amount=amount(), currency=currency)
        paid_to = _period_end(t, interval, count)

"""Order workloads for the benchmarks, as (key, value) message pairs ready to produce.

* :func:`cdnow` replays the CDNOW master file (shipped with ``lifetimes``) through
  ``clv_stream.sources.iter_orders(path, "cdnow")``, in event-time order (the file is sorted
  by customer; a stream is not).
* :func:`live` is a steady live stream (event time now): 40% of orders from new customers,
  the rest from earlier ones, a few refunds and cancels, for the CPU and soak sections.
* :func:`shop` is a fast generator of a shop with repeat buyers (about 2.5 orders per
  customer, 5% cancelled, 7% partly refunded) in event-time order, for up to millions of
  customers; :func:`fresh` gives one order per never-seen customer (every order then yields
  exactly one ``clv.updates`` record, which is what the latency section needs).
* :func:`with_subscriptions` turns a shop's orders into a mixed stream of the same length:
  its first orders in time and a subscription shop's events over the same span
  (``clv_stream.sources.synthetic_subscriptions``), merged in event-time order.
"""

from __future__ import annotations

import calendar
import heapq
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from clv_stream.sources import iter_orders, synthetic_subscriptions

__all__ = ["Message", "cdnow", "cdnow_path", "event_time", "fresh", "live", "shop",
           "with_subscriptions"]

Message = tuple[bytes, bytes]  # (key, value)
DAY = 86400
#: Event time of the synthetic shops: 540 days ending here (fixed, so runs compare).
SHOP_END = 1_735_689_600  # 2025-01-01T00:00:00Z


def cdnow_path() -> Path:
    import lifetimes

    return Path(lifetimes.__file__).resolve().parent / "datasets" / "CDNOW_master.txt"


def cdnow(limit: int | None = None) -> list[Message]:
    """The CDNOW orders (69,659) in event-time order; ``limit`` keeps the first ones."""
    events = sorted(iter_orders(cdnow_path(), "cdnow"), key=lambda e: e["occurred_at"])
    return [(e["customer_id"].encode(), orjson.dumps(e)) for e in events[:limit]]


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _event(kind: str, oid: str, cid: str, amount: str, ts: int, tenant: str = "") -> Message:
    shop_of = f'"tenant_id":"{tenant}",' if tenant else ""
    value = (f'{{"schema_version":1,"event_type":"{kind}",{shop_of}"order_id":"{oid}",'
             f'"customer_id":"{cid}","amount":"{amount}","currency":"USD",'
             f'"occurred_at":"{_iso(ts)}","channel":"web"}}')
    return cid.encode(), value.encode()


def shop(customers: int, orders: int | None = None, seed: int = 7, tag: str = "s",
         tenants: int = 0) -> list[Message]:
    """A shop's orders in event-time order; ``orders`` caps (and then defines) the count.

    ``tenants``: a platform of that many shops (customer ``c`` of shop ``shop-{c % tenants}``;
    ids stay distinct, so the Kafka keys spread over the partitions as one shop's do: shops
    numbering their customers alike would put 1,000 shops' customer 1 on one partition);
    0: one shop, no ``tenant_id``.
    """
    rng = random.Random(seed)
    start = SHOP_END - 540 * DAY
    timed: list[tuple[int, Message]] = []
    for c in range(customers):
        cid = f"{tag}{c:07d}"
        tenant = f"shop-{c % tenants}" if tenants else ""
        t = start + int(rng.random() * 0.8 * 540 * DAY)
        n = 0
        while t < SHOP_END:
            n += 1
            oid, amount = f"{cid}-{n}", f"{rng.uniform(5, 150):.2f}"
            timed.append((t, _event("order_placed", oid, cid, amount, t, tenant)))
            roll = rng.random()
            if roll < 0.05:
                timed.append((t + 7200, _event("order_cancelled", oid, cid, amount, t + 7200,
                                               tenant)))
            elif roll < 0.12:
                refund = f"{float(amount) * 0.3:.2f}"
                timed.append((t + 3 * DAY, _event("order_refunded", oid, cid, refund,
                                                  t + 3 * DAY, tenant)))
            if rng.random() < 0.4:  # drops out after this order: ~2.5 orders a customer
                break
            t += int(rng.expovariate(1 / 45) * DAY) + 1
    timed.sort(key=lambda p: p[0])
    return [m for _, m in timed[:orders]]


def fresh(tag: str, start: int = 0) -> Iterator[Message]:
    """One order per new customer, endlessly (customer ids ``{tag}{n}``), dated now."""
    n = start
    while True:
        cid = f"{tag}{n}"
        yield _event("order_placed", f"{cid}-1", cid, f"{10 + n % 90}.{n % 100:02d}", int(time.time()))
        n += 1


def live(tag: str, seed: int = 11) -> Iterator[Message]:
    """An endless live stream: new customers (40%) and returning ones, dated now."""
    rng = random.Random(seed)
    customers = 0
    placed: list[tuple[str, str, str]] = []  # recent (customer, order id, amount)
    while True:
        now = int(time.time())
        roll = rng.random()
        if roll < 0.02 and placed:
            cid, oid, amount = placed[rng.randrange(len(placed))]
            yield _event("order_cancelled", oid, cid, amount, now)
            continue
        if roll < 0.06 and placed:
            cid, oid, amount = placed[rng.randrange(len(placed))]
            yield _event("order_refunded", oid, cid, f"{float(amount) * 0.3:.2f}", now)
            continue
        if roll < 0.46 or not customers:
            customers += 1
            cid = f"{tag}{customers}"
        else:
            cid = f"{tag}{rng.randint(1, customers)}"
        oid, amount = f"{cid}-{rng.getrandbits(40):x}", f"{rng.uniform(5, 150):.2f}"
        placed.append((cid, oid, amount))
        if len(placed) > 50_000:
            del placed[:10_000]
        yield _event("order_placed", oid, cid, amount, now)


def event_time(message: Message) -> int:
    """A message's ``occurred_at`` as epoch seconds (the workloads write whole seconds, UTC)."""
    stamp = orjson.loads(message[1])["occurred_at"]
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def with_subscriptions(orders: list[Message], share: float = 0.3, seed: int = 11,
                       prefix: str = "sub") -> list[Message]:
    """As many messages as ``orders``: its first ``1 - share`` in time, and ``share`` of
    subscription events over the span those orders cover, merged in event-time order.

    ``orders`` must be in event-time order (as :func:`shop` gives them). The subscription
    events come from subscribers ``{prefix}{n:06d}`` of ``synthetic_subscriptions``; to hit
    the count exactly, whole subscribers are taken in order and the last one only up to a
    point in its history (a prefix of a subscriber's events is itself a valid history).
    Ties in event time put the order first.
    """
    wanted = round(len(orders) * share)
    kept = orders[:len(orders) - wanted]
    if not wanted or not kept:
        return kept + _subscription_events(wanted, SHOP_END - 540 * DAY, SHOP_END, seed, prefix)
    first, last = event_time(kept[0]), event_time(kept[-1])
    subscriptions = _subscription_events(wanted, first, last, seed, prefix)
    timed_orders = ((event_time(m), 0, m) for m in kept)
    timed_subscriptions = ((event_time(m), 1, m) for m in subscriptions)
    return [m for _, _, m in heapq.merge(timed_orders, timed_subscriptions)]


def _subscription_events(count: int, first: int, last: int, seed: int,
                         prefix: str) -> list[Message]:
    """Exactly ``count`` subscription events in time order, all within ``[first, last]``."""
    if count <= 0:
        return []
    days = max(1, (last - first) // DAY)  # the generator's span ends at ``last``, whole days
    end = datetime.fromtimestamp(last, UTC)
    subscribers = max(1, count // 4)
    while True:
        events = list(synthetic_subscriptions(subscribers, days=days, end=end, seed=seed,
                                              prefix=prefix))
        if len(events) >= count:
            break
        subscribers = math.ceil(subscribers * count / max(len(events), 1) * 1.1) + 1
    per_customer: dict[str, int] = {}
    for event in events:
        cid = event["customer_id"]
        per_customer[cid] = per_customer.get(cid, 0) + 1
    quota: dict[str, int] = {}  # subscribers in order, until ``count`` events are taken
    left = count
    for cid in sorted(per_customer):
        if not left:
            break
        quota[cid] = min(per_customer[cid], left)
        left -= quota[cid]
    out: list[Message] = []
    for event in events:  # time order; each subscriber's first ``quota`` events
        cid = event["customer_id"]
        if quota.get(cid, 0) > 0:
            quota[cid] -= 1
            out.append((cid.encode(), orjson.dumps(event)))
    return out

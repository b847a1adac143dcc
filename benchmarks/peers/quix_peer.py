"""The Quix Streams peer: the same per-customer aggregates, in Quix's RocksDB state.

Per message (keyed by customer id), in one state value per customer (one read, one write):
dedupe by ``event_id`` (ids seen within the dedupe window, by event time), apply the order
to its per-order state (placed once, refunds add up, a cancel voids the order), keep the
customer's summary (orders, net revenue, first and last order, purchase days) and emit one
record per order with that summary. No scoring, no segments. State is local (RocksDB) with
Quix's changelog topics on, its durable default::

    python -m benchmarks.peers.quix_peer --bootstrap 127.0.0.1:9092 --input orders \
        --output quix.out --group quix --state-dir /tmp/quix-state
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from quixstreams import Application, State

DAY = 86400
WINDOW_S = 7 * DAY
#: Tansu holds a JoinGroup for half the rebalance timeout (librdkafka: max.poll.interval.ms).
CONSUMER = {"session.timeout.ms": 6000, "max.poll.interval.ms": 6000, "heartbeat.interval.ms": 1000}


def _apply(event: dict[str, Any], state: State) -> dict[str, Any]:
    """One state read and one write per order: the customer's whole aggregate is one value."""
    event_id = event.get("event_id") or f"{event['order_id']}:{event['event_type']}"
    agg = state.get("agg") or {"n": 0, "net": 0, "first": None, "last": None, "days": {},
                               "orders": {}, "seen": {}}
    ts = int(datetime.fromisoformat(event["occurred_at"]).timestamp())
    if event_id not in agg["seen"]:
        agg["seen"][event_id] = ts
        _expire(agg["seen"], ts)
        order = agg["orders"].setdefault(event["order_id"], [None, 0, 0, False])
        before = _net(order)
        amount = int(Decimal(str(event["amount"])) * 100)
        kind = event["event_type"]
        if kind == "order_placed" and order[0] is None:
            order[0], order[1] = amount, ts
        elif kind == "order_refunded":
            order[2] += amount
        elif kind == "order_cancelled":
            order[3] = True
        _update(agg, order, before, _net(order))
        state.set("agg", agg)
    return {"customer_id": event["customer_id"], "source_event_id": event_id,
            "orders": agg["n"], "net_revenue": agg["net"], "first_order_at": agg["first"],
            "last_order_at": agg["last"], "purchase_days": len(agg["days"])}


def _expire(seen: dict[str, int], now: int) -> None:
    if len(seen) > 64:  # keep the dedupe window bounded
        for key in [k for k, t in seen.items() if t < now - WINDOW_S]:
            del seen[key]


def _net(order: list[Any]) -> int | None:
    placed, _, refunded, cancelled = order
    if placed is None or cancelled:
        return None
    return int(max(0, placed - refunded))


def _update(agg: dict[str, Any], order: list[Any], before: int | None, after: int | None) -> None:
    day = str(order[1] // DAY)
    if before is not None:
        agg["n"] -= 1
        agg["net"] -= before
        agg["days"][day] -= 1
        if not agg["days"][day]:
            del agg["days"][day]
    if after is not None:
        agg["n"] += 1
        agg["net"] += after
        agg["days"][day] = agg["days"].get(day, 0) + 1
        agg["first"] = min(agg["first"] or order[1], order[1])
        agg["last"] = max(agg["last"] or order[1], order[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "input", "output", "group", "state-dir"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--no-changelog", action="store_true",
                        help="local state only (no changelog topics: faster, not recoverable)")
    args = parser.parse_args(argv)
    app = Application(broker_address=args.bootstrap, consumer_group=args.group,
                      auto_offset_reset="earliest", state_dir=args.state_dir, loglevel="WARNING",
                      consumer_extra_config=CONSUMER, use_changelog_topics=not args.no_changelog)
    source = app.topic(args.input, key_deserializer="str", value_deserializer="json")
    config = source.broker_config  # Tansu's DescribeConfigs leaves retention.ms out
    config.extra_config.setdefault("retention.ms", "-1")
    source.broker_config = config
    out = app.topic(args.output, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source).apply(_apply, stateful=True)
    # Quix keeps the input's timestamp on outputs; stamp them when produced, as the others do
    sdf.set_timestamp(lambda _value, _key, _ts, _headers: int(time.time() * 1000)).to_topic(out)
    app.run()


if __name__ == "__main__":
    main()

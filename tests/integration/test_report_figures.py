"""The report's figures (KPIs, channels, cohorts) equal a pandas computation over the
deduplicated events, for a stream with refunds, cancellations (a customer's first order
among them), an earlier order delivered last, duplicates and marketing-spend corrections,
in two shuffles; and serving reports never scans the customers."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import redis

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.corpus import order
from tests.integration.harness import Harness, until

START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
DAY = 86_400
CHANNELS = ["web", "app", "email", None]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _month(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    return d.year * 12 + d.month - 1


def stream(seed: int) -> list[dict[str, Any]]:
    """Orders over two years and a half, with everything a real feed does to them."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    for c in range(120):
        cid = f"c{c}"
        times = sorted(START + rng.randrange(900 * DAY) for _ in range(rng.randint(1, 6)))
        for i, ts in enumerate(times):
            oid = f"{cid}-o{i}"
            placed = order(order_id=oid, customer_id=cid, occurred_at=_iso(ts),
                           amount=f"{rng.randint(500, 30000) / 100:.2f}",
                           channel=rng.choice(CHANNELS))
            if placed["channel"] is None:
                del placed["channel"]
            (late if i == 0 and c % 7 == 0 else events).append(placed)  # earliest, delivered last
            if rng.random() < 0.15 or (i == 0 and c % 5 == 0):
                events.append(order(event_type="order_cancelled", order_id=oid, customer_id=cid,
                                    occurred_at=_iso(ts + DAY), amount="0"))
            elif rng.random() < 0.2:
                for r in range(rng.randint(1, 2)):
                    events.append(order(event_type="order_refunded", order_id=oid,
                                        customer_id=cid, event_id=f"{oid}-r{r}",
                                        occurred_at=_iso(ts + (r + 2) * DAY),
                                        amount=f"{rng.randint(100, 900) / 100:.2f}"))
    for channel in ("web", "app", "email"):
        for m in range(30):
            year, month = divmod(2023 * 12 + m, 12)
            name = f"{year}-{month + 1:02d}"
            at = int(datetime(year, month + 1, 1, tzinfo=UTC).timestamp()) + 20 * DAY
            first = {"schema_version": 1, "event_type": "marketing_spend",
                     "event_id": f"sp-{channel}-{name}-a", "channel": channel, "month": name,
                     "amount": f"{rng.randint(20, 400)}.00", "currency": "USD",
                     "occurred_at": _iso(at)}
            events.append(first)
            if m % 4 == 0:  # a correction, later in event time
                events.append({**first, "event_id": f"sp-{channel}-{name}-b",
                               "amount": f"{rng.randint(20, 400)}.00",
                               "occurred_at": _iso(at + 3 * DAY)})
    rng.shuffle(events)
    events += late
    events += rng.sample(events, 40)  # duplicates: the same event_id again
    return events


def expected(events: list[dict[str, Any]], months: int = 12) -> dict[str, Any]:
    """The report's figures from the deduplicated events, with pandas."""
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        key = e.get("event_id") or f"{e['order_id']}:{e['event_type']}"
        seen.setdefault(f"{e.get('customer_id', '')}\t{key}", e)
    df = pd.DataFrame(list(seen.values()))
    df["ts"] = df["occurred_at"].map(lambda s: int(datetime.fromisoformat(s).timestamp()))
    df["minor"] = (df["amount"].astype(float) * 100).round().astype(int)
    as_of = int(df["ts"].max())
    last = _month(as_of)
    first = last - months + 1
    placed = df[df.event_type == "order_placed"].drop_duplicates(["customer_id", "order_id"])
    refunds = df[df.event_type == "order_refunded"].groupby(["customer_id", "order_id"]).minor.sum()
    cancelled = set(map(tuple, df[df.event_type == "order_cancelled"][
        ["customer_id", "order_id"]].to_numpy()))
    o = placed.set_index(["customer_id", "order_id"])
    o = o[[k not in cancelled for k in o.index]].copy()
    o["net"] = (o["minor"] - refunds.reindex(o.index).fillna(0).astype(int)).clip(lower=0)
    o["month"] = o["ts"].map(_month)
    o["day"] = o["ts"] // DAY
    o["channel"] = o["channel"].fillna("unknown") if "channel" in o else "unknown"
    o = o.reset_index()
    firsts = o.sort_values(["ts", "channel"]).groupby("customer_id").first()
    cust = pd.DataFrame({"cohort": firsts["month"], "channel": firsts["channel"],
                         "days": o.groupby("customer_id").day.nunique(),
                         "profit": o.groupby("customer_id").net.sum()})
    in_period = o[(o.month >= first) & (o.month <= last)]
    active = set(in_period.customer_id)
    before = set(o[(o.month >= first - months) & (o.month < first)].customer_id)
    orders, revenue = len(in_period), int(in_period.net.sum())
    spend = df[df.event_type == "marketing_spend"].sort_values(["ts", "event_id"])
    spend = spend.groupby(["channel", "month"]).last().minor.reset_index()
    spend["m"] = spend["month"].map(lambda s: int(s[:4]) * 12 + int(s[5:]) - 1)
    spend = spend[(spend.m >= first) & (spend.m <= last)].groupby("channel").minor.sum()
    new = cust[(cust.cohort >= first) & (cust.cohort <= last)]
    channels = {}
    for x in sorted(set(new.channel) | set(spend.index)):
        mine = new[new.channel == x]
        cac = spend.get(x, 0) / 100 / len(mine) if len(mine) and x in spend else None
        monthly = (mine.profit.sum() / 100 / (last - mine.cohort + 1).sum()) if len(mine) else 0
        channels[x] = {"customers": len(mine), "spend": spend.get(x, 0) / 100, "cac": cac,
                       "payback_months": cac / monthly if cac is not None and monthly else None}
    cohorts = {}
    for c, members in new.groupby("cohort"):
        mine = o[o.customer_id.isin(members.index)]
        ks = range(last - c + 1)
        cohorts[f"{c // 12:04d}-{c % 12 + 1:02d}"] = {
            "customers": len(members),
            "retention": [mine[mine.month == c + k].customer_id.nunique() / len(members)
                          for k in ks],
            "revenue_per_customer": [mine[mine.month <= c + k].net.sum() / 100 / len(members)
                                     for k in ks]}
    return {
        "as_of": as_of, "customers": len(cust), "active_customers": len(active),
        "repeat_purchase_rate": (cust.days >= 2).sum() / len(cust),
        "retention_rate": len(active & before) / len(before),
        "orders": orders, "revenue": revenue / 100,
        "average_order_value": revenue / 100 / orders,
        "purchase_frequency": orders / len(active),
        "by_channel": channels, "cohorts": cohorts,
    }


def _close(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= tol


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_report_figures_equal_pandas_over_the_events(
        seed: int, kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis,
        redis_client: redis.Redis) -> None:
    events = stream(seed)
    want = expected(events)
    with Harness.running(kafka_broker, redis_server, report_interval=0.2) as h:
        await h.wait_applied(await h.produce_events(events))

        def report() -> dict[str, Any] | None:
            status, body = h.get("/report")
            found = json.loads(body) if status == 200 else None
            return found if found and found["kpis"]["orders"] == want["orders"] else None

        scans = int(redis_client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
        got = until(report, 60.0, "the report catching up with the stream")
        for _ in range(5):
            assert h.get("/report?period=P6M")[0] == 200
        after = int(redis_client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
    assert after == scans, "serving reports ran SCAN"
    assert got["as_of"] == _iso(want["as_of"])
    k = got["kpis"]
    for name in ("customers", "active_customers", "orders"):
        assert k[name] == want[name], name
    for name in ("repeat_purchase_rate", "retention_rate", "purchase_frequency"):
        assert _close(k[name], want[name], 1e-4), name
    for name in ("revenue", "average_order_value"):
        assert _close(k[name], want[name], 0.0051), name
    assert set(got["by_channel"]) == set(want["by_channel"])
    for x, w in want["by_channel"].items():
        g = got["by_channel"][x]
        assert g["customers"] == w["customers"], x
        assert _close(g["spend"], w["spend"], 0.0051), x
        assert _close(g["cac"], w["cac"], 0.0051), x
        assert _close(g["payback_months"], w["payback_months"], 0.01), x
    assert set(got["cohorts"]) == set(want["cohorts"])
    for c, w in want["cohorts"].items():
        g = got["cohorts"][c]
        assert g["customers"] == w["customers"], c
        assert all(_close(a, b, 1e-4) for a, b in zip(g["retention"], w["retention"], strict=True))
        assert all(_close(a, b, 0.0051) for a, b in zip(g["revenue_per_customer"],
                                                         w["revenue_per_customer"], strict=True))

"""Issue 24's evidence: 10,000 synthetic subscribers streamed shuffled, with duplicates and a
``kill -9`` of the worker mid-stream, and the report's ``subscriptions`` section equals a
batch computation over the deduplicated events alone.

The batch side is written here with pandas and does not call
:mod:`clv_stream.domain.subscriptions`: it replays each subscription's events in time order
by the contract's rules, takes each customer's month-end MRR, and counts the movements,
rates and renewals from those.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.pipeline import CustomerViews
from clv_stream.report import subscription_report
from clv_stream.sources import synthetic_subscriptions
from tests.integration.harness import Harness

pytestmark = pytest.mark.slow

END = datetime(2025, 1, 1, tzinfo=UTC)
SEED = 2024
DUPLICATE_SHARE = 0.05
#: records a batch: larger than the default, so a customer is scored fewer times over
BATCH = 10_000
#: MRR of one unit of amount charged every ``interval``: 12/12, 1/12, 52/12, 365.25/12
PER_MONTH = {"month": Fraction(1), "year": Fraction(1, 12), "week": Fraction(52, 12),
             "day": Fraction(1461, 48)}
#: the order of events of one subscription at the same instant
RANK = {"started": 0, "reactivated": 1, "changed": 2, "renewed": 3, "cancelled": 4}
_UNIT_S = {"day": 86_400, "week": 7 * 86_400}


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _plus_months(ts: int, months: int) -> int:
    """Calendar months later, the day clamped to the month's last (dateutil's relativedelta)."""
    return int((datetime.fromtimestamp(ts, UTC) + relativedelta(months=months)).timestamp())


def _month(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    return d.year * 12 + d.month - 1


def _month_start(index: int) -> int:
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


# -- the batch side: one subscription replayed ---------------------------------------------

@dataclass
class _Replay:
    """One subscription's MRR over time and its paid periods, from its events in order."""

    grace_s: int
    terms: tuple[int, str, int] = (0, "month", 1)  # amount (minor units), unit, count
    live: bool = False
    end: int = 0
    chain: tuple[int, int] | None = None  # (anchor, months) while periods are calendar
    cancel_at: int | None = None
    points: list[tuple[int, Fraction]] = field(default_factory=list)  # MRR from ts on
    periods: list[list[Any]] = field(default_factory=list)  # [end, renewed, cut]

    def mark(self, ts: int, mrr: Fraction) -> None:
        if self.points and self.points[-1][0] == ts:
            self.points.pop()
        self.points.append((ts, mrr))

    def extend(self, start: int) -> None:
        """One more paid period from ``start`` with the current terms."""
        _, unit, count = self.terms
        if unit in _UNIT_S:
            self.chain, self.end = None, start + _UNIT_S[unit] * count
        else:
            anchor, months = self.chain or (start, 0)
            months += count * (12 if unit == "year" else 1)
            self.chain, self.end = (anchor, months), _plus_months(anchor, months)
        self.periods.append([self.end, False, False])

    def start_run(self, ts: int, terms: tuple[int, str, int]) -> None:
        self.terms, self.live, self.cancel_at, self.chain = terms, True, None, None
        self.extend(ts)
        self.mark(ts, _mrr(terms))

    def lapse(self, t: int) -> None:
        """End the run if by ``t`` its cancellation took effect or the grace ran out."""
        if not self.live:
            return
        stop, deadline = self.end, self.end + self.grace_s
        if self.cancel_at is not None:
            stop, deadline = min(stop, self.cancel_at), min(deadline, self.cancel_at)
        if t < deadline:
            return
        self.live = False
        self.points = [p for p in self.points if p[0] <= stop]  # terms set in the grace: void
        self.periods[-1][2] = stop < self.end
        self.mark(stop, Fraction(0))

    def apply(self, kind: str, ts: int, terms: tuple[int, str, int],
              effective_at: int | None) -> None:
        self.lapse(ts)
        if kind == "started" or (kind in ("renewed", "reactivated") and not self.live):
            self.start_run(ts, terms)
        elif kind in ("renewed", "reactivated"):
            self.periods[-1][1] = True
            self.terms, self.cancel_at = terms, None
            self.extend(self.end)
            self.mark(ts, _mrr(terms))
        elif kind == "changed" and self.live:
            self.terms = terms
            self.mark(ts, _mrr(terms))
        elif kind == "cancelled" and self.live:
            self.cancel_at = max(ts, self.end if effective_at is None else effective_at)


def _mrr(terms: tuple[int, str, int]) -> Fraction:
    amount, unit, count = terms
    return amount * PER_MONTH[unit] / count


# -- the batch side: events -> report ------------------------------------------------------

def _deduplicated(stream: list[dict[str, Any]], rates: dict[str, Decimal]) -> pd.DataFrame:
    """One row per (customer, event_id), with epoch times and amounts in USD cents."""
    df = pd.DataFrame(stream).drop_duplicates(["customer_id", "event_id"]).copy()
    df["kind"] = df["event_type"].str.removeprefix("subscription_")
    df["ts"] = df["occurred_at"].map(_epoch)
    df["effective"] = [None if pd.isna(t) else _epoch(t) for t in df["effective_at"]]

    def minor(amount: Any, currency: Any) -> int | None:
        if pd.isna(amount):
            return None
        usd = Decimal(amount) * rates.get(currency, Decimal(1))
        return int(usd.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) * 100)

    df["minor"] = [minor(a, c) for a, c in zip(df["amount"], df["currency"], strict=True)]
    df["rank"] = df["kind"].map(RANK)
    return df.sort_values(["customer_id", "subscription_id", "ts", "rank", "event_id"])


def _replays(df: pd.DataFrame, as_of: int, grace_s: int) -> dict[tuple[str, str], _Replay]:
    """Each subscription replayed from its events (``df`` is in replay order)."""
    replays: dict[tuple[str, str], _Replay] = {}
    for e in df.itertuples():
        key = (str(e.customer_id), str(e.subscription_id))
        r = replays.get(key)
        if r is None:
            assert e.kind == "started", "the generator starts every subscription first"
            r = replays[key] = _Replay(grace_s)
        amount, unit, count = r.terms
        terms = (amount if pd.isna(e.minor) else int(e.minor),
                 unit if pd.isna(e.interval) else str(e.interval),
                 count if pd.isna(e.interval_count) else int(e.interval_count))
        r.apply(str(e.kind), int(e.ts), terms, None if pd.isna(e.effective) else int(e.effective))
    for r in replays.values():
        r.lapse(as_of)
    return replays


def _month_ends(replays: dict[tuple[str, str], _Replay], as_of: int, scale: int) -> pd.DataFrame:
    """Each customer's MRR (x ``scale``, an exact integer) at each month end from its first
    start to ``as_of``'s month (whose end is ``as_of``)."""
    points = pd.DataFrame(
        [(cid, sid, ts, int(mrr * scale)) for (cid, sid), r in replays.items()
         for ts, mrr in r.points], columns=["customer_id", "subscription_id", "ts", "mrr"])
    assert all((mrr * scale).denominator == 1 for r in replays.values() for _, mrr in r.points)
    first = points.groupby("customer_id")["ts"].min().map(_month)
    last = _month(as_of)
    grid = first.map(lambda m: list(range(m, last + 1))).explode().rename("month").reset_index()
    subs = points[["customer_id", "subscription_id"]].drop_duplicates()
    grid = grid.merge(subs, on="customer_id")
    grid["instant"] = [as_of + 1 if m == last else _month_start(m + 1) for m in grid["month"]]
    found = pd.merge_asof(grid.sort_values("instant").astype({"instant": "int64"}),
                          points.sort_values("ts")[["subscription_id", "ts", "mrr"]],
                          left_on="instant", right_on="ts", by="subscription_id",
                          allow_exact_matches=False)
    found["mrr"] = found["mrr"].fillna(0).astype("int64")
    ends = found.groupby(["customer_id", "month"], as_index=False)["mrr"].sum()
    return ends.sort_values(["customer_id", "month"])


def _movements(ends: pd.DataFrame) -> pd.DataFrame:
    """Per customer and month: its MRR movement (start vs end of month) and its counts."""
    m = ends.rename(columns={"mrr": "end"})
    by_customer = m.groupby("customer_id")["end"]
    m["start"] = by_customer.shift(fill_value=0)
    m["ever"] = (m["start"] > 0).groupby(m["customer_id"]).cummax()
    came = (m["start"] == 0) & (m["end"] > 0)
    left = (m["start"] > 0) & (m["end"] == 0)
    up = (m["start"] > 0) & (m["end"] > m["start"])
    down = (m["end"] > 0) & (m["end"] < m["start"])
    m["new"] = (m["end"]).where(came & ~m["ever"], 0)
    m["reactivation"] = (m["end"]).where(came & m["ever"], 0)
    m["churned"] = (m["start"]).where(left, 0)
    m["expansion"] = (m["end"] - m["start"]).where(up, 0)
    m["contraction"] = (m["start"] - m["end"]).where(down, 0)
    m["customers_new"] = came & ~m["ever"]
    m["customers_reactivated"] = came & m["ever"]
    m["customers_churned"] = left
    m["active_start"] = m["start"] > 0
    m["active_end"] = m["end"] > 0
    return m


def _renewals(replays: dict[tuple[str, str], _Replay], as_of: int) -> pd.DataFrame:
    """Per month: paid periods that ended by ``as_of`` (and were not cut short), and how
    many of them a charge extended."""
    periods = pd.DataFrame([(_month(end), renewed) for r in replays.values()
                            for end, renewed, cut in r.periods if end <= as_of and not cut],
                           columns=["month", "renewed"])
    return periods.groupby("month").agg(renewals_due=("renewed", "size"),
                                         renewed=("renewed", "sum"))


def _money(scaled: int, scale: int) -> str:
    """Half-even to cents, once, as dollars."""
    return f"{Decimal(round(Fraction(int(scaled), int(scale)))).scaleb(-2):.2f}"


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else float(round(Fraction(int(numerator), int(denominator)), 6))


def batch_report(stream: list[dict[str, Any]], rates: dict[str, Decimal], as_of: int,
                 grace_s: int) -> dict[str, Any]:
    """The report's ``subscriptions`` section, computed from the events in one pass."""
    df = _deduplicated(stream, rates)
    scale = 48 * math.lcm(*(int(c) for c in df["interval_count"].dropna().unique()))
    replays = _replays(df, as_of, grace_s)
    moves = _movements(_month_ends(replays, as_of, scale))
    sums = ["start", "end", "new", "expansion", "contraction", "churned", "reactivation",
            "customers_new", "customers_reactivated", "customers_churned", "active_start",
            "active_end"]
    months = moves.groupby("month")[sums].sum().join(_renewals(replays, as_of)).fillna(0)
    rows = []
    for month, t in months.astype("int64").iterrows():
        net = t["new"] + t["expansion"] + t["reactivation"] - t["contraction"] - t["churned"]
        lost = t["churned"] + t["contraction"]
        rows.append({
            "month": f"{month // 12:04d}-{month % 12 + 1:02d}",
            "mrr_start": _money(t["start"], scale),
            **{k: _money(t[k], scale) for k in ("new", "expansion", "contraction", "churned",
                                               "reactivation")},
            "net_new": _money(net, scale),
            "mrr_end": _money(t["end"], scale),
            **{k: int(t[k]) for k in ("active_start", "active_end", "customers_new",
                                      "customers_reactivated", "customers_churned")},
            "logo_churn": _rate(t["customers_churned"], t["active_start"]),
            "gross_revenue_churn": _rate(lost, t["start"]),
            "net_revenue_churn": _rate(lost - t["expansion"], t["start"]),
            "renewals_due": int(t["renewals_due"]),
            "renewed": int(t["renewed"]),
            "renewal_rate": _rate(t["renewed"], t["renewals_due"]),
        })
    mrr, active = int(months["end"].iloc[-1]), int(months["active_end"].iloc[-1])
    return {
        "mrr": _money(mrr, scale),
        "arr": _money(12 * mrr, scale),
        "active_subscribers": active,
        "arpu": _money(mrr, scale * active) if active else None,
        "months": rows,
    }


# -- the stream side -------------------------------------------------------------------------

def _stream() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The generator's events, and the published stream: shuffled (a fixed seed), with
    ``DUPLICATE_SHARE`` of the events sent twice at random places."""
    events = list(synthetic_subscriptions(10_000, currencies=("USD", "EUR"), end=END))
    rng = random.Random(SEED)
    stream = events + rng.sample(events, int(len(events) * DUPLICATE_SHARE))
    rng.shuffle(stream)
    return events, stream


async def _applied_count(h: Harness) -> int:
    store = h.store()
    try:
        return sum(o + 1 for o in (await store.applied_offsets(h.settings.topic_orders)).values())
    finally:
        await store.close()


async def _subscriptions_report(h: Harness) -> dict[str, Any]:
    """The report's ``subscriptions`` section (``report.subscription_report``, what
    ``build_report`` puts there, without the scan of every customer) and its clock."""
    store = h.store()
    try:
        clock = await store.clock()
        section = await subscription_report(store, CustomerViews(h.settings, store),
                                            h.settings.default_tenant, clock)
    finally:
        await store.close()
    assert section is not None
    return {"clock": clock, **section}


async def _kill_mid_stream(h: Harness, redis_server: EmbeddedRedis,
                           messages: list[dict[str, Any]], high: dict[int, int]) -> None:
    """Publish ``messages`` while Redis is paused (a batch is in flight for certain), kill -9
    the worker, let Redis go on (crash_recovery's way)."""
    assert redis_server.pid is not None
    assert h.worker is not None
    assert h.worker.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        for p, o in (await h.produce_events(messages)).items():
            high[p] = max(high.get(p, -1), o)
        os.killpg(h.worker.pid, signal.SIGKILL)
        h.worker.stop()
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)


async def test_streamed_mrr_report_equals_the_batch_computation(
        kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> None:
    events, stream = _stream()
    first, second = len(stream) * 2 // 5, len(stream) * 7 // 10
    with Harness.running(kafka_broker, redis_server, batch_max_records=BATCH) as h:
        as_of = max(_epoch(e["occurred_at"]) for e in events)
        grace_s = int(h.settings.subscription_grace.total_seconds())
        # the batch side runs in a thread while the worker works (another process)
        batch = asyncio.create_task(asyncio.to_thread(
            batch_report, events, dict(h.settings.fx_rates), as_of, grace_s))
        high = await h.produce_events(stream[:first])
        await h.wait_applied(high, limit_s=120)
        await _kill_mid_stream(h, redis_server, stream[first:second], high)
        applied_at_kill = await _applied_count(h)
        assert 0 < applied_at_kill < sum(o + 1 for o in high.values()), "not killed mid-stream"
        for p, o in (await h.produce_events(stream[second:])).items():
            high[p] = max(high.get(p, -1), o)
        h.start_worker()
        await h.wait_confirmed(high, limit_s=120)
        await h.wait_nothing_due()
        streamed = await _subscriptions_report(h)

        # the restarted worker sent a sample of the stream once more: nothing counts twice
        rng = random.Random(SEED + 1)
        for p, o in (await h.produce_events(rng.sample(stream, len(stream) // 20))).items():
            high[p] = max(high.get(p, -1), o)
        await h.wait_confirmed(high, limit_s=60)
        await h.wait_nothing_due()
        again = await _subscriptions_report(h)
        expected = await batch

    assert streamed["clock"] == as_of
    assert len(expected["months"]) >= 18
    assert {k: v for k, v in streamed.items() if k != "clock"} == expected
    assert again == streamed

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv_stream.domain.mrr import Mrr
from clv_stream.domain.subscription_portfolio import MOVEMENTS, contributions, customer_months, portfolio
from clv_stream.domain.subscriptions import SubEvent, SubscriptionFold, SubscriptionState, states_of

D = 86400
GRACE = 3 * D


def at(month: int, day: int, year: int = 2024, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def start(ts: int, amount: int = 1000, unit: str = "month", count: int = 1, sid: str = "A",
          eid: str | None = None) -> SubEvent:
    return SubEvent("s", eid or f"{sid}:s", sid, ts, amount, unit, count)


def renew(ts: int, amount: int = 1000, sid: str = "A", eid: str | None = None) -> SubEvent:
    return SubEvent("n", eid or f"{sid}:n:{ts}", sid, ts, amount)


def change(ts: int, amount: int, unit: str = "month", count: int = 1, sid: str = "A") -> SubEvent:
    return SubEvent("h", f"{sid}:h:{ts}", sid, ts, amount, unit, count)


def cancel(ts: int, effective: int | None = None, sid: str = "A") -> SubEvent:
    return SubEvent("x", f"{sid}:x:{ts}", sid, ts, effective_at=effective)


def reactivate(ts: int, amount: int, unit: str = "month", count: int = 1, sid: str = "A") -> SubEvent:
    return SubEvent("a", f"{sid}:a:{ts}", sid, ts, amount, unit, count)


def state(events: list[SubEvent], as_of: int) -> SubscriptionState:
    return SubscriptionState.of(events, as_of, GRACE)


def contrib(events: list[SubEvent], as_of: int) -> Counter[tuple[str, str]]:
    return contributions(states_of(events, as_of, GRACE).values(), as_of)


def per_month(events: list[SubEvent], as_of: int) -> dict[str, int]:
    """Month-end MRR in whole minor units."""
    return {m: v.to_minor() for m, v in customer_months(states_of(events, as_of, GRACE).values(),
                                                         as_of).items()}


# -- exact MRR ------------------------------------------------------------------------------

PER_MONTH = {"month": Fraction(1), "year": Fraction(1, 12), "week": Fraction(52, 12),
             "day": Fraction(36525, 100 * 12)}


@given(st.integers(0, 10**9), st.sampled_from(sorted(PER_MONTH)), st.integers(1, 36))
def test_mrr_is_the_amount_per_month_exactly(amount: int, unit: str, count: int) -> None:
    assert Mrr.of(amount, unit, count).value == amount * PER_MONTH[unit] / count


@given(st.lists(st.tuples(st.integers(1, 12), st.integers(-10**6, 10**6)), max_size=6),
       st.lists(st.tuples(st.integers(1, 12), st.integers(-10**6, 10**6)), max_size=6))
def test_mrr_sums_and_differences_are_exact(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    x, y = Mrr(a), Mrr(b)
    assert (x + y).value == x.value + y.value
    assert (x - y).value == x.value - y.value
    assert (x - y) + y == x  # component-wise, not only in value
    assert (x < y) == (x.value < y.value)


def test_mrr_rounds_half_even_once() -> None:
    assert Mrr({1: 24}).to_minor() == 0  # 0.5
    assert Mrr({1: 72}).to_minor() == 2  # 1.5
    assert Mrr.of(1, "year", 1).to_minor() == 0  # 1/12 of a cent
    seven = [start(at(1, 1), 1, "year", sid=f"S{i}") for i in range(7)]
    totals = contrib(seven, at(1, 20))
    assert portfolio(totals, at(1, 20), 2)["mrr"] == "0.01"  # 7/12 rounded once, not 7 x 0


def test_equal_value_different_components_are_not_equal_mappings() -> None:
    assert Mrr({1: 48}).value == Mrr({2: 96}).value
    assert Mrr({1: 48}) != Mrr({2: 96})
    assert Mrr({1: 48}) <= Mrr({2: 96}) <= Mrr({1: 48})


# -- one subscription: the rules ------------------------------------------------------------

def test_start_opens_a_period_and_renewals_extend_from_the_period_end() -> None:
    s = state([start(at(1, 31)), renew(at(2, 27)), renew(at(3, 31, hour=5))], at(4, 10))
    assert s.status == "active"
    assert [(p.start, p.end, p.renewed) for p in s.periods] == [
        (at(1, 31), at(2, 29), True), (at(2, 29), at(3, 31), True), (at(3, 31), at(4, 30), False),
    ]  # calendar months from the anchor: Jan 31 -> Feb 29 -> Mar 31
    assert (s.renewals, s.paid_minor, s.cohort) == (2, 3000, "2024-01|month")
    assert s.mrr == Mrr({1: 48000})


def test_upgrade_is_expansion_at_the_change_time() -> None:
    events = [start(at(1, 1)), renew(at(2, 1)), change(at(2, 10), 2500)]
    s = state(events, at(3, 3))
    assert s.timeline == ((at(1, 1), Mrr.of(1000, "month", 1)), (at(2, 10), Mrr.of(2500, "month", 1)))
    assert s.periods[-1].end == at(3, 1)  # a change keeps the paid period end
    assert contrib(events, at(2, 20)) == Counter({
        ("2024-01", "new:1"): 48000, ("2024-01", "customers_new"): 1,
        ("2024-02", "expansion:1"): 1500 * 48,
        ("2024-02", "renewals_due"): 1, ("2024-02", "renewed"): 1,
    })


def test_downgrade_is_contraction() -> None:
    events = [start(at(1, 1), 3000), change(at(1, 20), 1000)]
    c = contrib(events, at(1, 25))
    assert c[("2024-01", "new:1")] == 1000 * 48  # per customer: month start 0, month end 10.00
    c = contrib([start(at(1, 1), 3000), renew(at(2, 1), 3000), change(at(2, 20), 1000)], at(2, 25))
    assert c[("2024-02", "contraction:1")] == 2000 * 48


def test_interval_change_moves_by_the_difference_and_renews_by_the_new_interval() -> None:
    events = [start(at(1, 1), 1200), change(at(1, 15), 24000, "year"), renew(at(2, 1), 24000)]
    s = state(events, at(2, 10))
    assert s.periods[-1] == (at(2, 1), at(2, 1, 2025), False, False)
    moves = contrib([*events, renew(at(1, 1, 2025))], at(2, 10))
    assert moves[("2024-01", "new:1")] == 24000 * 4  # Jan ends on the yearly plan
    c = contrib([start(at(1, 1), 1200), renew(at(2, 1), 1200), change(at(2, 15), 24000, "year")], at(2, 20))
    expansion = Mrr({int(k[1].split(":")[1]): v for k, v in c.items() if k[1].startswith("expansion")})
    assert expansion.value == 2000 - 1200


def test_same_value_on_another_interval_count_is_no_movement() -> None:
    events = [start(at(1, 1), 3000), renew(at(2, 1), 3000), change(at(2, 15), 9000, "month", 3)]
    c = contrib(events, at(2, 20))
    assert not [k for k in c if k[0] == "2024-02" and ":" in k[1]]
    months = customer_months(states_of(events, at(2, 20), GRACE).values(), at(2, 20))
    assert months["2024-02"] == Mrr({3: 9000 * 48})


def test_cancel_at_once_ends_the_run_at_its_time() -> None:
    events = [start(at(1, 1)), renew(at(2, 1)), cancel(at(2, 15), at(2, 15))]
    s = state(events, at(2, 15))
    assert (s.status, s.churned_at, s.mrr) == ("churned", at(2, 15), Mrr())
    assert s.periods[-1].cut
    c = contrib(events, at(4, 1))
    assert c[("2024-02", "churned:1")] == 48000
    assert c[("2024-02", "customers_churned")] == 1
    assert c[("2024-03", "renewals_due")] == 0  # the Mar 1 end was never up for renewal


def test_cancel_at_period_end_keeps_it_paid_then_churns_at_the_end() -> None:
    events = [start(at(1, 1)), cancel(at(1, 10))]
    s = state(events, at(1, 20))
    assert (s.status, s.cancel_at, s.mrr.to_minor(), s.next_change_at) == (
        "cancelling", at(2, 1), 1000, at(2, 1))
    s = state(events, at(2, 1))
    assert (s.status, s.churned_at) == ("churned", at(2, 1))
    c = contrib(events, at(2, 5))
    assert (c[("2024-02", "churned:1")], c[("2024-02", "renewals_due")], c[("2024-02", "renewed")]) == (
        48000, 1, 0)


def test_no_renewal_churns_at_period_end_once_the_grace_passed() -> None:
    events = [start(at(1, 31))]  # paid to Feb 29
    during = state(events, at(3, 3) - 1)
    assert (during.status, during.mrr.to_minor(), during.next_change_at) == ("active", 1000, at(3, 3))
    assert per_month(events, at(3, 3) - 1)["2024-02"] == 1000
    after = state(events, at(3, 3))
    assert (after.status, after.churned_at) == ("churned", at(2, 29))
    assert contrib(events, at(3, 3))[("2024-02", "churned:1")] == 48000  # dated at period end


def test_a_renewal_within_the_grace_continues_without_a_gap() -> None:
    s = state([start(at(1, 1)), renew(at(2, 3))], at(2, 10))
    assert (s.status, s.reactivations, s.periods[-1].start) == ("active", 0, at(2, 1))
    assert s.timeline == ((at(1, 1), Mrr({1: 48000})),)


def test_changes_during_an_unrenewed_grace_are_void() -> None:
    s = state([start(at(1, 1)), change(at(2, 2), 5000)], at(3, 1))
    assert s.timeline == ((at(1, 1), Mrr({1: 48000})), (at(2, 1), Mrr()))


def test_reactivation_restarts_a_churned_subscription() -> None:
    events = [start(at(1, 1)), renew(at(2, 1)), cancel(at(2, 20), at(2, 20)), reactivate(at(4, 5), 2000)]
    s = state(events, at(4, 10))
    assert (s.status, s.reactivations, s.paid_minor, s.amount_minor) == ("active", 1, 4000, 2000)
    assert s.periods[-1] == (at(4, 5), at(5, 5), False, False)
    c = contrib(events, at(4, 10))
    assert c[("2024-04", "reactivation:1")] == 2000 * 48
    assert c[("2024-04", "customers_reactivated")] == 1
    assert c[("2024-04", "customers_new")] == 0


def test_a_charge_after_churn_is_a_reactivation() -> None:
    events = [start(at(1, 1)), renew(at(3, 10), 1500)]  # Feb 1 + grace passed without a renewal
    s = state(events, at(3, 20))
    assert (s.renewals, s.reactivations, s.status) == (0, 1, "active")
    assert s.timeline == ((at(1, 1), Mrr({1: 48000})), (at(2, 1), Mrr()), (at(3, 10), Mrr({1: 1500 * 48})))
    c = contrib(events, at(3, 20))
    assert (c[("2024-02", "churned:1")], c[("2024-03", "reactivation:1")]) == (48000, 1500 * 48)


def test_a_charge_while_cancelling_revokes_the_cancellation() -> None:
    s = state([start(at(1, 1)), cancel(at(1, 10)), renew(at(1, 30))], at(2, 10))
    assert (s.status, s.cancel_at, s.periods[-1].end) == ("active", None, at(3, 1))


def test_a_charge_at_the_cancellations_effective_time_is_a_reactivation() -> None:
    s = state([start(at(1, 1)), cancel(at(1, 10)), renew(at(2, 1))], at(2, 10))
    assert (s.reactivations, s.renewals, s.periods[0].renewed) == (1, 0, False)


def test_a_cancellation_at_once_beats_a_charge_of_the_same_second() -> None:
    events = [start(at(1, 1)), renew(at(2, 1)), cancel(at(2, 1), at(2, 1))]
    s = state(events, at(2, 2))
    assert (s.status, s.churned_at, s.paid_minor) == ("churned", at(2, 1), 2000)


def test_a_renewal_stamped_before_its_start_is_a_renewal_of_it() -> None:
    events = [renew(at(1, 1) - 3600), start(at(1, 1))]
    s = state(events, at(1, 20))
    assert (s.renewals, s.paid_minor, s.periods[-1].end, s.started_at) == (1, 2000, at(3, 1), at(1, 1))


def test_a_cancellation_arriving_before_the_renewal_it_follows() -> None:
    arrived = [start(at(1, 1)), cancel(at(2, 10)), renew(at(2, 1))]
    s = state(arrived, at(2, 20))
    assert (s.status, s.cancel_at) == ("cancelling", at(3, 1))  # the end the renewal paid for
    assert s == state(sorted(arrived, key=lambda e: e.ts), at(2, 20))


def test_duplicates_count_once() -> None:
    events = [start(at(1, 1)), renew(at(2, 1)), renew(at(2, 1)), start(at(1, 2), 9999, eid="other")]
    s = state(events, at(2, 10))
    assert (s.renewals, s.paid_minor, s.amount_minor) == (1, 2000, 1000)


def test_without_a_start_a_subscription_is_pending_and_adds_nothing() -> None:
    s = state([renew(at(2, 1))], at(2, 10))
    assert (s.status, s.paid_minor, s.timeline) == ("pending", 1000, ())
    assert contrib([renew(at(2, 1))], at(2, 10)) == Counter()


def test_a_customer_moving_plans_is_expansion_not_churn_plus_new() -> None:
    events = [start(at(1, 1), 1000, sid="A"), renew(at(2, 1), sid="A"),
              cancel(at(2, 15), at(2, 15), sid="A"), start(at(2, 15), 3000, sid="B")]
    c = contrib(events, at(2, 20))
    assert c[("2024-02", "expansion:1")] == 2000 * 48
    assert c[("2024-02", "churned:1")] == c[("2024-02", "customers_churned")] == 0


def test_weekly_and_daily_periods_are_fixed_seconds() -> None:
    s = state([start(at(1, 1), 700, "week", 2), renew(at(1, 15), 700)], at(1, 20))
    assert [p.end for p in s.periods] == [at(1, 15), at(1, 29)]
    assert s.mrr.value == Fraction(700 * 52, 12 * 2)
    assert state([start(at(1, 1), 10, "day", 3)], at(1, 2)).periods[-1].end == at(1, 4)


# -- the portfolio ----------------------------------------------------------------------------

def test_portfolio_figures_of_a_small_tenant() -> None:
    customers = {
        "c1": [start(at(1, 1), 1000, sid="c1"), renew(at(2, 1), sid="c1"), renew(at(3, 1), sid="c1")],
        "c2": [start(at(1, 15), 2000, sid="c2"), renew(at(2, 15), 2000, sid="c2"),
               change(at(2, 20), 1500, sid="c2"), cancel(at(3, 2), at(3, 2), sid="c2")],
        "c3": [start(at(2, 3), 12000, "year", sid="c3")],
    }
    as_of = at(3, 10)
    totals: Counter[tuple[str, str]] = Counter()
    for events in customers.values():
        totals.update(contrib(events, as_of))
    report = portfolio(totals, as_of, 2)
    jan, feb, mar = report["months"]
    assert (jan["new"], jan["mrr_end"], jan["active_end"]) == ("30.00", "30.00", 2)
    assert (feb["new"], feb["contraction"], feb["mrr_start"], feb["mrr_end"]) == (
        "10.00", "5.00", "30.00", "35.00")
    assert (feb["gross_revenue_churn"], feb["net_revenue_churn"]) == (round(5 / 30, 6), round(5 / 30, 6))
    assert (feb["renewals_due"], feb["renewal_rate"]) == (2, 1.0)
    assert (mar["churned"], mar["logo_churn"], mar["gross_revenue_churn"]) == (
        "15.00", round(1 / 3, 6), round(15 / 35, 6))
    assert (mar["renewals_due"], mar["renewed"]) == (1, 1)  # c2's Mar 15 end was cut by the cancellation
    assert (report["mrr"], report["arr"], report["active_subscribers"], report["arpu"]) == (
        "20.00", "240.00", 2, "10.00")


def test_an_empty_portfolio() -> None:
    assert portfolio({}, at(1, 1), 2) == {"mrr": "0.00", "arr": "0.00", "active_subscribers": 0,
                                          "arpu": None, "months": []}


def test_arr_is_twelve_times_the_exact_mrr_rounded_once() -> None:
    as_of = at(1, 1) + 3600
    totals = contrib([start(at(1, 1), 1, "day", 1)], as_of)  # 30.4375 minor units a month
    report = portfolio(totals, as_of, 2)
    assert (report["mrr"], report["arr"]) == ("0.30", "3.65")  # 365.25 -> 365, not 12 x 30


# -- any order, any duplicates; the sum over customers equals a direct computation ------------

BASE = at(1, 1)
UNITS = ["month", "month", "year", "week", "day"]


@st.composite
def subscription_events(draw: st.DrawFn, sid: str = "A", customer: str = "") -> list[SubEvent]:
    events = []
    for i in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from("snnnnhhxxa"))
        ts = BASE + draw(st.integers(0, 300)) * D // 2 + draw(st.sampled_from([0, 0, 1, 3600]))
        amount = draw(st.integers(0, 5000))
        unit, count = draw(st.sampled_from(UNITS)), draw(st.integers(1, 3))
        eid = f"{customer}{sid}:{kind}{i}"
        if kind == "n":
            events.append(SubEvent(kind, eid, sid, ts, amount))
        elif kind == "x":
            effective = draw(st.sampled_from([None, ts, ts + 10 * D, ts - D]))
            events.append(SubEvent(kind, eid, sid, ts, effective_at=effective))
        else:
            events.append(SubEvent(kind, eid, sid, ts, amount, unit, count))
    return events


@settings(max_examples=300)
@given(subscription_events(), st.randoms(use_true_random=False), st.integers(0, 120))
def test_any_order_with_duplicates_gives_the_same_state(events: list[SubEvent], rnd: random.Random,
                                                        days: int) -> None:
    as_of = max(e.ts for e in events) + days * D
    shuffled = events + rnd.choices(events, k=rnd.randint(0, len(events)))
    rnd.shuffle(shuffled)
    assert state(shuffled, as_of) == state(events, as_of)
    assert contrib(shuffled, as_of) == contrib(events, as_of)


@settings(max_examples=400)
@given(subscription_events(), st.randoms(use_true_random=False),
       st.lists(st.integers(-20, 60), min_size=1, max_size=5))
def test_a_fold_extended_with_more_events_equals_folding_them_all(
        events: list[SubEvent], rnd: random.Random, steps: list[int]) -> None:
    # mostly in time order (the fold continues), sometimes not (extend refuses), with an
    # as_of that may step back (the caller folds again)
    arrivals = sorted(events, key=lambda e: e.ts) if rnd.random() < 0.7 else rnd.sample(events, len(events))
    cuts = sorted({0, len(arrivals), *(rnd.randint(0, len(arrivals)) for _ in steps)})
    fold: SubscriptionFold | None = None
    seen: list[SubEvent] = []
    as_of, extended = BASE, 0
    for (lo, hi), step in zip(itertools.pairwise(cuts), steps * len(cuts), strict=False):
        chunk = arrivals[lo:hi]
        seen += chunk
        as_of = max([as_of, *(e.ts for e in chunk)]) + step * D // 2
        if fold is not None and fold.settled <= as_of and fold.extend(chunk):
            extended += 1
        else:
            fold = SubscriptionFold.of(seen, GRACE)
        assert fold.state(as_of) == SubscriptionState.of(seen, as_of, GRACE)


def test_a_fold_extends_with_renewals_in_time_order() -> None:
    events = [start(at(1, 1)), *(renew(at(m, 1)) for m in range(2, 8))]
    fold = SubscriptionFold.of(events[:1], GRACE)
    for i, e in enumerate(events[1:], 2):
        assert fold.extend([e])
        assert fold.state(e.ts) == SubscriptionState.of(events[:i], e.ts, GRACE)
    assert not fold.extend([renew(at(3, 15), eid="late")])  # sorts among those folded
    with pytest.raises(ValueError, match="settled"):
        fold.state(at(2, 1))


@settings(max_examples=300)
@given(subscription_events(), st.integers(0, 120))
def test_the_timeline_is_ascending_and_ends_at_zero_when_churned(events: list[SubEvent], days: int) -> None:
    s = state(events, max(e.ts for e in events) + days * D)
    times = [t for t, _ in s.timeline]
    assert times == sorted(set(times))
    assert all(t <= s.as_of for t in times)
    if s.status == "churned":
        assert s.mrr == s.timeline[-1][1] == Mrr()
        assert s.churned_at is not None
        assert s.timeline[-1][0] <= s.churned_at
    if s.status in ("active", "cancelling"):
        assert s.mrr == Mrr.of(s.amount_minor or 0, s.unit or "month", s.interval_count or 1)


@st.composite
def tenants(draw: st.DrawFn) -> dict[str, list[SubEvent]]:
    out = {}
    for c in range(draw(st.integers(1, 5))):
        events: list[SubEvent] = []
        for sid in ("A", "B")[: draw(st.integers(1, 2))]:
            events += draw(subscription_events(sid, f"c{c}"))
        out[f"c{c}"] = events
    return out


def naive_report(states: dict[str, list[SubscriptionState]], as_of: int) -> pd.DataFrame:
    """Per month: the movements summed over customers, in 1/288 minor units (exact integers
    for interval counts 1-3), from each customer's month-end MRR read off the timelines."""
    points = pd.DataFrame(
        [(c, s.subscription_id, t, int(m.value * 288)) for c, ss in states.items() for s in ss
         for t, m in s.timeline],
        columns=["customer", "sub", "ts", "mrr"],
    )
    rows = []
    for (customer, _sub), pts in points.groupby(["customer", "sub"]):
        first = pd.Timestamp(min(s.started_at or 0 for s in states[customer]), unit="s")
        months = pd.period_range(first, pd.Timestamp(as_of, unit="s"), freq="M")
        ends = [int(t.timestamp()) for t in (months + 1).to_timestamp()]  # next months' first second
        instants = np.minimum(np.array(ends, dtype=np.int64), as_of + 1)
        where = np.searchsorted(pts.ts.to_numpy(), instants, side="left") - 1  # last point before
        values = np.where(where >= 0, pts.mrr.to_numpy()[np.maximum(where, 0)], 0)
        rows += zip([customer] * len(months), months.astype(str), values.tolist(), strict=True)
    frame = pd.DataFrame(rows, columns=["customer", "month", "mrr"])
    frame = frame.groupby(["customer", "month"], as_index=False).mrr.sum().sort_values(["customer", "month"])
    frame["prev"] = frame.groupby("customer").mrr.shift(fill_value=0)
    frame["seen"] = frame.groupby("customer").prev.transform(lambda p: (p > 0).cummax())
    up, down = frame.prev.eq(0) & frame.mrr.gt(0), frame.prev.gt(0) & frame.mrr.eq(0)
    both = frame.prev.gt(0) & frame.mrr.gt(0)
    diff = frame.mrr - frame.prev
    frame["new"] = frame.mrr.where(up & ~frame.seen, 0)
    frame["reactivation"] = frame.mrr.where(up & frame.seen, 0)
    frame["churned"] = frame.prev.where(down, 0)
    frame["expansion"] = diff.where(both & (diff > 0), 0)
    frame["contraction"] = (-diff).where(both & (diff < 0), 0)
    frame["customers_churned"] = down.astype(int)
    return frame.groupby("month")[[*MOVEMENTS, "mrr", "customers_churned"]].sum()


def minor(amount_288: int) -> str:
    return f"{round(Fraction(amount_288, 288)) / 100:.2f}"


@settings(max_examples=200, deadline=None)
@given(tenants(), st.integers(0, 120))
def test_contributions_summed_over_customers_equal_a_direct_computation(
        customers: dict[str, list[SubEvent]], days: int) -> None:
    as_of = max(e.ts for evs in customers.values() for e in evs) + days * D
    states = {c: list(states_of(evs, as_of, GRACE).values()) for c, evs in customers.items()}
    totals: Counter[tuple[str, str]] = Counter()
    for ss in states.values():
        totals.update(contributions(ss, as_of))
    report = portfolio(totals, as_of, 2)
    started = [c for c, ss in states.items() if any(s.started_at is not None for s in ss)]
    if not started:
        assert report["months"] == []
        return
    expected = naive_report({c: states[c] for c in started}, as_of)
    rows = {r["month"]: r for r in report["months"]}
    for month, row in expected.iterrows():
        if str(month) not in rows:  # before the tenant's first movement: nothing at all
            assert not row.any()
            continue
        got = rows[str(month)]
        assert {m: got[m] for m in MOVEMENTS} == {m: minor(int(row[m])) for m in MOVEMENTS}
        assert got["mrr_end"] == minor(int(row["mrr"]))
        assert got["customers_churned"] == row["customers_churned"]
    assert report["mrr"] == minor(int(expected["mrr"].iloc[-1]))
    due = Counter(f"{datetime.fromtimestamp(p.end, UTC):%Y-%m}" for ss in states.values() for s in ss
                  for p in s.periods if p.end <= as_of and not p.cut)
    assert {m: r["renewals_due"] for m, r in rows.items() if r["renewals_due"]} == dict(due)


@pytest.mark.parametrize("unit", ["day", "week", "month", "year"])
def test_a_steady_customer_adds_nothing_to_later_months(unit: str) -> None:
    events = [start(at(1, 1), 1000, "year", 1)] if unit == "year" else [
        start(at(1, 1), 1000, unit, 1), *(renew(t) for t in range(at(1, 1), at(6, 1), D))]
    c = contrib(events, at(5, 20))
    assert {k for k in c if ":" in k[1]} == {("2024-01", "new:1")}


def test_the_cohort_is_the_start_month_and_billing_interval() -> None:
    assert state([start(at(3, 9), unit="month")], at(4, 1)).cohort == "2024-03|month"
    assert state([start(at(3, 9), unit="month", count=3)], at(4, 1)).cohort == "2024-03|3 month"
    assert state([start(at(3, 9), unit="year")], at(4, 1)).cohort == "2024-03|year"

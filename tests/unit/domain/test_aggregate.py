from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clv_stream.domain.aggregate import Summary, aggregate_of, profit_of
from clv_stream.events.validation import Order
from tests.strategies import DAY, event_lists

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


def ev(kind: str, oid: str, amount: int, day: float, eid: str | None = None,
       margin_bp: int = 10000, cid: str = "c") -> Order:
    return Order(eid or f"{oid}:{kind}", kind, oid, cid, amount, int(T0 + day * DAY), margin_bp)


def test_placed_orders_sum_and_count_purchase_days() -> None:
    s = aggregate_of([ev("p", "a", 1000, 0), ev("p", "b", 500, 0.5), ev("p", "c", 2000, 3)])["c"]
    assert s == Summary(orders=3, net_minor=3500, profit_minor=3500, first_ts=T0,
                        last_ts=T0 + 3 * DAY, purchase_days=2, first_day_net_minor=1500)


def test_refunds_subtract_and_never_go_below_zero() -> None:
    s = aggregate_of([ev("p", "a", 1000, 0), ev("r", "a", 300, 1, "r1"), ev("r", "a", 900, 2, "r2")])
    assert s["c"].net_minor == 0
    assert s["c"].orders == 1  # a refunded order is still an order


def test_cancel_voids_the_order_and_its_purchase_day() -> None:
    events = [ev("p", "a", 1000, 0), ev("p", "b", 700, 5), ev("c", "a", 0, 6)]
    s = aggregate_of(events)["c"]
    assert (s.orders, s.net_minor, s.first_ts, s.purchase_days) == (1, 700, T0 + 5 * DAY, 1)


def test_cancel_before_placed_still_voids() -> None:
    s = aggregate_of([ev("c", "a", 0, 1), ev("p", "a", 1000, 0)])["c"]
    assert s == Summary()


def test_second_placed_for_same_order_is_ignored() -> None:
    s = aggregate_of([ev("p", "a", 1000, 0), ev("p", "a", 9999, 1, "other-id")])["c"]
    assert s.net_minor == 1000


def test_duplicate_event_id_applies_once() -> None:
    s = aggregate_of([ev("p", "a", 1000, 0), ev("r", "a", 100, 1, "r"), ev("r", "a", 100, 1, "r")])
    assert s["c"].net_minor == 900


def test_profit_uses_each_orders_margin_rounded_half_up() -> None:
    s = aggregate_of([ev("p", "a", 1005, 0, margin_bp=5000), ev("p", "b", 1000, 1, margin_bp=2500)])
    assert s["c"].profit_minor == 503 + 250
    assert profit_of(1, 5000) == 1  # 0.5 rounds up


@given(event_lists(), st.randoms())
def test_any_order_of_the_same_events_gives_the_same_aggregate(events: list[Order], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert aggregate_of(shuffled) == aggregate_of(events)


@given(event_lists())
def test_replaying_everything_twice_changes_nothing(events: list[Order]) -> None:
    assert aggregate_of(events + events) == aggregate_of(events)

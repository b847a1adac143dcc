"""The benchmarks' mixed workload: a shop's first orders in time and subscription events over
the same span, in event-time order, exactly as many messages as the orders-only workload."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import workload


def _is_subscription(message: workload.Message) -> bool:
    return bool(orjson.loads(message[1])["event_type"].startswith("subscription_"))


@settings(max_examples=25, deadline=None)
@given(total=st.integers(min_value=20, max_value=400),
       share=st.sampled_from([0.1, 0.3, 0.5]), seed=st.integers(min_value=0, max_value=50))
def test_the_mix_keeps_the_size_the_split_and_event_time_order(
    total: int, share: float, seed: int,
) -> None:
    orders = workload.shop(customers=max(total * 2 // 5, 1), orders=total, seed=seed)
    mixed = workload.with_subscriptions(orders, share=share, seed=seed)

    assert len(mixed) == len(orders)
    subscriptions = [m for m in mixed if _is_subscription(m)]
    assert len(subscriptions) == round(len(orders) * share)  # a small shop may have fewer
    # the orders are the orders-only workload's first ones in time, in their order
    kept = [m for m in mixed if not _is_subscription(m)]
    assert kept == orders[:len(kept)]
    times = [workload.event_time(m) for m in mixed]
    assert times == sorted(times)
    # over the span the kept orders cover
    first, last = workload.event_time(kept[0]), workload.event_time(kept[-1])
    assert all(first <= workload.event_time(m) <= last for m in subscriptions)


@settings(max_examples=15, deadline=None)
@given(total=st.integers(min_value=20, max_value=400), seed=st.integers(min_value=0, max_value=50))
def test_each_subscriber_has_a_whole_history_from_its_start_keyed_by_customer(
    total: int, seed: int,
) -> None:
    orders = workload.shop(customers=max(total * 2 // 5, 1), orders=total, seed=seed)
    by_customer: dict[bytes, list[str]] = {}
    for key, value in workload.with_subscriptions(orders, seed=seed):
        event = orjson.loads(value)
        if event["event_type"].startswith("subscription_"):
            assert key == event["customer_id"].encode()
            by_customer.setdefault(key, []).append(event["event_type"])

    assert by_customer
    assert all(kinds[0] == "subscription_started" for kinds in by_customer.values())
    assert all("subscription_started" not in kinds[1:] for kinds in by_customer.values())


def test_no_share_is_the_orders_only_workload() -> None:
    orders = workload.shop(customers=40, orders=100)

    assert workload.with_subscriptions(orders, share=0.0) == orders

"""The fast validation path accepts a subset of what the model accepts, with equal results."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv_stream.events.subscriptions import SUBSCRIPTION_EVENTS
from clv_stream.events.validation import Order, OrderValidator, SubscriptionChange
from clv_stream.exceptions import InvalidEvent
from clv_stream.settings import Settings
from tests.corpus import BAD_INPUTS, DROP, order, subscription

NOW = time.time()
SETTINGS = Settings(fx_rates={"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")},
                    default_margin=Decimal("0.35"))

TRICKY: dict[str, list[Any]] = {
    "schema_version": [1, 2, True, 1.0, "1", None],
    "event_type": ["order_placed", "order_refunded", "order_cancelled", "order_shipped", 3, ["x"],
                   {"a": 1}],
    "event_id": [None, "e-1", "", "e\x01", "é" * 128, "e" * 129, 5],
    "order_id": ["o-1", "", "o\n1", "o" * 128, "o" * 129, "ü-1", 7, "a\u2028b"],
    "customer_id": ["c-1", "", "c\x9f", "c" * 128, "c" * 129, 42, " "],
    "amount": [["25.00"], {"v": 1}, "25.00", "0", "0.1", "12.500", "12.345", "007.50", " 7.5",
               "7.", ".5", "1_000", "-1", "NaN", "1e3", "999999999999.99", "1000000000000", 0, 25,
               0.1, 25.0, 1e-7, 10**12, True, None, "twelve"],
    "currency": ["USD", "EUR", "JPY", "usd", "XYZ", "US", 1, ["USD"]],
    "occurred_at": ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00+02:00", "2024-03-01T10:00:00.5Z",
                    "2024-03-01T10:00:00.123456-05:30", "2024-03-01t10:00:00z",
                    "2024-03-01 10:00:00Z", "2024-03-01T10:00:00", "2024-02-30T10:00:00Z",
                    "2024-03-01T24:00:00Z", "2024-03-01T10:00:00+24:00", "2999-01-01T00:00:00Z",
                    "0001-01-01T00:00:00+01:00", 1709287200, ["2024-03-01T10:00:00Z"], {}],
    "margin": [None, 0, 1, 0.4, "0.35", "0.12345", "1.0", "1.5", -0.1, 1e-5, True, "x", [0.5]],
    "channel": [None, "web", "x" * 256, "x" * 257, 5, {"c": 1}],
}


def _slow(validator: OrderValidator, raw: bytes, subscriptions: bool = False,
          ) -> Order | SubscriptionChange | str:
    fast = validator._fast
    validator._fast = type("NoFast", (), {"decode": staticmethod(lambda *_: None)})()  # type: ignore[assignment]
    try:
        return validator.validate(raw, NOW, subscriptions=subscriptions)
    except InvalidEvent as exc:
        return exc.code
    finally:
        validator._fast = fast


@settings(max_examples=600, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(sorted(TRICKY)), st.integers(0, 30), max_size=4))
def test_fast_path_agrees_with_the_model(changes: dict[str, int]) -> None:
    validator = OrderValidator(SETTINGS)
    event = order(**{k: TRICKY[k][i % len(TRICKY[k])] for k, i in changes.items()})
    raw = orjson.dumps(event)
    expected = _slow(validator, raw)
    try:
        actual: Order | str = validator.validate(raw, NOW)
    except InvalidEvent as exc:
        actual = exc.code
    assert actual == expected


@pytest.mark.parametrize(("raw", "code"),
                         [(raw, code) for _, raw, code in BAD_INPUTS if len(raw) < 64 * 1024])
def test_fast_path_refuses_every_bad_input(raw: bytes, code: str) -> None:
    # the time window depends on the wall clock: the validator checks it after decoding
    decoded = OrderValidator(SETTINGS)._fast.decode(raw)
    assert decoded is None or code == "timestamp_out_of_range"


def test_fast_path_takes_the_common_case() -> None:
    validator = OrderValidator(SETTINGS)
    assert validator._fast.decode(orjson.dumps(order())) is not None
    assert validator._fast.decode(orjson.dumps(order(amount=12.5, margin=0.4, channel="web"))) is not None


SUBSCRIPTION_TRICKY: dict[str, list[Any]] = {
    "schema_version": [1, 2, True, 1.0],
    "event_type": [*sorted(SUBSCRIPTION_EVENTS), "order_placed", "subscription_paused", 3],
    "event_id": [None, DROP, "e-1", "", "e\x01", "e" * 129, 5],
    "subscription_id": ["s-1", "", "s\n1", "s" * 128, "s" * 129, 7, DROP],
    "customer_id": ["c-1", "", "c\x9f", 42, DROP],
    "tenant_id": [None, "shop-1", "shop 1", "--", "x" * 65, 3],
    "amount": ["29.00", "0", "12.345", "-1", "1e3", 0, 25, 0.1, True, None, DROP, "999999999999.99"],
    "currency": ["USD", "EUR", "JPY", "usd", "XYZ", 1, None, DROP],
    "occurred_at": ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00.5+02:00", "2024-03-01 10:00:00Z",
                    "2024-03-01T10:00:00", "2999-01-01T00:00:00Z", "1999-01-01T00:00:00Z",
                    1709287200, DROP],
    "interval": ["day", "week", "month", "year", "MONTH", " month", "fortnight", None, 1, DROP],
    "interval_count": [None, 1, 2, 3, 4, 36, 37, 156, 157, 1095, 1096, 0, -1, 3.0, 2.5, True,
                       "2", DROP],
    "plan_id": [None, "pro", "", "p\x00", "p" * 129, 5],
    "margin": [None, 0, 1, 0.4, "0.35", "1.5", -0.1, "x", True],
    "effective_at": [None, "2024-04-01T00:00:00Z", "2024-02-01T00:00:00+05:00", "1999-01-01T00:00:00Z",
                     "2999-01-01T00:00:00Z", "2024-04-01", "2024-04-01T00:00:00", 5, DROP],
}


@settings(max_examples=1500, deadline=None)
@given(event_type=st.sampled_from(sorted(SUBSCRIPTION_EVENTS)),
       changes=st.dictionaries(st.sampled_from(sorted(SUBSCRIPTION_TRICKY)), st.integers(0, 30),
                               max_size=4),
       subscriptions=st.booleans())
def test_fast_path_agrees_with_the_subscription_models(event_type: str, changes: dict[str, int],
                                                        subscriptions: bool) -> None:
    validator = OrderValidator(SETTINGS)
    event = subscription(event_type)
    event.update({k: SUBSCRIPTION_TRICKY[k][i % len(SUBSCRIPTION_TRICKY[k])] for k, i in changes.items()})
    event = {k: v for k, v in event.items() if v is not DROP}
    raw = orjson.dumps(event)
    expected = _slow(validator, raw, subscriptions)
    try:
        actual: Order | SubscriptionChange | str = validator.validate(
            raw, NOW, subscriptions=subscriptions)
    except InvalidEvent as exc:
        actual = exc.code
    assert actual == expected
    assert type(actual) is type(expected)


@pytest.mark.parametrize("event_type", sorted(SUBSCRIPTION_EVENTS))
def test_fast_path_takes_the_common_subscription_events(event_type: str) -> None:
    fast = OrderValidator(SETTINGS)._fast
    assert fast.decode(orjson.dumps(subscription(event_type)), True) is not None
    assert fast.decode(orjson.dumps(subscription(event_type))) is None  # orders only: unknown

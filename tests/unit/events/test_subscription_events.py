"""The five subscription events: validated like orders, normalised to SubscriptionChange."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from clv_stream.events.models import KIND_OF_EVENT, Cause, InputEvent, OrderEvent
from clv_stream.events.money import Money
from clv_stream.events.subscriptions import (
    KIND_OF_SUBSCRIPTION_EVENT,
    MAX_INTERVAL_COUNT,
    SUBSCRIPTION_EVENTS,
    Interval,
)
from clv_stream.events.validation import ErrorCode, Order, OrderValidator, SubscriptionChange
from clv_stream.exceptions import InvalidEvent
from clv_stream.settings import Settings
from tests.corpus import DROP, order, subscription

NOW = time.time()
SETTINGS = Settings(fx_rates={"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")},
                    default_margin=Decimal("0.35"))
TYPES = sorted(SUBSCRIPTION_EVENTS)
PRICED = [t for t in TYPES if t != "subscription_cancelled"]
WITH_TERMS = ["subscription_started", "subscription_changed", "subscription_reactivated"]


@pytest.fixture
def validator() -> OrderValidator:
    return OrderValidator(SETTINGS)


def _change(validator: OrderValidator, event: dict[str, Any]) -> SubscriptionChange:
    result = validator.validate(orjson.dumps(event), NOW, subscriptions=True)
    assert isinstance(result, SubscriptionChange)
    return result


def _code(validator: OrderValidator, event: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(InvalidEvent) as caught:
        validator.validate(orjson.dumps(event), NOW, subscriptions=True)
    return caught.value.code, caught.value.field


def test_a_started_subscription_is_normalised(validator: OrderValidator) -> None:
    event = subscription(occurred_at="2024-03-01T12:30:00+02:00", plan_id="pro", margin="0.4",
                         interval="year", interval_count=2, amount="240.00")
    assert _change(validator, event) == SubscriptionChange(
        kind="s", event_id="sub-1:subscription_started:2024-03-01T12:30:00+02:00",
        subscription_id="sub-1", customer_id="c-1", tenant="default", amount_minor=24000,
        ts=1709289000, interval="year", interval_count=2, plan_id="pro", margin_bp=4000,
        effective_at=None)


def test_defaults_of_a_started_subscription(validator: OrderValidator) -> None:
    change = _change(validator, subscription())
    assert (change.interval_count, change.plan_id, change.margin_bp) == (1, None, 3500)
    assert change.event_id == "sub-1:subscription_started:2024-03-01T10:00:00Z"
    assert _change(validator, subscription(interval_count=None)).interval_count == 1
    assert _change(validator, subscription(interval_count=3.0)).interval_count == 3


@pytest.mark.parametrize(("event_type", "kind", "fields"), [
    ("subscription_renewed", "n", (2900, None, None, None, None, None)),
    ("subscription_changed", "h", (4900, "month", 1, None, None, None)),
    ("subscription_cancelled", "x", (None, None, None, None, None, None)),
    ("subscription_reactivated", "a", (2900, "month", 1, None, None, None)),
])
def test_each_later_event_carries_only_its_own_fields(validator: OrderValidator, event_type: str,
                                                      kind: str, fields: tuple[Any, ...]) -> None:
    change = _change(validator, subscription(event_type))
    assert change.kind == kind
    assert change.event_id == f"sub-1:{event_type}:2024-03-01T10:00:00Z"
    assert (change.amount_minor, change.interval, change.interval_count, change.plan_id,
            change.margin_bp, change.effective_at) == fields


def test_a_change_names_its_plan(validator: OrderValidator) -> None:
    change = _change(validator, subscription("subscription_changed", plan_id="team",
                                             interval="week", interval_count=2))
    assert (change.plan_id, change.interval, change.interval_count) == ("team", "week", 2)


def test_an_explicit_event_id_and_extra_fields(validator: OrderValidator) -> None:
    change = _change(validator, subscription("subscription_renewed", event_id="inv-9", x=[1]))
    assert change.event_id == "inv-9"


def test_the_default_event_id_keeps_occurred_at_as_sent(validator: OrderValidator) -> None:
    zulu = _change(validator, subscription("subscription_renewed"))
    offset = _change(validator, subscription("subscription_renewed",
                                             occurred_at="2024-03-01T10:00:00.000+00:00"))
    assert zulu.ts == offset.ts
    assert offset.event_id == "sub-1:subscription_renewed:2024-03-01T10:00:00.000+00:00"


def test_amounts_convert_with_the_tenant_s_money(validator: OrderValidator) -> None:
    validator.set_tenants({"eu": Money.of(SETTINGS, currency="EUR",
                                          default_margin=Decimal("0.2"))})
    eu = _change(validator, subscription(tenant_id="eu", amount="10.05"))
    assert (eu.tenant, eu.amount_minor, eu.margin_bp) == ("eu", 914, 2000)  # 9.136... EUR
    platform = _change(validator, subscription("subscription_renewed", amount="10.05",
                                               currency="EUR"))
    assert (platform.tenant, platform.amount_minor) == ("default", 1106)  # 11.055 half even
    jpy = _change(validator, subscription("subscription_reactivated", amount=1500,
                                          currency="JPY"))
    assert jpy.amount_minor == 1005


@pytest.mark.parametrize("unit", list(Interval))
def test_interval_count_is_at_most_three_years(validator: OrderValidator, unit: Interval) -> None:
    most = MAX_INTERVAL_COUNT[unit]
    for event_type in WITH_TERMS:
        ok = _change(validator, subscription(event_type, interval=unit.value, interval_count=most))
        assert (ok.interval, ok.interval_count) == (unit.value, most)
        too_many = subscription(event_type, interval=unit.value, interval_count=most + 1)
        assert _code(validator, too_many) == (ErrorCode.INVALID_INTERVAL_COUNT, "interval_count")


def test_a_cancellation_may_be_at_once_backdated_or_scheduled(validator: OrderValidator) -> None:
    def effective(at: object) -> int | None:
        return _change(validator, subscription("subscription_cancelled", effective_at=at)
                       ).effective_at

    assert effective(None) is None
    occurred = int(datetime(2024, 3, 1, 10, tzinfo=UTC).timestamp())
    assert effective("2024-03-01T10:00:00Z") == occurred
    assert effective("2024-02-01T10:00:00.5Z") == occurred - 29 * 86400
    assert effective("2026-03-01T11:00:00+01:00") == occurred + 730 * 86400
    before = subscription("subscription_cancelled", effective_at="1969-12-31T23:59:59Z")
    assert _code(validator, before) == (ErrorCode.TIMESTAMP_OUT_OF_RANGE, "effective_at")


@pytest.mark.parametrize(("event_type", "field", "value", "code"), [
    ("subscription_started", "subscription_id", "", ErrorCode.INVALID_SUBSCRIPTION_ID),
    ("subscription_cancelled", "subscription_id", "s\n", ErrorCode.INVALID_SUBSCRIPTION_ID),
    ("subscription_renewed", "subscription_id", 7, ErrorCode.INVALID_SUBSCRIPTION_ID),
    ("subscription_renewed", "subscription_id", DROP, ErrorCode.MISSING_FIELD),
    ("subscription_started", "customer_id", "c" * 129, ErrorCode.INVALID_CUSTOMER_ID),
    ("subscription_started", "event_id", "", ErrorCode.INVALID_EVENT_ID),
    ("subscription_started", "tenant_id", "a b", ErrorCode.INVALID_TENANT_ID),
    ("subscription_started", "schema_version", 2, ErrorCode.UNSUPPORTED_SCHEMA_VERSION),
    ("subscription_started", "plan_id", "", ErrorCode.INVALID_PLAN_ID),
    ("subscription_changed", "plan_id", ["pro"], ErrorCode.INVALID_PLAN_ID),
    ("subscription_started", "interval", "fortnight", ErrorCode.INVALID_INTERVAL),
    ("subscription_changed", "interval", "Month", ErrorCode.INVALID_INTERVAL),
    ("subscription_reactivated", "interval", None, ErrorCode.INVALID_INTERVAL),
    ("subscription_started", "interval", DROP, ErrorCode.MISSING_FIELD),
    ("subscription_started", "interval_count", 0, ErrorCode.INVALID_INTERVAL_COUNT),
    ("subscription_changed", "interval_count", 1.5, ErrorCode.INVALID_INTERVAL_COUNT),
    ("subscription_reactivated", "interval_count", "2", ErrorCode.INVALID_INTERVAL_COUNT),
    ("subscription_started", "interval_count", True, ErrorCode.INVALID_INTERVAL_COUNT),
    ("subscription_started", "interval_count", 1096, ErrorCode.INVALID_INTERVAL_COUNT),
    ("subscription_started", "amount", "-1", ErrorCode.NEGATIVE_AMOUNT),
    ("subscription_renewed", "amount", "NaN", ErrorCode.NON_FINITE_AMOUNT),
    ("subscription_changed", "amount", "1e300", ErrorCode.AMOUNT_TOO_LARGE),
    ("subscription_reactivated", "amount", "1_000", ErrorCode.INVALID_AMOUNT),
    ("subscription_renewed", "amount", "12.345", ErrorCode.TOO_MANY_DECIMALS),
    ("subscription_renewed", "amount", DROP, ErrorCode.MISSING_FIELD),
    ("subscription_changed", "currency", DROP, ErrorCode.MISSING_FIELD),
    ("subscription_started", "currency", "usd", ErrorCode.INVALID_CURRENCY),
    ("subscription_renewed", "currency", "XYZ", ErrorCode.UNKNOWN_CURRENCY),
    ("subscription_started", "margin", "1.5", ErrorCode.INVALID_MARGIN),
    ("subscription_started", "occurred_at", "2024-03-01T10:00:00", ErrorCode.NAIVE_TIMESTAMP),
    ("subscription_cancelled", "occurred_at", 1709287200, ErrorCode.INVALID_TIMESTAMP),
    ("subscription_renewed", "occurred_at", "2999-01-01T00:00:00Z",
     ErrorCode.TIMESTAMP_OUT_OF_RANGE),
    ("subscription_cancelled", "effective_at", "2024-03-01T10:00:00",
     ErrorCode.INVALID_EFFECTIVE_AT),
    ("subscription_cancelled", "effective_at", "2024-02-30T10:00:00Z",
     ErrorCode.INVALID_EFFECTIVE_AT),
    ("subscription_cancelled", "effective_at", 1709287200, ErrorCode.INVALID_EFFECTIVE_AT),
])
def test_each_invalid_field_gets_its_code(validator: OrderValidator, event_type: str, field: str,
                                          value: object, code: ErrorCode) -> None:
    got, blamed = _code(validator, subscription(event_type, **{field: value}))
    assert got == code
    assert blamed == field


def test_fields_of_other_event_types_are_ignored(validator: OrderValidator) -> None:
    # unknown extra fields are ignored: a cancellation has no amount, a renewal no interval
    cancel = _change(validator, subscription("subscription_cancelled", amount="x", currency=1))
    assert cancel.amount_minor is None
    renewal = _change(validator, subscription("subscription_renewed", interval="fortnight"))
    assert renewal.interval is None


@pytest.mark.parametrize("event_type", TYPES)
def test_without_subscriptions_they_stay_unknown_event_types(validator: OrderValidator,
                                                             event_type: str) -> None:
    raw = orjson.dumps(subscription(event_type))
    with pytest.raises(InvalidEvent) as caught:
        validator.validate(raw, NOW)
    assert caught.value.code == ErrorCode.UNKNOWN_EVENT_TYPE
    assert isinstance(validator.validate(raw, NOW, subscriptions=True), SubscriptionChange)


def test_orders_are_validated_alike_with_subscriptions(validator: OrderValidator) -> None:
    raw = orjson.dumps(order(amount="19.99"))
    both = validator.validate(raw, NOW), validator.validate(raw, NOW, subscriptions=True)
    assert isinstance(both[0], Order)
    assert both[0] == both[1]
    with pytest.raises(InvalidEvent) as caught:
        validator.validate(orjson.dumps(order(event_type="subscription_paused")), NOW,
                           subscriptions=True)
    assert caught.value.code == ErrorCode.UNKNOWN_EVENT_TYPE


@pytest.mark.parametrize("event_type", TYPES)
def test_the_input_union_reads_each_type_with_its_model(event_type: str) -> None:
    assert type(InputEvent.model_validate(subscription(event_type)).root) is \
        SUBSCRIPTION_EVENTS[event_type]
    assert type(InputEvent.model_validate(order()).root) is OrderEvent


def test_kinds_are_one_letter_each_and_no_order_kind() -> None:
    kinds = list(KIND_OF_SUBSCRIPTION_EVENT.values())
    assert sorted(KIND_OF_SUBSCRIPTION_EVENT) == TYPES
    assert all(len(k) == 1 for k in kinds)
    assert len(set(kinds)) == len(kinds)
    assert not set(kinds) & set(KIND_OF_EVENT.values())


def test_cause_takes_every_input_event_type() -> None:
    assert {*TYPES, *KIND_OF_EVENT} <= {c.value for c in Cause}

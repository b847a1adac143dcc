"""Differential for the subscription events: the models = the published JSON Schema.

As ``test_schema_differential.py`` does for orders, with its reference (Draft 2020-12,
patterns as ECMA-262, ``date-time`` as RFC 3339, JSON as RFC 8259) and its generators of
field values. For every generated message, mostly a subscription event with a few fields
changed or dropped:

1. the input union (:class:`InputEvent`, what the schema is generated from) accepts it if
   and only if ``schemas/orders.schema.json`` does;
2. :class:`OrderValidator` with ``subscriptions=True`` accepts it if and only if the schema
   does and no settings rule is broken; when one is, it answers that rule's code (in the
   validator's order: size, ``occurred_at`` window, currency, decimals, ``effective_at``
   from ``CLV_MIN_EVENT_TIME``), recomputed here independently.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from clv_stream.events.models import InputEvent
from clv_stream.events.subscriptions import SUBSCRIPTION_EVENTS
from clv_stream.events.validation import ErrorCode, OrderValidator, SubscriptionChange
from clv_stream.exceptions import InvalidEvent
from tests.corpus import subscription
from tests.unit.events.test_schema_differential import (
    AMOUNTS,
    CONVERTIBLE,
    CURRENCIES,
    FIELDS,
    IDENTIFIERS,
    JSON_VALUES,
    MARGINS,
    MAX_BYTES,
    NOW,
    SETTINGS,
    SETTINGS_CODES,
    TENANTS,
    WINDOW,
    _decimals,
    _epoch,
    schema_accepts,
    standard_json,
    times,
)

VALIDATOR = OrderValidator(SETTINGS)
TYPES = sorted(SUBSCRIPTION_EVENTS)
_PRICED = {t for t in TYPES if t != "subscription_cancelled"}

SUBSCRIPTION_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "schema_version": FIELDS["schema_version"],
    "event_type": st.sampled_from([*TYPES, "order_placed", "subscription_paused",
                                   "SUBSCRIPTION_STARTED", "", None, 3]),
    "event_id": IDENTIFIERS,
    "subscription_id": IDENTIFIERS,
    "customer_id": IDENTIFIERS,
    "plan_id": st.one_of(st.none(), IDENTIFIERS),
    "amount": AMOUNTS,
    "currency": CURRENCIES,
    "occurred_at": times(),
    "effective_at": st.one_of(st.none(), times()),
    "margin": MARGINS,
    "tenant_id": TENANTS,
    "interval": st.sampled_from(["day", "week", "month", "year", "Month", "days", "", "year\n",
                                 None, 1, ["month"]]),
    "interval_count": st.one_of(
        st.integers(-2, 1200),
        st.sampled_from([1, 3, 4, 36, 37, 156, 157, 1095, 1096, 3.0, 36.0, 1.5, 0.0, -1,
                         True, False, None, "1", [1], 1e300, 10**20, 2**64]),
    ),
}
_CHANGED = st.lists(st.sampled_from(sorted(SUBSCRIPTION_FIELDS)), min_size=1, max_size=3)
_ONE_IN_4, _ONE_IN_10 = st.integers(0, 3), st.integers(0, 9)
_EXTRA_KEYS = st.sampled_from(["coupon", "meta", "", "Amount", "order_id"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    message = subscription(draw(st.sampled_from(TYPES)))
    for name in draw(_CHANGED):
        if draw(_ONE_IN_10) == 1:
            message.pop(name, None)
        else:
            message[name] = draw(SUBSCRIPTION_FIELDS[name])
    if draw(_ONE_IN_4) == 1:
        message.setdefault(draw(_EXTRA_KEYS), draw(JSON_VALUES))
    return json.dumps(message, ensure_ascii=draw(st.booleans()), allow_nan=True).encode()


def _settings_rules_broken(raw: bytes, doc: dict[str, Any]) -> list[str]:
    """The settings rules this message breaks, in the order the validator checks them."""
    broken = []
    if len(raw) > MAX_BYTES:
        broken.append(ErrorCode.TOO_LARGE)
    if not WINDOW[0] <= _epoch(doc["occurred_at"]) <= WINDOW[1]:
        broken.append(ErrorCode.TIMESTAMP_OUT_OF_RANGE)
    if doc["event_type"] in _PRICED:
        if doc["currency"] not in CONVERTIBLE:
            broken.append(ErrorCode.UNKNOWN_CURRENCY)
        elif _decimals(doc["amount"]) > CONVERTIBLE[doc["currency"]]:
            broken.append(ErrorCode.TOO_MANY_DECIMALS)
    at = doc.get("effective_at") if doc["event_type"] == "subscription_cancelled" else None
    if at is not None and _epoch(at) < WINDOW[0]:
        broken.append(ErrorCode.TIMESTAMP_OUT_OF_RANGE)
    return broken


def _union_accepts(raw: bytes) -> bool:
    try:
        InputEvent.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError):
        return False
    return True


def check(raw: bytes) -> str:
    """Assert the agreement; return what happened (for hypothesis' statistics)."""
    try:
        ours: object = VALIDATOR.validate(raw, NOW, subscriptions=True)
    except InvalidEvent as exc:
        ours = str(exc.code)
    accepted = schema_accepts(raw)
    assert _union_accepts(raw) == accepted, "the input models and the schema disagree"
    if not accepted:
        assert not isinstance(ours, SubscriptionChange), "accepted what the schema rejects"
        assert ours not in SETTINGS_CODES - {ErrorCode.TOO_LARGE}, "a settings code for a schema reject"
        return f"schema rejects: {ours}"
    broken = _settings_rules_broken(raw, standard_json(raw))
    if broken:
        assert ours == broken[0]
        return f"schema accepts, settings reject: {ours}"
    assert isinstance(ours, SubscriptionChange), f"rejected ({ours}) what schema and settings accept"
    return "accepted"


def _raw(event_type: str, **overrides: Any) -> bytes:
    return json.dumps(subscription(event_type, **overrides)).encode()


@settings(max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=messages())
@example(raw=_raw("subscription_started", interval="year", interval_count=4))
@example(raw=_raw("subscription_changed", interval="month", interval_count=36.0))
@example(raw=_raw("subscription_started", interval_count=None))
@example(raw=_raw("subscription_started", interval_count=True))
@example(raw=_raw("subscription_cancelled", effective_at="1969-12-31T23:59:59Z"))
@example(raw=_raw("subscription_cancelled", effective_at="2024-02-30T00:00:00Z"))
@example(raw=_raw("subscription_renewed", amount="12.345"))
@example(raw=_raw("subscription_reactivated", currency="XYZ"))
def test_models_schema_and_validator_agree(raw: bytes) -> None:
    event(check(raw))


@pytest.mark.parametrize("raw", [
    _raw("subscription_renewed", amount="100.5", currency="JPY"),
    _raw("subscription_started", occurred_at="1969-12-31T23:59:59Z"),
    _raw("subscription_cancelled", effective_at="1969-12-31T23:59:59Z"),
])
def test_settings_rejections_are_named_and_confirmed(raw: bytes) -> None:
    assert schema_accepts(raw)
    assert _settings_rules_broken(raw, standard_json(raw))
    check(raw)


def test_the_schema_has_the_cross_field_rule() -> None:
    """``interval_count`` per ``interval`` is in the schema, not only in the model."""
    assert schema_accepts(_raw("subscription_started", interval="month", interval_count=36))
    assert not schema_accepts(_raw("subscription_started", interval="year", interval_count=4))
    assert schema_accepts(_raw("subscription_started", interval="day", interval_count=4))

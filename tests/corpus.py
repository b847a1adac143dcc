"""Shared test data: a valid order and the bad-input corpus with the code each must get."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["BAD_INPUTS", "DROP", "order", "subscription"]


def order(**overrides: Any) -> dict[str, Any]:
    """A valid ``order_placed`` event; keyword arguments replace or add fields."""
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_type": "order_placed",
        "order_id": "o-1",
        "customer_id": "c-1",
        "amount": "25.00",
        "currency": "USD",
        "occurred_at": "2024-03-01T10:00:00+00:00",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not _DROP}


_DROP = object()
DROP = _DROP  #: as a keyword argument's value: leave that field out

#: the fields each subscription event type has, beyond the common ones
_SUBSCRIPTION_FIELDS: dict[str, dict[str, Any]] = {
    "subscription_started": {"amount": "29.00", "currency": "USD", "interval": "month"},
    "subscription_renewed": {"amount": "29.00", "currency": "USD"},
    "subscription_changed": {"amount": "49.00", "currency": "USD", "interval": "month"},
    "subscription_cancelled": {},
    "subscription_reactivated": {"amount": "29.00", "currency": "USD", "interval": "month"},
}


def subscription(event_type: str = "subscription_started", **overrides: Any) -> dict[str, Any]:
    """A valid subscription event of ``event_type``; keyword arguments replace or add fields."""
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_type": event_type,
        "subscription_id": "sub-1",
        "customer_id": "c-1",
        "occurred_at": "2024-03-01T10:00:00Z",
        **_SUBSCRIPTION_FIELDS[event_type],
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not _DROP}


def _json(**overrides: Any) -> bytes:
    return orjson.dumps(order(**overrides))


#: (case name, raw message bytes, expected error code)
BAD_INPUTS: list[tuple[str, bytes, str]] = [
    ("not json", b"{this is not json", "invalid_json"),
    ("invalid utf-8", b'{"a": "\xff\xfe"}', "invalid_json"),
    ("empty", b"", "invalid_json"),
    ("json array", b"[1, 2, 3]", "not_an_object"),
    ("json string", b'"order"', "not_an_object"),
    ("missing customer_id", _json(customer_id=_DROP), "missing_field"),
    ("missing amount", _json(amount=_DROP), "missing_field"),
    ("schema_version 2", _json(schema_version=2), "unsupported_schema_version"),
    ("schema_version true", _json(schema_version=True), "unsupported_schema_version"),
    ("unknown event_type", _json(event_type="order_shipped"), "unknown_event_type"),
    ("negative amount", _json(amount="-1.00"), "negative_amount"),
    ("NaN amount", _json(amount="NaN"), "non_finite_amount"),
    ("Infinity amount", _json(amount="Infinity"), "non_finite_amount"),
    ("boolean amount", _json(amount=True), "invalid_amount"),
    ("text amount", _json(amount="twelve"), "invalid_amount"),
    ("absurd precision", _json(amount="12.3456789012345678901234567890"), "too_many_decimals"),
    ("JPY with decimals", _json(amount="100.5", currency="JPY"), "too_many_decimals"),
    ("absurd amount", _json(amount="1e300"), "amount_too_large"),
    ("unknown currency", _json(currency="XYZ"), "unknown_currency"),
    ("lower-case currency", _json(currency="usd"), "invalid_currency"),
    ("naive timestamp", _json(occurred_at="2024-03-01T10:00:00"), "naive_timestamp"),
    ("garbage timestamp", _json(occurred_at="yesterday at noon"), "invalid_timestamp"),
    ("epoch number timestamp", _json(occurred_at=1709287200), "invalid_timestamp"),
    ("far-future timestamp", _json(occurred_at="2999-01-01T00:00:00Z"), "timestamp_out_of_range"),
    ("year 0 in UTC", _json(occurred_at="0001-01-01T00:00:00+01:00"), "timestamp_out_of_range"),
    ("year 999", _json(occurred_at="0999-05-01T00:00:00Z"), "timestamp_out_of_range"),
    ("amount as a decimal tuple", _json(amount=[0, [1, 2], -2]), "invalid_amount"),
    ("amount as a bad tuple", _json(amount=[2, [1], 0]), "invalid_amount"),
    ("amount with underscores", _json(amount="1_000"), "invalid_amount"),
    ("amount with a leading space", _json(amount=" 5"), "invalid_amount"),
    ("bad tenant id", _json(tenant_id="shop one"), "invalid_tenant_id"),
    ("200-char customer id", _json(customer_id="c" * 200), "invalid_customer_id"),
    ("control char in customer id", _json(customer_id="c\x01d"), "invalid_customer_id"),
    ("empty customer id", _json(customer_id=""), "invalid_customer_id"),
    ("numeric customer id", _json(customer_id=42), "invalid_customer_id"),
    ("newline in order id", _json(order_id="o\n1"), "invalid_order_id"),
    ("margin above 1", _json(margin="1.5"), "invalid_margin"),
    ("1 MiB payload", _json(channel="x" * (1024 * 1024)), "too_large"),
]

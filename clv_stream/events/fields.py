"""The input events' field types, shared by orders and subscriptions.

Each type validates in Python exactly what its JSON Schema accepts (``PlainValidator`` plus
``WithJsonSchema``), so the models and ``schemas/orders.schema.json`` agree; a differential
test per event family pins that.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, PlainValidator, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from clv_stream.events.patterns import (
    AMOUNT_PATTERN,
    AMOUNT_RE,
    CURRENCY_PATTERN,
    IDENTIFIER_PATTERN,
    MARGIN_PATTERN,
    MARGIN_RE,
    NAIVE_TIME_RE,
    TENANT_PATTERN,
    TIME_PATTERN,
    TIME_RE,
)

__all__ = ["MAX_AMOUNT", "SCHEMA_VERSION", "Amount", "Currency", "EventTime", "Identifier",
           "Margin", "SchemaVersion", "TenantId", "parse_event_time"]

SCHEMA_VERSION = 1
#: Amounts must stay below this, so minor units times a margin in basis points stay exact in
#: a double (Redis Lua numbers): 10^9 x 10^2 minor units x 10^4 < 2^53.
MAX_AMOUNT = Decimal(10) ** 9


def _schema_version(value: Any) -> int:
    # JSON Schema's "integer" is a number without a fraction: 1.0 is the integer 1
    if (type(value) is int or type(value) is float) and value == SCHEMA_VERSION:
        return SCHEMA_VERSION
    raise PydanticCustomError("unsupported_schema_version", "schema_version {v} is not supported",
                              {"v": repr(value)[:40]})


def _number(value: Any) -> Decimal | None:
    """A JSON number (never a boolean) as the exact Decimal of its shortest repr; else None."""
    if type(value) is int:
        return Decimal(value)
    if type(value) is float:
        return Decimal(repr(value))
    return None


def _amount(value: Any) -> Decimal:
    if type(value) is str:
        if AMOUNT_RE.match(value):
            return Decimal(value)
        try:  # only to name the error: "-1" is negative, "1e300" too large, "NaN" not finite
            number: Decimal | None = Decimal(value)
        except (InvalidOperation, ValueError):
            number = None
    else:
        number = _number(value)
        if number is not None and number.is_finite() and 0 <= number < MAX_AMOUNT:
            return number
    if number is None:
        raise PydanticCustomError("invalid_amount", "amount must be a JSON number or a decimal string")
    if not number.is_finite():
        raise PydanticCustomError("finite_number", "amount must be finite")
    if number < 0:
        raise PydanticCustomError("greater_than_equal", "amount must be at least 0")
    if number >= MAX_AMOUNT:
        raise PydanticCustomError("less_than", "amount must be below 1000000000")
    raise PydanticCustomError(
        "invalid_amount", "an amount string is digits, optionally a point and digits (as 12.50)"
    )


def _margin(value: Any) -> Decimal:
    if type(value) is str:
        if MARGIN_RE.match(value):
            return Decimal(value)
    else:
        number = _number(value)
        if number is not None and number.is_finite() and 0 <= number <= 1:
            return number
    raise PydanticCustomError(
        "invalid_margin", "margin must be a number or a decimal string (as 0.35) from 0 to 1"
    )


def parse_event_time(value: Any, name: str = "occurred_at") -> datetime:
    """An RFC 3339 date-time with an offset, as the schema's ``TIME_PATTERN`` and ``date-time``
    read it; else a ``datetime_parsing`` or ``timezone_aware`` error naming ``name``."""
    if type(value) is str:
        if TIME_RE.match(value):
            try:
                return datetime.fromisoformat(value)
            except ValueError:  # a day the month does not have, or year 0
                raise PydanticCustomError("datetime_parsing", f"{name} is no date") from None
        if NAIVE_TIME_RE.fullmatch(value):
            raise PydanticCustomError("timezone_aware", f"{name} needs an offset (Z or +HH:MM)")
    raise PydanticCustomError(
        "datetime_parsing", f"{name} must be an RFC 3339 date-time with an offset, as"
        " 2024-03-01T10:00:00Z"
    )


Identifier = Annotated[
    str, Strict(), Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)
]
SchemaVersion = Annotated[
    int,
    PlainValidator(_schema_version),
    WithJsonSchema({"type": "integer", "const": SCHEMA_VERSION}),
]
#: ``amount``: a JSON number (not a boolean) or a plain decimal string, at least 0, below 10^9.
Amount = Annotated[
    Decimal,
    PlainValidator(_amount),
    WithJsonSchema({"anyOf": [
        {"type": "number", "minimum": 0, "exclusiveMaximum": int(MAX_AMOUNT)},
        {"type": "string", "pattern": AMOUNT_PATTERN},
    ]}),
]
Currency = Annotated[str, Strict(), Field(pattern=CURRENCY_PATTERN)]
#: ``occurred_at`` (and any other event time): RFC 3339 with an offset.
EventTime = Annotated[
    datetime,
    PlainValidator(parse_event_time),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME_PATTERN}),
]
Margin = Annotated[
    Decimal,
    PlainValidator(_margin),
    WithJsonSchema({"anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"type": "string", "pattern": MARGIN_PATTERN},
    ]}),
]
TenantId = Annotated[str, Strict(), Field(min_length=1, max_length=64, pattern=TENANT_PATTERN)]

"""The five subscription events of the ``orders`` topic (contract v2, "Subscriptions").

They share the order events' field rules (:mod:`clv_stream.events.fields`): identifiers,
amounts, currencies, times with offsets, tenant ids; and add

- ``interval``: ``day``, ``week``, ``month`` or ``year``;
- ``interval_count``: a JSON integer (``3.0`` is 3), absent or null meaning 1, at most three
  years of periods (Stripe's limit): 1095 days, 156 weeks, 36 months, 3 years;
- ``effective_at`` (cancellations): an RFC 3339 time with an offset, like ``occurred_at``;
  earlier than ``occurred_at`` is a backdated cancellation and is accepted.

Every event that carries an amount carries its ``currency`` (``subscription_changed`` too:
the contract's table leaves it out, but an amount means nothing without one).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from clv_stream.events.fields import (
    Amount,
    Currency,
    EventTime,
    Identifier,
    Margin,
    SchemaVersion,
    TenantId,
    parse_event_time,
)
from clv_stream.events.patterns import TIME_PATTERN

__all__ = ["KIND_OF_SUBSCRIPTION_EVENT", "MAX_INTERVAL_COUNT", "SUBSCRIPTION_EVENTS", "Interval", "Priced",
           "SubscriptionCancelled", "SubscriptionChanged", "SubscriptionEvent", "SubscriptionReactivated",
           "SubscriptionRenewed", "SubscriptionStarted", "Terms"]

class Interval(StrEnum):
    """The unit of a billing interval."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


#: The most periods of each unit one billing interval may span: three years, as Stripe allows.
MAX_INTERVAL_COUNT: dict[Interval, int] = {
    Interval.DAY: 1095, Interval.WEEK: 156, Interval.MONTH: 36, Interval.YEAR: 3,
}
_MAX_COUNT = max(MAX_INTERVAL_COUNT.values())


def _interval_count(value: Any) -> int:
    # a JSON integer: 3.0 is the integer 3, a boolean is none; null is the default, 1
    if value is None:
        return 1
    if (type(value) is int or (type(value) is float and value.is_integer())) \
            and 1 <= value <= _MAX_COUNT:
        return int(value)
    raise PydanticCustomError("invalid_interval_count",
                              f"interval_count must be an integer from 1 to {_MAX_COUNT}")


def _effective_at(value: Any) -> datetime:
    try:
        return parse_event_time(value, "effective_at")
    except PydanticCustomError as exc:
        raise PydanticCustomError("invalid_effective_at", exc.message()) from None


IntervalCount = Annotated[
    int,
    PlainValidator(_interval_count),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": _MAX_COUNT},
                              {"type": "null"}]}),
    Field(description="Billing periods per interval; absent or null: 1"),
]


class SubscriptionEvent(BaseModel):
    """The fields every subscription event has."""

    model_config = ConfigDict(extra="ignore", frozen=True, regex_engine="python-re")

    schema_version: SchemaVersion
    event_id: Identifier | None = Field(
        default=None,
        description='Idempotency key; default "{subscription_id}:{event_type}:{occurred_at}"',
    )
    subscription_id: Identifier
    customer_id: Identifier
    occurred_at: Annotated[EventTime, Field(description="RFC 3339 with offset")]
    tenant_id: TenantId | None = Field(
        default=None, description="The shop or account; default CLV_DEFAULT_TENANT")
    event_type: str
    _occurred_text: str = PrivateAttr(default="")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_occurred_text(cls, data: Any,
                            handler: ModelWrapValidatorHandler[SubscriptionEvent]) -> Any:
        # the default event_id holds occurred_at as it was sent, not as it was parsed
        event = handler(data)
        if isinstance(data, dict) and isinstance(data.get("occurred_at"), str):
            event._occurred_text = data["occurred_at"]
        return event

    @property
    def idempotency_key(self) -> str:
        return self.event_id or f"{self.subscription_id}:{self.event_type}:{self._occurred_text}"


class Priced(SubscriptionEvent):
    """An event with an amount: started, renewed, changed, reactivated."""

    amount: Annotated[Amount, Field(description="Per billing period: decimal string or number")]
    currency: Currency


def _count_rule(unit: Interval, most: int) -> dict[str, Any]:
    return {"if": {"properties": {"interval": {"const": unit.value}}, "required": ["interval"]},
            "then": {"properties": {"interval_count": {"maximum": most}}}}


class Terms(Priced):
    """An amount per ``interval_count`` x ``interval``."""

    model_config = ConfigDict(json_schema_extra={
        "allOf": [_count_rule(unit, most) for unit, most in MAX_INTERVAL_COUNT.items()],
    })

    interval: Interval
    interval_count: IntervalCount = 1

    @model_validator(mode="after")
    def _at_most_three_years(self) -> Terms:
        most = MAX_INTERVAL_COUNT[self.interval]
        if self.interval_count > most:
            raise PydanticCustomError(
                "invalid_interval_count",
                f"interval_count of a {self.interval.value} interval is at most {most}")
        return self


class SubscriptionStarted(Terms):
    """A new subscription: its amount per billing period and its interval."""

    model_config = ConfigDict(title="SubscriptionStarted")

    event_type: Literal["subscription_started"]
    plan_id: Identifier | None = None
    margin: Margin | None = Field(default=None, description="Default: the tenant's margin")


class SubscriptionRenewed(Priced):
    """A new billing period began: ``amount`` is what was charged for it."""

    model_config = ConfigDict(title="SubscriptionRenewed")

    event_type: Literal["subscription_renewed"]


class SubscriptionChanged(Terms):
    """New terms from ``occurred_at`` on: amount, interval and plan, stated in full."""

    model_config = ConfigDict(title="SubscriptionChanged")

    event_type: Literal["subscription_changed"]
    plan_id: Identifier | None = None


class SubscriptionCancelled(SubscriptionEvent):
    """The subscription ends at ``effective_at`` (default: the end of the paid period)."""

    model_config = ConfigDict(title="SubscriptionCancelled")

    event_type: Literal["subscription_cancelled"]
    effective_at: Annotated[
        datetime,
        PlainValidator(_effective_at),
        WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME_PATTERN}),
        Field(description="RFC 3339 with offset; default the end of the paid period; "
                          "occurred_at means at once; earlier is a backdated cancellation"),
    ] | None = None


class SubscriptionReactivated(Terms):
    """A cancelled or churned subscription is paid again, on these terms."""

    model_config = ConfigDict(title="SubscriptionReactivated")

    event_type: Literal["subscription_reactivated"]


#: event_type -> its model: how both the validator and the input union pick one.
SUBSCRIPTION_EVENTS: dict[str, type[SubscriptionEvent]] = {
    "subscription_started": SubscriptionStarted,
    "subscription_renewed": SubscriptionRenewed,
    "subscription_changed": SubscriptionChanged,
    "subscription_cancelled": SubscriptionCancelled,
    "subscription_reactivated": SubscriptionReactivated,
}
#: A subscription event's kind as the store will keep it: one letter per event type, none of
#: them an order kind (``p``, ``r``, ``c``).
KIND_OF_SUBSCRIPTION_EVENT: dict[str, str] = {
    "subscription_started": "s", "subscription_renewed": "n", "subscription_changed": "h",
    "subscription_cancelled": "x", "subscription_reactivated": "a",
}

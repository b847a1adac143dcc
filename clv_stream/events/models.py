"""Pydantic models of every event on the public topics (``docs/contract.md``).

The JSON Schemas in ``schemas/`` are generated from these models
(``python -m clv_stream.events.schemas``) and a test fails when they drift.

The worker's hot path validates input with :class:`OrderEvent` but builds output records as
plain dicts for speed; tests validate those dicts against the output models below, so the
models stay the single source of truth for the contract.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Strict, Tag

from clv_stream.events.fields import (
    MAX_AMOUNT,
    SCHEMA_VERSION,
    Amount,
    Currency,
    EventTime,
    Identifier,
    Margin,
    SchemaVersion,
    TenantId,
)
from clv_stream.events.patterns import (
    AMOUNT_PATTERN,
    IDENTIFIER_PATTERN,
    MARGIN_PATTERN,
    TENANT_PATTERN,
    TIME_PATTERN,
)
from clv_stream.events.spend import MarketingSpend
from clv_stream.events.subscriptions import (
    SUBSCRIPTION_EVENTS,
    SubscriptionCancelled,
    SubscriptionChanged,
    SubscriptionReactivated,
    SubscriptionRenewed,
    SubscriptionStarted,
)

__all__ = [
    "AMOUNT_PATTERN",
    "EVENT_OF_KIND",
    "IDENTIFIER_PATTERN",
    "KIND_OF_EVENT",
    "MARGIN_PATTERN",
    "MAX_AMOUNT",
    "SCHEMA_VERSION",
    "TENANT_PATTERN",
    "TIME_PATTERN",
    "Cause",
    "ChurnBand",
    "ClvUpdate",
    "CustomerValue",
    "DeadLetter",
    "DeadLetterError",
    "Dimension",
    "EventType",
    "InputEvent",
    "OrderEvent",
    "SegmentChange",
    "SubscriptionValue",
]

Money = Annotated[Decimal, Field(description="Decimal string in the reporting currency")]
TenantOfCustomer = Annotated[str, Field(
    description="The customer's tenant (CLV_DEFAULT_TENANT when its events named none)")]


class EventType(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_REFUNDED = "order_refunded"
    ORDER_CANCELLED = "order_cancelled"


#: An order event's kind as the store keeps it (one letter per order state change), and back.
KIND_OF_EVENT: dict[str, str] = {EventType.ORDER_PLACED: "p", EventType.ORDER_REFUNDED: "r",
                                 EventType.ORDER_CANCELLED: "c"}
EVENT_OF_KIND: dict[str, str] = {kind: str(event) for event, kind in KIND_OF_EVENT.items()}


class Cause(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_REFUNDED = "order_refunded"
    ORDER_CANCELLED = "order_cancelled"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_RENEWED = "subscription_renewed"
    SUBSCRIPTION_CHANGED = "subscription_changed"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    SUBSCRIPTION_REACTIVATED = "subscription_reactivated"
    MODEL_REFIT = "model_refit"
    TIME_DECAY = "time_decay"


# The registered segment schemes (domain.segments.registry), spelled out for the published
# schema; tests/unit/domain/test_segments.py keeps the two lists equal.
class Dimension(StrEnum):
    VALUE_TIER = "value_tier"
    LIFECYCLE = "lifecycle"
    RFM = "rfm"
    SUBSCRIPTION = "subscription"


class ChurnBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class OrderEvent(BaseModel):
    """One message on the ``orders`` topic: exactly what ``schemas/orders.schema.json`` accepts.

    A differential test pins this model, the fast path and the schema (its patterns read as
    ECMA-262, ``date-time`` checked as RFC 3339) to the same answers. In particular:

    - ``amount``: a JSON number (not a boolean) or a plain decimal string (digits, optionally a
      point and digits: no sign, exponent, spaces or underscores), at least 0, below 10^9;
    - ``margin``: the same kinds, from 0 to 1; ``schema_version``: the number 1 (``1.0`` is the
      same JSON Schema integer);
    - ``occurred_at``: RFC 3339 ``date-time`` with upper-case ``T`` and ``Z``, seconds 00-59
      and an offset, on a day its month has;
    - ``tenant_id``: optional, 1-64 of ``A-Z a-z 0-9 . _ -``; absent or null means
      ``CLV_DEFAULT_TENANT``.

    Unknown extra fields are ignored, whatever they hold and however deep they nest: both
    validation paths read a message once, with the same JSON reader (orjson), so they agree;
    that reader stops at 1024 levels of nesting (the message object included), and a message
    nested deeper is ``invalid_json``, on both paths. (Read through
    :class:`~clv_stream.events.validation.OrderValidator`: pydantic's own JSON reader,
    ``model_validate_json``, stops at about 200 levels and takes ``NaN``.)

    Rules beyond the schema depend on settings and live in :mod:`clv_stream.events.validation`:
    the decimals per currency, a convertible currency, ``occurred_at`` between
    ``CLV_MIN_EVENT_TIME`` and now + ``CLV_MAX_CLOCK_SKEW``, the message size.
    """

    model_config = ConfigDict(
        extra="ignore", frozen=True, title="OrderEvent", regex_engine="python-re"
    )

    schema_version: SchemaVersion
    event_type: EventType
    event_id: Identifier | None = Field(
        default=None, description='Idempotency key; default "{order_id}:{event_type}"'
    )
    order_id: Identifier
    customer_id: Identifier
    amount: Annotated[Amount, Field(description="Decimal string or number")]
    currency: Currency
    occurred_at: Annotated[EventTime, Field(description="RFC 3339 with offset")]
    margin: Margin | None = None
    channel: Annotated[str, Strict(), Field(max_length=256)] | None = None
    tenant_id: TenantId | None = Field(
        default=None, description="The shop or account; default CLV_DEFAULT_TENANT")

    @property
    def idempotency_key(self) -> str:
        return self.event_id or f"{self.order_id}:{self.event_type.value}"


def _input_tag(value: Any) -> str:
    """Which member of :class:`InputEvent` reads ``value``: a subscription event by its
    ``event_type``; anything else as an order, which names the error."""
    event_type = (value.get("event_type") if isinstance(value, dict)
                  else getattr(value, "event_type", None))
    if type(event_type) is str and (event_type in SUBSCRIPTION_EVENTS
                                    or event_type == "marketing_spend"):
        return event_type
    return "order"


class InputEvent(RootModel[Annotated[
    Annotated[OrderEvent, Tag("order")]
    | Annotated[SubscriptionStarted, Tag("subscription_started")]
    | Annotated[SubscriptionRenewed, Tag("subscription_renewed")]
    | Annotated[SubscriptionChanged, Tag("subscription_changed")]
    | Annotated[SubscriptionCancelled, Tag("subscription_cancelled")]
    | Annotated[SubscriptionReactivated, Tag("subscription_reactivated")]
    | Annotated[MarketingSpend, Tag("marketing_spend")],
    Discriminator(_input_tag),
]]):
    """One message on the ``orders`` topic: an order event, one of the five subscription
    events or a marketing spend, told apart by ``event_type``.
    ``schemas/orders.schema.json`` is this union."""

    model_config = ConfigDict(title="InputEvent")


class SubscriptionValue(BaseModel):
    """A customer's subscriptions (``CustomerValue.subscription``; null without any)."""

    model_config = ConfigDict(title="SubscriptionValue")

    active_subscriptions: int = Field(description="Subscriptions paid up now")
    mrr: Money
    first_started_at: datetime | None
    renewals: int
    retention_probability: float | None = Field(
        description="Of the next renewal of its largest renewing subscription (sBG)")
    expected_renewals: float = Field(description="Within CLV_HORIZON_MONTHS (sBG)")
    predicted_subscription_clv: Money


class RfmScores(BaseModel):
    """A customer's RFM scores, 1-5 each: recency (5: the most recent), frequency (orders)
    and monetary value (net revenue), against the model's cut points."""

    model_config = ConfigDict(title="RfmScores")

    r: int = Field(ge=1, le=5)
    f: int = Field(ge=1, le=5)
    m: int = Field(ge=1, le=5)


class CustomerValue(BaseModel):
    """A customer's value as of ``as_of`` (see the README for every field's definition)."""

    model_config = ConfigDict(title="CustomerValue")

    orders: int
    net_revenue: Money
    first_order_at: datetime | None
    last_order_at: datetime | None
    frequency: int = Field(description="Repeat purchase days: distinct UTC days with an order - 1")
    recency_days: int = Field(description="Days from the first to the last order (t_x)")
    age_days: int = Field(description="Days from the first order to as_of (T)")
    average_order_value: Money
    average_days_between_orders: float | None
    historic_clv: Money
    traditional_clv: Money
    p_alive: float
    expected_orders: float
    expected_average_order_value: Money
    predicted_clv: Money
    total_clv: Money
    churn_risk: float
    churn_risk_band: ChurnBand
    expected_next_order_at: datetime | None
    subscription_revenue: Money = Field(
        default=Decimal(0), description="Paid subscription amounts (also in historic_clv)")
    subscription: SubscriptionValue | None = None
    rfm_scores: RfmScores | None = Field(
        default=None, description="Null for a customer without a counting order")
    acquisition_channel: str | None = Field(
        default=None, description='The channel of its first order not cancelled ("unknown" when '
                                  "none was given); null for a customer without a counting order")
    cohort: str | None = Field(default=None, description='"YYYY-MM" of the first order')
    clv_percentile: int | None = Field(
        default=None, ge=0, le=100,
        description="Percentiles (1-100) of the tenant's total_clv at the last fit that this "
                    "total_clv reaches; null before a fit")


class ClvUpdate(BaseModel):
    """A record on ``clv.updates``."""

    model_config = ConfigDict(title="ClvUpdate")

    schema_version: Literal[1] = 1
    event_id: str
    customer_id: str
    tenant_id: TenantOfCustomer
    cause: Cause
    source_event_id: str | None
    as_of: datetime
    currency: str
    model_version: str
    previous: CustomerValue | None
    current: CustomerValue
    delta_clv: Money


class SegmentChange(BaseModel):
    """A record on ``clv.segments``: one per change of one dimension."""

    model_config = ConfigDict(title="SegmentChange", populate_by_name=True)

    schema_version: Literal[1] = 1
    event_id: str
    customer_id: str
    tenant_id: TenantOfCustomer
    dimension: Dimension
    from_: str | None = Field(alias="from")
    to: str
    as_of: datetime
    cause: Cause
    total_clv: Money
    p_alive: float


class DeadLetterError(BaseModel):
    code: str
    message: str
    field: str | None


class DeadLetter(BaseModel):
    """A record on ``clv.deadletter``: the rejected message and a machine-readable reason."""

    model_config = ConfigDict(title="DeadLetter")

    schema_version: Literal[1] = 1
    error: DeadLetterError
    tenant_id: str | None = Field(description="The message's tenant (CLV_DEFAULT_TENANT when "
                                  "it named none); null when it has no readable one")
    topic: str
    partition: int
    offset: int
    key: str | None = Field(description="The message key (its first 1 KiB)")
    key_truncated: bool = Field(default=False, description="The key was longer than 1 KiB")
    raw: str = Field(description="The original bytes (up to 64 KiB, less when the record would "
                                 "exceed CLV_MAX_DEADLETTER_BYTES), as UTF-8 or base64")
    raw_encoding: Literal["utf-8", "base64"]
    raw_truncated: bool
    received_at: datetime

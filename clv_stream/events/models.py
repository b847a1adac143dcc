"""Pydantic models of every event on the public topics (``../shared/CONTRACT.md``).

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
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "SCHEMA_VERSION",
    "Cause",
    "ChurnBand",
    "ClvUpdate",
    "CustomerValue",
    "DeadLetter",
    "DeadLetterError",
    "Dimension",
    "EventType",
    "OrderEvent",
    "SegmentChange",
]

SCHEMA_VERSION = 1
#: Amounts must stay below this, so minor units times a margin in basis points stay exact in
#: a double (Redis Lua numbers): 10^9 x 10^2 minor units x 10^4 < 2^53.
MAX_AMOUNT = Decimal(10) ** 9

#: 1-128 printable characters: no C0/C1 control characters, no DEL.
Identifier = Annotated[
    str, Strict(), Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")
]
Money = Annotated[Decimal, Field(description="Decimal string in the reporting currency")]


class EventType(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_REFUNDED = "order_refunded"
    ORDER_CANCELLED = "order_cancelled"


class Cause(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_REFUNDED = "order_refunded"
    ORDER_CANCELLED = "order_cancelled"
    MODEL_REFIT = "model_refit"
    TIME_DECAY = "time_decay"


class Dimension(StrEnum):
    VALUE_TIER = "value_tier"
    LIFECYCLE = "lifecycle"
    RFM = "rfm"


class ChurnBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class OrderEvent(BaseModel):
    """One message on the ``orders`` topic. Unknown extra fields are ignored.

    Rules beyond types (decimals per currency, convertible currency, future dates) depend on
    settings and live in :mod:`clv_stream.events.validation`.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, title="OrderEvent")

    schema_version: Annotated[int, Strict(), Field(json_schema_extra={"const": SCHEMA_VERSION})]
    event_type: EventType
    event_id: Identifier | None = Field(
        default=None, description='Idempotency key; default "{order_id}:{event_type}"'
    )
    order_id: Identifier
    customer_id: Identifier
    amount: Annotated[
        Decimal,
        Field(ge=0, lt=MAX_AMOUNT, allow_inf_nan=False, description="Decimal string or number"),
    ]
    currency: Annotated[str, Strict(), Field(pattern=r"^[A-Z]{3}$")]
    occurred_at: Annotated[AwareDatetime, Strict(), Field(description="RFC 3339 with offset")]
    margin: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    channel: Annotated[str, Field(max_length=256)] | None = None

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise PydanticCustomError(
                "unsupported_schema_version", "schema_version {v} is not supported", {"v": value}
            )
        return value

    @property
    def idempotency_key(self) -> str:
        return self.event_id or f"{self.order_id}:{self.event_type.value}"


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


class ClvUpdate(BaseModel):
    """A record on ``clv.updates``."""

    model_config = ConfigDict(title="ClvUpdate")

    schema_version: Literal[1] = 1
    event_id: str
    customer_id: str
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
    topic: str
    partition: int
    offset: int
    key: str | None
    raw: str = Field(description="The original bytes (up to 64 KiB), as UTF-8 or base64")
    raw_encoding: Literal["utf-8", "base64"]
    raw_truncated: bool
    received_at: datetime

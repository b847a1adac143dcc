"""The ``marketing_spend`` event of the ``orders`` topic (contract v2, "Acquisition").

What a tenant spent on one acquisition channel in one calendar month. It names no customer:
for one (``tenant_id``, ``channel``, ``month``) the event with the latest (``occurred_at``,
``event_id``) holds the amount, whatever order the events arrive in, so a corrected figure
is simply sent again. The report's ``by_channel`` divides a period's spend by the customers
the channel acquired in it (CAC).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from clv_stream.events.fields import (
    Amount,
    Currency,
    EventTime,
    Identifier,
    SchemaVersion,
    TenantId,
)

__all__ = ["MONTH_PATTERN", "MarketingSpend"]

#: A calendar month, "YYYY-MM" (years 1000-9999).
MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"


class MarketingSpend(BaseModel):
    """Spend on one acquisition channel in one month (no ``customer_id``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, title="MarketingSpend",
                              regex_engine="python-re")

    schema_version: SchemaVersion
    event_type: Literal["marketing_spend"]
    event_id: Identifier
    tenant_id: TenantId | None = Field(
        default=None, description="The shop or account; default CLV_DEFAULT_TENANT")
    channel: Annotated[str, Strict(), Field(min_length=1, max_length=256)]
    month: Annotated[str, Strict(), Field(pattern=MONTH_PATTERN, description='"YYYY-MM"')]
    amount: Annotated[Amount, Field(description="Decimal string or number")]
    currency: Currency
    occurred_at: Annotated[EventTime, Field(description="RFC 3339 with offset")]

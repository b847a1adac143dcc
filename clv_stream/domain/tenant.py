"""A tenant's own settings: what a platform sets per shop, over the platform's defaults.

Set with ``clv-stream tenants set`` and kept in the store (as this model's JSON), read by
every worker without a restart. A field left unset (None) takes the platform's value
(``CLV_CURRENCY``, ``CLV_FX_RATES``, ``CLV_DEFAULT_MARGIN``, ``CLV_VALUE_TIER_CUTS``, the
current model, its RFM cut points).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RFM_CUT_NAMES", "TenantSettings"]

#: The quantities RFM scores are cut on, each by four ascending cut points (quintiles).
RFM_CUT_NAMES = ("recency_days", "orders", "net_revenue")

Rate = Annotated[Decimal, Field(gt=0)]
Cuts4 = tuple[float, float, float, float]


class TenantSettings(BaseModel):
    """One tenant's settings; None everywhere is the platform's settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Reporting currency of the tenant's values (aggregates are kept in its minor units).
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    #: Units of ``currency`` per one unit of each other currency its events use.
    fx_rates: dict[str, Rate] | None = None
    default_margin: Decimal | None = Field(default=None, ge=0, le=1)
    #: The model the tenant is scored with (``clv-stream fit --tenant`` sets it).
    model_version: str | None = Field(default=None, min_length=1, max_length=200)
    #: Lower bounds of ``medium``, ``high``, ``vip`` on ``total_clv``, in ``currency``.
    value_tier_cuts: tuple[Decimal, Decimal, Decimal] | None = None
    #: RFM cut points per quantity (:data:`RFM_CUT_NAMES`), ascending.
    rfm_cuts: dict[str, Cuts4] | None = None

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("value_tier_cuts")
    @classmethod
    def _ascending(cls, value: tuple[Decimal, Decimal, Decimal] | None,
                   ) -> tuple[Decimal, Decimal, Decimal] | None:
        if value is not None and not value[0] < value[1] < value[2]:
            raise ValueError("value tier cut points must ascend")
        return value

    @field_validator("rfm_cuts")
    @classmethod
    def _rfm_known(cls, value: dict[str, Cuts4] | None) -> dict[str, Cuts4] | None:
        if value is None:
            return value
        unknown = set(value) - set(RFM_CUT_NAMES)
        if unknown:
            raise ValueError(f"unknown RFM quantities {sorted(unknown)}; known: "
                             f"{', '.join(RFM_CUT_NAMES)}")
        if any(list(cuts) != sorted(cuts) for cuts in value.values()):
            raise ValueError("RFM cut points must ascend")
        return value

    def merged(self, change: TenantSettings) -> TenantSettings:
        """These settings with every field ``change`` sets replaced."""
        return self.model_copy(update=change.model_dump(exclude_unset=True))

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> TenantSettings:
        return cls.model_validate_json(raw)

"""How one tenant's amounts become exact integers: its reporting currency, the exchange rates
into it, and the margin an order without one is given.

The platform's come from the settings (``CLV_CURRENCY``, ``CLV_FX_RATES``,
``CLV_DEFAULT_MARGIN``); a tenant with a currency of its own gets the platform's rates
crossed into that currency (``rate(c) / rate(its currency)``), overridden by the rates it
sets. An amount is converted with one multiplication and rounded half-even once, into the
reporting currency's minor units.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from clv_stream.events.errors import ErrorCode
from clv_stream.exceptions import InvalidEvent
from clv_stream.settings import MINOR_UNITS, Settings

__all__ = ["Money"]

_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class Money:
    currency: str
    decimals: int
    #: currency -> units of ``currency`` per one unit of it (``currency`` itself: 1)
    rates: Mapping[str, Decimal]
    minor_unit: Callable[[str], int | None]
    default_margin_bp: int
    #: the currencies an event may use: ISO-shaped, with a minor unit and a rate
    convertible: frozenset[str]
    scale: int

    @classmethod
    def of(cls, settings: Settings, currency: str | None = None,
           fx_rates: Mapping[str, Decimal] | None = None,
           default_margin: Decimal | None = None) -> Money:
        """The platform's money rules, or a tenant's where it sets its own."""
        reporting = currency or settings.currency
        known = {*settings.minor_units, *MINOR_UNITS, *settings.fx_rates, *(fx_rates or {})}
        rates: dict[str, Decimal] = {}
        base = settings.rate(reporting)  # platform units per unit of the reporting currency
        if base is not None:
            for c in known:
                platform = settings.rate(c)
                if platform is not None:
                    rates[c] = platform / base
        rates.update(fx_rates or {})
        rates[reporting] = Decimal(1)
        margin = settings.default_margin if default_margin is None else default_margin
        decimals = settings.decimals(reporting)
        convertible = frozenset(c for c in known | {reporting} if _CURRENCY.fullmatch(c)
                                and settings.minor_unit(c) is not None and c in rates)
        return cls(reporting, decimals, rates, settings.minor_unit,
                   int((margin * 10000).to_integral_value(rounding=ROUND_HALF_EVEN)),
                   convertible, 10**decimals)

    def to_minor(self, amount: Decimal, currency: str) -> int:
        """``amount`` of ``currency`` in minor units of the reporting currency (exact), or
        :class:`InvalidEvent` when it cannot be converted or has too many decimals."""
        minor_unit = self.minor_unit(currency)
        rate = self.rates.get(currency)
        if minor_unit is None or rate is None:
            raise InvalidEvent(
                ErrorCode.UNKNOWN_CURRENCY,
                f"no exchange rate from {currency} to {self.currency} (set CLV_FX_RATES, or"
                " the tenant's rates)",
                "currency",
            )
        try:
            exact = amount == amount.quantize(Decimal(1).scaleb(-minor_unit))
        except InvalidOperation:
            exact = False
        if not exact:
            raise InvalidEvent(
                ErrorCode.TOO_MANY_DECIMALS,
                f"{currency} amounts have at most {minor_unit} decimals",
                "amount",
            )
        unit = Decimal(1).scaleb(-self.decimals)
        converted = (amount * rate).quantize(unit, rounding=ROUND_HALF_EVEN)
        return int(converted.scaleb(self.decimals))

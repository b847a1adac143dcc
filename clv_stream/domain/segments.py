"""Segment rules: pure functions from a customer's value to a label per dimension.

``value_tier`` (on ``total_clv``, cut points from the model or the settings):
    ``low`` < cut[0] <= ``medium`` < cut[1] <= ``high`` < cut[2] <= ``vip``.
``lifecycle`` (on days since the last order, as of the stream's event time):
    ``new`` (one purchase day) or ``active`` (repeat buyer) while within ``at_risk_days``;
    ``at_risk`` until ``lapsed_days``; ``lapsed`` after; ``none`` when no order counts
    (every order was cancelled).

Lifecycle changes with time alone, so :func:`next_due` gives the event time at which the
customer's labels must be looked at again even if no order arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clv_stream.domain.aggregate import SECONDS_PER_DAY

__all__ = ["DIMENSIONS", "SegmentRules", "changes", "decode", "encode"]

DIMENSIONS = ("value_tier", "lifecycle")
TIERS = ("low", "medium", "high", "vip")
#: Value tiers drift as p_alive decays, so customers are re-looked at this often at least.
RESCORE_EVERY_DAYS = 30


@dataclass(frozen=True, slots=True)
class SegmentRules:
    tier_cuts: tuple[float, float, float] = (100.0, 500.0, 2000.0)
    at_risk_days: int = 90
    lapsed_days: int = 365

    def value_tier(self, total_clv: float) -> str:
        tier = 0
        for cut in self.tier_cuts:
            if total_clv >= cut:
                tier += 1
        return TIERS[tier]

    def lifecycle(self, orders: int, frequency: int, days_since_last: int) -> str:
        if orders <= 0:
            return "none"
        if days_since_last > self.lapsed_days:
            return "lapsed"
        if days_since_last > self.at_risk_days:
            return "at_risk"
        return "active" if frequency > 0 else "new"

    def labels(
        self, orders: int, frequency: int, days_since_last: int, total_clv: float
    ) -> dict[str, str]:
        return {
            "value_tier": self.value_tier(total_clv),
            "lifecycle": self.lifecycle(orders, frequency, days_since_last),
        }

    def next_due(self, orders: int, last_ts: int, as_of: float) -> int | None:
        """Event time (epoch s) of the next time-driven look at this customer, or None."""
        if orders <= 0:
            return None
        for days in (self.at_risk_days, self.lapsed_days):
            # the label flips once days_since_last exceeds ``days``: one day after the bound
            boundary = (last_ts // SECONDS_PER_DAY + days + 1) * SECONDS_PER_DAY
            if boundary > as_of:
                return int(min(boundary, as_of + RESCORE_EVERY_DAYS * SECONDS_PER_DAY))
        return int(as_of + RESCORE_EVERY_DAYS * SECONDS_PER_DAY)


def encode(labels: Mapping[str, str]) -> str:
    return "|".join(labels.get(d, "") for d in DIMENSIONS)


def decode(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    return {d: v for d, v in zip(DIMENSIONS, raw.split("|"), strict=False) if v}


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str | None, str]]:
    """(dimension, from, to) for each dimension whose label changed, in a fixed order."""
    return [(d, before.get(d), after[d]) for d in DIMENSIONS if before.get(d) != after[d]]

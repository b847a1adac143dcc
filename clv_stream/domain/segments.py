"""Segment rules: pure functions from a customer's value to a label per dimension.

``value_tier`` (on ``total_clv``, cut points from the model or the settings):
    ``low`` < cut[0] <= ``medium`` < cut[1] <= ``high`` < cut[2] <= ``vip``.
``lifecycle`` (on days since the last order, as of the stream's event time):
    ``new`` (one purchase day) or ``active`` (repeat buyer) while within ``at_risk_days``;
    ``at_risk`` until ``lapsed_days``; ``lapsed`` after; ``none`` when no order counts
    (every order was cancelled).

``rfm`` (the classic recency / frequency / monetary grid): each of days since the last order,
    orders and net revenue is scored 1-5 against four cut points (quintiles fitted with the
    model, or defaults), and the (R, F) pair is named as in the usual RFM segment map:
    ``champions``, ``loyal``, ``potential_loyalist``, ``new``, ``promising``,
    ``need_attention``, ``about_to_sleep``, ``at_risk``, ``cannot_lose``, ``hibernating``.

Lifecycle and RFM recency change with time alone, so :func:`SegmentRules.next_due` gives the
event time at which the customer's labels must be looked at again even if no order arrives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from clv_stream.domain.aggregate import SECONDS_PER_DAY

__all__ = ["DIMENSIONS", "RfmCuts", "SegmentRules", "changes", "decode", "encode", "rfm_segment"]

DIMENSIONS = ("value_tier", "lifecycle", "rfm")
TIERS = ("low", "medium", "high", "vip")
#: Value tiers drift as p_alive decays, so customers are re-looked at this often at least.
RESCORE_EVERY_DAYS = 30


Cuts4 = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class RfmCuts:
    """Four ascending cut points per measure; a value at or above the k-th cut scores k+1
    (recency is reversed: fewer days since the last order score higher)."""

    recency_days: Cuts4 = (30.0, 90.0, 180.0, 365.0)
    orders: Cuts4 = (2.0, 3.0, 5.0, 8.0)
    net_revenue: Cuts4 = (50.0, 150.0, 400.0, 1000.0)

    @staticmethod
    def score(value: float, cuts: Cuts4) -> int:
        return 1 + sum(1 for cut in cuts if value >= cut)

    def scores(self, days_since_last: int, orders: int, net_revenue: float) -> tuple[int, int, int]:
        recency = 6 - self.score(days_since_last, self.recency_days)
        return recency, self.score(orders, self.orders), self.score(net_revenue, self.net_revenue)


#: The usual RFM segment map: _RF_GRID[5 - R][F - 1].
_RF_GRID = (
    ("new", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    ("promising", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"),
)


def rfm_segment(recency: int, frequency: int) -> str:
    """Name of the (R, F) cell, both scores 1-5."""
    return _RF_GRID[5 - recency][frequency - 1]


@dataclass(frozen=True, slots=True)
class SegmentRules:
    tier_cuts: tuple[float, float, float] = (100.0, 500.0, 2000.0)
    at_risk_days: int = 90
    lapsed_days: int = 365
    rfm: RfmCuts = RfmCuts()

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
        self, orders: int, frequency: int, days_since_last: int, total_clv: float,
        net_revenue: float,
    ) -> dict[str, str]:
        r, f, _ = self.rfm.scores(days_since_last, orders, net_revenue)
        return {
            "value_tier": self.value_tier(total_clv),
            "lifecycle": self.lifecycle(orders, frequency, days_since_last),
            "rfm": rfm_segment(r, f),
        }

    def next_due(self, orders: int, last_ts: int, as_of: float) -> int | None:
        """Event time (epoch s) of the next time-driven look at this customer, or None.

        The next day on which days-since-last-order crosses a lifecycle bound (``> days``)
        or an RFM recency cut (``>= cut``), and at most ``RESCORE_EVERY_DAYS`` ahead.
        """
        if orders <= 0:
            return None
        last_day = last_ts // SECONDS_PER_DAY
        flips = [last_day + d + 1 for d in (self.at_risk_days, self.lapsed_days)]
        flips += [last_day + math.ceil(cut) for cut in self.rfm.recency_days]
        later = [day * SECONDS_PER_DAY for day in flips if day * SECONDS_PER_DAY > as_of]
        cap = as_of + RESCORE_EVERY_DAYS * SECONDS_PER_DAY
        return int(min([*later, cap]))


def encode(labels: Mapping[str, str]) -> str:
    return "|".join(labels.get(d, "") for d in DIMENSIONS)


def decode(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    return {d: v for d, v in zip(DIMENSIONS, raw.split("|"), strict=False) if v}


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str | None, str]]:
    """(dimension, from, to) for each dimension whose label changed, in a fixed order.

    A dimension ``after`` has no label for (a customer who never had a counting order) is
    not a change.
    """
    return [(d, before.get(d), after[d]) for d in DIMENSIONS
            if d in after and before.get(d) != after[d]]

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from clv_stream.domain.aggregate import SECONDS_PER_DAY

__all__ = [
    "DIMENSIONS", "NO_LABELS", "RfmCuts", "SegmentRules", "changes", "changes_encoded", "decode",
    "encode", "rfm_segment",
]

DIMENSIONS = ("value_tier", "lifecycle", "rfm")
TIERS = ("low", "medium", "high", "vip")
LIFECYCLES = ("new", "active", "at_risk", "lapsed")
#: The encoded labels of a customer who has none (never had a counting order).
NO_LABELS = "||"
#: The encoded labels of a customer whose every order was cancelled.
ALL_NONE = "none|none|none"
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


@dataclass(frozen=True)
class SegmentRules:
    """The segment rules of one model version (labels one customer, or a batch as arrays).

    The batch forms (:meth:`encoded_labels`, :meth:`next_due_many`) are the scalar ones
    applied column-wise with numpy; a property test keeps them equal.
    """

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

    def encoded_labels(
        self,
        orders: Sequence[int],
        frequency: Sequence[int],
        days_since_last: Sequence[int],
        total_clv: Sequence[float],
        net_revenue: Sequence[float],
        had_labels: Sequence[bool],
    ) -> list[str]:
        """:func:`encode` of the labels of each customer of a batch, as :meth:`labels`.

        A customer without a counting order is ``none`` everywhere if it had labels before
        (``had_labels``), else has none (:data:`NO_LABELS`).
        """
        n = np.asarray(orders, dtype=np.int64)
        since = np.asarray(days_since_last, dtype=np.int64)
        freq = np.asarray(frequency, dtype=np.int64)
        tier = np.searchsorted(np.asarray(self.tier_cuts), np.asarray(total_clv), side="right")
        life = np.where(since > self.lapsed_days, 3,
                        np.where(since > self.at_risk_days, 2, np.where(freq > 0, 1, 0)))
        cuts = self.rfm
        r = 5 - np.searchsorted(np.asarray(cuts.recency_days), since, side="right")
        f = 1 + np.searchsorted(np.asarray(cuts.orders), n, side="right")
        code = ((tier * 4 + life) * 5 + (5 - r)) * 5 + (f - 1)
        table = self._label_table
        return [table[c] if k > 0 else (ALL_NONE if had else NO_LABELS)
                for c, k, had in zip(code.tolist(), n.tolist(), had_labels, strict=True)]

    @cached_property
    def _label_table(self) -> list[str]:
        return [f"{tier}|{life}|{_RF_GRID[r][f]}"
                for tier in TIERS for life in LIFECYCLES for r in range(5) for f in range(5)]

    def next_due_many(self, orders: Sequence[int], last_ts: Sequence[int], as_of: int) -> list[int | None]:
        """:meth:`next_due` of each customer of a batch, all as of one event time."""
        if not len(orders):
            return []
        last_day = np.asarray(last_ts, dtype=np.int64) // SECONDS_PER_DAY
        offsets = [d + 1 for d in (self.at_risk_days, self.lapsed_days)]
        offsets += [math.ceil(cut) for cut in self.rfm.recency_days]
        flips = (last_day[:, None] + np.asarray(offsets, dtype=np.int64)[None, :]) * SECONDS_PER_DAY
        cap = int(as_of + RESCORE_EVERY_DAYS * SECONDS_PER_DAY)
        due = np.where(flips > as_of, flips, cap).min(axis=1)
        due = np.minimum(due, cap)
        return [d if k > 0 else None for d, k in zip(due.tolist(), orders, strict=True)]


def changes_encoded(before: str, after: str) -> list[tuple[str, str | None, str]]:
    """:func:`changes` between two :func:`encode`-d label sets."""
    if before == after:
        return []
    old = before.split("|") if before else ["", "", ""]
    return [(d, o or None, a) for d, o, a in zip(DIMENSIONS, old, after.split("|"), strict=False)
            if a and o != a]


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

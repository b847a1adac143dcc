"""``subscription``: ``active``, ``cancelling`` (cancelled, still paid up), ``churned``,
``reactivated`` (renewing again after a churn), from the customer's subscriptions
(:mod:`clv_stream.domain.subscription_value`); a customer without any has no label. It
changes with time alone: a period that ends without a renewal is ``churned`` at period end +
``CLV_SUBSCRIPTION_GRACE``, a scheduled cancellation at its effective time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from clv_stream.domain.segments.scheme import NEVER, Columns, CutPoints, Int64s, SegmentScheme

__all__ = ["Subscription"]


@dataclass(frozen=True, slots=True)
class Subscription(SegmentScheme):
    name: ClassVar[str] = "subscription"
    # "": no subscription, no label (a customer of orders only has no subscription segment,
    # so adding this dimension emitted nothing for them)
    vocabulary: ClassVar[tuple[str, ...]] = ("", "active", "cancelling", "churned",
                                             "reactivated")
    needs_orders: ClassVar[bool] = False

    @classmethod
    def from_cuts(cls, cuts: CutPoints) -> Self:
        return cls()

    def codes(self, cols: Columns) -> Int64s:
        if cols.subscription is None:
            return np.zeros(len(cols.orders), dtype=np.int64)
        return cols.subscription

    def next_due(self, cols: Columns, as_of: int) -> Int64s | None:
        if cols.subscription_due is None:
            return None
        due: Int64s = np.where(cols.subscription_due > as_of, cols.subscription_due, NEVER)
        return due

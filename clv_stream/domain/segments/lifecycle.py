"""``lifecycle`` on days since the last order, as of the stream's event time: ``new`` (one
purchase day) or ``active`` (repeat buyer) while within ``at_risk_days``; ``at_risk`` until
``lapsed_days``; ``lapsed`` after. It changes with time alone, hence :meth:`next_due`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from clv_stream.domain.segments.scheme import (
    Columns,
    CutPoints,
    Int64s,
    SegmentScheme,
    cuts_of,
    first_flip,
)

__all__ = ["Lifecycle"]


@dataclass(frozen=True, slots=True)
class Lifecycle(SegmentScheme):
    name: ClassVar[str] = "lifecycle"
    vocabulary: ClassVar[tuple[str, ...]] = ("new", "active", "at_risk", "lapsed")

    at_risk_days: int = 90
    lapsed_days: int = 365

    @classmethod
    def from_cuts(cls, cuts: CutPoints) -> Self:
        """``cuts["lifecycle"]``: (at_risk_days, lapsed_days)."""
        at_risk, lapsed = cuts_of(cuts, cls.name, (90, 365), 2)
        return cls(int(at_risk), int(lapsed))

    def codes(self, cols: Columns) -> Int64s:
        since = cols.days_since_last
        return np.where(since > self.lapsed_days, 3, np.where(
            since > self.at_risk_days, 2, np.where(cols.frequency > 0, 1, 0))).astype(np.int64)

    def next_due(self, cols: Columns, as_of: int) -> Int64s:
        # the first day on which days since the last order is past a bound (``> days``)
        return first_flip(cols.last_ts, (self.at_risk_days + 1, self.lapsed_days + 1), as_of)

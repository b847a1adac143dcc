"""``value_tier`` on ``total_clv``: ``low`` < cut[0] <= ``medium`` < cut[1] <= ``high`` <
cut[2] <= ``vip``. Cut points come from the fitted model, else from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from clv_stream.domain.segments.scheme import Columns, CutPoints, Int64s, SegmentScheme, cuts_of

__all__ = ["ValueTier"]

#: Until a fitted model or the settings say otherwise.
DEFAULT_CUTS = (100.0, 500.0, 2000.0)


@dataclass(frozen=True, slots=True)
class ValueTier(SegmentScheme):
    name: ClassVar[str] = "value_tier"
    vocabulary: ClassVar[tuple[str, ...]] = ("low", "medium", "high", "vip")
    needs_orders: ClassVar[bool] = False  # total_clv counts a subscriber's value too

    cuts: tuple[float, ...] = DEFAULT_CUTS

    @classmethod
    def from_cuts(cls, cuts: CutPoints) -> Self:
        return cls(cuts_of(cuts, cls.name, DEFAULT_CUTS, 3))

    def codes(self, cols: Columns) -> Int64s:
        return np.searchsorted(np.asarray(self.cuts), cols.total_clv, side="right").astype(np.int64)

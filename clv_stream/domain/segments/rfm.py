"""``rfm``, the classic recency / frequency / monetary map.

Each of days since the last order, orders and net revenue is scored 1-5 against four cut
points (quintiles fitted with the model, or defaults); the scores are published as the
customer's ``rfm_scores``, and the cell (R, FM), FM the mean of F and M rounded half up, is
named as in the usual 11-segment RFM map (``lost``: the least recent, with FM 1-2). Recency
changes with time alone, hence :meth:`Rfm.next_due`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from clv_stream.domain.segments.scheme import (
    Columns,
    CutPoints,
    Int64s,
    SegmentScheme,
    cuts_of,
    first_flip,
)

__all__ = ["RFM_MAP", "Rfm"]

Cuts4 = tuple[float, ...]

#: The usual 11-segment RFM map: RFM_MAP[5 - R][FM - 1].
RFM_MAP = (
    ("new", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    ("promising", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    ("lost", "lost", "at_risk", "at_risk", "cannot_lose"),
)
_VOCABULARY = tuple(dict.fromkeys(name for row in RFM_MAP for name in row))
#: The grid as indices into the vocabulary, for one vectorised lookup.
_CELLS = np.array([[_VOCABULARY.index(name) for name in row] for row in RFM_MAP], dtype=np.int64)

_DEFAULTS = {"recency_days": (30.0, 90.0, 180.0, 365.0), "orders": (2.0, 3.0, 5.0, 8.0),
             "net_revenue": (50.0, 150.0, 400.0, 1000.0)}


@dataclass(frozen=True, slots=True)
class Rfm(SegmentScheme):
    """Four ascending cut points per measure; a value at or above the k-th cut scores k+1
    (recency is reversed: fewer days since the last order score higher)."""

    name: ClassVar[str] = "rfm"
    vocabulary: ClassVar[tuple[str, ...]] = _VOCABULARY

    recency_days: Cuts4 = _DEFAULTS["recency_days"]
    orders: Cuts4 = _DEFAULTS["orders"]
    net_revenue: Cuts4 = _DEFAULTS["net_revenue"]

    @classmethod
    def from_cuts(cls, cuts: CutPoints) -> Self:
        """``cuts["rfm.recency_days"]``, ``["rfm.orders"]``, ``["rfm.net_revenue"]``: four each
        (the keys of ``ScoringModel.rfm_cuts``, prefixed)."""
        r, f, m = (cuts_of(cuts, f"{cls.name}.{k}", v, 4) for k, v in _DEFAULTS.items())
        return cls(r, f, m)

    def scores(self, cols: Columns) -> tuple[Int64s, Int64s, Int64s]:
        """R, F and M scores (1-5) of each customer."""
        def score(cuts: Cuts4, values: npt.NDArray[Any]) -> Int64s:
            return 1 + np.searchsorted(np.asarray(cuts), values, side="right").astype(np.int64)

        recency = 6 - score(self.recency_days, cols.days_since_last)
        return recency, score(self.orders, cols.orders), score(self.net_revenue, cols.net_revenue)

    def codes(self, cols: Columns) -> Int64s:
        r, f, m = self.scores(cols)
        codes: Int64s = _CELLS[5 - r, (f + m + 1) // 2 - 1]
        return codes

    def value_fields(self, cols: Columns) -> Mapping[str, list[Any]]:
        r, f, m = self.scores(cols)
        return {"rfm_scores": [{"r": a, "f": b, "m": c} for a, b, c
                               in zip(r.tolist(), f.tolist(), m.tolist(), strict=True)]}

    def next_due(self, cols: Columns, as_of: int) -> Int64s:
        # the first day on which days since the last order reaches a recency cut (``>= cut``)
        return first_flip(cols.last_ts, [math.ceil(c) for c in self.recency_days], as_of)

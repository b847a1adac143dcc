"""What a segment scheme is: one dimension, labelled over a whole batch at once.

A scheme sees a batch of scored customers as numpy :class:`Columns` and answers with an
integer code per customer into its fixed ``vocabulary`` (not strings: the
:class:`~clv_stream.domain.segments.segment_set.SegmentSet` combines the codes of all its
schemes into one index of a table of joined labels, so a batch costs one lookup per
customer whatever the number of schemes).

Schemes label only customers with a counting order; the set gives the others ``none`` (or
nothing) in every dimension alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from clv_stream.domain.aggregate import SECONDS_PER_DAY

__all__ = ["NEVER", "Columns", "CutPoints", "Int64s", "SegmentScheme", "cuts_of", "first_flip"]

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

#: Cut points by name: ``"value_tier"``, ``"lifecycle"``, ``"rfm.orders"``... Each scheme
#: reads its own names and falls back to its defaults, so one tenant's cuts may name only some.
CutPoints = Mapping[str, Sequence[float]]

#: "No time-driven look": larger than any event time.
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Columns:
    """A batch of scored customers, one array per measure the schemes read."""

    orders: Int64s
    frequency: Int64s  # repeat purchase days
    days_since_last: Int64s  # days since the last order, as of the stream's event time
    total_clv: Floats
    net_revenue: Floats
    last_ts: Int64s  # event time (epoch s) of the last order
    #: subscription status code (``domain.subscription_value.SEGMENT_CODES``; 0: none)
    subscription: Int64s | None = None
    #: event time a subscription next changes with time alone (:data:`NEVER`: none)
    subscription_due: Int64s | None = None

    @classmethod
    def of(cls, values: Sequence[Mapping[str, Any]], last_ts: Sequence[int],
           subscription: Sequence[int] | None = None,
           subscription_due: Sequence[int | None] | None = None) -> Columns:
        """From ``CustomerValue`` dicts (see ``domain.value.score``) and last order times
        (and, for a batch with subscribers, their status codes and due times)."""
        return cls(
            np.array([v["orders"] for v in values], dtype=np.int64),
            np.array([v["frequency"] for v in values], dtype=np.int64),
            np.array([v["age_days"] - v["recency_days"] for v in values], dtype=np.int64),
            np.array([float(v["total_clv"]) for v in values], dtype=np.float64),
            np.array([float(v["net_revenue"]) for v in values], dtype=np.float64),
            np.asarray(last_ts, dtype=np.int64),
            None if subscription is None else np.asarray(subscription, dtype=np.int64),
            None if subscription_due is None else np.array(
                [NEVER if t is None else t for t in subscription_due], dtype=np.int64),
        )


class SegmentScheme(ABC):
    """One segment dimension. Subclasses set ``name`` and ``vocabulary`` and are registered
    in :mod:`clv_stream.domain.segments.registry`."""

    #: The dimension, as in segment events and the encoded labels.
    name: ClassVar[str]
    #: Every label the scheme gives; :meth:`codes` index into it.
    vocabulary: ClassVar[tuple[str, ...]]
    #: Whether its labels are about orders: a subscriber without a counting order is
    #: ``none`` in such a dimension, and labelled in the others.
    needs_orders: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def from_cuts(cls, cuts: CutPoints) -> Self:
        """The scheme with the cut points it reads from ``cuts`` (its defaults otherwise)."""

    @abstractmethod
    def codes(self, cols: Columns) -> Int64s:
        """Index into :attr:`vocabulary` of each customer's label (rows without a counting
        order may hold anything: the set ignores them)."""

    def next_due(self, cols: Columns, as_of: int) -> Int64s | None:
        """Event time of each customer's next time-driven label change after ``as_of``
        (:data:`NEVER` if none), or None when the scheme only moves on events."""
        return None

    def value_fields(self, cols: Columns) -> Mapping[str, list[Any]]:
        """Fields the scheme adds to each customer's ``CustomerValue`` (``rfm_scores``), a
        list per field (rows without a counting order may hold anything: they get None)."""
        return {}


def cuts_of(cuts: CutPoints, name: str, default: Sequence[float], size: int) -> tuple[float, ...]:
    """The ``size`` ascending cut points named ``name``, or ``default``."""
    found = tuple(float(c) for c in cuts.get(name, default))
    if len(found) != size or list(found) != sorted(found):
        raise ValueError(f"{name}: {size} ascending cut points expected, got {found}")
    return found


def first_flip(last_ts: Int64s, offsets_days: Sequence[int], as_of: int) -> Int64s:
    """Start of the first day ``last order day + offset`` that is after ``as_of`` (:data:`NEVER`
    if none): when a label keyed on whole days since the last order can change."""
    last_day = last_ts // SECONDS_PER_DAY
    flips = (last_day[:, None] + np.asarray(offsets_days, dtype=np.int64)[None, :]) * SECONDS_PER_DAY
    due: Int64s = np.where(flips > as_of, flips, NEVER).min(axis=1)
    return due

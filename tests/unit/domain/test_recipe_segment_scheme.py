"""The recipe for a new segment dimension: one module with a ``SegmentScheme`` subclass, and
its class added to the registered schemes. Here the module is this file and the
registration is a set built for the test (``registry.SCHEMES`` stays as it is)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from clv_stream.domain.segments import SCHEMES, Columns, CutPoints, SegmentScheme, SegmentSet
from clv_stream.domain.segments.scheme import Int64s, cuts_of


@dataclass(frozen=True, slots=True)
class OrderCountBand(SegmentScheme):
    """``one`` order, ``repeat`` from the first cut, ``frequent`` from the second."""

    name: ClassVar[str] = "order_count_band"
    vocabulary: ClassVar[tuple[str, ...]] = ("one", "repeat", "frequent")

    cuts: tuple[float, ...] = (2.0, 5.0)

    @classmethod
    def from_cuts(cls, cuts: CutPoints) -> Self:
        return cls(cuts_of(cuts, cls.name, (2.0, 5.0), 2))

    def codes(self, cols: Columns) -> Int64s:
        return np.searchsorted(np.asarray(self.cuts), cols.orders, side="right").astype(np.int64)


def batch(*orders: int) -> Columns:
    """Customers alike (recent, low value) but for their order counts."""
    n = len(orders)
    return Columns(np.array(orders, dtype=np.int64), np.maximum(np.array(orders) - 1, 0),
                   np.zeros(n, dtype=np.int64), np.full(n, 10.0), np.full(n, 10.0),
                   np.full(n, 1_704_067_200, dtype=np.int64))


def test_recipe_a_new_segment_scheme_is_one_class_plus_a_registration() -> None:
    segments = SegmentSet.from_cuts({"order_count_band": (2, 4)},
                                    schemes=(*SCHEMES, OrderCountBand))
    # appended after the built-in ones (the subscription dimension, "" without one, included)
    assert segments.dimensions == ("value_tier", "lifecycle", "rfm", "subscription",
                                   "order_count_band")

    first = segments.encoded_labels(batch(1, 2, 4, 0), ["", "", "", ""])
    assert first == ["low|new|new||one", "low|active|potential_loyalist||repeat",
                     "low|active|potential_loyalist||frequent", "||||"]
    assert [segments.decode(label)["order_count_band"] for label in first[:3]] == [
        "one", "repeat", "frequent"]

    # the customers order again: the new dimension's moves come out as segment changes
    second = segments.encoded_labels(batch(2, 2, 5, 0), [*first[:3], "low|new|new||one"])
    assert segments.changes(first[0], second[0]) == [
        ("lifecycle", "new", "active"), ("rfm", "new", "potential_loyalist"),
        ("order_count_band", "one", "repeat")]
    assert segments.changes(first[1], second[1]) == []
    assert segments.changes("low|new|new||one", second[3]) == [
        (d, v, "none") for d, v in (("value_tier", "low"), ("lifecycle", "new"), ("rfm", "new"),
                                    ("order_count_band", "one"))]
    # an event-only scheme leaves the time-driven looks to the others
    default = SegmentSet.from_cuts({})
    assert segments.next_due(batch(1, 0), 1_704_067_200) == default.next_due(batch(1, 0),
                                                                             1_704_067_200)


def test_customers_labelled_before_the_scheme_was_added_get_its_first_label_as_a_change() -> None:
    before = SegmentSet.from_cuts({}).encoded_labels(batch(2, 1), ["", ""])  # stored, 3 parts
    segments = SegmentSet.from_cuts({}, schemes=(*SCHEMES, OrderCountBand))
    after = segments.encoded_labels(batch(2, 0), before)
    assert segments.changes(before[0], after[0]) == [("order_count_band", None, "repeat")]
    # every order cancelled since: each dimension to none, the new one from nothing
    assert segments.changes(before[1], after[1]) == [
        *((d, v, "none") for d, v in zip(segments.dimensions, before[1].split("|"),
                                         strict=False) if v),
        ("order_count_band", None, "none")]

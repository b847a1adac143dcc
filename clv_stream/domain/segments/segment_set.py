"""The segment schemes of one model version (and later one tenant), used together.

A customer's labels travel and are stored *encoded*: the label of each scheme joined with
``|`` in the set's order (``"low|new|new"``). A customer who never had a counting order has
empty labels (``"||"``); one whose every order was cancelled since is ``none`` everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from itertools import product
from typing import Any

import numpy as np

from clv_stream.domain.aggregate import SECONDS_PER_DAY
from clv_stream.domain.segments.registry import SCHEMES
from clv_stream.domain.segments.scheme import Columns, CutPoints, SegmentScheme

__all__ = ["RESCORE_EVERY_DAYS", "SegmentSet"]

#: Value tiers drift as p_alive decays, so customers are re-looked at this often at least.
RESCORE_EVERY_DAYS = 30


class SegmentSet:
    """Labels a batch of customers with every scheme at once, encoded."""

    def __init__(self, schemes: Sequence[SegmentScheme]) -> None:
        self.schemes = tuple(schemes)
        self.dimensions = tuple(s.name for s in self.schemes)
        sizes = [len(s.vocabulary) for s in self.schemes]
        #: The encoded labels of a customer who has none (never had a counting order).
        self.no_labels = "|" * (len(self.schemes) - 1)
        #: The encoded labels of a customer whose every order was cancelled (a dimension
        #: whose first label is "" has no ``none``).
        self.all_none = "|".join("none" if s.vocabulary[0] else "" for s in self.schemes)
        #: Which labels of a subscriber without a counting order are ``none`` (those about
        #: orders); the others are its own.
        self._order_only = [s.needs_orders for s in self.schemes]
        # every combination, indexed by the schemes' codes as digits (first most significant):
        # a batch then costs one lookup per customer, not a join
        self._radix = [*sizes[1:], 1]
        self._table = ["|".join(labels) for labels in product(*(s.vocabulary for s in self.schemes))]

    @classmethod
    def from_cuts(cls, cuts: CutPoints,
                  schemes: Sequence[type[SegmentScheme]] = SCHEMES) -> SegmentSet:
        """The registered ``schemes``, each with its cut points from ``cuts``."""
        return cls([scheme.from_cuts(cuts) for scheme in schemes])

    def encoded_labels(self, cols: Columns, previous: Sequence[str]) -> list[str]:
        """Encoded labels of each customer of a batch; ``previous``: the labels each had
        (a customer without a counting order is ``none`` everywhere if it had any)."""
        code = np.zeros(len(cols.orders), dtype=np.int64)
        for scheme, radix in zip(self.schemes, self._radix, strict=True):
            code = (code + scheme.codes(cols)) * radix
        table, no_labels, all_none = self._table, self.no_labels, self.all_none
        labels = [table[c] if k > 0 else (all_none if before.strip("|") else no_labels)
                  for c, k, before in zip(code.tolist(), cols.orders.tolist(), previous,
                                          strict=True)]
        if cols.subscription is not None:  # subscribers without a counting order
            for i in np.flatnonzero((cols.orders <= 0) & (cols.subscription > 0)).tolist():
                parts = table[int(code[i])].split("|")
                labels[i] = "|".join("none" if order_only else part for part, order_only
                                     in zip(parts, self._order_only, strict=True))
        return labels

    def add_value_fields(self, values: Sequence[MutableMapping[str, Any]], cols: Columns) -> None:
        """Set the schemes' ``CustomerValue`` fields on ``values`` (None for a customer
        without a counting order)."""
        counted = cols.orders.tolist()
        for scheme in self.schemes:
            for name, column in scheme.value_fields(cols).items():
                for value, field, k in zip(values, column, counted, strict=True):
                    value[name] = field if k > 0 else None

    def next_due(self, cols: Columns, as_of: int) -> list[int | None]:
        """Event time (epoch s) of the next time-driven look at each customer, or None (no
        counting order): the first a scheme's label may change with time alone, and at most
        ``RESCORE_EVERY_DAYS`` ahead."""
        if not len(cols.orders):
            return []
        cap = int(as_of + RESCORE_EVERY_DAYS * SECONDS_PER_DAY)
        due = np.full(len(cols.orders), cap, dtype=np.int64)
        for scheme in self.schemes:
            flips = scheme.next_due(cols, as_of)
            if flips is not None:
                due = np.minimum(due, flips)
        labelled = cols.orders > 0
        if cols.subscription is not None:
            labelled |= cols.subscription > 0
        return [d if k else None for d, k in zip(due.tolist(), labelled.tolist(), strict=True)]

    def changes(self, before: str, after: str) -> list[tuple[str, str | None, str]]:
        """(dimension, from, to) for each dimension whose encoded label changed, in the set's
        order. A dimension ``after`` has no label for is not a change; one ``before`` has no
        label for (never labelled, or stored before its scheme was added) is from ``None``."""
        if before == after:
            return []
        n = len(self.dimensions)
        old = before.split("|") if before else []
        old += [""] * (n - len(old))
        return [(d, o or None, a) for d, o, a in zip(self.dimensions, old, after.split("|"),
                                                     strict=False) if a and o != a]

    def encode(self, labels: Mapping[str, str]) -> str:
        return "|".join(labels.get(d, "") for d in self.dimensions)

    def decode(self, raw: str) -> dict[str, str]:
        if not raw:
            return {}
        return {d: v for d, v in zip(self.dimensions, raw.split("|"), strict=False) if v}

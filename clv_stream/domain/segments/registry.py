"""The segment schemes in use, in order.

The order is part of the stored data: the encoded labels in Redis are the labels joined in
this order ("tier|life|rfm"), and a customer's segment events come out in it. Add a scheme
at the end; never reorder or remove one without migrating the stored labels.
"""

from __future__ import annotations

from clv_stream.domain.segments.lifecycle import Lifecycle
from clv_stream.domain.segments.rfm import Rfm
from clv_stream.domain.segments.scheme import SegmentScheme
from clv_stream.domain.segments.subscription import Subscription
from clv_stream.domain.segments.value_tier import ValueTier

__all__ = ["DIMENSIONS", "SCHEMES"]

SCHEMES: tuple[type[SegmentScheme], ...] = (ValueTier, Lifecycle, Rfm, Subscription)
DIMENSIONS: tuple[str, ...] = tuple(s.name for s in SCHEMES)

"""Segments: pure rules from a customer's value to a label per dimension.

Each dimension is a :class:`SegmentScheme` plug-in (``value_tier``, ``lifecycle``, ``rfm``),
listed in order in :mod:`.registry`; a :class:`SegmentSet` built from cut points labels a
batch with all of them, encoded as one string per customer, and says what changed.

To add a dimension: one module with a ``SegmentScheme`` subclass, and its class appended to
``registry.SCHEMES`` (and to ``events.models.Dimension``, which the schema publishes).
"""

from clv_stream.domain.segments.registry import DIMENSIONS, SCHEMES
from clv_stream.domain.segments.scheme import NEVER, Columns, CutPoints, SegmentScheme
from clv_stream.domain.segments.segment_set import RESCORE_EVERY_DAYS, SegmentSet

__all__ = [
    "DIMENSIONS", "NEVER", "RESCORE_EVERY_DAYS", "SCHEMES", "Columns", "CutPoints",
    "SegmentScheme", "SegmentSet",
]

"""Compact string encodings of what the store keeps per customer besides order state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from clv_stream.domain.aggregate import Summary

__all__ = ["Published", "decode_summary", "encode_summary", "is_snapshot_of", "snapshot_text"]


def encode_summary(s: Summary) -> str:
    return (f"{s.orders}|{s.net_minor}|{s.profit_minor}|{s.first_ts}|{s.last_ts}"
            f"|{s.purchase_days}|{s.first_day_net_minor}")


def snapshot_text(summary: str, as_of: int, model_version: str) -> str:
    """A published snapshot as Redis holds it: ``summary|as_of|model_version``, where
    ``summary`` is :func:`encode_summary` of the summary the value was computed from."""
    return f"{summary}|{as_of}|{model_version}"


def is_snapshot_of(snapshot: str, summary: str) -> bool:
    """Whether ``snapshot`` (:func:`snapshot_text`) was published of ``summary`` (encoded)."""
    return snapshot.startswith(summary) and snapshot[len(summary):len(summary) + 1] == "|"


def decode_summary(values: Sequence[str | int]) -> Summary:
    """From (orders, net, profit, first_ts, last_ts, purchase_days, first_day_net)."""
    orders, net, profit, first, last, days, first_day_net = (int(v or 0) for v in values)
    return Summary(orders, net, profit, first, last, days, first_day_net)


class Published(NamedTuple):
    """What was last emitted for a customer: enough to recompute that ``CustomerValue``.

    A named tuple (one per known customer per batch; cheaper to build than a dataclass).

    ``previous`` on ``clv.updates`` is recomputed from this (about 60 bytes) rather than
    stored as JSON, which keeps Redis memory per customer small.
    """

    summary: Summary
    as_of: int
    model_version: str

    def encode(self) -> str:
        return snapshot_text(encode_summary(self.summary), self.as_of, self.model_version)

    @classmethod
    def decode(cls, raw: str) -> Published | None:
        if not raw:
            return None
        parts = raw.split("|", 8)
        try:  # the fields the store wrote: all integers
            return cls(Summary(*map(int, parts[:7])), int(parts[7]), parts[8])
        except ValueError:  # an empty field (written before it existed) counts as 0
            return cls(decode_summary(parts[:7]), int(parts[7]), parts[8])

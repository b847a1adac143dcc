"""The records the worker moves between Kafka and the pipeline (named tuples: one is built
per message, cheaper than a dataclass)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["OutRecord", "RawRecord"]


class RawRecord(NamedTuple):
    """A consumed record, as the broker gave it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class OutRecord(NamedTuple):
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes

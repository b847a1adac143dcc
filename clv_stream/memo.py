"""A memo for values that recur in a stream (times of the same second, dates of the same
day, short labels), kept with no bookkeeping per hit."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["BoundedMemo"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(dict[K, V]):
    """A dict that empties itself when a new entry would take it past ``limit``.

    Why not an LRU: the values cached recur in runs (a stream's events share their second,
    their day), so whatever the next batches need is refilled at once after a clear, and a
    hit stays a plain ``dict.get`` (no recency to update). The limit only bounds memory
    when the input does not recur (a replay spanning years, or hostile input).

    Read with ``memo.get(key)``; write with ``memo.put(key, value)``, which returns
    ``value``.
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("a memo holds at least one entry")
        self.limit = limit

    def put(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value

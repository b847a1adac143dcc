"""A memo for values from small vocabularies that the hot path formats again and again."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["BoundedMemo"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """A dict that empties itself when it reaches ``limit`` entries.

    For recurring keys (labels, days, times of day): emptying whole keeps the memory bound
    without an LRU's per-hit bookkeeping; an unexpectedly wide vocabulary costs a refill,
    never unbounded growth.
    """

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` for ``key`` and return it."""
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = value
        return value

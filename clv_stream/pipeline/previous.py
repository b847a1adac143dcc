"""The last published value of recently updated customers, kept in the worker."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["PreviousValues", "PublishedValue"]


class PublishedValue(NamedTuple):
    """A published ``CustomerValue`` as the worker keeps it: its encoded body (as
    ``previous`` goes into the next update) and its ``total_clv`` (what the update
    threshold compares)."""

    body: bytes
    total_clv: str


class PreviousValues:
    """The last published value of recently updated customers, so their next update's
    ``previous`` need not be recomputed from the snapshot in the store (a miss is recomputed;
    the records are the same bytes either way).

    Bounded to ``limit`` entries in two generations of plain dicts: entries go into the
    young one; when it holds half the limit it becomes the old one, and the old one is
    dropped whole. Each entry is one ``bytes`` (snapshot, ``total_clv`` and the body, NUL
    separated). Both choices are about the worker's RSS over days, not speed: entries are
    the worker's largest long-lived population, and CPython's small-object allocator only
    returns a 1 MiB arena when every object in it is gone. An LRU, evicting one entry at a
    time, left a few live entries of six objects each in every arena and ratcheted RSS
    upwards; a generation of one object per entry dies together.

    Written by the scoring thread only; read by the event loop (a read that races a
    generation change at worst misses).
    """

    __slots__ = ("_half", "_old", "_young")

    def __init__(self, limit: int) -> None:
        self._half = max(limit // 2, 1) if limit > 0 else 0
        self._young: dict[str, bytes] = {}
        self._old: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def get(self, customer_id: str, snapshot: str) -> PublishedValue | None:
        """The value published with ``snapshot``, if held (None when stale or not held)."""
        entry = self._young.get(customer_id) or self._old.get(customer_id)
        if entry is None:
            return None
        key = snapshot.encode()
        n = len(key)
        if entry[n:n + 1] != b"\0" or not entry.startswith(key):
            return None
        end = entry.index(b"\0", n + 1)
        return PublishedValue(entry[end + 1:], entry[n + 1:end].decode())

    def put(self, customer_id: str, snapshot: str, value: PublishedValue) -> None:
        if not self._half:
            return
        young = self._young
        if len(young) >= self._half:
            self._old, self._young = young, {}
            young = self._young
        young[customer_id] = b"\0".join((snapshot.encode(), value.total_clv.encode(),
                                          value.body))

"""The recent-transitions feed (``GET /transitions``) and the transition counts, as the
store keeps them: the newest 100 lines, newest first, over several publications; a
publication replayed adds nothing to either."""

from __future__ import annotations

import uuid

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.portfolio import transition_counts, transition_line, value_inputs
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.types import PublishEntry

AT = 1_700_000_000


def _entries(first: int, count: int, labels: str, old: str | None,
             new: str) -> tuple[list[PublishEntry], list[str]]:
    entries, lines = [], []
    for c in range(first, first + count):
        cid = f"c{c:04d}"
        moved = [transition_line(AT + c, cid, "lifecycle", old, new),
                 transition_line(AT + c, cid, "rfm", old, new)]
        lines += moved
        entries.append(PublishEntry(("default", cid), "", labels, None,
                                    portfolio=value_inputs(Summary(1, 1000, 1000, AT, AT, 1), "",
                                                           "10.00", "25.00", 2),
                                    transitions="\n".join(moved)))
    return entries, lines


async def test_the_feed_keeps_the_newest_100_newest_first(redis_server: EmbeddedRedis) -> None:
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:
        first, lines = _entries(0, 30, "new|new|", None, "new")
        await store.publish(first)
        assert await store.recent_transitions("default") == lines[::-1]
        second, more = _entries(30, 50, "new|new|", None, "new")  # 100 lines in this call
        await store.publish(second)
        newest = (lines + more)[::-1][:100]
        assert await store.recent_transitions("default") == newest
        await store.publish(second)  # replayed: the labels are those stored, nothing moves
        assert await store.recent_transitions("default") == newest
        moved, last = _entries(0, 3, "active|active|", "new", "active")
        await store.publish(moved)
        assert await store.recent_transitions("default") == (newest[::-1] + last)[::-1][:100]
        counts = transition_counts(await store.portfolio_totals("default"))
        assert counts["lifecycle"] == [{"from": None, "to": "new", "customers": 80},
                                       {"from": "new", "to": "active", "customers": 3}]
    finally:
        await store.close()

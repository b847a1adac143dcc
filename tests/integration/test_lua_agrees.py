"""The Lua scripts and the Python side agree on random event sequences: the aggregate
(domain/aggregate.py) and the snapshot text (store/snapshot.py, summary.lua)."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.domain.aggregate import Summary, aggregate_of
from clv_stream.events.validation import Order
from clv_stream.store.port import Positioned
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.snapshot import Published, encode_summary, is_snapshot_of
from tests.strategies import event_lists


async def _apply_in_batches(url: str, events: list[Order], cuts: list[int]) -> tuple[
        dict[str, Summary], int, dict[str, Summary]]:
    store = RedisStore.from_url(url, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        positioned = [Positioned(0, i, e) for i, e in enumerate(events)]
        bounds = sorted({0, len(events), *[c % (len(events) + 1) for c in cuts]})
        for lo, hi in itertools.pairwise(bounds):
            await store.apply("orders", positioned[lo:hi])
        ids = sorted({e.customer_id for e in events})
        first = {s.customer_id: s.summary for s in await store.customers(ids)}
        replay = await store.apply("orders", positioned) if positioned else None
        again = {s.customer_id: s.summary for s in await store.customers(ids)}
        return first, replay.redelivered if replay else 0, again
    finally:
        await store.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_lists(max_size=40), cuts=st.lists(st.integers(0, 60), max_size=4))
def test_lua_script_equals_pure_aggregate(redis_server: EmbeddedRedis, events: list[Order],
                                          cuts: list[int]) -> None:
    state, redelivered, after_replay = asyncio.run(_apply_in_batches(redis_server.url, events, cuts))
    expected = {cid: s for cid, s in aggregate_of(events).items()}
    assert {cid: state.get(cid, Summary()) for cid in expected} == expected
    assert redelivered == len(events)
    assert after_replay == state


async def _one_big_customer(url: str, events: list[Order]) -> Summary:
    store = RedisStore.from_url(url, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        await store.apply("orders", [Positioned(0, i, e) for i, e in enumerate(events)])
        return (await store.customers(["guest"]))[0].summary
    finally:
        await store.close()


def test_one_customer_with_thousands_of_orders_in_a_batch(redis_server: EmbeddedRedis) -> None:
    """A catch-all customer id: thousands of purchase days written in one script call."""
    events = [Order(f"o{i}:p", "p", f"o{i}", "guest", 100 + i, 1_600_000_000 + i * 86400, 10000)
              for i in range(4100)]
    assert asyncio.run(_one_big_customer(redis_server.url, events)) == aggregate_of(events)["guest"]


async def _published_round_trip(url: str, events: list[Order]) -> list[tuple[str, str, str]]:
    """Publish Python's snapshot of every customer, then read it back and after a change."""
    store = RedisStore.from_url(url, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        applied = await store.apply("orders", [Positioned(0, i, e) for i, e in enumerate(events)])
        sent = {s.customer_id: Published(s.summary, applied.clock, "v1").encode()
                for s in applied.customers}
        await store.publish([(cid, text, "", None) for cid, text in sent.items()])
        read = {s.customer_id: s.pub for s in await store.customers(sorted(sent))}
        later = [Order(f"x{i}", "p", f"x{i}", cid, 1, events[0].ts, 10000)
                 for i, cid in enumerate(sorted(sent))]
        moved = await store.apply("orders", [Positioned(0, len(events) + i, o)
                                             for i, o in enumerate(later)])
        kept = {s.customer_id: s.pub for s in moved.customers}
        return [(sent[cid], read.get(cid, ""), kept.get(cid, "")) for cid in sorted(sent)]
    finally:
        await store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_lists(max_size=20))
def test_lua_keeps_the_snapshot_text_python_wrote(redis_server: EmbeddedRedis,
                                                  events: list[Order]) -> None:
    """summary.lua stores a snapshot compact and expands it: byte for byte what
    ``Published.encode`` (store/snapshot.py) wrote, before and after the summary moves."""
    for sent, read, kept in asyncio.run(_published_round_trip(redis_server.url, events)):
        assert read == sent
        assert kept == sent
        published = Published.decode(read)
        assert published is not None
        assert is_snapshot_of(read, encode_summary(published.summary))
